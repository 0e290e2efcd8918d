#pragma once
// Payload compression as Pulsar clients apply it: the whole payload (a batch is compressed as one
// unit) with MessageMetadata::compression, and MessageMetadata::uncompressed_size giving the size
// to decompress into (LZ4 and snappy raw formats need it; for all types we check the result
// against it).
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>

#include "core/result.hpp"
#include "pulsar/codec/errors.hpp"
#include "pulsar/codec/proto/pulsar_api.pb.h"

namespace mop::pulsar {

// Appends `input` compressed with `type` to `out`. unsupported_compression for unknown types.
Result<void> compress(proto::CompressionType type, std::span<const std::uint8_t> input, std::string& out);

// Replaces the contents of `out` with `input` decompressed. The result must be exactly
// `uncompressed_size` bytes, which is checked against `max_size` before anything is allocated
// (uncompressed_too_large); corrupt or short input is corrupt_compressed_data, never a crash.
// NONE copies `input` (uncompressed_size is not checked: producers leave it 0 then).
Result<void> decompress(proto::CompressionType type, std::span<const std::uint8_t> input, std::uint32_t uncompressed_size,
                  std::size_t max_size, std::string& out);

// The uncompressed payload of a message: `payload` itself when metadata says NONE (no copy), else
// a span over `scratch`, into which it was decompressed.
Result<std::span<const std::uint8_t>> uncompressed_payload(const proto::MessageMetadata& metadata,
                                                           std::span<const std::uint8_t> payload,
                                                           std::size_t max_size, std::string& scratch);

}  // namespace mop::pulsar
