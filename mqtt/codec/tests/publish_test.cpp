// PUBLISH (MQTT 3.1.1 section 3.3).
#include "mqtt/codec/tests/helpers.hpp"

#include "mqtt/codec/topic.hpp"

namespace mop::mqtt::test {
namespace {

constexpr auto v31 = ProtocolVersion::v31;
constexpr auto v311 = ProtocolVersion::v311;

Publish make(std::uint8_t qos, std::string topic, std::string_view payload, PacketId id = 0) {
  Publish p;
  p.qos = qos;
  p.topic = std::move(topic);
  p.packet_id = id;
  if (!payload.empty()) p.payload = Payload::copy_of(payload);
  return p;
}

TEST(Publish, DecodesTheSpecExampleVariableHeader) {
  // MQTT 3.1.1 figure 3.11: topic "a/b", packet identifier 10, at QoS 1.
  auto r = decode(bytes({0x32, 0x09, 0x00, 0x03, 'a', '/', 'b', 0x00, 0x0A, 'h', 'i'}), v311);
  ASSERT_TRUE(r.ok()) << r.error().message();
  const auto& p = std::get<Publish>(*r);
  EXPECT_EQ(p.qos, 1);
  EXPECT_FALSE(p.dup);
  EXPECT_FALSE(p.retain);
  EXPECT_EQ(p.topic, "a/b");
  EXPECT_EQ(p.packet_id, 10);
  EXPECT_EQ(p.payload.view(), "hi");
}

TEST(Publish, LiteralBytesQos0) {
  EXPECT_EQ(encode_bytes(make(0, "t", "x"), v311), bytes({0x30, 0x04, 0x00, 0x01, 't', 'x'}));
}

TEST(Publish, FlagsDecode) {
  auto r = decode(bytes({0x3D, 0x05, 0x00, 0x01, 't', 0x12, 0x34}), v311);  // DUP, QoS 2, RETAIN
  ASSERT_TRUE(r.ok()) << r.error().message();
  const auto& p = std::get<Publish>(*r);
  EXPECT_TRUE(p.dup);
  EXPECT_EQ(p.qos, 2);
  EXPECT_TRUE(p.retain);
  EXPECT_EQ(p.packet_id, 0x1234);
  EXPECT_TRUE(p.payload.empty());
}

TEST(Publish, RoundTripsBothDirectionsAndVersions) {
  for (auto v : {v31, v311}) {
    for (std::uint8_t qos = 0; qos <= 2; ++qos) {
      for (bool retain : {false, true}) {
        Publish p = make(qos, "sensors/room1/temp", std::string(300, '\x7F'), qos ? 77 : 0);
        p.retain = retain;
        p.dup = qos > 0 && retain;
        expect_round_trip(p, v, Side::client);
        expect_round_trip(p, v, Side::server);
      }
    }
    expect_round_trip(make(0, "e", ""), v, Side::client);  // empty payload
  }
}

TEST(Publish, HeaderAndPayloadEncodeLikeTheWholePacket) {
  Publish p = make(1, "a/b", "payload bytes", 9);
  std::string whole, header;
  encode(p, v311, whole);
  encode_publish_header(p, v311, header);
  EXPECT_EQ(header + std::string(p.payload.view()), whole);
  EXPECT_EQ(encoded_size(p, v311), whole.size());
}

TEST(Publish, EncodedSizeCrossesRemainingLengthBoundaries) {
  for (std::size_t payload : {0u, 100u, 200u, 16'400u}) {
    Publish p = make(1, "t", std::string(payload, 'p'), 1);
    std::string out;
    encode(p, v311, out);
    EXPECT_EQ(encoded_size(p, v311), out.size()) << payload;
  }
}

TEST(Publish, EncodeAppendsToOut) {
  std::string out = "prefix";
  encode(make(0, "t", ""), v311, out);
  EXPECT_EQ(out.substr(0, 6), "prefix");
  EXPECT_EQ(out.size(), 6u + 5u);
}

TEST(Publish, NeverEncodesDupForQos0_MQTT_3_3_1_2) {
  Publish p = make(0, "t", "");
  p.dup = true;
  EXPECT_EQ(encode_bytes(p, v311)[0], 0x30);
}

TEST(Publish, RejectsDupWithQos0_MQTT_3_3_1_2) {
  EXPECT_EQ(decode_error(bytes({0x38, 0x03, 0x00, 0x01, 't'}), v311), CodecError::invalid_fixed_header_flags);
}

TEST(Publish, RejectsQos3_MQTT_3_3_1_4) {
  EXPECT_EQ(decode_error(bytes({0x36, 0x05, 0x00, 0x01, 't', 0x00, 0x01}), v311), CodecError::invalid_qos);
}

TEST(Publish, RejectsEmptyTopic_MQTT_4_7_3_1) {
  EXPECT_EQ(decode_error(bytes({0x30, 0x02, 0x00, 0x00}), v311), CodecError::invalid_topic_name);
}

TEST(Publish, RejectsWildcardsInTopicName_MQTT_3_3_2_2) {
  EXPECT_EQ(decode_error(bytes({0x30, 0x05, 0x00, 0x03, 'a', '/', '#'}), v311), CodecError::invalid_topic_name);
  EXPECT_EQ(decode_error(bytes({0x30, 0x03, 0x00, 0x01, '+'}), v311), CodecError::invalid_topic_name);
}

TEST(Publish, RejectsIllFormedUtf8Topic_MQTT_3_3_2_1) {
  EXPECT_EQ(decode_error(bytes({0x30, 0x03, 0x00, 0x01, 0x80}), v311), CodecError::invalid_utf8);
  EXPECT_EQ(decode_error(bytes({0x30, 0x03, 0x00, 0x01, 0x00}), v311), CodecError::invalid_utf8);
}

TEST(Publish, RejectsZeroPacketId_MQTT_2_3_1_1) {
  EXPECT_EQ(decode_error(bytes({0x32, 0x05, 0x00, 0x01, 't', 0x00, 0x00}), v311), CodecError::zero_packet_id);
  EXPECT_EQ(decode_error(bytes({0x34, 0x05, 0x00, 0x01, 't', 0x00, 0x00}), v311), CodecError::zero_packet_id);
}

TEST(Publish, Qos0HasNoPacketId) {
  auto r = decode(bytes({0x30, 0x05, 0x00, 0x01, 't', 0x00, 0x00}), v311);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(std::get<Publish>(*r).payload.size(), 2u);  // the two bytes are payload
}

TEST(Publish, RejectsTruncatedTopicOrPacketId) {
  EXPECT_EQ(decode_error(bytes({0x30, 0x01, 0x00}), v311), CodecError::truncated);
  EXPECT_EQ(decode_error(bytes({0x30, 0x03, 0x00, 0x05, 't'}), v311), CodecError::truncated);
  EXPECT_EQ(decode_error(bytes({0x32, 0x04, 0x00, 0x01, 't', 0x00}), v311), CodecError::truncated);
}

}  // namespace
}  // namespace mop::mqtt::test
