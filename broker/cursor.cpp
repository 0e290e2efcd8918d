#include "broker/cursor.hpp"

namespace mop::broker {

Cursor::Cursor(MessageId floor, const std::set<MessageId>& acked) : floor_(normalize(floor)), read_(floor_) {
  for (const MessageId& id : acked) {
    const MessageId n = normalize(id);
    if (!(n < floor_)) acked_.insert(n);
  }
  while (!acked_.empty() && *acked_.begin() == floor_) {
    acked_.erase(acked_.begin());
    floor_ = Ledger::next(floor_);
  }
  read_ = floor_;
  assert(acked_.empty() || floor_ < *acked_.begin());
}

std::optional<MessageId> Cursor::mark_delete_position() const {
  if (floor_.entry == 0) return std::nullopt;
  return MessageId{floor_.ledger, floor_.entry - 1, -1};
}

bool Cursor::is_acked(MessageId id) const {
  id = normalize(id);
  return id < floor_ || acked_.contains(id);
}

bool Cursor::ack(MessageId id) {
  id = normalize(id);
  if (id < floor_) return false;
  batch_acked_.erase(id);
  if (id != floor_) {
    acked_.insert(id);
    return false;
  }
  floor_ = Ledger::next(floor_);
  // Entries acknowledged out of order join the prefix once the gap before them closes.
  while (!acked_.empty() && *acked_.begin() == floor_) {
    acked_.erase(acked_.begin());
    floor_ = Ledger::next(floor_);
  }
  if (read_ < floor_) read_ = floor_;
  assert((acked_.empty() || floor_ < *acked_.begin()) && "an individual ack at or below the floor");
  batch_acked_.erase(batch_acked_.begin(), batch_acked_.lower_bound(floor_));
  return true;
}

bool Cursor::ack_indexes(MessageId entry, std::uint32_t count, const BatchBits& indexes) {
  entry = normalize(entry);
  if (is_acked(entry)) return false;
  BatchBits& bits = batch_acked_[entry];
  const std::size_t words = (count + 63) / 64;
  bits.resize(words, 0);
  for (std::size_t w = 0; w < words && w < indexes.size(); ++w) bits[w] |= indexes[w];
  if (count % 64 != 0) bits.back() &= (std::uint64_t{1} << (count % 64)) - 1;  // indexes past the batch do not count
  bool all = true, none = true;
  for (std::size_t w = 0; w < words; ++w) {
    const std::uint64_t full = (w + 1 == words && count % 64 != 0) ? (std::uint64_t{1} << (count % 64)) - 1 : ~std::uint64_t{0};
    all = all && bits[w] == full;
    none = none && bits[w] == 0;
  }
  if (none) {
    batch_acked_.erase(entry);
    return false;
  }
  if (!all) return false;
  batch_acked_.erase(entry);
  return ack(entry);
}

const Cursor::BatchBits* Cursor::batch_acked(MessageId entry) const {
  const auto it = batch_acked_.find(normalize(entry));
  return it == batch_acked_.end() ? nullptr : &it->second;
}

}  // namespace mop::broker
