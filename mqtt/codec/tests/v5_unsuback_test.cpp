// MQTT 5 UNSUBACK (MQTT 5.0 section 3.11): properties, then one reason code per filter. In 3.1.1
// UNSUBACK is the packet id alone.
#include <algorithm>

#include "mqtt/codec/tests/v5_helpers.hpp"

namespace mop::mqtt::test {
namespace {

TEST(V5Unsuback, LiteralBytes_3_11_2) {
  Unsuback u{0x0102, {ReasonCode::success, ReasonCode::no_subscription_existed, ReasonCode::topic_filter_invalid}};
  EXPECT_EQ(encode_bytes(u, v5), bytes({0xB0, 0x06, 0x01, 0x02, 0x00, 0x00, 0x11, 0x8F}));
  expect_round_trip(u, v5, Side::server);
  u.properties.reason_string = "r";
  u.properties.user_properties = {{"k", "v"}};
  expect_round_trip(u, v5, Side::server);
  // 3.1.1: the packet id only.
  EXPECT_EQ(encode_bytes(u, ProtocolVersion::v311), bytes({0xB0, 0x02, 0x01, 0x02}));
}

TEST(V5Unsuback, ReasonCodesOfTable3_9) {
  const std::vector<int> valid{0x00, 0x11, 0x80, 0x83, 0x87, 0x8F, 0x91};
  for (int rc = 0; rc < 256; ++rc) {
    auto r = decode(bytes({0xB0, 0x04, 0x00, 0x01, 0x00, rc}), v5, Side::server);
    if (std::find(valid.begin(), valid.end(), rc) != valid.end()) EXPECT_TRUE(r.ok()) << rc;
    else EXPECT_EQ(r.error(), CodecError::invalid_reason_code) << rc;
  }
}

TEST(V5Unsuback, NeedsAReasonCode_MQTT_3_11_3_1) {
  EXPECT_EQ(decode_error(bytes({0xB0, 0x03, 0x00, 0x01, 0x00}), v5, Side::server), CodecError::empty_subscription_list);
  EXPECT_EQ(decode_error(bytes({0xB0, 0x02, 0x00, 0x01}), v5, Side::server), CodecError::truncated);
  EXPECT_EQ(decode_error(bytes({0xB0, 0x03, 0x00, 0x00, 0x00}), v5, Side::server), CodecError::zero_packet_id);
}

}  // namespace
}  // namespace mop::mqtt::test
