// MQTT 5 AUTH (MQTT 5.0 section 3.15): type 15, reason code 0x00 / 0x18 / 0x19 and properties.
// Before MQTT 5, type 15 is reserved.
#include "mqtt/codec/tests/v5_helpers.hpp"

namespace mop::mqtt::test {
namespace {

TEST(V5Auth, LiteralBytes_3_15_2) {
  Auth a{ReasonCode::continue_authentication};
  a.properties.authentication_method = "SCRAM";
  a.properties.authentication_data = std::string("\x01\x02", 2);
  const Bytes wire = bytes({0xF0, 0x0F, 0x18, 0x0D, 0x15, 0x00, 0x05, 'S', 'C', 'R', 'A', 'M', 0x16, 0x00, 0x02, 0x01, 0x02});
  EXPECT_EQ(encode_bytes(a, v5), wire);
  auto r = decode(wire, v5, Side::client);
  ASSERT_TRUE(r.ok()) << r.error().message();
  EXPECT_EQ(packet_type(*r), PacketType::auth);
  EXPECT_EQ(std::get<Auth>(*r).reason_code, ReasonCode::continue_authentication);
  expect_round_trip(a, v5, Side::server);
}

TEST(V5Auth, RemainingLengthZeroIsSuccess_3_15_2_1) {
  auto r = decode(bytes({0xF0, 0x00}), v5);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(std::get<Auth>(*r).reason_code, ReasonCode::success);
  EXPECT_EQ(encode_bytes(Auth{}, v5), bytes({0xF0, 0x00}));
  // Re-authenticate without properties still carries the property length.
  EXPECT_EQ(encode_bytes(Auth{ReasonCode::re_authenticate}, v5), bytes({0xF0, 0x02, 0x19, 0x00}));
}

TEST(V5Auth, ReasonCodesOfTable3_13) {
  for (int rc = 0; rc < 256; ++rc) {
    auto r = decode(bytes({0xF0, 0x02, rc, 0x00}), v5);
    if (rc == 0x00 || rc == 0x18 || rc == 0x19) EXPECT_TRUE(r.ok()) << rc;
    else EXPECT_EQ(r.error(), CodecError::invalid_reason_code) << rc;
  }
}

TEST(V5Auth, ReservedBeforeMqtt5AndFlagsZero_MQTT_2_2_2_2) {
  EXPECT_EQ(decode_error(bytes({0xF0, 0x00}), ProtocolVersion::v311), CodecError::reserved_packet_type);
  EXPECT_EQ(decode_error(bytes({0xF0, 0x00}), ProtocolVersion::v311, Side::server), CodecError::reserved_packet_type);
  EXPECT_EQ(decode_error(bytes({0xF1, 0x00}), v5), CodecError::invalid_fixed_header_flags);
  EXPECT_EQ(decode_error(bytes({0xF0, 0x01, 0x18}), v5), CodecError::truncated);
  EXPECT_EQ(decode_error(bytes({0xF0, 0x03, 0x18, 0x00, 0x00}), v5), CodecError::trailing_bytes);
}

TEST(V5Auth, AuthDataNeedsAMethod) {
  EXPECT_EQ(decode_error(bytes({0xF0, 0x07, 0x18, 0x05, 0x16, 0x00, 0x02, 0x01, 0x02}), v5),
            CodecError::invalid_property_value);
}

}  // namespace
}  // namespace mop::mqtt::test
