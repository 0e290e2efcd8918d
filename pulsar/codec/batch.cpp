#include "pulsar/codec/batch.hpp"

#include <algorithm>
#include <cassert>

#include "pulsar/codec/wire.hpp"

namespace mop::pulsar {

Result<bool> BatchReader::next(proto::SingleMessageMetadata& metadata, std::span<const std::uint8_t>& payload) {
  if (left_ == 0) {
    // Pulsar readers stop at the count and would ignore extra bytes; we refuse them, because
    // nothing a producer sends has them and dropping bytes silently would hide a broken producer.
    if (!rest_.empty()) return CodecError::bad_batch;
    return false;
  }
  if (rest_.size() < 4) return CodecError::bad_batch;
  const std::uint32_t size = wire::get_be32(rest_.data());
  if (size > rest_.size() - 4) return CodecError::bad_batch;
  metadata.Clear();
  if (!wire::parse(metadata, rest_.data() + 4, size)) return CodecError::bad_batch;
  rest_ = rest_.subspan(4 + size);
  // payload_size is signed on the wire; a negative one is as broken as one past the end.
  if (metadata.payload_size() < 0 || static_cast<std::uint32_t>(metadata.payload_size()) > rest_.size()) {
    return CodecError::bad_batch;
  }
  payload = rest_.first(static_cast<std::size_t>(metadata.payload_size()));
  rest_ = rest_.subspan(payload.size());
  --left_;
  return true;
}

Result<void> parse_batch(std::span<const std::uint8_t> batch, std::int32_t count, std::vector<BatchMessage>& out) {
  out.clear();
  if (count < 0) return CodecError::bad_batch;
  // The count comes from the wire: reserve no more than the bytes could possibly hold (every
  // message takes at least its 4-byte size and a 2-byte payload_size field).
  out.reserve(std::min<std::size_t>(static_cast<std::size_t>(count), batch.size() / 6));
  BatchReader reader(batch, count);
  for (;;) {
    BatchMessage m;
    auto more = reader.next(m.metadata, m.payload);
    if (!more.ok()) return more.error();
    if (!*more) return {};
    out.push_back(std::move(m));
  }
}

void append_batch_message(proto::SingleMessageMetadata& metadata, std::span<const std::uint8_t> payload,
                          std::string& batch) {
  assert(payload.size() <= 0x7FFFFFFF);
  metadata.set_payload_size(static_cast<std::int32_t>(payload.size()));
  const std::size_t size = metadata.ByteSizeLong();
  std::uint8_t* p = wire::grow(batch, 4 + size);
  wire::put_be32(p, static_cast<std::uint32_t>(size));
  metadata.SerializeWithCachedSizesToArray(p + 4);
  batch.append(reinterpret_cast<const char*>(payload.data()), payload.size());
}

}  // namespace mop::pulsar
