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
  Result<void, Error> flush() override { return {}; }
  std::uint64_t write_batches() const override;

  Result<std::uint64_t, Error> ensure_topic(const std::string& name) override;
  Result<std::optional<std::uint64_t>, Error> find_topic(const std::string& name) const override;
  Result<std::vector<TopicRecord>, Error> topics() const override;

  Result<std::optional<LogBounds>, Error> log_bounds(std::uint64_t topic) const override;
  Result<std::vector<LogEntry>, Error> log_read(std::uint64_t topic, MessageId from, MessageId end,
                                           std::size_t max) const override;

  Result<std::vector<SubscriptionRecord>, Error> subscriptions(std::uint64_t topic) const override;
  Result<std::optional<CursorRecord>, Error> cursor(std::uint64_t topic, const std::string& subscription) const override;

  Result<std::optional<SessionRecord>, Error> session(const std::string& client_id) const override;
  Result<std::vector<SessionRecord>, Error> sessions() const override;
  Result<std::vector<RetainedRecord>, Error> retained() const override;
  Result<std::vector<WillRecord>, Error> wills() const override;

  Result<std::vector<PartitionedTopicRecord>, Error> partitioned_topics() const override;
  Result<std::vector<PermissionRecord>, Error> permissions() const override;
  Result<std::vector<TenantRecord>, Error> tenants() const override;
  Result<std::vector<NamespaceRecord>, Error> namespaces() const override;
  Result<std::vector<SchemaRecord>, Error> schemas() const override;
  Result<std::optional<SchemaRecord>, Error> schema(const std::string& topic) const override;
  Result<std::vector<ProducerSequence>, Error> producer_sequences(std::uint64_t topic) const override;

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
  std::map<std::pair<std::string, std::string>, PermissionRecord> permissions_;
  std::map<std::string, TenantRecord> tenants_;
  std::map<std::string, NamespaceRecord> namespaces_;
  std::map<std::string, SchemaRecord> schemas_;
  std::map<std::pair<std::uint64_t, std::string>, ProducerSequence> sequences_;
};

}  // namespace mop::storage
