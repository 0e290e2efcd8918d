// MQTT 5 CONNECT (MQTT 5.0 section 3.1): protocol name "MQTT" level 5, properties after the keep
// alive, will properties before the will topic.
#include "mqtt/codec/tests/v5_helpers.hpp"

namespace mop::mqtt::test {
namespace {

// CONNECT body: "MQTT", 5, flags, keep alive, then `rest` (properties, payload).
Bytes connect5(std::uint8_t flags, const Bytes& rest) {
  Bytes b;
  add_str(b, "MQTT");
  b.push_back(5);
  b.push_back(flags);
  add(b, {0x00, 0x0A});
  add(b, rest);
  return packet(0x10, b);
}

TEST(V5Connect, MinimalLiteralBytes_3_1_2) {
  Bytes rest = props({});
  add_str(rest, "id");
  const Bytes wire = connect5(0x02, rest);
  auto r = decode(wire, v5);
  ASSERT_TRUE(r.ok()) << r.error().message();
  const auto& c = std::get<Connect>(*r);
  EXPECT_EQ(c.version, ProtocolVersion::v5);
  EXPECT_EQ(c.protocol_name, "MQTT");
  EXPECT_TRUE(c.clean_session);
  EXPECT_EQ(c.keep_alive, 10);
  EXPECT_EQ(c.client_id, "id");
  EXPECT_EQ(c.properties, Properties{});
  EXPECT_EQ(encode_bytes(c, v5), wire);
  // The version comes from the packet, whatever the connection's current one says.
  EXPECT_TRUE(decode(wire, ProtocolVersion::v311).ok());
}

TEST(V5Connect, FullLiteralBytesWithWillAndProperties) {
  Bytes rest = props({0x11, 0x00, 0x00, 0x00, 0x3C, 0x21, 0x00, 0x14});  // session expiry 60, receive max 20
  add_str(rest, "cid");
  add(rest, props({0x01, 0x01, 0x18, 0x00, 0x00, 0x00, 0x05}));  // payload format 1, will delay 5
  add_str(rest, "will/t");
  add_str(rest, "bye");
  add_str(rest, "user");
  add_str(rest, "pw");
  // user, password, will retain, will QoS 1, will, clean start
  const Bytes wire = connect5(0xC0 | 0x20 | 0x08 | 0x04 | 0x02, rest);
  auto r = decode(wire, v5);
  ASSERT_TRUE(r.ok()) << r.error().message();
  const auto& c = std::get<Connect>(*r);
  EXPECT_EQ(c.properties.session_expiry_interval, 60u);
  EXPECT_EQ(c.properties.receive_maximum, 20);
  ASSERT_TRUE(c.will);
  EXPECT_EQ(c.will->topic, "will/t");
  EXPECT_EQ(c.will->payload.view(), "bye");
  EXPECT_EQ(c.will->qos, 1);
  EXPECT_TRUE(c.will->retain);
  EXPECT_EQ(c.will->properties.will_delay_interval, 5u);
  EXPECT_EQ(c.will->properties.payload_format_indicator, 1);
  EXPECT_EQ(c.username, "user");
  EXPECT_EQ(c.password, "pw");
  EXPECT_EQ(encode_bytes(c, v5), wire);
  expect_round_trip(c, v5, Side::client);
}

TEST(V5Connect, PasswordWithoutUserNameIsAllowed_3_1_2_9) {
  Bytes rest = props({});
  add_str(rest, "c");
  add_str(rest, "token");
  auto r = decode(connect5(0x40 | 0x02, rest), v5);
  ASSERT_TRUE(r.ok()) << r.error().message();
  EXPECT_FALSE(std::get<Connect>(*r).username);
  EXPECT_EQ(std::get<Connect>(*r).password, "token");
}

TEST(V5Connect, EmptyClientIdAllowedWithoutCleanStart_MQTT_3_1_3_6) {
  Bytes rest = props({});
  add_str(rest, "");
  EXPECT_TRUE(decode(connect5(0x00, rest), v5).ok());
}

TEST(V5Connect, ReservedFlagIsMalformed_MQTT_3_1_2_3) {
  Bytes rest = props({});
  add_str(rest, "c");
  EXPECT_EQ(decode_error(connect5(0x03, rest), v5), CodecError::invalid_connect_flags);
  EXPECT_EQ(reason_for(CodecError::invalid_connect_flags), ReasonCode::malformed_packet);
}

TEST(V5Connect, WillFlagRules_MQTT_3_1_2_11_to_13) {
  Bytes rest = props({});
  add_str(rest, "c");
  EXPECT_EQ(decode_error(connect5(0x08 | 0x02, rest), v5), CodecError::invalid_connect_flags);  // QoS without will
  EXPECT_EQ(decode_error(connect5(0x20 | 0x02, rest), v5), CodecError::invalid_connect_flags);  // retain without will
  Bytes will = props({});
  add_str(will, "c");
  add(will, props({}));
  add_str(will, "w");
  add_str(will, "");
  EXPECT_EQ(decode_error(connect5(0x18 | 0x04 | 0x02, will), v5), CodecError::invalid_qos);  // will QoS 3 [MQTT-3.1.2-12]
  EXPECT_EQ(reason_for(CodecError::invalid_qos), ReasonCode::malformed_packet);
}

TEST(V5Connect, WillPropertiesFollowTable2_4) {
  Bytes rest = props({});
  add_str(rest, "c");
  add(rest, props({0x11, 0, 0, 0, 1}));  // session expiry is not a will property
  add_str(rest, "w");
  add_str(rest, "");
  EXPECT_EQ(decode_error(connect5(0x06, rest), v5), CodecError::invalid_property);
}

TEST(V5Connect, PropertiesMissingIsTruncated) {
  Bytes rest;  // a 3.1.1-shaped CONNECT with level 5: the client id length is read as properties
  add_str(rest, "c");
  EXPECT_EQ(decode_error(connect5(0x02, rest), v5), CodecError::truncated);
}

TEST(V5Connect, UnsupportedLevelMapsTo0x84_MQTT_3_1_2_2) {
  Bytes b;
  add_str(b, "MQTT");
  b.push_back(6);
  EXPECT_EQ(decode_error(packet(0x10, b), v5), CodecError::unsupported_protocol_level);
  EXPECT_EQ(reason_for(CodecError::unsupported_protocol_level), ReasonCode::unsupported_protocol_version);
}

TEST(V5Connect, AuthenticationMethodAndData_4_12) {
  Bytes p = str_prop(0x15, "SCRAM-SHA-1");
  add(p, str_prop(0x16, std::string("\x00\x01\x02", 3)));
  Bytes rest = props(p);
  add_str(rest, "c");
  auto r = decode(connect5(0x02, rest), v5);
  ASSERT_TRUE(r.ok()) << r.error().message();
  EXPECT_EQ(std::get<Connect>(*r).properties.authentication_method, "SCRAM-SHA-1");
  EXPECT_EQ(std::get<Connect>(*r).properties.authentication_data, std::string("\x00\x01\x02", 3));
}

TEST(V5Connect, Mqtt311EncodingIgnoresProperties) {
  Connect c;
  c.client_id = "c";
  c.properties.session_expiry_interval = 10;
  Connect plain;
  plain.client_id = "c";
  EXPECT_EQ(encode_bytes(c, ProtocolVersion::v311), encode_bytes(plain, ProtocolVersion::v311));
}

}  // namespace
}  // namespace mop::mqtt::test
