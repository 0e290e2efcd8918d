// MQTT 5 UNSUBSCRIBE (MQTT 5.0 section 3.10): properties (user properties only), then filters.
#include "mqtt/codec/tests/v5_helpers.hpp"

namespace mop::mqtt::test {
namespace {

TEST(V5Unsubscribe, LiteralBytes_3_10_2) {
  Bytes b{0x00, 0x03};
  add(b, props({}));
  add_str(b, "a/b");
  add_str(b, "c/#");
  const Bytes wire = packet(0xA2, b);
  auto r = decode(wire, v5);
  ASSERT_TRUE(r.ok()) << r.error().message();
  EXPECT_EQ(std::get<Unsubscribe>(*r).filters, (std::vector<std::string>{"a/b", "c/#"}));
  EXPECT_EQ(encode_bytes(*r, v5), wire);
}

TEST(V5Unsubscribe, IllFormedFilterIsKeptForUnsuback0x8F) {
  // MQTT 5 can refuse one filter in UNSUBACK (0x8F), so the packet as a whole stands; 3.1.1 cannot.
  Bytes b{0x00, 0x03};
  add(b, props({}));
  add_str(b, "a/#/b");
  EXPECT_TRUE(decode(packet(0xA2, b), v5).ok());
  Bytes c{0x00, 0x03};
  add_str(c, "a/#/b");
  EXPECT_EQ(decode_error(packet(0xA2, c), ProtocolVersion::v311), CodecError::invalid_topic_filter);
}

TEST(V5Unsubscribe, NoFilterIsAProtocolError_MQTT_3_10_3_2) {
  Bytes b{0x00, 0x03};
  add(b, props({}));
  EXPECT_EQ(decode_error(packet(0xA2, b), v5), CodecError::empty_subscription_list);
}

TEST(V5Unsubscribe, UserPropertiesRoundTripOthersRefused) {
  Unsubscribe u{5, {"x"}};
  u.properties.user_properties = {{"a", "b"}, {"a", "c"}};
  expect_round_trip(u, v5, Side::client);
  Bytes b{0x00, 0x03};
  add(b, props(str_prop(0x1F, "r")));  // reason string is not an UNSUBSCRIBE property
  add_str(b, "x");
  EXPECT_EQ(decode_error(packet(0xA2, b), v5), CodecError::invalid_property);
}

}  // namespace
}  // namespace mop::mqtt::test
