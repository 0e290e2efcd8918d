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

// Per-packet decoders and encoders, one translation unit per family of packets.
Result<Packet> decode_connect(const Frame& f);
Result<Packet> decode_connack(const Frame& f, ProtocolVersion v);
Result<Packet> decode_publish(const Frame& f);
Result<Packet> decode_subscribe(const Frame& f);
Result<Packet> decode_suback(const Frame& f);
Result<Packet> decode_unsubscribe(const Frame& f);

void encode_connect(const Connect& c, std::string& out);
void encode_connack(const Connack& c, ProtocolVersion v, std::string& out);
void encode_publish(const Publish& p, std::string& out);
void encode_subscribe(const Subscribe& s, std::string& out);
void encode_suback(const Suback& s, std::string& out);
void encode_unsubscribe(const Unsubscribe& u, std::string& out);

}  // namespace mop::mqtt::wire
