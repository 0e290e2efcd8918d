// MQTT 5 CONNACK (MQTT 5.0 section 3.2): acknowledge flags, reason code, properties; and how
// `reason_code` and the 3.1.1 `return_code` relate.
#include "mqtt/codec/tests/v5_helpers.hpp"

namespace mop::mqtt::test {
namespace {

TEST(V5Connack, LiteralBytes_3_2_2) {
  Connack c;
  c.session_present = true;
  EXPECT_EQ(encode_bytes(c, v5), bytes({0x20, 0x03, 0x01, 0x00, 0x00}));
  c.session_present = false;
  c.reason_code = ReasonCode::not_authorized;
  c.properties.reason_string = "no";
  EXPECT_EQ(encode_bytes(c, v5), bytes({0x20, 0x08, 0x00, 0x87, 0x05, 0x1F, 0x00, 0x02, 'n', 'o'}));
  c.return_code = ConnectReturnCode::not_authorized;  // what decoding fills in beside the reason
  expect_round_trip(c, v5, Side::server);
}

TEST(V5Connack, DecodeFillsReasonAndNearestReturnCode) {
  auto r = decode(bytes({0x20, 0x03, 0x00, 0x86, 0x00}), v5, Side::server);
  ASSERT_TRUE(r.ok()) << r.error().message();
  EXPECT_EQ(std::get<Connack>(*r).reason_code, ReasonCode::bad_user_name_or_password);
  EXPECT_EQ(std::get<Connack>(*r).return_code, ConnectReturnCode::bad_username_or_password);
  r = decode(bytes({0x20, 0x03, 0x01, 0x00, 0x00}), v5, Side::server);
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(std::get<Connack>(*r).session_present);
  EXPECT_EQ(std::get<Connack>(*r).return_code, ConnectReturnCode::accepted);
}

// Code written for 3.1.1 (which sets return_code only) refuses a 5.0 client with the MQTT 5
// equivalent, and code written for 5.0 (reason_code only) never tells a 3.1.1 client "accepted".
TEST(V5Connack, ReturnCodeAndReasonCodeMapBothWays) {
  const std::pair<ConnectReturnCode, std::uint8_t> pairs[] = {
      {ConnectReturnCode::unacceptable_protocol_version, 0x84}, {ConnectReturnCode::identifier_rejected, 0x85},
      {ConnectReturnCode::server_unavailable, 0x88}, {ConnectReturnCode::bad_username_or_password, 0x86},
      {ConnectReturnCode::not_authorized, 0x87}};
  for (auto [rc, reason] : pairs) {
    EXPECT_EQ(encode_bytes(Connack{false, rc}, v5), bytes({0x20, 0x03, 0x00, reason, 0x00}));
    Connack c;
    c.reason_code = static_cast<ReasonCode>(reason);
    EXPECT_EQ(encode_bytes(c, ProtocolVersion::v311), bytes({0x20, 0x02, 0x00, static_cast<int>(rc)}));
  }
  Connack busy;
  busy.reason_code = ReasonCode::server_busy;
  EXPECT_EQ(encode_bytes(busy, ProtocolVersion::v311), bytes({0x20, 0x02, 0x00, 0x03}));
}

TEST(V5Connack, ReservedFlagsAndSessionPresentRule_MQTT_3_2_2_1_and_3_2_2_6) {
  EXPECT_EQ(decode_error(bytes({0x20, 0x03, 0x02, 0x00, 0x00}), v5, Side::server), CodecError::invalid_connect_flags);
  EXPECT_EQ(decode_error(bytes({0x20, 0x03, 0x01, 0x80, 0x00}), v5, Side::server), CodecError::invalid_connect_flags);
  // Encoder: session present is never sent with a refusal.
  Connack c{true};
  c.reason_code = ReasonCode::banned;
  EXPECT_EQ(encode_bytes(c, v5), bytes({0x20, 0x03, 0x00, 0x8A, 0x00}));
}

TEST(V5Connack, ReasonCodesOfTable3_1) {
  for (int rc = 0; rc < 256; ++rc) {
    const bool valid = rc == 0x00 || (rc >= 0x80 && rc <= 0x8A) || rc == 0x8C || rc == 0x90 || rc == 0x95 ||
                       rc == 0x97 || (rc >= 0x99 && rc <= 0x9D) || rc == 0x9F;
    auto r = decode(bytes({0x20, 0x03, 0x00, rc, 0x00}), v5, Side::server);
    if (valid) EXPECT_TRUE(r.ok()) << rc;
    else EXPECT_EQ(r.error(), CodecError::invalid_reason_code) << rc;
  }
}

TEST(V5Connack, PropertiesAreRequired) {
  EXPECT_EQ(decode_error(bytes({0x20, 0x02, 0x00, 0x00}), v5, Side::server), CodecError::truncated);
  EXPECT_EQ(decode_error(bytes({0x20, 0x04, 0x00, 0x00, 0x00, 0x00}), v5, Side::server), CodecError::trailing_bytes);
}

TEST(V5Connack, ClientMayNotSendIt) {
  EXPECT_EQ(decode_error(bytes({0x20, 0x03, 0x00, 0x00, 0x00}), v5, Side::client), CodecError::unexpected_packet);
}

}  // namespace
}  // namespace mop::mqtt::test
