#pragma once
// Why the Pulsar codec refused bytes. The server maps these to the wire in one place:
// `checksum_mismatch` on SEND is answered with SEND_ERROR(ChecksumError) and the connection stays
// open (as Pulsar brokers do); every other framing error closes the connection, because after it
// there is no trustworthy frame boundary or command to answer.
#include <system_error>

namespace mop::pulsar {

enum class CodecError {
  // framing
  frame_too_large = 1,      // total size above the configured maximum (checked before buffering)
  truncated,                // a size field points past the end of its frame
  bad_command,              // BaseCommand does not parse, lacks a required field or the body its type names,
                            // or a non-payload command has bytes after it
  checksum_mismatch,        // CRC32C over metadata + payload differs from the frame's; frame consumed
  bad_metadata,             // MessageMetadata (or BrokerEntryMetadata) does not parse
  // payload contents
  bad_batch,                // batched payload does not split into num_messages_in_batch messages
  unsupported_compression,  // a CompressionType this build does not know
  corrupt_compressed_data,  // the compressed payload does not decompress to uncompressed_size bytes
  uncompressed_too_large,   // uncompressed_size above the limit (checked before allocating)
};

const std::error_category& codec_category() noexcept;
inline std::error_code make_error_code(CodecError e) noexcept { return {static_cast<int>(e), codec_category()}; }

}  // namespace mop::pulsar

template <>
struct std::is_error_code_enum<mop::pulsar::CodecError> : std::true_type {};
