#include <cstdint>
#include <string_view>

#include "mqtt/codec/codec.hpp"

namespace mop::mqtt {

// Unicode's table of well-formed byte sequences (Unicode 3.9, table 3-7), with two MQTT twists:
// U+0000 is refused [MQTT-1.5.3-2] and so are the surrogates ED A0..BF [MQTT-1.5.3-1], which the
// table already excludes. Non-characters such as U+FFFF are only a SHOULD NOT for senders
// [MQTT-1.5.3-3]; a receiver must not close the connection for them, so they pass.
bool valid_mqtt_utf8(std::string_view s) {
  const auto* p = reinterpret_cast<const std::uint8_t*>(s.data());
  const auto* end = p + s.size();
  auto cont = [](std::uint8_t b) { return (b & 0xC0) == 0x80; };
  while (p != end) {
    const std::uint8_t b = *p;
    if (b < 0x80) {
      // Topics and client ids are nearly always ASCII: keep this branch tight.
      if (b == 0) return false;
      ++p;
      continue;
    }
    const auto left = static_cast<std::size_t>(end - p);
    if (b >= 0xC2 && b <= 0xDF) {
      if (left < 2 || !cont(p[1])) return false;
      p += 2;
    } else if (b >= 0xE0 && b <= 0xEF) {
      if (left < 3 || !cont(p[2])) return false;
      const std::uint8_t lo = b == 0xE0 ? 0xA0 : 0x80;  // E0 80..9F would be overlong
      const std::uint8_t hi = b == 0xED ? 0x9F : 0xBF;  // ED A0..BF would be a surrogate
      if (p[1] < lo || p[1] > hi) return false;
      p += 3;
    } else if (b >= 0xF0 && b <= 0xF4) {
      if (left < 4 || !cont(p[2]) || !cont(p[3])) return false;
      const std::uint8_t lo = b == 0xF0 ? 0x90 : 0x80;  // F0 80..8F would be overlong
      const std::uint8_t hi = b == 0xF4 ? 0x8F : 0xBF;  // F4 90.. would be above U+10FFFF
      if (p[1] < lo || p[1] > hi) return false;
      p += 4;
    } else {
      // 80..C1 (continuation or overlong lead) and F5..FF never start a character.
      return false;
    }
  }
  return true;
}

}  // namespace mop::mqtt
