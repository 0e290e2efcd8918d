// UNSUBSCRIBE and UNSUBACK (MQTT 3.1.1 sections 3.10 and 3.11).
#include "mqtt/codec/tests/helpers.hpp"

namespace mop::mqtt::test {
namespace {

constexpr auto v31 = ProtocolVersion::v31;
constexpr auto v311 = ProtocolVersion::v311;

Bytes unsubscribe_body(PacketId id, std::initializer_list<std::string_view> filters) {
  Bytes b{static_cast<std::uint8_t>(id >> 8), static_cast<std::uint8_t>(id & 0xFF)};
  for (auto f : filters) add_str(b, f);
  return b;
}

TEST(Unsubscribe, DecodesTheSpecExamplePayload) {
  // MQTT 3.1.1 figure 3.30: "a/b" and "c/d", packet identifier 10.
  auto r = decode(bytes({0xA2, 0x0C, 0x00, 0x0A, 0x00, 0x03, 'a', '/', 'b', 0x00, 0x03, 'c', '/', 'd'}), v311);
  ASSERT_TRUE(r.ok()) << r.error().message();
  const auto& u = std::get<Unsubscribe>(*r);
  EXPECT_EQ(u.packet_id, 10);
  EXPECT_EQ(u.filters, (std::vector<std::string>{"a/b", "c/d"}));
}

TEST(Unsubscribe, RoundTrips) {
  for (auto v : {v31, v311}) expect_round_trip(Unsubscribe{3, {"a/+", "#", "x/y/z"}}, v, Side::client);
}

TEST(Unsubscribe, RejectsFixedHeaderFlagsOtherThan0010_MQTT_3_10_1_1) {
  for (std::uint8_t first : {0xA0, 0xA3, 0xAA})
    EXPECT_EQ(decode_error(packet(first, unsubscribe_body(1, {"t"})), v311), CodecError::invalid_fixed_header_flags);
  EXPECT_TRUE(decode(packet(0xAA, unsubscribe_body(1, {"t"})), v31).ok());
}

TEST(Unsubscribe, RejectsEmptyFilterList_MQTT_3_10_3_2) {
  EXPECT_EQ(decode_error(packet(0xA2, unsubscribe_body(1, {})), v311), CodecError::empty_subscription_list);
}

TEST(Unsubscribe, RejectsIllFormedFilter_MQTT_4_7_1_2_and_4_7_1_3) {
  for (std::string_view f : {"a/#/b", "a#", "a/b+", ""})
    EXPECT_EQ(decode_error(packet(0xA2, unsubscribe_body(1, {"ok", f})), v311), CodecError::invalid_topic_filter) << f;
}

TEST(Unsubscribe, RejectsIllFormedUtf8_MQTT_1_5_3_1) {
  EXPECT_EQ(decode_error(packet(0xA2, unsubscribe_body(1, {"\xF5\x80\x80\x80"})), v311), CodecError::invalid_utf8);
}

TEST(Unsubscribe, RejectsZeroPacketIdAndTruncation) {
  EXPECT_EQ(decode_error(packet(0xA2, unsubscribe_body(0, {"t"})), v311), CodecError::zero_packet_id);
  EXPECT_EQ(decode_error(packet(0xA2, bytes({0x00, 0x01, 0x00, 0x04, 't'})), v311), CodecError::truncated);
}

TEST(Unsuback, LiteralBytesRoundTripAndRules) {
  EXPECT_EQ(encode_bytes(Unsuback{0x0102}, v311), bytes({0xB0, 0x02, 0x01, 0x02}));
  for (auto v : {v31, v311}) expect_round_trip(Unsuback{9}, v, Side::server);
  EXPECT_EQ(decode_error(bytes({0xB0, 0x03, 0x00, 0x01, 0x00}), v311, Side::server), CodecError::trailing_bytes);
  EXPECT_EQ(decode_error(bytes({0xB2, 0x02, 0x00, 0x01}), v311, Side::server), CodecError::invalid_fixed_header_flags);
  EXPECT_EQ(decode_error(bytes({0xB0, 0x02, 0x00, 0x01}), v311), CodecError::unexpected_packet);  // from a client
}

}  // namespace
}  // namespace mop::mqtt::test
