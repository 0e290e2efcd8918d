// MQTT 5 PUBLISH (MQTT 5.0 section 3.3): properties after the packet identifier, topic aliases,
// and the header-only encoder that the session uses for zero-copy payloads.
#include "mqtt/codec/tests/v5_helpers.hpp"

namespace mop::mqtt::test {
namespace {

TEST(V5Publish, LiteralBytesQos1WithProperties_3_3_2) {
  Bytes body;
  add_str(body, "a/b");
  add(body, {0x00, 0x07});                               // packet id
  add(body, props({0x01, 0x01, 0x23, 0x00, 0x02}));      // payload format 1, topic alias 2
  add(body, {'h', 'i'});
  const Bytes wire = packet(0x32, body);
  auto r = decode(wire, v5);
  ASSERT_TRUE(r.ok()) << r.error().message();
  const auto& p = std::get<Publish>(*r);
  EXPECT_EQ(p.topic, "a/b");
  EXPECT_EQ(p.packet_id, 7);
  EXPECT_EQ(p.payload.view(), "hi");
  EXPECT_EQ(p.properties.payload_format_indicator, 1);
  EXPECT_EQ(p.properties.topic_alias, 2);
  EXPECT_EQ(encode_bytes(p, v5), wire);
}

TEST(V5Publish, EmptyPropertiesIsOneZeroByte) {
  Publish p;
  p.topic = "t";
  EXPECT_EQ(encode_bytes(p, v5), bytes({0x30, 0x04, 0x00, 0x01, 't', 0x00}));
  expect_round_trip(p, v5, Side::client);
  expect_round_trip(p, v5, Side::server);
}

TEST(V5Publish, EmptyTopicNeedsATopicAlias_3_3_2_3_4) {
  Bytes with_alias;
  add_str(with_alias, "");
  add(with_alias, props({0x23, 0x00, 0x01}));
  auto r = decode(packet(0x30, with_alias), v5);
  ASSERT_TRUE(r.ok()) << r.error().message();
  EXPECT_EQ(std::get<Publish>(*r).topic, "");
  Bytes without;
  add_str(without, "");
  add(without, props({}));
  EXPECT_EQ(decode_error(packet(0x30, without), v5), CodecError::empty_topic_without_alias);
  EXPECT_EQ(reason_for(CodecError::empty_topic_without_alias), ReasonCode::protocol_error);
  // 3.1.1 has no aliases: an empty topic stays invalid there.
  Bytes v311;
  add_str(v311, "");
  EXPECT_EQ(decode_error(packet(0x30, v311), ProtocolVersion::v311), CodecError::invalid_topic_name);
}

TEST(V5Publish, WildcardsInTopicName_MQTT_3_3_2_2) {
  Bytes b;
  add_str(b, "a/+");
  add(b, props({}));
  EXPECT_EQ(decode_error(packet(0x30, b), v5), CodecError::invalid_topic_name);
  EXPECT_EQ(reason_for(CodecError::invalid_topic_name), ReasonCode::topic_name_invalid);
}

TEST(V5Publish, QosAndDupRules_MQTT_3_3_1_2_and_3_3_1_4) {
  Bytes b;
  add_str(b, "t");
  add(b, props({}));
  EXPECT_EQ(decode_error(packet(0x36, b), v5), CodecError::invalid_qos);
  EXPECT_EQ(decode_error(packet(0x38, b), v5), CodecError::invalid_fixed_header_flags);
}

TEST(V5Publish, EveryMessagePropertyRoundTrips) {
  Publish p;
  p.qos = 2;
  p.packet_id = 300;
  p.retain = true;
  p.topic = "x/y";
  p.payload = Payload::copy_of(std::string("payload"));
  auto& pr = p.properties;
  pr.payload_format_indicator = 0;
  pr.message_expiry_interval = 0xFFFFFFFF;
  pr.content_type = "application/json";
  pr.response_topic = "reply/1";
  pr.correlation_data = std::string("\x00\x01\xFF", 3);
  pr.topic_alias = 65535;
  pr.user_properties = {{"a", "1"}, {"a", "2"}, {"", ""}};
  expect_round_trip(p, v5, Side::client);
  pr.subscription_identifiers = {1, 127, 128, 16383, 16384, 268'435'455};
  expect_round_trip(p, v5, Side::server);
}

TEST(V5Publish, HeaderEncoderAndEncodedSizeAgree) {
  Publish p;
  p.qos = 1;
  p.packet_id = 1;
  p.topic = "t";
  p.payload = Payload::copy_of(std::string(200, 'x'));  // two-byte remaining length
  p.properties.content_type = "c";
  p.properties.user_properties = {{"k", "v"}};
  std::string header;
  encode_publish_header(p, v5, header);
  EXPECT_EQ(encoded_size(p, v5), header.size() + p.payload.size());
  std::string whole;
  encode(p, v5, whole);
  EXPECT_EQ(whole, header + std::string(p.payload.view()));
  // 3.1.1 sizes do not count the properties.
  EXPECT_EQ(encoded_size(p, ProtocolVersion::v311), 1 + 2 + 2 + 1 + 2 + 200u);
}

TEST(V5Publish, PayloadFormatInvalidIsForTheSession) {
  // The codec does not judge the payload [MQTT-3.3.2-4 says the receiver MAY]; the session
  // decides and answers 0x99 through reason_for(payload_format_invalid).
  Bytes b;
  add_str(b, "t");
  add(b, props({0x01, 0x01}));
  b.push_back(0xFF);
  EXPECT_TRUE(decode(packet(0x30, b), v5).ok());
  EXPECT_EQ(reason_for(CodecError::payload_format_invalid), ReasonCode::payload_format_invalid);
}

}  // namespace
}  // namespace mop::mqtt::test
