#pragma once
// MemoryStore: the Store contract in memory, for unit tests of everything above storage. Applies
// a batch at once under its mutex, then posts the completion (never inline, like RocksStore).
// Thread-safe: every method may be called from any thread.
#include <map>
#include <mutex>
#include <utility>

#include "storage/store.hpp"

namespace mop::storage {

class MemoryStore final : public Store {
public:
  void write(Batch batch, Executor& executor, Completion done) override;
  Error flush() override { return {}; }
  std::uint64_t write_batches() const override;

  Expected<std::uint64_t> ensure_topic(const std::string& name) override;
  Expected<std::optional<std::uint64_t>> find_topic(const std::string& name) const override;
  Expected<std::vector<TopicRecord>> topics() const override;

  Expected<std::optional<LogBounds>> log_bounds(std::uint64_t topic) const override;
  Expected<std::vector<LogEntry>> log_read(std::uint64_t topic, MessageId from, MessageId end,
                                           std::size_t max) const override;

  Expected<std::vector<SubscriptionRecord>> subscriptions(std::uint64_t topic) const override;
  Expected<std::optional<CursorRecord>> cursor(std::uint64_t topic, const std::string& subscription) const override;

  Expected<std::optional<SessionRecord>> session(const std::string& client_id) const override;
  Expected<std::vector<SessionRecord>> sessions() const override;
  Expected<std::vector<RetainedRecord>> retained() const override;
  Expected<std::vector<WillRecord>> wills() const override;

  Expected<std::vector<PartitionedTopicRecord>> partitioned_topics() const override;
  Expected<std::vector<SchemaRecord>> schemas() const override;
  Expected<std::vector<ProducerSequence>> producer_sequences(std::uint64_t topic) const override;

  std::string describe() const override { return "memory"; }

  // Tests: the next `n` writes fail with `code` and change nothing.
  void fail_next_writes(int n, StorageErrc code = StorageErrc::io_error);

private:
  using Pos = std::pair<std::uint64_t, std::uint64_t>;  // (ledger, entry)
  void apply(const Batch::Op& op);

  mutable std::mutex mu_;
  std::uint64_t next_topic_id_ = 1;
  std::uint64_t batches_ = 0;
  int failures_ = 0;
  StorageErrc failure_code_ = StorageErrc::io_error;
  std::map<std::string, std::uint64_t> topics_;
  std::map<std::uint64_t, std::map<Pos, std::string>> logs_;
  std::map<std::uint64_t, Pos> floors_;
  std::map<std::pair<std::uint64_t, std::string>, SubscriptionRecord> subscriptions_;
  std::map<std::pair<std::uint64_t, std::string>, CursorRecord> cursors_;
  std::map<std::string, SessionRecord> sessions_;
  std::map<std::string, RetainedRecord> retained_;
  std::map<std::string, WillRecord> wills_;
  std::map<std::string, PartitionedTopicRecord> partitioned_;
  std::map<std::string, SchemaRecord> schemas_;
  std::map<std::pair<std::uint64_t, std::string>, ProducerSequence> sequences_;
};

}  // namespace mop::storage
