#include "pulsar/codec/errors.hpp"

#include <string>

namespace mop::pulsar {
namespace {

// Messages say what was wrong with the bytes, so a log line of a closed connection tells the
// operator (or a client's author) which part of the frame layout the peer got wrong.
class CodecCategory final : public std::error_category {
public:
  const char* name() const noexcept override { return "pulsar_codec"; }
  std::string message(int ev) const override {
    switch (static_cast<CodecError>(ev)) {
      case CodecError::frame_too_large:
        return "frame larger than the maximum frame size (max message size + 10 KiB)";
      case CodecError::truncated:
        return "a size field of the frame points past the end of the frame";
      case CodecError::bad_command:
        return "BaseCommand does not parse, lacks a required field or the body its type names, or "
               "has trailing bytes";
      case CodecError::checksum_mismatch:
        return "CRC32C checksum over metadata and payload does not match the frame's checksum";
      case CodecError::bad_metadata:
        return "message metadata does not parse";
      case CodecError::bad_batch:
        return "batched payload does not split into num_messages_in_batch messages";
      case CodecError::unsupported_compression:
        return "unknown compression type";
      case CodecError::corrupt_compressed_data:
        return "compressed payload does not decompress to uncompressed_size bytes";
      case CodecError::uncompressed_too_large:
        return "uncompressed_size larger than the maximum message size";
    }
    return "unknown pulsar codec error " + std::to_string(ev);
  }
};

}  // namespace

const std::error_category& codec_category() noexcept {
  static const CodecCategory category;
  return category;
}

}  // namespace mop::pulsar
