// Fuzzes the Pulsar wire format the way a connection uses it: arbitrary bytes through a
// FrameReader with a small size limit, then what the server does with a payload command
// (decompress, split a batch). Every frame that decodes must survive encode -> decode unchanged.
//
// Input layout: byte 0 picks the read size (so frames split across feeds are explored), byte 1
// picks the frame size limit; the rest is the byte stream.
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "pulsar/codec/batch.hpp"
#include "pulsar/codec/codec.hpp"
#include "pulsar/codec/compression.hpp"
#include "pulsar/codec/crc32c.hpp"
#include "pulsar/codec/message_id.hpp"

namespace {

using namespace mop::pulsar;

// Small bounds: the checks must fire often, and no input may make us allocate much.
constexpr std::size_t kMaxUncompressed = 64 * 1024;

[[noreturn]] void fail(const char* what) {
  std::fprintf(stderr, "pulsar_frame_fuzz: %s\n", what);
  std::abort();
}

std::span<const std::uint8_t> span_of(const std::string& s) {
  return {reinterpret_cast<const std::uint8_t*>(s.data()), s.size()};
}

// What a broker does with a SEND: decompress, and split the batch if it is one.
void exercise_payload(const proto::MessageMetadata& metadata, std::span<const std::uint8_t> payload) {
  std::string scratch;
  auto plain = uncompressed_payload(metadata, payload, kMaxUncompressed, scratch);
  if (!plain.ok()) return;
  if (metadata.has_num_messages_in_batch()) {
    std::vector<BatchMessage> messages;
    if (parse_batch(*plain, metadata.num_messages_in_batch(), messages).ok()) {
      // A batch that parses must rebuild into one that parses to the same messages. (Not to the
      // same bytes: protobuf re-encodes overlong varints and repeated fields canonically.)
      std::string rebuilt;
      for (auto& m : messages) append_batch_message(m.metadata, m.payload, rebuilt);
      std::vector<BatchMessage> again;
      if (!parse_batch(span_of(rebuilt), metadata.num_messages_in_batch(), again).ok()) fail("rebuilt batch does not parse");
      if (again.size() != messages.size()) fail("rebuilt batch has a different count");
      for (std::size_t i = 0; i < again.size(); ++i) {
        if (!std::equal(again[i].payload.begin(), again[i].payload.end(), messages[i].payload.begin(),
                        messages[i].payload.end())) {
          fail("rebuilt batch has a different payload");
        }
      }
    }
  }
}

// The raw decompressors on arbitrary bytes, with a claimed size taken from the payload itself.
void exercise_decompressors(std::span<const std::uint8_t> bytes) {
  if (bytes.size() < 2) return;
  const std::uint32_t claimed = (std::uint32_t{bytes[0]} << 8 | bytes[1]) * 4;  // up to ~256 KiB, above the limit too
  std::string out;
  for (auto type : {proto::LZ4, proto::ZLIB, proto::ZSTD, proto::SNAPPY}) {
    const auto r = decompress(type, bytes.subspan(2), claimed, kMaxUncompressed, out);
    if (r.ok() && out.size() != claimed) fail("decompress succeeded with the wrong size");
    if (!r.ok() && !out.empty()) fail("decompress failed but left output");
  }
}

void check_round_trip(const Frame& frame) {
  std::string encoded;
  proto::MessageMetadata metadata;
  std::string payload;
  if (frame.has_payload()) {
    metadata = *frame.metadata;
    payload.assign(reinterpret_cast<const char*>(frame.payload.data()), frame.payload.size());
    encode_payload_command(*frame.command, metadata, span_of(payload), encoded);
  } else {
    encode_command(*frame.command, encoded);
  }
  const std::string command = frame.command->SerializeAsString();

  FrameReader again(0x7FFFFFFF);
  again.feed(span_of(encoded));
  auto f = again.next();
  if (!f.ok() || !f->has_value() || again.buffered() != 0) fail("encoder produced a bad frame");
  if ((*f)->command->SerializeAsString() != command) fail("command changed in encode -> decode");
  if (frame.has_payload()) {
    if (!(*f)->has_checksum || (*f)->checksum != crc32c((*f)->metadata_and_payload)) fail("bad checksum written");
    if ((*f)->metadata->SerializeAsString() != metadata.SerializeAsString()) fail("metadata changed");
    if (std::string(reinterpret_cast<const char*>((*f)->payload.data()), (*f)->payload.size()) != payload) {
      fail("payload changed");
    }
  }
}

void exercise_ids(const proto::BaseCommand& c) {
  if (c.has_ack()) {
    for (const auto& id : c.ack().message_id()) {
      const MessageId m = from_proto(id);
      proto::MessageIdData back;
      to_proto(m, back);
      (void)ack_set_unacked_count(words_of(id.ack_set()), id.batch_size());
      auto stored = ack_set_all_unacked(id.batch_size() & 0xFFFF);
      ack_set_merge(stored, words_of(id.ack_set()));
      ack_set_mark_acked(stored, m.batch_index);
      (void)ack_set_is_acked(stored, m.batch_index);
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 2) return 0;
  const std::size_t chunk = 1 + data[0];
  // 64 B .. ~16 KiB: small enough that frame_too_large fires, large enough for the corpus.
  const std::uint32_t max_frame = 64 + std::uint32_t{data[1]} * 64;
  data += 2;
  size -= 2;

  exercise_decompressors({data, size});

  FrameReader reader(max_frame);
  for (std::size_t off = 0; off < size; off += chunk) {
    reader.feed({data + off, std::min(chunk, size - off)});
    for (;;) {
      auto frame = reader.next();
      if (!frame.ok()) {
        if (frame.error() == CodecError::checksum_mismatch) {
          (void)reader.command().type();  // the server answers SEND_ERROR from it
          continue;
        }
        return 0;  // a connection would be closed here
      }
      if (!frame->has_value()) break;
      const Frame& f = **frame;
      exercise_ids(*f.command);
      if (f.has_payload()) exercise_payload(*f.metadata, f.payload);
      check_round_trip(f);
    }
  }
  return 0;
}
