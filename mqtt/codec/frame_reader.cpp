#include "mqtt/codec/codec.hpp"

#include "mqtt/codec/buffer_pool.hpp"

#include <algorithm>

namespace mop::mqtt {
namespace {
// A buffer that once held a huge packet keeps its capacity; give memory back once it is mostly
// idle so that one large message does not pin megabytes per connection for its lifetime. Set
// above what ordinary socket reads (up to 64 KiB) grow it to, so that bursty traffic of small
// packets never shrinks and regrows the buffer on every read.
constexpr std::size_t kShrinkAbove = 256 * 1024;
// A large frame's own buffer is reserved for its whole size, or for this much beyond what has
// arrived when the frame is larger (it grows as the rest comes): a header that merely claims
// megabytes gets no more than this.
constexpr std::uint64_t kReserveAhead = 64 * 1024;
}  // namespace

void FrameReader::feed(std::span<const std::uint8_t> bytes) {
  if (large_) {
    const std::size_t take = std::min(bytes.size(), large_total_ - large_->size());
    large_->append(reinterpret_cast<const char*>(bytes.data()), take);
    bytes = bytes.subspan(take);
    if (large_->size() < large_total_) return;
    // Complete. It comes after whatever buf_ still holds unconsumed and before `bytes`.
    if (pos_ == buf_.size() && !complete_large_) {
      complete_large_ = std::move(large_);
      complete_large_header_ = large_header_;
    } else {
      // Frames before it were not taken yet (the protocol paused between packets): keep the
      // order by moving it into the shared buffer behind them (rare: one more copy).
      buf_.append(*large_);
    }
    large_.reset();
    large_total_ = large_header_ = 0;
    if (bytes.empty()) return;
  }
  // Compacting here, not in next(), keeps the bodies of frames returned since the last feed valid
  // and moves at most one partial frame per socket read.
  if (pos_ == buf_.size()) {
    buf_.clear();
  } else if (pos_ != 0) {
    buf_.erase(0, pos_);
  }
  pos_ = 0;
  if (buf_.capacity() > kShrinkAbove && buf_.size() + bytes.size() < buf_.capacity() / 4) {
    buf_.shrink_to_fit();
  }
  if (buf_.empty()) {
    // The complete frames of this read go to the shared buffer, and a large frame they do not
    // complete straight to a buffer of its own: its bytes are copied once, not first into the
    // shared buffer and then out of it (a 64 KiB PUBLISH rarely starts a socket read).
    std::size_t at = 0;
    while (at < bytes.size()) {
      const auto header = parse_header(bytes.subspan(at));
      if (!header || header->total > max_packet_size_) break;  // more bytes needed, or next() reports it
      if (bytes.size() - at >= header->total) {
        at += static_cast<std::size_t>(header->total);
        continue;
      }
      if (header->total < kOwnBufferFrom) break;
      buf_.append(reinterpret_cast<const char*>(bytes.data()), at);
      start_large(bytes.subspan(at), *header);
      return;
    }
  }
  buf_.append(reinterpret_cast<const char*>(bytes.data()), bytes.size());
}

void FrameReader::start_large(std::span<const std::uint8_t> bytes, const Header& header) {
  large_ = BufferPool::large_frames().take(
      static_cast<std::size_t>(std::min<std::uint64_t>(header.total, bytes.size() + kReserveAhead)));
  large_->append(reinterpret_cast<const char*>(bytes.data()), bytes.size());
  large_total_ = static_cast<std::size_t>(header.total);
  large_header_ = header.size;
}

std::optional<FrameReader::Header> FrameReader::parse_header(std::span<const std::uint8_t> p) {
  std::uint32_t remaining = 0;
  std::size_t len_bytes = 0;
  for (;;) {
    if (len_bytes == 4 || 1 + len_bytes >= p.size()) return std::nullopt;  // malformed (next() says so) or not complete
    const std::uint8_t digit = p[1 + len_bytes];
    remaining |= static_cast<std::uint32_t>(digit & 0x7F) << (7 * len_bytes);
    ++len_bytes;
    if ((digit & 0x80) == 0) break;
  }
  return Header{1 + len_bytes + static_cast<std::uint64_t>(remaining), 1 + len_bytes};
}

Result<std::optional<Frame>> FrameReader::next() {
  // An error leaves pos_ where it was, so every later call reports the same error: after a bad
  // header there is no frame boundary to resume at, and the caller closes the connection.
  if (complete_large_) {
    Frame frame;
    frame.first_byte = static_cast<std::uint8_t>((*complete_large_)[0]);
    frame.body = std::span<const std::uint8_t>(
        reinterpret_cast<const std::uint8_t*>(complete_large_->data()) + complete_large_header_,
        complete_large_->size() - complete_large_header_);
    frame.owner = std::move(complete_large_);
    complete_large_.reset();
    return std::optional<Frame>{std::move(frame)};
  }
  // While a large frame is being collected, buf_ holds only whole frames that came before it.
  const std::size_t avail = buf_.size() - pos_;
  if (avail < 2) return std::optional<Frame>{};

  const auto* p = reinterpret_cast<const std::uint8_t*>(buf_.data()) + pos_;
  std::uint32_t remaining = 0;
  std::size_t len_bytes = 0;
  for (;;) {
    if (len_bytes == 4) return CodecError::malformed_remaining_length;
    if (1 + len_bytes >= avail) return std::optional<Frame>{};  // length not complete yet
    const std::uint8_t digit = p[1 + len_bytes];
    remaining |= static_cast<std::uint32_t>(digit & 0x7F) << (7 * len_bytes);
    ++len_bytes;
    if ((digit & 0x80) == 0) break;
  }

  const std::uint64_t total = 1 + len_bytes + static_cast<std::uint64_t>(remaining);
  if (total > max_packet_size_) return CodecError::packet_too_large;
  if (avail < total) {
    if (total >= kOwnBufferFrom && !large_) {
      // Everything after pos_ belongs to this frame (its start came after other bytes that were
      // still buffered): it moves to the frame's own buffer, and the reads to come fill that
      // buffer (feed).
      start_large(std::span<const std::uint8_t>(p, avail), Header{total, 1 + len_bytes});
      pos_ = buf_.size();
    }
    return std::optional<Frame>{};
  }

  Frame frame;
  frame.first_byte = p[0];
  frame.body = std::span<const std::uint8_t>(p + 1 + len_bytes, remaining);
  pos_ += static_cast<std::size_t>(total);
  return std::optional<Frame>{frame};
}

}  // namespace mop::mqtt
