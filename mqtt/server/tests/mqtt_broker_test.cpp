// MqttBroker over the real embedded service, in process: clients are ClientConnections on a
// fake transport, the executor and clock are manual, so every step is deterministic.
#include "mqtt/server/mqtt_broker.hpp"

#include <gtest/gtest.h>

#include "service/embedded_service.hpp"

namespace mop::mqtt {
namespace {

class FakeTransport final : public Transport {
public:
  void output_ready() override {}
  void close_after_flush() override { closed = true; }
  std::string peer() const override { return "test:1"; }
  std::size_t queued_bytes() const override { return queued; }
  bool closed = false;
  std::size_t queued = 0;
};

class TestClient {
public:
  TestClient(MqttBroker& broker, ManualExecutor& exec) : exec_(exec), conn_(std::make_unique<ClientConnection>(broker, transport_)) {}

  void send(const Packet& p) {
    std::string bytes;
    encode(p, ProtocolVersion::v311, bytes);
    conn_->protocol().on_bytes({reinterpret_cast<const std::uint8_t*>(bytes.data()), bytes.size()});
    exec_.run_all();
  }
  Connack connect(std::string id, bool clean = true, std::optional<Will> will = std::nullopt) {
    Connect c;
    c.protocol_name = "MQTT";
    c.client_id = std::move(id);
    c.clean_session = clean;
    c.will = std::move(will);
    send(c);
    auto r = received();
    EXPECT_FALSE(r.empty());
    if (r.empty()) return Connack{};
    // Whatever followed the CONNACK (resent or queued messages) is kept for the next read.
    early_.assign(std::make_move_iterator(r.begin() + 1), std::make_move_iterator(r.end()));
    return std::get<Connack>(r[0]);
  }
  std::vector<Packet> received() {
    exec_.run_all();
    std::vector<Packet> out = std::exchange(early_, {});
    std::string all;
    for (auto& s : conn_->protocol().output().take()) all.append(s.view());
    FrameReader reader(kMaxRemainingLength);
    reader.feed({reinterpret_cast<const std::uint8_t*>(all.data()), all.size()});
    for (;;) {
      auto f = reader.next();
      if (!f.ok() || !f->has_value()) break;
      auto p = decode_server_packet(**f, ProtocolVersion::v311);
      EXPECT_TRUE(p.ok());
      if (p.ok()) out.push_back(std::move(*p));
    }
    return out;
  }
  std::vector<Publish> publishes() {
    std::vector<Publish> out;
    for (auto& p : received())
      if (auto* pub = std::get_if<Publish>(&p)) out.push_back(*pub);
    return out;
  }
  void drop() {  // the network connection is lost
    conn_->protocol().on_closed();
    exec_.run_all();
    conn_.reset();
  }
  bool closed() const { return transport_.closed; }
  void set_queued_bytes(std::size_t n) { transport_.queued = n; }

private:
  ManualExecutor& exec_;
  std::vector<Packet> early_;
  FakeTransport transport_;
  std::unique_ptr<ClientConnection> conn_;
};

class MqttBrokerTest : public ::testing::Test {
protected:
  std::unique_ptr<TestClient> client() { return std::make_unique<TestClient>(broker, exec); }
  Publish pub(std::string topic, std::string payload, std::uint8_t qos = 0, PacketId id = 0, bool retain = false) {
    return Publish{false, qos, retain, std::move(topic), id, Payload::copy_of(payload)};
  }

  ManualExecutor exec;
  ManualClock clock;
  service::EmbeddedService service{exec, clock};
  BrokerOptions options = [] {
    BrokerOptions o;
    o.receive_maximum = 3;
    return o;
  }();
  MqttBroker broker{service, clock, options};
};

TEST_F(MqttBrokerTest, SeedExampleQos1) {
  auto sub = client();
  sub->connect("sub");
  sub->send(Subscribe{1, {{"persistent://public/default/my-topic", 1}}});
  EXPECT_EQ(std::get<Suback>(sub->received()[0]).return_codes, std::vector<std::uint8_t>{1});
  auto p = client();
  p->connect("pub");
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

TEST_F(MqttBrokerTest, PlainTopicLivesInDefaultNamespace) {
  auto sub = client();
  sub->connect("sub");
  sub->send(Subscribe{1, {{"persistent://public/default/#", 0}}});
  sub->received();
  auto p = client();
  p->connect("pub");
  p->send(pub("sensors/room1/temp", "21"));
  auto got = sub->publishes();
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].topic, "persistent://public/default/sensors/room1/temp");
  auto topics = service.list_topics({"public", "default"});
  ASSERT_EQ(topics.size(), 1u);
  EXPECT_EQ(topics[0].str(), "persistent://public/default/sensors%2Froom1%2Ftemp");
}

TEST_F(MqttBrokerTest, GrantedQosIsMinimumOfPublishAndSubscription) {
  auto sub = client();
  sub->connect("sub");
  sub->send(Subscribe{1, {{"t", 1}}});
  sub->received();
  auto p = client();
  p->connect("pub");
  p->send(pub("t", "x", 2, 1));
  auto got = sub->publishes();
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].qos, 1);
}

TEST_F(MqttBrokerTest, OverlappingSubscriptionsDeliverOnceAtMaxQos) {
  auto sub = client();
  sub->connect("sub");
  sub->send(Subscribe{1, {{"a/#", 0}, {"a/b", 2}}});
  sub->received();
  auto p = client();
  p->connect("pub");
  p->send(pub("a/b", "x", 2, 1));
  auto got = sub->publishes();
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].qos, 2);
}

TEST_F(MqttBrokerTest, WildcardPicksUpTopicsCreatedLater) {
  auto sub = client();
  sub->connect("sub");
  sub->send(Subscribe{1, {{"new/+", 1}}});
  sub->received();
  auto p = client();
  p->connect("pub");
  p->send(pub("new/topic", "first", 1, 1));
  auto got = sub->publishes();
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].payload.view(), "first");
}

TEST_F(MqttBrokerTest, InvalidFilterGets0x80) {
  auto sub = client();
  sub->connect("sub");
  sub->send(Subscribe{1, {{"a/#/b", 1}, {"ok", 1}}});
  EXPECT_EQ(std::get<Suback>(sub->received()[0]).return_codes, (std::vector<std::uint8_t>{0x80, 1}));
}

TEST_F(MqttBrokerTest, PersistentSessionQueuesWhileAway) {
  auto sub = client();
  EXPECT_FALSE(sub->connect("dev", false).session_present);
  sub->send(Subscribe{1, {{"alerts", 1}}});
  sub->received();
  sub->drop();
  auto p = client();
  p->connect("pub");
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

TEST_F(MqttBrokerTest, ReceiveMaximumBoundsInflight) {
  auto sub = client();
  sub->connect("sub");
  sub->send(Subscribe{1, {{"t", 1}}});
  sub->received();
  auto p = client();
  p->connect("pub");
  for (int i = 0; i < 5; ++i) p->send(pub("t", std::to_string(i), 1, static_cast<PacketId>(i + 1)));
  auto first = sub->publishes();
  ASSERT_EQ(first.size(), 3u);  // receive_maximum
  sub->send(Puback{first[0].packet_id});
  auto next = sub->publishes();
  ASSERT_EQ(next.size(), 1u);
  EXPECT_EQ(next[0].payload.view(), "3");
}

TEST_F(MqttBrokerTest, UnacknowledgedResentWithDupOnReconnect) {
  auto sub = client();
  sub->connect("dev", false);
  sub->send(Subscribe{1, {{"t", 1}}});
  sub->received();
  auto p = client();
  p->connect("pub");
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

TEST_F(MqttBrokerTest, CleanSessionDiscardsSubscriptions) {
  auto sub = client();
  sub->connect("dev", false);
  sub->send(Subscribe{1, {{"t", 1}}});
  sub->received();
  sub->drop();
  auto again = client();
  EXPECT_FALSE(again->connect("dev", true).session_present);
  auto p = client();
  p->connect("pub");
  p->send(pub("t", "m", 1, 1));
  EXPECT_TRUE(again->publishes().empty());
}

TEST_F(MqttBrokerTest, TakeoverClosesTheOldConnection) {
  auto a = client();
  a->connect("same");
  auto b = client();
  b->connect("same");
  EXPECT_TRUE(a->closed());
  EXPECT_FALSE(b->closed());
}

TEST_F(MqttBrokerTest, WillOnNetworkLossNotOnDisconnect) {
  auto watcher = client();
  watcher->connect("w");
  watcher->send(Subscribe{1, {{"wills/#", 0}}});
  watcher->received();
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

TEST_F(MqttBrokerTest, RetainedStoredReplacedAndCleared) {
  auto p = client();
  p->connect("pub");
  p->send(pub("r/1", "old", 1, 1, true));
  p->send(pub("r/1", "new", 1, 2, true));
  p->send(pub("r/2", "two", 0, 0, true));
  auto sub = client();
  sub->connect("sub");
  sub->send(Subscribe{1, {{"r/+", 1}}});
  auto got = sub->publishes();
  ASSERT_EQ(got.size(), 2u);
  for (auto& m : got) EXPECT_TRUE(m.retain);
  std::set<std::string> payloads{std::string(got[0].payload.view()), std::string(got[1].payload.view())};
  EXPECT_EQ(payloads, (std::set<std::string>{"new", "two"}));
  p->send(pub("r/1", "", 1, 3, true));  // clears
  auto sub2 = client();
  sub2->connect("sub2");
  sub2->send(Subscribe{1, {{"r/1", 1}}});
  EXPECT_TRUE(sub2->publishes().empty());
}

TEST_F(MqttBrokerTest, CongestedClientLosesQos0ButNotQos1) {
  auto sub = client();
  sub->connect("slow");
  sub->send(Subscribe{1, {{"t", 1}}});
  sub->received();
  sub->set_queued_bytes(options.max_queued_bytes + 1);  // its socket is not keeping up
  auto p = client();
  p->connect("pub");
  p->send(pub("t", "qos0", 0));
  p->send(pub("t", "qos1", 1, 1));
  auto got = sub->publishes();
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].payload.view(), "qos1");
  sub->set_queued_bytes(0);
  p->send(pub("t", "again", 0));
  got = sub->publishes();
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].payload.view(), "again");
}

TEST_F(MqttBrokerTest, UnsubscribeStopsDelivery) {
  auto sub = client();
  sub->connect("sub");
  sub->send(Subscribe{1, {{"t", 0}}});
  sub->received();
  sub->send(Unsubscribe{2, {"t"}});
  EXPECT_EQ(std::get<Unsuback>(sub->received()[0]).packet_id, 2);
  auto p = client();
  p->connect("pub");
  p->send(pub("t", "m"));
  EXPECT_TRUE(sub->publishes().empty());
}

TEST_F(MqttBrokerTest, SharedSubscriptionSplitsMessagesAcrossMembers) {
  auto a = client();
  a->connect("a");
  a->send(Subscribe{1, {{"$share/g/jobs/+", 1}}});
  EXPECT_EQ(std::get<Suback>(a->received()[0]).return_codes, std::vector<std::uint8_t>{1});
  auto b = client();
  b->connect("b");
  b->send(Subscribe{1, {{"$share/g/jobs/+", 1}}});
  b->received();
  auto p = client();
  p->connect("pub");
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

TEST_F(MqttBrokerTest, SharedMemberLeavingHandsItsMessagesToTheGroup) {
  auto a = client();
  a->connect("a");
  a->send(Subscribe{1, {{"$share/g/q", 1}}});
  a->received();
  auto b = client();
  b->connect("b");
  b->send(Subscribe{1, {{"$share/g/q", 1}}});
  b->received();
  auto p = client();
  p->connect("pub");
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

TEST_F(MqttBrokerTest, SharedGroupKeepsMessagesWhenAllMembersAreGone) {
  auto a = client();
  a->connect("a");
  a->send(Subscribe{1, {{"$share/keep/q", 1}}});
  a->received();
  a->drop();
  auto p = client();
  p->connect("pub");
  p->send(pub("q", "waiting", 1, 1));
  auto b = client();
  b->connect("b");
  b->send(Subscribe{1, {{"$share/keep/q", 1}}});
  auto got = b->publishes();
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].payload.view(), "waiting");
}

TEST_F(MqttBrokerTest, SharedSubscriptionGetsNoRetainedMessages) {
  auto p = client();
  p->connect("pub");
  p->send(pub("r", "kept", 1, 1, true));
  auto a = client();
  a->connect("a");
  a->send(Subscribe{1, {{"$share/g/r", 1}}});
  EXPECT_TRUE(a->publishes().empty());
}

TEST_F(MqttBrokerTest, MalformedSharedFiltersAreRefused) {
  auto a = client();
  a->connect("a");
  a->send(Subscribe{1, {{"$share/g", 1}, {"$share/+/x", 1}, {"$share//x", 1}, {"$share/g/a/#/b", 1}}});
  EXPECT_EQ(std::get<Suback>(a->received()[0]).return_codes, (std::vector<std::uint8_t>{0x80, 0x80, 0x80, 0x80}));
}

}  // namespace
}  // namespace mop::mqtt
