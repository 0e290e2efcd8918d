// SessionRouter over the real embedded service, in process: clients are ClientConnections on a
// fake stream (net::Stream), the executor and clock are manual, so every step is deterministic.
#include "mqtt/server/session_router.hpp"

#include <set>

#include <gtest/gtest.h>

#include "mqtt/server/tests/forwarding_session_store.hpp"
#include "mqtt/server/tests/test_client.hpp"
#include "service/embedded_service.hpp"
#include "storage/memory_store.hpp"
#include "storage/store_ledger.hpp"
#include "storage/store_state.hpp"

namespace mop::mqtt {
namespace {

using test_support::TestClient;

class SessionRouterTest : public ::testing::Test {
protected:
  std::unique_ptr<TestClient> client() { return std::make_unique<TestClient>(router, exec); }
  // A client connected with a clean session.
  std::unique_ptr<TestClient> connected(const std::string& id) {
    auto c = client();
    c->connect(id);
    return c;
  }
  // A clean-session client subscribed to `filters`, its SUBACK already read.
  std::unique_ptr<TestClient> subscriber(const std::string& id, std::vector<SubscribeEntry> filters,
                                         PacketId packet_id = 1) {
    auto c = connected(id);
    c->send(Subscribe{packet_id, std::move(filters)});
    c->received();
    return c;
  }
  std::unique_ptr<TestClient> client5(std::optional<std::uint32_t> expiry = std::nullopt) {
    auto c = std::make_unique<TestClient>(router, exec, ProtocolVersion::v5);
    c->connect_properties.session_expiry_interval = expiry;
    return c;
  }
  void tick_after(std::chrono::milliseconds d) {
    clock.advance(d);
    router.tick();
    exec.run_all();
  }
  Publish pub(std::string topic, std::string payload, std::uint8_t qos = 0, PacketId id = 0, bool retain = false) {
    return Publish{false, qos, retain, std::move(topic), id, Payload::copy_of(payload)};
  }

  // What the session store holds now.
  service::SessionSnapshot stored_state() {
    std::optional<Result<service::SessionSnapshot, Error>> got;
    sessions.load([&got](Result<service::SessionSnapshot, Error> r) { got = std::move(r); });
    exec.run_all();
    EXPECT_TRUE(got && got->ok());
    return got && got->ok() ? std::move(**got) : service::SessionSnapshot{};
  }

  ManualExecutor exec;
  ManualClock clock;
  service::EmbeddedService service{exec, clock};
  // Session records and wills: the standalone store in memory.
  storage::MemoryStore state;
  storage::StoreSessionStore sessions{state, exec};
  RouterOptions options = [] {
    RouterOptions o;
    o.receive_maximum = 3;
    return o;
  }();
  SessionRouter router{service, sessions, clock, options};
};

TEST_F(SessionRouterTest, SeedExampleQos1) {
  auto sub = connected("sub");
  sub->send(Subscribe{1, {{"persistent://public/default/my-topic", 1}}});
  EXPECT_EQ(std::get<Suback>(sub->received()[0]).return_codes, std::vector<std::uint8_t>{1});
  auto p = connected("pub");
  p->send(pub("persistent://public/default/my-topic", "Hello MOP!", 1, 7));
  auto acks = p->received();
  ASSERT_EQ(acks.size(), 1u);
  EXPECT_EQ(std::get<Puback>(acks[0]).packet_id, 7);
  auto got = sub->publishes();
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].topic, "persistent://public/default/my-topic");
  EXPECT_EQ(got[0].payload.view(), "Hello MOP!");
  EXPECT_EQ(got[0].qos, 1);
  EXPECT_FALSE(got[0].retain);
}

TEST_F(SessionRouterTest, PlainTopicLivesInDefaultNamespace) {
  auto sub = subscriber("sub", {{"persistent://public/default/#", 0}});
  auto p = connected("pub");
  p->send(pub("sensors/room1/temp", "21"));
  auto got = sub->publishes();
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].topic, "persistent://public/default/sensors/room1/temp");
  auto topics = service.list_topics({"public", "default"});
  ASSERT_EQ(topics.size(), 1u);
  EXPECT_EQ(topics[0].str(), "persistent://public/default/sensors%2Froom1%2Ftemp");
}

TEST_F(SessionRouterTest, GrantedQosIsMinimumOfPublishAndSubscription) {
  auto sub = subscriber("sub", {{"t", 1}});
  auto p = connected("pub");
  p->send(pub("t", "x", 2, 1));
  auto got = sub->publishes();
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].qos, 1);
}

TEST_F(SessionRouterTest, OverlappingSubscriptionsDeliverOnceAtMaxQos) {
  auto sub = subscriber("sub", {{"a/#", 0}, {"a/b", 2}});
  auto p = connected("pub");
  p->send(pub("a/b", "x", 2, 1));
  auto got = sub->publishes();
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].qos, 2);
}

// QoS 0 to a clean session: the service acknowledges each message as it dispatches it, so the
// subscription holds nothing unacknowledged. Once a QoS 1 filter matches the topic too, QoS 1
// messages wait for the client's PUBACK again.
TEST_F(SessionRouterTest, Qos0ToACleanSessionIsAcknowledgedOnDispatchUntilAQos1FilterMatches) {
  auto sub = subscriber("sub", {{"t", 0}});
  auto p = connected("pub");
  p->send(pub("t", "a", 1, 1));
  p->send(pub("t", "b", 0));
  p->received();
  auto got = sub->publishes();
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(got[0].qos, 0);
  const service::TopicName topic(service::TopicDomain::persistent, "public", "default", "t");
  broker::Topic* t = service.broker().find_topic(topic);
  ASSERT_NE(t, nullptr);
  broker::Subscription* s = t->subscription("sub");
  ASSERT_NE(s, nullptr);
  EXPECT_EQ(s->unacked_count(), 0u);
  EXPECT_EQ(s->backlog(), 0u);
  EXPECT_EQ(t->ledger().entry_count(), 0u) << "trimmed: nobody needs them";

  sub->send(Subscribe{2, {{"#", 1}}});
  sub->received();
  p->send(pub("t", "c", 1, 2));
  p->received();
  got = sub->publishes();
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].qos, 1);
  EXPECT_EQ(s->unacked_count(), 1u) << "waits for the PUBACK";
  const PacketId qos1_id = got[0].packet_id;
  p->send(pub("t", "d", 0));
  p->received();
  got = sub->publishes();
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].qos, 0);
  EXPECT_EQ(s->unacked_count(), 1u) << "the QoS 0 one was acknowledged by the router";
  EXPECT_EQ(t->ledger().entry_count(), 2u);
  sub->send(Puback{qos1_id});
  EXPECT_EQ(s->unacked_count(), 0u);
  EXPECT_EQ(t->ledger().entry_count(), 0u);
}

// QoS 0 without properties: the router encodes the PUBLISH header once and copies it to every
// subscriber that gets the same bytes. Each connection still gets its own protocol version's
// bytes, a client with topic aliases its aliases, and one with a small maximum packet size only
// what fits [MQTT-3.1.2-25].
TEST_F(SessionRouterTest, PlainQos0DeliveriesShareOneHeaderWhereTheBytesAreTheSame) {
  auto v311 = subscriber("v311", {{"t", 0}, {"u", 0}});
  auto subscribe5 = [&](const std::string& id, Properties props) {
    auto c = client5();
    c->connect_properties = std::move(props);
    c->connect(id);
    c->send(Subscribe{1, {{"t", 0}, {"u", 0}}});
    c->received();
    return c;
  };
  auto v5 = subscribe5("v5", {});
  Properties aliases;
  aliases.topic_alias_maximum = 4;
  auto aliased = subscribe5("aliased", aliases);
  Properties small;
  small.maximum_packet_size = 20;
  auto limited = subscribe5("limited", small);
  auto p = connected("pub");
  p->send(pub("t", "short"));
  p->send(pub("t", "a longer payload"));
  p->send(pub("u", "short"));
  p->send(pub("t", "short"));
  p->received();
  const std::vector<std::pair<std::string, std::string>> all{
      {"t", "short"}, {"t", "a longer payload"}, {"u", "short"}, {"t", "short"}};
  auto seen = [](const std::vector<Publish>& got) {
    std::vector<std::pair<std::string, std::string>> out;
    for (const auto& g : got) out.emplace_back(g.topic, std::string(g.payload.view()));
    return out;
  };
  EXPECT_EQ(seen(v311->publishes()), all);
  auto got5 = v5->publishes();
  EXPECT_EQ(seen(got5), all);
  for (const auto& g : got5) EXPECT_FALSE(g.properties.topic_alias);
  auto got_aliased = aliased->publishes();
  ASSERT_EQ(got_aliased.size(), 4u);
  EXPECT_EQ(got_aliased[0].topic, "t");
  EXPECT_EQ(got_aliased[0].properties.topic_alias, std::optional<std::uint16_t>(1));
  EXPECT_EQ(got_aliased[1].topic, "") << "the alias stands for the topic";
  EXPECT_EQ(got_aliased[1].payload.view(), "a longer payload");
  // 2 + 3 (topic) + 1 (no properties) + 16 = 22 bytes: over 20, discarded; the others fit.
  EXPECT_EQ(seen(limited->publishes()),
            (std::vector<std::pair<std::string, std::string>>{{"t", "short"}, {"u", "short"}, {"t", "short"}}));
}

TEST_F(SessionRouterTest, WildcardPicksUpTopicsCreatedLater) {
  auto sub = subscriber("sub", {{"new/+", 1}});
  auto p = connected("pub");
  p->send(pub("new/topic", "first", 1, 1));
  auto got = sub->publishes();
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].payload.view(), "first");
}

TEST_F(SessionRouterTest, InvalidFilterGets0x80) {
  auto sub = connected("sub");
  sub->send(Subscribe{1, {{"a/#/b", 1}, {"ok", 1}}});
  EXPECT_EQ(std::get<Suback>(sub->received()[0]).return_codes, (std::vector<std::uint8_t>{0x80, 1}));
}

TEST_F(SessionRouterTest, PersistentSessionQueuesWhileAway) {
  auto sub = client();
  EXPECT_FALSE(sub->connect("dev", false).session_present);
  sub->send(Subscribe{1, {{"alerts", 1}}});
  sub->received();
  sub->drop();
  auto p = connected("pub");
  for (int i = 0; i < 5; ++i) p->send(pub("alerts", std::to_string(i), 1, static_cast<PacketId>(i + 1)));
  auto again = client();
  EXPECT_TRUE(again->connect("dev", false).session_present);
  std::vector<std::string> seen;
  for (int round = 0; round < 5 && seen.size() < 5; ++round) {
    for (auto& m : again->publishes()) {
      seen.emplace_back(m.payload.view());
      again->send(Puback{m.packet_id});
    }
  }
  EXPECT_EQ(seen, (std::vector<std::string>{"0", "1", "2", "3", "4"}));
}

// A QoS 0 delivery that was on its way when the client's connection dropped is acknowledged and
// dropped (QoS 0 allows it), but hands no permit back: the rest of the backlog waits for the
// client instead of being dispatched to nobody, one message after the other.
TEST_F(SessionRouterTest, Qos0BacklogOfAPersistentSessionWaitsForItsClientAfterADrop) {
  auto sub = client();
  EXPECT_FALSE(sub->connect("dev", false).session_present);
  sub->send(Subscribe{1, {{"t", 0}}});
  sub->received();
  auto p = connected("pub");
  std::string bytes;
  for (int i = 0; i < 10; ++i) encode(pub("t", std::to_string(i), 0), ProtocolVersion::v311, bytes);
  p->feed(bytes);
  // Stored, and the first window (receive_maximum 3) dispatched to the subscriber: its
  // deliveries wait in the executor when the connection drops.
  ASSERT_GT(exec.pending(), 0u);
  sub->drop();
  auto again = client();
  EXPECT_TRUE(again->connect("dev", false).session_present);
  std::vector<std::string> seen;
  for (auto& m : again->publishes()) seen.emplace_back(m.payload.view());
  // Lost: at most the window in flight at the drop (3). The rest arrives, in order.
  ASSERT_GE(seen.size(), 10u - 3) << "messages for the client dropped while it was away";
  for (std::size_t i = 0; i < seen.size(); ++i) EXPECT_EQ(seen[i], std::to_string(10 - seen.size() + i));
}

TEST_F(SessionRouterTest, ReceiveMaximumBoundsInflight) {
  auto sub = subscriber("sub", {{"t", 1}});
  auto p = connected("pub");
  for (int i = 0; i < 5; ++i) p->send(pub("t", std::to_string(i), 1, static_cast<PacketId>(i + 1)));
  auto first = sub->publishes();
  ASSERT_EQ(first.size(), 3u);  // receive_maximum
  sub->send(Puback{first[0].packet_id});
  auto next = sub->publishes();
  ASSERT_EQ(next.size(), 1u);
  EXPECT_EQ(next[0].payload.view(), "3");
}

TEST_F(SessionRouterTest, UnacknowledgedResentWithDupOnReconnect) {
  auto sub = client();
  sub->connect("dev", false);
  sub->send(Subscribe{1, {{"t", 1}}});
  sub->received();
  auto p = connected("pub");
  p->send(pub("t", "m", 1, 1));
  auto first = sub->publishes();
  ASSERT_EQ(first.size(), 1u);
  sub->drop();
  auto again = client();
  again->connect("dev", false);
  auto resent = again->publishes();
  ASSERT_EQ(resent.size(), 1u);
  EXPECT_TRUE(resent[0].dup);
  EXPECT_EQ(resent[0].packet_id, first[0].packet_id);
}

TEST_F(SessionRouterTest, CleanSessionDiscardsSubscriptions) {
  auto sub = client();
  sub->connect("dev", false);
  sub->send(Subscribe{1, {{"t", 1}}});
  sub->received();
  sub->drop();
  auto again = client();
  EXPECT_FALSE(again->connect("dev", true).session_present);
  auto p = connected("pub");
  p->send(pub("t", "m", 1, 1));
  EXPECT_TRUE(again->publishes().empty());
}

TEST_F(SessionRouterTest, TakeoverClosesTheOldConnection) {
  auto a = connected("same");
  auto b = connected("same");
  EXPECT_TRUE(a->closed());
  EXPECT_FALSE(b->closed());
}

// mop proxy: the client connected to another proxy. Its connection here closes as a takeover,
// its session is forgotten here, and nothing stored changes: the session record and the will
// are the new connection's.
TEST_F(SessionRouterTest, ReleaseClosesTheConnectionAndForgetsTheSessionWithoutStateWrites) {
  std::vector<std::string> admitted;
  RouterOptions o = options;
  o.announce = [&admitted](const std::string& id, std::function<void(bool)> done) {
    admitted.push_back(id);
    done(true);
  };
  SessionRouter proxy_router{service, sessions, clock, o};
  auto watcher = std::make_unique<TestClient>(proxy_router, exec);
  watcher->connect("w");
  watcher->send(Subscribe{1, {{"wills/#", 0}}});
  watcher->received();
  auto dev = std::make_unique<TestClient>(proxy_router, exec);
  EXPECT_FALSE(dev->connect("dev", false, Will{"wills/dev", Payload::copy_of("gone"), 0, false}).session_present);
  dev->send(Subscribe{1, {{"alerts", 1}}});
  dev->received();
  EXPECT_EQ(admitted, (std::vector<std::string>{"w", "dev"}));
  exec.run_all();
  const auto stored = stored_state().sessions;
  ASSERT_EQ(stored.size(), 1u);
  ASSERT_EQ(stored_state().wills.size(), 1u);

  proxy_router.release("dev");
  exec.run_all();
  EXPECT_TRUE(dev->closed());
  EXPECT_EQ(proxy_router.session_count(), 1u);  // only the watcher's
  // A takeover publishes the will of the closed connection (as a local takeover does)...
  auto got = watcher->publishes();
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].payload.view(), "gone");
  // ... and the record stays as the new connection wrote it (here: as it was).
  EXPECT_EQ(stored_state().sessions, stored);
  // The durable subscription keeps collecting for the session, wherever it is now.
  EXPECT_TRUE(service.has_subscriptions(*service::TopicName::parse("persistent://public/default/alerts")));
  proxy_router.release("nobody");  // unknown client ids: nothing to do
  proxy_router.shutdown();
  exec.run_all();
}

// mop proxy: the sessions of a proxy that died, adopted by its heir. One written while its client
// was connected counts as disconnected now and expires after its interval, as this server's own
// do (its record deleted); a client id held here already is left alone.
TEST_F(SessionRouterTest, AdoptedSessionsExpireFromTheTakeoverUnlessTheirClientIsHere) {
  auto here = connected("here");
  service::SessionRecord connected_there;
  connected_there.client_id = "gone";
  connected_there.protocol_version = 5;
  connected_there.expiry_interval_s = 2;
  connected_there.subscriptions = {{"alerts", 1, 0, 0}};
  service::SessionRecord also_here = connected_there;
  also_here.client_id = "here";
  router.adopt_sessions({connected_there, also_here});
  exec.run_all();
  auto stored = stored_state().sessions;
  ASSERT_EQ(stored.size(), 1u);  // rewritten as this server's, disconnected at the takeover
  EXPECT_EQ(stored[0].client_id, "gone");
  EXPECT_EQ(stored[0].disconnected_at_ms, clock.wall_ms());
  EXPECT_TRUE(service.has_subscriptions(*service::TopicName::parse("persistent://public/default/alerts")));
  tick_after(std::chrono::milliseconds(1500));
  EXPECT_EQ(stored_state().sessions.size(), 1u);
  tick_after(std::chrono::milliseconds(600));
  EXPECT_TRUE(stored_state().sessions.empty());  // expired 2 s after the takeover
  EXPECT_FALSE(service.has_subscriptions(*service::TopicName::parse("persistent://public/default/alerts")));
  EXPECT_FALSE(here->closed());
}

// mop proxy: the CONNACK waits until the connection is announced to the other proxies, after a
// local older connection of the id was closed, so the connection acknowledged later is the one
// announced later (which wins). An announcement that could not be stored refuses the CONNECT
// with 0x88 / return code 3.
// A connection lost while its CONNACK waits for the announcement: the late answer, stored or not,
// finds no connection and leaves the router serving the client id (mop proxy).
TEST_F(SessionRouterTest, ConnectionLostWhileItsAnnouncementIsPendingIsForgotten) {
  std::vector<std::function<void(bool)>> announced;
  RouterOptions o = options;
  o.announce = [&announced](const std::string&, std::function<void(bool)> done) { announced.push_back(std::move(done)); };
  SessionRouter proxy_router{service, sessions, clock, o};
  for (const bool stored : {true, false}) {
    auto lost = std::make_unique<TestClient>(proxy_router, exec);
    lost->send_bytes(lost->connect_bytes("dev", true));
    exec.run_all();
    ASSERT_EQ(announced.size(), 1u);
    lost->drop();
    exec.run_all();
    announced[0](stored);  // reaches no connection (under ASan: reads nothing freed)
    announced.clear();
    exec.run_all();
    lost.reset();
    // The id connects again and is answered once its own announcement is stored.
    auto again = std::make_unique<TestClient>(proxy_router, exec);
    again->send_bytes(again->connect_bytes("dev", true));
    exec.run_all();
    ASSERT_EQ(announced.size(), 1u);
    announced[0](true);
    announced.clear();
    exec.run_all();
    auto r = again->received();
    ASSERT_EQ(r.size(), 1u);
    EXPECT_EQ(std::get<Connack>(r[0]).return_code, ConnectReturnCode::accepted);
    again->drop();
    exec.run_all();
  }
  proxy_router.shutdown();
  exec.run_all();
}

TEST_F(SessionRouterTest, ConnackWaitsForTheAnnouncementAndItsFailureRefuses) {
  std::vector<std::function<void(bool)>> announced;
  RouterOptions o = options;
  o.announce = [&announced](const std::string&, std::function<void(bool)> done) { announced.push_back(std::move(done)); };
  SessionRouter proxy_router{service, sessions, clock, o};
  // A CONNECT of `id` gets no CONNACK until its announcement is answered `stored`; then its one.
  const auto connack_after = [&](TestClient& c, const std::string& id, bool stored) {
    c.send_bytes(c.connect_bytes(id, true));
    exec.run_all();
    EXPECT_TRUE(c.received().empty());
    EXPECT_FALSE(announced.empty());
    if (announced.empty()) return Connack{};
    auto done = std::move(announced.back());
    announced.clear();
    done(stored);
    exec.run_all();
    auto r = c.received();
    EXPECT_EQ(r.size(), 1u);
    return r.empty() ? Connack{} : std::get<Connack>(r[0]);
  };
  auto first = std::make_unique<TestClient>(proxy_router, exec);
  EXPECT_EQ(connack_after(*first, "dev", true).return_code, ConnectReturnCode::accepted);
  // A second connection of the id here: the first is closed before the second is announced.
  auto second = std::make_unique<TestClient>(proxy_router, exec);
  second->send_bytes(second->connect_bytes("dev", true));
  exec.run_all();
  EXPECT_TRUE(first->closed());
  ASSERT_EQ(announced.size(), 1u);
  announced[0](true);
  announced.clear();
  exec.run_all();
  auto r = second->received();
  ASSERT_EQ(r.size(), 1u);
  EXPECT_EQ(std::get<Connack>(r[0]).return_code, ConnectReturnCode::accepted);

  // Not stored: 3.1.1 return code 3, MQTT 5 0x88 with the reason.
  auto three = std::make_unique<TestClient>(proxy_router, exec);
  EXPECT_EQ(connack_after(*three, "three", false).return_code, ConnectReturnCode::server_unavailable);
  EXPECT_TRUE(three->closed());
  auto five = std::make_unique<TestClient>(proxy_router, exec, ProtocolVersion::v5);
  const auto refused = connack_after(*five, "five", false);
  EXPECT_EQ(refused.reason_code, ReasonCode::server_unavailable);
  EXPECT_EQ(refused.properties.reason_string.value_or(""), "connection not announced to the other servers");
  EXPECT_TRUE(five->closed());
  proxy_router.shutdown();
  exec.run_all();
}

// mop proxy: a client whose session another proxy stored comes back here; the session resumes
// from the record (session present, its subscriptions without a new SUBSCRIBE).
TEST_F(SessionRouterTest, SessionFoundInTheSharedStoreIsResumed) {
  service::SessionRecord stored;
  stored.client_id = "roamer";
  stored.protocol_version = 4;
  stored.expiry_interval_s = Session::kNeverExpires;
  stored.disconnected_at_ms = clock.wall_ms();
  stored.subscriptions = {{"alerts", 1, 0, 0}};
  RouterOptions o = options;
  std::vector<std::string> asked;
  o.find_session = [&](const std::string& id) -> std::optional<service::SessionRecord> {
    asked.push_back(id);
    if (id == "roamer") return stored;
    return std::nullopt;
  };
  SessionRouter proxy_router{service, sessions, clock, o};
  auto roamer = std::make_unique<TestClient>(proxy_router, exec);
  EXPECT_TRUE(roamer->connect("roamer", false).session_present);
  auto p = std::make_unique<TestClient>(proxy_router, exec);
  p->connect("pub");  // clean start: the store is not asked
  p->send(pub("alerts", "hello", 1, 1));
  p->received();
  auto got = roamer->publishes();
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].payload.view(), "hello");
  // Unknown, or expired meanwhile: a new session.
  auto stranger = std::make_unique<TestClient>(proxy_router, exec);
  EXPECT_FALSE(stranger->connect("stranger", false).session_present);
  stored.client_id = "late";
  stored.expiry_interval_s = 10;
  stored.disconnected_at_ms = clock.wall_ms() - 11'000;
  o.find_session = [&](const std::string&) -> std::optional<service::SessionRecord> { return stored; };
  SessionRouter other{service, sessions, clock, o};
  auto late = std::make_unique<TestClient>(other, exec);
  EXPECT_FALSE(late->connect("late", false).session_present);
  EXPECT_EQ(asked, (std::vector<std::string>{"roamer", "stranger"}));
  proxy_router.shutdown();
  other.shutdown();
  exec.run_all();
}

// mop proxy: before it looks a stored session up, the router has the shared store read up to
// now (RouterOptions::sync_sessions), so a write the proxy the client left made just before it
// died is in the record resumed. Clean starts and sessions held here do not wait.
TEST_F(SessionRouterTest, SharedStoreIsReadUpToNowBeforeASessionIsLookedUp) {
  service::SessionRecord stored;
  stored.client_id = "roamer";
  stored.protocol_version = 4;
  stored.expiry_interval_s = Session::kNeverExpires;
  stored.disconnected_at_ms = clock.wall_ms();
  RouterOptions o = options;
  std::vector<std::string> asked;
  o.find_session = [&](const std::string& id) -> std::optional<service::SessionRecord> {
    asked.push_back(id);
    if (id == "roamer") return stored;
    return std::nullopt;
  };
  std::vector<std::function<void(bool)>> syncs;
  o.sync_sessions = [&](std::function<void(bool)> done) { syncs.push_back(std::move(done)); };
  SessionRouter proxy_router{service, sessions, clock, o};
  auto next_sync = [&] {
    EXPECT_EQ(syncs.size(), 1u);
    auto done = std::move(syncs.front());
    syncs.clear();
    return done;
  };

  auto roamer = std::make_unique<TestClient>(proxy_router, exec);
  roamer->send_bytes(roamer->connect_bytes("roamer", false));
  EXPECT_TRUE(roamer->received().empty());  // no CONNACK while the store is read
  EXPECT_TRUE(asked.empty());
  stored.subscriptions = {{"alerts", 1, 0, 0}};  // the other proxy's last write, read meanwhile
  next_sync()(true);
  auto r = roamer->received();
  ASSERT_FALSE(r.empty());
  EXPECT_TRUE(std::get<Connack>(r[0]).session_present);
  EXPECT_EQ(asked, std::vector<std::string>{"roamer"});
  auto p = std::make_unique<TestClient>(proxy_router, exec);
  p->connect("pub");  // clean start: neither synced nor asked
  EXPECT_TRUE(syncs.empty());
  p->send(pub("alerts", "hello", 1, 1));
  p->received();
  auto got = roamer->publishes();
  ASSERT_EQ(got.size(), 1u);  // subscribed by the write that came last
  EXPECT_EQ(got[0].payload.view(), "hello");

  // A store that cannot be read: 3.1.1 return code 3 (server unavailable), nothing asked.
  auto refused = std::make_unique<TestClient>(proxy_router, exec);
  refused->send_bytes(refused->connect_bytes("refused", false));
  next_sync()(false);
  r = refused->received();
  ASSERT_FALSE(r.empty());
  EXPECT_EQ(std::get<Connack>(r[0]).return_code, ConnectReturnCode::server_unavailable);
  // A connection gone while it waited: the answer finds nothing to admit.
  auto gone = std::make_unique<TestClient>(proxy_router, exec);
  gone->send_bytes(gone->connect_bytes("gone", false));
  gone.reset();
  next_sync()(true);
  exec.run_all();
  EXPECT_EQ(asked, std::vector<std::string>{"roamer"});
  proxy_router.shutdown();
  exec.run_all();
}

// Issue 11: a CONNECT and, in the same read, a packet that fails the connection. The router
// admitted the CONNECT and then, still inside admit(), the next packet closed the connection and
// ended its session: the router went on with a session that was gone (SIGSEGV).
TEST_F(SessionRouterTest, ConnectAndAFailingPacketInOneRead) {
  const std::vector<std::string> tails = {
      std::string("\x00\x00", 2),               // reserved packet type 0
      client()->connect_bytes("second"),         // a second CONNECT [MQTT-3.1.0-2]
      client()->connect_bytes("one"),            // ... with the same client id
      std::string("\xff\xff\xff\xff\xff", 5),  // a remaining length of more than 4 bytes
      std::string("\x30\x02\x00\x09", 4),       // a PUBLISH whose topic runs past its end
  };
  for (const auto& tail : tails) {
    for (bool clean : {true, false}) {
      auto c = client();
      c->send_bytes(c->connect_bytes("one", clean, Will{"wills/one", Payload::copy_of("w"), 1, false}) + tail);
      EXPECT_TRUE(c->closed());
      auto got = c->received();
      ASSERT_FALSE(got.empty());
      EXPECT_EQ(std::get<Connack>(got[0]).return_code, ConnectReturnCode::accepted);
    }
  }
  // The router is intact: the session of a clean 0 client is there, and messages flow.
  EXPECT_EQ(router.live_connection_count(), 0u);
  auto sub = subscriber("s", {{"t", 1}});
  auto p = connected("p");
  p->send(pub("t", "still here", 1, 1));
  auto got = sub->publishes();
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].payload.view(), "still here");
}

// The same with MQTT 5, where the failing packet is answered with DISCONNECT, and with packets
// that follow the failing one (they must not be handled).
TEST_F(SessionRouterTest, Connect5AndAFailingPacketInOneRead) {
  auto watcher = subscriber("w", {{"after/#", 0}});
  auto c = client5(60);
  std::string bytes = c->connect_bytes("five");
  bytes += std::string("\x00\x00", 2);
  std::string after;
  encode(Publish{false, 0, false, "after/x", 0, Payload::copy_of("must not arrive")}, ProtocolVersion::v5, after);
  c->send_bytes(bytes + after);
  EXPECT_TRUE(c->closed());
  EXPECT_TRUE(watcher->publishes().empty());
  EXPECT_EQ(router.session_count(), 2u);  // "w" and the expiring "five"
}

TEST_F(SessionRouterTest, WillOnNetworkLossNotOnDisconnect) {
  auto watcher = subscriber("w", {{"wills/#", 0}});
  auto dying = client();
  dying->connect("d1", true, Will{"wills/d1", Payload::copy_of("gone"), 0, false});
  dying->drop();
  auto got = watcher->publishes();
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].payload.view(), "gone");
  auto polite = client();
  polite->connect("d2", true, Will{"wills/d2", Payload::copy_of("gone"), 0, false});
  polite->send(Disconnect{});
  EXPECT_TRUE(watcher->publishes().empty());
}

TEST_F(SessionRouterTest, RetainedStoredReplacedAndCleared) {
  auto p = connected("pub");
  p->send(pub("r/1", "old", 1, 1, true));
  p->send(pub("r/1", "new", 1, 2, true));
  p->send(pub("r/2", "two", 0, 0, true));
  auto sub = connected("sub");
  sub->send(Subscribe{1, {{"r/+", 1}}});
  auto got = sub->publishes();
  ASSERT_EQ(got.size(), 2u);
  for (auto& m : got) EXPECT_TRUE(m.retain);
  std::set<std::string> payloads{std::string(got[0].payload.view()), std::string(got[1].payload.view())};
  EXPECT_EQ(payloads, (std::set<std::string>{"new", "two"}));
  p->send(pub("r/1", "", 1, 3, true));  // clears
  auto sub2 = connected("sub2");
  sub2->send(Subscribe{1, {{"r/1", 1}}});
  EXPECT_TRUE(sub2->publishes().empty());
}

TEST_F(SessionRouterTest, CongestedClientPausesOnPersistentTopicAndLosesNothing) {
  auto sub = subscriber("slow", {{"t", 1}});
  auto p = connected("pub");
  sub->set_queued_bytes(options.max_queued_bytes + 1);  // its socket is not keeping up
  p->send(pub("t", "0", 0));
  // The message in hand still goes out; then the session takes nothing more.
  auto got = sub->publishes();
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].payload.view(), "0");
  EXPECT_TRUE(sub->connection().deliveries_paused());
  for (int i = 1; i <= 5; ++i) p->send(pub("t", std::to_string(i), i % 2, static_cast<PacketId>(i)));
  EXPECT_TRUE(sub->publishes().empty());
  // Drained: the rest of the backlog follows, in order, QoS 0 included.
  sub->drained();
  EXPECT_FALSE(sub->connection().deliveries_paused());
  got = sub->publishes();
  ASSERT_EQ(got.size(), 5u);
  for (int i = 1; i <= 5; ++i) {
    EXPECT_EQ(got[i - 1].payload.view(), std::to_string(i));
    EXPECT_EQ(got[i - 1].qos, i % 2);
  }
  EXPECT_EQ(sub->connection().dropped_qos0(), 0u);
  EXPECT_EQ(sub->connection().delivery_pauses(), 1u);
}

TEST_F(SessionRouterTest, PausedWindowIsGrantedAfreshOnResume) {
  // receive_maximum is 3 here: QoS 1 deliveries acknowledged while paused must not leave the
  // session with more than 3 in flight after the resume.
  auto sub = subscriber("slow", {{"t", 1}});
  auto p = connected("pub");
  for (PacketId i = 1; i <= 3; ++i) p->send(pub("t", std::to_string(i), 1, i));
  auto got = sub->publishes();
  ASSERT_EQ(got.size(), 3u);
  sub->set_queued_bytes(options.max_queued_bytes + 1);
  p->send(pub("t", "q0", 0));  // waits: no permit left; then pauses when it is delivered
  for (PacketId i = 4; i <= 9; ++i) p->send(pub("t", std::to_string(i), 1, i));
  for (const auto& g : got) sub->send(Puback{g.packet_id});
  got = sub->publishes();
  ASSERT_EQ(got.size(), 1u);  // the QoS 0 message took a freed permit and paused the session
  EXPECT_EQ(got[0].payload.view(), "q0");
  EXPECT_TRUE(sub->connection().deliveries_paused());
  EXPECT_TRUE(sub->publishes().empty());
  sub->drained();
  got = sub->publishes();
  ASSERT_EQ(got.size(), 3u);  // the window, no more
  EXPECT_EQ(got[0].payload.view(), "4");
  EXPECT_EQ(got[2].payload.view(), "6");
}

TEST_F(SessionRouterTest, CongestedClientLosesQos0OfNonPersistentTopicButNotQos1) {
  const std::string t = "non-persistent://public/default/t";
  auto sub = subscriber("slow", {{t, 1}});
  sub->set_queued_bytes(options.max_queued_bytes + 1);  // its socket is not keeping up
  auto p = connected("pub");
  p->send(pub(t, "qos0", 0));
  p->send(pub(t, "qos1", 1, 1));
  auto got = sub->publishes();
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].payload.view(), "qos1");
  EXPECT_EQ(sub->connection().dropped_qos0(), 1u);
  sub->set_queued_bytes(0);
  p->send(pub(t, "again", 0));
  got = sub->publishes();
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].payload.view(), "again");
}

TEST_F(SessionRouterTest, UnsubscribeStopsDelivery) {
  auto sub = subscriber("sub", {{"t", 0}});
  sub->send(Unsubscribe{2, {"t"}});
  EXPECT_EQ(std::get<Unsuback>(sub->received()[0]).packet_id, 2);
  auto p = connected("pub");
  p->send(pub("t", "m"));
  EXPECT_TRUE(sub->publishes().empty());
}

TEST_F(SessionRouterTest, SharedSubscriptionSplitsMessagesAcrossMembers) {
  auto a = connected("a");
  a->send(Subscribe{1, {{"$share/g/jobs/+", 1}}});
  EXPECT_EQ(std::get<Suback>(a->received()[0]).return_codes, std::vector<std::uint8_t>{1});
  auto b = subscriber("b", {{"$share/g/jobs/+", 1}});
  auto p = connected("pub");
  for (int i = 0; i < 6; ++i) p->send(pub("jobs/x", std::to_string(i), 1, static_cast<PacketId>(i + 1)));
  std::multiset<std::string> all;
  std::size_t to_a = 0, to_b = 0;
  for (int round = 0; round < 6 && all.size() < 6; ++round) {
    for (auto& m : a->publishes()) {
      EXPECT_EQ(m.topic, "jobs/x");
      all.emplace(m.payload.view());
      ++to_a;
      a->send(Puback{m.packet_id});
    }
    for (auto& m : b->publishes()) {
      all.emplace(m.payload.view());
      ++to_b;
      b->send(Puback{m.packet_id});
    }
  }
  EXPECT_EQ(all, (std::multiset<std::string>{"0", "1", "2", "3", "4", "5"}));  // each once
  EXPECT_GT(to_a, 0u);
  EXPECT_GT(to_b, 0u);
}

TEST_F(SessionRouterTest, SharedMemberLeavingHandsItsMessagesToTheGroup) {
  auto a = subscriber("a", {{"$share/g/q", 1}});
  auto b = subscriber("b", {{"$share/g/q", 1}});
  auto p = connected("pub");
  for (int i = 0; i < 4; ++i) p->send(pub("q", std::to_string(i), 1, static_cast<PacketId>(i + 1)));
  auto held_by_a = a->publishes();  // a never acknowledges these
  std::multiset<std::string> got_b;
  for (auto& m : b->publishes()) {
    got_b.emplace(m.payload.view());
    b->send(Puback{m.packet_id});
  }
  a->drop();
  for (int round = 0; round < 4 && got_b.size() < 4; ++round) {
    for (auto& m : b->publishes()) {
      got_b.emplace(m.payload.view());
      b->send(Puback{m.packet_id});
    }
  }
  EXPECT_FALSE(held_by_a.empty());
  EXPECT_EQ(got_b, (std::multiset<std::string>{"0", "1", "2", "3"}));
}

TEST_F(SessionRouterTest, SharedGroupKeepsMessagesWhenAllMembersAreGone) {
  auto a = subscriber("a", {{"$share/keep/q", 1}});
  a->drop();
  auto p = connected("pub");
  p->send(pub("q", "waiting", 1, 1));
  auto b = connected("b");
  b->send(Subscribe{1, {{"$share/keep/q", 1}}});
  auto got = b->publishes();
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].payload.view(), "waiting");
}

TEST_F(SessionRouterTest, SharedSubscriptionGetsNoRetainedMessages) {
  auto p = connected("pub");
  p->send(pub("r", "kept", 1, 1, true));
  auto a = connected("a");
  a->send(Subscribe{1, {{"$share/g/r", 1}}});
  EXPECT_TRUE(a->publishes().empty());
}

TEST_F(SessionRouterTest, MalformedSharedFiltersAreRefused) {
  auto a = connected("a");
  a->send(Subscribe{1, {{"$share/g", 1}, {"$share/+/x", 1}, {"$share//x", 1}, {"$share/g/a/#/b", 1}}});
  EXPECT_EQ(std::get<Suback>(a->received()[0]).return_codes, (std::vector<std::uint8_t>{0x80, 0x80, 0x80, 0x80}));
}

// ---------------------------------------------------------------------------------------------
// MQTT 5

TEST_F(SessionRouterTest, V5SessionOutlivesItsConnectionForTheExpiryInterval) {  // MQTT 5 3.1.2.11.2
  auto s = client5(10);
  EXPECT_FALSE(s->connect("s", true).session_present);
  s->send(Subscribe{1, {{"t", 1}}});
  s->received();
  s->drop();
  EXPECT_EQ(router.session_count(), 1u);
  auto p = connected("p");
  p->send(pub("t", "kept", 1, 1));
  tick_after(std::chrono::seconds(9));
  s = client5(10);
  EXPECT_TRUE(s->connect("s", false).session_present);  // [MQTT-3.2.2-3]
  auto got = s->publishes();
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].payload.view(), "kept");
  s->drop();
  tick_after(std::chrono::seconds(11));
  EXPECT_EQ(router.session_count(), 1u);  // only p's
  s = client5(10);
  EXPECT_FALSE(s->connect("s", false).session_present);
}

TEST_F(SessionRouterTest, V5ExpiryZeroEndsTheSessionAtDisconnect) {
  auto s = client5();
  s->connect("s", false);  // clean start 0 does not keep a session whose expiry is 0
  s->drop();
  EXPECT_EQ(router.session_count(), 0u);
}

TEST_F(SessionRouterTest, V5CleanStartDiscardsAnExistingSession) {  // [MQTT-3.1.2-4]
  auto s = client5(Session::kNeverExpires);
  s->connect("s", false);
  s->drop();
  s = client5(Session::kNeverExpires);
  EXPECT_FALSE(s->connect("s", true).session_present);
}

TEST_F(SessionRouterTest, V5DisconnectCanShortenTheExpiry) {  // [MQTT-3.14.2-...]
  auto s = client5(100);
  s->connect("s", false);
  Disconnect d;
  d.properties.session_expiry_interval = 0;
  s->send(d);
  EXPECT_EQ(router.session_count(), 0u);
}

TEST_F(SessionRouterTest, V5PropertiesSurviveTheTripThroughPulsar) {  // MQTT 5 3.3.2.3
  auto sub5 = client5();
  sub5->connect("sub5");
  sub5->send(Subscribe{1, {{"t", 1}}});
  sub5->received();
  auto sub3 = subscriber("sub3", {{"t", 1}});
  auto p = client5();
  p->connect("p");
  Publish m = pub("t", "hello", 1, 1);
  m.properties.payload_format_indicator = 1;
  m.properties.content_type = "text/plain";
  m.properties.response_topic = "reply/here";
  m.properties.correlation_data = std::string("\x00\xff\x10", 3);
  m.properties.message_expiry_interval = 60;
  m.properties.user_properties = {{"k", "1"}, {"a", "x"}, {"k", "2"}};  // order and repeats kept
  p->send(m);
  auto got = sub5->publishes();
  ASSERT_EQ(got.size(), 1u);
  const auto& pr = got[0].properties;
  EXPECT_EQ(pr.payload_format_indicator, 1);
  EXPECT_EQ(pr.content_type, "text/plain");
  EXPECT_EQ(pr.response_topic, "reply/here");
  EXPECT_EQ(pr.correlation_data, std::string("\x00\xff\x10", 3));
  EXPECT_EQ(pr.message_expiry_interval, 60u);
  EXPECT_EQ(pr.user_properties, m.properties.user_properties);
  auto got3 = sub3->publishes();  // a 3.1.1 subscriber on the same topic gets the payload
  ASSERT_EQ(got3.size(), 1u);
  EXPECT_EQ(got3[0].payload.view(), "hello");
}

TEST_F(SessionRouterTest, V5ExpiredMessagesAreNotDelivered) {  // [MQTT-3.3.2-5], [MQTT-3.3.2-6]
  auto s = client5(Session::kNeverExpires);
  s->connect("s", false);
  s->send(Subscribe{1, {{"t", 1}}});
  s->received();
  s->drop();
  auto p = client5();
  p->connect("p");
  Publish a = pub("t", "short", 1, 1);
  a.properties.message_expiry_interval = 5;
  Publish b = pub("t", "long", 1, 2);
  b.properties.message_expiry_interval = 100;
  p->send(a);
  p->send(b);
  clock.advance(std::chrono::seconds(10));
  s = client5(Session::kNeverExpires);
  s->connect("s", false);
  auto got = s->publishes();
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].payload.view(), "long");
  EXPECT_EQ(got[0].properties.message_expiry_interval, 90u);  // the remaining interval
}

TEST_F(SessionRouterTest, V5ResentMessageCarriesTheExpiryLeft) {  // [MQTT-3.3.2-6]
  auto s = client5(Session::kNeverExpires);
  s->connect("s", false);
  s->send(Subscribe{1, {{"t", 1}}});
  s->received();
  auto p = client5();
  p->connect("p");
  Publish m = pub("t", "m", 1, 1);
  m.properties.message_expiry_interval = 100;
  p->send(m);
  auto got = s->publishes();
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].properties.message_expiry_interval, 100u);
  s->drop();  // no PUBACK
  clock.advance(std::chrono::seconds(30));
  s = client5(Session::kNeverExpires);
  s->connect("s", false);
  got = s->publishes();
  ASSERT_EQ(got.size(), 1u);
  EXPECT_TRUE(got[0].dup);
  EXPECT_EQ(got[0].properties.message_expiry_interval, 70u);
}

TEST_F(SessionRouterTest, V5NoLocalSkipsOwnMessages) {  // [MQTT-3.8.3-3]
  auto c = client5();
  c->connect("me");
  SubscribeEntry e{"t", 1};
  e.no_local = true;
  c->send(Subscribe{1, {e}});
  c->received();
  c->send(pub("t", "mine", 1, 1));
  for (auto& p : c->received()) EXPECT_FALSE(std::holds_alternative<Publish>(p));
  auto o = connected("other");
  o->send(pub("t", "theirs", 0));
  auto got = c->publishes();
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].payload.view(), "theirs");
}

TEST_F(SessionRouterTest, V5RetainHandlingAndRetainAsPublished) {  // [MQTT-3.3.1-9..13]
  auto p = connected("p");
  p->send(pub("t", "r", 1, 1, true));
  p->received();
  auto c = client5();
  c->connect("c");
  auto sub = [&](std::uint8_t rh, bool rap, PacketId id) {
    SubscribeEntry e{"t", 1};
    e.retain_handling = rh;
    e.retain_as_published = rap;
    c->send(Subscribe{id, {e}});
    return c->publishes().size();
  };
  EXPECT_EQ(sub(2, false, 1), 0u);  // 2: never
  c->send(Unsubscribe{2, {"t"}});
  c->received();
  EXPECT_EQ(sub(1, false, 3), 1u);  // 1: the subscription is new
  EXPECT_EQ(sub(1, false, 4), 0u);  // 1: it existed
  EXPECT_EQ(sub(0, true, 5), 1u);   // 0: always
  p->send(pub("t", "live", 1, 2, true));
  auto got = c->publishes();
  ASSERT_EQ(got.size(), 1u);
  EXPECT_TRUE(got[0].retain);  // retain as published [MQTT-3.3.1-13]
  sub(0, false, 6);
  p->send(pub("t", "live2", 1, 3, true));
  got = c->publishes();
  ASSERT_EQ(got.size(), 1u);
  EXPECT_FALSE(got[0].retain);  // [MQTT-3.3.1-12]
}

TEST_F(SessionRouterTest, V5SubscriptionIdentifiersOfEveryMatchingFilter) {  // [MQTT-3.3.4-3]
  auto c = client5();
  c->connect("c");
  Subscribe s1{1, {{"a/+", 1}}};
  s1.properties.subscription_identifiers = {7};
  Subscribe s2{2, {{"a/b", 1}}};
  s2.properties.subscription_identifiers = {9};
  c->send(s1);
  c->send(s2);
  c->received();
  auto p = connected("p");
  p->send(pub("a/b", "x", 1, 1));
  auto got = c->publishes();
  ASSERT_GE(got.size(), 1u);
  std::vector<std::uint32_t> ids;
  for (auto& g : got) ids.insert(ids.end(), g.properties.subscription_identifiers.begin(),
                                 g.properties.subscription_identifiers.end());
  std::sort(ids.begin(), ids.end());
  EXPECT_EQ(ids, (std::vector<std::uint32_t>{7, 9}));
}

TEST_F(SessionRouterTest, V5UnsubackSaysWhetherASubscriptionExisted) {  // [MQTT-3.11.3-1]
  auto c = client5();
  c->connect("c");
  c->send(Subscribe{1, {{"a", 0}}});
  c->received();
  c->send(Unsubscribe{2, {"a", "b", "x/#/y"}});
  auto r = c->received();
  ASSERT_EQ(r.size(), 1u);
  EXPECT_EQ(std::get<Unsuback>(r[0]).reason_codes,
            (std::vector<ReasonCode>{ReasonCode::success, ReasonCode::no_subscription_existed,
                                     ReasonCode::topic_filter_invalid}));
  ASSERT_TRUE(std::get<Unsuback>(r[0]).properties.reason_string);
  EXPECT_NE(std::get<Unsuback>(r[0]).properties.reason_string->find("'x/#/y'"), std::string::npos);
}

TEST_F(SessionRouterTest, V5InvalidFilterGetsSuback8F) {
  auto c = client5();
  c->connect("c");
  c->send(Subscribe{1, {{"a/#/b", 0}}});
  auto r = c->received();
  ASSERT_EQ(r.size(), 1u);
  EXPECT_EQ(std::get<Suback>(r[0]).return_codes, std::vector<std::uint8_t>{0x8F});
}

TEST_F(SessionRouterTest, V5WillDelayIsCancelledByAReconnect) {  // [MQTT-3.1.3-9]
  auto w = subscriber("w", {{"will", 0}});
  Will will{"will", Payload::copy_of(std::string_view("gone")), 0, false};
  will.properties.will_delay_interval = 5;
  auto c = client5(100);
  c->connect("c", true, will);
  c->drop();
  tick_after(std::chrono::seconds(3));
  EXPECT_TRUE(w->publishes().empty());
  c = client5(100);
  c->connect("c", false, will);
  tick_after(std::chrono::seconds(10));
  EXPECT_TRUE(w->publishes().empty());
  c->drop();
  tick_after(std::chrono::seconds(4));
  EXPECT_TRUE(w->publishes().empty());
  tick_after(std::chrono::seconds(2));
  EXPECT_EQ(w->publishes().size(), 1u);
}

TEST_F(SessionRouterTest, V5WillGoesOutWhenTheSessionEndsBeforeTheDelay) {  // MQTT 5 3.1.3.2.2
  auto w = subscriber("w", {{"will", 0}});
  Will will{"will", Payload::copy_of(std::string_view("gone")), 0, false};
  will.properties.will_delay_interval = 100;
  will.properties.user_properties = {{"why", "expired"}};
  auto c = client5(2);
  c->connect("c", true, will);
  c->drop();
  tick_after(std::chrono::seconds(3));
  EXPECT_EQ(w->publishes().size(), 1u);
}

TEST_F(SessionRouterTest, V5DisconnectWithWillMessageSendsTheWill) {  // MQTT 5 3.14.2.1
  auto w = subscriber("w", {{"will", 0}});
  auto c = client5();
  c->connect("c", true, Will{"will", Payload::copy_of(std::string_view("bye")), 0, false});
  c->send(Disconnect{ReasonCode::disconnect_with_will_message, {}});
  EXPECT_EQ(w->publishes().size(), 1u);
}

TEST_F(SessionRouterTest, V5TakeoverTellsTheOldConnection8E) {  // [MQTT-3.1.4-3]
  auto a = client5();
  a->connect("same");
  auto b = client5();
  b->connect("same");
  auto r = a->received();
  ASSERT_EQ(r.size(), 1u);
  EXPECT_EQ(std::get<Disconnect>(r[0]).reason_code, ReasonCode::session_taken_over);
  EXPECT_TRUE(a->closed());
}

TEST_F(SessionRouterTest, V5ClientReceiveMaximumBoundsPermits) {  // [MQTT-3.3.4-7]
  auto c = client5();
  c->connect_properties.receive_maximum = 1;
  c->connect("c");
  c->send(Subscribe{1, {{"t", 1}}});
  c->received();
  auto p = connected("p");
  for (PacketId i = 1; i <= 3; ++i) p->send(pub("t", "m", 1, i));
  auto got = c->publishes();
  ASSERT_EQ(got.size(), 1u);
  c->send(Puback{got[0].packet_id});
  EXPECT_EQ(c->publishes().size(), 1u);
}

TEST_F(SessionRouterTest, V5PubackSaysWhetherASubscriptionMatched) {  // MQTT 5 3.4.2.1, 3.5.2.1: 0x10
  auto p = client5();
  p->connect("p");
  auto reason = [&](const Packet& a) {
    if (auto* x = std::get_if<Puback>(&a)) return x->reason_code;
    if (auto* x = std::get_if<Pubrec>(&a)) return x->reason_code;
    ADD_FAILURE() << "not a PUBACK/PUBREC";
    return ReasonCode::unspecified_error;
  };
  p->send(pub("nobody", "x", 1, 1));
  auto r = p->received();
  ASSERT_EQ(r.size(), 1u);
  EXPECT_EQ(reason(r[0]), ReasonCode::no_matching_subscribers);
  p->send(pub("nobody", "x", 2, 2));
  r = p->received();
  ASSERT_EQ(r.size(), 1u);
  EXPECT_EQ(reason(r[0]), ReasonCode::no_matching_subscribers);
  p->send(Pubrel{2});  // 0x10 is a success: the QoS 2 flow completes
  r = p->received();
  ASSERT_EQ(r.size(), 1u);
  EXPECT_EQ(std::get<Pubcomp>(r[0]).reason_code, ReasonCode::success);
  // A persistent session's QoS 2 publish also waits for its packet id to be stored.
  auto q = client5(60);
  q->connect("q", false);
  q->send(pub("nobody", "x", 2, 1));
  r = q->received();
  ASSERT_EQ(r.size(), 1u);
  EXPECT_EQ(reason(r[0]), ReasonCode::no_matching_subscribers);
  // Retained and unsubscribed: stored, and still 0x10.
  p->send(pub("kept", "r", 1, 3, true));
  r = p->received();
  ASSERT_EQ(r.size(), 1u);
  EXPECT_EQ(reason(r[0]), ReasonCode::no_matching_subscribers);
  auto s = client5(Session::kNeverExpires);
  s->connect("s", false);
  s->send(Subscribe{1, {{"kept", 1}, {"t", 1}, {"w/#", 1}}});
  EXPECT_EQ(s->publishes().size(), 1u);  // the retained message was kept
  p->send(pub("t", "x", 1, 4));
  r = p->received();
  ASSERT_EQ(r.size(), 1u);
  EXPECT_EQ(reason(r[0]), ReasonCode::success);
  // A wildcard subscriber binds to a topic when it is created: the first message matched it.
  p->send(pub("w/new", "first", 1, 5));
  r = p->received();
  ASSERT_EQ(r.size(), 1u);
  EXPECT_EQ(reason(r[0]), ReasonCode::success);
  // A session away from its connection still has its subscriptions.
  s->drop();
  p->send(pub("t", "queued", 2, 6));
  r = p->received();
  ASSERT_EQ(r.size(), 1u);
  EXPECT_EQ(reason(r[0]), ReasonCode::success);
}

// mop proxy: wills of a proxy that died, taken over here (adopt_wills, after the heir rewrote
// them as its own), go out when due, once, and their records go; not those whose client came
// back here, connected elsewhere (release) or whose stored will changed (owns_will).
TEST_F(SessionRouterTest, AdoptedWillsGoOutWhenDueUnlessTheirClientCameBack) {
  std::set<std::string> ours = {"now", "late", "moved", "back", "changed"};
  RouterOptions o = options;
  o.owns_will = [&ours](const std::string& id) { return ours.contains(id); };
  SessionRouter heir{service, sessions, clock, o};
  auto w = std::make_unique<TestClient>(heir, exec);
  w->connect("w");
  w->send(Subscribe{1, {{"wills/#", 0}}});
  w->received();
  const auto will = [&](const std::string& id, std::uint32_t delay_s) {
    service::WillRecord r;
    r.client_id = id;
    r.topic = "persistent://public/default/wills%2F" + id;
    r.message.payload = Payload::copy_of(std::string_view(id));
    r.delay_s = delay_s;
    r.due_at_ms = clock.wall_ms() + std::uint64_t{delay_s} * 1000;
    return r;
  };
  std::vector<service::WillRecord> wills = {will("now", 0), will("late", 4), will("moved", 4), will("back", 4),
                                            will("changed", 4)};
  for (const auto& r : wills) sessions.put_will(r, {});
  exec.run_all();
  heir.adopt_wills(wills);
  EXPECT_EQ(heir.pending_will_count(), 5u);
  clock.advance(std::chrono::milliseconds(1));
  heir.tick();
  exec.run_all();
  auto got = w->publishes();
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].payload.view(), "now");
  heir.release("moved");  // connected to another proxy
  ours.erase("changed");  // another proxy rewrote (or deleted) the stored will
  auto back = std::make_unique<TestClient>(heir, exec);
  back->connect("back");  // came back here, without a will
  clock.advance(std::chrono::seconds(3));
  heir.tick();
  exec.run_all();
  EXPECT_TRUE(w->publishes().empty());  // not before the delay
  clock.advance(std::chrono::seconds(2));
  heir.tick();
  exec.run_all();
  got = w->publishes();
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].payload.view(), "late");
  clock.advance(std::chrono::seconds(10));
  heir.tick();
  exec.run_all();
  EXPECT_TRUE(w->publishes().empty());  // once
  EXPECT_EQ(heir.pending_will_count(), 0u);
  // Published ones and the one of the client that came back are deleted; the others are the
  // records of the proxies that hold their clients now, not this one's to delete.
  std::set<std::string> left;
  for (const auto& r : stored_state().wills) left.insert(r.client_id);
  EXPECT_EQ(left, (std::set<std::string>{"moved", "changed"}));
  heir.shutdown();
  exec.run_all();
}

// mop proxy: a client that comes back without a will deletes the will another proxy stored for
// it (RouterOptions::has_shared_will), so that no heir publishes it.
TEST_F(SessionRouterTest, ConnectWithoutAWillDeletesTheWillAnotherServerStored) {
  service::WillRecord r;
  r.client_id = "dev";
  r.topic = "persistent://public/default/wills%2Fdev";
  r.delay_s = 30;
  sessions.put_will(r, {});
  exec.run_all();
  RouterOptions o = options;
  std::vector<std::string> asked;
  o.has_shared_will = [&asked](const std::string& id) {
    asked.push_back(id);
    return id == "dev";
  };
  SessionRouter proxy_router{service, sessions, clock, o};
  auto other = std::make_unique<TestClient>(proxy_router, exec);
  other->connect("other", true, Will{"wills/other", Payload::copy_of(std::string_view("x")), 0, false});
  auto dev = std::make_unique<TestClient>(proxy_router, exec);
  dev->connect("dev");
  exec.run_all();
  EXPECT_EQ(asked, (std::vector<std::string>{"dev"}));  // a CONNECT with a will writes its own
  const auto wills = stored_state().wills;
  ASSERT_EQ(wills.size(), 1u);
  EXPECT_EQ(wills[0].client_id, "other");
  proxy_router.shutdown();
  exec.run_all();
}

// mop proxy, split brain: another proxy took this one's lease and its clients' wills; hand_over()
// closes every connection as on shutdown, publishes and deletes nothing, forgets the waiting wills,
// and new clients are still admitted.
TEST_F(SessionRouterTest, HandOverClosesEveryConnectionAndPublishesNothing) {
  auto w = subscriber("w", {{"wills/#", 0}});  // on the fixture's router: another server
  SessionRouter cut_off{service, sessions, clock, options};
  auto dev = std::make_unique<TestClient>(cut_off, exec);
  dev->connect("dev", true, Will{"wills/dev", Payload::copy_of(std::string_view("dev")), 0, false});
  Will delayed{"wills/away", Payload::copy_of(std::string_view("away")), 0, false};
  delayed.properties.will_delay_interval = 5;
  auto away = std::make_unique<TestClient>(cut_off, exec, ProtocolVersion::v5);
  away->connect_properties.session_expiry_interval = 100;
  away->connect("away", true, delayed);
  away->drop();
  exec.run_all();
  EXPECT_EQ(cut_off.pending_will_count(), 1u);
  ASSERT_EQ(stored_state().wills.size(), 2u);
  cut_off.hand_over();
  exec.run_all();
  EXPECT_TRUE(dev->closed());
  EXPECT_EQ(cut_off.live_connection_count(), 0u);
  EXPECT_EQ(cut_off.session_count(), 0u);
  EXPECT_EQ(cut_off.pending_will_count(), 0u);
  clock.advance(std::chrono::seconds(10));
  cut_off.tick();
  router.tick();
  exec.run_all();
  EXPECT_TRUE(w->publishes().empty());
  EXPECT_EQ(stored_state().wills.size(), 2u);  // the other server's to publish
  auto later = std::make_unique<TestClient>(cut_off, exec);
  EXPECT_FALSE(later->connect("later").session_present);
  EXPECT_FALSE(later->closed());
  cut_off.shutdown();
  exec.run_all();
}

class SessionRouterLimitTest : public SessionRouterTest {
protected:
  RouterOptions limited_options = [] {
    RouterOptions o;
    o.max_connections = 2;
    return o;
  }();
  SessionRouter limited{service, sessions, clock, limited_options};
  std::unique_ptr<TestClient> limited_client(ProtocolVersion v) { return std::make_unique<TestClient>(limited, exec, v); }
};

TEST_F(SessionRouterLimitTest, ConnectionLimitIsQuotaExceeded) {  // MQTT 5 3.2.2.2: 0x97
  auto a = limited_client(ProtocolVersion::v5);
  auto b = limited_client(ProtocolVersion::v311);
  EXPECT_EQ(a->connect("a").reason_code, ReasonCode::success);
  EXPECT_EQ(b->connect("b").return_code, ConnectReturnCode::accepted);
  auto c5 = limited_client(ProtocolVersion::v5);
  const Connack refused = c5->connect("c");
  EXPECT_EQ(refused.reason_code, ReasonCode::quota_exceeded);
  ASSERT_TRUE(refused.properties.reason_string);
  EXPECT_NE(refused.properties.reason_string->find("connection limit"), std::string::npos);
  EXPECT_TRUE(c5->closed());
  auto c3 = limited_client(ProtocolVersion::v311);
  EXPECT_EQ(c3->connect("c").return_code, ConnectReturnCode::server_unavailable);  // 3.1.1: code 3
  // Taking over a connected session replaces a connection: allowed at the limit.
  auto a2 = limited_client(ProtocolVersion::v5);
  EXPECT_EQ(a2->connect("a").reason_code, ReasonCode::success);
  EXPECT_TRUE(a->closed());
  EXPECT_EQ(limited.live_connection_count(), 2u);
  // A connection that ends frees its place.
  b->drop();
  auto d = limited_client(ProtocolVersion::v5);
  EXPECT_EQ(d->connect("d").reason_code, ReasonCode::success);
}

class SessionRouterUnavailableTest : public SessionRouterTest {
protected:
  std::string why;  // what RouterOptions::unavailable answers
  RouterOptions unavailable_options = [this] {
    RouterOptions o;
    o.unavailable = [this] { return why; };
    return o;
  }();
  SessionRouter gated{service, sessions, clock, unavailable_options};
  std::unique_ptr<TestClient> gated_client(ProtocolVersion v) { return std::make_unique<TestClient>(gated, exec, v); }
};

TEST_F(SessionRouterUnavailableTest, UnavailableRefusesNewClientsAndKeepsConnectedOnes) {  // 0x88
  auto a = gated_client(ProtocolVersion::v5);
  EXPECT_EQ(a->connect("a").reason_code, ReasonCode::success);
  why = "the cluster is away";
  auto b5 = gated_client(ProtocolVersion::v5);
  const Connack refused = b5->connect("b");
  EXPECT_EQ(refused.reason_code, ReasonCode::server_unavailable);
  ASSERT_TRUE(refused.properties.reason_string);
  EXPECT_EQ(*refused.properties.reason_string, "the cluster is away");
  EXPECT_TRUE(b5->closed());
  auto b3 = gated_client(ProtocolVersion::v311);
  EXPECT_EQ(b3->connect("b").return_code, ConnectReturnCode::server_unavailable);  // 3.1.1: code 3
  EXPECT_FALSE(a->closed());
  why.clear();
  auto c = gated_client(ProtocolVersion::v311);
  EXPECT_EQ(c->connect("c").return_code, ConnectReturnCode::accepted);
  EXPECT_EQ(gated.live_connection_count(), 2u);
}

TEST_F(SessionRouterTest, ConnectDuringShutdownIsServerBusy) {  // MQTT 5 3.2.2.2: 0x89
  auto a = client5();
  a->connect("a");
  router.shutdown();
  EXPECT_TRUE(a->closed());
  auto late5 = client5();
  EXPECT_EQ(late5->connect("late5").reason_code, ReasonCode::server_busy);
  auto late3 = client();
  EXPECT_EQ(late3->connect("late3").return_code, ConnectReturnCode::server_unavailable);
}

// A challenge/response method for the tests: "hello" -> challenge "nonce", "nonce-signed" -> ok.
struct TestAuthenticator final : EnhancedAuthenticator {
  const std::string& method() const override { return name; }
  Step start(const std::string&, const std::string& data, std::unique_ptr<State>&) override {
    return data == "hello" ? Step{Step::Kind::more, "nonce"} : Step{Step::Kind::failure, ""};
  }
  Step next(const std::string& data, std::unique_ptr<State>&) override {
    return data == "nonce-signed" ? Step{Step::Kind::success, "welcome"} : Step{Step::Kind::failure, ""};
  }
  std::string name = "TEST";
};

class SessionRouterAuthTest : public SessionRouterTest {
protected:
  RouterOptions auth_options = [] {
    RouterOptions o;
    o.authenticator = std::make_shared<TestAuthenticator>();
    return o;
  }();
  SessionRouter auth_broker{service, sessions, clock, auth_options};
  std::unique_ptr<TestClient> auth_client() {
    return std::make_unique<TestClient>(auth_broker, exec, ProtocolVersion::v5);
  }
  Connect connect_with(std::string data) {
    Connect c;
    c.protocol_name = "MQTT";
    c.version = ProtocolVersion::v5;
    c.client_id = "a";
    c.properties.authentication_method = "TEST";
    c.properties.authentication_data = std::move(data);
    return c;
  }
  Auth auth(ReasonCode rc, std::string data) {
    Auth a{rc, {}};
    a.properties.authentication_method = "TEST";
    a.properties.authentication_data = std::move(data);
    return a;
  }
};

TEST_F(SessionRouterAuthTest, ChallengeResponseThenConnack) {  // MQTT 5 4.12
  auto c = auth_client();
  c->send(connect_with("hello"));
  auto r = c->received();
  ASSERT_EQ(r.size(), 1u);
  const auto& challenge = std::get<Auth>(r[0]);
  EXPECT_EQ(challenge.reason_code, ReasonCode::continue_authentication);
  EXPECT_EQ(challenge.properties.authentication_method, "TEST");  // [MQTT-4.12.0-5]
  EXPECT_EQ(challenge.properties.authentication_data, "nonce");
  c->send(auth(ReasonCode::continue_authentication, "nonce-signed"));
  r = c->received();
  ASSERT_EQ(r.size(), 1u);
  const auto& ack = std::get<Connack>(r[0]);
  EXPECT_EQ(ack.reason_code, ReasonCode::success);
  EXPECT_EQ(ack.properties.authentication_method, "TEST");
  EXPECT_EQ(ack.properties.authentication_data, "welcome");
  EXPECT_EQ(auth_broker.session_count(), 1u);
  // Re-authentication once connected [MQTT-4.12.1-1].
  c->send(auth(ReasonCode::re_authenticate, "hello"));
  r = c->received();
  ASSERT_EQ(r.size(), 1u);
  EXPECT_EQ(std::get<Auth>(r[0]).reason_code, ReasonCode::continue_authentication);
  c->send(auth(ReasonCode::continue_authentication, "nonce-signed"));
  r = c->received();
  ASSERT_EQ(r.size(), 1u);
  EXPECT_EQ(std::get<Auth>(r[0]).reason_code, ReasonCode::success);
  EXPECT_FALSE(c->closed());
}

TEST_F(SessionRouterAuthTest, WrongResponseIsNotAuthorized) {
  auto c = auth_client();
  c->send(connect_with("hello"));
  c->received();
  c->send(auth(ReasonCode::continue_authentication, "forged"));
  auto r = c->received();
  ASSERT_EQ(r.size(), 1u);
  EXPECT_EQ(std::get<Connack>(r[0]).reason_code, ReasonCode::not_authorized);
  EXPECT_TRUE(c->closed());
  EXPECT_EQ(auth_broker.session_count(), 0u);
}

// A failed re-authentication closes with CloseReason::not_authorized, the last reason. Its close
// count once went one past the end of the table and set the router's shutting-down flag, so
// every later CONNECT was refused with 0x89 (3.1.1: code 3) and nothing in the log said why.
TEST_F(SessionRouterAuthTest, FailedReauthenticationIsCountedAndLaterConnectsAreAccepted) {  // [MQTT-4.12.1-2]
  auto c = auth_client();
  c->send(connect_with("hello"));
  c->received();
  c->send(auth(ReasonCode::continue_authentication, "nonce-signed"));
  ASSERT_EQ(std::get<Connack>(c->received().at(0)).reason_code, ReasonCode::success);
  c->send(auth(ReasonCode::re_authenticate, "forged"));
  auto r = c->received();
  ASSERT_EQ(r.size(), 1u);
  EXPECT_EQ(std::get<Disconnect>(r[0]).reason_code, ReasonCode::not_authorized);
  EXPECT_TRUE(c->closed());
  const auto& closes = auth_broker.close_counts();
  ASSERT_GT(closes.size(), static_cast<std::size_t>(CloseReason::not_authorized));
  EXPECT_EQ(closes[static_cast<std::size_t>(CloseReason::not_authorized)], 1u);
  auto next5 = std::make_unique<TestClient>(auth_broker, exec, ProtocolVersion::v5);
  EXPECT_EQ(next5->connect("next5").reason_code, ReasonCode::success);
  auto next3 = std::make_unique<TestClient>(auth_broker, exec, ProtocolVersion::v311);
  EXPECT_EQ(next3->connect("next3").return_code, ConnectReturnCode::accepted);
}

TEST_F(SessionRouterAuthTest, OtherMethodGets8C) {  // [MQTT-4.12.0-1]
  auto c = auth_client();
  Connect k = connect_with("hello");
  k.properties.authentication_method = "OTHER";
  c->send(k);
  auto r = c->received();
  ASSERT_EQ(r.size(), 1u);
  EXPECT_EQ(std::get<Connack>(r[0]).reason_code, ReasonCode::bad_authentication_method);
}

TEST_F(SessionRouterAuthTest, OnlyAuthMayFollowConnectDuringTheExchange) {  // MQTT 5 4.12: until CONNACK only AUTH
  auto c = auth_client();
  c->send(connect_with("hello"));
  c->received();
  c->send(Pingreq{});
  auto r = c->received();
  ASSERT_EQ(r.size(), 1u);
  EXPECT_EQ(std::get<Connack>(r[0]).reason_code, ReasonCode::protocol_error);
  EXPECT_TRUE(c->closed());
}

// The router over topics stored by StoreLedger on a MemoryStore whose writes can be made to fail.
class SessionRouterStoreTest : public ::testing::Test {
protected:
  std::unique_ptr<TestClient> client(ProtocolVersion v) { return std::make_unique<TestClient>(router, exec, v); }
  Publish pub(std::string topic, std::string payload, std::uint8_t qos, PacketId id) {
    return Publish{false, qos, false, std::move(topic), id, Payload::copy_of(payload)};
  }
  // Sends `p` while every store write fails with `code`.
  std::vector<Packet> send_failing(TestClient& c, const Publish& p, storage::StorageErrc code) {
    store.fail_next_writes(1'000'000, code);
    c.send(p);
    auto r = c.received();
    store.fail_next_writes(0);
    return r;
  }

  ManualExecutor exec;
  ManualClock clock;
  storage::MemoryStore store;
  service::EmbeddedService service{exec, clock, storage::ledger_factory(store, exec)};
  storage::StoreSessionStore sessions{store, exec};
  SessionRouter router{service, sessions, clock, RouterOptions{}};
};

TEST_F(SessionRouterStoreTest, V5StoreFailureIsANegativeAckAndTheClientStays) {  // MQTT 5 3.4.2.1, 3.5.2.1
  auto s = client(ProtocolVersion::v5);
  s->connect("s");
  s->send(Subscribe{1, {{"t", 1}}});
  s->received();
  auto p = client(ProtocolVersion::v5);
  p->connect("p");
  auto r = send_failing(*p, pub("t", "lost", 1, 1), storage::StorageErrc::io_error);
  ASSERT_EQ(r.size(), 1u);
  const auto& a = std::get<Puback>(r[0]);
  EXPECT_EQ(a.reason_code, ReasonCode::unspecified_error);
  ASSERT_TRUE(a.properties.reason_string);
  EXPECT_NE(a.properties.reason_string->find("I/O error"), std::string::npos) << *a.properties.reason_string;
  r = send_failing(*p, pub("t", "full", 2, 2), storage::StorageErrc::no_space);
  ASSERT_EQ(r.size(), 1u);
  EXPECT_EQ(std::get<Pubrec>(r[0]).reason_code, ReasonCode::quota_exceeded);  // a full disk
  EXPECT_FALSE(p->closed());
  p->send(pub("t", "full", 2, 2));  // the refused QoS 2 id is free: the client tries again
  r = p->received();
  ASSERT_EQ(r.size(), 1u);
  EXPECT_EQ(std::get<Pubrec>(r[0]).reason_code, ReasonCode::success);
  p->send(Pubrel{2});
  p->received();
  auto got = s->publishes();
  ASSERT_EQ(got.size(), 1u);  // nothing refused was delivered
  EXPECT_EQ(got[0].payload.view(), "full");
}

TEST_F(SessionRouterStoreTest, V311StoreFailureClosesTheConnection) {  // 3.1.1 has no negative PUBACK
  auto p = client(ProtocolVersion::v311);
  p->connect("p");
  auto r = send_failing(*p, pub("t", "lost", 1, 1), storage::StorageErrc::io_error);
  EXPECT_TRUE(r.empty());  // no PUBACK: the message is not acknowledged
  EXPECT_TRUE(p->closed());
}

// A session store that cannot write a message and a session record atomically (as one on Pulsar
// system topics): the real StoreSessionStore with atomic() false, recording what each record
// write held and whether the message was stored by then.
class NonAtomicSessions final : public test_support::ForwardingSessionStore {
public:
  NonAtomicSessions(storage::MemoryStore& store, Executor& exec, const service::TopicName& topic)
      : ForwardingSessionStore(store, exec), store_(store), topic_(topic.str()) {}
  void put_session(service::SessionRecord s, service::StateDone done) override {
    bool stored = false;
    if (const auto id = store_.find_topic(topic_); id.ok() && *id) {
      const auto bounds = store_.log_bounds(**id);
      stored = bounds.ok() && *bounds && (*bounds)->first < (*bounds)->end;
    }
    puts.push_back({s.inbound_qos2, stored, s.inbound_sequences});
    last = s;
    real_.put_session(std::move(s), std::move(done));
  }
  bool atomic() const override { return false; }
  void atomically(const std::function<void()>& writes) override { writes(); }

  struct Put {
    std::vector<std::uint16_t> inbound_qos2;
    bool message_stored;  // the topic's log held an entry when the record was written
    std::vector<service::InboundSequence> inbound_sequences;
  };
  std::vector<Put> puts;
  // The last record written whole (the embedded store's encoding keeps no sequence ids).
  std::optional<service::SessionRecord> last;

private:
  storage::MemoryStore& store_;
  std::string topic_;
};

class SessionRouterNonAtomicTest : public ::testing::Test {
protected:
  std::unique_ptr<TestClient> client(ProtocolVersion v) { return std::make_unique<TestClient>(router, exec, v); }

  ManualExecutor exec;
  ManualClock clock;
  storage::MemoryStore store;
  service::EmbeddedService service{exec, clock, storage::ledger_factory(store, exec)};
  NonAtomicSessions sessions{store, exec, *service::TopicName::parse("persistent://public/default/q2")};
  SessionRouter router{service, sessions, clock, RouterOptions{}};
};

TEST_F(SessionRouterNonAtomicTest, Qos2IdIsRecordedOnlyOnceItsMessageIsStored) {
  auto s = client(ProtocolVersion::v311);
  s->connect("s", false);
  s->send(Subscribe{1, {{"q2", 2}}});
  s->received();
  auto p = client(ProtocolVersion::v5);
  p->connect_properties.session_expiry_interval = 60;
  p->connect("p", false);
  p->received();
  sessions.puts.clear();
  // A refused message: its id is never written (a stored id would make the resend a duplicate).
  store.fail_next_writes(1'000'000);
  p->send(Publish{false, 2, false, "q2", 4, Payload::copy_of("refused")});
  auto r = p->received();
  store.fail_next_writes(0);
  ASSERT_EQ(r.size(), 1u);
  EXPECT_NE(std::get<Pubrec>(r[0]).reason_code, ReasonCode::success);
  for (const auto& put : sessions.puts) EXPECT_TRUE(put.inbound_qos2.empty());
  // A stored one: the record with its id is written after the message, and PUBREC waits for it.
  sessions.puts.clear();
  p->send(Publish{false, 2, false, "q2", 5, Payload::copy_of("kept")});
  r = p->received();
  ASSERT_EQ(r.size(), 1u);
  EXPECT_EQ(std::get<Pubrec>(r[0]).reason_code, ReasonCode::success);
  ASSERT_EQ(sessions.puts.size(), 1u);
  EXPECT_EQ(sessions.puts[0].inbound_qos2, std::vector<std::uint16_t>{5});
  EXPECT_TRUE(sessions.puts[0].message_stored);
  auto rec = store.session("p");
  ASSERT_TRUE(rec.ok() && *rec);
  EXPECT_EQ((*rec)->inbound_qos2, std::vector<std::uint16_t>{5});
}

class SessionRouterDeduplicationTest : public SessionRouterNonAtomicTest {
protected:
  // What a Pulsar producer named `producer` last stored on q2 with a sequence id (-1: nothing).
  std::int64_t stored_sequence(const std::string& producer) {
    const auto id = store.find_topic("persistent://public/default/q2");
    if (!id.ok() || !*id) return -1;
    const auto seqs = store.producer_sequences(**id);
    if (!seqs.ok()) return -1;
    for (const auto& s : *seqs)
      if (s.producer == producer) return s.sequence_id;
    return -1;
  }
  RouterOptions dedup_options = [] {
    RouterOptions o;
    o.qos2_deduplication = true;
    return o;
  }();
  SessionRouter dedup{service, sessions, clock, dedup_options};
};

TEST_F(SessionRouterDeduplicationTest, Qos2SequenceIdIsRecordedBeforeItsMessageAndReusedByTheResend) {
  auto s = std::make_unique<TestClient>(dedup, exec, ProtocolVersion::v311);
  s->connect("s", false);
  s->send(Subscribe{1, {{"q2", 2}}});
  s->received();
  auto p = std::make_unique<TestClient>(dedup, exec, ProtocolVersion::v5);
  p->connect_properties.session_expiry_interval = 60;
  p->connect("p", false);
  p->received();
  sessions.puts.clear();
  p->send(Publish{false, 2, false, "q2", 5, Payload::copy_of("once")});
  auto r = p->received();
  ASSERT_EQ(r.size(), 1u);
  EXPECT_EQ(std::get<Pubrec>(r[0]).reason_code, ReasonCode::success);
  // One record write, before the message: the id with its sequence id, not as "surely stored".
  ASSERT_EQ(sessions.puts.size(), 1u);
  EXPECT_FALSE(sessions.puts[0].message_stored);
  EXPECT_TRUE(sessions.puts[0].inbound_qos2.empty());
  ASSERT_EQ(sessions.puts[0].inbound_sequences.size(), 1u);
  EXPECT_EQ(sessions.puts[0].inbound_sequences[0].packet_id, 5);
  const std::int64_t seq = sessions.puts[0].inbound_sequences[0].sequence_id;
  EXPECT_GE(seq, 0);
  EXPECT_EQ(stored_sequence("mqtt-qos2-p"), seq);  // the message went out under that id
  ASSERT_TRUE(sessions.last);
  const service::SessionRecord record = *sessions.last;
  EXPECT_EQ(record.last_sequence_id, seq);

  // The server dies before the client got PUBREC; another one resumes the record and gets the
  // resend (DUP): handed over again under the same sequence id (the broker would drop it), and
  // PUBREC. A new message after it gets a higher id.
  RouterOptions other_options = dedup_options;
  other_options.find_session = [record](const std::string& id) -> std::optional<service::SessionRecord> {
    if (id == "p") return record;
    return std::nullopt;
  };
  SessionRouter other{service, sessions, clock, other_options};
  auto p2 = std::make_unique<TestClient>(other, exec, ProtocolVersion::v5);
  p2->connect_properties.session_expiry_interval = 60;
  EXPECT_TRUE(p2->connect("p", false).session_present);
  p2->received();
  sessions.puts.clear();
  p2->send(Publish{true, 2, false, "q2", 5, Payload::copy_of("once")});
  r = p2->received();
  ASSERT_EQ(r.size(), 1u);
  EXPECT_EQ(std::get<Pubrec>(r[0]).reason_code, ReasonCode::success);
  EXPECT_TRUE(sessions.puts.empty());  // the record names it already
  EXPECT_EQ(stored_sequence("mqtt-qos2-p"), seq);
  p2->send(Publish{false, 2, false, "q2", 6, Payload::copy_of("next")});
  r = p2->received();
  ASSERT_EQ(r.size(), 1u);
  EXPECT_GT(stored_sequence("mqtt-qos2-p"), seq);
  // PUBREL of the resumed id is known (PUBCOMP success) and takes it out of the record, so the
  // next message with id 5 gets a new sequence id.
  sessions.puts.clear();
  p2->send(Pubrel{5});
  r = p2->received();
  ASSERT_EQ(r.size(), 1u);
  EXPECT_EQ(std::get<Pubcomp>(r[0]).reason_code, ReasonCode::success);
  ASSERT_FALSE(sessions.puts.empty());
  for (const auto& q : sessions.puts.back().inbound_sequences) EXPECT_NE(q.packet_id, 5);
  const std::int64_t before = stored_sequence("mqtt-qos2-p");
  p2->send(Publish{false, 2, false, "q2", 5, Payload::copy_of("new five")});
  r = p2->received();
  ASSERT_EQ(r.size(), 1u);
  EXPECT_GT(stored_sequence("mqtt-qos2-p"), before);
}

TEST_F(SessionRouterDeduplicationTest, QosSwitchesOfOneClientOnATopicKeepItsOrder) {
  // QoS 2 goes out after a record write and under the client's own producer name, QoS 0/1 at
  // once: arriving in one read, the QoS 0/1 messages would overtake the QoS 2 ones before them.
  auto s = std::make_unique<TestClient>(dedup, exec, ProtocolVersion::v311);
  s->connect("s", false);
  s->send(Subscribe{1, {{"q2", 2}}});
  s->received();
  auto p = std::make_unique<TestClient>(dedup, exec, ProtocolVersion::v5);
  p->connect_properties.session_expiry_interval = 60;
  p->connect("p", false);
  p->received();
  const std::vector<std::pair<std::uint8_t, std::string>> sent = {
      {2, "a"}, {0, "b"}, {1, "c"}, {2, "d"}, {2, "e"}, {1, "f"}, {0, "g"}, {2, "h"}};
  std::string bytes;
  PacketId id = 1;
  for (const auto& [qos, text] : sent)
    encode(Publish{false, qos, false, "q2", qos ? id++ : PacketId{0}, Payload::copy_of(text)}, ProtocolVersion::v5, bytes);
  p->send_bytes(bytes);
  p->received();
  std::vector<std::string> got;
  for (const auto& packet : s->received())
    if (const auto* publish = std::get_if<Publish>(&packet)) got.push_back(std::string(publish->payload.view()));
  std::vector<std::string> want;
  for (const auto& m : sent) want.push_back(m.second);
  EXPECT_EQ(got, want);
}

// The real EmbeddedService, except that it answers last_sequence_id as a Pulsar cluster does: a
// broker holding `broker_last` for every producer name (an earlier session of the client, on a
// server whose clock ran ahead), answered from a task of its own (the producer being created).
class BrokerAheadService final : public service::MessagingService {
public:
  BrokerAheadService(service::MessagingService& real, ManualExecutor& exec) : real_(real), exec_(exec) {}
  std::int64_t broker_last = -1;
  std::vector<std::string> asked;  // producer names

  void last_sequence_id(const service::TopicName&, const std::string& producer,
                        std::function<void(std::int64_t)> done) override {
    asked.push_back(producer);
    exec_.post([this, done = std::move(done)] { done(broker_last); });
  }
  void publish(const service::TopicName& t, service::MessagePtr m, service::PublishCallback d) override {
    real_.publish(t, std::move(m), std::move(d));
  }
  service::ReceiverId open_receiver(service::ReceiverListener& l) override { return real_.open_receiver(l); }
  void flow(service::ReceiverId r, std::uint32_t n) override { real_.flow(r, n); }
  void pause(service::ReceiverId r) override { real_.pause(r); }
  void close_receiver(service::ReceiverId r) override { real_.close_receiver(r); }
  Result<void> subscribe(const service::TopicName& t, const std::string& s, const service::SubscriptionOptions& o,
                         service::ReceiverId r, service::SubscribeReady ready) override {
    return real_.subscribe(t, s, o, r, std::move(ready));
  }
  using MessagingService::subscribe;
  bool acks_on_dispatch() const override { return real_.acks_on_dispatch(); }
  void stop_ack_on_dispatch(const service::TopicName& t, const std::string& s, service::ReceiverId r) override {
    real_.stop_ack_on_dispatch(t, s, r);
  }
  void detach(const service::TopicName& t, const std::string& s, service::ReceiverId r) override { real_.detach(t, s, r); }
  void unsubscribe(const service::TopicName& t, const std::string& s) override { real_.unsubscribe(t, s); }
  void ack(const service::TopicName& t, const std::string& s, service::MessageId id) override { real_.ack(t, s, id); }
  void ack_cumulative(const service::TopicName& t, const std::string& s, service::MessageId id) override {
    real_.ack_cumulative(t, s, id);
  }
  void redeliver_unacked(const service::TopicName& t, const std::string& s, service::ReceiverId r) override {
    real_.redeliver_unacked(t, s, r);
  }
  void redeliver(const service::TopicName& t, const std::string& s, service::ReceiverId r,
                 const std::vector<service::MessageId>& ids) override {
    real_.redeliver(t, s, r, ids);
  }
  void seek(const service::TopicName& t, const std::string& s, service::MessageId id) override { real_.seek(t, s, id); }
  void seek_time(const service::TopicName& t, const std::string& s, std::uint64_t ms) override { real_.seek_time(t, s, ms); }
  bool topic_exists(const service::TopicName& t) override { return real_.topic_exists(t); }
  std::vector<std::uint64_t> acked_batch_indexes(const service::TopicName& t, const std::string& s,
                                                 service::MessageId id) override {
    return real_.acked_batch_indexes(t, s, id);
  }
  std::optional<service::MessageId> last_message_id(const service::TopicName& t) override { return real_.last_message_id(t); }
  bool has_subscriptions(const service::TopicName& t) override { return real_.has_subscriptions(t); }
  std::vector<service::TopicName> list_topics(const service::NamespaceName& ns) override { return real_.list_topics(ns); }
  void watch_topics(const service::NamespaceName& ns, service::TopicListener& l) override { real_.watch_topics(ns, l); }
  void unwatch_topics(const service::NamespaceName& ns, service::TopicListener& l) override { real_.unwatch_topics(ns, l); }
  void set_retained(const service::TopicName& t, service::MessagePtr m, std::function<void(std::error_code)> d) override {
    real_.set_retained(t, std::move(m), std::move(d));
  }
  std::vector<std::pair<service::TopicName, service::MessagePtr>> retained(
      const service::NamespaceName& ns, const std::function<bool(const service::TopicName&)>& match) override {
    return real_.retained(ns, match);
  }
  std::vector<service::ProducerSequenceRecord> load_producer_sequences() override { return real_.load_producer_sequences(); }
  void set_publish_pressure_listener(std::size_t limit, std::function<void(bool)> l) override {
    real_.set_publish_pressure_listener(limit, std::move(l));
  }

private:
  service::MessagingService& real_;
  ManualExecutor& exec_;
};

TEST_F(SessionRouterDeduplicationTest, NewSessionSequenceIdsStartAboveWhatTheBrokerHolds) {
  // The broker holds ids far above this server's wall clock for the client's producer name: a new
  // session's first QoS 2 message goes out above them (the broker would drop it otherwise, with
  // PUBREC sent), and the next one above that.
  BrokerAheadService ahead{service, exec};
  ahead.broker_last = static_cast<std::int64_t>(clock.wall_ms()) * 1000 + 3'600'000'000;
  SessionRouter router_ahead{ahead, sessions, clock, dedup_options};
  auto s = std::make_unique<TestClient>(router_ahead, exec, ProtocolVersion::v311);
  s->connect("s", false);
  s->send(Subscribe{1, {{"q2", 2}}});
  s->received();
  auto p = std::make_unique<TestClient>(router_ahead, exec, ProtocolVersion::v5);
  p->connect_properties.session_expiry_interval = 60;
  p->connect("p", false);
  p->received();
  p->send(Publish{false, 2, false, "q2", 5, Payload::copy_of("one")});
  auto r = p->received();
  ASSERT_EQ(r.size(), 1u);
  EXPECT_EQ(std::get<Pubrec>(r[0]).reason_code, ReasonCode::success);
  EXPECT_EQ(ahead.asked, std::vector<std::string>{"mqtt-qos2-p"});
  EXPECT_EQ(stored_sequence("mqtt-qos2-p"), ahead.broker_last + 1);
  ASSERT_TRUE(sessions.last);
  EXPECT_EQ(sessions.last->last_sequence_id, ahead.broker_last + 1);
  // The broker's answer does not go back: the next id is above the last one given.
  ahead.broker_last = -1;
  p->send(Publish{false, 2, false, "q2", 6, Payload::copy_of("two")});
  r = p->received();
  ASSERT_EQ(r.size(), 1u);
  EXPECT_EQ(stored_sequence("mqtt-qos2-p"), static_cast<std::int64_t>(clock.wall_ms()) * 1000 + 3'600'000'002);
  std::vector<std::string> got;
  for (const auto& packet : s->received())
    if (const auto* publish = std::get_if<Publish>(&packet)) got.push_back(std::string(publish->payload.view()));
  EXPECT_EQ(got, (std::vector<std::string>{"one", "two"}));
}

// The real StoreSessionStore whose session-record completions can be held back, as a slow disk
// holds them: what a client is told before its record is durable shows up as a packet received
// while `held` is not empty.
class HeldSessions final : public test_support::ForwardingSessionStore {
public:
  using ForwardingSessionStore::ForwardingSessionStore;
  void put_session(service::SessionRecord s, service::StateDone done) override {
    real_.put_session(std::move(s), hold(std::move(done)));
  }
  void delete_session(const std::string& c, service::StateDone done) override {
    real_.delete_session(c, hold(std::move(done)));
  }

  void release() {
    for (auto& [done, r] : std::exchange(held_, {})) done(std::move(r));
  }
  bool holding = true;
  std::size_t held() const { return held_.size(); }

private:
  service::StateDone hold(service::StateDone done) {
    return [this, done = std::move(done)](Result<void, Error> r) mutable {
      if (holding)
        held_.emplace_back(std::move(done), std::move(r));
      else
        done(std::move(r));
    };
  }
  std::vector<std::pair<service::StateDone, Result<void, Error>>> held_;
};

class SessionRouterConnackTest : public ::testing::Test {
protected:
  std::unique_ptr<TestClient> client(ProtocolVersion v, std::optional<std::uint32_t> expiry = std::nullopt) {
    auto c = std::make_unique<TestClient>(router, exec, v);
    c->connect_properties.session_expiry_interval = expiry;
    return c;
  }

  ManualExecutor exec;
  ManualClock clock;
  storage::MemoryStore store;
  service::EmbeddedService service{exec, clock, storage::ledger_factory(store, exec)};
  HeldSessions sessions{store, exec};
  SessionRouter router{service, sessions, clock, RouterOptions{}};
};

TEST_F(SessionRouterConnackTest, ConnackWaitsUntilTheSessionRecordIsStored) {
  std::vector<std::unique_ptr<TestClient>> kept;  // connected until the end
  for (auto v : {ProtocolVersion::v311, ProtocolVersion::v5}) {
    const std::string id = v == ProtocolVersion::v5 ? "five" : "three";
    auto& c = kept.emplace_back(client(v, v == ProtocolVersion::v5 ? std::optional<std::uint32_t>(60) : std::nullopt));
    c->send(c->connect_packet(id, /*clean=*/false));
    EXPECT_TRUE(c->received().empty()) << "CONNACK before the record of " << id << " was durable";
    ASSERT_GE(sessions.held(), 1u);
    sessions.release();
    auto r = c->received();
    ASSERT_EQ(r.size(), 1u);
    EXPECT_EQ(std::get<Connack>(r[0]).return_code, ConnectReturnCode::accepted);
    auto rec = store.session(id);
    ASSERT_TRUE(rec.ok() && *rec) << id;
  }
  // A session that ends with its connection has no record to wait for.
  auto clean = client(ProtocolVersion::v311);
  clean->send(clean->connect_packet("clean", /*clean=*/true));
  EXPECT_EQ(clean->received().size(), 1u);
  EXPECT_EQ(sessions.held(), 0u);
}

TEST_F(SessionRouterConnackTest, PacketsSentBeforeTheConnackAreHandledAfterIt) {
  auto c = client(ProtocolVersion::v5, 60);
  c->send(c->connect_packet("early", false));
  c->send(Subscribe{1, {{"t", 1}}});
  EXPECT_TRUE(c->received().empty());
  sessions.release();  // the record of the CONNECT: CONNACK, then the SUBSCRIBE is handled
  auto r = c->received();
  ASSERT_EQ(r.size(), 1u);
  EXPECT_TRUE(std::holds_alternative<Connack>(r[0]));
  sessions.release();  // the record with the filter: SUBACK
  r = c->received();
  ASSERT_EQ(r.size(), 1u);
  EXPECT_TRUE(std::holds_alternative<Suback>(r[0]));
}

TEST_F(SessionRouterConnackTest, SubackWaitsUntilTheSessionRecordIsStored) {
  auto c = client(ProtocolVersion::v311);
  c->send(c->connect_packet("subs", false));
  sessions.release();
  ASSERT_EQ(c->received().size(), 1u);  // CONNACK
  c->send(Subscribe{1, {{"t", 1}}});
  EXPECT_TRUE(c->received().empty()) << "SUBACK before the record with its filter was durable";
  sessions.release();
  auto r = c->received();
  ASSERT_EQ(r.size(), 1u);
  EXPECT_EQ(std::get<Suback>(r[0]).return_codes, std::vector<std::uint8_t>{1});
  auto rec = store.session("subs");
  ASSERT_TRUE(rec.ok() && *rec);
  ASSERT_EQ((*rec)->subscriptions.size(), 1u);
  // A record that cannot be written: the filter is answered 0x80.
  sessions.holding = false;
  store.fail_next_writes(1'000'000);
  c->send(Subscribe{2, {{"u", 1}}});
  r = c->received();
  store.fail_next_writes(0);
  ASSERT_EQ(r.size(), 1u);
  EXPECT_EQ(std::get<Suback>(r[0]).return_codes, std::vector<std::uint8_t>{kSubackFailure});
}

TEST_F(SessionRouterConnackTest, ARecordThatCannotBeStoredRefusesTheConnection) {
  sessions.holding = false;
  store.fail_next_writes(1'000'000);
  auto three = client(ProtocolVersion::v311);
  three->send(three->connect_packet("three", false));
  auto r = three->received();
  ASSERT_EQ(r.size(), 1u);
  EXPECT_EQ(std::get<Connack>(r[0]).return_code, ConnectReturnCode::server_unavailable);
  EXPECT_TRUE(three->closed());
  auto five = client(ProtocolVersion::v5, 60);
  five->send(five->connect_packet("five", false));
  r = five->received();
  ASSERT_EQ(r.size(), 1u);
  EXPECT_EQ(std::get<Connack>(r[0]).reason_code, ReasonCode::server_unavailable);
  EXPECT_TRUE(five->closed());
  store.fail_next_writes(0);
}

TEST_F(SessionRouterConnackTest, ATakeoverWhileTheFirstWaitsAnswersEachOnce) {
  auto first = client(ProtocolVersion::v5, 60);
  first->send(first->connect_packet("same", false));
  EXPECT_TRUE(first->received().empty());
  auto second = client(ProtocolVersion::v5, 60);
  second->send(second->connect_packet("same", false));
  // The first connection is closed (a CONNACK cannot carry 0x8E: 0x80 and why); its pending record
  // write must not accept it later, nor answer the second twice.
  auto r = first->received();
  ASSERT_EQ(r.size(), 1u);
  EXPECT_EQ(std::get<Connack>(r[0]).reason_code, ReasonCode::unspecified_error);
  ASSERT_TRUE(std::get<Connack>(r[0]).properties.reason_string);
  EXPECT_NE(std::get<Connack>(r[0]).properties.reason_string->find("taken over"), std::string::npos);
  EXPECT_TRUE(first->closed());
  sessions.release();
  exec.run_all();
  sessions.release();
  r = second->received();
  ASSERT_EQ(r.size(), 1u);
  EXPECT_EQ(std::get<Connack>(r[0]).reason_code, ReasonCode::success);
  EXPECT_TRUE(std::get<Connack>(r[0]).session_present);
  EXPECT_TRUE(first->received().empty());
}

TEST_F(SessionRouterConnackTest, AClientGoneBeforeItsConnackLeavesNoWill) {
  sessions.holding = false;
  auto s = client(ProtocolVersion::v311);
  s->send(s->connect_packet("watcher", true));
  s->received();
  s->send(Subscribe{1, {{"wills/#", 0}}});
  s->received();
  sessions.holding = true;
  auto w = client(ProtocolVersion::v311);
  w->send(w->connect_packet("gone", false, Will{"wills/gone", Payload::copy_of("bye"), 0, false, {}}));
  EXPECT_TRUE(w->received().empty());
  w->drop();
  sessions.release();
  exec.run_all();
  EXPECT_TRUE(s->publishes().empty());
}

}  // namespace
}  // namespace mop::mqtt
