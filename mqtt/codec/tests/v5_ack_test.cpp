// MQTT 5 PUBACK, PUBREC, PUBREL and PUBCOMP (MQTT 5.0 sections 3.4 to 3.7): packet id, reason
// code, properties, and the short forms of remaining length 2 and 3.
#include <algorithm>

#include "mqtt/codec/tests/v5_helpers.hpp"

namespace mop::mqtt::test {
namespace {

struct Kind {
  std::uint8_t first_byte;
  std::vector<int> reasons;  // tables 3-4 .. 3-7
};

const Kind kKinds[] = {
    {0x40, {0x00, 0x10, 0x80, 0x83, 0x87, 0x90, 0x91, 0x97, 0x99}},
    {0x50, {0x00, 0x10, 0x80, 0x83, 0x87, 0x90, 0x91, 0x97, 0x99}},
    {0x62, {0x00, 0x92}},
    {0x70, {0x00, 0x92}},
};

TEST(V5Ack, ShortFormsDecode_3_4_2_1) {
  for (const auto& k : kKinds) {
    // Remaining length 2: reason 0x00 (Success), no properties.
    auto r = decode(bytes({k.first_byte, 0x02, 0x00, 0x05}), v5);
    ASSERT_TRUE(r.ok()) << r.error().message();
    EXPECT_NE(describe(*r).find("reason=0 "), std::string::npos) << describe(*r);
    EXPECT_EQ(encode_bytes(*r, v5), bytes({k.first_byte, 0x02, 0x00, 0x05}));
    // Remaining length 3: a reason code and no properties.
    const int rc = k.reasons.back();
    r = decode(bytes({k.first_byte, 0x03, 0x00, 0x05, rc}), v5);
    ASSERT_TRUE(r.ok()) << r.error().message();
    EXPECT_EQ(encode_bytes(*r, v5), bytes({k.first_byte, 0x03, 0x00, 0x05, rc}));
    // Remaining length 4: reason code and an empty property block; re-encoded in the short form.
    r = decode(bytes({k.first_byte, 0x04, 0x00, 0x05, rc, 0x00}), v5);
    ASSERT_TRUE(r.ok()) << r.error().message();
    EXPECT_EQ(encode_bytes(*r, v5), bytes({k.first_byte, 0x03, 0x00, 0x05, rc}));
  }
}

TEST(V5Ack, SuccessWithoutPropertiesIsEncodedLikeMqtt311) {
  EXPECT_EQ(encode_bytes(Puback{0x1234}, v5), bytes({0x40, 0x02, 0x12, 0x34}));
  EXPECT_EQ(encode_bytes(Pubrec{0x1234}, v5), bytes({0x50, 0x02, 0x12, 0x34}));
  EXPECT_EQ(encode_bytes(Pubrel{0x1234}, v5), bytes({0x62, 0x02, 0x12, 0x34}));
  EXPECT_EQ(encode_bytes(Pubcomp{0x1234}, v5), bytes({0x70, 0x02, 0x12, 0x34}));
}

TEST(V5Ack, ReasonCodesPerPacketType) {
  for (const auto& k : kKinds) {
    for (int rc = 0; rc < 256; ++rc) {
      const bool valid = std::find(k.reasons.begin(), k.reasons.end(), rc) != k.reasons.end();
      auto r = decode(bytes({k.first_byte, 0x03, 0x00, 0x01, rc}), v5, Side::server);
      if (valid) EXPECT_TRUE(r.ok()) << int(k.first_byte) << ' ' << rc;
      else EXPECT_EQ(r.error(), CodecError::invalid_reason_code) << int(k.first_byte) << ' ' << rc;
    }
  }
}

TEST(V5Ack, PropertiesRoundTrip) {
  Puback a{9, ReasonCode::no_matching_subscribers};
  a.properties.reason_string = "nobody listens";
  a.properties.user_properties = {{"k", "v"}};
  expect_round_trip(a, v5, Side::client);
  Pubrec b{9, ReasonCode::quota_exceeded};
  expect_round_trip(b, v5, Side::server);
  Pubrel c{9, ReasonCode::packet_identifier_not_found};
  c.properties.reason_string = "?";
  expect_round_trip(c, v5, Side::client);
  Pubcomp d{9};
  d.properties.user_properties = {{"x", "y"}};
  EXPECT_EQ(encode_bytes(d, v5), bytes({0x70, 0x0B, 0x00, 0x09, 0x00, 0x07, 0x26, 0x00, 0x01, 'x', 0x00, 0x01, 'y'}));
  expect_round_trip(d, v5, Side::server);
}

TEST(V5Ack, Mqtt311IgnoresReasonAndProperties) {
  Puback a{1, ReasonCode::not_authorized};
  a.properties.reason_string = "r";
  EXPECT_EQ(encode_bytes(a, ProtocolVersion::v311), bytes({0x40, 0x02, 0x00, 0x01}));
}

TEST(V5Ack, MalformedForms) {
  EXPECT_EQ(decode_error(bytes({0x40, 0x01, 0x00}), v5), CodecError::truncated);
  EXPECT_EQ(decode_error(bytes({0x40, 0x02, 0x00, 0x00}), v5), CodecError::zero_packet_id);
  EXPECT_EQ(decode_error(bytes({0x40, 0x05, 0x00, 0x01, 0x00, 0x00, 0x00}), v5), CodecError::trailing_bytes);
  EXPECT_EQ(decode_error(bytes({0x40, 0x05, 0x00, 0x01, 0x00, 0x02, 0x1F}), v5), CodecError::truncated);
  EXPECT_EQ(decode_error(bytes({0x40, 0x06, 0x00, 0x01, 0x00, 0x02, 0x23, 0x01}), v5), CodecError::invalid_property);
  EXPECT_EQ(decode_error(bytes({0x60, 0x02, 0x00, 0x01}), v5), CodecError::invalid_fixed_header_flags);  // [MQTT-3.6.1-1]
}

}  // namespace
}  // namespace mop::mqtt::test
