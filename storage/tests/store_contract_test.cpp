// The Store contract, run against MemoryStore and RocksStore.
#include "storage/encoding.hpp"
#include "storage/tests/store_fixture.hpp"

namespace mop::storage::test {
namespace {

class StoreContract : public ::testing::TestWithParam<std::string> {
protected:
  StoreUnderTest s{GetParam()};
  Store& store() { return *s.store; }
  std::uint64_t topic(const std::string& name = "persistent://t/n/a") {
    auto id = store().ensure_topic(name);
    EXPECT_TRUE(id.ok());
    return id.ok() ? *id : 0;
  }
  static std::string value(int i) { return "v" + std::to_string(i); }
  void append(std::uint64_t t, std::uint64_t from, std::uint64_t to) {
    Batch b;
    for (auto e = from; e < to; ++e) b.append(t, {t, e, -1}, value(static_cast<int>(e)));
    ASSERT_TRUE(s.write(std::move(b)).ok());
  }
  std::vector<std::uint64_t> entries(std::uint64_t t) {
    auto r = store().log_read(t, {0, 0, -1}, {UINT64_MAX, 0, -1}, 1000);
    EXPECT_TRUE(r.ok());
    std::vector<std::uint64_t> out;
    for (const auto& e : *r) {
      EXPECT_EQ(e.value, value(static_cast<int>(e.id.entry)));
      out.push_back(e.id.entry);
    }
    return out;
  }
};

TEST_P(StoreContract, TopicsGetStableDistinctIds) {
  const auto a = topic("persistent://t/n/a"), b = topic("persistent://t/n/b");
  EXPECT_NE(a, b);
  EXPECT_EQ(topic("persistent://t/n/a"), a);
  EXPECT_EQ(*store().find_topic("persistent://t/n/b"), std::optional{b});
  EXPECT_EQ(*store().find_topic("persistent://t/n/zz"), std::nullopt);
  const auto all = store().topics();
  ASSERT_TRUE(all.ok());
  EXPECT_EQ(*all, (std::vector<TopicRecord>{{a, "persistent://t/n/a"}, {b, "persistent://t/n/b"}}));
  EXPECT_FALSE(store().ensure_topic("").ok());
}

TEST_P(StoreContract, CompletionIsPostedNotInline) {
  bool done = false;
  Batch b;
  b.delete_session("nobody");
  store().write(std::move(b), s.executor, [&](const Result<void, Error>& r) {
    EXPECT_TRUE(r.ok());
    done = true;
  });
  EXPECT_FALSE(done);
  ASSERT_TRUE(store().flush().ok());
  EXPECT_FALSE(done);  // still not run: it waits in the executor
  s.executor.run_all();
  EXPECT_TRUE(done);
}

TEST_P(StoreContract, CompletionsRunInWriteOrder) {
  std::vector<int> order;
  const auto t = topic();
  for (int i = 0; i < 50; ++i) {
    Batch b;
    b.append(t, {t, static_cast<std::uint64_t>(i), -1}, value(i));
    store().write(std::move(b), s.executor, [&order, i](const Result<void, Error>&) { order.push_back(i); });
  }
  ASSERT_TRUE(s.executor.run_until([&] { return order.size() == 50; }));
  for (int i = 0; i < 50; ++i) EXPECT_EQ(order[static_cast<std::size_t>(i)], i);
}

TEST_P(StoreContract, LogAppendReadBounds) {
  const auto t = topic(), other = topic("persistent://t/n/other");
  EXPECT_EQ(*store().log_bounds(t), std::nullopt);
  append(t, 0, 10);
  append(other, 0, 3);
  EXPECT_EQ(*store().log_bounds(t), (std::optional{LogBounds{{t, 0, -1}, {t, 10, -1}}}));
  EXPECT_EQ(entries(t), (std::vector<std::uint64_t>{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}));
  auto r = store().log_read(t, {t, 3, -1}, {t, 7, -1}, 2);
  ASSERT_TRUE(r.ok());
  ASSERT_EQ(r->size(), 2u);
  EXPECT_EQ((*r)[0].id, (MessageId{t, 3, -1}));
  EXPECT_EQ((*r)[1].id, (MessageId{t, 4, -1}));
  r = store().log_read(t, {t, 8, -1}, {t, 100, -1}, 100);
  ASSERT_EQ(r->size(), 2u);
  EXPECT_EQ(entries(other), (std::vector<std::uint64_t>{0, 1, 2}));
}

TEST_P(StoreContract, TrimKeepsTheFloorWhenEverythingIsGone) {
  const auto t = topic();
  append(t, 0, 5);
  Batch b;
  b.trim(t, {t, 3, -1});
  ASSERT_TRUE(s.write(std::move(b)).ok());
  EXPECT_EQ(entries(t), (std::vector<std::uint64_t>{3, 4}));
  EXPECT_EQ(*store().log_bounds(t), (std::optional{LogBounds{{t, 3, -1}, {t, 5, -1}}}));
  Batch all;
  all.trim(t, {t, 5, -1});
  ASSERT_TRUE(s.write(std::move(all)).ok());
  EXPECT_TRUE(entries(t).empty());
  // Entry ids are never reused: the next append goes to 5.
  EXPECT_EQ(*store().log_bounds(t), (std::optional{LogBounds{{t, 5, -1}, {t, 5, -1}}}));
}

TEST_P(StoreContract, TruncateDropsTheTail) {
  const auto t = topic();
  append(t, 0, 6);
  Batch b;
  b.truncate(t, {t, 4, -1});
  b.append(t, {t, 4, -1}, value(4));
  ASSERT_TRUE(s.write(std::move(b)).ok());
  EXPECT_EQ(entries(t), (std::vector<std::uint64_t>{0, 1, 2, 3, 4}));
}

TEST_P(StoreContract, SubscriptionsAndCursors) {
  const auto t = topic(), other = topic("persistent://t/n/o");
  Batch b;
  b.put_subscription(t, {"s2", service::SubscriptionType::failover, true});
  b.put_subscription(t, {"s1", service::SubscriptionType::exclusive, false});
  b.put_subscription(other, {"x", service::SubscriptionType::shared, true});
  b.put_cursor(t, "s1", {{t, 4, -1}, {{t, 6, 6}, {t, 9, 12}}});
  ASSERT_TRUE(s.write(std::move(b)).ok());
  auto subs = store().subscriptions(t);
  ASSERT_TRUE(subs.ok());
  EXPECT_EQ(*subs, (std::vector<SubscriptionRecord>{{"s1", service::SubscriptionType::exclusive, false},
                                                    {"s2", service::SubscriptionType::failover, true}}));
  EXPECT_EQ(*store().cursor(t, "s1"), (std::optional{CursorRecord{{t, 4, -1}, {{t, 6, 6}, {t, 9, 12}}}}));
  EXPECT_EQ(*store().cursor(t, "s2"), std::nullopt);
  Batch d;
  d.delete_subscription(t, "s1");
  ASSERT_TRUE(s.write(std::move(d)).ok());
  EXPECT_EQ(store().subscriptions(t)->size(), 1u);
  EXPECT_EQ(*store().cursor(t, "s1"), std::nullopt);
  EXPECT_EQ(store().subscriptions(other)->size(), 1u);
}

TEST_P(StoreContract, SessionsRetainedWills) {
  SessionRecord a;
  a.client_id = "a";
  a.subscriptions = {{"x/#", 1, 0, 0}};
  a.inbound_qos2 = {4};
  a.outbound = {{9, "persistent://t/n/a", "sub", {1, 2, -1}, 2, OutboundState::publish_sent}};
  SessionRecord b;
  b.client_id = "b";
  b.clean_start = true;
  Message m;
  m.payload = Payload::copy_of("retained");
  WillRecord w{"a", "persistent://t/n/will", m, 1, false, 10, 1234};
  Batch batch;
  batch.put_session(b).put_session(a).put_retained({"persistent://t/n/r", m}).put_will(w);
  ASSERT_TRUE(s.write(std::move(batch)).ok());
  EXPECT_EQ(*store().sessions(), (std::vector<SessionRecord>{a, b}));
  EXPECT_EQ(*store().session("a"), std::optional{a});
  EXPECT_EQ(*store().session("nobody"), std::nullopt);
  ASSERT_EQ(store().retained()->size(), 1u);
  EXPECT_TRUE((*store().retained())[0] == (RetainedRecord{"persistent://t/n/r", m}));
  ASSERT_EQ(store().wills()->size(), 1u);
  EXPECT_TRUE((*store().wills())[0] == w);
  Batch del;
  del.delete_session("a").delete_retained("persistent://t/n/r").delete_will("a");
  ASSERT_TRUE(s.write(std::move(del)).ok());
  EXPECT_EQ(*store().sessions(), (std::vector<SessionRecord>{b}));
  EXPECT_TRUE(store().retained()->empty());
  EXPECT_TRUE(store().wills()->empty());
}

TEST_P(StoreContract, Permissions) {
  Batch b;
  b.put_permission({"t/n", "alice", 1}).put_permission({"persistent://t/n/x", "bob", 3}).put_permission({"t/n", "bob", 2});
  ASSERT_TRUE(s.write(std::move(b)).ok());
  EXPECT_EQ(*store().permissions(), (std::vector<PermissionRecord>{
                                        {"persistent://t/n/x", "bob", 3}, {"t/n", "alice", 1}, {"t/n", "bob", 2}}));
  Batch c;
  c.put_permission({"t/n", "alice", 3}).delete_permission("t/n", "bob");
  ASSERT_TRUE(s.write(std::move(c)).ok());
  if (s.can_reopen()) s.reopen();
  EXPECT_EQ(*store().permissions(),
            (std::vector<PermissionRecord>{{"persistent://t/n/x", "bob", 3}, {"t/n", "alice", 3}}));
}

TEST_P(StoreContract, TenantsAndNamespaces) {
  service::NamespacePolicies p;
  p.message_ttl_seconds = 60;
  p.backlog_quota = service::BacklogQuotaPolicy{4096, -1, "producer_exception"};
  Batch b;
  b.put_tenant({"acme", "{}"}).put_tenant({"b", R"({"adminRoles":["x"]})"});
  b.put_namespace({"acme/a", p}).put_namespace({"acme/b", {}});
  ASSERT_TRUE(s.write(std::move(b)).ok());
  if (s.can_reopen()) s.reopen();
  EXPECT_EQ(*store().tenants(), (std::vector<TenantRecord>{{"acme", "{}"}, {"b", R"({"adminRoles":["x"]})"}}));
  EXPECT_EQ(*store().namespaces(), (std::vector<NamespaceRecord>{{"acme/a", p}, {"acme/b", {}}}));
  Batch c;
  c.delete_tenant("b").delete_namespace("acme/b").put_namespace({"acme/a", {}});
  ASSERT_TRUE(s.write(std::move(c)).ok());
  if (s.can_reopen()) s.reopen();
  EXPECT_EQ(*store().tenants(), (std::vector<TenantRecord>{{"acme", "{}"}}));
  EXPECT_EQ(*store().namespaces(), (std::vector<NamespaceRecord>{{"acme/a", {}}}));
}

TEST_P(StoreContract, PulsarMetadata) {
  const auto t = topic(), other = topic("persistent://t/n/o");
  SchemaRecord schema{"persistent://t/n/a", 0, 2, "json", "{}", {{"k", "v"}}};
  Batch b;
  b.put_partitioned({"persistent://t/n/p", 3}).put_partitioned({"persistent://t/n/b", 1}).put_schema(schema);
  // A producer sequence goes in the same batch as the entry it completes.
  b.append(t, {t, 0, -1}, value(0)).put_producer_sequence(t, {"prod-b", 5}).put_producer_sequence(t, {"prod-a", 9});
  b.put_producer_sequence(other, {"prod-a", 1});
  ASSERT_TRUE(s.write(std::move(b)).ok());
  EXPECT_EQ(*store().partitioned_topics(),
            (std::vector<PartitionedTopicRecord>{{"persistent://t/n/b", 1}, {"persistent://t/n/p", 3}}));
  EXPECT_EQ(*store().schemas(), std::vector<SchemaRecord>{schema});
  EXPECT_EQ(*store().schema("persistent://t/n/a"), schema);  // one topic's, read alone
  EXPECT_EQ(*store().schema("persistent://t/n/p"), std::nullopt);
  EXPECT_EQ(*store().producer_sequences(t), (std::vector<ProducerSequence>{{"prod-a", 9}, {"prod-b", 5}}));
  EXPECT_EQ(*store().producer_sequences(other), (std::vector<ProducerSequence>{{"prod-a", 1}}));
  // Put replaces; delete removes one producer only.
  Batch c;
  c.put_partitioned({"persistent://t/n/p", 4}).put_producer_sequence(t, {"prod-a", 10}).delete_producer_sequence(t, "prod-b");
  ASSERT_TRUE(s.write(std::move(c)).ok());
  EXPECT_EQ(store().partitioned_topics()->back(), (PartitionedTopicRecord{"persistent://t/n/p", 4}));
  EXPECT_EQ(*store().producer_sequences(t), (std::vector<ProducerSequence>{{"prod-a", 10}}));
  if (s.can_reopen()) {
    s.reopen();
    EXPECT_EQ(store().partitioned_topics()->size(), 2u);
    EXPECT_EQ(*store().schemas(), std::vector<SchemaRecord>{schema});
    EXPECT_EQ(*store().schema("persistent://t/n/a"), schema);
    EXPECT_EQ(*store().producer_sequences(t), (std::vector<ProducerSequence>{{"prod-a", 10}}));
  }
  // A failed batch leaves no sequence record behind (it is atomic with its entry).
  if (auto* m = dynamic_cast<MemoryStore*>(&store())) {
    m->fail_next_writes(1);
    Batch f;
    f.append(t, {t, 1, -1}, value(1)).put_producer_sequence(t, {"prod-a", 11});
    EXPECT_FALSE(s.write(std::move(f)).ok());
    EXPECT_EQ(*store().producer_sequences(t), (std::vector<ProducerSequence>{{"prod-a", 10}}));
  }
}

TEST_P(StoreContract, DeleteTopicRemovesEverythingOfIt) {
  const auto t = topic(), other = topic("persistent://t/n/o");
  append(t, 0, 3);
  append(other, 0, 2);
  Batch b;
  b.put_subscription(t, {"s", service::SubscriptionType::shared, true}).put_cursor(t, "s", {{t, 1, -1}, {}});
  b.put_producer_sequence(t, {"p", 3}).put_producer_sequence(other, {"p", 4});
  ASSERT_TRUE(s.write(std::move(b)).ok());
  Batch d;
  d.delete_topic(t);
  ASSERT_TRUE(s.write(std::move(d)).ok());
  EXPECT_EQ(*store().find_topic("persistent://t/n/a"), std::nullopt);
  EXPECT_EQ(*store().log_bounds(t), std::nullopt);
  EXPECT_TRUE(store().subscriptions(t)->empty());
  EXPECT_EQ(*store().cursor(t, "s"), std::nullopt);
  EXPECT_TRUE(store().producer_sequences(t)->empty());
  EXPECT_EQ(store().producer_sequences(other)->size(), 1u);
  EXPECT_EQ(entries(other), (std::vector<std::uint64_t>{0, 1}));
  // A new topic never gets the old id back (records left over by a crash cannot attach to it).
  EXPECT_NE(topic("persistent://t/n/new"), t);
}

// A publish may recreate a topic while its delete is still queued: the name gets a fresh id at
// once, and the delete removes only what belonged to the old one (also across a reopen).
TEST_P(StoreContract, TopicRecreatedWhileItsDeleteIsQueued) {
  const auto old = topic();
  append(old, 0, 3);
  bool deleted = false;
  Batch d;
  d.delete_topic(old);
  store().write(std::move(d), s.executor, [&](const Result<void, Error>& r) {
    EXPECT_TRUE(r.ok());
    deleted = true;
  });
  EXPECT_EQ(*store().find_topic("persistent://t/n/a"), std::nullopt);  // at once, before the write
  const auto fresh = topic();
  EXPECT_NE(fresh, old);
  append(fresh, 0, 2);
  ASSERT_TRUE(s.executor.run_until([&] { return deleted; }));
  EXPECT_EQ(*store().find_topic("persistent://t/n/a"), std::optional{fresh});
  EXPECT_EQ(entries(fresh), (std::vector<std::uint64_t>{0, 1}));
  EXPECT_TRUE(entries(old).empty());
  if (!s.can_reopen()) return;
  s.reopen();
  EXPECT_EQ(*store().find_topic("persistent://t/n/a"), std::optional{fresh});
  EXPECT_EQ(*store().topics(), (std::vector<TopicRecord>{{fresh, "persistent://t/n/a"}}));
  EXPECT_EQ(entries(fresh), (std::vector<std::uint64_t>{0, 1}));
}

// Deleted and never recreated: nothing of it is left after a reopen (its range tombstones and
// its topic record are durable with the one write).
TEST_P(StoreContract, DeletedTopicStaysDeletedAfterReopen) {
  if (!s.can_reopen()) GTEST_SKIP() << "in-memory store";
  const auto t = topic();
  append(t, 0, 5);
  Batch b;
  b.put_subscription(t, {"s", service::SubscriptionType::shared, true}).put_cursor(t, "s", {{t, 2, -1}, {}});
  ASSERT_TRUE(s.write(std::move(b)).ok());
  Batch d;
  d.delete_topic(t);
  ASSERT_TRUE(s.write(std::move(d)).ok());
  s.reopen();
  EXPECT_EQ(*store().find_topic("persistent://t/n/a"), std::nullopt);
  EXPECT_TRUE(store().topics()->empty());
  EXPECT_EQ(*store().log_bounds(t), std::nullopt);
  EXPECT_TRUE(store().subscriptions(t)->empty());
  EXPECT_TRUE(entries(t).empty());
}

TEST_P(StoreContract, EverythingSurvivesReopen) {
  if (!s.can_reopen()) GTEST_SKIP() << "in-memory store";
  const auto t = topic();
  append(t, 0, 4);
  SessionRecord a;
  a.client_id = "a";
  a.inbound_qos2 = {1};
  Batch b;
  b.trim(t, {t, 1, -1}).put_subscription(t, {"s", service::SubscriptionType::shared, true});
  b.put_cursor(t, "s", {{t, 2, -1}, {{t, 3, 3}}}).put_session(a);
  ASSERT_TRUE(s.write(std::move(b)).ok());
  s.reopen();
  EXPECT_EQ(*store().find_topic("persistent://t/n/a"), std::optional{t});
  EXPECT_EQ(entries(t), (std::vector<std::uint64_t>{1, 2, 3}));
  EXPECT_EQ(*store().cursor(t, "s"), (std::optional{CursorRecord{{t, 2, -1}, {{t, 3, 3}}}}));
  EXPECT_EQ(*store().session("a"), std::optional{a});
  EXPECT_NE(topic("persistent://t/n/b"), t);
}

INSTANTIATE_TEST_SUITE_P(Stores, StoreContract, ::testing::Values("memory", "rocks", "rocks_entry_log"),
                         [](const auto& info) { return info.param; });

}  // namespace
}  // namespace mop::storage::test
