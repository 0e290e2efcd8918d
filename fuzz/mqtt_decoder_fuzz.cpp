// Fuzzes the MQTT decoder the way a connection uses it: arbitrary bytes through a FrameReader
// with a small size limit, then the client-packet decoder (and the server-packet one, which our
// own clients use). Every packet that decodes must survive encode -> decode -> encode unchanged.
//
// Input layout: byte 0 picks the protocol version (bit 0) and the read size (bits 1..7), so the
// fuzzer also explores packets split across feeds; the rest is the byte stream.
#include <cstdio>
#include <cstdlib>
#include <string>

#include "mqtt/codec/codec.hpp"

namespace {

using namespace mop::mqtt;

[[noreturn]] void fail(const char* what) {
  std::fprintf(stderr, "mqtt_decoder_fuzz: %s\n", what);
  std::abort();
}

void check_round_trip(const Packet& packet, ProtocolVersion version, bool from_client) {
  std::string first;
  encode(packet, version, first);

  FrameReader reader(kMaxRemainingLength + 5);
  reader.feed(std::span(reinterpret_cast<const std::uint8_t*>(first.data()), first.size()));
  auto frame = reader.next();
  if (!frame.ok() || !frame->has_value() || reader.buffered() != 0) fail("encoder produced a bad frame");
  auto again = from_client ? decode_client_packet(**frame, version) : decode_server_packet(**frame, version);
  if (!again.ok()) fail("re-encoded packet does not decode");

  std::string second;
  encode(*again, version, second);
  if (first != second) fail("encode(decode(encode(p))) differs from encode(p)");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 1) return 0;
  const ProtocolVersion version = (data[0] & 1) ? ProtocolVersion::v311 : ProtocolVersion::v31;
  const std::size_t chunk = 1 + (data[0] >> 1);
  ++data;
  --size;

  // Small, so that the size check fires often; still large enough for every packet in the corpus.
  FrameReader reader(512);
  for (std::size_t off = 0; off < size; off += chunk) {
    const std::size_t n = std::min(chunk, size - off);
    reader.feed(std::span(data + off, n));
    while (true) {
      auto frame = reader.next();
      if (!frame.ok()) return 0;  // a connection would be closed here
      if (!frame->has_value()) break;
      if (auto p = decode_client_packet(**frame, version); p.ok()) check_round_trip(*p, version, true);
      if (auto p = decode_server_packet(**frame, version); p.ok()) check_round_trip(*p, version, false);
      (void)to_string((*frame)->type());
    }
  }
  return 0;
}
