#pragma once
// Ledger: a topic's append-only log, Pulsar's managed ledger reduced to what the broker needs.
// Entries are addressed as MessageId{ledger, entry}; a topic uses one ledger id and contiguous
// entry ids, so the position after `p` is always {p.ledger, p.entry + 1} (Pulsar rolls ledgers
// over for BookKeeper's sake; our storage has no reason to, and cursors rely on contiguity).
//
// The seam for storage/: InMemoryLedger today, a RocksDB-backed ledger with issue 4. Owned by
// the thread that owns its Topic; every method, and every append completion, runs there.
#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <system_error>

#include "broker/entry.hpp"

namespace mop::broker {

using AppendCallback = std::function<void(std::error_code, MessageId)>;

class Ledger {
public:
  virtual ~Ledger() = default;

  virtual std::uint64_t ledger_id() const = 0;

  // Assigns the next position and stores the message. `done` runs on the owner thread once the
  // entry is durable, or with an error; completions run in append order. An entry becomes
  // readable (and end() moves past it) just before its completion runs. An implementation
  // with nothing to wait for (InMemoryLedger) may complete inline: callers that must not be
  // re-entered post their own work. Destroying a ledger drops completions still pending.
  virtual void append(MessagePtr message, AppendCallback done) = 0;

  // Oldest position still stored; equal to end() when nothing is stored.
  virtual MessageId first() const = 0;
  // One past the last confirmed entry: where the next entry will be readable.
  virtual MessageId end() const = 0;
  // The entry at `id`, or nullopt if it was trimmed or does not exist yet. Synchronous: the
  // RocksDB ledger will keep a tail cache so that live dispatch does not touch the disk.
  virtual std::optional<Entry> read(MessageId id) const = 0;
  // Drops every entry below `id` (every subscription has acknowledged them).
  virtual void trim_before(MessageId id) = 0;
  virtual std::size_t entry_count() const = 0;

  static MessageId next(MessageId id) { return {id.ledger, id.entry + 1, -1}; }
};

}  // namespace mop::broker
