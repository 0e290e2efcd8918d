// MQTT 5 properties (MQTT 5.0 section 2.2.2): each property's identifier, type and encoding, the
// table 2-4 rule of which packet may carry it, the at-most-once rule and the value rules.
#include <map>
#include <set>

#include "mqtt/codec/tests/v5_helpers.hpp"

namespace mop::mqtt::test {
namespace {

using W = Where;

// One valid instance of each property (identifier + value), as table 2-4 and 2.2.2.2 lay it out.
// Authentication Data is preceded by an Authentication Method: data alone is a Protocol Error.
std::map<int, Bytes> valid_properties() {
  Bytes user{0x26};
  add_str(user, "k");
  add_str(user, "v");
  Bytes auth_data = str_prop(0x15, "SCRAM");
  add(auth_data, str_prop(0x16, std::string("\x00\x01", 2)));
  return {
      {0x01, {0x01, 0x01}},                          // Payload Format Indicator: byte
      {0x02, {0x02, 0x00, 0x00, 0x00, 0x0A}},        // Message Expiry Interval: four byte integer
      {0x03, str_prop(0x03, "text/plain")},          // Content Type: UTF-8 string
      {0x08, str_prop(0x08, "reply/here")},          // Response Topic: UTF-8 string
      {0x09, str_prop(0x09, std::string("\x00\xFF", 2))},  // Correlation Data: binary data
      {0x0B, {0x0B, 0x80, 0x01}},                    // Subscription Identifier: varint (128)
      {0x11, {0x11, 0x00, 0x00, 0x0E, 0x10}},        // Session Expiry Interval: four byte integer
      {0x12, str_prop(0x12, "assigned")},            // Assigned Client Identifier: UTF-8 string
      {0x13, {0x13, 0x00, 0x1E}},                    // Server Keep Alive: two byte integer
      {0x15, str_prop(0x15, "SCRAM")},               // Authentication Method: UTF-8 string
      {0x16, auth_data},                             // Authentication Data: binary data
      {0x17, {0x17, 0x00}},                          // Request Problem Information: byte
      {0x18, {0x18, 0x00, 0x00, 0x00, 0x05}},        // Will Delay Interval: four byte integer
      {0x19, {0x19, 0x01}},                          // Request Response Information: byte
      {0x1A, str_prop(0x1A, "resp/")},               // Response Information: UTF-8 string
      {0x1C, str_prop(0x1C, "other:1883")},          // Server Reference: UTF-8 string
      {0x1F, str_prop(0x1F, "because")},             // Reason String: UTF-8 string
      {0x21, {0x21, 0x00, 0x0A}},                    // Receive Maximum: two byte integer
      {0x22, {0x22, 0x00, 0x05}},                    // Topic Alias Maximum: two byte integer
      {0x23, {0x23, 0x00, 0x01}},                    // Topic Alias: two byte integer
      {0x24, {0x24, 0x01}},                          // Maximum QoS: byte
      {0x25, {0x25, 0x00}},                          // Retain Available: byte
      {0x26, user},                                  // User Property: UTF-8 string pair
      {0x27, {0x27, 0x00, 0x00, 0x10, 0x00}},        // Maximum Packet Size: four byte integer
      {0x28, {0x28, 0x01}},                          // Wildcard Subscription Available: byte
      {0x29, {0x29, 0x00}},                          // Subscription Identifier Available: byte
      {0x2A, {0x2A, 0x01}},                          // Shared Subscription Available: byte
  };
}

// MQTT 5.0 table 2-4, transcribed from the spec independently of properties.cpp.
std::set<W> allowed_on(int id) {
  const std::set<W> message{W::publish, W::will};
  switch (id) {
    case 0x01: case 0x02: case 0x03: case 0x08: case 0x09: return message;
    case 0x0B: return {W::publish, W::subscribe};
    case 0x11: return {W::connect, W::connack, W::disconnect};
    case 0x12: case 0x13: case 0x1A: case 0x24: case 0x25: case 0x28: case 0x29: case 0x2A:
      return {W::connack};
    case 0x15: case 0x16: return {W::connect, W::connack, W::auth};
    case 0x17: case 0x19: return {W::connect};
    case 0x18: return {W::will};
    case 0x1C: return {W::connack, W::disconnect};
    case 0x1F:
      return {W::connack, W::puback, W::pubrec, W::pubrel, W::pubcomp, W::suback, W::unsuback,
              W::disconnect, W::auth};
    case 0x21: case 0x22: case 0x27: return {W::connect, W::connack};
    case 0x23: return {W::publish};
    case 0x26:
      return {W::connect, W::will, W::connack, W::publish, W::puback, W::pubrec, W::pubrel, W::pubcomp,
              W::subscribe, W::suback, W::unsubscribe, W::unsuback, W::disconnect, W::auth};
  }
  return {};
}

const W kAllPlaces[] = {W::connect, W::will, W::connack, W::publish, W::puback, W::pubrec, W::pubrel,
                        W::pubcomp, W::subscribe, W::suback, W::unsubscribe, W::unsuback,
                        W::disconnect, W::auth};

TEST(Properties, EmptyBlockIsValidEverywhere) {
  for (W w : kAllPlaces) EXPECT_TRUE(decode(around(w, props({})), v5, sender_of(w)).ok()) << int(w);
}

// 2.2.2.2: "A Control Packet which contains an Identifier which is not valid for its packet type
// ... is a Malformed Packet" -- and every allowed one decodes and re-encodes to the same bytes.
TEST(Properties, Table2_4_AllowedOnPacketRule) {
  for (const auto& [id, prop] : valid_properties()) {
    const auto allowed = allowed_on(id);
    for (W w : kAllPlaces) {
      const Bytes wire = around(w, props(prop));
      auto r = decode(wire, v5, sender_of(w));
      if (allowed.count(w)) {
        ASSERT_TRUE(r.ok()) << "property " << id << " at " << int(w) << ": " << r.error().message();
        EXPECT_EQ(encode_bytes(*r, v5), wire) << "property " << id << " at " << int(w);
      } else {
        EXPECT_EQ(r.error(), CodecError::invalid_property) << "property " << id << " at " << int(w);
        EXPECT_EQ(reason_for(CodecError::invalid_property), ReasonCode::malformed_packet);
      }
    }
  }
}

TEST(Properties, UnknownIdentifiersAreMalformed) {
  for (int id : {0x00, 0x04, 0x05, 0x0A, 0x0C, 0x10, 0x14, 0x1B, 0x1D, 0x1E, 0x20, 0x2B, 0x7F, 0x80, 0xFF}) {
    EXPECT_EQ(decode_error(around(W::connack, props({static_cast<std::uint8_t>(id), 0x00})), v5, Side::server),
              CodecError::invalid_property)
        << id;
  }
}

// "It is a Protocol Error to include the X more than once" for every property but User Property
// and (in a PUBLISH) Subscription Identifier.
TEST(Properties, DuplicatesAreAProtocolError) {
  for (const auto& [id, prop] : valid_properties()) {
    for (W w : allowed_on(id)) {
      Bytes twice = prop;
      add(twice, id == 0x16 ? str_prop(0x16, "x") : prop);
      auto r = decode(around(w, props(twice)), v5, sender_of(w));
      if (id == 0x26 || (id == 0x0B && w == W::publish)) {
        EXPECT_TRUE(r.ok()) << id << " at " << int(w);
      } else {
        EXPECT_EQ(r.error(), CodecError::duplicate_property) << id << " at " << int(w);
      }
    }
  }
  EXPECT_EQ(reason_for(CodecError::duplicate_property), ReasonCode::protocol_error);
}

TEST(Properties, UserPropertiesKeepOrderAndRepeats) {
  Bytes content;
  for (auto [k, v] : {std::pair{"b", "1"}, {"a", "2"}, {"b", "3"}}) {
    content.push_back(0x26);
    add_str(content, k);
    add_str(content, v);
  }
  const Bytes wire = around(W::publish, props(content));
  auto r = decode(wire, v5, Side::client);
  ASSERT_TRUE(r.ok()) << r.error().message();
  const auto& up = std::get<Publish>(*r).properties.user_properties;
  ASSERT_EQ(up.size(), 3u);
  EXPECT_EQ(up[0], (std::pair<std::string, std::string>{"b", "1"}));
  EXPECT_EQ(up[1], (std::pair<std::string, std::string>{"a", "2"}));
  EXPECT_EQ(up[2], (std::pair<std::string, std::string>{"b", "3"}));
  EXPECT_EQ(encode_bytes(*r, v5), wire);
}

TEST(Properties, SubscriptionIdentifiersRepeatOnlyInServerPublish_MQTT_3_3_4_6) {
  const Bytes two{0x0B, 0x01, 0x0B, 0xFF, 0xFF, 0xFF, 0x7F};  // 1 and 268435455
  auto r = decode(around(W::publish, props(two)), v5, Side::server);
  ASSERT_TRUE(r.ok()) << r.error().message();
  EXPECT_EQ(std::get<Publish>(*r).properties.subscription_identifiers, (std::vector<std::uint32_t>{1, 268'435'455}));
  // A client never sends a subscription identifier in PUBLISH [MQTT-3.3.4-6].
  EXPECT_EQ(decode_error(around(W::publish, props({0x0B, 0x01})), v5, Side::client), CodecError::invalid_property);
}

TEST(Properties, EveryValueDecodesIntoItsField) {
  // CONNACK carries the most properties; it is decoded once with all of them.
  Bytes all;
  for (int id : {0x11, 0x12, 0x13, 0x16, 0x1A, 0x1C, 0x1F, 0x21, 0x22, 0x24, 0x25, 0x26, 0x27, 0x28, 0x29, 0x2A})
    add(all, valid_properties()[id]);
  auto r = decode(around(W::connack, props(all)), v5, Side::server);
  ASSERT_TRUE(r.ok()) << r.error().message();
  const Properties& p = std::get<Connack>(*r).properties;
  EXPECT_EQ(p.session_expiry_interval, 3600u);
  EXPECT_EQ(p.assigned_client_identifier, "assigned");
  EXPECT_EQ(p.server_keep_alive, 30);
  EXPECT_EQ(p.authentication_method, "SCRAM");
  EXPECT_EQ(p.authentication_data, std::string("\x00\x01", 2));
  EXPECT_EQ(p.response_information, "resp/");
  EXPECT_EQ(p.server_reference, "other:1883");
  EXPECT_EQ(p.reason_string, "because");
  EXPECT_EQ(p.receive_maximum, 10);
  EXPECT_EQ(p.topic_alias_maximum, 5);
  EXPECT_EQ(p.maximum_qos, 1);
  EXPECT_EQ(p.retain_available, false);
  EXPECT_EQ(p.user_properties.size(), 1u);
  EXPECT_EQ(p.maximum_packet_size, 4096u);
  EXPECT_EQ(p.wildcard_subscription_available, true);
  EXPECT_EQ(p.subscription_identifier_available, false);
  EXPECT_EQ(p.shared_subscription_available, true);

  Bytes message;
  for (int id : {0x01, 0x02, 0x03, 0x08, 0x09, 0x0B, 0x23}) add(message, valid_properties()[id]);
  r = decode(around(W::publish, props(message)), v5, Side::server);
  ASSERT_TRUE(r.ok()) << r.error().message();
  const Properties& m = std::get<Publish>(*r).properties;
  EXPECT_EQ(m.payload_format_indicator, 1);
  EXPECT_EQ(m.message_expiry_interval, 10u);
  EXPECT_EQ(m.content_type, "text/plain");
  EXPECT_EQ(m.response_topic, "reply/here");
  EXPECT_EQ(m.correlation_data, std::string("\x00\xFF", 2));  // binary: no UTF-8 rule
  EXPECT_EQ(m.subscription_identifiers, std::vector<std::uint32_t>{128});
  EXPECT_EQ(m.topic_alias, 1);

  Bytes connect;
  for (int id : {0x17, 0x19}) add(connect, valid_properties()[id]);
  r = decode(around(W::connect, props(connect)), v5);
  ASSERT_TRUE(r.ok()) << r.error().message();
  EXPECT_EQ(std::get<Connect>(*r).properties.request_problem_information, false);
  EXPECT_EQ(std::get<Connect>(*r).properties.request_response_information, true);

  r = decode(around(W::will, props(valid_properties()[0x18])), v5);
  ASSERT_TRUE(r.ok()) << r.error().message();
  EXPECT_EQ(std::get<Connect>(*r).will->properties.will_delay_interval, 5u);
}

// Encoding: the encoder writes properties in identifier order with the spec's field layouts.
TEST(Properties, EncodingOfEachType) {
  Connack c;
  c.properties.session_expiry_interval = 0x01020304;  // four byte integer, big endian
  c.properties.server_keep_alive = 0x0506;            // two byte integer
  c.properties.maximum_qos = 0;                       // byte
  c.properties.retain_available = true;               // byte 0/1
  c.properties.assigned_client_identifier = "id";     // UTF-8 string
  c.properties.user_properties = {{"k", "v"}};        // string pair
  const Bytes expect = packet(0x20, {0x00, 0x00, 24,
                                     0x11, 0x01, 0x02, 0x03, 0x04,
                                     0x12, 0x00, 0x02, 'i', 'd',
                                     0x13, 0x05, 0x06,
                                     0x24, 0x00,
                                     0x25, 0x01,
                                     0x26, 0x00, 0x01, 'k', 0x00, 0x01, 'v'});
  EXPECT_EQ(encode_bytes(c, v5), expect);

  Publish p;
  p.topic = "t";
  p.properties.subscription_identifiers = {1, 16384};  // varint: 0x01 / 0x80 0x80 0x01
  p.properties.correlation_data = std::string("\x00", 1);  // binary data
  EXPECT_EQ(encode_bytes(p, v5),
            packet(0x30, {0x00, 0x01, 't', 10, 0x09, 0x00, 0x01, 0x00, 0x0B, 0x01, 0x0B, 0x80, 0x80, 0x01}));
}

TEST(Properties, EncoderSkipsPropertiesNotAllowedOnThePacket) {
  Puback a{7};
  a.reason_code = ReasonCode::no_matching_subscribers;
  a.properties.topic_alias = 3;  // not allowed on PUBACK: must not reach the wire
  a.properties.reason_string = "r";
  EXPECT_EQ(encode_bytes(a, v5), packet(0x40, {0x00, 0x07, 0x10, 0x04, 0x1F, 0x00, 0x01, 'r'}));
  Subscribe s{1, {{"t", 0}}};
  s.properties.subscription_identifiers = {5, 6};  // SUBSCRIBE carries one
  EXPECT_EQ(encode_bytes(s, v5), packet(0x82, {0x00, 0x01, 0x02, 0x0B, 0x05, 0x00, 0x01, 't', 0x00}));
}

TEST(Properties, InvalidValues) {
  struct Case {
    W where;
    Bytes prop;
    CodecError error;
    const char* why;
  };
  const Case cases[] = {
      {W::publish, {0x01, 0x02}, CodecError::invalid_property_value, "payload format is 0 or 1 (3.3.2.3.2)"},
      {W::will, {0x01, 0xFF}, CodecError::invalid_property_value, "will payload format 0 or 1 (3.1.3.2.3)"},
      {W::connect, {0x21, 0x00, 0x00}, CodecError::invalid_property_value, "receive maximum 0 (3.1.2.11.3)"},
      {W::connack, {0x21, 0x00, 0x00}, CodecError::invalid_property_value, "receive maximum 0 (3.2.2.3.3)"},
      {W::connect, {0x27, 0, 0, 0, 0}, CodecError::invalid_property_value, "maximum packet size 0 (3.1.2.11.4)"},
      {W::connack, {0x27, 0, 0, 0, 0}, CodecError::invalid_property_value, "maximum packet size 0 (3.2.2.3.6)"},
      {W::connack, {0x24, 0x02}, CodecError::invalid_property_value, "maximum QoS 0 or 1 (3.2.2.3.4)"},
      {W::connect, {0x17, 0x02}, CodecError::invalid_property_value, "request problem information 0/1"},
      {W::connect, {0x19, 0x02}, CodecError::invalid_property_value, "request response information 0/1"},
      {W::connack, {0x25, 0x02}, CodecError::invalid_property_value, "retain available 0/1"},
      {W::connack, {0x28, 0x02}, CodecError::invalid_property_value, "wildcard subscription available 0/1"},
      {W::connack, {0x29, 0x02}, CodecError::invalid_property_value, "subscription identifier available 0/1"},
      {W::connack, {0x2A, 0x02}, CodecError::invalid_property_value, "shared subscription available 0/1"},
      {W::subscribe, {0x0B, 0x00}, CodecError::invalid_property_value, "subscription identifier 0 (3.8.2.1.2)"},
      {W::publish, {0x0B, 0x00}, CodecError::invalid_property_value, "subscription identifier 0 (3.3.2.3.8)"},
      {W::publish, {0x23, 0x00, 0x00}, CodecError::invalid_topic_alias, "topic alias 0 [MQTT-3.3.2-8]"},
      {W::publish, str_prop(0x08, "a/+"), CodecError::invalid_property_value, "response topic wildcard [MQTT-3.3.2-14]"},
      {W::connect, str_prop(0x16, "x"), CodecError::invalid_property_value, "auth data without method (3.1.2.11.10)"},
      {W::connack, str_prop(0x1F, "\xC0\x80"), CodecError::invalid_utf8, "reason string: overlong NUL [MQTT-1.5.4-1]"},
      {W::publish, str_prop(0x03, std::string("a\0", 2)), CodecError::invalid_utf8, "content type with U+0000 [MQTT-1.5.4-2]"},
      {W::publish, {0x0B, 0x80, 0x00}, CodecError::invalid_property, "varint not in fewest bytes [MQTT-1.5.5-1]"},
      {W::publish, {0x0B, 0x80, 0x80, 0x80, 0x80, 0x01}, CodecError::invalid_property, "varint of 5 bytes"},
      {W::connack, {0x13, 0x00}, CodecError::truncated, "two byte integer cut short"},
      {W::connack, {0x11, 0x00, 0x00, 0x00}, CodecError::truncated, "four byte integer cut short"},
      {W::connack, {0x1F, 0x00, 0x05, 'a'}, CodecError::truncated, "string longer than the block"},
  };
  for (const auto& c : cases) {
    EXPECT_EQ(decode_error(around(c.where, props(c.prop)), v5, sender_of(c.where)), c.error) << c.why;
  }
  Bytes user_bad{0x26};
  add_str(user_bad, "k");
  add_str(user_bad, "\xED\xA0\x80");  // a surrogate
  EXPECT_EQ(decode_error(around(W::publish, props(user_bad)), v5), CodecError::invalid_utf8);
  EXPECT_EQ(reason_for(CodecError::invalid_property_value), ReasonCode::protocol_error);
  EXPECT_EQ(reason_for(CodecError::invalid_topic_alias), ReasonCode::topic_alias_invalid);
  EXPECT_EQ(reason_for(CodecError::invalid_utf8), ReasonCode::malformed_packet);
}

TEST(Properties, PropertyLengthIsCheckedBeforeReading) {
  // A Property Length that runs past the packet is refused before any property is read.
  Bytes b;
  add_str(b, "t");
  add(b, {0xFF, 0xFF, 0xFF, 0x7F});  // claims 256 MiB
  EXPECT_EQ(decode_error(packet(0x30, b), v5), CodecError::truncated);
  // Property Length not in the fewest bytes, or longer than 4 bytes.
  Bytes c;
  add_str(c, "t");
  add(c, {0x80, 0x00});
  EXPECT_EQ(decode_error(packet(0x30, c), v5), CodecError::invalid_property);
  Bytes d;
  add_str(d, "t");
  add(d, {0x80, 0x80, 0x80, 0x80, 0x00});
  EXPECT_EQ(decode_error(packet(0x30, d), v5), CodecError::invalid_property);
  // Missing altogether (a 3.1.1-style PUBLISH on a v5 connection).
  Bytes e;
  add_str(e, "t");
  EXPECT_EQ(decode_error(packet(0x30, e), v5), CodecError::truncated);
}

TEST(Properties, AbsentPropertiesAllocateNothing) {
  const Bytes ack = packet(0x40, {0x00, 0x01, 0x10, 0x00});
  FrameReader reader(1024);
  reader.feed(ack);
  auto frame = reader.next();
  ASSERT_TRUE(frame.ok() && frame->has_value());
  const std::size_t before = allocations();
  auto r = decode_client_packet(**frame, v5);
  EXPECT_EQ(allocations(), before);
  ASSERT_TRUE(r.ok());

  Publish p;
  p.topic = "sensors/1";
  p.qos = 1;
  p.packet_id = 9;
  std::string out;
  out.reserve(64);
  const std::size_t before_encode = allocations();
  encode_publish_header(p, v5, out);
  EXPECT_EQ(allocations(), before_encode);
  EXPECT_EQ(encoded_size(p, v5), out.size());
}

}  // namespace
}  // namespace mop::mqtt::test
