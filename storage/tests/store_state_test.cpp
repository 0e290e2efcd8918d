// StoreSessionStore and StoreMetadataStore: the state store contract (service/tests/
// state_store_contract.hpp) over MemoryStore and RocksStore, plus what only a Store can show:
// completion after the sync, and the records across a reopen.
#include "storage/store_state.hpp"

#include <gtest/gtest.h>

#include "service/tests/state_store_contract.hpp"
#include "storage/tests/store_fixture.hpp"

namespace mop::storage::test {
namespace {

class StoreStateHarness final : public service::testing::StateStoreHarness {
public:
  explicit StoreStateHarness(const std::string& kind)
      : store_(kind), sessions_(*store_.store, store_.executor), metadata_(*store_.store, store_.executor) {}
  service::SessionStore& sessions() override { return sessions_; }
  service::MetadataStore& metadata() override { return metadata_; }
  // In `mop standalone` another instance over the same state is one over the same Store.
  std::unique_ptr<service::SessionStore> other_sessions() override {
    return std::make_unique<StoreSessionStore>(*store_.store, store_.executor);
  }
  std::unique_ptr<service::MetadataStore> other_metadata() override {
    return std::make_unique<StoreMetadataStore>(*store_.store, store_.executor);
  }
  void settle() override {
    do {
      (void)store_.store->flush();
    } while (store_.executor.run_all() > 0);
  }
  bool fail_next_writes(int n) override {
    auto* mem = dynamic_cast<MemoryStore*>(store_.store.get());
    if (mem == nullptr) return false;
    mem->fail_next_writes(n);
    return true;
  }

private:
  StoreUnderTest store_;
  StoreSessionStore sessions_;
  StoreMetadataStore metadata_;
};

}  // namespace
}  // namespace mop::storage::test

namespace mop::service::testing {
INSTANTIATE_TEST_SUITE_P(
    StoreState, StateStoreContract,
    ::testing::Values(
        StateStoreParam{"memory_store", [] { return std::make_unique<storage::test::StoreStateHarness>("memory"); }},
        StateStoreParam{"rocks_store", [] { return std::make_unique<storage::test::StoreStateHarness>("rocks"); }}),
    StateStoreParamName{});
}  // namespace mop::service::testing

namespace mop::storage::test {
namespace {

TEST(StoreSessionStore, SessionsAndWillsSurviveARestartAndAreStoredBeforeCompletion) {
  StoreUnderTest s("rocks", /*sync=*/true);
  service::SessionRecord session;
  session.client_id = "c1";
  session.expiry_interval_s = 3600;
  session.disconnected_at_ms = 1'700'000'000'000ULL;
  session.subscriptions = {{"a/#", 2, 0, 0}};
  session.inbound_qos2 = {7};
  service::WillRecord will;
  will.client_id = "c1";
  will.topic = "persistent://public/default/status";
  will.message.payload = Payload::copy_of("offline");
  will.delay_s = 10;
  {
    StoreSessionStore sessions(*s.store, s.executor);
    auto& rocks = static_cast<RocksStore&>(*s.store);
    rocks.hold_writes(true);  // the sync is "in progress"
    int done = 0;
    auto count = [&](Result<void, Error> r) {
      EXPECT_TRUE(r.ok());
      ++done;
    };
    sessions.put_session(session, count);
    sessions.put_will(will, count);
    sessions.put_session([] { service::SessionRecord gone; gone.client_id = "c2"; return gone; }(), {});
    sessions.delete_session("c2", count);
    s.executor.run_until([] { return false; }, std::chrono::milliseconds(50));
    EXPECT_EQ(done, 0);  // not before the write is durable
    std::optional<std::size_t> loaded;
    sessions.load([&](Result<service::SessionSnapshot, Error> r) {
      ASSERT_TRUE(r.ok());
      loaded = r->sessions.size();
    });
    ASSERT_TRUE(s.executor.run_until([&] { return loaded.has_value(); }));
    EXPECT_EQ(*loaded, 0u);  // nor reported by a read
    rocks.hold_writes(false);
    ASSERT_TRUE(s.executor.run_until([&] { return done == 3; }));
    auto read = sessions.read();
    ASSERT_TRUE(read.ok());
    ASSERT_EQ(read->sessions.size(), 1u);
  }
  s.reopen();
  StoreSessionStore sessions(*s.store, s.executor);
  auto restored = sessions.read();
  ASSERT_TRUE(restored.ok()) << restored.error().message;
  EXPECT_EQ(restored->sessions, std::vector<service::SessionRecord>{session});
  EXPECT_EQ(restored->wills, std::vector<service::WillRecord>{will});
  sessions.delete_will("c1", {});
  ASSERT_TRUE(s.store->flush().ok());
  s.executor.run_all();
  EXPECT_TRUE(sessions.read()->wills.empty());
  EXPECT_TRUE(s.store->wills()->empty());
}

TEST(StoreSessionStore, AFailedWriteIsReportedNamingWhatAndLeavesTheStateUnchanged) {
  StoreUnderTest s("memory");
  auto& mem = static_cast<MemoryStore&>(*s.store);
  StoreSessionStore sessions(mem, s.executor);
  service::SessionRecord session;
  session.client_id = "c";
  mem.fail_next_writes(1);
  std::optional<Result<void, Error>> got;
  sessions.put_session(session, [&](Result<void, Error> r) { got = std::move(r); });
  ASSERT_TRUE(s.executor.run_until([&] { return got.has_value(); }));
  ASSERT_FALSE(got->ok());
  EXPECT_NE(got->error().message.find("MQTT session"), std::string::npos) << got->error().message;
  EXPECT_TRUE(sessions.read()->sessions.empty());
  EXPECT_TRUE(mem.sessions()->empty());
  got.reset();
  sessions.put_session(session, [&](Result<void, Error> r) { got = std::move(r); });
  ASSERT_TRUE(s.executor.run_until([&] { return got.has_value(); }));
  EXPECT_TRUE(got->ok());
  EXPECT_EQ(sessions.read()->sessions.size(), 1u);
}

TEST(StoreMetadataStore, PartitionedTopicsAndSchemasSurviveARestart) {
  StoreUnderTest s("rocks", /*sync=*/true);
  const service::SchemaRecord schema{"persistent://t/n/s", 0, 2, "json", "{}", {{"k", "v"}}};
  {
    StoreMetadataStore metadata(*s.store, s.executor);
    int done = 0;
    metadata.put_partitioned_topic({"persistent://t/n/p", 3}, [&](Result<void, Error> r) { done += r.ok(); });
    metadata.put_schema(schema, [&](Result<void, Error> r) { done += r.ok(); });
    ASSERT_TRUE(s.executor.run_until([&] { return done == 2; }));
  }
  s.reopen();
  StoreMetadataStore metadata(*s.store, s.executor);
  auto restored = metadata.read();
  ASSERT_TRUE(restored.ok()) << restored.error().message;
  EXPECT_EQ(restored->partitioned_topics, (std::vector<service::PartitionedTopicRecord>{{"persistent://t/n/p", 3}}));
  // Schemas are read one topic at a time (SchemaRegistry asks when a request needs one).
  std::optional<Result<std::optional<service::SchemaRecord>, Error>> read;
  metadata.get_schema(schema.topic, [&](Result<std::optional<service::SchemaRecord>, Error> r) { read = std::move(r); });
  ASSERT_TRUE(s.executor.run_until([&] { return read.has_value(); }));
  ASSERT_TRUE(read->ok()) << read->error().message;
  EXPECT_EQ(read->value(), schema);
}

}  // namespace
}  // namespace mop::storage::test
