// RocksDB checksums every byte it writes with CRC32C: each write-ahead log record, each table
// block, each blob. Debian's librocksdb is built for any x86-64 CPU, without SSE 4.2, so it
// computes them with lookup tables (`rocksdb::crc32c::IsFastCrc32Supported()` answers "Not
// supported on x86"), about 0.8 GB/s per core here: a third of the broker's CPU when it stores
// 64 KiB messages (storage/README.md, "Large messages").
//
// mop defines the library's exported `rocksdb::crc32c::Extend` itself, on the crc32
// instruction. The library calls it through its procedure linkage table, so the dynamic linker
// binds those calls to the executable's definition, as it does for any symbol an executable
// defines (the linker exports it because a shared library on the link line defines it too).
// The function and its values are the same (the same polynomial, the same pre- and
// post-inversion): stores written with the library's read back (the golden stores, tests), and
// crc32c_test compares the two on random input. Without SSE 4.2 the library's own runs.
#include "storage/crc32c.hpp"

#include <dlfcn.h>
#include <nmmintrin.h>

#include <atomic>
#include <cstring>

namespace mop::storage {
namespace {

__attribute__((target("sse4.2"))) std::uint32_t extend_sse42(std::uint32_t crc, const char* p, std::size_t n) {
  std::uint64_t l = ~crc;
  for (; n >= 8; p += 8, n -= 8) {
    std::uint64_t v;
    std::memcpy(&v, p, 8);
    l = _mm_crc32_u64(l, v);
  }
  auto l32 = static_cast<std::uint32_t>(l);
  for (; n > 0; ++p, --n) l32 = _mm_crc32_u8(l32, static_cast<std::uint8_t>(*p));
  return ~l32;
}

struct Chosen {
  Crc32cExtend fn;
  std::string_view name;
};

Chosen choose() {
  if (__builtin_cpu_supports("sse4.2")) return {extend_sse42, "sse4.2"};
  // The next definition after this executable's: the library's.
  return {reinterpret_cast<Crc32cExtend>(::dlsym(RTLD_NEXT, kCrc32cExtendSymbol)), "rocksdb"};
}

// Chosen at the first call (RocksDB may checksum before this executable's static initialisers
// have run).
const Chosen& chosen() {
  static const Chosen c = choose();
  return c;
}

std::atomic<std::uint64_t> calls{0};

}  // namespace

std::string_view crc32c_implementation() { return chosen().name; }
std::uint64_t crc32c_calls() { return calls.load(std::memory_order_relaxed); }

}  // namespace mop::storage

std::uint32_t rocksdb::crc32c::Extend(std::uint32_t crc, const char* data, std::size_t n) {
  mop::storage::calls.fetch_add(1, std::memory_order_relaxed);
  return mop::storage::chosen().fn(crc, data, n);
}
