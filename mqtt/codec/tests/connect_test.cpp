// CONNECT (MQTT 3.1.1 section 3.1, MQTT 3.1 "MQIsdp").
#include "mqtt/codec/tests/helpers.hpp"

namespace mop::mqtt::test {
namespace {

constexpr auto v31 = ProtocolVersion::v31;
constexpr auto v311 = ProtocolVersion::v311;

// Body of a CONNECT: protocol name, level, flags, keep alive, then the payload strings in order.
Bytes connect_body(std::string_view name, int level, int flags, std::initializer_list<std::string_view> fields,
                   int keep_alive = 60) {
  Bytes b;
  add_str(b, name);
  b.push_back(static_cast<std::uint8_t>(level));
  b.push_back(static_cast<std::uint8_t>(flags));
  b.push_back(static_cast<std::uint8_t>(keep_alive >> 8));
  b.push_back(static_cast<std::uint8_t>(keep_alive & 0xFF));
  for (auto f : fields) add_str(b, f);
  return b;
}
Bytes connect(std::string_view name, int level, int flags, std::initializer_list<std::string_view> fields) {
  return packet(0x10, connect_body(name, level, flags, fields));
}

TEST(Connect, DecodesTheSpecExampleVariableHeader) {
  // MQTT 3.1.1 figure 3.6: 00 04 'MQTT' 04 CE 00 0A: user name, password, will QoS 1, will, clean.
  Bytes body = bytes({0x00, 0x04, 'M', 'Q', 'T', 'T', 0x04, 0xCE, 0x00, 0x0A});
  add_str(body, "client-1");
  add_str(body, "will/topic");
  add_str(body, "bye");
  add_str(body, "user");
  add_str(body, std::string("p\0w", 3));
  auto r = decode(packet(0x10, body), v311);
  ASSERT_TRUE(r.ok()) << r.error().message();
  const auto& c = std::get<Connect>(*r);
  EXPECT_EQ(c.protocol_name, "MQTT");
  EXPECT_EQ(c.version, v311);
  EXPECT_TRUE(c.clean_session);
  EXPECT_EQ(c.keep_alive, 10);
  EXPECT_EQ(c.client_id, "client-1");
  ASSERT_TRUE(c.will);
  EXPECT_EQ(c.will->topic, "will/topic");
  EXPECT_EQ(c.will->payload.view(), "bye");
  EXPECT_EQ(c.will->qos, 1);
  EXPECT_FALSE(c.will->retain);
  EXPECT_EQ(c.username, "user");
  EXPECT_EQ(c.password, std::string("p\0w", 3));  // binary data, U+0000 allowed
}

TEST(Connect, DecodesMqtt31) {
  auto r = decode(connect("MQIsdp", 3, 0x02, {"abc"}), v311);  // the version argument is ignored for CONNECT
  ASSERT_TRUE(r.ok()) << r.error().message();
  const auto& c = std::get<Connect>(*r);
  EXPECT_EQ(c.version, v31);
  EXPECT_EQ(c.protocol_name, "MQIsdp");
  EXPECT_EQ(c.client_id, "abc");
  EXPECT_FALSE(c.will);
  EXPECT_FALSE(c.username);
  EXPECT_FALSE(c.password);
}

TEST(Connect, LiteralBytesOfAMinimalConnect) {
  Connect c;
  c.client_id = "a";
  c.keep_alive = 60;
  EXPECT_EQ(encode_bytes(c, v311),
            bytes({0x10, 13, 0, 4, 'M', 'Q', 'T', 'T', 4, 0x02, 0, 60, 0, 1, 'a'}));
  c.version = v31;
  EXPECT_EQ(encode_bytes(c, v31),
            bytes({0x10, 15, 0, 6, 'M', 'Q', 'I', 's', 'd', 'p', 3, 0x02, 0, 60, 0, 1, 'a'}));
}

TEST(Connect, RoundTripsEveryFieldCombination) {
  for (auto v : {v31, v311}) {
    for (int mask = 0; mask < 8; ++mask) {
      Connect c;
      c.version = v;
      c.protocol_name = v == v31 ? "MQIsdp" : "MQTT";
      c.clean_session = mask & 1;
      c.keep_alive = 0xABCD;
      c.client_id = "dev-\xC3\xA9";
      if (mask & 2) c.will = Will{"w/t", Payload::copy_of(std::string_view("\0\xFF", 2)), 2, true};
      if (mask & 4) {
        c.username = "u";
        c.password = std::string("\0\x01", 2);
      }
      expect_round_trip(c, v, Side::client);
    }
  }
}

TEST(Connect, EncodesDefaultProtocolNameFromVersion) {
  Connect c;
  c.client_id = "x";
  auto r = decode(encode_bytes(c, v311), v311);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(std::get<Connect>(*r).protocol_name, "MQTT");
}

TEST(Connect, RejectsUnknownProtocolName_MQTT_3_1_2_1) {
  EXPECT_EQ(decode_error(connect("MQTX", 4, 0x02, {"a"}), v311), CodecError::unsupported_protocol_name);
  EXPECT_EQ(decode_error(connect("mqtt", 4, 0x02, {"a"}), v311), CodecError::unsupported_protocol_name);
}

TEST(Connect, RejectsUnsupportedLevel_MQTT_3_1_2_2) {
  EXPECT_EQ(decode_error(connect("MQTT", 3, 0x02, {"a"}), v311), CodecError::unsupported_protocol_level);
  // Level 5 was refused here before MQTT 5 support; it is now decoded (v5_connect_test.cpp).
  EXPECT_EQ(decode_error(connect("MQTT", 7, 0x02, {"a"}), v311), CodecError::unsupported_protocol_level);
  EXPECT_EQ(decode_error(connect("MQIsdp", 4, 0x02, {"a"}), v311), CodecError::unsupported_protocol_level);
  // Judged before the rest: the remainder of another version's CONNECT need not parse.
  Bytes b;
  add_str(b, "MQTT");
  b.push_back(6);
  EXPECT_EQ(decode_error(packet(0x10, b), v311), CodecError::unsupported_protocol_level);
}

TEST(Connect, RejectsReservedFlag_MQTT_3_1_2_3) {
  EXPECT_EQ(decode_error(connect("MQTT", 4, 0x03, {"a"}), v311), CodecError::invalid_connect_flags);
  // MQTT 3.1 has no rule for the unused bit; old clients are not refused over it.
  EXPECT_TRUE(decode(connect("MQIsdp", 3, 0x03, {"a"}), v31).ok());
}

TEST(Connect, RejectsWillQosWithoutWillFlag_MQTT_3_1_2_13) {
  EXPECT_EQ(decode_error(connect("MQTT", 4, 0x02 | 0x08, {"a"}), v311), CodecError::invalid_connect_flags);
  EXPECT_EQ(decode_error(connect("MQTT", 4, 0x02 | 0x10, {"a"}), v311), CodecError::invalid_connect_flags);
}

TEST(Connect, RejectsWillRetainWithoutWillFlag_MQTT_3_1_2_15) {
  EXPECT_EQ(decode_error(connect("MQTT", 4, 0x02 | 0x20, {"a"}), v311), CodecError::invalid_connect_flags);
}

TEST(Connect, WillFlagZeroMeansNoWillFields_MQTT_3_1_2_11) {
  // With the will flag clear, the strings after the client id are not a will: here they are trailing.
  EXPECT_EQ(decode_error(connect("MQTT", 4, 0x02, {"a", "t", "m"}), v311), CodecError::trailing_bytes);
  // With it set they must be present.
  EXPECT_EQ(decode_error(connect("MQTT", 4, 0x06, {"a", "t"}), v311), CodecError::truncated);
  EXPECT_TRUE(decode(connect("MQTT", 4, 0x06, {"a", "t", "m"}), v311).ok());
}

TEST(Connect, RejectsWillQos3_MQTT_3_1_2_14) {
  EXPECT_EQ(decode_error(connect("MQTT", 4, 0x02 | 0x04 | 0x18, {"a", "t", "m"}), v311), CodecError::invalid_qos);
}

TEST(Connect, RejectsPasswordWithoutUserName_MQTT_3_1_2_22) {
  EXPECT_EQ(decode_error(connect("MQTT", 4, 0x02 | 0x40, {"a", "pw"}), v311), CodecError::invalid_connect_flags);
  EXPECT_EQ(decode_error(connect("MQIsdp", 3, 0x02 | 0x40, {"a", "pw"}), v31), CodecError::invalid_connect_flags);
}

TEST(Connect, RejectsIllFormedUtf8InClientId_MQTT_1_5_3_1) {
  EXPECT_EQ(decode_error(connect("MQTT", 4, 0x02, {"a\xC0\xAF"}), v311), CodecError::invalid_utf8);
  EXPECT_EQ(decode_error(connect("MQTT", 4, 0x02, {"\xED\xA0\x80"}), v311), CodecError::invalid_utf8);
}

TEST(Connect, RejectsNullCharacterInClientId_MQTT_1_5_3_2) {
  EXPECT_EQ(decode_error(connect("MQTT", 4, 0x02, {std::string_view("a\0b", 3)}), v311), CodecError::invalid_utf8);
}

TEST(Connect, RejectsIllFormedUtf8InWillTopicAndUserName_MQTT_3_1_3_10_and_3_1_3_11) {
  EXPECT_EQ(decode_error(connect("MQTT", 4, 0x06, {"a", "\xFF", "m"}), v311), CodecError::invalid_utf8);
  EXPECT_EQ(decode_error(connect("MQTT", 4, 0x82, {"a", "\xFE"}), v311), CodecError::invalid_utf8);
}

TEST(Connect, RejectsWildcardOrEmptyWillTopic) {
  EXPECT_EQ(decode_error(connect("MQTT", 4, 0x06, {"a", "t/#", "m"}), v311), CodecError::invalid_topic_name);
  EXPECT_EQ(decode_error(connect("MQTT", 4, 0x06, {"a", "", "m"}), v311), CodecError::invalid_topic_name);
}

TEST(Connect, Mqtt31ClientIdIsOneTo23Characters) {
  EXPECT_EQ(decode_error(connect("MQIsdp", 3, 0x02, {""}), v31), CodecError::invalid_client_id);
  EXPECT_EQ(decode_error(connect("MQIsdp", 3, 0x02, {std::string(24, 'c')}), v31), CodecError::invalid_client_id);
  EXPECT_TRUE(decode(connect("MQIsdp", 3, 0x02, {std::string(23, 'c')}), v31).ok());
  std::string wide;  // 23 characters of 2 bytes each: counted in characters, not bytes
  for (int i = 0; i < 23; ++i) wide += "\xC3\xA9";
  EXPECT_TRUE(decode(connect("MQIsdp", 3, 0x02, {wide}), v31).ok());
}

TEST(Connect, EmptyClientIdNeedsCleanSession_MQTT_3_1_3_8) {
  EXPECT_EQ(decode_error(connect("MQTT", 4, 0x00, {""}), v311), CodecError::invalid_client_id);
  // [MQTT-3.1.3-6]: with clean session the server may assign one; long ids are the server's call.
  EXPECT_TRUE(decode(connect("MQTT", 4, 0x02, {""}), v311).ok());
  EXPECT_TRUE(decode(connect("MQTT", 4, 0x00, {std::string(100, 'c')}), v311).ok());
}

TEST(Connect, RejectsTruncatedFields) {
  EXPECT_EQ(decode_error(connect("MQTT", 4, 0xC2, {"a", "user"}), v311), CodecError::truncated);  // no password
  EXPECT_EQ(decode_error(packet(0x10, bytes({0, 4, 'M', 'Q', 'T', 'T', 4, 2, 0})), v311), CodecError::truncated);
  EXPECT_EQ(decode_error(packet(0x10, bytes({0, 4, 'M', 'Q'})), v311), CodecError::truncated);
  Bytes b = connect_body("MQTT", 4, 0x02, {});
  b.insert(b.end(), {0, 5, 'a'});  // client id claims 5 bytes
  EXPECT_EQ(decode_error(packet(0x10, b), v311), CodecError::truncated);
}

TEST(Connect, RejectsTrailingBytes) {
  Bytes b = connect_body("MQTT", 4, 0x02, {"a"});
  b.push_back(0);
  EXPECT_EQ(decode_error(packet(0x10, b), v311), CodecError::trailing_bytes);
}

TEST(Connect, RejectsFixedHeaderFlags_MQTT_2_2_2_2) {
  EXPECT_EQ(decode_error(packet(0x11, connect_body("MQTT", 4, 0x02, {"a"})), v311),
            CodecError::invalid_fixed_header_flags);
}

TEST(Connect, AServerNeverSendsConnect) {
  EXPECT_EQ(decode_error(connect("MQTT", 4, 0x02, {"a"}), v311, Side::server), CodecError::unexpected_packet);
}

}  // namespace
}  // namespace mop::mqtt::test
