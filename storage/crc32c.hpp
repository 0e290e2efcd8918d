#pragma once
// RocksDB's CRC32C on the CPU's crc32 instruction (crc32c.cpp).
#include <cstdint>
#include <string_view>

namespace mop::storage {

// Which implementation of rocksdb::crc32c::Extend this process runs: "sse4.2" (mop's) or
// "rocksdb" (the library's own, on a CPU without SSE 4.2).
std::string_view crc32c_implementation();
// Calls of rocksdb::crc32c::Extend so far, RocksDB's own included (tests: they reach mop's).
std::uint64_t crc32c_calls();

}  // namespace mop::storage
