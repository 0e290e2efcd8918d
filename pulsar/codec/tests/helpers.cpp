#include "pulsar/codec/tests/helpers.hpp"

#include <atomic>
#include <cstdlib>
#include <new>

namespace {
std::atomic<bool> g_probing{false};
std::atomic<std::size_t> g_largest{0};

void record(std::size_t n) {
  if (!g_probing.load(std::memory_order_relaxed)) return;
  std::size_t prev = g_largest.load(std::memory_order_relaxed);
  while (n > prev && !g_largest.compare_exchange_weak(prev, n, std::memory_order_relaxed)) {
  }
}
}  // namespace

// Replacing the global operator new (allowed by [replacement.functions]) is the one way to see
// every allocation the codec and the libraries it calls make through new.
void* operator new(std::size_t n) {
  record(n);
  if (void* p = std::malloc(n ? n : 1)) return p;
  throw std::bad_alloc();
}
void* operator new[](std::size_t n) { return ::operator new(n); }
void operator delete(void* p) noexcept { std::free(p); }
void operator delete[](void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t) noexcept { std::free(p); }

namespace mop::pulsar::test {

std::string hex(std::string_view text) {
  std::string out;
  int high = -1;
  for (char ch : text) {
    int v;
    if (ch >= '0' && ch <= '9') v = ch - '0';
    else if (ch >= 'a' && ch <= 'f') v = ch - 'a' + 10;
    else if (ch >= 'A' && ch <= 'F') v = ch - 'A' + 10;
    else continue;
    if (high < 0) {
      high = v;
    } else {
      out.push_back(static_cast<char>(high << 4 | v));
      high = -1;
    }
  }
  EXPECT_EQ(high, -1) << "odd number of hex digits in: " << text;
  return out;
}

std::string to_hex(std::string_view bytes) {
  static const char* digits = "0123456789abcdef";
  std::string out;
  for (unsigned char c : bytes) {
    if (!out.empty()) out.push_back(' ');
    out.push_back(digits[c >> 4]);
    out.push_back(digits[c & 15]);
  }
  return out;
}

AllocationProbe::AllocationProbe() {
  g_largest = 0;
  g_probing = true;
}
AllocationProbe::~AllocationProbe() { g_probing = false; }
std::size_t AllocationProbe::largest() const { return g_largest.load(); }

void read_one(OneFrame& r, std::string_view bytes) {
  r.reader.feed(span_of(bytes));
  auto f = r.reader.next();
  if (!f.ok()) {
    r.error = f.error();
    return;
  }
  r.frame = *f;
  EXPECT_TRUE(r.frame.has_value()) << "incomplete frame: " << to_hex(bytes);
  EXPECT_EQ(r.reader.buffered(), 0u) << "bytes left after the frame";
}

}  // namespace mop::pulsar::test
