// CRC32C against published vectors (the check value of the CRC catalogue, RFC 3720 B.4), for the
// table and the hardware implementations and for the dispatching entry point.
#include <random>
#include <vector>

#include "pulsar/codec/crc32c.hpp"
#include "pulsar/codec/tests/helpers.hpp"

namespace mop::pulsar::test {
namespace {

using ExtendFn = std::uint32_t (*)(std::uint32_t, std::span<const std::uint8_t>);

struct Vector {
  std::string data;
  std::uint32_t crc;
};

std::vector<Vector> vectors() {
  std::string ascending;
  for (int i = 0; i < 32; ++i) ascending.push_back(static_cast<char>(i));
  std::string descending;
  for (int i = 31; i >= 0; --i) descending.push_back(static_cast<char>(i));
  return {
      {"", 0x00000000},
      {"123456789", 0xE3069283},                   // CRC catalogue check value
      {std::string(32, '\0'), 0x8A9136AA},         // RFC 3720 B.4
      {std::string(32, '\xff'), 0x62A8AB43},       // RFC 3720 B.4
      {ascending, 0x46DD794E},                     // RFC 3720 B.4
      {descending, 0x113FDB5C},                    // RFC 3720 B.4
      {"The quick brown fox jumps over the lazy dog", 0x22620404},
  };
}

void check_vectors(ExtendFn fn, const char* name) {
  for (const auto& v : vectors()) {
    EXPECT_EQ(fn(0, span_of(v.data)), v.crc) << name << " on " << to_hex(v.data);
  }
}

TEST(Crc32c, TableImplementationMatchesKnownVectors) { check_vectors(&crc32c_extend_table, "table"); }

TEST(Crc32c, HardwareImplementationMatchesKnownVectors) {
  if (!crc32c_hardware_available()) GTEST_SKIP() << "no SSE4.2 on this CPU";
  check_vectors(&crc32c_extend_hardware, "hardware");
}

TEST(Crc32c, DispatchMatchesKnownVectors) {
  for (const auto& v : vectors()) EXPECT_EQ(crc32c(span_of(v.data)), v.crc);
}

// Extending a CRC over a split buffer must equal the CRC of the whole, at every split point and
// alignment: the encoder relies on it to checksum metadata and a separate payload.
TEST(Crc32c, ExtendOverAnySplitEqualsWhole) {
  std::mt19937 rng(7);
  std::string data(300, '\0');
  for (auto& c : data) c = static_cast<char>(rng());
  const std::uint32_t whole = crc32c_extend_table(0, span_of(data));
  for (ExtendFn fn : {&crc32c_extend_table, &crc32c_extend_hardware, &crc32c_extend}) {
    if (fn == &crc32c_extend_hardware && !crc32c_hardware_available()) continue;
    EXPECT_EQ(fn(0, span_of(data)), whole);
    for (std::size_t cut = 0; cut <= data.size(); ++cut) {
      const std::string_view s(data);
      ASSERT_EQ(fn(fn(0, span_of(s.substr(0, cut))), span_of(s.substr(cut))), whole) << "cut at " << cut;
    }
  }
}

TEST(Crc32c, HardwareAndTableAgreeOnRandomLengthsAndOffsets) {
  if (!crc32c_hardware_available()) GTEST_SKIP() << "no SSE4.2 on this CPU";
  std::mt19937 rng(11);
  std::string data(4096 + 16, '\0');
  for (auto& c : data) c = static_cast<char>(rng());
  for (int i = 0; i < 500; ++i) {
    const std::size_t off = rng() % 16;
    const std::size_t len = rng() % 4096;
    const auto s = span_of(std::string_view(data).substr(off, len));
    ASSERT_EQ(crc32c_extend_hardware(0, s), crc32c_extend_table(0, s)) << off << "+" << len;
  }
}

TEST(Crc32c, DetectsASingleBitFlip) {
  std::string data = "metadata and payload";
  const std::uint32_t before = crc32c(span_of(data));
  data[5] ^= 0x10;
  EXPECT_NE(crc32c(span_of(data)), before);
}

}  // namespace
}  // namespace mop::pulsar::test
