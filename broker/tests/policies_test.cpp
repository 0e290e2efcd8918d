// Retention, TTL and backlog quota on a Topic, with an injected clock.
#include <gtest/gtest.h>

#include "broker/in_memory_ledger.hpp"
#include "broker/tests/recording_sink.hpp"
#include "broker/topic.hpp"

namespace mop::broker {
namespace {

using namespace std::chrono_literals;
using testing::RecordingSink;
using testing::strs;

class PoliciesTest : public ::testing::Test {
protected:
  explicit PoliciesTest() = default;

  void make(const TopicPolicies& p) {
    topic = std::make_unique<Topic>(service::TopicName(service::TopicDomain::persistent, "public", "default", "t"),
                                    std::make_unique<InMemoryLedger>(1), [](Topic&) {});
    topic->set_policies(p, &clock);
  }
  // A message of `bytes` bytes, stamped now.
  MessagePtr message(const std::string& name, std::size_t bytes = 10) {
    auto m = std::make_shared<service::Message>();
    std::string payload = name;
    payload.resize(std::max(bytes, name.size()), '.');
    m->payload = Payload::copy_of(payload);
    m->publish_time_ms = clock.wall_ms();
    return m;
  }
  std::error_code publish(const std::string& name, std::size_t bytes = 10) {
    std::error_code result;
    topic->publish(message(name, bytes), [&](std::error_code ec, MessageId) { result = ec; });
    return result;
  }
  SubscriptionOptions shared() { return {}; }

  ManualClock clock;
  RecordingSink sink, other;
  Receiver receiver{1, sink}, second{2, other};
  std::unique_ptr<Topic> topic;  // last: its subscriptions detach from the receivers when it goes
};

TEST_F(PoliciesTest, NoRetentionTrimsWhatEverySubscriptionPassed) {
  make({});
  ASSERT_TRUE(topic->subscribe("s", shared(), receiver).ok());
  receiver.flow(10);
  for (int i = 0; i < 3; ++i) ASSERT_FALSE(publish("m" + std::to_string(i)));
  topic->ack_cumulative("s", sink.got[1].id);
  EXPECT_EQ(topic->ledger().entry_count(), 1u);
}

TEST_F(PoliciesTest, RetentionTimeKeepsAcknowledgedEntriesUntilTheyAreOld) {
  TopicPolicies p;
  p.retention_time_ms = 60'000;
  p.retention_size_bytes = -1;
  make(p);
  ASSERT_TRUE(topic->subscribe("s", shared(), receiver).ok());
  receiver.flow(10);
  ASSERT_FALSE(publish("old"));
  clock.advance(30s);
  ASSERT_FALSE(publish("new"));
  topic->ack_cumulative("s", sink.got[1].id);  // both acknowledged
  EXPECT_EQ(topic->ledger().entry_count(), 2u);
  clock.advance(31s);  // "old" is 61 s old, "new" 31 s
  topic->expire();
  EXPECT_EQ(topic->ledger().entry_count(), 1u);
  EXPECT_EQ(topic->ledger().first().entry, 1u);
  clock.advance(30s);
  topic->expire();
  EXPECT_EQ(topic->ledger().entry_count(), 0u);
}

TEST_F(PoliciesTest, RetentionSizeKeepsTheNewestAcknowledgedBytes) {
  TopicPolicies p;
  p.retention_time_ms = -1;
  p.retention_size_bytes = 25;
  make(p);
  ASSERT_TRUE(topic->subscribe("s", shared(), receiver).ok());
  receiver.flow(10);
  for (int i = 0; i < 5; ++i) ASSERT_FALSE(publish("m" + std::to_string(i), 10));
  EXPECT_EQ(topic->stored_bytes(), 50u);
  EXPECT_EQ(topic->backlog_bytes(), 50u);
  topic->ack_cumulative("s", sink.got[3].id);  // 40 bytes acknowledged: keeps the newest 20
  EXPECT_EQ(topic->ledger().entry_count(), 3u);
  EXPECT_EQ(topic->ledger().first().entry, 2u);
  EXPECT_EQ(topic->stored_bytes(), 30u);
  EXPECT_EQ(topic->backlog_bytes(), 10u);
  // Unacknowledged entries are never trimmed by retention, however large.
  ASSERT_FALSE(publish("big", 100));
  EXPECT_EQ(topic->ledger().entry_count(), 4u);
}

TEST_F(PoliciesTest, TtlAcknowledgesOldMessagesForEverySubscription) {
  TopicPolicies p;
  p.ttl_ms = 10'000;
  make(p);
  ASSERT_TRUE(topic->subscribe("a", shared(), receiver).ok());
  ASSERT_TRUE(topic->subscribe("b", shared(), second).ok());
  ASSERT_FALSE(publish("m0"));
  ASSERT_FALSE(publish("m1"));
  clock.advance(6s);
  ASSERT_FALSE(publish("m2"));
  clock.advance(5s);  // m0, m1: 11 s old; m2: 5 s
  topic->expire();
  EXPECT_EQ(topic->ledger().entry_count(), 1u);
  EXPECT_EQ(topic->subscription("a")->cursor().ack_floor().entry, 2u);
  EXPECT_EQ(topic->subscription("b")->cursor().ack_floor().entry, 2u);
  receiver.flow(10);
  topic->subscription("a")->dispatch();
  EXPECT_EQ(sink.payloads(), strs({"m2........"}));
}

TEST_F(PoliciesTest, BacklogQuotaProducerException) {
  TopicPolicies p;
  p.backlog_quota_bytes = 30;
  p.backlog_policy = TopicPolicies::BacklogPolicy::producer_exception;
  make(p);
  // Without a subscription there is no backlog: publishing is never refused.
  for (int i = 0; i < 5; ++i) ASSERT_FALSE(publish("x"));
  topic->trim();
  ASSERT_TRUE(topic->subscribe("s", shared(), receiver).ok());
  receiver.flow(10);
  for (int i = 0; i < 3; ++i) ASSERT_FALSE(publish("m" + std::to_string(i)));
  EXPECT_EQ(topic->backlog_bytes(), 30u);
  EXPECT_EQ(publish("refused"), make_error_code(service::ServiceError::backlog_quota_exceeded));
  EXPECT_EQ(topic->ledger().entry_count(), 3u);
  topic->ack("s", sink.got[0].id);  // the subscriber catches up: publishing works again
  EXPECT_FALSE(publish("m3"));
  EXPECT_EQ(topic->backlog_bytes(), 30u);
}

TEST_F(PoliciesTest, BacklogQuotaConsumerEvictionMovesTheSlowestSubscription) {
  TopicPolicies p;
  p.backlog_quota_bytes = 30;
  p.backlog_policy = TopicPolicies::BacklogPolicy::consumer_backlog_eviction;
  make(p);
  ASSERT_TRUE(topic->subscribe("slow", shared(), receiver).ok());  // never acknowledges
  ASSERT_TRUE(topic->subscribe("fast", shared(), second).ok());
  second.flow(100);
  for (int i = 0; i < 6; ++i) {
    ASSERT_FALSE(publish("m" + std::to_string(i)));
    topic->ack("fast", other.got.back().id);
  }
  EXPECT_EQ(topic->backlog_bytes(), 30u);
  EXPECT_EQ(topic->subscription("slow")->cursor().ack_floor().entry, 3u);  // m0..m2 evicted
  EXPECT_EQ(topic->ledger().entry_count(), 3u);
  receiver.flow(10);
  topic->subscription("slow")->dispatch();
  EXPECT_EQ(sink.payloads(), strs({"m3........", "m4........", "m5........"}));
}

TEST_F(PoliciesTest, ChangedPoliciesApplyToATopicInUse) {
  TopicPolicies keep_all;
  keep_all.retention_time_ms = -1;
  keep_all.retention_size_bytes = -1;
  make(keep_all);
  ASSERT_TRUE(topic->subscribe("s", shared(), receiver).ok());
  receiver.flow(10);
  for (int i = 0; i < 3; ++i) ASSERT_FALSE(publish("m" + std::to_string(i)));
  topic->ack_cumulative("s", sink.got[2].id);
  EXPECT_EQ(topic->ledger().entry_count(), 3u);  // acknowledged, retained
  topic->change_policies({});                     // a namespace's retention removed
  EXPECT_EQ(topic->ledger().entry_count(), 0u);
  TopicPolicies quota;
  quota.backlog_quota_bytes = 10;
  topic->change_policies(quota);
  ASSERT_FALSE(publish("a"));
  EXPECT_EQ(publish("refused"), make_error_code(service::ServiceError::backlog_quota_exceeded));
}

TEST_F(PoliciesTest, SubscriptionCreatedAtAPositionWithoutReceiver) {
  make({});
  ASSERT_TRUE(topic->subscribe("keeper", shared(), receiver).ok());  // keeps the entries stored
  for (int i = 0; i < 5; ++i) ASSERT_FALSE(publish("m" + std::to_string(i)));
  const MessageId first = topic->ledger().first();
  auto [sub, created] = topic->create_subscription("admin", shared(), MessageId{first.ledger, first.entry + 2, -1});
  ASSERT_TRUE(created);
  EXPECT_EQ(sub->backlog(), 3u);
  EXPECT_EQ(sub->receiver_count(), 0u);
  EXPECT_FALSE(topic->create_subscription("admin", shared(), first).second);  // exists: unchanged
  EXPECT_EQ(topic->subscription("admin")->backlog(), 3u);
  // A position before the first stored entry starts at it; one past the end, at the end.
  EXPECT_EQ(topic->create_subscription("early", shared(), MessageId{first.ledger, 0, -1}).first->backlog(), 5u);
  EXPECT_EQ(topic->create_subscription("late", shared(), MessageId{first.ledger, 1000, -1}).first->backlog(), 0u);
}

}  // namespace
}  // namespace mop::broker
