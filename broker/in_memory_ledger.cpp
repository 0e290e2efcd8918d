#include "broker/in_memory_ledger.hpp"

namespace mop::broker {

void InMemoryLedger::append(MessagePtr message, AppendCallback done) {
  const MessageId id = end();
  entries_.push_back(std::move(message));
  if (done) done({}, id);
}

std::optional<Entry> InMemoryLedger::read(MessageId id) const {
  if (id.ledger != ledger_id_ || id.entry < first_entry_) return std::nullopt;
  const auto index = id.entry - first_entry_;
  if (index >= entries_.size()) return std::nullopt;
  return Entry{{ledger_id_, id.entry, -1}, entries_[index]};
}

void InMemoryLedger::trim_before(MessageId id) {
  if (id.ledger < ledger_id_) return;
  // A position in a later ledger (or past the end) trims everything stored; first_entry_ still
  // only moves with the entries removed, so the next append keeps counting from end().
  const std::uint64_t limit = id.ledger > ledger_id_ ? UINT64_MAX : id.entry;
  while (!entries_.empty() && first_entry_ < limit) {
    entries_.pop_front();
    ++first_entry_;
  }
}

}  // namespace mop::broker
