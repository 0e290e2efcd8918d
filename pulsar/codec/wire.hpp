#pragma once
// Internal: big-endian integer helpers for the frame layout. Pulsar's framing integers are all
// big-endian (network order); only protobuf's own encoding inside the messages is little-endian.
#include <cstddef>
#include <cstdint>
#include <string>

namespace mop::pulsar::wire {

inline std::uint32_t get_be32(const std::uint8_t* p) {
  return (std::uint32_t{p[0]} << 24) | (std::uint32_t{p[1]} << 16) | (std::uint32_t{p[2]} << 8) | p[3];
}
inline std::uint16_t get_be16(const std::uint8_t* p) {
  return static_cast<std::uint16_t>((p[0] << 8) | p[1]);
}
inline void put_be32(std::uint8_t* p, std::uint32_t v) {
  p[0] = static_cast<std::uint8_t>(v >> 24);
  p[1] = static_cast<std::uint8_t>(v >> 16);
  p[2] = static_cast<std::uint8_t>(v >> 8);
  p[3] = static_cast<std::uint8_t>(v);
}
inline void put_be16(std::uint8_t* p, std::uint16_t v) {
  p[0] = static_cast<std::uint8_t>(v >> 8);
  p[1] = static_cast<std::uint8_t>(v);
}

// Grows `out` by n bytes and returns where they start, for serializing in place.
inline std::uint8_t* grow(std::string& out, std::size_t n) {
  const std::size_t at = out.size();
  out.resize(at + n);
  return reinterpret_cast<std::uint8_t*>(out.data()) + at;
}

// Parses a protobuf message and checks its required fields. ParseFromArray would do both, but it
// logs every missing required field through protobuf's logger: a peer could flood our logs, and
// each rejected frame would pay for the formatting. The caller reports the error code instead.
template <typename Message>
bool parse(Message& m, const std::uint8_t* p, std::size_t n) {
  return m.ParsePartialFromArray(p, static_cast<int>(n)) && m.IsInitialized();
}

}  // namespace mop::pulsar::wire
