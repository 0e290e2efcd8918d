#pragma once
// Sans-I/O Pulsar binary protocol framing: bytes in, parsed commands out, and commands in, bytes
// out. No sockets, no Asio. See README.md for the frame layout.
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>

#include "core/result.hpp"
#include "pulsar/codec/errors.hpp"
#include "pulsar/codec/proto/pulsar_api.pb.h"

namespace mop::pulsar {

// Pulsar's `maxMessageSize` default, and the slack it allows a frame on top of it for the
// command and metadata (a message of exactly max size must still fit in a frame).
inline constexpr std::uint32_t kDefaultMaxMessageSize = 5 * 1024 * 1024;
inline constexpr std::uint32_t kFramePadding = 10 * 1024;
inline constexpr std::uint32_t kDefaultMaxFrameSize = kDefaultMaxMessageSize + kFramePadding;

// Two-byte markers that may follow the command of a payload command.
inline constexpr std::uint16_t kMagicCrc32c = 0x0e01;               // then u32 CRC32C
inline constexpr std::uint16_t kMagicBrokerEntryMetadata = 0x0e02;  // then u32 size + BrokerEntryMetadata

// The highest protocol version this codec understands (proto::ProtocolVersion's last value).
inline constexpr std::int32_t kMaxProtocolVersion = proto::v20;

// Payload commands carry [checksum] metadata and payload after the command.
constexpr bool is_payload_command(proto::BaseCommand::Type t) {
  return t == proto::BaseCommand::SEND || t == proto::BaseCommand::MESSAGE;
}

// One decoded frame. Everything it points to belongs to the FrameReader that returned it and is
// valid until that reader's next feed() or next() call: decode, answer, or copy before then.
struct Frame {
  std::uint32_t size = 0;  // bytes on the wire, including the 4-byte total size field
  const proto::BaseCommand* command = nullptr;

  // Payload commands only (metadata == nullptr otherwise).
  const proto::MessageMetadata* metadata = nullptr;
  // Set when a broker prepended broker entry metadata (MESSAGE to clients that asked for it).
  const proto::BrokerEntryMetadata* broker_entry_metadata = nullptr;
  // Whether the frame carried magic 0x0e01 + CRC32C (clients before protocol v6 send none); when
  // it did, the checksum has been verified.
  bool has_checksum = false;
  std::uint32_t checksum = 0;
  // [u32 metadata size][metadata][payload]: the bytes the checksum covers, and exactly what a
  // broker stores as an entry and sends back in MESSAGE (see encode_payload_command_prefix).
  std::span<const std::uint8_t> metadata_and_payload;
  // The (possibly compressed, possibly batched) payload: the tail of metadata_and_payload.
  std::span<const std::uint8_t> payload;

  bool has_payload() const { return metadata != nullptr; }
};

// Splits a byte stream into frames and parses their command and metadata. The total size is
// checked against `max_frame_size` (the whole frame, size field included, as Pulsar counts it) as
// soon as its 4 bytes are in, before any of the frame is waited for: a peer cannot make us
// allocate what it merely claims.
//
// Errors leave the reader unusable (the caller closes the connection), except
// `checksum_mismatch`: that frame is consumed, command() holds its command so the server can
// answer SEND_ERROR(ChecksumError) as Pulsar does, and next() carries on with the next frame.
//
// Not thread-safe: one reader per connection, used by the connection's thread.
class FrameReader {
public:
  // Capped at 2 GiB - 1: protobuf parses at most that many bytes at once.
  explicit FrameReader(std::uint32_t max_frame_size = kDefaultMaxFrameSize)
      : max_frame_size_(max_frame_size < 0x7FFFFFFFu ? max_frame_size : 0x7FFFFFFFu) {}

  // Appends bytes read from the socket.
  void feed(std::span<const std::uint8_t> bytes);
  // The next complete frame, std::nullopt when more bytes are needed, or an error.
  Result<std::optional<Frame>> next();
  // Bytes fed but not yet returned as frames.
  std::size_t buffered() const { return buf_.size() - pos_; }
  // The command of the last frame whose command parsed (also after checksum_mismatch).
  const proto::BaseCommand& command() const { return command_; }
  std::uint32_t max_frame_size() const { return max_frame_size_; }

private:
  Result<void> decode(const std::uint8_t* p, std::uint32_t n, Frame& frame);

  std::uint32_t max_frame_size_;
  std::string buf_;
  std::size_t pos_ = 0;       // first unconsumed byte
  std::size_t expected_ = 0;  // size of the incomplete frame at pos_, once its size is known
  // Reused frame after frame: protobuf keeps sub-message and string storage across Clear(), so a
  // steady stream of commands does not allocate per frame.
  proto::BaseCommand command_;
  proto::MessageMetadata metadata_;
  proto::BrokerEntryMetadata broker_entry_metadata_;
};

// Parses [u32 metadata size][MessageMetadata][payload] (Frame::metadata_and_payload, or an entry
// read back from storage). `payload` is set to the span after the metadata.
Result<void> decode_metadata_and_payload(std::span<const std::uint8_t> bytes, proto::MessageMetadata& metadata,
                                   std::span<const std::uint8_t>& payload);

// --- encoding: each function appends one whole frame (or its prefix) to `out` ---

// A simple command: [total size][command size][BaseCommand].
void encode_command(const proto::BaseCommand& command, std::string& out);

enum class Checksum { none, crc32c };

// A payload command (SEND, MESSAGE): [total size][command size][BaseCommand]
// [0x0e01][CRC32C][metadata size][MessageMetadata][payload]. Use Checksum::none only for peers
// below protocol v6.
void encode_payload_command(const proto::BaseCommand& command, const proto::MessageMetadata& metadata,
                            std::span<const std::uint8_t> payload, std::string& out,
                            Checksum checksum = Checksum::crc32c);

// Everything of that frame but the payload bytes, so that a shared payload buffer can be written
// to the socket after it without copying. The sizes and the checksum do cover the payload.
void encode_payload_command_header(const proto::BaseCommand& command, const proto::MessageMetadata& metadata,
                                   std::span<const std::uint8_t> payload, std::string& out,
                                   Checksum checksum = Checksum::crc32c);

// Everything of a payload command frame that precedes `metadata_and_payload` (already encoded as
// [u32 metadata size][metadata][payload], e.g. a stored entry): the broker's MESSAGE path, which
// re-sends stored bytes untouched. `crc` is their CRC32C (a stored Frame::checksum, or
// crc32c(metadata_and_payload)); std::nullopt omits the checksum.
void encode_payload_command_prefix(const proto::BaseCommand& command, std::size_t metadata_and_payload_size,
                                   std::optional<std::uint32_t> crc, std::string& out);

}  // namespace mop::pulsar
