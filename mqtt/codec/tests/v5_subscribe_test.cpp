// MQTT 5 SUBSCRIBE (MQTT 5.0 section 3.8): properties after the packet id, subscription options
// (QoS, no local, retain as published, retain handling, reserved bits).
#include "mqtt/codec/tests/v5_helpers.hpp"

namespace mop::mqtt::test {
namespace {

Bytes subscribe5(const Bytes& properties, std::string_view filter, std::uint8_t options) {
  Bytes b{0x00, 0x0A};
  add(b, properties);
  add_str(b, filter);
  b.push_back(options);
  return packet(0x82, b);
}

TEST(V5Subscribe, OptionsBitsDecode_3_8_3_1) {
  // QoS 2 | no local | retain as published | retain handling 2
  auto r = decode(subscribe5(props({0x0B, 0x07}), "a/#", 0x02 | 0x04 | 0x08 | 0x20), v5);
  ASSERT_TRUE(r.ok()) << r.error().message();
  const auto& s = std::get<Subscribe>(*r);
  ASSERT_EQ(s.entries.size(), 1u);
  EXPECT_EQ(s.entries[0].filter, "a/#");
  EXPECT_EQ(s.entries[0].qos, 2);
  EXPECT_TRUE(s.entries[0].no_local);
  EXPECT_TRUE(s.entries[0].retain_as_published);
  EXPECT_EQ(s.entries[0].retain_handling, 2);
  EXPECT_EQ(s.properties.subscription_identifiers, std::vector<std::uint32_t>{7});
  EXPECT_EQ(encode_bytes(s, v5), subscribe5(props({0x0B, 0x07}), "a/#", 0x2E));
}

TEST(V5Subscribe, ReservedOptionBitsAreMalformed_MQTT_3_8_3_5) {
  for (std::uint8_t bad : {0x40, 0x80, 0xC0}) {
    EXPECT_EQ(decode_error(subscribe5(props({}), "t", bad), v5), CodecError::invalid_subscribe_options) << int(bad);
  }
  EXPECT_EQ(reason_for(CodecError::invalid_subscribe_options), ReasonCode::malformed_packet);
}

TEST(V5Subscribe, RetainHandling3AndQos3AreProtocolErrors_3_8_3_1) {
  EXPECT_EQ(decode_error(subscribe5(props({}), "t", 0x30), v5), CodecError::invalid_subscribe_option_value);
  EXPECT_EQ(decode_error(subscribe5(props({}), "t", 0x03), v5), CodecError::invalid_subscribe_option_value);
  EXPECT_EQ(reason_for(CodecError::invalid_subscribe_option_value), ReasonCode::protocol_error);
}

TEST(V5Subscribe, NoLocalOnSharedSubscription_MQTT_3_8_3_4) {
  EXPECT_EQ(decode_error(subscribe5(props({}), "$share/g/t", 0x04), v5), CodecError::invalid_subscribe_option_value);
  EXPECT_TRUE(decode(subscribe5(props({}), "$share/g/t", 0x00), v5).ok());
}

TEST(V5Subscribe, IllFormedFilterIsKeptForAPerEntryReasonCode) {
  auto r = decode(subscribe5(props({}), "a/#/b", 0x00), v5);
  ASSERT_TRUE(r.ok()) << r.error().message();
  EXPECT_EQ(std::get<Subscribe>(*r).entries[0].filter, "a/#/b");
}

TEST(V5Subscribe, NoFilterIsAProtocolError_MQTT_3_8_3_2) {
  Bytes b{0x00, 0x01};
  add(b, props({}));
  EXPECT_EQ(decode_error(packet(0x82, b), v5), CodecError::empty_subscription_list);
  EXPECT_EQ(reason_for(CodecError::empty_subscription_list), ReasonCode::protocol_error);
}

TEST(V5Subscribe, PropertiesAndManyEntriesRoundTrip) {
  Subscribe s{42, {{"a", 0}, {"b/+", 1, true, false, 1}, {"c/#", 2, false, true, 2}}};
  s.properties.subscription_identifiers = {268'435'455};
  s.properties.user_properties = {{"u", "1"}};
  expect_round_trip(s, v5, Side::client);
  // 3.1.1 sends the QoS alone.
  EXPECT_EQ(encode_bytes(Subscribe{1, {{"t", 1, true, true, 2}}}, ProtocolVersion::v311),
            bytes({0x82, 0x06, 0x00, 0x01, 0x00, 0x01, 't', 0x01}));
}

TEST(V5Subscribe, OneSubscriptionIdentifierOnly_3_8_2_1_2) {
  EXPECT_EQ(decode_error(subscribe5(props({0x0B, 0x01, 0x0B, 0x02}), "t", 0), v5), CodecError::duplicate_property);
  EXPECT_EQ(decode_error(subscribe5(props({0x0B, 0x00}), "t", 0), v5), CodecError::invalid_property_value);
}

TEST(V5Subscribe, FixedHeaderFlags_MQTT_3_8_1_1) {
  Bytes b = subscribe5(props({}), "t", 0);
  b[0] = 0x80;
  EXPECT_EQ(decode_error(b, v5), CodecError::invalid_fixed_header_flags);
}

}  // namespace
}  // namespace mop::mqtt::test
