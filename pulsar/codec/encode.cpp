#include <cassert>
#include <limits>

#include "pulsar/codec/codec.hpp"
#include "pulsar/codec/crc32c.hpp"
#include "pulsar/codec/wire.hpp"

namespace mop::pulsar {
namespace {

// A missing required field would make the peer's parser reject the whole frame (and close the
// connection); catch our own such bugs in debug builds, where the walk over the message is cheap
// enough.
template <typename Message>
void assert_complete([[maybe_unused]] const Message& m) {
  assert(m.IsInitialized() && "protobuf message lacks a required field");
}

std::uint32_t checked_u32(std::size_t n) {
  assert(n <= std::numeric_limits<std::uint32_t>::max());
  return static_cast<std::uint32_t>(n);
}

// Appends [total size][command size][command]; the total size also counts the `extra` bytes that
// the caller appends (or writes to the socket) after it.
void put_command_part(const proto::BaseCommand& command, std::size_t extra, std::string& out) {
  assert_complete(command);
  const std::size_t command_size = command.ByteSizeLong();
  std::uint8_t* p = wire::grow(out, 8 + command_size);
  wire::put_be32(p, checked_u32(4 + command_size + extra));
  wire::put_be32(p + 4, checked_u32(command_size));
  command.SerializeWithCachedSizesToArray(p + 8);
}

}  // namespace

void encode_command(const proto::BaseCommand& command, std::string& out) { put_command_part(command, 0, out); }

void encode_payload_command_prefix(const proto::BaseCommand& command, std::size_t metadata_and_payload_size,
                                   std::optional<std::uint32_t> crc, std::string& out) {
  const std::size_t checksum_part = crc ? 6 : 0;
  put_command_part(command, checksum_part + metadata_and_payload_size, out);
  if (crc) {
    std::uint8_t* p = wire::grow(out, 6);
    wire::put_be16(p, kMagicCrc32c);
    wire::put_be32(p + 2, *crc);
  }
}

void encode_payload_command_header(const proto::BaseCommand& command, const proto::MessageMetadata& metadata,
                                   std::span<const std::uint8_t> payload, std::string& out, Checksum checksum) {
  assert_complete(metadata);
  const std::size_t metadata_size = metadata.ByteSizeLong();
  const std::size_t checksum_part = checksum == Checksum::crc32c ? 6 : 0;
  put_command_part(command, checksum_part + 4 + metadata_size + payload.size(), out);

  // Write the checksum slot first and fill it in once the metadata it covers is in place.
  const std::size_t checksum_at = out.size();
  std::uint8_t* p = wire::grow(out, checksum_part + 4 + metadata_size);
  if (checksum_part) {
    wire::put_be16(p, kMagicCrc32c);
    p += 6;
  }
  wire::put_be32(p, checked_u32(metadata_size));
  metadata.SerializeWithCachedSizesToArray(p + 4);
  if (checksum_part) {
    const std::uint32_t crc = crc32c_extend(crc32c({p, 4 + metadata_size}), payload);
    wire::put_be32(reinterpret_cast<std::uint8_t*>(out.data()) + checksum_at + 2, crc);
  }
}

void encode_payload_command(const proto::BaseCommand& command, const proto::MessageMetadata& metadata,
                            std::span<const std::uint8_t> payload, std::string& out, Checksum checksum) {
  encode_payload_command_header(command, metadata, payload, out, checksum);
  out.append(reinterpret_cast<const char*>(payload.data()), payload.size());
}

}  // namespace mop::pulsar
