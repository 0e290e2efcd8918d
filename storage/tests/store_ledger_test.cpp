// StoreLedger against the broker's expectations: the MessagingService contract suite run on
// EmbeddedService over ledger_factory (MemoryStore and RocksStore), plus what is specific to a
// durable ledger: completion only after the group's sync, reopen, failure rewind.
#include "storage/store_ledger.hpp"

#include <filesystem>
#include <fstream>
#include <iterator>

#include <gtest/gtest.h>

#include "service/embedded_service.hpp"
#include "service/tests/service_contract.hpp"
#include "storage/encoding.hpp"
#include "storage/store_persistence.hpp"
#include "storage/tests/store_fixture.hpp"

namespace mop::storage::test {
namespace {

using service::TopicName;

class StoredHarness final : public service::testing::ContractHarness {
public:
  explicit StoredHarness(const std::string& kind)
      : store_(kind),
        persistence_(*store_.store, store_.executor),
        service_(store_.executor, clock_, ledger_factory(*store_.store, store_.executor), &persistence_) {
    const auto restored = service_.restore();
    EXPECT_TRUE(restored.ok()) << restored.error().message;
  }
  service::MessagingService& service() override { return service_; }
  void settle() override {
    // Until quiet: the storage thread may still complete writes that the posted work issued.
    do {
      (void)store_.store->flush();
    } while (store_.executor.run_all() > 0);
  }
  std::optional<std::size_t> pending_tasks() override { return store_.executor.pending(); }
  std::optional<std::size_t> stored_entries(const TopicName& topic) override {
    const auto* t = service_.broker().find_topic(topic);
    return t == nullptr ? 0 : t->ledger().entry_count();
  }

private:
  StoreUnderTest store_;
  ManualClock clock_;
  StorePersistence persistence_;
  service::EmbeddedService service_;
};

}  // namespace
}  // namespace mop::storage::test

namespace mop::service::testing {
INSTANTIATE_TEST_SUITE_P(
    StoreLedger, ServiceContract,
    ::testing::Values(ContractParam{"memory_store", [] { return std::make_unique<storage::test::StoredHarness>("memory"); }},
                      ContractParam{"rocks_store", [] { return std::make_unique<storage::test::StoredHarness>("rocks"); }},
                      ContractParam{"rocks_store_entry_log",
                                    [] { return std::make_unique<storage::test::StoredHarness>("rocks_entry_log"); }}),
    ContractParamName{});
}  // namespace mop::service::testing

namespace mop::storage::test {
namespace {

MessagePtr msg(const std::string& text) {
  auto m = std::make_shared<service::Message>();
  m->payload = Payload::copy_of(text);
  m->producer_name = "p";
  return m;
}

std::string text(const std::optional<broker::Entry>& e) { return e ? std::string(e->message->payload.view()) : "<none>"; }

TEST(StoreLedger, CompletionOnlyAfterTheGroupIsDurable) {
  StoreUnderTest s("rocks", /*sync=*/true);
  auto& rocks = static_cast<RocksStore&>(*s.store);
  auto ledger = StoreLedger::open(rocks, s.executor, "persistent://t/n/a");
  ASSERT_TRUE(ledger.ok()) << ledger.error().to_string();
  auto& l = **ledger;
  EXPECT_EQ(l.first(), l.end());
  rocks.hold_writes(true);  // the sync is "in progress"
  std::vector<MessageId> done;
  for (int i = 0; i < 3; ++i) {
    l.append(msg("m" + std::to_string(i)), [&](std::error_code ec, MessageId id) {
      EXPECT_FALSE(ec);
      done.push_back(id);
    });
  }
  s.executor.run_until([] { return false; }, std::chrono::milliseconds(50));
  EXPECT_TRUE(done.empty());
  EXPECT_EQ(l.end().entry, 0u);  // not readable before it is durable
  EXPECT_EQ(l.read({l.ledger_id(), 0, -1}), std::nullopt);
  const auto batches = rocks.write_batches();
  rocks.hold_writes(false);
  ASSERT_TRUE(s.executor.run_until([&] { return done.size() == 3; }));
  EXPECT_EQ(rocks.write_batches() - batches, 1u);  // one sync for the three
  EXPECT_EQ(done, (std::vector<MessageId>{{l.ledger_id(), 0, -1}, {l.ledger_id(), 1, -1}, {l.ledger_id(), 2, -1}}));
  EXPECT_EQ(l.end().entry, 3u);
  EXPECT_EQ(text(l.read({l.ledger_id(), 1, -1})), "m1");
  EXPECT_EQ(l.store_reads(), 0u);  // served by the tail cache
}

// A ledger whose tail cache holds at most 1000 entries and 3,000 bytes of payload.
Result<std::unique_ptr<StoreLedger>, Error> open_with_three_kb_cache(StoreUnderTest& s, const std::string& name) {
  StoreLedger::Options o;
  o.tail_cache_entries = 1000;
  o.tail_cache_bytes = 3 * 1000;
  return StoreLedger::open(*s.store, s.executor, name, o);
}

// A message of 1,000 bytes whose first is the digit of `i`.
MessagePtr kb_message(int i) { return msg(std::to_string(i) + std::string(999, 'x')); }

// Appends kb_message(0 .. n-1) and waits for their completions.
bool append_kb_messages(StoreUnderTest& s, StoreLedger& l, int n) {
  int done = 0;
  for (int i = 0; i < n; ++i) l.append(kb_message(i), [&](std::error_code, MessageId) { ++done; });
  return s.executor.run_until([&] { return done == n; });
}

TEST(StoreLedger, TheTailCacheHoldsAtMostItsBytesOfPayload) {
  // A subscriber that stopped reading leaves its backlog in the store: however many entries the
  // cache may hold, large ones are evicted once their payloads pass tail_cache_bytes.
  StoreUnderTest s("memory");
  auto l = open_with_three_kb_cache(s, "persistent://t/n/big");
  ASSERT_TRUE(l.ok());
  const auto id = (*l)->ledger_id();
  ASSERT_TRUE(append_kb_messages(s, **l, 10));
  for (std::uint64_t e = 7; e < 10; ++e) EXPECT_EQ(text((*l)->read({id, e, -1})).substr(0, 1), std::to_string(e));
  EXPECT_EQ((*l)->store_reads(), 0u);  // the last three: 3,000 bytes, in the cache
  EXPECT_EQ(text((*l)->read({id, 6, -1})).substr(0, 1), "6");
  EXPECT_EQ((*l)->store_reads(), 1u);  // the fourth from the end was evicted
  for (std::uint64_t e = 0; e < 6; ++e) EXPECT_EQ(text((*l)->read({id, e, -1})).substr(0, 1), std::to_string(e));
}

TEST(StoreLedger, PendingAppendsDoNotEvictConfirmedEntriesFromTheTailCache) {
  // Under QoS 0 with 64 KiB messages the appends waiting for their group commit were megabytes:
  // counted against tail_cache_bytes, they evicted the confirmed entries a subscriber was about
  // to read as each confirmation came, and it read them back from the store. Only confirmed
  // entries count now.
  StoreUnderTest s("rocks");
  auto* rocks = dynamic_cast<RocksStore*>(s.store.get());
  ASSERT_NE(rocks, nullptr);
  auto l = open_with_three_kb_cache(s, "persistent://t/n/pending");
  ASSERT_TRUE(l.ok());
  const auto id = (*l)->ledger_id();
  ASSERT_TRUE(append_kb_messages(s, **l, 2));
  int done = 2;
  rocks->hold_writes(true);  // the next six join one group: confirmed one after another
  std::vector<std::string> read_at_confirmation;
  for (int i = 2; i < 8; ++i) {
    (*l)->append(kb_message(i), [&, i](std::error_code ec, MessageId) {
      ASSERT_FALSE(ec);
      ++done;
      // What a subscriber two entries behind reads when entry i is confirmed (i - 2 .. i).
      if (i == 3) {
        for (std::uint64_t e = 1; e <= 3; ++e) read_at_confirmation.push_back(text((*l)->read({id, e, -1})).substr(0, 1));
      }
    });
  }
  const auto reads_before = (*l)->store_reads();
  rocks->hold_writes(false);
  ASSERT_TRUE(s.executor.run_until([&] { return done == 8; }));
  EXPECT_EQ(read_at_confirmation, (std::vector<std::string>{"1", "2", "3"}));
  EXPECT_EQ((*l)->store_reads(), reads_before);  // from the tail cache, with four appends still pending
  // All confirmed: the bound holds, the last three in the cache and the fourth from the end evicted.
  for (std::uint64_t e = 5; e < 8; ++e) EXPECT_EQ(text((*l)->read({id, e, -1})).substr(0, 1), std::to_string(e));
  EXPECT_EQ((*l)->store_reads(), reads_before);
  EXPECT_EQ(text((*l)->read({id, 4, -1})).substr(0, 1), "4");
  EXPECT_EQ((*l)->store_reads(), reads_before + 1);
}

// A ledger of `topic` keeping `tail_entries` in its tail cache, with ten entries `prefix`0..9
// appended and durable.
std::unique_ptr<StoreLedger> ledger_with_ten(StoreUnderTest& s, const std::string& topic, std::size_t tail_entries,
                                             const std::string& prefix) {
  StoreLedger::Options o;
  o.tail_cache_entries = tail_entries;
  auto l = StoreLedger::open(*s.store, s.executor, topic, o);
  EXPECT_TRUE(l.ok());
  if (!l.ok()) return nullptr;
  int done = 0;
  for (int i = 0; i < 10; ++i) (*l)->append(msg(prefix + std::to_string(i)), [&](std::error_code, MessageId) { ++done; });
  EXPECT_TRUE(s.executor.run_until([&] { return done == 10; }));
  return std::move(*l);
}

TEST(StoreLedger, ReopenResumesAfterTheStoredLogAndReadsTheBacklog) {
  StoreUnderTest s("rocks");
  std::uint64_t ledger_id = 0;
  {
    auto l = ledger_with_ten(s, "persistent://t/n/a", 2, "m");
    ASSERT_TRUE(l);
    ledger_id = l->ledger_id();
    EXPECT_EQ(text(l->read({ledger_id, 1, -1})), "m1");  // evicted from the tail: read from the store
    EXPECT_EQ(l->store_reads(), 1u);
    EXPECT_EQ(text(l->read({ledger_id, 2, -1})), "m2");  // read ahead with it
    EXPECT_EQ(l->store_reads(), 1u);
    l->trim_before({ledger_id, 4, -1});
    ASSERT_TRUE(s.store->flush().ok());
    s.executor.run_all();
  }
  s.reopen();
  auto l = StoreLedger::open(*s.store, s.executor, "persistent://t/n/a");
  ASSERT_TRUE(l.ok()) << l.error().to_string();
  EXPECT_EQ((*l)->ledger_id(), ledger_id);
  EXPECT_EQ((*l)->first(), (MessageId{ledger_id, 4, -1}));
  EXPECT_EQ((*l)->end(), (MessageId{ledger_id, 10, -1}));
  EXPECT_EQ((*l)->entry_count(), 6u);
  EXPECT_EQ((*l)->read({ledger_id, 3, -1}), std::nullopt);
  for (std::uint64_t e = 4; e < 10; ++e) EXPECT_EQ(text((*l)->read({ledger_id, e, -1})), "m" + std::to_string(e));
  MessageId next;
  (*l)->append(msg("m10"), [&](std::error_code, MessageId id) { next = id; });
  ASSERT_TRUE(s.executor.run_until([&] { return next.entry == 10; }));
  // Everything trimmed: the floor survives a restart, so ids are not reused.
  (*l)->trim_before((*l)->end());
  ASSERT_TRUE(s.store->flush().ok());
  s.executor.run_all();
  l = Result<std::unique_ptr<StoreLedger>, Error>(Error(StorageErrc::closed, "closed"));
  s.reopen();
  auto again = StoreLedger::open(*s.store, s.executor, "persistent://t/n/a");
  ASSERT_TRUE(again.ok());
  EXPECT_EQ((*again)->first(), (MessageId{ledger_id, 11, -1}));
  EXPECT_EQ((*again)->end(), (MessageId{ledger_id, 11, -1}));
}

// A damaged entry in the backlog (bytes of the entry log altered) is the only one lost: the
// entries before it in the same read-ahead, and after it, are still read and delivered.
TEST(StoreLedger, ADamagedEntryLosesOnlyItselfNotItsReadAhead) {
  StoreUnderTest s("rocks_entry_log");  // every entry in the entry log, CRC32C-checked on read
  std::uint64_t ledger_id = 0;
  {
    auto l = ledger_with_ten(s, "persistent://t/n/damaged", 1, "payload-");
    ASSERT_TRUE(l);
    ledger_id = l->ledger_id();
  }
  s.store.reset();
  // Flip a byte of entry 5's payload where the entry log holds it.
  bool altered = false;
  for (const auto& f : std::filesystem::directory_iterator(s.dir.sub("db") + "/entrylog")) {
    std::fstream io(f.path(), std::ios::in | std::ios::out | std::ios::binary);
    const std::string bytes((std::istreambuf_iterator<char>(io)), std::istreambuf_iterator<char>());
    const auto at = bytes.find("payload-5");
    if (at == std::string::npos) continue;
    io.seekp(static_cast<std::streamoff>(at));
    io.put('P');
    altered = true;
  }
  ASSERT_TRUE(altered);
  s.open();
  StoreLedger::Options o;
  o.tail_cache_entries = 1;
  auto l = StoreLedger::open(*s.store, s.executor, "persistent://t/n/damaged", o);
  ASSERT_TRUE(l.ok()) << l.error().to_string();
  for (std::uint64_t e = 0; e < 9; ++e) {  // entry 9 is in the tail cache
    if (e == 5) {
      EXPECT_EQ((*l)->read({ledger_id, e, -1}), std::nullopt);
    } else {
      EXPECT_EQ(text((*l)->read({ledger_id, e, -1})), "payload-" + std::to_string(e)) << "entry " << e;
    }
  }
}

TEST(StoreLedger, FailedAppendFailsTheLaterOnesAndRewinds) {
  StoreUnderTest s("memory");
  auto& mem = static_cast<MemoryStore&>(*s.store);
  auto l = StoreLedger::open(mem, s.executor, "persistent://t/n/a");
  ASSERT_TRUE(l.ok());
  const auto lid = (*l)->ledger_id();
  std::vector<std::pair<bool, std::uint64_t>> results;
  auto record = [&](std::error_code ec, MessageId id) { results.emplace_back(!ec, id.entry); };
  (*l)->append(msg("ok"), record);
  s.executor.run_all();
  mem.fail_next_writes(1);
  (*l)->append(msg("fails"), record);
  (*l)->append(msg("written, but after a failure"), record);  // the store accepts it
  s.executor.run_all();
  EXPECT_EQ(results, (std::vector<std::pair<bool, std::uint64_t>>{{true, 0}, {false, 1}, {false, 2}}));
  EXPECT_EQ((*l)->end(), (MessageId{lid, 1, -1}));
  EXPECT_EQ((*l)->read({lid, 1, -1}), std::nullopt);
  // The next append reuses id 1 and removes the stray entry 2 in the same atomic write.
  (*l)->append(msg("retry"), record);
  s.executor.run_all();
  EXPECT_EQ(results.back(), (std::pair<bool, std::uint64_t>{true, 1}));
  const auto stored = mem.log_read((*l)->topic_id(), {lid, 0, -1}, {lid, 100, -1}, 100);
  ASSERT_EQ(stored->size(), 2u);
  service::Message m;
  ASSERT_TRUE(decode_message((*stored)[1].value, m).ok());
  EXPECT_EQ(m.payload.view(), "retry");
}

TEST(StoreLedger, EmbeddedServiceSurvivesARestart) {
  StoreUnderTest s("rocks");
  ManualClock clock;
  const TopicName topic(service::TopicDomain::persistent, "public", "default", "t");
  int acked = 0;
  {
    service::EmbeddedService svc(s.executor, clock, ledger_factory(*s.store, s.executor));
    // A subscription with no permits holds the entries (the broker trims what nobody needs).
    struct Idle final : service::ReceiverListener {
      void on_message(const TopicName&, const std::string&, MessageId, const MessagePtr&, std::uint32_t) override {}
    } idle;
    ASSERT_TRUE(svc.subscribe(topic, "s", {}, svc.open_receiver(idle)).ok());
    for (int i = 0; i < 5; ++i) {
      svc.publish(topic, msg("m" + std::to_string(i)), [&](std::error_code ec, MessageId) { acked += ec ? 0 : 1; });
    }
    ASSERT_TRUE(s.executor.run_until([&] { return acked == 5; }));
  }
  s.reopen();
  service::EmbeddedService svc(s.executor, clock, ledger_factory(*s.store, s.executor));
  struct Listener final : service::ReceiverListener {
    void on_message(const TopicName&, const std::string&, MessageId, const MessagePtr& m, std::uint32_t) override {
      got.emplace_back(m->payload.view());
    }
    std::vector<std::string> got;
  } listener;
  const auto rid = svc.open_receiver(listener);
  service::SubscriptionOptions o;
  o.initial_position = service::InitialPosition::earliest;
  ASSERT_TRUE(svc.subscribe(topic, "s", o, rid).ok());
  svc.flow(rid, 100);
  ASSERT_TRUE(s.executor.run_until([&] { return listener.got.size() == 5; }));
  EXPECT_EQ(listener.got, (std::vector<std::string>{"m0", "m1", "m2", "m3", "m4"}));
}

// A subscription whose receivers have no permits does not read its next message: Topic calls
// dispatch() for every entry a group commit confirms, and two subscriptions behind the tail
// cache, at different positions, replaced each other's read-ahead window at every one of those
// calls: a store read per subscription per confirmed entry, for messages nobody could take.
// After a slow sync, that kept the broker's thread busy for seconds (broker/README.md).
TEST(StoreLedger, PausedSubscriptionsDoNotReadTheBacklogAtEveryConfirmedEntry) {
  StoreUnderTest s("rocks");
  auto& rocks = static_cast<RocksStore&>(*s.store);
  ManualClock clock;
  StoreLedger::Options o;
  o.tail_cache_entries = 16;
  o.read_ahead_entries = 8;
  service::EmbeddedService svc(s.executor, clock, ledger_factory(*s.store, s.executor, o));
  const TopicName topic(service::TopicDomain::persistent, "public", "default", "paused");
  struct Listener final : service::ReceiverListener {
    void on_message(const TopicName&, const std::string&, MessageId, const MessagePtr& m, std::uint32_t) override {
      got.emplace_back(m->payload.view());
    }
    std::vector<std::string> got;
  } a, b;
  const auto ra = svc.open_receiver(a), rb = svc.open_receiver(b);
  ASSERT_TRUE(svc.subscribe(topic, "a", {}, ra).ok());
  ASSERT_TRUE(svc.subscribe(topic, "b", {}, rb).ok());
  svc.flow(rb, 50);  // b takes the first 50, a none: their positions differ
  int acked = 0;
  auto publish = [&](int from, int to) {
    for (int i = from; i < to; ++i) {
      svc.publish(topic, msg("m" + std::to_string(i)), [&](std::error_code ec, MessageId) { acked += ec ? 0 : 1; });
    }
  };
  publish(0, 100);
  ASSERT_TRUE(s.executor.run_until([&] { return acked == 100 && b.got.size() == 50; }));
  const auto* ledger = dynamic_cast<const StoreLedger*>(&svc.broker().find_topic(topic)->ledger());
  ASSERT_NE(ledger, nullptr);
  const auto reads_before = ledger->store_reads();
  // A slow sync: 100 more wait for it, then are confirmed together.
  rocks.hold_writes(true);
  publish(100, 200);
  s.executor.run_until([] { return false; }, std::chrono::milliseconds(20));
  rocks.hold_writes(false);
  ASSERT_TRUE(s.executor.run_until([&] { return acked == 200; }));
  s.executor.run_all();
  EXPECT_EQ(ledger->store_reads(), reads_before) << "the backlog was read for subscriptions without permits";
  // Permits come: each reads its backlog once, in order, and gets all of it.
  svc.flow(ra, 1000);
  svc.flow(rb, 1000);
  ASSERT_TRUE(s.executor.run_until([&] { return a.got.size() == 200 && b.got.size() == 200; }));
  for (int i = 0; i < 200; ++i) {
    EXPECT_EQ(a.got[static_cast<std::size_t>(i)], "m" + std::to_string(i));
    EXPECT_EQ(b.got[static_cast<std::size_t>(i)], "m" + std::to_string(i));
  }
  EXPECT_LE(ledger->store_reads() - reads_before, 2u * (200 / 8 + 1)) << "one store read per read-ahead window";
}

TEST(StoreLedger, NonPersistentTopicsAreNotStored) {
  StoreUnderTest s("memory");
  auto factory = ledger_factory(*s.store, s.executor);
  auto l = factory(TopicName(service::TopicDomain::non_persistent, "public", "default", "t"));
  bool done = false;
  l->append(msg("x"), [&](std::error_code, MessageId) { done = true; });
  s.executor.run_all();
  EXPECT_TRUE(done);
  EXPECT_TRUE(s.store->topics()->empty());
}

}  // namespace
}  // namespace mop::storage::test
