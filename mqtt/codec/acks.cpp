// MQTT 5 packets made of an optional packet id, a reason code and properties: PUBACK, PUBREC,
// PUBREL, PUBCOMP (MQTT 5.0 3.4-3.7), DISCONNECT (3.14) and AUTH (3.15), with their short forms.
#include "mqtt/codec/wire.hpp"

namespace mop::mqtt::wire {
namespace {

// MQTT 5.0 tables 3-4/3-5 (PUBACK/PUBREC) and 3-6/3-7 (PUBREL/PUBCOMP).
bool ack_reason_ok(PacketType t, std::uint8_t rc) {
  if (t == PacketType::pubrel || t == PacketType::pubcomp) return rc == 0x00 || rc == 0x92;
  switch (rc) {
    case 0x00: case 0x10: case 0x80: case 0x83: case 0x87: case 0x90: case 0x91: case 0x97: case 0x99:
      return true;
    default:
      return false;
  }
}

// MQTT 5.0 table 3-10: 0 = not a DISCONNECT code, 1 = client only, 2 = server only, 3 = either.
int disconnect_reason_senders(std::uint8_t rc) {
  switch (rc) {
    case 0x00: case 0x80: case 0x81: case 0x82: case 0x83: case 0x90: case 0x93: case 0x94:
    case 0x95: case 0x96: case 0x97: case 0x98: case 0x99:
      return 3;
    case 0x04:
      return 1;
    case 0x87: case 0x89: case 0x8B: case 0x8D: case 0x8E: case 0x8F: case 0x9A: case 0x9B:
    case 0x9C: case 0x9D: case 0x9E: case 0x9F: case 0xA0: case 0xA1: case 0xA2:
      return 2;
    default:
      return 0;
  }
}

template <typename Ack>
Result<Packet> decode_ack(const Frame& f) {
  In in(f.body);
  Ack a;
  if (!in.u16(a.packet_id)) return CodecError::truncated;
  if (a.packet_id == 0) return CodecError::zero_packet_id;  // [MQTT-2.3.1-1]
  // Remaining length 2: success without properties; 3: a reason code without properties
  // (3.4.2.1: "If the Remaining Length is less than 4 there is no Property Length").
  if (in.done()) return Packet{std::move(a)};
  std::uint8_t rc = 0;
  in.u8(rc);
  if (!ack_reason_ok(f.type(), rc)) return CodecError::invalid_reason_code;
  a.reason_code = static_cast<ReasonCode>(rc);
  if (in.done()) return Packet{std::move(a)};
  if (auto r = read_properties(in, ctx(f.type()), false, a.properties); !r.ok()) return r.error();
  if (!in.done()) return CodecError::trailing_bytes;
  return Packet{std::move(a)};
}

}  // namespace

Result<Packet> decode_ack_v5(const Frame& f) {
  switch (f.type()) {
    case PacketType::puback: return decode_ack<Puback>(f);
    case PacketType::pubrec: return decode_ack<Pubrec>(f);
    case PacketType::pubrel: return decode_ack<Pubrel>(f);
    default: return decode_ack<Pubcomp>(f);
  }
}

Result<Packet> decode_disconnect_v5(const Frame& f, bool from_server) {
  In in(f.body);
  Disconnect d;
  // Remaining length 0: normal disconnection; 1: a reason code without properties (3.14.2.2).
  if (in.done()) return Packet{std::move(d)};
  std::uint8_t rc = 0;
  in.u8(rc);
  const int senders = disconnect_reason_senders(rc);
  if ((senders & (from_server ? 2 : 1)) == 0) return CodecError::invalid_reason_code;
  d.reason_code = static_cast<ReasonCode>(rc);
  if (in.done()) return Packet{std::move(d)};
  if (auto r = read_properties(in, ctx(PacketType::disconnect), from_server, d.properties); !r.ok()) return r.error();
  if (!in.done()) return CodecError::trailing_bytes;
  return Packet{std::move(d)};
}

Result<Packet> decode_auth(const Frame& f, bool from_server) {
  In in(f.body);
  Auth a;
  // Remaining length 0 means success without properties (3.15.2.1); otherwise both the reason
  // code and the property length are present.
  if (in.done()) return Packet{std::move(a)};
  std::uint8_t rc = 0;
  in.u8(rc);
  if (rc != 0x00 && rc != 0x18 && rc != 0x19) return CodecError::invalid_reason_code;  // table 3-13
  a.reason_code = static_cast<ReasonCode>(rc);
  if (auto r = read_properties(in, ctx(PacketType::auth), from_server, a.properties); !r.ok()) return r.error();
  if (!in.done()) return CodecError::trailing_bytes;
  return Packet{std::move(a)};
}

void encode_reason_v5(std::uint8_t first_byte, const PacketId* id, ReasonCode rc, const Properties& p,
                      std::string& out) {
  const auto context = static_cast<std::uint8_t>(first_byte >> 4);
  const bool auth = context == ctx(PacketType::auth);
  const std::size_t props = properties_size(p, context);
  const std::size_t id_size = id ? 2 : 0;
  // The shortest form the receiver reads back as the same packet: no reason code and no
  // properties for success, no property length without properties (AUTH has no such form).
  std::size_t rl = id_size;
  if (rc != ReasonCode::success || props != 0) {
    rl += 1;
    if (props != 0 || auth) rl += property_block_size(props);
  }
  put_fixed_header(out, first_byte, rl);
  if (id) put_u16(out, *id);
  if (rl == id_size) return;
  put_u8(out, static_cast<std::uint8_t>(rc));
  if (rl > id_size + 1) put_properties(out, p, context, props);
}

}  // namespace mop::mqtt::wire
