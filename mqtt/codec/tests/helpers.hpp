#pragma once
// Shared by the codec's tests: byte literals, one-shot decoding through a FrameReader, and a
// printable form of packets so that round trips compare field by field with a readable diff.
#include <gtest/gtest.h>

#include <cstdint>
#include <initializer_list>
#include <string>
#include <vector>

#include "mqtt/codec/codec.hpp"

namespace mop::mqtt::test {

using Bytes = std::vector<std::uint8_t>;

inline Bytes bytes(std::initializer_list<int> list) {
  Bytes b;
  for (int v : list) b.push_back(static_cast<std::uint8_t>(v));
  return b;
}
inline Bytes bytes(const std::string& s) { return Bytes(s.begin(), s.end()); }
// Appends a length-prefixed string field.
inline void add_str(Bytes& b, std::string_view s) {
  b.push_back(static_cast<std::uint8_t>(s.size() >> 8));
  b.push_back(static_cast<std::uint8_t>(s.size() & 0xFF));
  b.insert(b.end(), s.begin(), s.end());
}
// A whole packet from its first byte and body; the remaining length is computed.
Bytes packet(std::uint8_t first_byte, const Bytes& body);

enum class Side { client, server };

// Frames `wire` (which must hold exactly one whole packet) and decodes it as sent by `side`.
Result<Packet> decode(const Bytes& wire, ProtocolVersion v, Side side = Side::client);
inline std::error_code decode_error(const Bytes& wire, ProtocolVersion v, Side side = Side::client) {
  return decode(wire, v, side).error();
}
Bytes encode_bytes(const Packet& p, ProtocolVersion v);
std::string describe(const Packet& p);
std::string describe(const Properties& p);

// encode -> decode gives back the same packet, and re-encoding gives the same bytes.
void expect_round_trip(const Packet& p, ProtocolVersion v, Side sender);

}  // namespace mop::mqtt::test

namespace mop::mqtt::test {
// Heap allocations made by this process so far (operator new is replaced in helpers.cpp), to
// show that a code path allocates nothing.
std::size_t allocations();
}  // namespace mop::mqtt::test
