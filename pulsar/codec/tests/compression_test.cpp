// Compression: round trips for every type, the raw formats Pulsar uses (checked against bytes
// written by hand from each format's spec), and clean refusal of corrupt or oversized input.
#include <random>

#include "pulsar/codec/compression.hpp"
#include "pulsar/codec/tests/helpers.hpp"

namespace mop::pulsar::test {
namespace {

constexpr proto::CompressionType kAll[] = {proto::NONE, proto::LZ4, proto::ZLIB, proto::ZSTD, proto::SNAPPY};
constexpr proto::CompressionType kCompressing[] = {proto::LZ4, proto::ZLIB, proto::ZSTD, proto::SNAPPY};

std::string random_bytes(std::size_t n, unsigned seed) {
  std::mt19937 rng(seed);
  std::string s(n, '\0');
  for (auto& c : s) c = static_cast<char>(rng());
  return s;
}

std::vector<std::string> inputs() {
  std::string text;
  while (text.size() < 1024 * 1024) text += "temperature=21.5;humidity=40;device=sensor-17\n";
  return {"", "a", "hello", text, random_bytes(70'000, 3)};
}

std::string compressed(proto::CompressionType type, std::string_view in) {
  std::string out;
  EXPECT_TRUE(compress(type, span_of(in), out).ok());
  return out;
}

TEST(Compression, EveryTypeRoundTrips) {
  for (auto type : kAll) {
    for (const auto& in : inputs()) {
      const std::string c = compressed(type, in);
      std::string out = "stale";
      const auto r = decompress(type, span_of(c), static_cast<std::uint32_t>(in.size()), kDefaultMaxMessageSize, out);
      ASSERT_TRUE(r.ok()) << proto::CompressionType_Name(type) << " size " << in.size() << ": " << r.error().message();
      EXPECT_EQ(out, in) << proto::CompressionType_Name(type) << " size " << in.size();
    }
  }
}

TEST(Compression, CompressibleInputShrinks) {
  const std::string text = inputs()[3];
  for (auto type : kCompressing) {
    EXPECT_LT(compressed(type, text).size(), text.size() / 4) << proto::CompressionType_Name(type);
  }
}

TEST(Compression, CompressAppends) {
  std::string out = "prefix";
  ASSERT_TRUE(compress(proto::LZ4, span_of("hello"), out).ok());
  EXPECT_EQ(out.substr(0, 6), "prefix");
  std::string back;
  ASSERT_TRUE(decompress(proto::LZ4, span_of(std::string_view(out).substr(6)), 5, 100, back).ok());
  EXPECT_EQ(back, "hello");
}

// The raw formats, from their specs, so we interoperate with what Pulsar's clients produce:
// LZ4 block (no frame): token 0x50 = 5 literals, no match, then the literals.
// Snappy raw (no framing): varint length 5, literal tag (5-1)<<2 = 0x10, the literals.
// zlib stream (RFC 1950): 78 9c header, deflate data, Adler-32 -- as zlib's compress() writes it.
// zstd frame: magic 28 b5 2f fd, descriptor 20 (single segment, 1-byte content size), size 05,
// last raw block header (5 << 3 | 0 << 1 | 1 = 0x29, 3 bytes little-endian), the literals.
TEST(Compression, DecompressesHandWrittenStreams) {
  struct Case {
    proto::CompressionType type;
    std::string bytes;
  };
  const Case cases[] = {
      {proto::LZ4, hex("50") + "hello"},
      {proto::SNAPPY, hex("05 10") + "hello"},
      {proto::ZLIB, hex("78 9c cb 48 cd c9 c9 07 00 06 2c 02 15")},
      {proto::ZSTD, hex("28 b5 2f fd 20 05 29 00 00") + "hello"},
  };
  for (const auto& c : cases) {
    std::string out;
    const auto r = decompress(c.type, span_of(c.bytes), 5, 100, out);
    EXPECT_TRUE(r.ok()) << proto::CompressionType_Name(c.type) << ": " << r.error().message();
    EXPECT_EQ(out, "hello") << proto::CompressionType_Name(c.type);
  }
  EXPECT_EQ(to_hex(compressed(proto::ZLIB, "hello")), to_hex(cases[2].bytes));  // same default level
  EXPECT_EQ(to_hex(compressed(proto::SNAPPY, "hello")), to_hex(cases[1].bytes));
  EXPECT_EQ(to_hex(compressed(proto::LZ4, "hello")), to_hex(cases[0].bytes));
}

TEST(Compression, WrongUncompressedSizeIsRejected) {
  const std::string in = inputs()[3].substr(0, 10'000);
  for (auto type : kCompressing) {
    const std::string c = compressed(type, in);
    std::string out;
    EXPECT_EQ(decompress(type, span_of(c), 9'999, kDefaultMaxMessageSize, out), CodecError::corrupt_compressed_data)
        << proto::CompressionType_Name(type) << " (claims less)";
    EXPECT_EQ(decompress(type, span_of(c), 10'001, kDefaultMaxMessageSize, out), CodecError::corrupt_compressed_data)
        << proto::CompressionType_Name(type) << " (claims more)";
    EXPECT_TRUE(out.empty());
  }
}

TEST(Compression, CorruptInputIsRejectedCleanly) {
  const std::string in = inputs()[3].substr(0, 20'000);
  for (auto type : kCompressing) {
    const std::string good = compressed(type, in);
    const auto size = static_cast<std::uint32_t>(in.size());
    std::string out;
    // truncated at several points
    for (std::size_t cut : {std::size_t{0}, std::size_t{1}, good.size() / 2, good.size() - 1}) {
      EXPECT_EQ(decompress(type, span_of(std::string_view(good).substr(0, cut)), size, kDefaultMaxMessageSize, out),
                CodecError::corrupt_compressed_data)
          << proto::CompressionType_Name(type) << " cut at " << cut;
    }
    // garbage
    EXPECT_EQ(decompress(type, span_of(random_bytes(good.size(), 9)), size, kDefaultMaxMessageSize, out),
              CodecError::corrupt_compressed_data)
        << proto::CompressionType_Name(type);
    // trailing bytes after a complete stream
    EXPECT_EQ(decompress(type, span_of(good + "junk"), size, kDefaultMaxMessageSize, out),
              CodecError::corrupt_compressed_data)
        << proto::CompressionType_Name(type) << " with trailing bytes";
    // every single-byte corruption of the header region either fails or, if the format cannot
    // tell, still yields exactly `size` bytes -- never a crash or an overrun (ASan would see it)
    for (std::size_t i = 0; i < std::min<std::size_t>(good.size(), 64); ++i) {
      std::string bad = good;
      bad[i] = static_cast<char>(bad[i] ^ 0x5a);
      const auto r = decompress(type, span_of(bad), size, kDefaultMaxMessageSize, out);
      if (r.ok()) {
        EXPECT_EQ(out.size(), size);
      } else {
        EXPECT_EQ(r.error(), CodecError::corrupt_compressed_data);
      }
    }
  }
}

TEST(Compression, UncompressedSizeAboveTheLimitIsRefusedBeforeAllocating) {
  const std::string c = compressed(proto::LZ4, "hello");
  for (auto type : kAll) {
    std::string out;
    AllocationProbe probe;
    EXPECT_EQ(decompress(type, span_of(c), 0xFFFFFFFF, kDefaultMaxMessageSize, out), CodecError::uncompressed_too_large)
        << proto::CompressionType_Name(type);
    EXPECT_LT(probe.largest(), 4096u) << proto::CompressionType_Name(type);
  }
  std::string out;
  EXPECT_EQ(decompress(proto::NONE, span_of(std::string(101, 'a')), 0, 100, out), CodecError::uncompressed_too_large);
}

TEST(Compression, UnknownTypeIsUnsupported) {
  const auto bogus = static_cast<proto::CompressionType>(9);
  std::string out;
  EXPECT_EQ(compress(bogus, span_of("x"), out).error(), CodecError::unsupported_compression);
  EXPECT_EQ(decompress(bogus, span_of("x"), 1, 100, out), CodecError::unsupported_compression);
}

TEST(Compression, UncompressedPayloadAvoidsACopyForNone) {
  proto::MessageMetadata meta;
  meta.set_producer_name("p");
  meta.set_sequence_id(0);
  meta.set_publish_time(0);
  const std::string payload = "plain";
  std::string scratch;
  auto plain = uncompressed_payload(meta, span_of(payload), 100, scratch);
  ASSERT_TRUE(plain.ok());
  EXPECT_EQ(plain->data(), reinterpret_cast<const std::uint8_t*>(payload.data()));
  EXPECT_TRUE(scratch.empty());

  meta.set_compression(proto::ZSTD);
  meta.set_uncompressed_size(5);
  const std::string c = compressed(proto::ZSTD, "plain");
  plain = uncompressed_payload(meta, span_of(c), 100, scratch);
  ASSERT_TRUE(plain.ok());
  EXPECT_EQ(view_of(*plain), "plain");
  meta.set_uncompressed_size(500);
  EXPECT_EQ(uncompressed_payload(meta, span_of(c), 100, scratch).error(), CodecError::uncompressed_too_large);
}

}  // namespace
}  // namespace mop::pulsar::test
