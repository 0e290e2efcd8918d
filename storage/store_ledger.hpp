#pragma once
// StoreLedger: broker::Ledger over a Store, i.e. a topic's managed ledger on disk.
//
// Append: the entry gets the next id at once, joins the tail cache, and is queued to the store;
// its completion runs (posted to the broker's executor) only after the group commit holding it
// is durable. Reads of recent entries (live dispatch) come from the tail cache; older ones
// (backlog after a restart or a slow subscriber) are read from the store in chunks.
//
// A failed append keeps the ledger contiguous (cursors rely on it): it fails that append and
// every later one still pending, rewinds the next id to the failed one, and the next append
// carries a truncate of everything from there, in the same atomic batch, so an entry that made
// it to disk after the failure never survives next to a gap.
//
// Deduplication: a message with a dedup mark carries, in the same atomic batch as its
// entry, the producer's sequence record, so a stored entry and its sequence id are durable
// together. After a failed append, the sequence records written by appends that reached the
// disk but are truncated are put back to the last durable value with that truncate.
//
// Trims are coalesced: at most one trim per topic is in flight; later ones merge into the next.
// Restart: the ledger reopens where the stored log ends (entry ids are never reused).
//
// Threading: owned by the broker's thread (the Topic's), like every Ledger; the executor must be
// that thread's and accept post() from the storage thread.
#include <deque>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <unordered_map>

#include "broker/broker.hpp"
#include "broker/ledger.hpp"
#include "core/executor.hpp"
#include "storage/store.hpp"

namespace mop::storage {

using service::MessagePtr;

class StoreLedger final : public broker::Ledger {
public:
  struct Options {
    std::size_t tail_cache_entries = 4096;  // confirmed entries kept for live dispatch
    // ... and at most this many payload bytes of them: a subscriber that stopped reading keeps
    // its backlog in the store, not in memory (4096 entries of 64 KiB would be 256 MiB). Only
    // confirmed entries count: pending ones stay until their group commit anyway, and counting
    // them evicted what a live subscriber was about to read (storage/README.md, QoS 0 64 KiB).
    std::size_t tail_cache_bytes = 8 * 1024 * 1024;
    std::size_t read_ahead_entries = 256;   // entries fetched per store read of the backlog
  };

  // Opens topic `name`'s ledger: creates its topic record if needed and resumes at the end of
  // its stored log.
  static Result<std::unique_ptr<StoreLedger>, Error> open(Store& store, Executor& executor, const std::string& name,
                                                     Options options);
  static Result<std::unique_ptr<StoreLedger>, Error> open(Store& store, Executor& executor, const std::string& name) {
    return open(store, executor, name, Options{});
  }
  ~StoreLedger() override;

  std::uint64_t ledger_id() const override { return ledger_; }
  void append(MessagePtr message, broker::AppendCallback done) override;
  MessageId first() const override { return {ledger_, first_, -1}; }
  MessageId end() const override { return {ledger_, end_, -1}; }
  std::optional<broker::Entry> read(MessageId id) const override;
  void trim_before(MessageId id) override;
  std::size_t entry_count() const override { return static_cast<std::size_t>(end_ - first_); }

  std::uint64_t topic_id() const { return topic_; }
  // Reads served by the store rather than the caches (metrics, tests).
  std::uint64_t store_reads() const { return store_reads_; }

private:
  StoreLedger(Store& store, Executor& executor, std::uint64_t topic, std::uint64_t ledger, std::uint64_t first,
              Options options);
  void appended(std::uint64_t epoch, std::uint64_t entry, bool had_truncate, const Result<void, Error>& r);
  void send_trim();
  void trimmed(const Result<void, Error>& r);
  void evict();

  Store& store_;
  Executor& executor_;
  const Options options_;
  const std::uint64_t topic_;
  const std::uint64_t ledger_;
  std::uint64_t first_;  // oldest entry not trimmed
  std::uint64_t end_;    // one past the last durable entry
  std::uint64_t next_;   // id of the next append (end_ + pending appends)
  // Entries [cache_first_, next_): the tail, confirmed and pending.
  std::uint64_t cache_first_;
  std::deque<MessagePtr> cache_;
  // Payload bytes of the confirmed entries in cache_ (what tail_cache_bytes bounds; pending
  // ones are held until their group commit whatever their size, and do not count).
  std::size_t cache_bytes_ = 0;
  // Backlog read from the store: [ahead_first_, ahead_first_ + ahead_.size()).
  mutable std::uint64_t ahead_first_ = 0;
  mutable std::deque<MessagePtr> ahead_;
  mutable std::uint64_t store_reads_ = 0;
  // Below this entry the backlog is read one entry at a time: a read-ahead there failed (a damaged
  // entry fails the whole read), and only the damaged entry may be lost, not those before it.
  mutable std::uint64_t single_reads_until_ = 0;
  // Completions of pending appends, for entries [end_, next_).
  std::deque<broker::AppendCallback> pending_;
  // Bumped when pending appends are failed: their late store completions are then ignored.
  std::uint64_t epoch_ = 0;
  std::optional<std::uint64_t> truncate_from_;
  // Highest durable sequence id per producer (those with a dedup mark), and the producers
  // whose stored record may be ahead of it after a failed append (fixed with the truncate).
  std::unordered_map<std::string, std::int64_t> durable_sequences_;
  std::set<std::string> sequence_fixups_;
  std::uint64_t trim_sent_;        // floor of the last trim sent to the store
  bool trim_in_flight_ = false;
  // Completions posted to the executor check it: the ledger may be gone by then.
  std::shared_ptr<StoreLedger*> self_;
};

// The broker's LedgerFactory over `store`: persistent topics get StoreLedgers; non-persistent
// ones stay in memory (they are never stored). If the store cannot open a topic's ledger, the
// topic gets a ledger that fails every append (publishers get an error, the broker stays up).
broker::Broker::LedgerFactory ledger_factory(Store& store, Executor& executor, StoreLedger::Options options = {});

}  // namespace mop::storage
