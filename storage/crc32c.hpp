#pragma once
// RocksDB's CRC32C on the CPU's crc32 instruction (crc32c.cpp).
#include <cstddef>
#include <cstdint>
#include <string_view>

// RocksDB's own declaration (util/crc32c.h, not installed): the CRC32C of the bytes that gave
// `crc`, followed by data[0, n). Defined by librocksdb and, in mop, by crc32c.cpp.
namespace rocksdb::crc32c {
std::uint32_t Extend(std::uint32_t crc, const char* data, std::size_t n);
}  // namespace rocksdb::crc32c

namespace mop::storage {

using Crc32cExtend = std::uint32_t (*)(std::uint32_t, const char*, std::size_t);
// Its mangled name, for dlsym: the library's definition is the one after this executable's.
inline constexpr const char* kCrc32cExtendSymbol = "_ZN7rocksdb6crc32c6ExtendEjPKcm";

// Which implementation of rocksdb::crc32c::Extend this process runs: "sse4.2" (mop's) or
// "rocksdb" (the library's own, on a CPU without SSE 4.2).
std::string_view crc32c_implementation();
// Calls of rocksdb::crc32c::Extend so far, RocksDB's own included (tests: they reach mop's).
std::uint64_t crc32c_calls();

}  // namespace mop::storage
