#include "pulsar/codec/compression.hpp"

#include <lz4.h>
#include <snappy.h>
#include <zlib.h>
#include <zstd.h>

#include <limits>
#include <memory>

#include "pulsar/codec/wire.hpp"

namespace mop::pulsar {
namespace {

const char* chars(std::span<const std::uint8_t> s) { return reinterpret_cast<const char*>(s.data()); }

// Compression levels: what Pulsar's clients use by default, so our output is what theirs is.
constexpr int kZlibLevel = Z_DEFAULT_COMPRESSION;
constexpr int kZstdLevel = ZSTD_CLEVEL_DEFAULT;

// One zstd context per thread: creating one costs more than decompressing a small message.
struct ZstdDctxDeleter {
  void operator()(ZSTD_DCtx* c) const { ZSTD_freeDCtx(c); }
};
ZSTD_DCtx* zstd_dctx() {
  thread_local std::unique_ptr<ZSTD_DCtx, ZstdDctxDeleter> ctx(ZSTD_createDCtx());
  return ctx.get();
}

Result<void> compress_lz4(std::span<const std::uint8_t> in, std::string& out) {
  if (in.size() > static_cast<std::size_t>(LZ4_MAX_INPUT_SIZE)) return CodecError::uncompressed_too_large;
  const int bound = LZ4_compressBound(static_cast<int>(in.size()));
  const std::size_t at = out.size();
  out.resize(at + static_cast<std::size_t>(bound));
  const int n = LZ4_compress_default(chars(in), out.data() + at, static_cast<int>(in.size()), bound);
  out.resize(at + static_cast<std::size_t>(n > 0 ? n : 0));
  return {};
}

Result<void> compress_zlib(std::span<const std::uint8_t> in, std::string& out) {
  uLongf n = compressBound(static_cast<uLong>(in.size()));
  const std::size_t at = out.size();
  out.resize(at + n);
  if (compress2(reinterpret_cast<Bytef*>(out.data() + at), &n, in.data(), static_cast<uLong>(in.size()),
                kZlibLevel) != Z_OK) {
    out.resize(at);
    return CodecError::uncompressed_too_large;  // only possible for inputs beyond zlib's sizes
  }
  out.resize(at + n);
  return {};
}

Result<void> compress_zstd(std::span<const std::uint8_t> in, std::string& out) {
  const std::size_t bound = ZSTD_compressBound(in.size());
  const std::size_t at = out.size();
  out.resize(at + bound);
  const std::size_t n = ZSTD_compress(out.data() + at, bound, in.data(), in.size(), kZstdLevel);
  if (ZSTD_isError(n)) {
    out.resize(at);
    return CodecError::uncompressed_too_large;
  }
  out.resize(at + n);
  return {};
}

Result<void> compress_snappy(std::span<const std::uint8_t> in, std::string& out) {
  const std::size_t at = out.size();
  out.resize(at + snappy::MaxCompressedLength(in.size()));
  std::size_t n = 0;
  snappy::RawCompress(chars(in), in.size(), out.data() + at, &n);
  out.resize(at + n);
  return {};
}

// Each decompressor writes into out[0, size) and succeeds only if it produced exactly `size` bytes
// and consumed its whole input: a payload that decompresses to something else is corrupt, and
// the consumer would otherwise read garbage batch sizes out of it.
bool decompress_lz4(std::span<const std::uint8_t> in, std::string& out) {
  if (in.size() > static_cast<std::size_t>(std::numeric_limits<int>::max())) return false;
  const int n = LZ4_decompress_safe(chars(in), out.data(), static_cast<int>(in.size()), static_cast<int>(out.size()));
  return n >= 0 && static_cast<std::size_t>(n) == out.size();
}

bool decompress_zlib(std::span<const std::uint8_t> in, std::string& out) {
  uLongf n = static_cast<uLongf>(out.size());
  uLong consumed = static_cast<uLong>(in.size());
  // zlib wants a non-null destination even for an empty result.
  Bytef dummy = 0;
  Bytef* dst = out.empty() ? &dummy : reinterpret_cast<Bytef*>(out.data());
  const int rc = uncompress2(dst, &n, in.data(), &consumed);
  return rc == Z_OK && n == out.size() && consumed == in.size();
}

bool decompress_zstd(std::span<const std::uint8_t> in, std::string& out) {
  ZSTD_DCtx* ctx = zstd_dctx();
  if (ctx == nullptr) return false;
  const std::size_t n = ZSTD_decompressDCtx(ctx, out.data(), out.size(), in.data(), in.size());
  return !ZSTD_isError(n) && n == out.size();
}

bool decompress_snappy(std::span<const std::uint8_t> in, std::string& out) {
  std::size_t n = 0;
  // The length prefix is checked first, so RawUncompress can never be asked to write past out.
  if (!snappy::GetUncompressedLength(chars(in), in.size(), &n) || n != out.size()) return false;
  return snappy::RawUncompress(chars(in), in.size(), out.data());
}

}  // namespace

Result<void> compress(proto::CompressionType type, std::span<const std::uint8_t> input, std::string& out) {
  switch (type) {
    case proto::NONE:
      out.append(chars(input), input.size());
      return {};
    case proto::LZ4: return compress_lz4(input, out);
    case proto::ZLIB: return compress_zlib(input, out);
    case proto::ZSTD: return compress_zstd(input, out);
    case proto::SNAPPY: return compress_snappy(input, out);
  }
  return CodecError::unsupported_compression;
}

Result<void> decompress(proto::CompressionType type, std::span<const std::uint8_t> input, std::uint32_t uncompressed_size,
                  std::size_t max_size, std::string& out) {
  out.clear();
  if (!proto::CompressionType_IsValid(type)) return CodecError::unsupported_compression;
  if (uncompressed_size > max_size) return CodecError::uncompressed_too_large;
  if (type == proto::NONE) {
    // Producers leave uncompressed_size unset (0) on uncompressed messages: there is nothing to
    // check it against, only the limit.
    if (input.size() > max_size) return CodecError::uncompressed_too_large;
    out.assign(chars(input), input.size());
    return {};
  }
  out.resize(uncompressed_size);
  bool ok = false;
  switch (type) {
    case proto::LZ4: ok = decompress_lz4(input, out); break;
    case proto::ZLIB: ok = decompress_zlib(input, out); break;
    case proto::ZSTD: ok = decompress_zstd(input, out); break;
    case proto::SNAPPY: ok = decompress_snappy(input, out); break;
    case proto::NONE: break;
  }
  if (!ok) {
    out.clear();
    return CodecError::corrupt_compressed_data;
  }
  return {};
}

Result<std::span<const std::uint8_t>> uncompressed_payload(const proto::MessageMetadata& metadata,
                                                           std::span<const std::uint8_t> payload,
                                                           std::size_t max_size, std::string& scratch) {
  if (metadata.compression() == proto::NONE) return payload;
  if (auto r = decompress(metadata.compression(), payload, metadata.uncompressed_size(), max_size, scratch); !r.ok()) {
    return r.error();
  }
  return std::span<const std::uint8_t>(reinterpret_cast<const std::uint8_t*>(scratch.data()), scratch.size());
}

}  // namespace mop::pulsar
