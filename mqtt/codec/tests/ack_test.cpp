// PUBACK, PUBREC, PUBREL and PUBCOMP (MQTT 3.1.1 sections 3.4 to 3.7).
#include "mqtt/codec/tests/helpers.hpp"

namespace mop::mqtt::test {
namespace {

constexpr auto v31 = ProtocolVersion::v31;
constexpr auto v311 = ProtocolVersion::v311;

struct AckCase {
  std::uint8_t first_byte;
  Packet packet;
};

std::vector<AckCase> cases() {
  return {{0x40, Puback{0x1234}}, {0x50, Pubrec{0x1234}}, {0x62, Pubrel{0x1234}}, {0x70, Pubcomp{0x1234}}};
}

TEST(Ack, LiteralBytesAndRoundTrip) {
  for (const auto& c : cases()) {
    EXPECT_EQ(encode_bytes(c.packet, v311), bytes({c.first_byte, 0x02, 0x12, 0x34}));
    for (auto v : {v31, v311}) {
      expect_round_trip(c.packet, v, Side::client);
      expect_round_trip(c.packet, v, Side::server);
    }
  }
}

TEST(Ack, RemainingLengthMustBeTwo) {
  for (const auto& c : cases()) {
    EXPECT_EQ(decode_error(bytes({c.first_byte, 0x01, 0x12}), v311), CodecError::truncated);
    EXPECT_EQ(decode_error(bytes({c.first_byte, 0x03, 0x12, 0x34, 0x00}), v311), CodecError::trailing_bytes);
    EXPECT_EQ(decode_error(bytes({c.first_byte, 0x00}), v311), CodecError::truncated);
  }
}

TEST(Ack, RejectsZeroPacketId_MQTT_2_3_1_1) {
  for (const auto& c : cases())
    EXPECT_EQ(decode_error(bytes({c.first_byte, 0x02, 0x00, 0x00}), v311), CodecError::zero_packet_id);
}

TEST(Ack, PubackPubrecPubcompFlagsAreZero_MQTT_2_2_2_2) {
  for (std::uint8_t first : {0x42, 0x51, 0x78}) {
    EXPECT_EQ(decode_error(bytes({first, 0x02, 0x00, 0x01}), v311), CodecError::invalid_fixed_header_flags);
  }
}

TEST(Ack, PubrelFlagsAre0010_MQTT_3_6_1_1) {
  for (std::uint8_t first : {0x60, 0x61, 0x63, 0x66, 0x6A}) {
    EXPECT_EQ(decode_error(bytes({first, 0x02, 0x00, 0x01}), v311), CodecError::invalid_fixed_header_flags)
        << int(first);
  }
}

TEST(Ack, Mqtt31PubrelMayCarryDup) {
  EXPECT_TRUE(decode(bytes({0x6A, 0x02, 0x00, 0x01}), v31).ok());
  EXPECT_EQ(decode_error(bytes({0x60, 0x02, 0x00, 0x01}), v31), CodecError::invalid_fixed_header_flags);
}

}  // namespace
}  // namespace mop::mqtt::test
