// PINGREQ, PINGRESP and DISCONNECT (MQTT 3.1.1 sections 3.12 to 3.14), and the reserved types.
#include "mqtt/codec/tests/helpers.hpp"

namespace mop::mqtt::test {
namespace {

constexpr auto v31 = ProtocolVersion::v31;
constexpr auto v311 = ProtocolVersion::v311;

TEST(PingDisconnect, LiteralBytes) {
  EXPECT_EQ(encode_bytes(Pingreq{}, v311), bytes({0xC0, 0x00}));
  EXPECT_EQ(encode_bytes(Pingresp{}, v311), bytes({0xD0, 0x00}));
  EXPECT_EQ(encode_bytes(Disconnect{}, v311), bytes({0xE0, 0x00}));
}

TEST(PingDisconnect, RoundTrip) {
  for (auto v : {v31, v311}) {
    expect_round_trip(Pingreq{}, v, Side::client);
    expect_round_trip(Disconnect{}, v, Side::client);
    expect_round_trip(Pingresp{}, v, Side::server);
  }
}

TEST(PingDisconnect, RemainingLengthMustBeZero) {
  EXPECT_EQ(decode_error(bytes({0xC0, 0x01, 0x00}), v311), CodecError::trailing_bytes);
  EXPECT_EQ(decode_error(bytes({0xE0, 0x01, 0x00}), v311), CodecError::trailing_bytes);
  EXPECT_EQ(decode_error(bytes({0xD0, 0x01, 0x00}), v311, Side::server), CodecError::trailing_bytes);
}

TEST(PingDisconnect, FlagsAreZero_MQTT_2_2_2_2) {
  EXPECT_EQ(decode_error(bytes({0xC1, 0x00}), v311), CodecError::invalid_fixed_header_flags);
  EXPECT_EQ(decode_error(bytes({0xE8, 0x00}), v311), CodecError::invalid_fixed_header_flags);
  EXPECT_EQ(decode_error(bytes({0xD2, 0x00}), v311, Side::server), CodecError::invalid_fixed_header_flags);
}

TEST(PingDisconnect, DirectionRules) {
  EXPECT_EQ(decode_error(bytes({0xD0, 0x00}), v311), CodecError::unexpected_packet);  // PINGRESP from a client
  EXPECT_EQ(decode_error(bytes({0xC0, 0x00}), v311, Side::server), CodecError::unexpected_packet);
  EXPECT_EQ(decode_error(bytes({0xE0, 0x00}), v311, Side::server), CodecError::unexpected_packet);  // MQTT 5 only
}

TEST(ReservedTypes, Type0And15AreRefused_MQTT_2_2_1) {
  for (auto side : {Side::client, Side::server}) {
    EXPECT_EQ(decode_error(bytes({0x00, 0x00}), v311, side), CodecError::reserved_packet_type);
    EXPECT_EQ(decode_error(bytes({0xF0, 0x00}), v311, side), CodecError::reserved_packet_type);  // AUTH before MQTT 5
  }
}

TEST(Names, PacketTypesAndErrorMessages) {
  EXPECT_STREQ(to_string(PacketType::pubrel), "PUBREL");
  EXPECT_STREQ(to_string(static_cast<PacketType>(0)), "RESERVED");
  EXPECT_EQ(packet_type(Packet{Unsuback{}}), PacketType::unsuback);
  EXPECT_EQ(packet_type(Packet{Connect{}}), PacketType::connect);
  EXPECT_EQ(packet_type(Packet{Disconnect{}}), PacketType::disconnect);
  const std::error_code ec = CodecError::invalid_fixed_header_flags;
  EXPECT_STREQ(ec.category().name(), "mqtt.codec");
  EXPECT_NE(ec.message().find("MQTT-3.6.1-1"), std::string::npos);
  EXPECT_NE(std::error_code(CodecError::unsupported_protocol_level).message().find("MQTT-3.1.2-2"), std::string::npos);
}

}  // namespace
}  // namespace mop::mqtt::test
