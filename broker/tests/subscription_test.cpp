#include "broker/subscription.hpp"

#include <gtest/gtest.h>

#include <map>

#include "broker/in_memory_ledger.hpp"
#include "broker/tests/recording_sink.hpp"

namespace mop::broker {
namespace {

using testing::msg;
using testing::RecordingSink;
using testing::strs;

class SubscriptionTest : public ::testing::Test {
protected:
  std::unique_ptr<Subscription> make(const std::string& name, SubscriptionType type,
                                     service::InitialPosition pos = service::InitialPosition::latest) {
    SubscriptionOptions o;
    o.type = type;
    o.initial_position = pos;
    const auto start = pos == service::InitialPosition::earliest ? ledger.first() : ledger.end();
    auto key = std::make_shared<const SubscriptionKey>(SubscriptionKey{name_, name});
    return std::make_unique<Subscription>(std::move(key), o, ledger, Cursor(start));
  }
  void append(std::string_view payload, std::optional<std::string> key = std::nullopt) {
    ledger.append(msg(payload, std::move(key)), {});
  }

  service::TopicName name_{service::TopicDomain::persistent, "public", "default", "t"};
  InMemoryLedger ledger{3};
  RecordingSink s1, s2;
  Receiver r1{1, s1}, r2{2, s2};
};

// As Apache Pulsar counts them (checked against it by pulsar-java's BatchIdsJavaClientTest):
// unacknowledged messages count each message of a batch, less those acknowledged by index; the
// backlog counts entries.
TEST_F(SubscriptionTest, UnackedCountsTheMessagesOfABatchLessThoseAcknowledgedByIndex) {
  auto sub = make("s", SubscriptionType::shared);
  auto batch = std::make_shared<service::Message>(*msg("four"));
  batch->batch = service::BatchInfo{.count = 4};
  ledger.append(std::move(batch), {});
  append("single");
  ASSERT_TRUE(sub->attach(r1).ok());
  r1.flow(10);
  sub->dispatch();
  ASSERT_EQ(s1.payloads(), strs({"four", "single"}));
  EXPECT_EQ(sub->unacked_count(), 5u);
  EXPECT_EQ(sub->backlog(), 2u);
  const MessageId first = ledger.first();
  sub->ack(MessageId{first.ledger, first.entry, 1});
  sub->ack(MessageId{first.ledger, first.entry, 3});
  EXPECT_EQ(sub->unacked_count(), 3u);
  EXPECT_EQ(sub->backlog(), 2u) << "a partly acknowledged batch is still one entry of backlog";
  sub->ack(MessageId{first.ledger, first.entry + 1, -1});
  EXPECT_EQ(sub->unacked_count(), 2u);
  sub->ack(MessageId{first.ledger, first.entry, 0});
  sub->ack(MessageId{first.ledger, first.entry, 2});
  EXPECT_EQ(sub->unacked_count(), 0u);
  EXPECT_EQ(sub->backlog(), 0u);
}

TEST_F(SubscriptionTest, OfflineSubscriptionKeepsBacklogUntilAReceiverHasPermits) {
  auto sub = make("s", SubscriptionType::shared);
  append("a");
  append("b");
  sub->dispatch();
  EXPECT_EQ(sub->backlog(), 2u);
  ASSERT_TRUE(sub->attach(r1).ok());
  sub->dispatch();
  EXPECT_TRUE(s1.got.empty());
  EXPECT_EQ(r1.waiting_subscriptions(), 1u) << "waits for permits in the receiver's ready queue";
  r1.flow(5);
  EXPECT_EQ(s1.payloads(), strs({"a", "b"}));
  EXPECT_EQ(r1.permits(), 3u);
  EXPECT_EQ(sub->unacked_count(), 2u);
  EXPECT_EQ(sub->backlog(), 2u) << "delivered is not acknowledged";
}

TEST_F(SubscriptionTest, StartsAtLatestOrEarliest) {
  append("old");
  auto latest = make("l", SubscriptionType::shared);
  auto earliest = make("e", SubscriptionType::shared, service::InitialPosition::earliest);
  ASSERT_TRUE(latest->attach(r1).ok());
  ASSERT_TRUE(earliest->attach(r2).ok());
  r1.flow(10);
  r2.flow(10);
  latest->dispatch();
  earliest->dispatch();
  EXPECT_TRUE(s1.got.empty());
  EXPECT_EQ(s2.payloads(), strs({"old"}));
}

TEST_F(SubscriptionTest, ExclusiveRefusesASecondReceiver) {
  auto sub = make("s", SubscriptionType::exclusive);
  EXPECT_TRUE(sub->attach(r1).ok());
  EXPECT_TRUE(sub->attach(r1).ok());
  EXPECT_EQ(sub->attach(r2), service::ServiceError::consumer_busy);
  EXPECT_EQ(sub->receiver_count(), 1u);
  EXPECT_TRUE(sub->detach(r1));
  EXPECT_TRUE(sub->attach(r2).ok());
}

TEST_F(SubscriptionTest, SharedRoundRobinsOverReceiversWithPermits) {
  auto sub = make("s", SubscriptionType::shared);
  ASSERT_TRUE(sub->attach(r1).ok());
  ASSERT_TRUE(sub->attach(r2).ok());
  r1.flow(2);
  r2.flow(10);
  for (auto p : {"0", "1", "2", "3", "4", "5"}) append(p);
  sub->dispatch();
  EXPECT_EQ(s1.payloads(), strs({"0", "2"}));
  EXPECT_EQ(s2.payloads(), strs({"1", "3", "4", "5"}));
}

TEST_F(SubscriptionTest, FailoverUsesFirstAttachedAndRedeliversOnDetach) {
  auto sub = make("s", SubscriptionType::failover);
  ASSERT_TRUE(sub->attach(r1).ok());
  ASSERT_TRUE(sub->attach(r2).ok());
  EXPECT_EQ(sub->active_receiver(), &r1);
  r1.flow(10);
  r2.flow(10);
  append("a");
  append("b");
  sub->dispatch();
  EXPECT_EQ(s1.payloads(), strs({"a", "b"}));
  EXPECT_TRUE(s2.got.empty());
  sub->ack(s1.got[1].id);
  EXPECT_TRUE(sub->detach(r1));
  EXPECT_EQ(sub->active_receiver(), &r2);
  append("c");
  sub->dispatch();
  ASSERT_EQ(s2.payloads(), strs({"a", "c"}));
  EXPECT_EQ(s2.got[0].redelivery_count, 1u);
  EXPECT_EQ(s2.got[1].redelivery_count, 0u);
}

TEST_F(SubscriptionTest, RedeliveriesGoFirstInIdOrder) {
  auto sub = make("s", SubscriptionType::shared);
  ASSERT_TRUE(sub->attach(r1).ok());
  ASSERT_TRUE(sub->attach(r2).ok());
  r1.flow(10);
  r2.flow(10);
  for (auto p : {"0", "1", "2", "3"}) append(p);
  sub->dispatch();  // r1: 0, 2; r2: 1, 3
  r2.pause();
  EXPECT_TRUE(sub->detach(r1));
  append("4");
  sub->dispatch();
  EXPECT_TRUE(s2.payloads() == strs({"1", "3"}));
  r2.flow(10);
  EXPECT_EQ(s2.payloads(), strs({"1", "3", "0", "2", "4"}));
}

TEST_F(SubscriptionTest, KeySharedSendsAKeyToOneReceiverAndWaitsForIt) {
  auto sub = make("s", SubscriptionType::key_shared);
  ASSERT_TRUE(sub->attach(r1).ok());
  ASSERT_TRUE(sub->attach(r2).ok());
  r1.flow(100);
  r2.flow(100);
  for (int i = 0; i < 30; ++i) append(std::to_string(i), "k" + std::to_string(i % 5));
  sub->dispatch();
  EXPECT_EQ(s1.got.size() + s2.got.size(), 30u);
  std::map<std::string, int> owner;
  for (const auto* sink : {&s1, &s2}) {
    for (const auto& d : sink->got) {
      const auto key = "k" + std::to_string(std::stoi(d.payload) % 5);
      const int who = sink == &s1 ? 1 : 2;
      auto [it, fresh] = owner.emplace(key, who);
      EXPECT_EQ(it->second, who) << key;
    }
  }
}

// A receiver that acknowledges on dispatch (MQTT QoS 0 to a clean session) beside one that does
// not, on one shared subscription: its messages are acknowledged as they go out, never held
// unacknowledged, never redelivered; the other receiver's are, as before.
TEST_F(SubscriptionTest, AReceiverThatAcksOnDispatchHoldsNothingUnacknowledged) {
  auto sub = make("s", SubscriptionType::shared);
  ASSERT_TRUE(sub->attach(r1, /*acks_on_dispatch=*/true).ok());
  ASSERT_TRUE(sub->attach(r2).ok());
  for (int i = 0; i < 6; ++i) append("m" + std::to_string(i));
  r1.flow(3);
  sub->dispatch();  // r1 only: r2 has no permits yet
  ASSERT_EQ(s1.payloads(), strs({"m0", "m1", "m2"}));
  EXPECT_EQ(sub->unacked_count(), 0u);
  EXPECT_EQ(sub->cursor().ack_floor(), (MessageId{3, 3, -1})) << "the floor moved with the dispatch";
  EXPECT_EQ(sub->backlog(), 3u);
  r2.flow(2);
  sub->dispatch();
  ASSERT_EQ(s2.payloads(), strs({"m3", "m4"}));
  EXPECT_EQ(sub->unacked_count(), 2u) << "r2 acknowledges as usual";
  EXPECT_EQ(sub->cursor().ack_floor(), (MessageId{3, 3, -1}));
  // r1 leaves: nothing of its goes back. r2 leaves: its two do, to r1, acknowledged as they go.
  ASSERT_TRUE(sub->detach(r1));
  EXPECT_EQ(sub->unacked_count(), 2u) << "r1 held nothing to hand back";
  ASSERT_TRUE(sub->attach(r1, true).ok());
  ASSERT_TRUE(sub->detach(r2));
  r1.flow(10);
  sub->dispatch();
  ASSERT_EQ(s1.payloads(), strs({"m0", "m1", "m2", "m3", "m4", "m5"}));
  EXPECT_EQ(s1.got[3].redelivery_count, 1u);
  EXPECT_EQ(s1.got[5].redelivery_count, 0u);
  EXPECT_EQ(sub->unacked_count(), 0u);
  EXPECT_EQ(sub->backlog(), 0u);
  EXPECT_EQ(sub->cursor().ack_floor(), (MessageId{3, 6, -1}));
  EXPECT_EQ(sub->msg_out_counter(), 8u) << "redeliveries count as deliveries";
}

TEST_F(SubscriptionTest, StopAckOnDispatchHoldsLaterMessagesUntilAcknowledged) {
  auto sub = make("s", SubscriptionType::exclusive);
  ASSERT_TRUE(sub->attach(r1, true).ok());
  append("a");
  append("b");
  r1.flow(1);
  sub->dispatch();
  EXPECT_EQ(sub->unacked_count(), 0u);
  EXPECT_FALSE(sub->stop_ack_on_dispatch(r2)) << "not attached";
  EXPECT_TRUE(sub->stop_ack_on_dispatch(r1));
  r1.flow(1);
  sub->dispatch();
  ASSERT_EQ(s1.payloads(), strs({"a", "b"}));
  EXPECT_EQ(sub->unacked_count(), 1u);
  EXPECT_FALSE(sub->ack(s1.got[0].id)) << "acknowledged on dispatch already: a no-op";
  EXPECT_TRUE(sub->ack(s1.got[1].id));
  EXPECT_EQ(sub->backlog(), 0u);
}

TEST_F(SubscriptionTest, AckBeforeDispatchSkipsTheEntry) {
  auto sub = make("s", SubscriptionType::shared);
  append("a");
  append("b");
  append("c");
  EXPECT_FALSE(sub->ack({3, 1, -1}));
  EXPECT_EQ(sub->backlog(), 2u);
  ASSERT_TRUE(sub->attach(r1).ok());
  r1.flow(10);
  sub->dispatch();
  EXPECT_EQ(s1.payloads(), strs({"a", "c"}));
}

TEST_F(SubscriptionTest, AckOfUnknownPositionsIsIgnored) {
  auto sub = make("s", SubscriptionType::shared);
  append("a");
  EXPECT_FALSE(sub->ack({99, 0, -1}));
  EXPECT_FALSE(sub->ack({3, 5, -1}));
  EXPECT_EQ(sub->backlog(), 1u);
}

// Permits are shared: a receiver on two backlogged subscriptions is served one message from
// each in turn, not all of one first.
TEST_F(SubscriptionTest, ReadyQueueServesSubscriptionsFairly) {
  auto a = make("a", SubscriptionType::shared);
  auto b = make("b", SubscriptionType::shared);
  for (auto p : {"0", "1", "2"}) append(p);
  ASSERT_TRUE(a->attach(r1).ok());
  ASSERT_TRUE(b->attach(r1).ok());
  a->dispatch();
  b->dispatch();
  a = make("a2", SubscriptionType::shared, service::InitialPosition::earliest);  // replaces a: unlinks cleanly
  b = make("b2", SubscriptionType::shared, service::InitialPosition::earliest);
  ASSERT_TRUE(a->attach(r1).ok());
  ASSERT_TRUE(b->attach(r1).ok());
  a->dispatch();
  b->dispatch();
  EXPECT_EQ(r1.waiting_subscriptions(), 2u);
  r1.flow(4);
  ASSERT_EQ(s1.got.size(), 4u);
  std::vector<std::string> order;
  for (const auto& d : s1.got) order.push_back(d.subscription + ":" + d.payload);
  EXPECT_EQ(order, strs({"a2:0", "b2:0", "a2:1", "b2:1"}));
  r1.flow(10);
  EXPECT_EQ(s1.got.size(), 6u);
  EXPECT_EQ(r1.waiting_subscriptions(), 0u);
}

TEST_F(SubscriptionTest, DestroyingASubscriptionDetachesItsReceivers) {
  auto sub = make("s", SubscriptionType::shared, service::InitialPosition::earliest);
  append("a");
  ASSERT_TRUE(sub->attach(r1).ok());
  sub->dispatch();
  EXPECT_EQ(r1.attachments().size(), 1u);
  EXPECT_EQ(r1.waiting_subscriptions(), 1u);
  sub.reset();
  EXPECT_TRUE(r1.attachments().empty());
  EXPECT_EQ(r1.waiting_subscriptions(), 0u);
  r1.flow(1);  // must not touch the destroyed subscription
  EXPECT_TRUE(s1.got.empty());
}

}  // namespace
}  // namespace mop::broker
