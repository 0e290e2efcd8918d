// SUBSCRIBE, SUBACK and UNSUBSCRIBE (MQTT 3.1.1 sections 3.8, 3.9 and 3.10).
#include "mqtt/codec/topic.hpp"
#include "mqtt/codec/wire.hpp"

namespace mop::mqtt::wire {

Result<Packet> decode_subscribe(const Frame& f) {
  In in(f.body);
  Subscribe s;
  if (!in.u16(s.packet_id)) return CodecError::truncated;
  if (s.packet_id == 0) return CodecError::zero_packet_id;  // [MQTT-2.3.1-1]
  while (!in.done()) {
    std::string_view filter;
    std::uint8_t options = 0;
    if (!in.bytes16(filter) || !in.u8(options)) return CodecError::truncated;
    if (!valid_mqtt_utf8(filter)) return CodecError::invalid_utf8;
    // An ill-formed filter is NOT a decode error: the server grants 0x80 for that entry alone
    // [MQTT-3.9.3-2 allows the failure code], so the filter is kept as sent.
    if ((options & 0xFC) != 0 || (options & 0x03) == 3) return CodecError::invalid_subscribe_options;  // [MQTT-3.8.3-4]
    s.entries.push_back(SubscribeEntry{std::string(filter), options});
  }
  if (s.entries.empty()) return CodecError::empty_subscription_list;  // [MQTT-3.8.3-3]
  return Packet{std::move(s)};
}

void encode_subscribe(const Subscribe& s, std::string& out) {
  std::size_t rl = 2;
  for (const auto& e : s.entries) rl += 2 + e.filter.size() + 1;
  put_fixed_header(out, 0x82, rl);
  put_u16(out, s.packet_id);
  for (const auto& e : s.entries) {
    put_bytes16(out, e.filter);
    put_u8(out, e.qos & 3);
  }
}

Result<Packet> decode_suback(const Frame& f) {
  In in(f.body);
  Suback s;
  if (!in.u16(s.packet_id)) return CodecError::truncated;
  if (s.packet_id == 0) return CodecError::zero_packet_id;
  const auto codes = in.rest();
  if (codes.empty()) return CodecError::empty_subscription_list;
  for (const std::uint8_t rc : codes) {
    if (rc > 2 && rc != kSubackFailure) return CodecError::invalid_qos;  // [MQTT-3.9.3-2]
  }
  s.return_codes.assign(codes.begin(), codes.end());
  return Packet{std::move(s)};
}

void encode_suback(const Suback& s, std::string& out) {
  put_fixed_header(out, 0x90, 2 + s.return_codes.size());
  put_u16(out, s.packet_id);
  out.append(reinterpret_cast<const char*>(s.return_codes.data()), s.return_codes.size());
}

Result<Packet> decode_unsubscribe(const Frame& f) {
  In in(f.body);
  Unsubscribe u;
  if (!in.u16(u.packet_id)) return CodecError::truncated;
  if (u.packet_id == 0) return CodecError::zero_packet_id;  // [MQTT-2.3.1-1]
  while (!in.done()) {
    std::string_view filter;
    if (!in.bytes16(filter)) return CodecError::truncated;
    if (!valid_mqtt_utf8(filter)) return CodecError::invalid_utf8;
    // UNSUBACK has no per-filter code to refuse with, so an ill-formed filter breaks the packet.
    if (!valid_topic_filter(filter)) return CodecError::invalid_topic_filter;  // [MQTT-4.7.1-1..3]
    u.filters.emplace_back(filter);
  }
  if (u.filters.empty()) return CodecError::empty_subscription_list;  // [MQTT-3.10.3-2]
  return Packet{std::move(u)};
}

void encode_unsubscribe(const Unsubscribe& u, std::string& out) {
  std::size_t rl = 2;
  for (const auto& f : u.filters) rl += 2 + f.size();
  put_fixed_header(out, 0xA2, rl);
  put_u16(out, u.packet_id);
  for (const auto& f : u.filters) put_bytes16(out, f);
}

}  // namespace mop::mqtt::wire
