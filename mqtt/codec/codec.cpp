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

void put_empty(std::uint8_t first_byte, std::string& out) {
  const char bytes[2] = {static_cast<char>(first_byte), 0x00};
  out.append(bytes, 2);
}

}  // namespace

Result<Packet> decode_client_packet(const Frame& frame, ProtocolVersion version) {
  const auto raw_type = frame.first_byte >> 4;
  if (raw_type == 0 || raw_type == 15) return CodecError::reserved_packet_type;
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
    case PacketType::publish: return wire::decode_publish(frame);
    case PacketType::puback: return decode_packet_id_only<Puback>(frame);
    case PacketType::pubrec: return decode_packet_id_only<Pubrec>(frame);
    case PacketType::pubrel: return decode_packet_id_only<Pubrel>(frame);
    case PacketType::pubcomp: return decode_packet_id_only<Pubcomp>(frame);
    case PacketType::subscribe: return wire::decode_subscribe(frame);
    case PacketType::unsubscribe: return wire::decode_unsubscribe(frame);
    case PacketType::pingreq: return decode_empty<Pingreq>(frame);
    case PacketType::disconnect: return decode_empty<Disconnect>(frame);
    default: return CodecError::unexpected_packet;  // unreachable: filtered above
  }
}

Result<Packet> decode_server_packet(const Frame& frame, ProtocolVersion version) {
  const auto raw_type = frame.first_byte >> 4;
  if (raw_type == 0 || raw_type == 15) return CodecError::reserved_packet_type;
  switch (frame.type()) {
    case PacketType::connect:
    case PacketType::subscribe:
    case PacketType::unsubscribe:
    case PacketType::pingreq:
    case PacketType::disconnect:  // a server may send DISCONNECT only from MQTT 5 on
      return CodecError::unexpected_packet;
    default:
      break;
  }
  if (!fixed_flags_ok(frame, version)) return CodecError::invalid_fixed_header_flags;
  switch (frame.type()) {
    case PacketType::connack: return wire::decode_connack(frame, version);
    case PacketType::publish: return wire::decode_publish(frame);
    case PacketType::puback: return decode_packet_id_only<Puback>(frame);
    case PacketType::pubrec: return decode_packet_id_only<Pubrec>(frame);
    case PacketType::pubrel: return decode_packet_id_only<Pubrel>(frame);
    case PacketType::pubcomp: return decode_packet_id_only<Pubcomp>(frame);
    case PacketType::suback: return wire::decode_suback(frame);
    case PacketType::unsuback: return decode_packet_id_only<Unsuback>(frame);
    case PacketType::pingresp: return decode_empty<Pingresp>(frame);
    default: return CodecError::unexpected_packet;  // unreachable: filtered above
  }
}

void encode(const Packet& packet, ProtocolVersion version, std::string& out) {
  std::visit(
      [&](const auto& p) {
        using T = std::decay_t<decltype(p)>;
        if constexpr (std::is_same_v<T, Connect>) wire::encode_connect(p, out);
        else if constexpr (std::is_same_v<T, Connack>) wire::encode_connack(p, version, out);
        else if constexpr (std::is_same_v<T, Publish>) wire::encode_publish(p, out);
        else if constexpr (std::is_same_v<T, Puback>) put_packet_id_only(0x40, p.packet_id, out);
        else if constexpr (std::is_same_v<T, Pubrec>) put_packet_id_only(0x50, p.packet_id, out);
        else if constexpr (std::is_same_v<T, Pubrel>) put_packet_id_only(0x62, p.packet_id, out);
        else if constexpr (std::is_same_v<T, Pubcomp>) put_packet_id_only(0x70, p.packet_id, out);
        else if constexpr (std::is_same_v<T, Subscribe>) wire::encode_subscribe(p, out);
        else if constexpr (std::is_same_v<T, Suback>) wire::encode_suback(p, out);
        else if constexpr (std::is_same_v<T, Unsubscribe>) wire::encode_unsubscribe(p, out);
        else if constexpr (std::is_same_v<T, Unsuback>) put_packet_id_only(0xB0, p.packet_id, out);
        else if constexpr (std::is_same_v<T, Pingreq>) put_empty(0xC0, out);
        else if constexpr (std::is_same_v<T, Pingresp>) put_empty(0xD0, out);
        else {
          static_assert(std::is_same_v<T, Disconnect>, "a packet type is missing here");
          put_empty(0xE0, out);
        }
      },
      packet);
}

}  // namespace mop::mqtt
