// SUBSCRIBE (MQTT 3.1.1 section 3.8).
#include "mqtt/codec/tests/helpers.hpp"

namespace mop::mqtt::test {
namespace {

constexpr auto v31 = ProtocolVersion::v31;
constexpr auto v311 = ProtocolVersion::v311;

Bytes subscribe_body(PacketId id, std::initializer_list<std::pair<std::string_view, int>> entries) {
  Bytes b{static_cast<std::uint8_t>(id >> 8), static_cast<std::uint8_t>(id & 0xFF)};
  for (auto [f, q] : entries) {
    add_str(b, f);
    b.push_back(static_cast<std::uint8_t>(q));
  }
  return b;
}

TEST(Subscribe, DecodesTheSpecExamplePayload) {
  // MQTT 3.1.1 figure 3.22: "a/b" QoS 1 and "c/d" QoS 2, packet identifier 10.
  auto r = decode(bytes({0x82, 0x0E, 0x00, 0x0A, 0x00, 0x03, 'a', '/', 'b', 0x01, 0x00, 0x03, 'c', '/', 'd', 0x02}), v311);
  ASSERT_TRUE(r.ok()) << r.error().message();
  const auto& s = std::get<Subscribe>(*r);
  EXPECT_EQ(s.packet_id, 10);
  ASSERT_EQ(s.entries.size(), 2u);
  EXPECT_EQ(s.entries[0].filter, "a/b");
  EXPECT_EQ(s.entries[0].qos, 1);
  EXPECT_EQ(s.entries[1].filter, "c/d");
  EXPECT_EQ(s.entries[1].qos, 2);
}

TEST(Subscribe, RoundTrips) {
  Subscribe s{0xBEEF, {{"a/+/c", 0}, {"#", 1}, {"$share/g/x/#", 2}}};
  for (auto v : {v31, v311}) expect_round_trip(s, v, Side::client);
  EXPECT_EQ(encode_bytes(Subscribe{1, {{"t", 1}}}, v311), bytes({0x82, 0x06, 0x00, 0x01, 0x00, 0x01, 't', 0x01}));
}

TEST(Subscribe, KeepsAnIllFormedFilterForTheSubackFailureCode_MQTT_3_9_3_2) {
  // Not a decode error: the server answers 0x80 for that one entry.
  auto r = decode(packet(0x82, subscribe_body(1, {{"a/#/b", 1}, {"ok", 0}, {"", 0}})), v311);
  ASSERT_TRUE(r.ok()) << r.error().message();
  const auto& s = std::get<Subscribe>(*r);
  ASSERT_EQ(s.entries.size(), 3u);
  EXPECT_EQ(s.entries[0].filter, "a/#/b");
  EXPECT_EQ(s.entries[2].filter, "");
}

TEST(Subscribe, FilterMustStillBeUtf8_MQTT_1_5_3_1) {
  EXPECT_EQ(decode_error(packet(0x82, subscribe_body(1, {{"a\xC3", 1}})), v311), CodecError::invalid_utf8);
}

TEST(Subscribe, RejectsFixedHeaderFlagsOtherThan0010_MQTT_3_8_1_1) {
  for (std::uint8_t first : {0x80, 0x83, 0x8A})
    EXPECT_EQ(decode_error(packet(first, subscribe_body(1, {{"t", 0}})), v311), CodecError::invalid_fixed_header_flags);
  EXPECT_TRUE(decode(packet(0x8A, subscribe_body(1, {{"t", 0}})), v31).ok());  // 3.1: DUP on a resend
}

TEST(Subscribe, RejectsEmptyEntryList_MQTT_3_8_3_3) {
  EXPECT_EQ(decode_error(packet(0x82, subscribe_body(1, {})), v311), CodecError::empty_subscription_list);
}

TEST(Subscribe, RejectsReservedBitsOfRequestedQos_MQTT_3_8_3_4) {
  for (int q : {0x04, 0x80, 0xFD})
    EXPECT_EQ(decode_error(packet(0x82, subscribe_body(1, {{"t", q}})), v311), CodecError::invalid_subscribe_options);
}

TEST(Subscribe, RejectsRequestedQos3_MQTT_3_8_3_4) {
  EXPECT_EQ(decode_error(packet(0x82, subscribe_body(1, {{"t", 3}})), v311), CodecError::invalid_subscribe_options);
}

TEST(Subscribe, RejectsZeroPacketId_MQTT_2_3_1_1) {
  EXPECT_EQ(decode_error(packet(0x82, subscribe_body(0, {{"t", 0}})), v311), CodecError::zero_packet_id);
}

TEST(Subscribe, RejectsTruncatedEntry) {
  Bytes b = subscribe_body(1, {{"t", 0}});
  b.pop_back();  // requested QoS missing
  EXPECT_EQ(decode_error(packet(0x82, b), v311), CodecError::truncated);
  EXPECT_EQ(decode_error(packet(0x82, bytes({0x00})), v311), CodecError::truncated);
}

TEST(Subscribe, AServerNeverSendsSubscribe) {
  EXPECT_EQ(decode_error(packet(0x82, subscribe_body(1, {{"t", 0}})), v311, Side::server), CodecError::unexpected_packet);
}

}  // namespace
}  // namespace mop::mqtt::test
