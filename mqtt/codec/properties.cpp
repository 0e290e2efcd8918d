// MQTT 5 properties (MQTT 5.0 section 2.2.2): the property block, table 2-4 of which property may
// sit on which packet, the at-most-once rule and the value rules of each property.
#include <array>

#include "mqtt/codec/topic.hpp"
#include "mqtt/codec/wire.hpp"

namespace mop::mqtt::wire {
namespace {

enum Id : std::uint8_t {
  kPayloadFormat = 0x01,
  kMessageExpiry = 0x02,
  kContentType = 0x03,
  kResponseTopic = 0x08,
  kCorrelationData = 0x09,
  kSubscriptionId = 0x0B,
  kSessionExpiry = 0x11,
  kAssignedClientId = 0x12,
  kServerKeepAlive = 0x13,
  kAuthMethod = 0x15,
  kAuthData = 0x16,
  kRequestProblemInfo = 0x17,
  kWillDelay = 0x18,
  kRequestResponseInfo = 0x19,
  kResponseInfo = 0x1A,
  kServerReference = 0x1C,
  kReasonString = 0x1F,
  kReceiveMaximum = 0x21,
  kTopicAliasMaximum = 0x22,
  kTopicAlias = 0x23,
  kMaximumQos = 0x24,
  kRetainAvailable = 0x25,
  kUserProperty = 0x26,
  kMaximumPacketSize = 0x27,
  kWildcardSubAvailable = 0x28,
  kSubIdAvailable = 0x29,
  kSharedSubAvailable = 0x2A,
  kLastId = kSharedSubAvailable,
};

// Bit `context` set = the property may appear there (context = packet type, 0 = will properties).
constexpr std::uint16_t bit(PacketType t) { return static_cast<std::uint16_t>(1u << static_cast<unsigned>(t)); }
constexpr std::uint16_t kWill = 1u << kWillContext;
constexpr std::uint16_t kConnect = bit(PacketType::connect), kConnack = bit(PacketType::connack),
                        kPublish = bit(PacketType::publish), kPuback = bit(PacketType::puback),
                        kPubrec = bit(PacketType::pubrec), kPubrel = bit(PacketType::pubrel),
                        kPubcomp = bit(PacketType::pubcomp), kSubscribe = bit(PacketType::subscribe),
                        kSuback = bit(PacketType::suback), kUnsubscribe = bit(PacketType::unsubscribe),
                        kUnsuback = bit(PacketType::unsuback), kDisconnect = bit(PacketType::disconnect),
                        kAuth = bit(PacketType::auth);

// MQTT 5.0 table 2-4, indexed by property identifier.
constexpr auto kAllowed = [] {
  std::array<std::uint16_t, kLastId + 1> a{};
  const std::uint16_t message = kPublish | kWill;
  a[kPayloadFormat] = message;
  a[kMessageExpiry] = message;
  a[kContentType] = message;
  a[kResponseTopic] = message;
  a[kCorrelationData] = message;
  a[kSubscriptionId] = kPublish | kSubscribe;
  a[kSessionExpiry] = kConnect | kConnack | kDisconnect;
  a[kAssignedClientId] = kConnack;
  a[kServerKeepAlive] = kConnack;
  a[kAuthMethod] = kConnect | kConnack | kAuth;
  a[kAuthData] = kConnect | kConnack | kAuth;
  a[kRequestProblemInfo] = kConnect;
  a[kWillDelay] = kWill;
  a[kRequestResponseInfo] = kConnect;
  a[kResponseInfo] = kConnack;
  a[kServerReference] = kConnack | kDisconnect;
  a[kReasonString] = kConnack | kPuback | kPubrec | kPubrel | kPubcomp | kSuback | kUnsuback | kDisconnect | kAuth;
  a[kReceiveMaximum] = kConnect | kConnack;
  a[kTopicAliasMaximum] = kConnect | kConnack;
  a[kTopicAlias] = kPublish;
  a[kMaximumQos] = kConnack;
  a[kRetainAvailable] = kConnack;
  a[kUserProperty] = kConnect | kConnack | kPublish | kWill | kPuback | kPubrec | kPubrel | kPubcomp |
                     kSubscribe | kSuback | kUnsubscribe | kUnsuback | kDisconnect | kAuth;
  a[kMaximumPacketSize] = kConnect | kConnack;
  a[kWildcardSubAvailable] = kConnack;
  a[kSubIdAvailable] = kConnack;
  a[kSharedSubAvailable] = kConnack;
  return a;
}();

constexpr bool allowed(std::uint8_t id, std::uint8_t context) {
  return id <= kLastId && (kAllowed[id] >> context) & 1u;
}

Result<void> read_string(In& in, std::optional<std::string>& out) {
  std::string_view s;
  if (!in.bytes16(s)) return CodecError::truncated;
  if (!valid_mqtt_utf8(s)) return CodecError::invalid_utf8;  // [MQTT-1.5.4-1]
  out.emplace(s);
  return {};
}

Result<void> read_binary(In& in, std::optional<std::string>& out) {
  std::string_view s;
  if (!in.bytes16(s)) return CodecError::truncated;
  out.emplace(s);
  return {};
}

template <typename T>
Result<void> read_int(In& in, std::optional<T>& out) {
  T v{};
  bool ok;
  if constexpr (sizeof(T) == 1) ok = in.u8(v);
  else if constexpr (sizeof(T) == 2) ok = in.u16(v);
  else ok = in.u32(v);
  if (!ok) return CodecError::truncated;
  out = v;
  return {};
}

// Flags whose only values are 0 and 1; anything else is a Protocol Error (3.1.2.11.6, 3.2.2.3.5 ...).
Result<void> read_flag(In& in, std::optional<bool>& out) {
  std::uint8_t v = 0;
  if (!in.u8(v)) return CodecError::truncated;
  if (v > 1) return CodecError::invalid_property_value;
  out = v == 1;
  return {};
}

Result<void> read_one(In& in, std::uint8_t id, Properties& p) {
  switch (id) {
    case kPayloadFormat: {
      if (auto r = read_int(in, p.payload_format_indicator); !r.ok()) return r.error();
      return *p.payload_format_indicator > 1 ? Result<void>(CodecError::invalid_property_value) : Result<void>{};
    }
    case kMessageExpiry: return read_int(in, p.message_expiry_interval);
    case kContentType: return read_string(in, p.content_type);
    case kResponseTopic: {
      if (auto r = read_string(in, p.response_topic); !r.ok()) return r.error();
      // A response topic is a topic name: no wildcards [MQTT-3.3.2-14].
      return valid_topic_name(*p.response_topic) ? Result<void>{} : Result<void>(CodecError::invalid_property_value);
    }
    case kCorrelationData: return read_binary(in, p.correlation_data);
    case kSubscriptionId: {
      std::uint32_t v = 0;
      switch (in.varint(v)) {
        case In::Varint::truncated: return CodecError::truncated;
        case In::Varint::malformed: return CodecError::invalid_property;
        case In::Varint::ok: break;
      }
      if (v == 0) return CodecError::invalid_property_value;  // 3.3.2.3.8, 3.8.2.1.2
      p.subscription_identifiers.push_back(v);
      return {};
    }
    case kSessionExpiry: return read_int(in, p.session_expiry_interval);
    case kAssignedClientId: return read_string(in, p.assigned_client_identifier);
    case kServerKeepAlive: return read_int(in, p.server_keep_alive);
    case kAuthMethod: return read_string(in, p.authentication_method);
    case kAuthData: return read_binary(in, p.authentication_data);
    case kRequestProblemInfo: return read_flag(in, p.request_problem_information);
    case kWillDelay: return read_int(in, p.will_delay_interval);
    case kRequestResponseInfo: return read_flag(in, p.request_response_information);
    case kResponseInfo: return read_string(in, p.response_information);
    case kServerReference: return read_string(in, p.server_reference);
    case kReasonString: return read_string(in, p.reason_string);
    case kReceiveMaximum: {
      if (auto r = read_int(in, p.receive_maximum); !r.ok()) return r.error();
      return *p.receive_maximum == 0 ? Result<void>(CodecError::invalid_property_value) : Result<void>{};  // 3.1.2.11.3
    }
    case kTopicAliasMaximum: return read_int(in, p.topic_alias_maximum);
    case kTopicAlias: {
      if (auto r = read_int(in, p.topic_alias); !r.ok()) return r.error();
      return *p.topic_alias == 0 ? Result<void>(CodecError::invalid_topic_alias) : Result<void>{};  // [MQTT-3.3.2-8]
    }
    case kMaximumQos: {
      if (auto r = read_int(in, p.maximum_qos); !r.ok()) return r.error();
      return *p.maximum_qos > 1 ? Result<void>(CodecError::invalid_property_value) : Result<void>{};  // 3.2.2.3.4
    }
    case kRetainAvailable: return read_flag(in, p.retain_available);
    case kUserProperty: {
      std::string_view name, value;
      if (!in.bytes16(name) || !in.bytes16(value)) return CodecError::truncated;
      if (!valid_mqtt_utf8(name) || !valid_mqtt_utf8(value)) return CodecError::invalid_utf8;
      p.user_properties.emplace_back(std::string(name), std::string(value));
      return {};
    }
    case kMaximumPacketSize: {
      if (auto r = read_int(in, p.maximum_packet_size); !r.ok()) return r.error();
      return *p.maximum_packet_size == 0 ? Result<void>(CodecError::invalid_property_value) : Result<void>{};  // 3.1.2.11.4
    }
    case kWildcardSubAvailable: return read_flag(in, p.wildcard_subscription_available);
    case kSubIdAvailable: return read_flag(in, p.subscription_identifier_available);
    case kSharedSubAvailable: return read_flag(in, p.shared_subscription_available);
    default: return CodecError::invalid_property;  // unreachable: filtered by allowed()
  }
}

// Encoded sizes of the value types.
std::size_t str_size(const std::optional<std::string>& s) { return s ? 1 + 2 + s->size() : 0; }
template <typename T>
std::size_t int_size(const std::optional<T>& v) { return v ? 1 + sizeof(T) : 0; }

}  // namespace

Result<void> read_properties(In& in, std::uint8_t context, bool from_server, Properties& p) {
  std::uint32_t len = 0;
  switch (in.varint(len)) {
    case In::Varint::truncated: return CodecError::truncated;
    case In::Varint::malformed: return CodecError::invalid_property;
    case In::Varint::ok: break;
  }
  // The property length is only a claim: checked against the packet before anything is read.
  if (len > in.left()) return CodecError::truncated;
  In props = in.sub(len);
  std::uint64_t seen = 0;  // identifiers are below 64
  const auto publish = ctx(PacketType::publish);
  while (!props.done()) {
    // The identifier is a variable byte integer, but every defined one fits in one byte: a byte
    // with the continuation bit names no property we know.
    std::uint8_t id = 0;
    props.u8(id);
    if (!allowed(id, context)) return CodecError::invalid_property;  // 2.2.2.2
    // Direction rules of table 2-4's packets: a client never sends subscription identifiers in
    // PUBLISH [MQTT-3.3.4-6]; a server never sends session expiry in DISCONNECT [MQTT-3.14.2-2].
    if (id == kSubscriptionId && context == publish && !from_server) return CodecError::invalid_property;
    if (id == kSessionExpiry && context == ctx(PacketType::disconnect) && from_server)
      return CodecError::invalid_property;
    const bool repeatable = id == kUserProperty || (id == kSubscriptionId && context == publish);
    if (!repeatable) {
      const std::uint64_t b = std::uint64_t{1} << id;
      if (seen & b) return CodecError::duplicate_property;
      seen |= b;
    }
    if (auto r = read_one(props, id, p); !r.ok()) return r.error();
  }
  // "It is a Protocol Error to include Authentication Data if there is no Authentication Method"
  // (3.1.2.11.10, 3.2.2.3.18, 3.15.2.2.3).
  if (p.authentication_data && !p.authentication_method) return CodecError::invalid_property_value;
  return {};
}

std::size_t properties_size(const Properties& p, std::uint8_t context) {
  // Only properties allowed in `context` count: what put_properties writes.
  std::size_t n = 0;
  auto add = [&](std::uint8_t id, std::size_t size) {
    if (size != 0 && allowed(id, context)) n += size;
  };
  add(kPayloadFormat, int_size(p.payload_format_indicator));
  add(kMessageExpiry, int_size(p.message_expiry_interval));
  add(kContentType, str_size(p.content_type));
  add(kResponseTopic, str_size(p.response_topic));
  add(kCorrelationData, str_size(p.correlation_data));
  if (allowed(kSubscriptionId, context)) {
    for (const std::uint32_t id : p.subscription_identifiers) {
      n += 1 + varint_size(id);
      if (context == ctx(PacketType::subscribe)) break;  // one per SUBSCRIBE
    }
  }
  add(kSessionExpiry, int_size(p.session_expiry_interval));
  add(kAssignedClientId, str_size(p.assigned_client_identifier));
  add(kServerKeepAlive, int_size(p.server_keep_alive));
  add(kAuthMethod, str_size(p.authentication_method));
  add(kAuthData, str_size(p.authentication_data));
  add(kRequestProblemInfo, int_size(p.request_problem_information));
  add(kWillDelay, int_size(p.will_delay_interval));
  add(kRequestResponseInfo, int_size(p.request_response_information));
  add(kResponseInfo, str_size(p.response_information));
  add(kServerReference, str_size(p.server_reference));
  add(kReasonString, str_size(p.reason_string));
  add(kReceiveMaximum, int_size(p.receive_maximum));
  add(kTopicAliasMaximum, int_size(p.topic_alias_maximum));
  add(kTopicAlias, int_size(p.topic_alias));
  add(kMaximumQos, int_size(p.maximum_qos));
  add(kRetainAvailable, int_size(p.retain_available));
  if (allowed(kUserProperty, context)) {
    for (const auto& [name, value] : p.user_properties) n += 1 + 2 + name.size() + 2 + value.size();
  }
  add(kMaximumPacketSize, int_size(p.maximum_packet_size));
  add(kWildcardSubAvailable, int_size(p.wildcard_subscription_available));
  add(kSubIdAvailable, int_size(p.subscription_identifier_available));
  add(kSharedSubAvailable, int_size(p.shared_subscription_available));
  return n;
}

void put_properties(std::string& out, const Properties& p, std::uint8_t context, std::size_t size) {
  assert(size == properties_size(p, context));
  put_varint(out, static_cast<std::uint32_t>(size));
  if (size == 0) return;  // the common case: nothing to walk
  auto str = [&](std::uint8_t id, const std::optional<std::string>& s) {
    if (s && allowed(id, context)) {
      put_u8(out, id);
      put_bytes16(out, *s);
    }
  };
  auto u8 = [&](std::uint8_t id, const auto& v) {
    if (v && allowed(id, context)) {
      put_u8(out, id);
      put_u8(out, static_cast<std::uint8_t>(*v));
    }
  };
  auto u16 = [&](std::uint8_t id, const std::optional<std::uint16_t>& v) {
    if (v && allowed(id, context)) {
      put_u8(out, id);
      put_u16(out, *v);
    }
  };
  auto u32 = [&](std::uint8_t id, const std::optional<std::uint32_t>& v) {
    if (v && allowed(id, context)) {
      put_u8(out, id);
      put_u32(out, *v);
    }
  };
  u8(kPayloadFormat, p.payload_format_indicator);
  u32(kMessageExpiry, p.message_expiry_interval);
  str(kContentType, p.content_type);
  str(kResponseTopic, p.response_topic);
  str(kCorrelationData, p.correlation_data);
  if (allowed(kSubscriptionId, context)) {
    for (const std::uint32_t id : p.subscription_identifiers) {
      put_u8(out, kSubscriptionId);
      put_varint(out, id);
      if (context == ctx(PacketType::subscribe)) break;
    }
  }
  u32(kSessionExpiry, p.session_expiry_interval);
  str(kAssignedClientId, p.assigned_client_identifier);
  u16(kServerKeepAlive, p.server_keep_alive);
  str(kAuthMethod, p.authentication_method);
  str(kAuthData, p.authentication_data);
  u8(kRequestProblemInfo, p.request_problem_information);
  u32(kWillDelay, p.will_delay_interval);
  u8(kRequestResponseInfo, p.request_response_information);
  str(kResponseInfo, p.response_information);
  str(kServerReference, p.server_reference);
  str(kReasonString, p.reason_string);
  u16(kReceiveMaximum, p.receive_maximum);
  u16(kTopicAliasMaximum, p.topic_alias_maximum);
  u16(kTopicAlias, p.topic_alias);
  u8(kMaximumQos, p.maximum_qos);
  u8(kRetainAvailable, p.retain_available);
  if (allowed(kUserProperty, context)) {
    for (const auto& [name, value] : p.user_properties) {
      put_u8(out, kUserProperty);
      put_bytes16(out, name);
      put_bytes16(out, value);
    }
  }
  u32(kMaximumPacketSize, p.maximum_packet_size);
  u8(kWildcardSubAvailable, p.wildcard_subscription_available);
  u8(kSubIdAvailable, p.subscription_identifier_available);
  u8(kSharedSubAvailable, p.shared_subscription_available);
}

}  // namespace mop::mqtt::wire
