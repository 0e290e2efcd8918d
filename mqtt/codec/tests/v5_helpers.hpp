#pragma once
// Byte builders for MQTT 5 tests: property blocks and minimal packets that carry one, written from
// the field layouts of MQTT 5.0 chapters 2 and 3 (not from our encoder).
#include "mqtt/codec/tests/helpers.hpp"

namespace mop::mqtt::test {

inline constexpr auto v5 = ProtocolVersion::v5;

inline void add(Bytes& b, const Bytes& more) { b.insert(b.end(), more.begin(), more.end()); }
inline void add_varint(Bytes& b, std::size_t n) {
  do {
    std::uint8_t d = n & 0x7F;
    n >>= 7;
    if (n) d |= 0x80;
    b.push_back(d);
  } while (n);
}
// A property block: Property Length (variable byte integer) then the properties.
inline Bytes props(const Bytes& content) {
  Bytes b;
  add_varint(b, content.size());
  add(b, content);
  return b;
}
// One property with a UTF-8 string or binary value.
inline Bytes str_prop(std::uint8_t id, std::string_view s) {
  Bytes b{id};
  add_str(b, s);
  return b;
}

// Where a property block can sit, and a minimal packet of that kind around `block` (which
// includes its Property Length).
enum class Where {
  connect, will, connack, publish, puback, pubrec, pubrel, pubcomp, subscribe, suback, unsubscribe,
  unsuback, disconnect, auth,
};

inline Bytes around(Where w, const Bytes& block) {
  Bytes b;
  auto connect_header = [&](std::uint8_t flags) {
    add_str(b, "MQTT");
    b.push_back(5);
    b.push_back(flags);
    add(b, {0x00, 0x3C});  // keep alive 60
  };
  switch (w) {
    case Where::connect:
      connect_header(0x02);
      add(b, block);
      add_str(b, "c");
      return packet(0x10, b);
    case Where::will:
      connect_header(0x06);  // will flag + clean start
      add(b, props({}));
      add_str(b, "c");
      add(b, block);  // will properties come before the will topic
      add_str(b, "w");
      add_str(b, "");
      return packet(0x10, b);
    case Where::connack:
      add(b, {0x00, 0x00});
      add(b, block);
      return packet(0x20, b);
    case Where::publish:
      add_str(b, "t");
      add(b, block);
      return packet(0x30, b);
    case Where::puback:
    case Where::pubrec:
    case Where::pubrel:
    case Where::pubcomp: {
      add(b, {0x00, 0x01, 0x00});
      add(b, block);
      const std::uint8_t first = w == Where::puback ? 0x40 : w == Where::pubrec ? 0x50 : w == Where::pubrel ? 0x62 : 0x70;
      return packet(first, b);
    }
    case Where::subscribe:
      add(b, {0x00, 0x01});
      add(b, block);
      add_str(b, "t");
      b.push_back(0x00);
      return packet(0x82, b);
    case Where::suback:
      add(b, {0x00, 0x01});
      add(b, block);
      b.push_back(0x00);
      return packet(0x90, b);
    case Where::unsubscribe:
      add(b, {0x00, 0x01});
      add(b, block);
      add_str(b, "t");
      return packet(0xA2, b);
    case Where::unsuback:
      add(b, {0x00, 0x01});
      add(b, block);
      b.push_back(0x00);
      return packet(0xB0, b);
    case Where::disconnect:
      b.push_back(0x00);
      add(b, block);
      return packet(0xE0, b);
    case Where::auth:
      b.push_back(0x18);
      add(b, block);
      return packet(0xF0, b);
  }
  return b;
}

// The side that sends that packet (DISCONNECT and AUTH: the client).
inline Side sender_of(Where w) {
  switch (w) {
    case Where::connack:
    case Where::publish:  // from the server, where subscription identifiers are allowed
    case Where::suback:
    case Where::unsuback:
      return Side::server;
    default:
      return Side::client;
  }
}

}  // namespace mop::mqtt::test
