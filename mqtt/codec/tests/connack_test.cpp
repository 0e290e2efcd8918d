// CONNACK (MQTT 3.1.1 section 3.2).
#include "mqtt/codec/tests/helpers.hpp"

namespace mop::mqtt::test {
namespace {

constexpr auto v31 = ProtocolVersion::v31;
constexpr auto v311 = ProtocolVersion::v311;

TEST(Connack, LiteralBytes) {
  EXPECT_EQ(encode_bytes(Connack{true, ConnectReturnCode::accepted}, v311), bytes({0x20, 0x02, 0x01, 0x00}));
  EXPECT_EQ(encode_bytes(Connack{false, ConnectReturnCode::not_authorized}, v311), bytes({0x20, 0x02, 0x00, 0x05}));
}

TEST(Connack, SessionPresentOnlyWithAcceptance_MQTT_3_2_2_4) {
  EXPECT_EQ(encode_bytes(Connack{true, ConnectReturnCode::identifier_rejected}, v311), bytes({0x20, 0x02, 0x00, 0x02}));
  EXPECT_EQ(decode_error(bytes({0x20, 0x02, 0x01, 0x02}), v311, Side::server), CodecError::invalid_connect_flags);
}

TEST(Connack, Mqtt31HasNoSessionPresentFlag) {
  EXPECT_EQ(encode_bytes(Connack{true, ConnectReturnCode::accepted}, v31), bytes({0x20, 0x02, 0x00, 0x00}));
  auto r = decode(bytes({0x20, 0x02, 0x01, 0x00}), v31, Side::server);  // reserved byte ignored
  ASSERT_TRUE(r.ok());
  EXPECT_FALSE(std::get<Connack>(*r).session_present);
}

TEST(Connack, RoundTripsEveryReturnCode) {
  for (int rc = 0; rc <= 5; ++rc) {
    expect_round_trip(Connack{false, static_cast<ConnectReturnCode>(rc)}, v31, Side::server);
    expect_round_trip(Connack{rc == 0, static_cast<ConnectReturnCode>(rc)}, v311, Side::server);
  }
}

TEST(Connack, RejectsReservedAcknowledgeFlags_MQTT_3_2_2_1) {
  EXPECT_EQ(decode_error(bytes({0x20, 0x02, 0x02, 0x00}), v311, Side::server), CodecError::invalid_connect_flags);
}

TEST(Connack, RejectsWrongLength) {
  EXPECT_EQ(decode_error(bytes({0x20, 0x01, 0x00}), v311, Side::server), CodecError::truncated);
  EXPECT_EQ(decode_error(bytes({0x20, 0x03, 0x00, 0x00, 0x00}), v311, Side::server), CodecError::trailing_bytes);
}

TEST(Connack, RejectsFixedHeaderFlags_MQTT_2_2_2_2) {
  EXPECT_EQ(decode_error(bytes({0x21, 0x02, 0x00, 0x00}), v311, Side::server), CodecError::invalid_fixed_header_flags);
}

TEST(Connack, AClientNeverSendsConnack) {
  EXPECT_EQ(decode_error(bytes({0x20, 0x02, 0x00, 0x00}), v311), CodecError::unexpected_packet);
}

}  // namespace
}  // namespace mop::mqtt::test
