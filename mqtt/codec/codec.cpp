// Dispatch by packet type, the fixed-header rules shared by all packets, and the packets that
// carry nothing but a packet identifier or nothing at all.
#include <type_traits>

#include "mqtt/codec/wire.hpp"

namespace mop::mqtt {
namespace {

// [MQTT-2.2.2-1/2]: the flags are fixed per type. PUBLISH carries real flags and checks them
// itself. MQTT 3.1 sent PUBREL/SUBSCRIBE/UNSUBSCRIBE "at QoS 1" and allowed DUP on a resend, so
// 1010 is tolerated from 3.1 peers; 3.1.1 fixed it to 0010 [MQTT-3.6.1-1, 3.8.1-1, 3.10.1-1].
bool fixed_flags_ok(const Frame& f, ProtocolVersion v) {
  switch (f.type()) {
    case PacketType::publish:
      return true;
    case PacketType::pubrel:
    case PacketType::subscribe:
    case PacketType::unsubscribe:
      return f.flags() == 0x02 || (v == ProtocolVersion::v31 && f.flags() == 0x0A);
    default:
      return f.flags() == 0;
  }
}

template <typename Ack>
Result<Packet> decode_packet_id_only(const Frame& f) {
  wire::In in(f.body);
  Ack a;
  if (!in.u16(a.packet_id)) return CodecError::truncated;
  if (!in.done()) return CodecError::trailing_bytes;  // remaining length is exactly 2
  // Acknowledgements echo the id of a PUBLISH/SUBSCRIBE/UNSUBSCRIBE, which is never 0.
  if (a.packet_id == 0) return CodecError::zero_packet_id;
  return Packet{a};
}

template <typename Empty>
Result<Packet> decode_empty(const Frame& f) {
  if (!f.body.empty()) return CodecError::trailing_bytes;  // remaining length is exactly 0
  return Packet{Empty{}};
}

void put_packet_id_only(std::uint8_t first_byte, PacketId id, std::string& out) {
  const char bytes[4] = {static_cast<char>(first_byte), 0x02, static_cast<char>(id >> 8),
                         static_cast<char>(id & 0xFF)};
  out.append(bytes, 4);
}

Result<Packet> decode_id_only_ack(const Frame& f) {
  switch (f.type()) {
    case PacketType::puback: return decode_packet_id_only<Puback>(f);
    case PacketType::pubrec: return decode_packet_id_only<Pubrec>(f);
    case PacketType::pubrel: return decode_packet_id_only<Pubrel>(f);
    default: return decode_packet_id_only<Pubcomp>(f);
  }
}

void put_empty(std::uint8_t first_byte, std::string& out) {
  const char bytes[2] = {static_cast<char>(first_byte), 0x00};
  out.append(bytes, 2);
}

}  // namespace

Result<Packet> decode_client_packet(const Frame& frame, ProtocolVersion version) {
  const auto raw_type = frame.first_byte >> 4;
  const bool v5 = version == ProtocolVersion::v5;
  // AUTH (15) exists from MQTT 5 on; a CONNECT is judged by its own level, whatever `version`.
  if (raw_type == 0 || (raw_type == 15 && !v5)) return CodecError::reserved_packet_type;
  switch (frame.type()) {
    case PacketType::connack:
    case PacketType::suback:
    case PacketType::unsuback:
    case PacketType::pingresp:
      return CodecError::unexpected_packet;
    default:
      break;
  }
  if (!fixed_flags_ok(frame, version)) return CodecError::invalid_fixed_header_flags;
  switch (frame.type()) {
    case PacketType::connect: return wire::decode_connect(frame);
    case PacketType::publish: return wire::decode_publish(frame, version, false);
    case PacketType::puback:
    case PacketType::pubrec:
    case PacketType::pubrel:
    case PacketType::pubcomp:
      if (v5) return wire::decode_ack_v5(frame);
      return decode_id_only_ack(frame);
    case PacketType::subscribe: return wire::decode_subscribe(frame, version);
    case PacketType::unsubscribe: return wire::decode_unsubscribe(frame, version);
    case PacketType::pingreq: return decode_empty<Pingreq>(frame);
    case PacketType::disconnect:
      if (v5) return wire::decode_disconnect_v5(frame, false);
      return decode_empty<Disconnect>(frame);
    case PacketType::auth: return wire::decode_auth(frame, false);
    default: return CodecError::unexpected_packet;  // unreachable: filtered above
  }
}

Result<Packet> decode_server_packet(const Frame& frame, ProtocolVersion version) {
  const auto raw_type = frame.first_byte >> 4;
  const bool v5 = version == ProtocolVersion::v5;
  if (raw_type == 0 || (raw_type == 15 && !v5)) return CodecError::reserved_packet_type;
  switch (frame.type()) {
    case PacketType::connect:
    case PacketType::subscribe:
    case PacketType::unsubscribe:
    case PacketType::pingreq:
      return CodecError::unexpected_packet;
    case PacketType::disconnect:  // a server may send DISCONNECT only from MQTT 5 on
      if (!v5) return CodecError::unexpected_packet;
      break;
    default:
      break;
  }
  if (!fixed_flags_ok(frame, version)) return CodecError::invalid_fixed_header_flags;
  switch (frame.type()) {
    case PacketType::connack: return wire::decode_connack(frame, version);
    case PacketType::publish: return wire::decode_publish(frame, version, true);
    case PacketType::puback:
    case PacketType::pubrec:
    case PacketType::pubrel:
    case PacketType::pubcomp:
      if (v5) return wire::decode_ack_v5(frame);
      return decode_id_only_ack(frame);
    case PacketType::suback: return wire::decode_suback(frame, version);
    case PacketType::unsuback:
      if (v5) return wire::decode_unsuback_v5(frame);
      return decode_packet_id_only<Unsuback>(frame);
    case PacketType::pingresp: return decode_empty<Pingresp>(frame);
    case PacketType::disconnect: return wire::decode_disconnect_v5(frame, true);
    case PacketType::auth: return wire::decode_auth(frame, true);
    default: return CodecError::unexpected_packet;  // unreachable: filtered above
  }
}

void encode(const Packet& packet, ProtocolVersion version, std::string& out) {
  const bool v5 = version == ProtocolVersion::v5;
  // 3.1/3.1.1 acks are the packet id alone; MQTT 5 adds a reason code and properties, which
  // encode_reason_v5 leaves out when they are success / empty.
  auto ack = [&](std::uint8_t first_byte, const auto& a) {
    if (v5) wire::encode_reason_v5(first_byte, &a.packet_id, a.reason_code, a.properties, out);
    else put_packet_id_only(first_byte, a.packet_id, out);
  };
  std::visit(
      [&](const auto& p) {
        using T = std::decay_t<decltype(p)>;
        if constexpr (std::is_same_v<T, Connect>) wire::encode_connect(p, out);
        else if constexpr (std::is_same_v<T, Connack>) wire::encode_connack(p, version, out);
        else if constexpr (std::is_same_v<T, Publish>) wire::encode_publish(p, version, out);
        else if constexpr (std::is_same_v<T, Puback>) ack(0x40, p);
        else if constexpr (std::is_same_v<T, Pubrec>) ack(0x50, p);
        else if constexpr (std::is_same_v<T, Pubrel>) ack(0x62, p);
        else if constexpr (std::is_same_v<T, Pubcomp>) ack(0x70, p);
        else if constexpr (std::is_same_v<T, Subscribe>) wire::encode_subscribe(p, version, out);
        else if constexpr (std::is_same_v<T, Suback>) wire::encode_suback(p, version, out);
        else if constexpr (std::is_same_v<T, Unsubscribe>) wire::encode_unsubscribe(p, version, out);
        else if constexpr (std::is_same_v<T, Unsuback>) {
          if (v5) wire::encode_unsuback_v5(p, out);
          else put_packet_id_only(0xB0, p.packet_id, out);
        } else if constexpr (std::is_same_v<T, Pingreq>) put_empty(0xC0, out);
        else if constexpr (std::is_same_v<T, Pingresp>) put_empty(0xD0, out);
        else if constexpr (std::is_same_v<T, Disconnect>) {
          if (v5) wire::encode_reason_v5(0xE0, nullptr, p.reason_code, p.properties, out);
          else put_empty(0xE0, out);
        } else {
          // AUTH exists only in MQTT 5; it is written in the MQTT 5 form whatever `version` says.
          static_assert(std::is_same_v<T, Auth>, "a packet type is missing here");
          wire::encode_reason_v5(0xF0, nullptr, p.reason_code, p.properties, out);
        }
      },
      packet);
}

}  // namespace mop::mqtt
