#pragma once
// Shared test helpers: hex byte strings, span conversions, and an allocation probe for the
// "never allocate what the wire merely claims" tests.
#include <gtest/gtest.h>

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "pulsar/codec/codec.hpp"

namespace mop::pulsar::test {

// "00 0a ff" -> bytes; spaces are ignored, so layouts can be written field by field.
std::string hex(std::string_view text);
// bytes -> "00 0a ff", for readable failure messages.
std::string to_hex(std::string_view bytes);

inline std::span<const std::uint8_t> span_of(std::string_view s) {
  return {reinterpret_cast<const std::uint8_t*>(s.data()), s.size()};
}
inline std::string_view view_of(std::span<const std::uint8_t> s) {
  return {reinterpret_cast<const char*>(s.data()), s.size()};
}

// The largest single operator-new request since the probe was constructed (this test binary
// replaces the global operator new to record it).
class AllocationProbe {
public:
  AllocationProbe();
  ~AllocationProbe();
  std::size_t largest() const;
};

// Reads exactly one frame from `bytes`, failing the test otherwise.
struct OneFrame {
  FrameReader reader;
  std::optional<Frame> frame;
  std::error_code error;
};
void read_one(OneFrame& r, std::string_view bytes);

}  // namespace mop::pulsar::test
