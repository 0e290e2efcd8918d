#include "pulsar/codec/codec.hpp"
#include "pulsar/codec/crc32c.hpp"
#include "pulsar/codec/wire.hpp"

namespace mop::pulsar {
namespace {

using proto::BaseCommand;

// Same policy as the MQTT reader: a buffer that once held a large frame gives its memory back when
// mostly idle, but ordinary socket reads (up to 64 KiB) never make it shrink and regrow.
constexpr std::size_t kShrinkAbove = 256 * 1024;

// A command whose type names a body we define must carry that body: checking here spares every
// handler the check, and a handler can never read a default-constructed body by mistake. PING and
// PONG bodies are empty, so their absence carries no risk and some clients omit them. Types whose
// bodies we do not define (transactions, topic migration, ...) pass, so the server can answer them.
bool has_body(const BaseCommand& c) {
  switch (c.type()) {
    case BaseCommand::CONNECT: return c.has_connect();
    case BaseCommand::CONNECTED: return c.has_connected();
    case BaseCommand::SUBSCRIBE: return c.has_subscribe();
    case BaseCommand::PRODUCER: return c.has_producer();
    case BaseCommand::SEND: return c.has_send();
    case BaseCommand::SEND_RECEIPT: return c.has_send_receipt();
    case BaseCommand::SEND_ERROR: return c.has_send_error();
    case BaseCommand::MESSAGE: return c.has_message();
    case BaseCommand::ACK: return c.has_ack();
    case BaseCommand::FLOW: return c.has_flow();
    case BaseCommand::UNSUBSCRIBE: return c.has_unsubscribe();
    case BaseCommand::SUCCESS: return c.has_success();
    case BaseCommand::ERROR: return c.has_error();
    case BaseCommand::CLOSE_PRODUCER: return c.has_close_producer();
    case BaseCommand::CLOSE_CONSUMER: return c.has_close_consumer();
    case BaseCommand::PRODUCER_SUCCESS: return c.has_producer_success();
    case BaseCommand::REDELIVER_UNACKNOWLEDGED_MESSAGES: return c.has_redeliverunacknowledgedmessages();
    case BaseCommand::PARTITIONED_METADATA: return c.has_partitionmetadata();
    case BaseCommand::PARTITIONED_METADATA_RESPONSE: return c.has_partitionmetadataresponse();
    case BaseCommand::LOOKUP: return c.has_lookuptopic();
    case BaseCommand::LOOKUP_RESPONSE: return c.has_lookuptopicresponse();
    case BaseCommand::REACHED_END_OF_TOPIC: return c.has_reachedendoftopic();
    case BaseCommand::SEEK: return c.has_seek();
    case BaseCommand::GET_LAST_MESSAGE_ID: return c.has_getlastmessageid();
    case BaseCommand::GET_LAST_MESSAGE_ID_RESPONSE: return c.has_getlastmessageidresponse();
    case BaseCommand::ACTIVE_CONSUMER_CHANGE: return c.has_active_consumer_change();
    case BaseCommand::GET_TOPICS_OF_NAMESPACE: return c.has_gettopicsofnamespace();
    case BaseCommand::GET_TOPICS_OF_NAMESPACE_RESPONSE: return c.has_gettopicsofnamespaceresponse();
    case BaseCommand::GET_SCHEMA: return c.has_getschema();
    case BaseCommand::GET_SCHEMA_RESPONSE: return c.has_getschemaresponse();
    case BaseCommand::AUTH_CHALLENGE: return c.has_authchallenge();
    case BaseCommand::AUTH_RESPONSE: return c.has_authresponse();
    case BaseCommand::ACK_RESPONSE: return c.has_ackresponse();
    case BaseCommand::GET_OR_CREATE_SCHEMA: return c.has_getorcreateschema();
    case BaseCommand::GET_OR_CREATE_SCHEMA_RESPONSE: return c.has_getorcreateschemaresponse();
    case BaseCommand::WATCH_TOPIC_LIST: return c.has_watchtopiclist();
    case BaseCommand::WATCH_TOPIC_LIST_SUCCESS: return c.has_watchtopiclistsuccess();
    case BaseCommand::WATCH_TOPIC_UPDATE: return c.has_watchtopicupdate();
    case BaseCommand::WATCH_TOPIC_LIST_CLOSE: return c.has_watchtopiclistclose();
    default: return true;
  }
}

}  // namespace

void FrameReader::feed(std::span<const std::uint8_t> bytes) {
  // Compacting here, not in next(), moves at most one partial frame per socket read.
  if (pos_ == buf_.size()) {
    buf_.clear();
  } else if (pos_ != 0) {
    buf_.erase(0, pos_);
  }
  pos_ = 0;
  if (buf_.capacity() > kShrinkAbove && buf_.size() + bytes.size() < buf_.capacity() / 4 &&
      expected_ < buf_.capacity() / 4) {
    buf_.shrink_to_fit();
  }
  // A large frame arrives in many reads: size the buffer for it once (its size passed the limit
  // check in next()) instead of letting append() double it repeatedly.
  if (expected_ > buf_.capacity()) buf_.reserve(expected_);
  buf_.append(reinterpret_cast<const char*>(bytes.data()), bytes.size());
}

Result<std::optional<Frame>> FrameReader::next() {
  // A fatal error leaves pos_ where it was, so every later call reports it again: past a bad
  // frame there is no boundary to resume at, and the caller closes the connection.
  const std::size_t avail = buf_.size() - pos_;
  if (avail < 4) return std::optional<Frame>{};
  const auto* p = reinterpret_cast<const std::uint8_t*>(buf_.data()) + pos_;
  const std::uint64_t frame_size = 4 + std::uint64_t{wire::get_be32(p)};
  if (frame_size > max_frame_size_) return CodecError::frame_too_large;
  if (avail < frame_size) {
    expected_ = static_cast<std::size_t>(frame_size);
    return std::optional<Frame>{};
  }
  expected_ = 0;

  Frame frame;
  frame.size = static_cast<std::uint32_t>(frame_size);
  const auto decoded = decode(p + 4, frame.size - 4, frame);
  if (!decoded.ok() && decoded.error() != CodecError::checksum_mismatch) return decoded.error();
  pos_ += frame.size;  // the frame is consumed, also after a checksum mismatch
  if (!decoded.ok()) return decoded.error();
  return std::optional<Frame>{frame};
}

Result<void> FrameReader::decode(const std::uint8_t* p, std::uint32_t n, Frame& frame) {
  if (n < 4) return CodecError::truncated;
  const std::uint32_t command_size = wire::get_be32(p);
  if (command_size > n - 4) return CodecError::truncated;
  // Parse fails on malformed protobuf and on missing required fields (incl. an unknown type).
  command_.Clear();
  if (!wire::parse(command_, p + 4, command_size) || !has_body(command_)) {
    return CodecError::bad_command;
  }
  frame.command = &command_;

  const std::uint8_t* q = p + 4 + command_size;
  std::uint32_t left = n - 4 - command_size;
  if (!is_payload_command(command_.type())) {
    return left == 0 ? Result<void>{} : Result<void>(CodecError::bad_command);
  }

  if (left >= 2 && wire::get_be16(q) == kMagicBrokerEntryMetadata) {
    if (left < 6) return CodecError::truncated;
    const std::uint32_t size = wire::get_be32(q + 2);
    if (size > left - 6) return CodecError::truncated;
    broker_entry_metadata_.Clear();
    if (!wire::parse(broker_entry_metadata_, q + 6, size)) return CodecError::bad_metadata;
    frame.broker_entry_metadata = &broker_entry_metadata_;
    q += 6 + size;
    left -= 6 + size;
  }
  // Without the magic, the bytes are the metadata size of a client older than protocol v6. A
  // metadata size whose top half is 0x0e01 would mean more than 224 MiB of metadata, far above
  // any frame limit a broker runs with, so the two readings cannot be confused.
  if (left >= 2 && wire::get_be16(q) == kMagicCrc32c) {
    if (left < 6) return CodecError::truncated;
    frame.has_checksum = true;
    frame.checksum = wire::get_be32(q + 2);
    q += 6;
    left -= 6;
  }
  frame.metadata_and_payload = std::span<const std::uint8_t>(q, left);
  // Verify before parsing: metadata that fails its checksum is not worth trusting to the parser.
  if (frame.has_checksum && crc32c(frame.metadata_and_payload) != frame.checksum) {
    return CodecError::checksum_mismatch;
  }
  if (auto r = decode_metadata_and_payload(frame.metadata_and_payload, metadata_, frame.payload); !r.ok()) {
    return r.error();
  }
  frame.metadata = &metadata_;
  return {};
}

Result<void> decode_metadata_and_payload(std::span<const std::uint8_t> bytes, proto::MessageMetadata& metadata,
                                   std::span<const std::uint8_t>& payload) {
  if (bytes.size() < 4) return CodecError::truncated;
  const std::uint32_t size = wire::get_be32(bytes.data());
  if (size > bytes.size() - 4) return CodecError::truncated;
  metadata.Clear();
  if (!wire::parse(metadata, bytes.data() + 4, size)) return CodecError::bad_metadata;
  payload = bytes.subspan(4 + size);
  return {};
}

}  // namespace mop::pulsar
