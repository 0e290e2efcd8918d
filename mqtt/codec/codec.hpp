#pragma once
// Sans-I/O MQTT codec: bytes in, packets out, and packets in, bytes out. No sockets, no Asio.
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>

#include "core/result.hpp"
#include "mqtt/codec/errors.hpp"
#include "mqtt/codec/packets.hpp"

namespace mop::mqtt {

inline constexpr std::uint32_t kMaxRemainingLength = 268'435'455;  // 256 MiB - 1, the wire's limit

// One complete packet as framed on the wire: the first byte of the fixed header and the
// `remaining length` bytes that follow it. `body` points into the FrameReader's buffer and is
// valid until the next call to FrameReader::feed/next.
struct Frame {
  std::uint8_t first_byte = 0;
  std::span<const std::uint8_t> body;
  // Set when the frame had a buffer of its own (a large frame, FrameReader): `body` lies in it,
  // and a decoder may keep parts of it (a PUBLISH's payload) as long as it likes, uncopied.
  std::shared_ptr<const std::string> owner;
  PacketType type() const { return static_cast<PacketType>(first_byte >> 4); }
  std::uint8_t flags() const { return first_byte & 0x0F; }
};

// Splits a byte stream into frames. Checks the remaining length against `max_packet_size`
// (the whole packet: fixed header + remaining length) as soon as the length is known, before it
// buffers the body, so a peer cannot make us allocate what it merely claims.
class FrameReader {
public:
  explicit FrameReader(std::uint32_t max_packet_size) : max_packet_size_(max_packet_size) {}

  // A frame of this many bytes or more that a read did not bring whole is collected in a buffer
  // of its own, which the frame then carries (Frame::owner): its body is copied once, from the
  // socket's read into that buffer, and neither moved by compaction nor copied into a Payload.
  static constexpr std::size_t kOwnBufferFrom = 16 * 1024;

  // Appends bytes read from the socket.
  void feed(std::span<const std::uint8_t> bytes);
  // The next complete frame, std::nullopt when more bytes are needed, or an error
  // (malformed_remaining_length, packet_too_large). After an error the reader is unusable.
  Result<std::optional<Frame>> next();
  std::size_t buffered() const {
    return buf_.size() - pos_ + (large_ ? large_->size() : 0) + (complete_large_ ? complete_large_->size() : 0);
  }
  // Frees the buffer once every byte was taken (frames returned before are invalid then), so a
  // connection that waits for its next packet holds no read buffer.
  void release_if_empty() {
    if (pos_ == buf_.size()) {
      buf_ = std::string();
      pos_ = 0;
    }
  }

private:
  std::uint32_t max_packet_size_;
  std::string buf_;
  std::size_t pos_ = 0;  // start of the first unconsumed byte
  struct Header {
    std::uint64_t total;  // the whole frame's size
    std::size_t size;     // its fixed header's
  };
  // The fixed header at the start of `p`; std::nullopt when it is not complete or malformed.
  static std::optional<Header> parse_header(std::span<const std::uint8_t> p);
  void start_large(std::span<const std::uint8_t> bytes, const Header& header);

  // The large frame being collected (kOwnBufferFrom): its bytes so far, its whole size and the
  // size of its fixed header. It comes after what buf_ holds unconsumed (whole frames only).
  std::shared_ptr<std::string> large_;
  std::size_t large_total_ = 0;
  std::size_t large_header_ = 0;
  // A large frame complete but not taken yet: before what buf_ holds unconsumed.
  std::shared_ptr<std::string> complete_large_;
  std::size_t complete_large_header_ = 0;
};

// Decodes a frame sent by a client. `version` is the connection's negotiated protocol version;
// for CONNECT (the first packet) it is ignored and the version is read from the packet.
// Applies every rule of the spec that can be checked on the packet alone.
Result<Packet> decode_client_packet(const Frame& frame, ProtocolVersion version);

// Decodes a frame sent by a server (for our own client code: bench, tests).
Result<Packet> decode_server_packet(const Frame& frame, ProtocolVersion version);

// Appends the encoding of `packet` to `out`.
void encode(const Packet& packet, ProtocolVersion version, std::string& out);

// Appends only the fixed header and variable header of a PUBLISH (everything but the payload)
// so that the payload buffer can be written to the socket without copying it.
void encode_publish_header(const Publish& publish, ProtocolVersion version, std::string& out);

// Size of the whole encoded packet, used for maximum packet size checks.
std::size_t encoded_size(const Publish& publish, ProtocolVersion version);

// UTF-8 rules of MQTT strings [MQTT-1.5.3-1, -2]: well-formed, no surrogates, no U+0000.
bool valid_mqtt_utf8(std::string_view s);

}  // namespace mop::mqtt
