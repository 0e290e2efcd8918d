#pragma once
// Store: mop's durable state behind one interface. Three kinds of data:
//  - topic logs: entries addressed by MessageId (ledger:entry), appended, read by range,
//    trimmed from below (and truncated from above, to rewind after a failed append);
//  - cursors: a subscription's ack floor plus its individually acknowledged ranges;
//  - metadata: topics (name -> numeric id), subscriptions, MQTT sessions, retained messages,
//    pending wills, and Pulsar's partition counts, schemas and producer sequence ids.
// MemoryStore (tests) and RocksStore (RocksDB) implement it and pass one contract suite.
//
// Threading: a Store is shared by every thread. Reads are synchronous and may be called from
// any thread (RocksDB is thread-safe). Writes are asynchronous: write() queues a Batch and
// returns; the batch is applied atomically, and `done` is then POSTED to the given executor,
// never run inline (the broker's thread must not be re-entered, and RocksStore completes on its
// storage thread). That executor must therefore accept post() from another thread (AsioExecutor
// does; core's ManualExecutor does not). Completions of one store run in write() order.
#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "core/executor.hpp"
#include "storage/errors.hpp"
#include "storage/records.hpp"

namespace mop::storage {

// One write: a list of operations applied atomically, in order. Plain value, any thread.
class Batch {
public:
  struct Append { std::uint64_t topic; MessageId id; EncodedMessage value; };
  // Deletes entries below `below` and records it as the log's floor (entry ids stay unique).
  struct Trim { std::uint64_t topic; MessageId below; };
  // Deletes entries at or above `from` (a rewind after a failed append; see StoreLedger).
  struct Truncate { std::uint64_t topic; MessageId from; };
  struct PutSubscription { std::uint64_t topic; SubscriptionRecord sub; };
  // Deletes the subscription and its cursor.
  struct DeleteSubscription { std::uint64_t topic; std::string name; };
  struct PutCursor { std::uint64_t topic; std::string subscription; CursorRecord cursor; };
  struct PutSession { SessionRecord session; };
  struct DeleteSession { std::string client_id; };
  struct PutRetained { RetainedRecord retained; };
  struct DeleteRetained { std::string topic; };
  struct PutWill { WillRecord will; };
  struct DeleteWill { std::string client_id; };
  // Deletes the topic record, its log, its floor, its subscriptions, cursors and producer sequences.
  struct DeleteTopic { std::uint64_t topic; };
  struct PutPartitioned { PartitionedTopicRecord record; };
  struct DeletePartitioned { std::string topic; };
  struct PutSchema { SchemaRecord schema; };
  struct DeleteSchema { std::string topic; };
  struct PutPermission { PermissionRecord record; };
  struct DeletePermission { std::string resource; std::string role; };
  struct PutTenant { TenantRecord record; };
  struct DeleteTenant { std::string name; };
  struct PutNamespace { NamespaceRecord record; };
  struct DeleteNamespace { std::string name; };
  // Deduplication: in the same batch as the Append that completes the sequence id.
  struct PutProducerSequence { std::uint64_t topic; ProducerSequence sequence; };
  struct DeleteProducerSequence { std::uint64_t topic; std::string producer; };
  using Op = std::variant<Append, Trim, Truncate, PutSubscription, DeleteSubscription, PutCursor, PutSession,
                          DeleteSession, PutRetained, DeleteRetained, PutWill, DeleteWill, DeleteTopic, PutPartitioned,
                          DeletePartitioned, PutSchema, DeleteSchema, PutProducerSequence, DeleteProducerSequence, PutPermission, DeletePermission,
                          PutTenant, DeleteTenant, PutNamespace, DeleteNamespace>;

  Batch& append(std::uint64_t topic, MessageId id, EncodedMessage value) {
    return add(Append{topic, {id.ledger, id.entry, -1}, std::move(value)});
  }
  Batch& append(std::uint64_t topic, MessageId id, std::string value) {
    return append(topic, id, EncodedMessage{std::move(value), {}, {}});
  }
  Batch& trim(std::uint64_t topic, MessageId below) { return add(Trim{topic, {below.ledger, below.entry, -1}}); }
  Batch& truncate(std::uint64_t topic, MessageId from) { return add(Truncate{topic, {from.ledger, from.entry, -1}}); }
  Batch& put_subscription(std::uint64_t topic, SubscriptionRecord s) { return add(PutSubscription{topic, std::move(s)}); }
  Batch& delete_subscription(std::uint64_t topic, std::string name) {
    return add(DeleteSubscription{topic, std::move(name)});
  }
  Batch& put_cursor(std::uint64_t topic, std::string subscription, CursorRecord c) {
    return add(PutCursor{topic, std::move(subscription), std::move(c)});
  }
  Batch& put_session(SessionRecord s) { return add(PutSession{std::move(s)}); }
  Batch& delete_session(std::string client_id) { return add(DeleteSession{std::move(client_id)}); }
  Batch& put_retained(RetainedRecord r) { return add(PutRetained{std::move(r)}); }
  Batch& delete_retained(std::string topic) { return add(DeleteRetained{std::move(topic)}); }
  Batch& put_will(WillRecord w) { return add(PutWill{std::move(w)}); }
  Batch& delete_will(std::string client_id) { return add(DeleteWill{std::move(client_id)}); }
  Batch& delete_topic(std::uint64_t topic) { return add(DeleteTopic{topic}); }
  Batch& put_partitioned(PartitionedTopicRecord r) { return add(PutPartitioned{std::move(r)}); }
  Batch& delete_partitioned(std::string topic) { return add(DeletePartitioned{std::move(topic)}); }
  Batch& put_schema(SchemaRecord s) { return add(PutSchema{std::move(s)}); }
  Batch& delete_schema(std::string topic) { return add(DeleteSchema{std::move(topic)}); }
  Batch& put_permission(PermissionRecord r) { return add(PutPermission{std::move(r)}); }
  Batch& delete_permission(std::string resource, std::string role) {
    return add(DeletePermission{std::move(resource), std::move(role)});
  }
  Batch& put_tenant(TenantRecord r) { return add(PutTenant{std::move(r)}); }
  Batch& delete_tenant(std::string name) { return add(DeleteTenant{std::move(name)}); }
  Batch& put_namespace(NamespaceRecord r) { return add(PutNamespace{std::move(r)}); }
  Batch& delete_namespace(std::string name) { return add(DeleteNamespace{std::move(name)}); }
  Batch& put_producer_sequence(std::uint64_t topic, ProducerSequence p) {
    return add(PutProducerSequence{topic, std::move(p)});
  }
  Batch& delete_producer_sequence(std::uint64_t topic, std::string producer) {
    return add(DeleteProducerSequence{topic, std::move(producer)});
  }

  // A batch whose completion acts on nothing outside the store (a trim, a cursor position) need
  // not wait for a sync: with journalSyncData its group commit, if no write in it waits for one,
  // is written to the WAL and not synced. It is still written in order, so the next synced group
  // makes it durable with its own writes; a crash before that loses it as a crash just before
  // the write would have (storage/README.md, "Writes that do not wait for a sync").
  Batch& no_wait_for_sync() {
    waits_for_sync_ = false;
    return *this;
  }
  bool waits_for_sync() const { return waits_for_sync_; }

  const std::vector<Op>& ops() const { return ops_; }
  bool empty() const { return ops_.empty(); }
  std::size_t size() const { return ops_.size(); }
  // Approximate bytes, to bound one group commit.
  std::size_t bytes() const { return bytes_; }

private:
  Batch& add(Op op) {
    if (const auto* a = std::get_if<Append>(&op)) bytes_ += a->value.size();
    bytes_ += 64;
    ops_.push_back(std::move(op));
    return *this;
  }
  std::vector<Op> ops_;
  std::size_t bytes_ = 0;
  bool waits_for_sync_ = true;
};

class Store {
public:
  using Completion = std::function<void(const Result<void, Error>&)>;

  virtual ~Store() = default;

  // --- writes -------------------------------------------------------------------------------
  // Queues `batch`. Once it is durable (or failed), `done` (if any) is posted to `executor`; for
  // a batch that does not wait for a sync (Batch::no_wait_for_sync), once it is written.
  // A failed batch changes nothing; later writes are still attempted.
  virtual void write(Batch batch, Executor& executor, Completion done) = 0;
  // Blocks until every write queued before the call is applied and its completion posted.
  virtual Result<void, Error> flush() = 0;
  // Number of group commits (RocksDB write batches) so far: appends per sync = appends / this.
  virtual std::uint64_t write_batches() const = 0;
  // Every write() made between begin_atomic() and the matching end_atomic() is applied in one
  // atomic group commit: a crash keeps all of them or none (MQTT QoS 2: a message and the
  // session record holding its packet id). The calls bracket synchronous code on one thread
  // (writes are not applied meanwhile: no flush() inside); they nest. Default: call order only.
  virtual void begin_atomic() {}
  virtual void end_atomic() {}

  // --- topics -------------------------------------------------------------------------------
  // The id of topic `name`, creating the record if needed. The id is known at once; the record
  // is durable no later than any write queued after this call (every record that refers to the
  // id is), so a crash never keeps a record of an unknown topic. Does not wait for the disk.
  virtual Result<std::uint64_t, Error> ensure_topic(const std::string& name) = 0;
  virtual Result<std::optional<std::uint64_t>, Error> find_topic(const std::string& name) const = 0;
  virtual Result<std::vector<TopicRecord>, Error> topics() const = 0;  // by name

  // --- logs ---------------------------------------------------------------------------------
  // nullopt: nothing was ever appended to (or trimmed from) this topic's log.
  virtual Result<std::optional<LogBounds>, Error> log_bounds(std::uint64_t topic) const = 0;
  // Entries with from <= id < end, in order, at most `max`.
  virtual Result<std::vector<LogEntry>, Error> log_read(std::uint64_t topic, MessageId from, MessageId end,
                                                   std::size_t max) const = 0;

  // --- subscriptions and cursors --------------------------------------------------------------
  virtual Result<std::vector<SubscriptionRecord>, Error> subscriptions(std::uint64_t topic) const = 0;  // by name
  virtual Result<std::optional<CursorRecord>, Error> cursor(std::uint64_t topic, const std::string& subscription) const = 0;

  // --- MQTT state ---------------------------------------------------------------------------
  virtual Result<std::optional<SessionRecord>, Error> session(const std::string& client_id) const = 0;
  virtual Result<std::vector<SessionRecord>, Error> sessions() const = 0;  // by client id
  virtual Result<std::vector<RetainedRecord>, Error> retained() const = 0;  // by topic
  virtual Result<std::vector<WillRecord>, Error> wills() const = 0;  // by client id

  // --- Pulsar topic metadata ------------------------------------------------------------------
  virtual Result<std::vector<PartitionedTopicRecord>, Error> partitioned_topics() const = 0;  // by name
  virtual Result<std::vector<PermissionRecord>, Error> permissions() const = 0;  // by resource, role
  // --- the admin API's tenants and namespaces (with their policies) ----------------------------
  virtual Result<std::vector<TenantRecord>, Error> tenants() const = 0;        // by name
  virtual Result<std::vector<NamespaceRecord>, Error> namespaces() const = 0;  // by name
  virtual Result<std::vector<SchemaRecord>, Error> schemas() const = 0;  // by topic name
  virtual Result<std::optional<SchemaRecord>, Error> schema(const std::string& topic) const = 0;  // one topic's
  virtual Result<std::vector<ProducerSequence>, Error> producer_sequences(std::uint64_t topic) const = 0;  // by producer

  // Where the store lives, for messages ("memory" for MemoryStore).
  virtual std::string describe() const = 0;
};

}  // namespace mop::storage
