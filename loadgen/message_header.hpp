#pragma once
// The 16 bytes every benchmark payload starts with, so that a subscriber can tell which message
// it got and how long it took: send time (steady clock, ns), sequence number within the
// publisher, publisher number. Little-endian on the wire whatever the host, so that a
// subscriber on another build reads what a publisher wrote. The rest of the payload is filler.
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>

namespace mop::loadgen {

struct MessageHeader {
  std::uint64_t send_ns = 0;
  std::uint32_t seq = 0;
  std::uint32_t publisher = 0;
  friend bool operator==(const MessageHeader&, const MessageHeader&) = default;
};

inline constexpr std::size_t kHeaderSize = 16;

inline void put_header(const MessageHeader& h, std::uint8_t* out) {
  for (int i = 0; i < 8; ++i) out[i] = static_cast<std::uint8_t>(h.send_ns >> (8 * i));
  for (int i = 0; i < 4; ++i) out[8 + i] = static_cast<std::uint8_t>(h.seq >> (8 * i));
  for (int i = 0; i < 4; ++i) out[12 + i] = static_cast<std::uint8_t>(h.publisher >> (8 * i));
}

// std::nullopt when the payload is too short to be one of ours (a foreign publisher).
inline std::optional<MessageHeader> read_header(std::span<const std::uint8_t> p) {
  if (p.size() < kHeaderSize) return std::nullopt;
  MessageHeader h;
  for (int i = 0; i < 8; ++i) h.send_ns |= static_cast<std::uint64_t>(p[i]) << (8 * i);
  for (int i = 0; i < 4; ++i) h.seq |= static_cast<std::uint32_t>(p[8 + i]) << (8 * i);
  for (int i = 0; i < 4; ++i) h.publisher |= static_cast<std::uint32_t>(p[12 + i]) << (8 * i);
  return h;
}

}  // namespace mop::loadgen
