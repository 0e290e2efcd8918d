// Fuzzes the MQTT 5 decoder the way a v5 connection uses it: arbitrary bytes through a
// FrameReader with a small size limit, then the client-packet and server-packet decoders at
// ProtocolVersion::v5 (properties, reason codes, AUTH, server DISCONNECT). Every packet that
// decodes must survive encode -> decode -> encode unchanged, and encoded_size must agree with the
// encoder for PUBLISH.
//
// Input layout: byte 0 is the read size - 1, so the fuzzer also explores packets split across
// feeds; the rest is the byte stream.
#include <cstdio>
#include <cstdlib>
#include <string>

#include "mqtt/codec/codec.hpp"

namespace {

using namespace mop::mqtt;

[[noreturn]] void fail(const char* what) {
  std::fprintf(stderr, "mqtt5_decoder_fuzz: %s\n", what);
  std::abort();
}

void check_round_trip(const Packet& packet, bool from_client) {
  constexpr auto v5 = ProtocolVersion::v5;
  std::string first;
  encode(packet, v5, first);
  if (const auto* p = std::get_if<Publish>(&packet); p && encoded_size(*p, v5) != first.size())
    fail("encoded_size disagrees with encode");

  FrameReader reader(kMaxRemainingLength + 5);
  reader.feed(std::span(reinterpret_cast<const std::uint8_t*>(first.data()), first.size()));
  auto frame = reader.next();
  if (!frame.ok() || !frame->has_value() || reader.buffered() != 0) fail("encoder produced a bad frame");
  auto again = from_client ? decode_client_packet(**frame, v5) : decode_server_packet(**frame, v5);
  if (!again.ok()) {
    std::fprintf(stderr, "%s: %s\n", to_string(packet_type(packet)), again.error().message().c_str());
    fail("re-encoded packet does not decode");
  }

  std::string second;
  encode(*again, v5, second);
  if (first != second) fail("encode(decode(encode(p))) differs from encode(p)");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 1) return 0;
  const std::size_t chunk = 1 + data[0];
  ++data;
  --size;

  // Small, so that the size check fires often; still large enough for every packet in the corpus.
  FrameReader reader(1024);
  for (std::size_t off = 0; off < size; off += chunk) {
    const std::size_t n = std::min(chunk, size - off);
    reader.feed(std::span(data + off, n));
    while (true) {
      auto frame = reader.next();
      if (!frame.ok()) {
        (void)reason_for(static_cast<CodecError>(frame.error().value()));
        return 0;  // a connection would be closed here
      }
      if (!frame->has_value()) break;
      if (auto p = decode_client_packet(**frame, ProtocolVersion::v5); p.ok()) check_round_trip(*p, true);
      else (void)to_string(reason_for(static_cast<CodecError>(p.error().value())));
      if (auto p = decode_server_packet(**frame, ProtocolVersion::v5); p.ok()) check_round_trip(*p, false);
    }
  }
  return 0;
}
