// ReasonCode names (MQTT 5.0 table 2-6) and reason_for(): the one mapping from a codec refusal
// to the reason code a server sends in CONNACK or DISCONNECT.
#include <cstring>

#include "mqtt/codec/tests/v5_helpers.hpp"

namespace mop::mqtt::test {
namespace {

TEST(ReasonCode, NamesOfTable2_6) {
  EXPECT_STREQ(to_string(ReasonCode::success), "Success");
  EXPECT_STREQ(to_string(ReasonCode::normal_disconnection), "Success");  // same byte
  EXPECT_STREQ(to_string(ReasonCode::malformed_packet), "Malformed Packet");
  EXPECT_STREQ(to_string(ReasonCode::protocol_error), "Protocol Error");
  EXPECT_STREQ(to_string(ReasonCode::packet_too_large), "Packet too large");
  EXPECT_STREQ(to_string(ReasonCode::wildcard_subscriptions_not_supported), "Wildcard Subscriptions not supported");
  EXPECT_STREQ(to_string(static_cast<ReasonCode>(0x03)), "Unknown reason code");
  int named = 0;
  for (int v = 0; v < 256; ++v)
    named += std::strcmp(to_string(static_cast<ReasonCode>(v)), "Unknown reason code") != 0;
  EXPECT_EQ(named, 43);  // the distinct values of table 2-6
}

TEST(ReasonCode, EveryCodecErrorMapsToAServerReasonCode) {
  // Appended CodecError values must get an entry: each maps to a code a server may put in a
  // DISCONNECT (table 3-10), never to "unspecified" by falling off the switch.
  const int last = static_cast<int>(CodecError::payload_format_invalid);
  for (int e = 1; e <= last; ++e) {
    const auto rc = static_cast<std::uint8_t>(reason_for(static_cast<CodecError>(e)));
    EXPECT_GE(rc, 0x80) << make_error_code(static_cast<CodecError>(e)).message();
    EXPECT_NE(rc, 0x80) << make_error_code(static_cast<CodecError>(e)).message();
    EXPECT_NE(make_error_code(static_cast<CodecError>(e)).message().find(' '), std::string::npos);
  }
  EXPECT_EQ(reason_for(CodecError::malformed_remaining_length), ReasonCode::malformed_packet);
  EXPECT_EQ(reason_for(CodecError::truncated), ReasonCode::malformed_packet);
  EXPECT_EQ(reason_for(CodecError::packet_too_large), ReasonCode::packet_too_large);
  EXPECT_EQ(reason_for(CodecError::unsupported_protocol_level), ReasonCode::unsupported_protocol_version);
  EXPECT_EQ(reason_for(CodecError::invalid_client_id), ReasonCode::client_identifier_not_valid);
  EXPECT_EQ(reason_for(CodecError::second_connect), ReasonCode::protocol_error);
  EXPECT_EQ(reason_for(CodecError::unexpected_packet), ReasonCode::protocol_error);
}

}  // namespace
}  // namespace mop::mqtt::test
