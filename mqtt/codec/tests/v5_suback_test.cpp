// MQTT 5 SUBACK (MQTT 5.0 section 3.9): properties, then one reason code per subscription.
#include <algorithm>

#include "mqtt/codec/tests/v5_helpers.hpp"

namespace mop::mqtt::test {
namespace {

TEST(V5Suback, LiteralBytes_3_9_2) {
  Suback s{7, {0x00, 0x01, 0x02, 0x8F, 0xA2}};
  EXPECT_EQ(encode_bytes(s, v5), bytes({0x90, 0x08, 0x00, 0x07, 0x00, 0x00, 0x01, 0x02, 0x8F, 0xA2}));
  expect_round_trip(s, v5, Side::server);
  s.properties.reason_string = "wildcards off";
  expect_round_trip(s, v5, Side::server);
}

TEST(V5Suback, ReasonCodesOfTable3_8) {
  const std::vector<int> valid{0x00, 0x01, 0x02, 0x80, 0x83, 0x87, 0x8F, 0x91, 0x97, 0x9E, 0xA1, 0xA2};
  for (int rc = 0; rc < 256; ++rc) {
    auto r = decode(bytes({0x90, 0x04, 0x00, 0x01, 0x00, rc}), v5, Side::server);
    if (std::find(valid.begin(), valid.end(), rc) != valid.end()) EXPECT_TRUE(r.ok()) << rc;
    else EXPECT_EQ(r.error(), CodecError::invalid_reason_code) << rc;
  }
}

TEST(V5Suback, NeedsAReasonCodeAndProperties) {
  EXPECT_EQ(decode_error(bytes({0x90, 0x03, 0x00, 0x01, 0x00}), v5, Side::server), CodecError::empty_subscription_list);
  EXPECT_EQ(decode_error(bytes({0x90, 0x02, 0x00, 0x01}), v5, Side::server), CodecError::truncated);
  EXPECT_EQ(decode_error(bytes({0x90, 0x04, 0x00, 0x01, 0x00, 0x00}), v5, Side::client), CodecError::unexpected_packet);
}

}  // namespace
}  // namespace mop::mqtt::test
