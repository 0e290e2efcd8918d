// CONNECT and CONNACK (MQTT 3.1.1 sections 3.1 and 3.2; MQTT 3.1 as MQIsdp level 3; MQTT 5.0
// sections 3.1 and 3.2, which add properties after the variable header and before the will topic).
#include <string_view>

#include "mqtt/codec/topic.hpp"
#include "mqtt/codec/wire.hpp"

namespace mop::mqtt::wire {
namespace {

constexpr std::uint8_t kUsername = 0x80;
constexpr std::uint8_t kPassword = 0x40;
constexpr std::uint8_t kWillRetain = 0x20;
constexpr std::uint8_t kWillQosMask = 0x18;
constexpr std::uint8_t kWill = 0x04;
constexpr std::uint8_t kCleanSession = 0x02;
constexpr std::uint8_t kReserved = 0x01;

std::size_t code_points(std::string_view utf8) {
  std::size_t n = 0;
  for (const char c : utf8) n += (static_cast<std::uint8_t>(c) & 0xC0) != 0x80;
  return n;
}

std::string_view protocol_name_of(const Connect& c) {
  if (!c.protocol_name.empty()) return c.protocol_name;
  return c.version == ProtocolVersion::v31 ? "MQIsdp" : "MQTT";
}

}  // namespace

Result<Packet> decode_connect(const Frame& f) {
  In in(f.body);
  std::string_view name;
  std::uint8_t level = 0;
  if (!in.bytes16(name) || !in.u8(level)) return CodecError::truncated;

  // The level is judged before anything else: a client speaking another version lays out the
  // rest of the packet differently, and it must get CONNACK 0x01, not a silent close.
  Connect c;
  if (name == "MQTT") {
    if (level == 4) c.version = ProtocolVersion::v311;
    else if (level == 5) c.version = ProtocolVersion::v5;
    else return CodecError::unsupported_protocol_level;
  } else if (name == "MQIsdp") {
    if (level != 3) return CodecError::unsupported_protocol_level;
    c.version = ProtocolVersion::v31;
  } else {
    return CodecError::unsupported_protocol_name;
  }
  c.protocol_name = name;

  std::uint8_t flags = 0;
  if (!in.u8(flags) || !in.u16(c.keep_alive)) return CodecError::truncated;
  const bool v5 = c.version == ProtocolVersion::v5;
  // MQTT 3.1 calls bit 0 "unused" without a rule for it; old 3.1 clients are not refused over it.
  if (c.version != ProtocolVersion::v31 && (flags & kReserved)) return CodecError::invalid_connect_flags;
  const bool will = flags & kWill;
  const auto will_qos = static_cast<std::uint8_t>((flags & kWillQosMask) >> 3);
  const bool will_retain = flags & kWillRetain;
  if (!will && (will_qos != 0 || will_retain)) return CodecError::invalid_connect_flags;
  if (will_qos == 3) return CodecError::invalid_qos;
  // MQTT 5 allows a password without a user name (3.1.2.9) for token-style credentials.
  if (!v5 && (flags & kPassword) && !(flags & kUsername)) return CodecError::invalid_connect_flags;
  c.clean_session = flags & kCleanSession;
  if (v5) {
    if (auto r = read_properties(in, ctx(PacketType::connect), false, c.properties); !r.ok()) return r.error();
  }

  std::string_view client_id;
  if (!in.bytes16(client_id)) return CodecError::truncated;
  if (!valid_mqtt_utf8(client_id)) return CodecError::invalid_utf8;
  c.client_id = client_id;

  if (will) {
    Properties will_properties;
    if (v5) {
      if (auto r = read_properties(in, kWillContext, false, will_properties); !r.ok()) return r.error();
    }
    std::string_view topic, message;
    if (!in.bytes16(topic)) return CodecError::truncated;
    if (!valid_mqtt_utf8(topic)) return CodecError::invalid_utf8;
    // The will is published as-is later; a wildcard in it could never be delivered.
    if (!valid_topic_name(topic)) return CodecError::invalid_topic_name;
    if (!in.bytes16(message)) return CodecError::truncated;
    Will w;
    w.topic = topic;
    if (!message.empty()) w.payload = Payload::copy_of(message);
    w.qos = will_qos;
    w.retain = will_retain;
    w.properties = std::move(will_properties);
    c.will = std::move(w);
  }
  if (flags & kUsername) {
    std::string_view user;
    if (!in.bytes16(user)) return CodecError::truncated;
    if (!valid_mqtt_utf8(user)) return CodecError::invalid_utf8;
    c.username.emplace(user);
  }
  if (flags & kPassword) {
    std::string_view password;  // binary data, no UTF-8 rule
    if (!in.bytes16(password)) return CodecError::truncated;
    c.password.emplace(password);
  }
  if (!in.done()) return CodecError::trailing_bytes;

  // Checked last: a client id rule is answered with CONNACK 0x02, which only a packet that is
  // otherwise well-formed deserves. MQTT 5 lets any client send an empty id, whatever its clean
  // start flag: the server assigns one [MQTT-3.1.3-6]; which ids to accept is the server's policy.
  if (c.version == ProtocolVersion::v31) {
    const std::size_t n = code_points(c.client_id);
    if (n < 1 || n > 23) return CodecError::invalid_client_id;
  } else if (c.version == ProtocolVersion::v311 && c.client_id.empty() && !c.clean_session) {
    return CodecError::invalid_client_id;  // [MQTT-3.1.3-8]
  }
  return Packet{std::move(c)};
}

void encode_connect(const Connect& c, std::string& out) {
  const std::string_view name = protocol_name_of(c);
  const bool v5 = c.version == ProtocolVersion::v5;
  std::size_t rl = 2 + name.size() + 1 + 1 + 2 + 2 + c.client_id.size();
  std::size_t props = 0, will_props = 0;
  if (v5) {
    props = properties_size(c.properties, ctx(PacketType::connect));
    rl += property_block_size(props);
  }
  std::uint8_t flags = c.clean_session ? kCleanSession : 0;
  if (c.will) {
    if (v5) {
      will_props = properties_size(c.will->properties, kWillContext);
      rl += property_block_size(will_props);
    }
    rl += 2 + c.will->topic.size() + 2 + c.will->payload.size();
    flags |= kWill | static_cast<std::uint8_t>((c.will->qos & 3) << 3);
    if (c.will->retain) flags |= kWillRetain;
  }
  if (c.username) {
    rl += 2 + c.username->size();
    flags |= kUsername;
  }
  if (c.password) {
    rl += 2 + c.password->size();
    flags |= kPassword;
  }
  put_fixed_header(out, 0x10, rl);
  put_bytes16(out, name);
  put_u8(out, static_cast<std::uint8_t>(c.version));
  put_u8(out, flags);
  put_u16(out, c.keep_alive);
  if (v5) put_properties(out, c.properties, ctx(PacketType::connect), props);
  put_bytes16(out, c.client_id);
  if (c.will) {
    if (v5) put_properties(out, c.will->properties, kWillContext, will_props);
    put_bytes16(out, c.will->topic);
    put_bytes16(out, c.will->payload.view());
  }
  if (c.username) put_bytes16(out, *c.username);
  if (c.password) put_bytes16(out, *c.password);
}

namespace {

Result<Packet> decode_connack_v5(const Frame& f) {
  In in(f.body);
  std::uint8_t ack = 0, rc = 0;
  if (!in.u8(ack) || !in.u8(rc)) return CodecError::truncated;
  if (ack & 0xFE) return CodecError::invalid_connect_flags;  // [MQTT-3.2.2-1]
  if (!connack_allows(static_cast<ReasonCode>(rc))) return CodecError::invalid_reason_code;
  Connack c;
  c.session_present = ack & 0x01;
  // A refusal never has a session [MQTT-3.2.2-6].
  if (c.session_present && rc != 0) return CodecError::invalid_connect_flags;
  c.reason_code = static_cast<ReasonCode>(rc);
  c.return_code = connect_return_code_for(c.reason_code);
  if (auto r = read_properties(in, ctx(PacketType::connack), true, c.properties); !r.ok()) return r.error();
  if (!in.done()) return CodecError::trailing_bytes;
  return Packet{std::move(c)};
}

void encode_connack_v5(const Connack& c, std::string& out) {
  const ReasonCode rc = connack_reason(c);
  const bool sp = c.session_present && rc == ReasonCode::success;
  const std::size_t props = properties_size(c.properties, ctx(PacketType::connack));
  put_fixed_header(out, 0x20, 2 + property_block_size(props));
  put_u8(out, sp ? 1 : 0);
  put_u8(out, static_cast<std::uint8_t>(rc));
  put_properties(out, c.properties, ctx(PacketType::connack), props);
}

}  // namespace

Result<Packet> decode_connack(const Frame& f, ProtocolVersion v) {
  if (v == ProtocolVersion::v5) return decode_connack_v5(f);
  In in(f.body);
  std::uint8_t ack = 0, rc = 0;
  if (!in.u8(ack) || !in.u8(rc)) return CodecError::truncated;
  if (!in.done()) return CodecError::trailing_bytes;
  Connack c;
  c.return_code = static_cast<ConnectReturnCode>(rc);
  // MQTT 3.1 has no acknowledge flags: the byte is reserved and ignored.
  if (v != ProtocolVersion::v31) {
    if (ack & 0xFE) return CodecError::invalid_connect_flags;  // [MQTT-3.2.2-1]
    c.session_present = ack & 0x01;
    if (c.session_present && rc != 0) return CodecError::invalid_connect_flags;  // [MQTT-3.2.2-4]
  }
  return Packet{c};
}

void encode_connack(const Connack& c, ProtocolVersion v, std::string& out) {
  if (v == ProtocolVersion::v5) return encode_connack_v5(c, out);
  // A CONNACK filled in the MQTT 5 way (reason_code only) must not tell a 3.1.1 client "accepted".
  const ConnectReturnCode code = c.return_code == ConnectReturnCode::accepted && c.reason_code != ReasonCode::success
                                     ? connect_return_code_for(c.reason_code)
                                     : c.return_code;
  const bool sp = v != ProtocolVersion::v31 && c.session_present && code == ConnectReturnCode::accepted;
  const char bytes[4] = {0x20, 0x02, static_cast<char>(sp ? 1 : 0), static_cast<char>(code)};
  out.append(bytes, 4);
}

}  // namespace mop::mqtt::wire
