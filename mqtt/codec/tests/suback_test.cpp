// SUBACK (MQTT 3.1.1 section 3.9).
#include "mqtt/codec/tests/helpers.hpp"

namespace mop::mqtt::test {
namespace {

constexpr auto v31 = ProtocolVersion::v31;
constexpr auto v311 = ProtocolVersion::v311;

TEST(Suback, DecodesTheSpecExample) {
  // MQTT 3.1.1 figure 3.26: return codes 0, 1, 2 and failure 0x80.
  auto r = decode(bytes({0x90, 0x06, 0x00, 0x0A, 0x00, 0x01, 0x02, 0x80}), v311, Side::server);
  ASSERT_TRUE(r.ok()) << r.error().message();
  const auto& s = std::get<Suback>(*r);
  EXPECT_EQ(s.packet_id, 10);
  EXPECT_EQ(s.return_codes, (std::vector<std::uint8_t>{0, 1, 2, 0x80}));
}

TEST(Suback, RoundTrips) {
  Suback s{7, {0, 1, 2, kSubackFailure}};
  for (auto v : {v31, v311}) expect_round_trip(s, v, Side::server);
  EXPECT_EQ(encode_bytes(Suback{1, {1}}, v311), bytes({0x90, 0x03, 0x00, 0x01, 0x01}));
}

TEST(Suback, RejectsReservedReturnCodes_MQTT_3_9_3_2) {
  for (int rc : {3, 0x7F, 0x81, 0xFF})
    EXPECT_EQ(decode_error(bytes({0x90, 0x03, 0x00, 0x01, rc}), v311, Side::server), CodecError::invalid_qos);
}

TEST(Suback, RejectsNoReturnCode) {
  EXPECT_EQ(decode_error(bytes({0x90, 0x02, 0x00, 0x01}), v311, Side::server), CodecError::empty_subscription_list);
}

TEST(Suback, RejectsFixedHeaderFlags_MQTT_2_2_2_2) {
  EXPECT_EQ(decode_error(bytes({0x92, 0x03, 0x00, 0x01, 0x00}), v311, Side::server), CodecError::invalid_fixed_header_flags);
}

TEST(Suback, AClientNeverSendsSuback) {
  EXPECT_EQ(decode_error(bytes({0x90, 0x03, 0x00, 0x01, 0x00}), v311), CodecError::unexpected_packet);
}

}  // namespace
}  // namespace mop::mqtt::test
