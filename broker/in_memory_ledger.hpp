#pragma once
// InMemoryLedger: the Ledger of a topic kept only in memory (tests, and standalone until
// issue 4 brings storage). Owned by the thread that owns its Topic.
#include <deque>

#include "broker/ledger.hpp"

namespace mop::broker {

class InMemoryLedger final : public Ledger {
public:
  explicit InMemoryLedger(std::uint64_t ledger_id) : ledger_id_(ledger_id) {}

  std::uint64_t ledger_id() const override { return ledger_id_; }
  // Completes inline: memory is as durable as it gets.
  void append(MessagePtr message, AppendCallback done) override;
  MessageId first() const override { return {ledger_id_, first_entry_, -1}; }
  MessageId end() const override { return {ledger_id_, first_entry_ + entries_.size(), -1}; }
  std::optional<Entry> read(MessageId id) const override;
  void trim_before(MessageId id) override;
  std::size_t entry_count() const override { return entries_.size(); }

private:
  std::uint64_t ledger_id_;
  // Entry id of entries_.front(); entry ids are never reused after a trim.
  std::uint64_t first_entry_ = 0;
  std::deque<MessagePtr> entries_;
};

}  // namespace mop::broker
