// The SessionStore / MetadataStore contract. Every test states a promise of session_store.hpp or
// metadata_store.hpp and fails if an implementation breaks it.
#include "service/tests/state_store_contract.hpp"

#include <initializer_list>
#include <vector>

namespace mop::service::testing {

namespace {

template <typename T>
T answer(StateStoreHarness& h, const std::function<void(std::function<void(Result<T, Error>)>)>& ask) {
  std::optional<Result<T, Error>> got;
  ask([&](Result<T, Error> r) { got.emplace(std::move(r)); });
  EXPECT_FALSE(got.has_value()) << "answered inside the call";
  h.settle();
  if (!got.has_value()) {
    ADD_FAILURE() << "no answer";
    return T{};
  }
  if (!got->ok()) {
    ADD_FAILURE() << "read failed: " << got->error().to_string();
    return T{};
  }
  return std::move(**got);
}

}  // namespace

SessionSnapshot StateStoreContract::load(SessionStore* store) {
  SessionStore& s = store ? *store : sessions();
  return answer<SessionSnapshot>(*harness_, [&](auto done) { s.load(std::move(done)); });
}

MetadataSnapshot StateStoreContract::load(MetadataStore* store) {
  MetadataStore& s = store ? *store : metadata();
  return answer<MetadataSnapshot>(*harness_, [&](auto done) { s.load(std::move(done)); });
}

std::optional<SessionRecord> StateStoreContract::get_session(const std::string& client_id, SessionStore* store) {
  SessionStore& s = store ? *store : sessions();
  return answer<std::optional<SessionRecord>>(*harness_, [&](auto done) { s.get_session(client_id, std::move(done)); });
}

std::optional<WillRecord> StateStoreContract::get_will(const std::string& client_id, SessionStore* store) {
  SessionStore& s = store ? *store : sessions();
  return answer<std::optional<WillRecord>>(*harness_, [&](auto done) { s.get_will(client_id, std::move(done)); });
}

std::optional<SchemaRecord> StateStoreContract::get_schema(const std::string& topic, MetadataStore* store) {
  MetadataStore& s = store ? *store : metadata();
  return answer<std::optional<SchemaRecord>>(*harness_, [&](auto done) { s.get_schema(topic, std::move(done)); });
}

namespace {

std::vector<std::string> strings(std::initializer_list<const char*> l) { return {l.begin(), l.end()}; }

SessionRecord session(const std::string& client_id, std::uint32_t expiry = 0) {
  SessionRecord s;
  s.client_id = client_id;
  s.protocol_version = 5;
  s.expiry_interval_s = expiry;
  s.subscriptions = {{"a/+", 1, 0, 0}, {"b/#", 2, 0x04, 7}};
  s.inbound_qos2 = {3, 9};
  OutboundInflight o;
  o.packet_id = 12;
  o.topic = "persistent://public/default/a";
  o.subscription = "mqtt-" + client_id;
  o.message_id = {5, 6, 2};
  o.qos = 2;
  o.state = OutboundState::pubrel_sent;
  s.outbound = {o};
  return s;
}

WillRecord will(const std::string& client_id, std::uint32_t delay = 0) {
  WillRecord w;
  w.client_id = client_id;
  w.topic = "persistent://public/default/will";
  w.message.payload = Payload::copy_of("gone: " + client_id);
  w.message.producer_name = client_id;
  w.message.properties = {{"k", "v"}, {"k", "w"}};
  w.qos = 1;
  w.retain = true;
  w.delay_s = delay;
  w.due_at_ms = delay == 0 ? 0 : 1'700'000'100'000ULL;
  return w;
}

SchemaRecord schema(const std::string& topic, std::uint32_t type = 2) {
  return SchemaRecord{topic, 0, type, "s-" + topic, R"({"type":"record"})", {{"a", "1"}, {"b", "2"}}};
}

template <typename R>
std::vector<std::string> ids(const std::vector<R>& v) {
  std::vector<std::string> out;
  for (const auto& r : v) {
    if constexpr (requires { r.client_id; }) {
      out.push_back(r.client_id);
    } else {
      out.push_back(r.topic);
    }
  }
  return out;
}

// A completion that records its name and expects success.
struct Tracker {
  std::vector<std::string> order;
  StateDone operator()(const char* what) {
    return [this, what](Result<void, Error> r) {
      EXPECT_TRUE(r.ok()) << what << ": " << (r.ok() ? "" : r.error().to_string());
      order.emplace_back(what);
    };
  }
};

TEST_P(StateStoreContract, SessionsArePutReplacedDeletedAndLoadedInCallOrder) {
  EXPECT_TRUE(load().sessions.empty());
  Tracker track;
  sessions().put_session(session("c2"), track("put c2"));
  sessions().put_session(session("c1", 60), track("put c1"));
  sessions().put_session(session("c3"), track("put c3"));
  EXPECT_TRUE(track.order.empty());  // never inline
  settle();
  EXPECT_EQ(track.order, strings({"put c2", "put c1", "put c3"}));  // in call order
  auto loaded = load().sessions;
  EXPECT_EQ(ids(loaded), strings({"c1", "c2", "c3"}));  // by client id
  ASSERT_EQ(loaded.size(), 3u);
  EXPECT_EQ(loaded[0], session("c1", 60));  // every field kept

  auto replaced = session("c1", 0xFFFFFFFF);
  replaced.disconnected_at_ms = 1'700'000'000'999ULL;
  replaced.outbound.clear();
  replaced.inbound_qos2 = {1};
  sessions().put_session(replaced, track("replace c1"));
  sessions().delete_session("c3", track("delete c3"));
  sessions().delete_session("never-stored", track("delete unknown"));
  settle();
  EXPECT_EQ(track.order.back(), "delete unknown");
  loaded = load().sessions;
  ASSERT_EQ(ids(loaded), strings({"c1", "c2"}));
  EXPECT_EQ(loaded[0], replaced);
  EXPECT_EQ(loaded[1], session("c2"));
}

TEST_P(StateStoreContract, PutThenDeleteOfOneSessionEndsDeleted) {
  int done = 0;
  auto count = [&](Result<void, Error> r) {
    EXPECT_TRUE(r.ok());
    ++done;
  };
  sessions().put_session(session("c"), count);
  sessions().delete_session("c", count);
  sessions().put_session(session("d"), {});  // no completion wanted
  settle();
  EXPECT_EQ(done, 2);
  EXPECT_EQ(ids(load().sessions), strings({"d"}));
}

TEST_P(StateStoreContract, WillsArePutReplacedDeletedAndLoaded) {
  EXPECT_TRUE(load().wills.empty());
  Tracker track;
  sessions().put_will(will("w2", 30), track("put w2"));
  sessions().put_will(will("w1"), track("put w1"));
  EXPECT_TRUE(track.order.empty());  // never inline
  settle();
  EXPECT_EQ(track.order, strings({"put w2", "put w1"}));
  auto loaded = load().wills;
  ASSERT_EQ(ids(loaded), strings({"w1", "w2"}));
  EXPECT_EQ(loaded[0], will("w1"));
  EXPECT_EQ(loaded[1], will("w2", 30));
  EXPECT_EQ(loaded[1].message.payload.view(), "gone: w2");

  auto due = will("w1", 5);
  due.due_at_ms = 1'700'000'000'500ULL;  // the client went away: the will is now due
  sessions().put_will(due, track("replace w1"));
  sessions().delete_will("w2", track("delete w2"));
  sessions().delete_will("nobody", track("delete unknown"));
  settle();
  EXPECT_EQ(track.order, strings({"put w2", "put w1", "replace w1", "delete w2", "delete unknown"}));
  loaded = load().wills;
  ASSERT_EQ(loaded.size(), 1u);
  EXPECT_EQ(loaded[0], due);
  // Sessions and wills are separate records under the same client id.
  sessions().put_session(session("w1"), {});
  sessions().delete_will("w1", {});
  settle();
  EXPECT_TRUE(load().wills.empty());
  EXPECT_EQ(ids(load().sessions), strings({"w1"}));
}

TEST_P(StateStoreContract, OneClientsSessionAndWillAreReadAlone) {
  EXPECT_EQ(get_session("c"), std::nullopt);
  EXPECT_EQ(get_will("c"), std::nullopt);
  sessions().put_session(session("c", 60), {});
  sessions().put_session(session("d"), {});
  sessions().put_will(will("c", 5), {});
  settle();
  EXPECT_EQ(get_session("c"), session("c", 60));
  EXPECT_EQ(get_session("d"), session("d"));
  EXPECT_EQ(get_will("c"), will("c", 5));
  EXPECT_EQ(get_will("d"), std::nullopt);
  sessions().delete_session("c", {});
  sessions().delete_will("c", {});
  settle();
  EXPECT_EQ(get_session("c"), std::nullopt);
  EXPECT_EQ(get_will("c"), std::nullopt);
}

TEST_P(StateStoreContract, WhatOneInstanceWroteAnotherReads) {
  // A will written by one proxy is published by another when the client's connection there ends.
  auto other = harness_->other_sessions();
  ASSERT_NE(other, nullptr);
  bool stored = false;
  sessions().put_will(will("c", 30), [&](Result<void, Error> r) { stored = r.ok(); });
  sessions().put_session(session("c", 60), {});
  settle();
  ASSERT_TRUE(stored);
  EXPECT_EQ(get_will("c", other.get()), will("c", 30));
  EXPECT_EQ(get_session("c", other.get()), session("c", 60));
  const auto all = load(other.get());
  EXPECT_EQ(ids(all.sessions), strings({"c"}));
  EXPECT_EQ(ids(all.wills), strings({"c"}));
  // And back: the other instance deletes, this one no longer sees it.
  other->delete_will("c", {});
  settle();
  EXPECT_EQ(get_will("c"), std::nullopt);
}

TEST_P(StateStoreContract, AFailedSessionWriteIsReportedAndChangesNothing) {
  sessions().put_session(session("c", 60), {});
  settle();
  if (!harness_->fail_next_writes(1)) GTEST_SKIP() << "this harness cannot make a write fail";
  std::optional<Result<void, Error>> got;
  sessions().put_session(session("c", 5), [&](Result<void, Error> r) { got.emplace(std::move(r)); });
  settle();
  ASSERT_TRUE(got.has_value());
  ASSERT_FALSE(got->ok());
  EXPECT_FALSE(got->error().message.empty()) << "the error names what failed";
  EXPECT_EQ(get_session("c"), session("c", 60));  // what it was before
  ASSERT_TRUE(harness_->fail_next_writes(1));
  got.reset();
  sessions().put_will(will("c"), [&](Result<void, Error> r) { got.emplace(std::move(r)); });
  settle();
  ASSERT_TRUE(got.has_value());
  EXPECT_FALSE(got->ok());
  EXPECT_TRUE(load().wills.empty());
}

TEST_P(StateStoreContract, AtomicallyStoresEveryWriteItIssues) {
  Tracker track;
  bool ran = false;
  sessions().atomically([&] {
    ran = true;
    sessions().put_session(session("a", 60), track("session"));
    sessions().put_will(will("a"), track("will"));
  });
  EXPECT_TRUE(ran);  // the writes are issued inside the call
  EXPECT_TRUE(track.order.empty());  // their completions never are
  settle();
  EXPECT_EQ(track.order, strings({"session", "will"}));
  EXPECT_EQ(get_session("a"), session("a", 60));
  EXPECT_EQ(get_will("a"), will("a"));
}

TEST_P(StateStoreContract, PartitionedTopicsAndSchemasArePutReplacedAndLoaded) {
  auto empty = load(&metadata());
  EXPECT_TRUE(empty.partitioned_topics.empty());
  EXPECT_EQ(get_schema("persistent://t/n/s"), std::nullopt);
  Tracker track;
  metadata().put_partitioned_topic({"persistent://t/n/b", 3}, track("put b"));
  metadata().put_schema(schema("persistent://t/n/s"), track("schema s"));
  metadata().put_partitioned_topic({"persistent://t/n/a", 1}, track("put a"));
  EXPECT_TRUE(track.order.empty());  // never inline
  settle();
  EXPECT_EQ(track.order, strings({"put b", "schema s", "put a"}));
  auto loaded = load(&metadata());
  EXPECT_EQ(loaded.partitioned_topics,
            (std::vector<PartitionedTopicRecord>{{"persistent://t/n/a", 1}, {"persistent://t/n/b", 3}}));
  EXPECT_EQ(get_schema("persistent://t/n/s"), schema("persistent://t/n/s"));
  EXPECT_EQ(get_schema("persistent://t/n/b"), std::nullopt);  // schemas are per topic
  metadata().put_partitioned_topic({"persistent://t/n/b", 8}, track("replace b"));
  auto replaced = schema("persistent://t/n/s", 4);
  replaced.version = 1;
  metadata().put_schema(replaced, track("replace s"));
  settle();
  loaded = load(&metadata());
  EXPECT_EQ(loaded.partitioned_topics,
            (std::vector<PartitionedTopicRecord>{{"persistent://t/n/a", 1}, {"persistent://t/n/b", 8}}));
  EXPECT_EQ(get_schema("persistent://t/n/s"), replaced);
  // Another instance over the same state reads the same.
  auto other = harness_->other_metadata();
  ASSERT_NE(other, nullptr);
  const auto seen = load(other.get());
  EXPECT_EQ(seen.partitioned_topics, loaded.partitioned_topics);
  EXPECT_EQ(get_schema("persistent://t/n/s", other.get()), replaced);
}

TEST_P(StateStoreContract, APartitionCountOfZeroDeletesThePartitionedTopic) {
  Tracker track;
  metadata().put_partitioned_topic({"persistent://t/n/a", 2}, track("put a"));
  metadata().put_partitioned_topic({"persistent://t/n/b", 3}, track("put b"));
  metadata().put_partitioned_topic({"persistent://t/n/a", 0}, track("delete a"));
  metadata().put_partitioned_topic({"persistent://t/n/none", 0}, track("delete none"));
  settle();
  EXPECT_EQ(track.order, strings({"put a", "put b", "delete a", "delete none"}));
  const auto loaded = load(&metadata());
  EXPECT_EQ(loaded.partitioned_topics, (std::vector<PartitionedTopicRecord>{{"persistent://t/n/b", 3}}));
  auto other = harness_->other_metadata();
  ASSERT_NE(other, nullptr);
  EXPECT_EQ(load(other.get()).partitioned_topics, loaded.partitioned_topics);
}

TEST_P(StateStoreContract, TenantsAndNamespacesArePutReplacedDeletedAndLoaded) {
  auto empty = load(&metadata());
  EXPECT_TRUE(empty.tenants.empty());
  EXPECT_TRUE(empty.namespaces.empty());
  NamespacePolicies all;
  all.retention = RetentionPolicy{-1, 20};
  all.message_ttl_seconds = 3600;
  all.backlog_quota = BacklogQuotaPolicy{1 << 20, -1, "consumer_backlog_eviction"};
  all.deduplication = false;
  Tracker track;
  metadata().put_tenant({"acme", R"({"adminRoles":["ops"],"allowedClusters":["standalone"]})"}, track("tenant acme"));
  metadata().put_tenant({"other", "{}"}, track("tenant other"));
  metadata().put_namespace({"acme/orders", all}, track("ns orders"));
  metadata().put_namespace({"acme/empty", {}}, track("ns empty"));
  EXPECT_TRUE(track.order.empty());  // never inline
  settle();
  EXPECT_EQ(track.order, strings({"tenant acme", "tenant other", "ns orders", "ns empty"}));
  auto loaded = load(&metadata());
  EXPECT_EQ(loaded.tenants, (std::vector<TenantRecord>{
                                {"acme", R"({"adminRoles":["ops"],"allowedClusters":["standalone"]})"}, {"other", "{}"}}));
  EXPECT_EQ(loaded.namespaces, (std::vector<NamespaceRecord>{{"acme/empty", {}}, {"acme/orders", all}}));
  NamespacePolicies ttl_only;
  ttl_only.message_ttl_seconds = 0;
  metadata().put_namespace({"acme/orders", ttl_only}, track("replace orders"));
  metadata().delete_namespace("acme/empty", track("delete empty"));
  metadata().delete_tenant("other", track("delete other"));
  metadata().delete_tenant("never", track("delete never"));
  settle();
  loaded = load(&metadata());
  EXPECT_EQ(loaded.tenants, (std::vector<TenantRecord>{
                                {"acme", R"({"adminRoles":["ops"],"allowedClusters":["standalone"]})"}}));
  EXPECT_EQ(loaded.namespaces, (std::vector<NamespaceRecord>{{"acme/orders", ttl_only}}));
  auto other = harness_->other_metadata();
  ASSERT_NE(other, nullptr);
  const auto seen = load(other.get());
  EXPECT_EQ(seen.tenants, loaded.tenants);
  EXPECT_EQ(seen.namespaces, loaded.namespaces);
}

TEST_P(StateStoreContract, AFailedMetadataWriteIsReportedAndChangesNothing) {
  if (!harness_->fail_next_writes(1)) GTEST_SKIP() << "this harness cannot make a write fail";
  std::optional<Result<void, Error>> got;
  metadata().put_partitioned_topic({"persistent://t/n/p", 4}, [&](Result<void, Error> r) { got.emplace(std::move(r)); });
  settle();
  ASSERT_TRUE(got.has_value());
  ASSERT_FALSE(got->ok());
  EXPECT_FALSE(got->error().message.empty());
  EXPECT_TRUE(load(&metadata()).partitioned_topics.empty());
}

}  // namespace
}  // namespace mop::service::testing
