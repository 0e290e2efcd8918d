// SUBSCRIBE, SUBACK, UNSUBSCRIBE and UNSUBACK (MQTT 3.1.1 sections 3.8 to 3.10; MQTT 5.0 sections
// 3.8 to 3.11, which add properties after the packet id, subscription options and per-filter
// UNSUBACK reason codes).
#include "mqtt/codec/topic.hpp"
#include "mqtt/codec/wire.hpp"

namespace mop::mqtt::wire {
namespace {

constexpr std::uint8_t kNoLocal = 0x04;
constexpr std::uint8_t kRetainAsPublished = 0x08;
constexpr std::uint8_t kRetainHandlingShift = 4;

// MQTT 5.0 subscription options (3.8.3.1): QoS, no local, retain as published, retain handling.
Result<void> read_options_v5(std::uint8_t options, std::string_view filter, SubscribeEntry& e) {
  if (options & 0xC0) return CodecError::invalid_subscribe_options;  // reserved bits [MQTT-3.8.3-5]
  e.qos = options & 0x03;
  e.no_local = options & kNoLocal;
  e.retain_as_published = options & kRetainAsPublished;
  e.retain_handling = static_cast<std::uint8_t>((options >> kRetainHandlingShift) & 0x03);
  // "It is a Protocol Error if the Maximum QoS field has the value 3" / "... Retain Handling ... 3".
  if (e.qos == 3 || e.retain_handling == 3) return CodecError::invalid_subscribe_option_value;
  // No local on a shared subscription is a Protocol Error [MQTT-3.8.3-4]: the group member that
  // published could not be told apart from the rest of the group.
  if (e.no_local && parse_shared_filter(filter)) return CodecError::invalid_subscribe_option_value;
  return {};
}

std::uint8_t options_v5(const SubscribeEntry& e) {
  return static_cast<std::uint8_t>((e.qos & 3) | (e.no_local ? kNoLocal : 0) |
                                   (e.retain_as_published ? kRetainAsPublished : 0) |
                                   ((e.retain_handling & 3) << kRetainHandlingShift));
}

// MQTT 5.0 table 3-8 (SUBACK) and 3-9 (UNSUBACK).
bool suback_reason_ok(std::uint8_t rc) {
  switch (rc) {
    case 0x00: case 0x01: case 0x02: case 0x80: case 0x83: case 0x87: case 0x8F: case 0x91:
    case 0x97: case 0x9E: case 0xA1: case 0xA2:
      return true;
    default:
      return false;
  }
}
bool unsuback_reason_ok(std::uint8_t rc) {
  switch (rc) {
    case 0x00: case 0x11: case 0x80: case 0x83: case 0x87: case 0x8F: case 0x91:
      return true;
    default:
      return false;
  }
}

}  // namespace

Result<Packet> decode_subscribe(const Frame& f, ProtocolVersion v) {
  In in(f.body);
  Subscribe s;
  const bool v5 = v == ProtocolVersion::v5;
  if (!in.u16(s.packet_id)) return CodecError::truncated;
  if (s.packet_id == 0) return CodecError::zero_packet_id;  // [MQTT-2.3.1-1]
  if (v5) {
    if (auto r = read_properties(in, ctx(PacketType::subscribe), false, s.properties); !r.ok()) return r.error();
  }
  while (!in.done()) {
    std::string_view filter;
    std::uint8_t options = 0;
    if (!in.bytes16(filter) || !in.u8(options)) return CodecError::truncated;
    if (!valid_mqtt_utf8(filter)) return CodecError::invalid_utf8;
    // An ill-formed filter is NOT a decode error: the server grants 0x80 (MQTT 5: 0x8F) for that
    // entry alone [MQTT-3.9.3-2 allows the failure code], so the filter is kept as sent.
    SubscribeEntry e{std::string(filter), options};
    if (v5) {
      if (auto r = read_options_v5(options, filter, e); !r.ok()) return r.error();
    } else if ((options & 0xFC) != 0 || (options & 0x03) == 3) {
      return CodecError::invalid_subscribe_options;  // [MQTT-3.8.3-4]
    }
    s.entries.push_back(std::move(e));
  }
  if (s.entries.empty()) return CodecError::empty_subscription_list;  // [MQTT-3.8.3-3], 5.0 [MQTT-3.8.3-2]
  return Packet{std::move(s)};
}

void encode_subscribe(const Subscribe& s, ProtocolVersion v, std::string& out) {
  const bool v5 = v == ProtocolVersion::v5;
  std::size_t rl = 2;
  std::size_t props = 0;
  if (v5) {
    props = properties_size(s.properties, ctx(PacketType::subscribe));
    rl += property_block_size(props);
  }
  for (const auto& e : s.entries) rl += 2 + e.filter.size() + 1;
  put_fixed_header(out, 0x82, rl);
  put_u16(out, s.packet_id);
  if (v5) put_properties(out, s.properties, ctx(PacketType::subscribe), props);
  for (const auto& e : s.entries) {
    put_bytes16(out, e.filter);
    put_u8(out, v5 ? options_v5(e) : static_cast<std::uint8_t>(e.qos & 3));
  }
}

Result<Packet> decode_suback(const Frame& f, ProtocolVersion v) {
  In in(f.body);
  Suback s;
  const bool v5 = v == ProtocolVersion::v5;
  if (!in.u16(s.packet_id)) return CodecError::truncated;
  if (s.packet_id == 0) return CodecError::zero_packet_id;
  if (v5) {
    if (auto r = read_properties(in, ctx(PacketType::suback), true, s.properties); !r.ok()) return r.error();
  }
  const auto codes = in.rest();
  if (codes.empty()) return CodecError::empty_subscription_list;
  for (const std::uint8_t rc : codes) {
    if (v5) {
      if (!suback_reason_ok(rc)) return CodecError::invalid_reason_code;
    } else if (rc > 2 && rc != kSubackFailure) {
      return CodecError::invalid_qos;  // [MQTT-3.9.3-2]
    }
  }
  s.return_codes.assign(codes.begin(), codes.end());
  return Packet{std::move(s)};
}

void encode_suback(const Suback& s, ProtocolVersion v, std::string& out) {
  const bool v5 = v == ProtocolVersion::v5;
  const std::size_t props = v5 ? properties_size(s.properties, ctx(PacketType::suback)) : 0;
  put_fixed_header(out, 0x90, 2 + (v5 ? property_block_size(props) : 0) + s.return_codes.size());
  put_u16(out, s.packet_id);
  if (v5) put_properties(out, s.properties, ctx(PacketType::suback), props);
  out.append(reinterpret_cast<const char*>(s.return_codes.data()), s.return_codes.size());
}

Result<Packet> decode_unsubscribe(const Frame& f, ProtocolVersion v) {
  In in(f.body);
  Unsubscribe u;
  const bool v5 = v == ProtocolVersion::v5;
  if (!in.u16(u.packet_id)) return CodecError::truncated;
  if (u.packet_id == 0) return CodecError::zero_packet_id;  // [MQTT-2.3.1-1]
  if (v5) {
    if (auto r = read_properties(in, ctx(PacketType::unsubscribe), false, u.properties); !r.ok()) return r.error();
  }
  while (!in.done()) {
    std::string_view filter;
    if (!in.bytes16(filter)) return CodecError::truncated;
    if (!valid_mqtt_utf8(filter)) return CodecError::invalid_utf8;
    // 3.1.1's UNSUBACK has no per-filter code to refuse with, so an ill-formed filter breaks the
    // packet. MQTT 5's UNSUBACK has one (0x8F), so there the filter is kept as sent, as in SUBSCRIBE.
    if (!v5 && !valid_topic_filter(filter)) return CodecError::invalid_topic_filter;  // [MQTT-4.7.1-1..3]
    u.filters.emplace_back(filter);
  }
  if (u.filters.empty()) return CodecError::empty_subscription_list;  // [MQTT-3.10.3-2]
  return Packet{std::move(u)};
}

void encode_unsubscribe(const Unsubscribe& u, ProtocolVersion v, std::string& out) {
  const bool v5 = v == ProtocolVersion::v5;
  std::size_t rl = 2;
  std::size_t props = 0;
  if (v5) {
    props = properties_size(u.properties, ctx(PacketType::unsubscribe));
    rl += property_block_size(props);
  }
  for (const auto& f : u.filters) rl += 2 + f.size();
  put_fixed_header(out, 0xA2, rl);
  put_u16(out, u.packet_id);
  if (v5) put_properties(out, u.properties, ctx(PacketType::unsubscribe), props);
  for (const auto& f : u.filters) put_bytes16(out, f);
}

Result<Packet> decode_unsuback_v5(const Frame& f) {
  In in(f.body);
  Unsuback u;
  if (!in.u16(u.packet_id)) return CodecError::truncated;
  if (u.packet_id == 0) return CodecError::zero_packet_id;
  if (auto r = read_properties(in, ctx(PacketType::unsuback), true, u.properties); !r.ok()) return r.error();
  const auto codes = in.rest();
  // One reason code per filter of the UNSUBSCRIBE, which had at least one [MQTT-3.11.3-1].
  if (codes.empty()) return CodecError::empty_subscription_list;
  u.reason_codes.reserve(codes.size());
  for (const std::uint8_t rc : codes) {
    if (!unsuback_reason_ok(rc)) return CodecError::invalid_reason_code;
    u.reason_codes.push_back(static_cast<ReasonCode>(rc));
  }
  return Packet{std::move(u)};
}

void encode_unsuback_v5(const Unsuback& u, std::string& out) {
  const std::size_t props = properties_size(u.properties, ctx(PacketType::unsuback));
  put_fixed_header(out, 0xB0, 2 + property_block_size(props) + u.reason_codes.size());
  put_u16(out, u.packet_id);
  put_properties(out, u.properties, ctx(PacketType::unsuback), props);
  for (const ReasonCode rc : u.reason_codes) put_u8(out, static_cast<std::uint8_t>(rc));
}

}  // namespace mop::mqtt::wire
