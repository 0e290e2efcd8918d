#pragma once
// Internal to mop_mqtt_codec (not part of its public API): the primitive field readers and writers
// that the per-packet files share. Readers never read past the frame; writers only append.
#include <cassert>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "mqtt/codec/codec.hpp"

namespace mop::mqtt::wire {

// Cursor over one frame's body. Every read reports `truncated` instead of running off the end,
// because the remaining length, not the field lengths, is the only bound we trust.
class In {
public:
  explicit In(std::span<const std::uint8_t> body) : p_(body.data()), end_(body.data() + body.size()) {}

  std::size_t left() const { return static_cast<std::size_t>(end_ - p_); }
  bool done() const { return p_ == end_; }

  bool u8(std::uint8_t& v) {
    if (left() < 1) return false;
    v = *p_++;
    return true;
  }
  bool u16(std::uint16_t& v) {
    if (left() < 2) return false;
    v = static_cast<std::uint16_t>((p_[0] << 8) | p_[1]);
    p_ += 2;
    return true;
  }
  // A two-byte length followed by that many bytes, as a view into the frame.
  bool bytes16(std::string_view& v) {
    std::uint16_t n = 0;
    if (!u16(n) || left() < n) return false;
    v = std::string_view(reinterpret_cast<const char*>(p_), n);
    p_ += n;
    return true;
  }
  bool u32(std::uint32_t& v) {
    if (left() < 4) return false;
    v = (std::uint32_t{p_[0]} << 24) | (std::uint32_t{p_[1]} << 16) | (std::uint32_t{p_[2]} << 8) | p_[3];
    p_ += 4;
    return true;
  }
  // Variable byte integer [MQTT 5.0 1.5.5]: at most 4 bytes, and in the fewest bytes that hold the
  // value [MQTT-1.5.5-1]; a longer form is malformed, not merely odd, and would not round-trip.
  enum class Varint { ok, truncated, malformed };
  Varint varint(std::uint32_t& v) {
    v = 0;
    for (unsigned i = 0; i < 4; ++i) {
      if (left() < 1) return Varint::truncated;
      const std::uint8_t digit = *p_++;
      v |= static_cast<std::uint32_t>(digit & 0x7F) << (7 * i);
      if ((digit & 0x80) == 0) return (i > 0 && digit == 0) ? Varint::malformed : Varint::ok;
    }
    return Varint::malformed;
  }
  // The next `n` bytes as a cursor of their own (the caller has checked n <= left()).
  In sub(std::size_t n) {
    assert(n <= left());
    In r(std::span<const std::uint8_t>(p_, n));
    p_ += n;
    return r;
  }
  std::span<const std::uint8_t> rest() {
    std::span<const std::uint8_t> r(p_, left());
    p_ = end_;
    return r;
  }

private:
  const std::uint8_t* p_;
  const std::uint8_t* end_;
};

inline void put_u8(std::string& out, std::uint8_t v) { out.push_back(static_cast<char>(v)); }
inline void put_u16(std::string& out, std::uint16_t v) {
  const char b[2] = {static_cast<char>(v >> 8), static_cast<char>(v & 0xFF)};
  out.append(b, 2);
}
// Strings and binary fields longer than 65535 bytes cannot be expressed on the wire; callers
// (the session, the client) must not build such packets.
inline void put_bytes16(std::string& out, std::string_view s) {
  assert(s.size() <= 0xFFFF);
  put_u16(out, static_cast<std::uint16_t>(s.size()));
  out.append(s);
}

inline void put_u32(std::string& out, std::uint32_t v) {
  const char b[4] = {static_cast<char>(v >> 24), static_cast<char>((v >> 16) & 0xFF),
                     static_cast<char>((v >> 8) & 0xFF), static_cast<char>(v & 0xFF)};
  out.append(b, 4);
}

inline std::size_t varint_size(std::uint32_t v) {
  return v < 128u ? 1 : v < 16'384u ? 2 : v < 2'097'152u ? 3 : 4;
}
inline void put_varint(std::string& out, std::uint32_t v) {
  assert(v <= kMaxRemainingLength);
  char b[4];
  std::size_t n = 0;
  do {
    auto digit = static_cast<std::uint8_t>(v & 0x7F);
    v >>= 7;
    if (v != 0) digit |= 0x80;
    b[n++] = static_cast<char>(digit);
  } while (v != 0);
  out.append(b, n);
}
inline void put_fixed_header(std::string& out, std::uint8_t first_byte, std::size_t remaining) {
  assert(remaining <= kMaxRemainingLength);
  put_u8(out, first_byte);
  put_varint(out, static_cast<std::uint32_t>(remaining));
}

// MQTT 5 properties (properties.cpp). A property block is read and written for a context: the
// packet type it sits in, or kWillContext for the will properties of CONNECT.
inline constexpr std::uint8_t kWillContext = 0;  // packet type 0 is reserved, so the slot is free
// Reads the property length and the properties, applying table 2-4 for `context`, the
// at-most-once rule and the value rules. `from_server` is the direction of the packet.
Result<void> read_properties(In& in, std::uint8_t context, bool from_server, Properties& out);
// Bytes of the properties allowed in `context` that `p` sets (without the property length).
std::size_t properties_size(const Properties& p, std::uint8_t context);
// Bytes of the whole block: property length + properties.
inline std::size_t property_block_size(std::size_t size) {
  return varint_size(static_cast<std::uint32_t>(size)) + size;
}
// Writes the property length `size` (from properties_size) and the properties.
void put_properties(std::string& out, const Properties& p, std::uint8_t context, std::size_t size);

inline constexpr std::uint8_t ctx(PacketType t) { return static_cast<std::uint8_t>(t); }

// Per-packet decoders and encoders, one translation unit per family of packets.
Result<Packet> decode_connect(const Frame& f);
Result<Packet> decode_connack(const Frame& f, ProtocolVersion v);
Result<Packet> decode_publish(const Frame& f, ProtocolVersion v, bool from_server);
Result<Packet> decode_subscribe(const Frame& f, ProtocolVersion v);
Result<Packet> decode_suback(const Frame& f, ProtocolVersion v);
Result<Packet> decode_unsubscribe(const Frame& f, ProtocolVersion v);
Result<Packet> decode_unsuback_v5(const Frame& f);
Result<Packet> decode_disconnect_v5(const Frame& f, bool from_server);
Result<Packet> decode_auth(const Frame& f, bool from_server);
// PUBACK, PUBREC, PUBREL or PUBCOMP of MQTT 5, by f.type() (acks.cpp).
Result<Packet> decode_ack_v5(const Frame& f);

void encode_connect(const Connect& c, std::string& out);
void encode_connack(const Connack& c, ProtocolVersion v, std::string& out);
void encode_publish(const Publish& p, ProtocolVersion v, std::string& out);
void encode_subscribe(const Subscribe& s, ProtocolVersion v, std::string& out);
void encode_suback(const Suback& s, ProtocolVersion v, std::string& out);
void encode_unsubscribe(const Unsubscribe& u, ProtocolVersion v, std::string& out);
void encode_unsuback_v5(const Unsuback& u, std::string& out);
// An MQTT 5 packet of the form [packet id] reason code, properties, with its short forms.
void encode_reason_v5(std::uint8_t first_byte, const PacketId* id, ReasonCode rc, const Properties& p,
                      std::string& out);

}  // namespace mop::mqtt::wire
