// The broker's state across a restart: EmbeddedService over RocksStore (ledgers and
// StorePersistence), closed and reopened in a temp dir. A subscriber that comes back receives
// exactly what it had not acknowledged, in order; deleted subscriptions and cleared retained
// messages stay gone; cursor writes are coalesced.
#include <gtest/gtest.h>
#include <rocksdb/db.h>

#include "service/embedded_service.hpp"
#include "storage/encoding.hpp"
#include "storage/store_ledger.hpp"
#include "storage/store_check.hpp"
#include "storage/store_persistence.hpp"
#include "storage/tests/store_fixture.hpp"

namespace mop::storage::test {
namespace {

using service::MessageId;
using service::TopicDomain;
using service::TopicName;

struct Recorder final : service::ReceiverListener {
  void on_message(const TopicName&, const std::string&, MessageId id, const MessagePtr& m,
                  std::uint32_t) override {
    ids.push_back(id);
    got.emplace_back(m->payload.view());
  }
  void on_subscription_removed(const TopicName&, const std::string& name) override { removed.push_back(name); }
  std::vector<MessageId> ids;
  std::vector<std::string> got;
  std::vector<std::string> removed;
};

MessagePtr msg(const std::string& text) {
  auto m = std::make_shared<service::Message>();
  m->payload = Payload::copy_of(text);
  m->producer_name = "p";
  return m;
}

// Counts the cursor writes that reach the real persistence.
class CountingPersistence final : public broker::Persistence {
public:
  explicit CountingPersistence(broker::Persistence& inner) : inner_(inner) {}
  void put_subscription(const TopicName& t, const std::string& n, service::SubscriptionType type,
                        broker::CursorState c, broker::PersistCallback d) override {
    inner_.put_subscription(t, n, type, std::move(c), std::move(d));
  }
  void delete_subscription(const TopicName& t, const std::string& n, broker::PersistCallback d) override {
    inner_.delete_subscription(t, n, std::move(d));
  }
  void put_cursor(const TopicName& t, const std::string& n, broker::CursorState c, broker::PersistCallback d) override {
    ++cursor_writes;
    inner_.put_cursor(t, n, std::move(c), std::move(d));
  }
  void put_retained(const TopicName& t, const service::Message& m, broker::PersistCallback d) override {
    inner_.put_retained(t, m, std::move(d));
  }
  void delete_retained(const TopicName& t, broker::PersistCallback d) override { inner_.delete_retained(t, std::move(d)); }
  void delete_topic(const TopicName& t, broker::PersistCallback d) override { inner_.delete_topic(t, std::move(d)); }
  Result<void, Error> load(Restored& out) override { return inner_.load(out); }
  int cursor_writes = 0;

private:
  broker::Persistence& inner_;
};

// One broker "process": the service over the store, restored at construction.
struct Process {
  explicit Process(StoreUnderTest& s) : store(s), persistence(*s.store, s.executor),
        service(s.executor, clock, ledger_factory(*s.store, s.executor), &persistence) {
    const auto e = service.restore();
    EXPECT_TRUE(e.ok()) << e.error().message;
  }
  ~Process() { settle(); }
  void settle() {
    do {
      (void)store.store->flush();
    } while (store.executor.run_all() > 0);
  }
  void publish(const TopicName& t, const std::string& text) {
    bool done = false;
    service.publish(t, msg(text), [&](std::error_code ec, MessageId) {
      EXPECT_FALSE(ec) << ec.message();
      done = true;
    });
    EXPECT_TRUE(store.executor.run_until([&] { return done; }));
  }
  StoreUnderTest& store;
  ManualClock clock;
  StorePersistence persistence;
  service::EmbeddedService service;
};

const TopicName kTopic(TopicDomain::persistent, "public", "default", "t");

service::SubscriptionOptions shared_opts() {
  service::SubscriptionOptions o;
  o.type = service::SubscriptionType::shared;
  return o;
}

TEST(Restart, SubscriberGetsExactlyWhatItHadNotAcknowledgedInOrder) {
  StoreUnderTest s("rocks", /*sync=*/true);
  {
    Process p(s);
    Recorder r;
    const auto rid = p.service.open_receiver(r);
    ASSERT_TRUE(p.service.subscribe(kTopic, "s", shared_opts(), rid).ok());
    p.service.flow(rid, 100);
    for (int i = 0; i < 10; ++i) p.publish(kTopic, "m" + std::to_string(i));
    p.settle();
    ASSERT_EQ(r.ids.size(), 10u);
    p.service.ack_cumulative(kTopic, "s", r.ids[2]);  // m0..m2
    p.service.ack(kTopic, "s", r.ids[5]);             // individually: m5, m7, m8
    p.service.ack(kTopic, "s", r.ids[7]);
    p.service.ack(kTopic, "s", r.ids[8]);
    p.settle();
  }  // the receiver never comes back: m3, m4, m6, m9 were delivered but not acknowledged
  s.reopen();
  {
    Process p(s);
    const auto* topic = p.service.broker().find_topic(kTopic);
    ASSERT_NE(topic, nullptr);  // restored without anyone asking for it
    EXPECT_TRUE(p.service.topic_exists(kTopic));
    EXPECT_EQ(topic->ledger().first().entry, 3u);  // m0..m2 acknowledged by every subscription: trimmed
    Recorder r;
    const auto rid = p.service.open_receiver(r);
    ASSERT_TRUE(p.service.subscribe(kTopic, "s", shared_opts(), rid).ok());
    p.service.flow(rid, 100);
    p.settle();
    EXPECT_EQ(r.got, (std::vector<std::string>{"m3", "m4", "m6", "m9"}));
    p.publish(kTopic, "m10");  // new entries continue after the stored ones
    p.settle();
    ASSERT_EQ(r.got.size(), 5u);
    EXPECT_EQ(r.got.back(), "m10");
    EXPECT_EQ(r.ids.back().entry, 10u);
    for (std::size_t i = 0; i + 1 < r.ids.size(); ++i) p.service.ack(kTopic, "s", r.ids[i]);  // all but m10
    p.settle();
  }
  s.reopen();
  Process p(s);
  Recorder r;
  const auto rid = p.service.open_receiver(r);
  ASSERT_TRUE(p.service.subscribe(kTopic, "s", shared_opts(), rid).ok());
  p.service.flow(rid, 100);
  p.settle();
  EXPECT_EQ(r.got, (std::vector<std::string>{"m10"}));
  EXPECT_EQ(p.service.broker().find_topic(kTopic)->ledger().first().entry, 10u);
}

TEST(Restart, SubscriptionsKeepTheirTypeAndDeletedOnesStayGone) {
  StoreUnderTest s("rocks");
  {
    Process p(s);
    Recorder r;
    const auto rid = p.service.open_receiver(r);
    service::SubscriptionOptions failover;
    failover.type = service::SubscriptionType::failover;
    ASSERT_TRUE(p.service.subscribe(kTopic, "keep", failover, rid).ok());
    ASSERT_TRUE(p.service.subscribe(kTopic, "drop", shared_opts(), rid).ok());
    service::SubscriptionOptions reader;
    reader.durable = false;
    ASSERT_TRUE(p.service.subscribe(kTopic, "reader", reader, rid).ok());
    p.publish(kTopic, "a");
    p.service.unsubscribe(kTopic, "drop");
    // A non-persistent topic keeps nothing, its subscriptions included.
    ASSERT_TRUE(p.service.subscribe(TopicName(TopicDomain::non_persistent, "public", "default", "np"), "s",
                                     shared_opts(), rid).ok());
    p.settle();
  }
  s.reopen();
  Process p(s);
  auto* topic = p.service.broker().find_topic(kTopic);
  ASSERT_NE(topic, nullptr);
  EXPECT_EQ(topic->subscription_count(), 1u);
  ASSERT_NE(topic->subscription("keep"), nullptr);
  EXPECT_EQ(topic->subscription("keep")->type(), service::SubscriptionType::failover);
  EXPECT_TRUE(topic->subscription("keep")->durable());
  EXPECT_EQ(topic->subscription("drop"), nullptr);
  EXPECT_EQ(topic->subscription("reader"), nullptr);
  EXPECT_FALSE(p.service.topic_exists(TopicName(TopicDomain::non_persistent, "public", "default", "np")));
  EXPECT_EQ(topic->ledger().entry_count(), 1u);  // "keep" has not acknowledged "a"
  auto id = s.store->find_topic(kTopic.str());
  ASSERT_TRUE(id.ok() && id->has_value());
  ASSERT_EQ(s.store->subscriptions(**id)->size(), 1u);
  EXPECT_FALSE(s.store->cursor(**id, "drop")->has_value());
}

TEST(Restart, RetainedMessagesAreStoredBeforeCompletionAndClearedOnesStayGone) {
  StoreUnderTest s("rocks", /*sync=*/true);
  const TopicName a(TopicDomain::persistent, "public", "default", "a");
  const TopicName b(TopicDomain::persistent, "public", "default", "b");
  const TopicName np(TopicDomain::non_persistent, "public", "default", "c");
  {
    Process p(s);
    auto& rocks = static_cast<RocksStore&>(*s.store);
    rocks.hold_writes(true);
    int done = 0;
    auto count = [&](std::error_code ec) {
      EXPECT_FALSE(ec);
      ++done;
    };
    auto retained_b = std::make_shared<service::Message>(*msg("rb"));
    retained_b->properties = {{"k", "v"}};
    retained_b->publish_time_ms = 42;
    p.service.set_retained(a, msg("ra"), count);
    p.service.set_retained(b, retained_b, count);
    p.service.set_retained(np, msg("rc"), count);  // not stored: completes without the disk
    s.executor.run_until([] { return false; }, std::chrono::milliseconds(50));
    EXPECT_EQ(done, 1);
    EXPECT_EQ(p.service.retained({"public", "default"}, [](const TopicName&) { return true; }).size(), 3u);
    rocks.hold_writes(false);
    ASSERT_TRUE(s.executor.run_until([&] { return done == 3; }));
    p.service.set_retained(a, std::make_shared<service::Message>(), count);  // cleared
    ASSERT_TRUE(s.executor.run_until([&] { return done == 4; }));
  }
  s.reopen();
  Process p(s);
  const auto all = p.service.retained({"public", "default"}, [](const TopicName&) { return true; });
  ASSERT_EQ(all.size(), 1u);
  EXPECT_EQ(all[0].first, b);
  EXPECT_EQ(all[0].second->payload.view(), "rb");
  EXPECT_EQ(all[0].second->publish_time_ms, 42u);
  EXPECT_EQ(all[0].second->properties, (std::vector<std::pair<std::string, std::string>>{{"k", "v"}}));
}

TEST(Restart, CursorWritesAreCoalescedToOneInFlight) {
  StoreUnderTest s("rocks", /*sync=*/true);
  auto& rocks = static_cast<RocksStore&>(*s.store);
  ManualClock clock;
  StorePersistence real(rocks, s.executor);
  CountingPersistence counting(real);
  {
    service::EmbeddedService svc(s.executor, clock, ledger_factory(rocks, s.executor), &counting);
    ASSERT_TRUE(svc.restore().ok());
    Recorder r;
    const auto rid = svc.open_receiver(r);
    ASSERT_TRUE(svc.subscribe(kTopic, "s", shared_opts(), rid).ok());
    svc.flow(rid, 1000);
    int published = 0;
    for (int i = 0; i < 50; ++i) svc.publish(kTopic, msg("m"), [&](std::error_code, MessageId) { ++published; });
    ASSERT_TRUE(s.executor.run_until([&] { return published == 50 && r.ids.size() == 50; }));
    rocks.hold_writes(true);
    // Out of order, so that both the floor and the individually acknowledged set change.
    for (int i = 49; i >= 1; i -= 2) svc.ack(kTopic, "s", r.ids[static_cast<std::size_t>(i)]);
    for (int i = 0; i < 40; i += 2) svc.ack(kTopic, "s", r.ids[static_cast<std::size_t>(i)]);
    EXPECT_EQ(counting.cursor_writes, 1);  // the first; the 44 after it wait for it
    rocks.hold_writes(false);
    do {
      (void)rocks.flush();
    } while (s.executor.run_all() > 0);
    EXPECT_EQ(counting.cursor_writes, 2);  // the latest state, once
    const auto id = rocks.find_topic(kTopic.str());
    const auto cursor = rocks.cursor(**id, "s");
    ASSERT_TRUE(cursor.ok() && cursor->has_value());
    EXPECT_EQ((*cursor)->ack_floor.entry, 40u);  // 0..39 acknowledged
    ASSERT_EQ((*cursor)->acked.size(), 5u);      // and 41, 43, 45, 47, 49
    EXPECT_EQ((*cursor)->acked[0].first, 41u);
    EXPECT_EQ((*cursor)->acked[0].last, 41u);
    EXPECT_EQ((*cursor)->acked[4].last, 49u);
  }
  s.reopen();
  Process p(s);
  Recorder r;
  const auto rid = p.service.open_receiver(r);
  ASSERT_TRUE(p.service.subscribe(kTopic, "s", shared_opts(), rid).ok());
  p.service.flow(rid, 100);
  p.settle();
  std::vector<std::uint64_t> entries;
  for (const auto& id : r.ids) entries.push_back(id.entry);
  EXPECT_EQ(entries, (std::vector<std::uint64_t>{40, 42, 44, 46, 48}));
}

// Keys of topic id `id` left in any column family keyed by topic id (read straight from RocksDB
// with the store closed: what a range delete must have covered).
std::size_t keys_of_topic(const std::string& db_dir, std::uint64_t id) {
  std::vector<rocksdb::ColumnFamilyDescriptor> cfs;
  for (int c = 0; c < RocksStore::kCfCount; ++c)
    cfs.emplace_back(c == 0 ? rocksdb::kDefaultColumnFamilyName : RocksStore::cf_name(c), rocksdb::ColumnFamilyOptions());
  std::vector<rocksdb::ColumnFamilyHandle*> handles;
  rocksdb::DB* raw = nullptr;
  EXPECT_TRUE(rocksdb::DB::OpenForReadOnly(rocksdb::DBOptions(), db_dir, cfs, &handles, &raw).ok());
  if (raw == nullptr) return SIZE_MAX;
  const std::string prefix = key::topic_prefix(id);
  std::size_t n = 0;
  for (const int cf : {RocksStore::kLogs, RocksStore::kLogFloors, RocksStore::kSubscriptions, RocksStore::kCursors,
                       RocksStore::kProducerSequences}) {
    std::unique_ptr<rocksdb::Iterator> it(raw->NewIterator(rocksdb::ReadOptions(), handles[cf]));
    for (it->Seek(prefix); it->Valid() && it->key().starts_with(prefix); it->Next()) ++n;
  }
  for (auto* h : handles) raw->DestroyColumnFamilyHandle(h);
  delete raw;
  return n;
}

// Deleting a topic (the admin API's DELETE): gone at once from the broker, its subscribers told,
// the completion only once the store write is done, and after a restart nothing of it is left
// in the store; the same name used after the delete is a new topic that survives the restart.
TEST(Restart, DeletedTopicLeavesNothingAndTheNameStartsAfresh) {
  StoreUnderTest s("rocks", /*sync=*/true);
  std::uint64_t old_id = 0;
  {
    Process p(s);
    Recorder r;
    const auto rid = p.service.open_receiver(r);
    ASSERT_TRUE(p.service.subscribe(kTopic, "s", shared_opts(), rid).ok());
    p.service.flow(rid, 100);
    for (int i = 0; i < 5; ++i) p.publish(kTopic, "old" + std::to_string(i));
    p.service.set_retained(kTopic, msg("kept?"), {});
    // A Pulsar producer's schema, as the metadata store keeps it: under the topic's name.
    s.store->write(Batch().put_schema({kTopic.str(), 0, 2, "old", "{}", {}}), s.executor, {});
    p.settle();
    ASSERT_EQ(r.got.size(), 5u);
    ASSERT_TRUE(s.store->schema(kTopic.str())->has_value());
    old_id = **s.store->find_topic(kTopic.str());
    const auto old_ledger = p.service.broker().find_topic(kTopic)->ledger().ledger_id();

    auto& rocks = static_cast<RocksStore&>(*s.store);
    rocks.hold_writes(true);
    bool deleted = false;
    ASSERT_TRUE(p.service.broker().delete_topic(kTopic, [&](std::error_code ec) {
      EXPECT_FALSE(ec) << ec.message();
      deleted = true;
    }));
    EXPECT_FALSE(p.service.topic_exists(kTopic));
    EXPECT_EQ(p.service.broker().retained().get(kTopic), nullptr);
    EXPECT_TRUE(p.service.broker().list_namespaces().empty());
    s.executor.run_all();
    EXPECT_EQ(r.removed, (std::vector<std::string>{"s"}));
    EXPECT_FALSE(deleted);  // not before the store has it
    rocks.hold_writes(false);
    p.settle();
    EXPECT_TRUE(deleted);
    EXPECT_FALSE(p.service.broker().delete_topic(kTopic, {}));  // no such topic any more
    // Its schema went with it: the name's next topic takes the next producer's.
    EXPECT_FALSE(s.store->schema(kTopic.str())->has_value());

    // A subscriber recreates it, empty, with a ledger of its own; what is published now is its.
    ASSERT_TRUE(p.service.subscribe(kTopic, "t", shared_opts(), rid).ok());
    const auto* fresh = p.service.broker().find_topic(kTopic);
    ASSERT_NE(fresh, nullptr);
    EXPECT_NE(fresh->ledger().ledger_id(), old_ledger);
    EXPECT_EQ(fresh->ledger().entry_count(), 0u);
    EXPECT_EQ(fresh->subscription_count(), 1u);
    p.publish(kTopic, "new");
    p.settle();
    EXPECT_EQ(r.got.back(), "new");
    EXPECT_EQ(r.ids.back().entry, 0u);
    EXPECT_NE(s.store->find_topic(kTopic.str())->value(), old_id);
  }
  s.reopen();
  {
    Process p(s);
    auto* topic = p.service.broker().find_topic(kTopic);
    ASSERT_NE(topic, nullptr);
    EXPECT_EQ(topic->subscription_count(), 1u);
    EXPECT_NE(topic->subscription("t"), nullptr);
    EXPECT_EQ(p.service.broker().retained().get(kTopic), nullptr);
    Recorder r;
    const auto rid = p.service.open_receiver(r);
    ASSERT_TRUE(p.service.subscribe(kTopic, "t", shared_opts(), rid).ok());
    p.service.flow(rid, 100);
    p.settle();
    EXPECT_EQ(r.got, (std::vector<std::string>{"new"}));
    const auto report = check_store(*s.store);
    EXPECT_TRUE(report.ok()) << report.problems.front();
    EXPECT_EQ(report.topics, 1u);
    EXPECT_EQ(report.retained, 0u);
    p.settle();
  }
  s.store.reset();
  EXPECT_EQ(keys_of_topic(s.dir.sub("db"), old_id), 0u);
}

// Publishes still being stored when their topic is deleted complete with an error (the topic
// and what they stored are gone): before, the ledger dropped their completions with it, and
// the publishers (an MQTT PUBACK, a Pulsar SEND_RECEIPT) waited forever.
TEST(Restart, PublishesPendingOnADeletedTopicCompleteWithAnError) {
  StoreUnderTest s("rocks", /*sync=*/true);
  Process p(s);
  p.publish(kTopic, "stored");
  p.settle();
  const auto old_ledger = p.service.broker().find_topic(kTopic)->ledger().ledger_id();
  auto& rocks = static_cast<RocksStore&>(*s.store);
  rocks.hold_writes(true);
  std::vector<std::error_code> results;
  for (int i = 0; i < 3; ++i) {
    p.service.publish(kTopic, msg("pending" + std::to_string(i)),
                      [&](std::error_code ec, MessageId) { results.push_back(ec); });
  }
  s.executor.run_all();
  EXPECT_TRUE(results.empty());  // held in the store
  bool deleted = false;
  ASSERT_TRUE(p.service.broker().delete_topic(kTopic, [&](std::error_code ec) {
    EXPECT_FALSE(ec) << ec.message();
    deleted = true;
  }));
  EXPECT_TRUE(results.empty());  // not inside the delete: posted
  s.executor.run_all();
  ASSERT_EQ(results.size(), 3u);
  for (const auto& ec : results) EXPECT_EQ(ec, make_error_code(service::ServiceError::topic_not_found));
  rocks.hold_writes(false);
  p.settle();
  EXPECT_TRUE(deleted);
  EXPECT_EQ(results.size(), 3u);  // each completed once
  // The name is a new topic for the next publish, which succeeds.
  p.publish(kTopic, "after");
  p.settle();
  ASSERT_NE(p.service.broker().find_topic(kTopic), nullptr);
  EXPECT_NE(p.service.broker().find_topic(kTopic)->ledger().ledger_id(), old_ledger);
}

TEST(Restart, ACorruptRecordStopsTheRestoreNamingIt) {
  StoreUnderTest s("rocks");
  {
    Process p(s);
    Recorder r;
    ASSERT_TRUE(p.service.subscribe(kTopic, "s", shared_opts(), p.service.open_receiver(r)).ok());
    p.settle();
  }
  // A cursor value no decoder accepts.
  const auto id = s.store->find_topic(kTopic.str());
  ASSERT_TRUE(id.ok() && id->has_value());
  s.store.reset();
  ASSERT_NO_FATAL_FAILURE(put_raw(s.dir.sub("db"), RocksStore::kCursors, key::topic_named(**id, "s"), "\xff\xff"));
  s.open();
  StorePersistence persistence(*s.store, s.executor);
  ManualClock clock;
  service::EmbeddedService svc(s.executor, clock, ledger_factory(*s.store, s.executor), &persistence);
  const auto e = svc.restore();
  ASSERT_FALSE(e.ok());
  EXPECT_EQ(e.error().code, make_error_code(StorageErrc::corruption));
  EXPECT_NE(e.error().message.find("cursors"), std::string::npos) << e.error().message;
  EXPECT_NE(e.error().message.find(s.dir.sub("db")), std::string::npos) << e.error().message;
}

}  // namespace
}  // namespace mop::storage::test
