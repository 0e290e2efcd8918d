// Batched payloads: [u32 size][SingleMessageMetadata][payload] per message.
#include <vector>

#include "pulsar/codec/batch.hpp"
#include "pulsar/codec/compression.hpp"
#include "pulsar/codec/tests/helpers.hpp"

namespace mop::pulsar::test {
namespace {

struct Msg {
  std::string payload;
  std::vector<std::pair<std::string, std::string>> properties;
  std::string key;
};

std::vector<Msg> three() {
  return {{"first", {{"a", "1"}}, "k1"},
          {"", {{"b", "2"}, {"c", "3"}}, ""},  // an empty payload is a valid message
          {std::string(500, 'x'), {}, "k3"}};
}

std::string build(const std::vector<Msg>& msgs) {
  std::string batch;
  for (const auto& m : msgs) {
    proto::SingleMessageMetadata meta;
    for (const auto& [k, v] : m.properties) {
      auto* p = meta.add_properties();
      p->set_key(k);
      p->set_value(v);
    }
    if (!m.key.empty()) meta.set_partition_key(m.key);
    meta.set_sequence_id(7);
    append_batch_message(meta, span_of(m.payload), batch);
  }
  return batch;
}

void expect_same(const std::vector<BatchMessage>& got, const std::vector<Msg>& want) {
  ASSERT_EQ(got.size(), want.size());
  for (std::size_t i = 0; i < want.size(); ++i) {
    EXPECT_EQ(view_of(got[i].payload), want[i].payload) << i;
    EXPECT_EQ(got[i].metadata.payload_size(), static_cast<int>(want[i].payload.size()));
    ASSERT_EQ(got[i].metadata.properties_size(), static_cast<int>(want[i].properties.size()));
    for (std::size_t j = 0; j < want[i].properties.size(); ++j) {
      EXPECT_EQ(got[i].metadata.properties(static_cast<int>(j)).key(), want[i].properties[j].first);
      EXPECT_EQ(got[i].metadata.properties(static_cast<int>(j)).value(), want[i].properties[j].second);
    }
    EXPECT_EQ(got[i].metadata.partition_key(), want[i].key);
  }
}

TEST(Batch, ThreeMessagesWithPropertiesRoundTrip) {
  const std::string batch = build(three());
  std::vector<BatchMessage> got;
  ASSERT_TRUE(parse_batch(span_of(batch), 3, got).ok());
  expect_same(got, three());
  // Payloads point into the batch buffer: no copies.
  EXPECT_GE(got[2].payload.data(), reinterpret_cast<const std::uint8_t*>(batch.data()));
  EXPECT_LE(got[2].payload.data() + got[2].payload.size(), reinterpret_cast<const std::uint8_t*>(batch.data()) + batch.size());
}

// The first message's bytes, written by hand: metadata {properties [{a,1}], partition_key "k1",
// payload_size 5, sequence_id 7} = 0a 06 0a 01 61 12 01 31 | 12 02 6b 31 | 18 05 | 40 07 (16 bytes).
TEST(Batch, FirstMessageBytesMatchTheLayout) {
  const std::string batch = build(three());
  const std::string expected = hex("00 00 00 10  0a 06 0a 01 61 12 01 31  12 02 6b 31  18 05  40 07") + "first";
  EXPECT_EQ(to_hex(batch.substr(0, expected.size())), to_hex(expected));
}

TEST(Batch, ReaderWalksWithoutAllocating) {
  const std::string batch = build(three());
  BatchReader reader(span_of(batch), 3);
  proto::SingleMessageMetadata meta;
  std::span<const std::uint8_t> payload;
  std::vector<std::string> payloads;
  for (;;) {
    auto more = reader.next(meta, payload);
    ASSERT_TRUE(more.ok()) << more.error().message();
    if (!*more) break;
    payloads.emplace_back(view_of(payload));
  }
  ASSERT_EQ(payloads.size(), 3u);
  EXPECT_EQ(payloads[0], "first");
  EXPECT_EQ(reader.remaining(), 0);
}

TEST(Batch, CompressedBatchInASendFrame) {
  // The whole path a producer's batch takes: build, compress, frame, read, decompress, split.
  const std::string batch = build(three());
  for (auto type : {proto::LZ4, proto::ZLIB, proto::ZSTD, proto::SNAPPY}) {
    std::string compressed;
    ASSERT_TRUE(compress(type, span_of(batch), compressed).ok());
    proto::BaseCommand send;
    send.set_type(proto::BaseCommand::SEND);
    send.mutable_send()->set_producer_id(1);
    send.mutable_send()->set_sequence_id(5);
    send.mutable_send()->set_num_messages(3);
    proto::MessageMetadata meta;
    meta.set_producer_name("p");
    meta.set_sequence_id(5);
    meta.set_publish_time(1);
    meta.set_num_messages_in_batch(3);
    meta.set_compression(type);
    meta.set_uncompressed_size(static_cast<std::uint32_t>(batch.size()));
    std::string frame;
    encode_payload_command(send, meta, span_of(compressed), frame);

    OneFrame r;
    read_one(r, frame);
    ASSERT_TRUE(r.frame) << r.error.message();
    std::string scratch;
    auto plain = uncompressed_payload(*r.frame->metadata, r.frame->payload, kDefaultMaxMessageSize, scratch);
    ASSERT_TRUE(plain.ok()) << plain.error().message();
    std::vector<BatchMessage> got;
    ASSERT_TRUE(parse_batch(*plain, r.frame->metadata->num_messages_in_batch(), got).ok());
    expect_same(got, three());
  }
}

TEST(Batch, FewerMessagesThanClaimed) {
  const std::string batch = build(three());
  std::vector<BatchMessage> got;
  EXPECT_EQ(parse_batch(span_of(batch), 4, got), CodecError::bad_batch);
  EXPECT_EQ(got.size(), 3u);
}

TEST(Batch, MoreBytesThanTheClaimedMessages) {
  const std::string batch = build(three());
  std::vector<BatchMessage> got;
  EXPECT_EQ(parse_batch(span_of(batch), 2, got), CodecError::bad_batch);
}

TEST(Batch, MalformedMessages) {
  std::vector<BatchMessage> got;
  // size field cut short
  EXPECT_EQ(parse_batch(span_of(hex("00 00 00")), 1, got), CodecError::bad_batch);
  // metadata size past the end
  EXPECT_EQ(parse_batch(span_of(hex("00 00 00 09 18 00")), 1, got), CodecError::bad_batch);
  // metadata that is not protobuf
  EXPECT_EQ(parse_batch(span_of(hex("00 00 00 02 ff ff")), 1, got), CodecError::bad_batch);
  // metadata without the required payload_size
  EXPECT_EQ(parse_batch(span_of(hex("00 00 00 02 40 07")), 1, got), CodecError::bad_batch);
  // payload_size past the end: 18 05 but only 2 bytes follow
  EXPECT_EQ(parse_batch(span_of(hex("00 00 00 02 18 05 61 62")), 1, got), CodecError::bad_batch);
  // negative payload_size: 18 ff ff ff ff ff ff ff ff ff 01 (-1 as a 10-byte varint)
  EXPECT_EQ(parse_batch(span_of(hex("00 00 00 0b 18 ff ff ff ff ff ff ff ff ff 01")), 1, got), CodecError::bad_batch);
  // a negative count
  EXPECT_EQ(parse_batch(span_of(build(three())), -1, got), CodecError::bad_batch);
  // zero messages and zero bytes is consistent
  EXPECT_TRUE(parse_batch({}, 0, got).ok());
  EXPECT_TRUE(got.empty());
}

// num_messages_in_batch comes from the wire: a huge claim over a tiny payload must not make
// parse_batch reserve room for it.
TEST(Batch, HugeClaimedCountDoesNotAllocateForIt) {
  const std::string batch = build(three());
  std::vector<BatchMessage> got;
  AllocationProbe probe;
  EXPECT_EQ(parse_batch(span_of(batch), 2'000'000'000, got), CodecError::bad_batch);
  EXPECT_LT(probe.largest(), batch.size() * sizeof(BatchMessage));
}

}  // namespace
}  // namespace mop::pulsar::test
