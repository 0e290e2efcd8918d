#include "storage/store_ledger.hpp"

#include "broker/in_memory_ledger.hpp"
#include "core/log.hpp"
#include "storage/encoding.hpp"

namespace mop::storage {

Result<std::unique_ptr<StoreLedger>, Error> StoreLedger::open(Store& store, Executor& executor, const std::string& name,
                                                         Options options) {
  auto topic = store.ensure_topic(name);
  if (!topic.ok()) return topic.error();
  auto bounds = store.log_bounds(*topic);
  if (!bounds.ok()) return bounds.error();
  // One ledger per topic, numbered like the topic (unique in the store). A log written with
  // several ledgers (not done by this version) would resume in its last one.
  std::uint64_t ledger = *topic, first = 0, end = 0;
  if (*bounds) {
    ledger = (*bounds)->end.ledger;
    first = (*bounds)->first.ledger == ledger ? (*bounds)->first.entry : 0;
    end = (*bounds)->end.entry;
  }
  auto sequences = store.producer_sequences(*topic);
  if (!sequences.ok()) return sequences.error();
  std::unique_ptr<StoreLedger> l(new StoreLedger(store, executor, *topic, ledger, first, options));
  l->end_ = l->next_ = l->cache_first_ = end;
  for (const auto& p : *sequences) l->durable_sequences_.emplace(p.producer, p.sequence_id);
  return l;
}

StoreLedger::StoreLedger(Store& store, Executor& executor, std::uint64_t topic, std::uint64_t ledger,
                         std::uint64_t first, Options options)
    : store_(store),
      executor_(executor),
      options_(options),
      topic_(topic),
      ledger_(ledger),
      first_(first),
      end_(first),
      next_(first),
      cache_first_(first),
      trim_sent_(first),
      self_(std::make_shared<StoreLedger*>(this)) {}

StoreLedger::~StoreLedger() = default;  // pending completions find self_ expired and are dropped

void StoreLedger::append(MessagePtr message, broker::AppendCallback done) {
  const std::uint64_t entry = next_++;
  Batch batch;
  const bool had_truncate = truncate_from_.has_value();
  if (had_truncate) {
    batch.truncate(topic_, {ledger_, *truncate_from_, -1});
    for (const auto& producer : sequence_fixups_) {
      if (const auto it = durable_sequences_.find(producer); it != durable_sequences_.end()) {
        batch.put_producer_sequence(topic_, {producer, it->second});
      } else {
        batch.delete_producer_sequence(topic_, producer);
      }
    }
  }
  batch.append(topic_, {ledger_, entry, -1}, encode_message_parts(*message));
  if (message->dedup && message->dedup->sequence_id >= 0) {
    batch.put_producer_sequence(topic_, {message->dedup->producer, message->dedup->sequence_id});
  }
  cache_.push_back(std::move(message));
  pending_.push_back(std::move(done));
  store_.write(std::move(batch), executor_,
               [self = std::weak_ptr<StoreLedger*>(self_), epoch = epoch_, entry, had_truncate](const Result<void, Error>& r) {
                 if (const auto s = self.lock()) (*s)->appended(epoch, entry, had_truncate, r);
               });
}

void StoreLedger::appended(std::uint64_t epoch, std::uint64_t entry, bool had_truncate,
                           const Result<void, Error>& r) {
  if (epoch != epoch_) return;  // already failed together with an earlier append
  if (r.ok()) {
    // The store completes in write order, so this is the oldest pending append.
    end_ = entry + 1;
    if (had_truncate && truncate_from_ && *truncate_from_ <= entry) {
      truncate_from_.reset();
      sequence_fixups_.clear();
    }
    if (entry >= cache_first_ && entry - cache_first_ < cache_.size()) {
      const auto& m = cache_[entry - cache_first_];
      cache_bytes_ += m->payload.size();
      if (m->dedup && m->dedup->sequence_id >= 0) durable_sequences_[m->dedup->producer] = m->dedup->sequence_id;
    }
    auto done = std::move(pending_.front());
    pending_.pop_front();
    evict();
    if (done) done({}, {ledger_, entry, -1});
    return;
  }
  // Fail this append and every later pending one, and rewind: the next append reuses `entry`
  // and first truncates whatever of the failed ones reached the disk in a later group.
  log::get("storage")->error("append to topic id {} failed: {}", topic_, r.error().to_string());
  ++epoch_;
  auto failed = std::move(pending_);
  pending_.clear();
  for (std::uint64_t i = entry; i < next_; ++i) {
    if (i < cache_first_ || i - cache_first_ >= cache_.size()) continue;
    const auto& m = cache_[i - cache_first_];
    if (m->dedup) sequence_fixups_.insert(m->dedup->producer);
  }
  cache_.resize(static_cast<std::size_t>(entry - cache_first_));  // the confirmed ones stay, cache_bytes_ with them
  next_ = entry;
  truncate_from_ = truncate_from_ ? std::min(*truncate_from_, entry) : entry;
  std::uint64_t id = entry;
  for (auto& done : failed) {
    if (done) done(r.error().code, {ledger_, id, -1});
    ++id;
  }
}

void StoreLedger::evict() {
  // Keep at most tail_cache_entries confirmed entries, and tail_cache_bytes of their payload;
  // pending ones always stay.
  while (cache_first_ < end_ &&
         (end_ - cache_first_ > options_.tail_cache_entries || cache_bytes_ > options_.tail_cache_bytes)) {
    cache_bytes_ -= cache_.front()->payload.size();
    cache_.pop_front();
    ++cache_first_;
  }
}

std::optional<broker::Entry> StoreLedger::read(MessageId id) const {
  if (id.ledger != ledger_ || id.entry < first_ || id.entry >= end_) return std::nullopt;
  if (id.entry >= cache_first_) return broker::Entry{{ledger_, id.entry, -1}, cache_[id.entry - cache_first_]};
  if (id.entry >= ahead_first_ && id.entry - ahead_first_ < ahead_.size()) {
    return broker::Entry{{ledger_, id.entry, -1}, ahead_[id.entry - ahead_first_]};
  }
  // The backlog: read a chunk ahead, since a subscriber catching up reads in order.
  ++store_reads_;
  ahead_.clear();
  ahead_first_ = id.entry;
  const std::uint64_t limit = std::min(cache_first_, end_);
  const bool single = id.entry < single_reads_until_;
  auto entries = store_.log_read(topic_, {ledger_, id.entry, -1}, {ledger_, limit, -1},
                                 single ? 1 : options_.read_ahead_entries);
  if (!entries.ok() && !single) {
    // One damaged entry fails a whole read-ahead: what comes before it is read entry by entry
    // up to where this read would have ended, and is delivered; only the damaged one is lost.
    single_reads_until_ = id.entry + options_.read_ahead_entries;
    entries = store_.log_read(topic_, {ledger_, id.entry, -1}, {ledger_, limit, -1}, 1);
  }
  if (!entries.ok()) {
    log::get("storage")->error("reading topic id {} at {}:{}: {}", topic_, ledger_, id.entry, entries.error().to_string());
    return std::nullopt;
  }
  for (const auto& e : *entries) {
    if (e.id.entry != ahead_first_ + ahead_.size()) {
      log::get("storage")->error("store {}: topic id {} log has a gap before {}:{}", store_.describe(), topic_,
                                 e.id.ledger, e.id.entry);
      break;
    }
    auto m = std::make_shared<service::Message>();
    if (auto why = decode_message(e.value, *m); !why.ok()) {
      log::get("storage")->error("store {}: undecodable log entry of topic id {} at {}:{}: {}", store_.describe(),
                                 topic_, e.id.ledger, e.id.entry, why.error());
      break;
    }
    ahead_.push_back(std::move(m));
  }
  if (ahead_.empty()) return std::nullopt;
  return broker::Entry{{ledger_, id.entry, -1}, ahead_.front()};
}

void StoreLedger::trim_before(MessageId id) {
  if (id.ledger < ledger_) return;
  // Past the end (or a later ledger) trims every confirmed entry; pending ones are not stored yet.
  const std::uint64_t limit = id.ledger > ledger_ ? end_ : std::min(id.entry, end_);
  if (limit <= first_) return;
  first_ = limit;
  while (cache_first_ < first_ && !cache_.empty()) {
    cache_bytes_ -= cache_.front()->payload.size();
    cache_.pop_front();
    ++cache_first_;
  }
  if (cache_.empty()) cache_first_ = std::max(cache_first_, first_);
  while (!ahead_.empty() && ahead_first_ < first_) {
    ahead_.pop_front();
    ++ahead_first_;
  }
  if (!trim_in_flight_) send_trim();
}

void StoreLedger::send_trim() {
  trim_in_flight_ = true;
  trim_sent_ = first_;
  Batch batch;
  // Its completion only lets the next trim go: it need not wait for a sync.
  batch.trim(topic_, {ledger_, first_, -1}).no_wait_for_sync();
  store_.write(std::move(batch), executor_, [self = std::weak_ptr<StoreLedger*>(self_)](const Result<void, Error>& r) {
    if (const auto s = self.lock()) (*s)->trimmed(r);
  });
}

void StoreLedger::trimmed(const Result<void, Error>& r) {
  trim_in_flight_ = false;
  // A failed trim is retried with the next one; the entries are only garbage meanwhile (cursors
  // decide what is delivered after a restart).
  if (!r.ok()) log::get("storage")->warn("trimming topic id {} failed: {}", topic_, r.error().to_string());
  if (r.ok() && first_ > trim_sent_) send_trim();
}

namespace {

// The ledger of a topic whose storage could not be opened: nothing is stored, every append
// fails (posted, like a store completion), so publishers see an error and the broker stays up.
class FailedLedger final : public broker::Ledger {
public:
  FailedLedger(Executor& executor, std::error_code code) : executor_(executor), code_(code) {}
  std::uint64_t ledger_id() const override { return 0; }
  void append(MessagePtr, broker::AppendCallback done) override {
    if (done) executor_.post([done = std::move(done), code = code_] { done(code, {}); });
  }
  MessageId first() const override { return {}; }
  MessageId end() const override { return {}; }
  std::optional<broker::Entry> read(MessageId) const override { return std::nullopt; }
  void trim_before(MessageId) override {}
  std::size_t entry_count() const override { return 0; }

private:
  Executor& executor_;
  std::error_code code_;
};

}  // namespace

broker::Broker::LedgerFactory ledger_factory(Store& store, Executor& executor, StoreLedger::Options options) {
  return [&store, &executor, options](const service::TopicName& name) -> std::unique_ptr<broker::Ledger> {
    if (!name.persistent()) return std::make_unique<broker::InMemoryLedger>(1);
    auto ledger = StoreLedger::open(store, executor, name.str(), options);
    if (!ledger.ok()) {
      log::get("storage")->error("cannot open the ledger of {}: {}", name.str(), ledger.error().to_string());
      return std::make_unique<FailedLedger>(executor, ledger.error().code);
    }
    return std::move(*ledger);
  };
}

}  // namespace mop::storage
