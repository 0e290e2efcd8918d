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
  return true;
}

}  // namespace mop::broker
