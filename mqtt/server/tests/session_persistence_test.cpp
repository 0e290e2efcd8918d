// Persistent sessions and wills across a broker restart: SessionRouter over the embedded service,
// its sessions and wills in the real StoreSessionStore and the service's state in the real
// StorePersistence, both over one MemoryStore. A "crash" stops
// every write from then on (the process is gone; what the old broker does while it is torn down
// never reaches the store), then a new service restores from the store and a new broker starts
// on it. Topic logs are in memory here (the crash tests in tests/integration cover messages
// across a real kill -9); this file checks the MQTT session state.
#include <gtest/gtest.h>

#include "mqtt/server/session_router.hpp"
#include "mqtt/server/tests/forwarding_session_store.hpp"
#include "mqtt/server/tests/test_client.hpp"
#include "service/embedded_service.hpp"
#include "storage/memory_store.hpp"
#include "storage/store_persistence.hpp"
#include "storage/store_state.hpp"

namespace mop::mqtt {
namespace {

using test_support::TestClient;

// The real persistence, with a switch that makes writes vanish (crash) or wait (hold).
class CrashablePersistence final : public broker::Persistence {
public:
  CrashablePersistence(storage::Store& store, Executor& exec) : real_(store, exec) {}

  void put_subscription(const service::TopicName& t, const std::string& name, service::SubscriptionType type,
                        broker::CursorState c, broker::PersistCallback done) override {
    run([this, t, name, type, c = std::move(c), done = std::move(done)]() mutable {
      real_.put_subscription(t, name, type, std::move(c), std::move(done));
    });
  }
  void delete_subscription(const service::TopicName& t, const std::string& name, broker::PersistCallback done) override {
    run([this, t, name, done = std::move(done)]() mutable { real_.delete_subscription(t, name, std::move(done)); });
  }
  void put_cursor(const service::TopicName& t, const std::string& name, broker::CursorState c,
                  broker::PersistCallback done) override {
    run([this, t, name, c = std::move(c), done = std::move(done)]() mutable {
      real_.put_cursor(t, name, std::move(c), std::move(done));
    });
  }
  void put_retained(const service::TopicName& t, const service::Message& m, broker::PersistCallback done) override {
    run([this, t, m, done = std::move(done)]() mutable { real_.put_retained(t, m, std::move(done)); });
  }
  void delete_retained(const service::TopicName& t, broker::PersistCallback done) override {
    run([this, t, done = std::move(done)]() mutable { real_.delete_retained(t, std::move(done)); });
  }

  void delete_topic(const service::TopicName& t, broker::PersistCallback done) override {
    run([this, t, done = std::move(done)]() mutable { real_.delete_topic(t, std::move(done)); });
  }

  Result<void, Error> load(Restored& out) override { return real_.load(out); }

  void release() {
    hold = false;
    for (auto& w : std::exchange(held_, {})) w();
  }
  void release_one() {  // the oldest held write goes through; later ones stay held
    auto w = std::move(held_.front());
    held_.erase(held_.begin());
    w();
  }
  bool crashed = false;
  bool hold = false;
  std::size_t held() const { return held_.size(); }

  // Every write goes through here, the session store's too (one queue: held writes go through
  // in the order they were issued).
  void run(std::function<void()> write) {
    if (crashed) return;
    if (hold)
      held_.push_back(std::move(write));
    else
      write();
  }

private:
  storage::StorePersistence real_;
  std::vector<std::function<void()>> held_;
};

// The real session store, its writes through the same switch.
class CrashableSessionStore final : public test_support::ForwardingSessionStore {
public:
  CrashableSessionStore(storage::Store& store, Executor& exec, CrashablePersistence& gate)
      : ForwardingSessionStore(store, exec), gate_(gate) {}
  void put_session(service::SessionRecord s, service::StateDone done) override {
    gate_.run([this, s = std::move(s), done = std::move(done)]() mutable { real_.put_session(std::move(s), std::move(done)); });
  }
  void delete_session(const std::string& id, service::StateDone done) override {
    gate_.run([this, id, done = std::move(done)]() mutable { real_.delete_session(id, std::move(done)); });
  }
  void put_will(service::WillRecord w, service::StateDone done) override {
    gate_.run([this, w = std::move(w), done = std::move(done)]() mutable { real_.put_will(std::move(w), std::move(done)); });
  }
  void delete_will(const std::string& id, service::StateDone done) override {
    gate_.run([this, id, done = std::move(done)]() mutable { real_.delete_will(id, std::move(done)); });
  }

private:
  CrashablePersistence& gate_;
};

class SessionPersistenceTest : public ::testing::Test {
protected:
  SessionPersistenceTest() { start(); }
  ~SessionPersistenceTest() override {
    clients_.clear();
    router_.reset();
  }

  void start() {
    persistence_ = std::make_unique<CrashablePersistence>(store, exec);
    sessions_ = std::make_unique<CrashableSessionStore>(store, exec, *persistence_);
    service_ = std::make_unique<service::EmbeddedService>(exec, clock, broker::Broker::LedgerFactory{}, persistence_.get());
    ASSERT_TRUE(service_->restore().ok());
    router_ = std::make_unique<SessionRouter>(*service_, *sessions_, clock, RouterOptions{});
    auto restored = sessions_->read();
    ASSERT_TRUE(restored.ok());
    router_->restore(std::move(*restored));
    exec.run_all();
  }
  // kill -9 and start again on the same store. Clients made before are gone.
  void restart() {
    persistence_->crashed = true;
    clients_.clear();
    router_.reset();
    service_.reset();
    exec.run_all();
    start();
  }
  TestClient& client(ProtocolVersion v = ProtocolVersion::v311) {
    clients_.push_back(std::make_unique<TestClient>(*router_, exec, v));
    return *clients_.back();
  }
  TestClient& client5(std::uint32_t expiry) {
    auto& c = client(ProtocolVersion::v5);
    c.connect_properties.session_expiry_interval = expiry;
    return c;
  }
  void tick_after(std::chrono::milliseconds d) {
    clock.advance(d);
    router_->tick();
    exec.run_all();
  }
  std::optional<service::SessionRecord> stored(const std::string& id) {
    auto s = store.session(id);
    EXPECT_TRUE(s.ok());
    return s.ok() ? *s : std::nullopt;
  }
  std::vector<service::WillRecord> wills() {
    auto w = store.wills();
    EXPECT_TRUE(w.ok());
    return w.ok() ? *w : std::vector<service::WillRecord>{};
  }
  // A kept session "p" that published QoS 2 messages 1..n on "t" and has their PUBRECs (their
  // ids recorded); the store then holds every write until the test releases it.
  TestClient& publisher_holding_writes(PacketId n) {
    auto& p = client();
    p.connect("p", false);
    for (PacketId id = 1; id <= n; ++id) p.send(pub("t", "m" + std::to_string(id), 2, id));
    EXPECT_EQ(p.received().size(), n);
    EXPECT_EQ(stored("p")->inbound_qos2.size(), n);
    persistence_->hold = true;
    return p;
  }
  static Publish pub(std::string topic, std::string payload, std::uint8_t qos, PacketId id = 0) {
    return Publish{false, qos, false, std::move(topic), id, Payload::copy_of(payload)};
  }

  ManualExecutor exec;
  ManualClock clock;
  storage::MemoryStore store;
  std::unique_ptr<CrashablePersistence> persistence_;
  std::unique_ptr<CrashableSessionStore> sessions_;
  std::unique_ptr<service::EmbeddedService> service_;
  std::unique_ptr<SessionRouter> router_;
  std::vector<std::unique_ptr<TestClient>> clients_;
};

TEST_F(SessionPersistenceTest, OnlySessionsOutlivingTheirConnectionAreStored) {
  client().connect("clean", true);
  client().connect("kept", false);
  client5(0).connect("v5-zero", false);
  client5(30).connect("v5-30", true);
  EXPECT_FALSE(stored("clean"));
  EXPECT_FALSE(stored("v5-zero"));
  auto kept = stored("kept");
  ASSERT_TRUE(kept);
  EXPECT_EQ(kept->protocol_version, 4);
  EXPECT_EQ(kept->expiry_interval_s, Session::kNeverExpires);
  EXPECT_EQ(kept->disconnected_at_ms, 0u);  // connected
  auto v5 = stored("v5-30");
  ASSERT_TRUE(v5);
  EXPECT_EQ(v5->protocol_version, 5);
  EXPECT_EQ(v5->expiry_interval_s, 30u);
  EXPECT_TRUE(v5->clean_start);
}

TEST_F(SessionPersistenceTest, SubscriptionsSurviveARestartAndCollectMessages) {
  auto& s = client();
  s.connect("s", false);
  s.send(Subscribe{1, {{"a/b", 1}, {"c/+", 2}}});
  s.received();
  auto rec = stored("s");
  ASSERT_TRUE(rec);
  ASSERT_EQ(rec->subscriptions.size(), 2u);
  EXPECT_EQ(rec->subscriptions[0].filter, "a/b");
  EXPECT_EQ(rec->subscriptions[0].qos, 1);
  EXPECT_EQ(rec->subscriptions[1].filter, "c/+");
  EXPECT_EQ(rec->subscriptions[1].qos, 2);

  restart();
  EXPECT_EQ(router_->session_count(), 1u);
  // Published while the session is offline after the restart, one to a topic created now.
  auto& p = client();
  p.connect("p");
  p.send(pub("a/b", "one", 1, 1));
  p.send(pub("c/new", "two", 2, 2));
  p.received();
  auto& back = client();
  EXPECT_TRUE(back.connect("s", false).session_present);  // [MQTT-3.2.2-2]
  auto got = back.publishes();
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(got[0].payload.view(), "one");
  EXPECT_EQ(got[0].qos, 1);
  EXPECT_EQ(got[1].payload.view(), "two");
  EXPECT_EQ(got[1].qos, 2);

  // UNSUBSCRIBE is stored too.
  back.send(Unsubscribe{3, {"a/b"}});
  back.received();
  rec = stored("s");
  ASSERT_TRUE(rec);
  ASSERT_EQ(rec->subscriptions.size(), 1u);
  EXPECT_EQ(rec->subscriptions[0].filter, "c/+");
}

TEST_F(SessionPersistenceTest, V5SubscriptionOptionsAndIdentifiersSurvive) {
  auto& s = client5(Session::kNeverExpires);
  s.connect("s", false);
  Subscribe sub{1, {{"t", 1, true, true, 2}}};
  sub.properties.subscription_identifiers.push_back(7);
  s.send(sub);
  s.received();
  auto rec = stored("s");
  ASSERT_TRUE(rec);
  ASSERT_EQ(rec->subscriptions.size(), 1u);
  EXPECT_EQ(rec->subscriptions[0].options, 0x04 | 0x08 | 0x20);
  EXPECT_EQ(rec->subscriptions[0].subscription_id, 7u);

  restart();
  auto& back = client5(Session::kNeverExpires);
  EXPECT_TRUE(back.connect("s", false).session_present);
  back.send(pub("t", "mine", 1, 1));  // no local: not sent back to its publisher
  back.received();
  auto& p = client();
  p.connect("p");
  p.send(pub("t", "theirs", 1, 1));
  auto got = back.publishes();
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].payload.view(), "theirs");
  EXPECT_EQ(got[0].properties.subscription_identifiers, std::vector<std::uint32_t>{7});
}

TEST_F(SessionPersistenceTest, InboundQos2IdIsDurableBeforePubrecAndHoldsAcrossARestart) {
  auto& sub = client();
  sub.connect("sub", false);
  sub.send(Subscribe{1, {{"q2", 2}}});
  sub.received();
  auto& p = client();
  p.connect("p", false);
  persistence_->hold = true;
  p.send(pub("q2", "once", 2, 5));
  EXPECT_TRUE(p.received().empty());  // the message is stored, the packet id not yet: no PUBREC
  persistence_->release();
  auto acks = p.received();
  ASSERT_EQ(acks.size(), 1u);
  EXPECT_EQ(std::get<Pubrec>(acks[0]).packet_id, 5);
  auto rec = stored("p");
  ASSERT_TRUE(rec);
  EXPECT_EQ(rec->inbound_qos2, std::vector<std::uint16_t>{5});
  // The subscriber takes it now; its copy is not the point here.
  auto first = sub.publishes();
  ASSERT_EQ(first.size(), 1u);
  sub.send(Pubrec{first[0].packet_id});
  sub.received();
  sub.send(Pubcomp{first[0].packet_id});

  restart();
  auto& sub2 = client();
  sub2.connect("sub", false);
  sub2.received();
  auto& p2 = client();
  EXPECT_TRUE(p2.connect("p", false).session_present);
  Publish again = pub("q2", "once", 2, 5);
  again.dup = true;
  p2.send(again);  // the client never saw our PUBREC: it resends
  acks = p2.received();
  ASSERT_EQ(acks.size(), 1u);
  EXPECT_EQ(std::get<Pubrec>(acks[0]).packet_id, 5);
  EXPECT_TRUE(sub2.publishes().empty());  // not published a second time [MQTT-4.3.3-2]
  persistence_->hold = true;
  p2.send(Pubrel{5});
  EXPECT_TRUE(p2.received().empty());  // PUBCOMP waits until the release is durable
  persistence_->release();
  acks = p2.received();
  ASSERT_EQ(acks.size(), 1u);
  EXPECT_EQ(std::get<Pubcomp>(acks[0]).packet_id, 5);
  EXPECT_TRUE(stored("p")->inbound_qos2.empty());
  // The id is free again and carries a new message.
  p2.send(pub("q2", "next", 2, 5));
  p2.received();
  auto got = sub2.publishes();
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].payload.view(), "next");
}

TEST_F(SessionPersistenceTest, PubrelAfterARestartCompletesExactlyOnce) {
  auto& p = client();
  p.connect("p", false);
  p.send(pub("t", "m", 2, 9));
  ASSERT_EQ(p.received().size(), 1u);  // PUBREC
  restart();
  auto& p2 = client();
  p2.connect("p", false);
  p2.send(Pubrel{9});
  auto acks = p2.received();
  ASSERT_EQ(acks.size(), 1u);
  EXPECT_EQ(std::get<Pubcomp>(acks[0]).packet_id, 9);
  EXPECT_EQ(std::get<Pubcomp>(acks[0]).reason_code, ReasonCode::success);
}

TEST_F(SessionPersistenceTest, OutboundPubrelSentStateIsStoredBeforePubrelAndResentAfterARestart) {
  auto& s = client();
  s.connect("s", false);
  s.send(Subscribe{1, {{"t", 2}}});
  s.received();
  auto& p = client();
  p.connect("p");
  p.send(pub("t", "m", 2, 1));
  p.received();
  auto got = s.publishes();
  ASSERT_EQ(got.size(), 1u);
  const PacketId id = got[0].packet_id;
  persistence_->hold = true;
  s.send(Pubrec{id});
  EXPECT_TRUE(s.received().empty());  // PUBREL waits until the state is durable
  persistence_->release();
  auto out = s.received();
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(std::get<Pubrel>(out[0]).packet_id, id);
  auto rec = stored("s");
  ASSERT_TRUE(rec);
  ASSERT_EQ(rec->outbound.size(), 1u);
  EXPECT_EQ(rec->outbound[0].packet_id, id);
  EXPECT_EQ(rec->outbound[0].state, service::OutboundState::pubrel_sent);
  EXPECT_EQ(rec->outbound[0].subscription, "s");

  restart();
  auto& back = client();
  EXPECT_TRUE(back.connect("s", false).session_present);
  out = back.received();
  ASSERT_EQ(out.size(), 1u);  // the PUBREL again, not the message
  EXPECT_EQ(std::get<Pubrel>(out[0]).packet_id, id);
  back.send(Pubcomp{id});
  EXPECT_TRUE(stored("s")->outbound.empty());
}

TEST_F(SessionPersistenceTest, CompletedQos2DeliveryStaysRecordedUntilItsAckIsSurelyStored) {
  auto& s = client();
  s.connect("s", false);
  s.send(Subscribe{1, {{"t", 2}}});
  s.received();
  auto& p = client();
  p.connect("p");
  p.send(pub("t", "m", 2, 1));
  p.received();
  auto got = s.publishes();
  ASSERT_EQ(got.size(), 1u);
  s.send(Pubrec{got[0].packet_id});
  s.received();
  persistence_->hold = true;
  s.send(Pubcomp{got[0].packet_id});
  ASSERT_EQ(persistence_->held(), 1u);  // A: the delivery as completed
  persistence_->release_one();
  exec.run_all();
  ASSERT_EQ(persistence_->held(), 1u);  // B, issued once A is durable: without it
  auto rec = stored("s");
  ASSERT_TRUE(rec);
  ASSERT_EQ(rec->outbound.size(), 1u);
  EXPECT_EQ(rec->outbound[0].packet_id, 0);  // completed: no PUBREL owed, only its ack
  EXPECT_EQ(rec->outbound[0].subscription, "s");
  persistence_->release();
  exec.run_all();
  EXPECT_TRUE(stored("s")->outbound.empty());
}

TEST_F(SessionPersistenceTest, PubrelsOfAWindowShareRecordWritesAndEachPubcompWaitsForItsOwn) {
  auto& p = publisher_holding_writes(20);
  for (PacketId id = 1; id <= 20; ++id) p.send(Pubrel{id});
  // The first release is written at once; the 19 after it wait for one write of their own.
  EXPECT_EQ(persistence_->held(), 1u);
  EXPECT_TRUE(p.received().empty());
  persistence_->release_one();
  exec.run_all();
  auto acks = p.received();
  ASSERT_EQ(acks.size(), 1u);  // only the release the durable write carries is completed
  EXPECT_EQ(std::get<Pubcomp>(acks[0]).packet_id, 1);
  ASSERT_EQ(persistence_->held(), 1u);  // the other 19, together
  std::vector<std::uint16_t> rest;
  for (std::uint16_t id = 2; id <= 20; ++id) rest.push_back(id);
  EXPECT_EQ(stored("p")->inbound_qos2, rest);
  persistence_->release();
  acks = p.received();
  ASSERT_EQ(acks.size(), 19u);
  for (std::size_t i = 0; i < acks.size(); ++i) EXPECT_EQ(std::get<Pubcomp>(acks[i]).packet_id, i + 2);  // in order
  EXPECT_EQ(persistence_->held(), 0u);
  EXPECT_TRUE(stored("p")->inbound_qos2.empty());
}

// A publisher's record is written with each QoS 2 PUBLISH (atomic with the message). That write
// carries the releases made before it, so the PUBCOMPs waiting for the next coalesced write go
// out once it is durable: no further write of their own, no wait behind the one in flight.
TEST_F(SessionPersistenceTest, ReleasesWaitingForACoalescedWriteAreCarriedByTheNextPublishWrite) {
  auto& p = publisher_holding_writes(5);
  p.send(Pubrel{1});  // its write is issued (held)
  p.send(Pubrel{2});  // these two wait for the next write
  p.send(Pubrel{3});
  ASSERT_EQ(persistence_->held(), 1u);
  p.send(pub("t", "m6", 2, 6));  // its record (without 2 and 3) is written with the message
  const std::size_t issued = persistence_->held();
  ASSERT_GE(issued, 2u);
  EXPECT_TRUE(p.received().empty());
  for (std::size_t i = 0; i < issued; ++i) {
    persistence_->release_one();
    exec.run_all();
  }
  auto acks = p.received();
  ASSERT_EQ(acks.size(), 4u);  // PUBCOMP 1, 2, 3 in order, then PUBREC 6
  EXPECT_EQ(std::get<Pubcomp>(acks[0]).packet_id, 1);
  EXPECT_EQ(std::get<Pubcomp>(acks[1]).packet_id, 2);
  EXPECT_EQ(std::get<Pubcomp>(acks[2]).packet_id, 3);
  EXPECT_EQ(std::get<Pubrec>(acks[3]).packet_id, 6);
  EXPECT_EQ(persistence_->held(), 0u);  // no write of their own
  EXPECT_EQ(stored("p")->inbound_qos2, (std::vector<std::uint16_t>{4, 5, 6}));
  restart();
  EXPECT_EQ(stored("p")->inbound_qos2, (std::vector<std::uint16_t>{4, 5, 6}));
}

TEST_F(SessionPersistenceTest, ACrashBetweenCoalescedReleaseWritesKeepsEveryUncompletedId) {
  auto& p = publisher_holding_writes(5);
  for (PacketId id = 1; id <= 5; ++id) p.send(Pubrel{id});
  persistence_->release_one();  // id 1's release is durable; 2..5 wait for the next write
  exec.run_all();
  auto acks = p.received();
  ASSERT_EQ(acks.size(), 1u);
  EXPECT_EQ(std::get<Pubcomp>(acks[0]).packet_id, 1);

  restart();  // before the write of 2..5
  EXPECT_EQ(stored("p")->inbound_qos2, (std::vector<std::uint16_t>{2, 3, 4, 5}));
  auto& sub = client();
  sub.connect("sub");
  sub.send(Subscribe{1, {{"t", 1}}});
  sub.received();
  auto& p2 = client();
  EXPECT_TRUE(p2.connect("p", false).session_present);
  // Id 1 was completed: a new message with it is published. Ids 2..5 were not: their PUBRELs
  // come again and complete.
  p2.send(pub("t", "new", 2, 1));
  acks = p2.received();
  ASSERT_EQ(acks.size(), 1u);
  EXPECT_EQ(std::get<Pubrec>(acks[0]).packet_id, 1);
  auto got = sub.publishes();
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].payload.view(), "new");
  for (PacketId id = 2; id <= 5; ++id) p2.send(Pubrel{id});
  acks = p2.received();
  ASSERT_EQ(acks.size(), 4u);
  for (const auto& a : acks) EXPECT_EQ(std::get<Pubcomp>(a).reason_code, ReasonCode::success);
}

TEST_F(SessionPersistenceTest, PubrecsOfAWindowShareRecordWritesAndPubrelsLeaveInOrder) {
  auto& s = client();
  s.connect("s", false);
  s.send(Subscribe{1, {{"t", 2}}});
  s.received();
  auto& p = client();
  p.connect("p");
  for (PacketId id = 1; id <= 10; ++id) p.send(pub("t", "m", 2, id));
  p.received();
  auto got = s.publishes();
  ASSERT_EQ(got.size(), 10u);
  persistence_->hold = true;
  for (const auto& m : got) s.send(Pubrec{m.packet_id});
  EXPECT_EQ(persistence_->held(), 1u);  // the first PUBREC's state; the other nine wait together
  EXPECT_TRUE(s.received().empty());    // no PUBREL before its state is durable
  persistence_->release_one();
  exec.run_all();
  auto out = s.received();
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(std::get<Pubrel>(out[0]).packet_id, got[0].packet_id);
  persistence_->release();
  exec.run_all();
  out = s.received();
  ASSERT_EQ(out.size(), 9u);
  for (std::size_t i = 0; i < out.size(); ++i) EXPECT_EQ(std::get<Pubrel>(out[i]).packet_id, got[i + 1].packet_id);
  auto rec = stored("s");
  ASSERT_TRUE(rec);
  ASSERT_EQ(rec->outbound.size(), 10u);
  for (const auto& o : rec->outbound) EXPECT_EQ(o.state, service::OutboundState::pubrel_sent);
  for (const auto& m : got) s.send(Pubcomp{m.packet_id});
  exec.run_all();
  EXPECT_TRUE(stored("s")->outbound.empty());
}

TEST_F(SessionPersistenceTest, ExpiryCountsFromTheDisconnectionAcrossARestart) {
  auto& c = client5(10);
  c.connect("c", false);
  c.send(Subscribe{1, {{"t", 1}}});
  c.drop();
  auto rec = stored("c");
  ASSERT_TRUE(rec);
  EXPECT_EQ(rec->disconnected_at_ms, clock.wall_ms());
  tick_after(std::chrono::seconds(4));
  restart();
  EXPECT_EQ(router_->session_count(), 1u);
  tick_after(std::chrono::seconds(5));
  EXPECT_EQ(router_->session_count(), 1u);
  tick_after(std::chrono::seconds(2));  // 11 s after the disconnection
  EXPECT_EQ(router_->session_count(), 0u);
  EXPECT_FALSE(stored("c"));
}

TEST_F(SessionPersistenceTest, SessionThatExpiredWhileTheBrokerWasDownIsGone) {
  auto& c = client5(2);
  c.connect("c", false);
  c.drop();
  persistence_->crashed = true;
  clock.advance(std::chrono::seconds(3));
  restart();
  EXPECT_EQ(router_->session_count(), 0u);
  EXPECT_FALSE(stored("c"));
  EXPECT_FALSE(client5(2).connect("c", false).session_present);
}

TEST_F(SessionPersistenceTest, SessionConnectedAtTheCrashCountsItsExpiryFromTheRestart) {
  client5(10).connect("c", false);
  clock.advance(std::chrono::seconds(100));
  restart();
  auto rec = stored("c");
  ASSERT_TRUE(rec);
  EXPECT_EQ(rec->disconnected_at_ms, clock.wall_ms());
  tick_after(std::chrono::seconds(9));
  EXPECT_EQ(router_->session_count(), 1u);
  tick_after(std::chrono::seconds(2));
  EXPECT_EQ(router_->session_count(), 0u);
}

TEST_F(SessionPersistenceTest, CleanStartAndExpiryZeroAtDisconnectDeleteTheRecord) {
  client().connect("a", false);
  ASSERT_TRUE(stored("a"));
  client().connect("a", true);  // takes over and starts clean
  EXPECT_FALSE(stored("a"));
  auto& b = client5(60);
  b.connect("b", false);
  ASSERT_TRUE(stored("b"));
  Disconnect d;
  d.properties.session_expiry_interval = 0;
  b.send(d);
  EXPECT_FALSE(stored("b"));
}

TEST_F(SessionPersistenceTest, WillOfAClientConnectedAtTheCrashIsPublishedAfterTheRestart) {
  auto& w = client();
  w.connect("w", true, Will{"status/w", Payload::copy_of("gone"), 1, false, {}});
  auto rec = wills();
  ASSERT_EQ(rec.size(), 1u);
  EXPECT_EQ(rec[0].client_id, "w");
  EXPECT_EQ(rec[0].topic, "persistent://public/default/status%2Fw");
  EXPECT_EQ(rec[0].due_at_ms, 0u);
  auto& s = client();
  s.connect("s", false);
  s.send(Subscribe{1, {{"status/w", 1}}});
  s.received();

  restart();
  auto& back = client();
  back.connect("s", false);
  auto got = back.publishes();
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].payload.view(), "gone");
  EXPECT_TRUE(wills().empty());
}

TEST_F(SessionPersistenceTest, DisconnectDeletesTheStoredWill) {
  auto& w = client();
  w.connect("w", true, Will{"status/w", Payload::copy_of("gone"), 0, false, {}});
  ASSERT_EQ(wills().size(), 1u);
  w.send(Disconnect{});
  EXPECT_TRUE(wills().empty());
  restart();
  EXPECT_EQ(router_->pending_will_count(), 0u);
}

TEST_F(SessionPersistenceTest, DelayedWillKeepsItsDueTimeAcrossARestart) {
  auto& s = client();
  s.connect("s", false);
  s.send(Subscribe{1, {{"status/w", 1}}});
  s.received();
  auto& w = client5(60);
  Will will{"status/w", Payload::copy_of("late"), 1, false, {}};
  will.properties.will_delay_interval = 30;
  will.properties.content_type = "text/plain";
  w.connect("w", false, will);
  w.drop();
  auto rec = wills();
  ASSERT_EQ(rec.size(), 1u);
  EXPECT_EQ(rec[0].delay_s, 30u);
  EXPECT_EQ(rec[0].due_at_ms, clock.wall_ms() + 30'000);
  tick_after(std::chrono::seconds(10));
  restart();
  EXPECT_EQ(router_->pending_will_count(), 1u);
  tick_after(std::chrono::seconds(19));
  EXPECT_EQ(router_->pending_will_count(), 1u);
  tick_after(std::chrono::seconds(2));  // 31 s after the disconnection
  EXPECT_EQ(router_->pending_will_count(), 0u);
  auto& back = client();
  back.connect("s", false);
  auto got = back.publishes();
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].payload.view(), "late");
  EXPECT_TRUE(wills().empty());
}

TEST_F(SessionPersistenceTest, ReconnectAfterARestartCancelsADelayedWill) {
  auto& w = client5(60);
  Will will{"status/w", Payload::copy_of("late"), 1, false, {}};
  will.properties.will_delay_interval = 30;
  w.connect("w", false, will);
  w.drop();
  restart();
  auto& s = client();
  s.connect("s", false);
  s.send(Subscribe{1, {{"status/w", 1}}});
  s.received();
  EXPECT_TRUE(client5(60).connect("w", false).session_present);  // back within the delay, no will
  EXPECT_TRUE(wills().empty());
  tick_after(std::chrono::seconds(40));
  EXPECT_TRUE(s.publishes().empty());
}

TEST_F(SessionPersistenceTest, DelayedWillOfAClientConnectedAtTheCrashWaitsItsDelay) {
  auto& w = client5(60);
  Will will{"status/w", Payload::copy_of("late"), 0, false, {}};
  will.properties.will_delay_interval = 5;
  w.connect("w", false, will);
  restart();
  EXPECT_EQ(router_->pending_will_count(), 1u);
  auto rec = wills();
  ASSERT_EQ(rec.size(), 1u);
  EXPECT_EQ(rec[0].due_at_ms, clock.wall_ms() + 5'000);
  tick_after(std::chrono::seconds(6));
  EXPECT_EQ(router_->pending_will_count(), 0u);
  EXPECT_TRUE(wills().empty());
}

}  // namespace
}  // namespace mop::mqtt
