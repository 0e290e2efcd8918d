// PUBLISH (MQTT 3.1.1 section 3.3, MQTT 5.0 section 3.3: properties after the packet id). Its header is encoded apart from its payload so that the
// payload buffer, shared by every subscriber, goes to the socket without a copy.
#include "mqtt/codec/topic.hpp"
#include "mqtt/codec/wire.hpp"

namespace mop::mqtt {
namespace {

constexpr auto kPublishContext = wire::ctx(PacketType::publish);

// `props` is the size of the properties (MQTT 5 only; ignored otherwise).
std::size_t remaining_length(const Publish& p, ProtocolVersion v, std::size_t props) {
  const std::size_t rl = 2 + p.topic.size() + (p.qos > 0 ? 2 : 0) + p.payload.size();
  return v == ProtocolVersion::v5 ? rl + wire::property_block_size(props) : rl;
}

std::size_t props_size(const Publish& p, ProtocolVersion v) {
  return v == ProtocolVersion::v5 ? wire::properties_size(p.properties, kPublishContext) : 0;
}

}  // namespace

std::size_t encoded_size(const Publish& publish, ProtocolVersion version) {
  const std::size_t rl = remaining_length(publish, version, props_size(publish, version));
  return 1 + wire::varint_size(static_cast<std::uint32_t>(rl)) + rl;
}

void encode_publish_header(const Publish& p, ProtocolVersion version, std::string& out) {
  // DUP on a QoS 0 message is malformed [MQTT-3.3.1-2]; a redelivery path that copies the flag
  // from a downgraded message must not make us send it.
  std::uint8_t first = 0x30 | static_cast<std::uint8_t>((p.qos & 3) << 1);
  if (p.dup && p.qos > 0) first |= 0x08;
  if (p.retain) first |= 0x01;
  const std::size_t props = props_size(p, version);
  wire::put_fixed_header(out, first, remaining_length(p, version, props));
  wire::put_bytes16(out, p.topic);
  if (p.qos > 0) wire::put_u16(out, p.packet_id);
  if (version == ProtocolVersion::v5) wire::put_properties(out, p.properties, kPublishContext, props);
}

namespace wire {

Result<Packet> decode_publish(const Frame& f, ProtocolVersion v, bool from_server) {
  Publish p;
  p.qos = static_cast<std::uint8_t>((f.flags() >> 1) & 3);
  if (p.qos == 3) return CodecError::invalid_qos;  // [MQTT-3.3.1-4]
  p.dup = f.flags() & 0x08;
  if (p.dup && p.qos == 0) return CodecError::invalid_fixed_header_flags;  // [MQTT-3.3.1-2]
  p.retain = f.flags() & 0x01;

  In in(f.body);
  std::string_view topic;
  if (!in.bytes16(topic)) return CodecError::truncated;
  if (!valid_mqtt_utf8(topic)) return CodecError::invalid_utf8;
  // MQTT 5 sends an empty topic name when a topic alias stands for it (3.3.2.3.4); that is
  // judged once the properties are known.
  const bool v5 = v == ProtocolVersion::v5;
  if (!(v5 && topic.empty()) && !valid_topic_name(topic)) return CodecError::invalid_topic_name;  // [MQTT-3.3.2-1, -2]
  p.topic = topic;
  if (p.qos > 0) {
    if (!in.u16(p.packet_id)) return CodecError::truncated;
    if (p.packet_id == 0) return CodecError::zero_packet_id;  // [MQTT-2.3.1-1]
  }
  if (v5) {
    if (auto r = read_properties(in, kPublishContext, from_server, p.properties); !r.ok()) return r.error();
    if (topic.empty() && !p.properties.topic_alias) return CodecError::empty_topic_without_alias;
  }
  // The one copy of the message body: from here on it is shared, never copied again. A large
  // frame's body is already in a buffer of its own (FrameReader), which the payload shares.
  const auto body = in.rest();
  if (!body.empty()) p.payload = f.owner ? Payload::share(f.owner, body) : Payload::copy_of(body);
  return Packet{std::move(p)};
}

void encode_publish(const Publish& p, ProtocolVersion v, std::string& out) {
  encode_publish_header(p, v, out);
  out.append(p.payload.view());
}

}  // namespace wire
}  // namespace mop::mqtt
