#pragma once
// CRC32C (Castagnoli, reflected polynomial 0x82F63B78), the checksum Pulsar puts on payload
// commands. Uses the SSE4.2 crc32 instruction when the CPU has it (checked once at run time) and
// a slicing-by-8 table otherwise; both give identical results.
#include <cstddef>
#include <cstdint>
#include <span>

namespace mop::pulsar {

// CRC32C of `data`.
inline std::uint32_t crc32c(std::span<const std::uint8_t> data);

// The CRC32C of A followed by `data`, given `crc` = crc32c(A). crc32c_extend(0, x) == crc32c(x).
// Lets an encoder checksum metadata and a separately held payload without joining them.
std::uint32_t crc32c_extend(std::uint32_t crc, std::span<const std::uint8_t> data);

inline std::uint32_t crc32c(std::span<const std::uint8_t> data) { return crc32c_extend(0, data); }

// The two implementations, for tests that must cover both on any machine.
std::uint32_t crc32c_extend_table(std::uint32_t crc, std::span<const std::uint8_t> data);
// Only valid when crc32c_hardware_available().
std::uint32_t crc32c_extend_hardware(std::uint32_t crc, std::span<const std::uint8_t> data);
bool crc32c_hardware_available();

}  // namespace mop::pulsar
