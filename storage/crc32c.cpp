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

// One crc32 instruction takes 3 cycles before its result can feed the next, but the CPU starts
// one every cycle: a single chain of them runs at a third of what the instruction allows. So
// long inputs are cut into three lanes of equal length, each lane's CRC computed as its own
// chain (the second and third from 0), and the three joined: the CRC register after lane A
// then lane B is A's register shifted over |B| zero bytes, XOR B's (the CRC is linear). The
// shift over a fixed length is a linear map of the 32-bit register, tabulated per byte of it
// (4 x 256 entries) once, from the instruction itself. 64 KiB, what an entry log write of a
// 64 KiB message checksums: about 2.5x faster than one chain (storage/README.md).
constexpr std::size_t kLongLane = 8192;
constexpr std::size_t kShortLane = 256;

struct ShiftTable {
  std::uint32_t t[4][256];
};

__attribute__((target("sse4.2"))) std::uint32_t shift_by_zeros_slow(std::uint32_t reg, std::size_t n) {
  std::uint64_t l = reg;
  for (std::size_t i = 0; i < n; i += 8) l = _mm_crc32_u64(l, 0);
  return static_cast<std::uint32_t>(l);
}

__attribute__((target("sse4.2"))) ShiftTable make_shift_table(std::size_t n) {
  std::uint32_t bit[32];
  for (int k = 0; k < 32; ++k) bit[k] = shift_by_zeros_slow(std::uint32_t{1} << k, n);
  ShiftTable table{};
  for (int i = 0; i < 4; ++i) {
    for (int b = 0; b < 256; ++b) {
      std::uint32_t v = 0;
      for (int j = 0; j < 8; ++j) {
        if ((b >> j) & 1) v ^= bit[8 * i + j];
      }
      table.t[i][b] = v;
    }
  }
  return table;
}

std::uint32_t shift(const ShiftTable& table, std::uint32_t reg) {
  return table.t[0][reg & 0xFF] ^ table.t[1][(reg >> 8) & 0xFF] ^ table.t[2][(reg >> 16) & 0xFF] ^ table.t[3][reg >> 24];
}

// Whole lanes of `lane` bytes, three at a time, while at least three are left.
template <std::size_t lane>
__attribute__((target("sse4.2"))) inline void three_lanes(std::uint64_t& l, const char*& p, std::size_t& n,
                                                         const ShiftTable& table) {
  while (n >= 3 * lane) {
    std::uint64_t a = l, b = 0, c = 0;
    for (std::size_t i = 0; i < lane; i += 8) {
      std::uint64_t va, vb, vc;
      std::memcpy(&va, p + i, 8);
      std::memcpy(&vb, p + lane + i, 8);
      std::memcpy(&vc, p + 2 * lane + i, 8);
      a = _mm_crc32_u64(a, va);
      b = _mm_crc32_u64(b, vb);
      c = _mm_crc32_u64(c, vc);
    }
    l = shift(table, shift(table, static_cast<std::uint32_t>(a)) ^ static_cast<std::uint32_t>(b)) ^
        static_cast<std::uint32_t>(c);
    p += 3 * lane;
    n -= 3 * lane;
  }
}

__attribute__((target("sse4.2"))) std::uint32_t extend_sse42(std::uint32_t crc, const char* p, std::size_t n) {
  static const ShiftTable long_shift = make_shift_table(kLongLane);
  static const ShiftTable short_shift = make_shift_table(kShortLane);
  std::uint64_t l = static_cast<std::uint32_t>(~crc);
  three_lanes<kLongLane>(l, p, n, long_shift);
  three_lanes<kShortLane>(l, p, n, short_shift);
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
