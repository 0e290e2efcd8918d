// The MessagingService contract. Every test states a promise of messaging_service.hpp (or of
// Pulsar's model it stands for) and fails if an implementation breaks it.
#include "service/tests/service_contract.hpp"

#include <algorithm>
#include <map>
#include <optional>
#include <vector>

namespace mop::service::testing {
namespace {

struct Delivery {
  TopicName topic;
  std::string subscription;
  MessageId id;
  std::string payload;
  std::uint32_t redelivery_count;
};

class Recorder final : public ReceiverListener {
public:
  void on_message(const TopicName& topic, const std::string& subscription, MessageId id, const MessagePtr& message,
                  std::uint32_t redelivery_count) override {
    got.push_back({topic, subscription, id, std::string(message->payload.view()), redelivery_count});
  }
  void on_subscription_removed(const TopicName& topic, const std::string& subscription) override {
    removed.emplace_back(topic, subscription);
  }
  std::vector<std::pair<TopicName, std::string>> removed;
  std::vector<std::string> payloads() const {
    std::vector<std::string> out;
    for (const auto& d : got) out.push_back(d.payload);
    return out;
  }
  std::vector<Delivery> got;
};

class TopicRecorder final : public TopicListener {
public:
  void on_topic_created(const TopicName& topic) override { created.push_back(topic); }
  std::vector<TopicName> created;
};

MessagePtr make_message(std::string_view payload, std::string producer = "producer",
                        std::optional<std::string> key = std::nullopt) {
  auto m = std::make_shared<Message>();
  m->payload = Payload::copy_of(payload);
  m->producer_name = std::move(producer);
  m->ordering_key = std::move(key);
  m->publish_time_ms = 1'700'000'000'123ULL;
  return m;
}

SubscriptionOptions opts(SubscriptionType type = SubscriptionType::shared,
                         InitialPosition pos = InitialPosition::latest, bool durable = true) {
  SubscriptionOptions o;
  o.type = type;
  o.initial_position = pos;
  o.durable = durable;
  return o;
}

std::vector<std::string> strings(std::initializer_list<const char*> l) { return {l.begin(), l.end()}; }


}  // namespace

MessageId ServiceContract::publish(const TopicName& t, std::string_view payload) {
  std::optional<MessageId> id;
  svc().publish(t, make_message(payload), [&](std::error_code ec, MessageId got) {
    EXPECT_FALSE(ec) << ec.message();
    id = got;
  });
  settle();
  EXPECT_TRUE(id.has_value());
  return id.value_or(MessageId{});
}

void ServiceContract::expect_stored(const TopicName& t, std::size_t expected, const char* why) {
  // Only where the implementation can count its log (not the cluster one).
  if (const auto n = harness_->stored_entries(t)) {
    EXPECT_EQ(*n, expected) << t.str() << " " << why;
  }
}

void ServiceContract::publish_n(const TopicName& t, int n, const std::string& prefix) {
  for (int i = 0; i < n; ++i) svc().publish(t, make_message(prefix + std::to_string(i)), {});
  settle();
}

namespace {

TEST_P(ServiceContract, PublishCallbacksRunInOrderWithIncreasingIds) {
  const auto t = topic("order");
  std::vector<MessageId> ids;
  for (int i = 0; i < 20; ++i) {
    svc().publish(t, make_message("x"), [&](std::error_code ec, MessageId id) {
      EXPECT_FALSE(ec);
      ids.push_back(id);
    });
  }
  settle();
  ASSERT_EQ(ids.size(), 20u);
  for (std::size_t i = 1; i < ids.size(); ++i) EXPECT_LT(ids[i - 1], ids[i]);
}

TEST_P(ServiceContract, DeliversInPublishOrderWithIds) {
  const auto t = topic("deliver-order");
  Recorder r;
  const auto rid = svc().open_receiver(r);
  ASSERT_TRUE(svc().subscribe(t, "s", opts(), rid).ok());
  svc().flow(rid, 100);
  std::vector<MessageId> ids;
  for (int i = 0; i < 10; ++i) ids.push_back(publish(t, "m" + std::to_string(i)));
  settle();
  ASSERT_EQ(r.got.size(), 10u);
  for (std::size_t i = 0; i < 10; ++i) {
    EXPECT_EQ(r.got[i].payload, "m" + std::to_string(i));
    EXPECT_EQ(r.got[i].id, ids[i]);
    EXPECT_EQ(r.got[i].topic, t);
    EXPECT_EQ(r.got[i].subscription, "s");
    EXPECT_EQ(r.got[i].redelivery_count, 0u);
  }
}

TEST_P(ServiceContract, CallbacksAndListenersNeverRunInline) {
  const auto t = topic("inline");
  Recorder r;
  TopicRecorder w;
  svc().watch_topics(kDefault, w);
  const auto rid = svc().open_receiver(r);
  bool published = false, retained = false;
  ASSERT_TRUE(svc().subscribe(t, "s", opts(), rid).ok());
  svc().publish(t, make_message("a"), [&](std::error_code, MessageId) { published = true; });
  svc().set_retained(t, make_message("r"), [&](std::error_code) { retained = true; });
  svc().flow(rid, 10);  // dispatches the pending message: still not inline
  EXPECT_FALSE(published);
  EXPECT_FALSE(retained);
  EXPECT_TRUE(r.got.empty());
  EXPECT_TRUE(w.created.empty());
  if (auto pending = harness_->pending_tasks()) {
    EXPECT_GT(*pending, 0u);
  }
  settle();
  EXPECT_TRUE(published);
  EXPECT_TRUE(retained);
  EXPECT_EQ(r.got.size(), 1u);
  EXPECT_EQ(w.created.size(), 1u);
}

TEST_P(ServiceContract, SubscribeReadyRunsLaterAndWhatIsPublishedAfterItIsDelivered) {
  const auto t = topic("ready");
  Recorder r;
  const auto rid = svc().open_receiver(r);
  std::optional<std::error_code> ready;
  ASSERT_TRUE(svc().subscribe(t, "s", opts(), rid, [&](std::error_code ec) { ready = ec; }).ok());
  EXPECT_FALSE(ready.has_value());  // never inline
  settle();
  ASSERT_TRUE(ready.has_value());
  EXPECT_FALSE(*ready);
  svc().flow(rid, 10);
  publish_n(t, 1);
  EXPECT_EQ(r.payloads(), strings({"m0"}));
  // A refused attach returns its error, and its ready never runs.
  Recorder other;
  const auto oid = svc().open_receiver(other);
  ASSERT_TRUE(svc().subscribe(t, "x", opts(SubscriptionType::exclusive), rid).ok());
  bool refused_ready = false;
  EXPECT_FALSE(svc().subscribe(t, "x", opts(SubscriptionType::exclusive), oid,
                               [&](std::error_code) { refused_ready = true; }).ok());
  settle();
  EXPECT_FALSE(refused_ready);
}

TEST_P(ServiceContract, PermitsLimitDeliveryAndFlowResumesInOrder) {
  const auto t = topic("permits");
  Recorder r;
  const auto rid = svc().open_receiver(r);
  ASSERT_TRUE(svc().subscribe(t, "s", opts(), rid).ok());
  svc().flow(rid, 2);
  publish_n(t, 5);
  EXPECT_EQ(r.payloads(), strings({"m0", "m1"}));
  svc().flow(rid, 1);
  settle();
  EXPECT_EQ(r.payloads(), strings({"m0", "m1", "m2"}));
  svc().flow(rid, 10);
  settle();
  EXPECT_EQ(r.payloads(), strings({"m0", "m1", "m2", "m3", "m4"}));
}

TEST_P(ServiceContract, PermitsAreSharedAcrossSubscriptions) {
  const auto a = topic("shared-permits-a");
  const auto b = topic("shared-permits-b");
  Recorder r;
  const auto rid = svc().open_receiver(r);
  ASSERT_TRUE(svc().subscribe(a, "s", opts(), rid).ok());
  ASSERT_TRUE(svc().subscribe(b, "s", opts(), rid).ok());
  publish_n(a, 3, "a");
  publish_n(b, 3, "b");
  EXPECT_TRUE(r.got.empty());
  svc().flow(rid, 4);
  settle();
  EXPECT_EQ(r.got.size(), 4u);
  svc().flow(rid, 4);
  settle();
  EXPECT_EQ(r.got.size(), 6u);
  // Per topic, still in order.
  std::vector<std::string> from_a, from_b;
  for (const auto& d : r.got) (d.topic == a ? from_a : from_b).push_back(d.payload);
  EXPECT_EQ(from_a, strings({"a0", "a1", "a2"}));
  EXPECT_EQ(from_b, strings({"b0", "b1", "b2"}));
}

TEST_P(ServiceContract, PauseDropsPermits) {
  const auto t = topic("pause");
  Recorder r;
  const auto rid = svc().open_receiver(r);
  ASSERT_TRUE(svc().subscribe(t, "s", opts(), rid).ok());
  svc().flow(rid, 10);
  svc().pause(rid);
  publish_n(t, 3);
  EXPECT_TRUE(r.got.empty());
  svc().flow(rid, 1);
  settle();
  EXPECT_EQ(r.payloads(), strings({"m0"}));
}

TEST_P(ServiceContract, SharedRoundRobinsAmongReceivers) {
  const auto t = topic("round-robin");
  Recorder r1, r2;
  const auto id1 = svc().open_receiver(r1);
  const auto id2 = svc().open_receiver(r2);
  ASSERT_TRUE(svc().subscribe(t, "s", opts(SubscriptionType::shared), id1).ok());
  ASSERT_TRUE(svc().subscribe(t, "s", opts(SubscriptionType::shared), id2).ok());
  svc().flow(id1, 10);
  svc().flow(id2, 10);
  publish_n(t, 6);
  // Every message to one receiver, once.
  std::vector<std::string> all = r1.payloads();
  for (const auto& p : r2.payloads()) all.push_back(p);
  std::sort(all.begin(), all.end());
  EXPECT_EQ(all, strings({"m0", "m1", "m2", "m3", "m4", "m5"}));
  if (!in_process()) return;  // a Pulsar broker hands out runs of messages, not one each
  EXPECT_EQ(r1.got.size(), 3u);
  EXPECT_EQ(r2.got.size(), 3u);
}

TEST_P(ServiceContract, SharedSkipsReceiversWithoutPermits) {
  const auto t = topic("rr-permits");
  Recorder r1, r2;
  const auto id1 = svc().open_receiver(r1);
  const auto id2 = svc().open_receiver(r2);
  ASSERT_TRUE(svc().subscribe(t, "s", opts(SubscriptionType::shared), id1).ok());
  ASSERT_TRUE(svc().subscribe(t, "s", opts(SubscriptionType::shared), id2).ok());
  svc().flow(id1, 1);
  svc().flow(id2, 10);
  publish_n(t, 5);
  if (in_process()) {
    EXPECT_EQ(r1.got.size(), 1u);
    EXPECT_EQ(r2.got.size(), 4u);
    return;
  }
  EXPECT_LE(r1.got.size(), 1u);
  // A Pulsar broker may have given r1 more than its permits (its consumer's own queue): they
  // wait for r1's next permits. Nothing is lost or delivered twice.
  svc().flow(id1, 10);
  settle();
  std::vector<std::string> all = r1.payloads();
  for (const auto& p : r2.payloads()) all.push_back(p);
  std::sort(all.begin(), all.end());
  EXPECT_EQ(all, strings({"m0", "m1", "m2", "m3", "m4"}));
}

TEST_P(ServiceContract, ExclusiveRejectsSecondReceiver) {
  const auto t = topic("exclusive");
  Recorder r1, r2;
  const auto id1 = svc().open_receiver(r1);
  const auto id2 = svc().open_receiver(r2);
  ASSERT_TRUE(svc().subscribe(t, "s", opts(SubscriptionType::exclusive), id1).ok());
  EXPECT_TRUE(svc().subscribe(t, "s", opts(SubscriptionType::exclusive), id1).ok()) << "same receiver again is fine";
  EXPECT_EQ(svc().subscribe(t, "s", opts(SubscriptionType::exclusive), id2), ServiceError::consumer_busy);
  svc().close_receiver(id1);
  settle();
  EXPECT_TRUE(svc().subscribe(t, "s", opts(SubscriptionType::exclusive), id2).ok());
}

TEST_P(ServiceContract, FailoverDeliversToFirstAttachedAndFailsOver) {
  const auto t = topic("failover");
  Recorder ra, rb;
  const auto ida = svc().open_receiver(ra);
  const auto idb = svc().open_receiver(rb);
  ASSERT_TRUE(svc().subscribe(t, "s", opts(SubscriptionType::failover), ida).ok());
  ASSERT_TRUE(svc().subscribe(t, "s", opts(SubscriptionType::failover), idb).ok());
  svc().flow(ida, 10);
  svc().flow(idb, 10);
  publish_n(t, 3);
  // One receiver is active and gets everything: in process the first attached; a Pulsar broker
  // picks the active consumer of a non-partitioned topic by its own rule (a hash of the names).
  const bool a_active = in_process() || !ra.got.empty();
  Recorder& r1 = a_active ? ra : rb;
  Recorder& r2 = a_active ? rb : ra;
  ASSERT_EQ(r1.payloads(), strings({"m0", "m1", "m2"}));
  EXPECT_TRUE(r2.got.empty());
  svc().ack(t, "s", r1.got[0].id);
  // Apache Pulsar rewinds a closed Failover consumer's subscription to its mark-delete position,
  // which an ack sent just before the close may not have moved yet (at least once): over Pulsar
  // the ack is settled first (AcknowledgedMessagesAreNotRedelivered states the same for all).
  if (!in_process()) settle();
  svc().close_receiver(a_active ? ida : idb);
  settle();
  publish_n(t, 1, "n");
  ASSERT_EQ(r2.payloads(), strings({"m1", "m2", "n0"}));
  if (in_process()) {
    EXPECT_EQ(r2.got[0].redelivery_count, 1u);  // Apache Pulsar counts only asked-for ones
  }
  EXPECT_EQ(r2.got[2].redelivery_count, 0u);
}

TEST_P(ServiceContract, KeySharedKeepsAKeyOnOneReceiver) {
  const auto t = topic("key-shared");
  Recorder r1, r2;
  const auto id1 = svc().open_receiver(r1);
  const auto id2 = svc().open_receiver(r2);
  ASSERT_TRUE(svc().subscribe(t, "s", opts(SubscriptionType::key_shared), id1).ok());
  ASSERT_TRUE(svc().subscribe(t, "s", opts(SubscriptionType::key_shared), id2).ok());
  svc().flow(id1, 100);
  svc().flow(id2, 100);
  for (int i = 0; i < 40; ++i) {
    const std::string key = "k" + std::to_string(i % 8);
    svc().publish(t, make_message(key + ":" + std::to_string(i), "p", key), {});
  }
  settle();
  EXPECT_EQ(r1.got.size() + r2.got.size(), 40u);
  std::map<std::string, const Recorder*> owner;
  std::map<std::string, int> last;
  for (const Recorder* r : {&r1, &r2}) {
    for (const auto& d : r->got) {
      const auto key = d.payload.substr(0, d.payload.find(':'));
      const int seq = std::stoi(d.payload.substr(d.payload.find(':') + 1));
      auto [it, fresh] = owner.emplace(key, r);
      EXPECT_EQ(it->second, r) << "key " << key << " went to two receivers";
      if (!fresh) {
        EXPECT_GT(seq, last[key]) << "key " << key << " out of order";
      }
      last[key] = seq;
    }
  }
}

TEST_P(ServiceContract, NewSubscriptionStartsAtLatestUnlessEarliest) {
  const auto t = topic("initial-position");
  Recorder keeper, late, early;
  const auto kid = svc().open_receiver(keeper);
  ASSERT_TRUE(svc().subscribe(t, "keeper", opts(), kid).ok());  // keeps the entries stored
  publish_n(t, 2);
  const auto lid = svc().open_receiver(late);
  const auto eid = svc().open_receiver(early);
  ASSERT_TRUE(svc().subscribe(t, "late", opts(), lid).ok());
  ASSERT_TRUE(svc().subscribe(t, "early", opts(SubscriptionType::shared, InitialPosition::earliest), eid).ok());
  svc().flow(lid, 10);
  svc().flow(eid, 10);
  settle();
  EXPECT_TRUE(late.got.empty());
  EXPECT_EQ(early.payloads(), strings({"m0", "m1"}));
  publish_n(t, 1, "n");
  EXPECT_EQ(late.payloads(), strings({"n0"}));
}

TEST_P(ServiceContract, OfflineSubscriptionKeepsBacklogAndDeliversItInOrder) {
  const auto t = topic("offline");
  Recorder first, again;
  const auto id1 = svc().open_receiver(first);
  ASSERT_TRUE(svc().subscribe(t, "session", opts(), id1).ok());
  svc().close_receiver(id1);
  settle();
  publish_n(t, 4);
  const auto id2 = svc().open_receiver(again);
  ASSERT_TRUE(svc().subscribe(t, "session", opts(), id2).ok());
  settle();
  EXPECT_TRUE(again.got.empty()) << "no permits yet";
  svc().flow(id2, 10);
  settle();
  EXPECT_EQ(again.payloads(), strings({"m0", "m1", "m2", "m3"}));
  for (const auto& d : again.got) EXPECT_EQ(d.redelivery_count, 0u);
}

TEST_P(ServiceContract, UnackedAreRedeliveredAfterCloseWithCountInIdOrder) {
  const auto t = topic("redeliver");
  Recorder first, again;
  const auto id1 = svc().open_receiver(first);
  ASSERT_TRUE(svc().subscribe(t, "s", opts(), id1).ok());
  svc().flow(id1, 10);
  publish_n(t, 3);
  ASSERT_EQ(first.got.size(), 3u);
  svc().ack(t, "s", first.got[1].id);
  svc().close_receiver(id1);
  settle();
  publish_n(t, 1, "n");
  const auto id2 = svc().open_receiver(again);
  ASSERT_TRUE(svc().subscribe(t, "s", opts(), id2).ok());
  svc().flow(id2, 10);
  settle();
  ASSERT_EQ(again.payloads(), strings({"m0", "m2", "n0"}));
  // Apache Pulsar counts only the redeliveries asked for (negative acks, REDELIVER), not those
  // of a closed consumer's messages; mop standalone as the cluster's broker counts them.
  if (in_process()) {
    EXPECT_EQ(again.got[0].redelivery_count, 1u);
    EXPECT_EQ(again.got[1].redelivery_count, 1u);
  }
  EXPECT_EQ(again.got[2].redelivery_count, 0u);
  EXPECT_EQ(again.got[0].id, first.got[0].id);
  // A second failure counts again.
  svc().close_receiver(id2);
  settle();
  Recorder third;
  const auto id3 = svc().open_receiver(third);
  ASSERT_TRUE(svc().subscribe(t, "s", opts(), id3).ok());
  svc().flow(id3, 10);
  settle();
  ASSERT_EQ(third.payloads(), strings({"m0", "m2", "n0"}));
  if (in_process()) {
    EXPECT_EQ(third.got[0].redelivery_count, 2u);
    EXPECT_EQ(third.got[2].redelivery_count, 1u);
  }
}

TEST_P(ServiceContract, DetachRedeliversToRemainingReceivers) {
  const auto t = topic("detach");
  Recorder r1, r2;
  const auto id1 = svc().open_receiver(r1);
  const auto id2 = svc().open_receiver(r2);
  ASSERT_TRUE(svc().subscribe(t, "s", opts(), id1).ok());
  svc().flow(id1, 10);
  publish_n(t, 2);
  ASSERT_TRUE(svc().subscribe(t, "s", opts(), id2).ok());
  svc().flow(id2, 10);
  svc().detach(t, "s", id1);
  settle();
  ASSERT_EQ(r2.payloads(), strings({"m0", "m1"}));
  if (in_process()) {
    EXPECT_EQ(r2.got[0].redelivery_count, 1u);  // counted as after a close
  }
}

TEST_P(ServiceContract, AcknowledgedMessagesAreNotRedelivered) {
  const auto t = topic("acked");
  Recorder first, again;
  const auto id1 = svc().open_receiver(first);
  ASSERT_TRUE(svc().subscribe(t, "s", opts(), id1).ok());
  svc().flow(id1, 10);
  publish_n(t, 3);
  for (const auto& d : first.got) svc().ack(t, "s", d.id);
  settle();
  svc().close_receiver(id1);
  settle();
  const auto id2 = svc().open_receiver(again);
  ASSERT_TRUE(svc().subscribe(t, "s", opts(), id2).ok());
  svc().flow(id2, 10);
  settle();
  EXPECT_TRUE(again.got.empty());
}

// A receiver subscribed with ack_on_dispatch (MQTT QoS 0 to a clean session): its messages count
// as acknowledged as they are dispatched, so none comes back after it closes, and an ack of one
// is harmless; after stop_ack_on_dispatch they wait for ack() again.
TEST_P(ServiceContract, AckOnDispatchLeavesNothingToRedeliver) {
  if (!svc().acks_on_dispatch()) GTEST_SKIP() << "this implementation acknowledges as the receiver does";
  const auto t = topic("ack-on-dispatch");
  Recorder first, again;
  const auto id1 = svc().open_receiver(first);
  auto o = opts();
  o.ack_on_dispatch = true;
  ASSERT_TRUE(svc().subscribe(t, "s", o, id1).ok());
  svc().flow(id1, 10);
  publish_n(t, 3);
  ASSERT_EQ(first.got.size(), 3u);
  svc().ack(t, "s", first.got[1].id);
  svc().stop_ack_on_dispatch(t, "s", id1);
  publish_n(t, 2, "n");
  ASSERT_EQ(first.got.size(), 5u);
  svc().ack(t, "s", first.got[4].id);
  svc().close_receiver(id1);
  settle();
  const auto id2 = svc().open_receiver(again);
  ASSERT_TRUE(svc().subscribe(t, "s", opts(), id2).ok());
  svc().flow(id2, 10);
  settle();
  EXPECT_EQ(again.payloads(), strings({"n0"})) << "only the one dispatched after the stop and not acknowledged";
}

TEST_P(ServiceContract, CumulativeAckAcknowledgesEverythingUpToTheId) {
  const auto t = topic("cumulative");
  Recorder first, again;
  const auto id1 = svc().open_receiver(first);
  ASSERT_TRUE(svc().subscribe(t, "s", opts(SubscriptionType::exclusive), id1).ok());
  svc().flow(id1, 10);
  publish_n(t, 4);
  ASSERT_EQ(first.got.size(), 4u);
  svc().ack_cumulative(t, "s", first.got[2].id);
  settle();
  expect_stored(t, 1, "m0..m2 acknowledged cumulatively");
  svc().close_receiver(id1);
  settle();
  const auto id2 = svc().open_receiver(again);
  ASSERT_TRUE(svc().subscribe(t, "s", opts(SubscriptionType::exclusive), id2).ok());
  svc().flow(id2, 10);
  settle();
  EXPECT_EQ(again.payloads(), strings({"m3"}));
}

TEST_P(ServiceContract, RedeliverUnackedSendsTheReceiversUnackedAgain) {
  const auto t = topic("redeliver-unacked");
  Recorder r;
  const auto id = svc().open_receiver(r);
  ASSERT_TRUE(svc().subscribe(t, "s", opts(SubscriptionType::exclusive), id).ok());
  svc().flow(id, 10);
  publish_n(t, 3);
  ASSERT_EQ(r.got.size(), 3u);
  svc().ack(t, "s", r.got[1].id);
  svc().redeliver_unacked(t, "s", id);
  settle();
  ASSERT_EQ(r.payloads(), strings({"m0", "m1", "m2", "m0", "m2"}));
  // Apache Pulsar keeps no redelivery counts on Exclusive and Failover subscriptions.
  if (in_process()) {
    EXPECT_EQ(r.got[3].redelivery_count, 1u);
  }
  EXPECT_EQ(r.got[3].id, r.got[0].id);
}

TEST_P(ServiceContract, RedeliverListedIdsOnlyThoseTheReceiverHolds) {
  if (!in_process()) {
    GTEST_SKIP() << "needs m3 dispatched to the second receiver by permits; a Pulsar broker gave it to the first "
                    "receiver's consumer queue already";
  }
  const auto t = topic("redeliver-ids");
  Recorder r1, r2;
  const auto id1 = svc().open_receiver(r1);
  const auto id2 = svc().open_receiver(r2);
  ASSERT_TRUE(svc().subscribe(t, "s", opts(SubscriptionType::shared), id1).ok());
  svc().flow(id1, 3);
  publish_n(t, 4);
  ASSERT_EQ(r1.payloads(), strings({"m0", "m1", "m2"}));
  ASSERT_TRUE(svc().subscribe(t, "s", opts(SubscriptionType::shared), id2).ok());
  svc().flow(id2, 1);
  settle();
  ASSERT_EQ(r2.payloads(), strings({"m3"}));
  // m1 (held, listed) comes back; m0 (held, not listed) does not; m2 (acknowledged) and m3
  // (held by the other receiver) are ignored although listed. A batch index does not matter.
  svc().ack(t, "s", r1.got[2].id);
  MessageId m1 = r1.got[1].id;
  m1.batch = 0;
  svc().redeliver(t, "s", id1, {m1, r1.got[2].id, r2.got[0].id});
  settle();
  ASSERT_EQ(r1.payloads(), strings({"m0", "m1", "m2"}));  // no permits left: waits
  svc().flow(id1, 5);
  settle();
  ASSERT_EQ(r1.payloads(), strings({"m0", "m1", "m2", "m1"}));
  EXPECT_EQ(r1.got[3].id, r1.got[1].id);
  EXPECT_EQ(r1.got[3].redelivery_count, 1u);
  EXPECT_EQ(r2.payloads(), strings({"m3"}));
  // Listed again after the redelivery: the count keeps rising.
  svc().redeliver(t, "s", id1, {r1.got[3].id});
  settle();
  ASSERT_EQ(r1.got.size(), 5u);
  EXPECT_EQ(r1.got[4].redelivery_count, 2u);
}

TEST_P(ServiceContract, UnsubscribeTellsTheReceiversStillAttached) {
  const auto t = topic("removed");
  Recorder r1, r2, other;
  const auto id1 = svc().open_receiver(r1);
  const auto id2 = svc().open_receiver(r2);
  const auto id3 = svc().open_receiver(other);
  ASSERT_TRUE(svc().subscribe(t, "s", opts(SubscriptionType::shared), id1).ok());
  ASSERT_TRUE(svc().subscribe(t, "s", opts(SubscriptionType::shared), id2).ok());
  ASSERT_TRUE(svc().subscribe(t, "keep", opts(SubscriptionType::shared), id3).ok());
  svc().close_receiver(id2);  // its own close: nothing to tell
  svc().unsubscribe(t, "s");
  EXPECT_TRUE(r1.removed.empty());  // never inline
  settle();
  ASSERT_EQ(r1.removed.size(), 1u);
  EXPECT_EQ(r1.removed[0].first, t);
  EXPECT_EQ(r1.removed[0].second, "s");
  EXPECT_TRUE(r2.removed.empty());
  EXPECT_TRUE(other.removed.empty());
  // r1 is no longer attached: a new message of the topic is not delivered to it.
  svc().flow(id1, 10);
  publish_n(t, 1);
  EXPECT_TRUE(r1.got.empty());
}

TEST_P(ServiceContract, SeekRewindsAndSkipsASubscription) {
  const auto t = topic("seek");
  Recorder r;
  const auto id = svc().open_receiver(r);
  ASSERT_TRUE(svc().subscribe(t, "s", opts(SubscriptionType::exclusive), id).ok());
  svc().flow(id, 100);
  publish_n(t, 4);
  ASSERT_EQ(r.got.size(), 4u);
  svc().seek(t, "s", r.got[1].id);  // nothing acknowledged yet: m1.. come again
  settle();
  ASSERT_EQ(r.payloads(), strings({"m0", "m1", "m2", "m3", "m1", "m2", "m3"}));
  svc().seek(t, "s", MessageId{r.got[0].id.ledger, r.got[3].id.entry + 1, -1});  // skip to the end
  svc().close_receiver(id);
  settle();
  Recorder again;
  const auto id2 = svc().open_receiver(again);
  ASSERT_TRUE(svc().subscribe(t, "s", opts(SubscriptionType::exclusive), id2).ok());
  svc().flow(id2, 100);
  publish_n(t, 1, "n");
  EXPECT_EQ(again.payloads(), strings({"n0"}));
  svc().seek_time(t, "s", 0);  // everything still stored
  settle();
  if (in_process()) {
    EXPECT_EQ(again.payloads(), strings({"n0", "n0"}));  // m0..m3 were trimmed once skipped
    return;
  }
  // A Pulsar broker keeps acknowledged messages until their ledger is trimmed (or for the
  // namespace's retention): what comes again is, in order, a suffix of everything ending in n0.
  const auto got = again.payloads();
  ASSERT_GE(got.size(), 2u);
  const std::vector<std::string> tail(got.begin() + 1, got.end());
  const auto everything = strings({"m0", "m1", "m2", "m3", "n0"});
  ASSERT_LE(tail.size(), everything.size());
  EXPECT_TRUE(std::equal(tail.begin(), tail.end(), everything.end() - static_cast<std::ptrdiff_t>(tail.size())))
      << ::testing::PrintToString(got);
}

TEST_P(ServiceContract, TopicExistsAndLastMessageId) {
  const auto t = topic("last-id");
  EXPECT_FALSE(svc().topic_exists(t));
  EXPECT_FALSE(svc().last_message_id(t).has_value());
  Recorder r;
  const auto id = svc().open_receiver(r);
  ASSERT_TRUE(svc().subscribe(t, "s", opts(), id).ok());
  EXPECT_TRUE(svc().topic_exists(t));
  EXPECT_FALSE(svc().last_message_id(t).has_value());
  publish(t, "a");
  const auto second = publish(t, "b");
  EXPECT_EQ(svc().last_message_id(t), second);
}

TEST_P(ServiceContract, HasSubscriptions) {
  if (!in_process()) GTEST_SKIP() << "only the broker knows a topic's subscriptions (cluster/README.md)";
  const auto t = topic("has-subs");
  EXPECT_FALSE(svc().has_subscriptions(t)) << "unknown topic";
  publish(t, "nobody");
  EXPECT_TRUE(svc().topic_exists(t));
  EXPECT_FALSE(svc().has_subscriptions(t)) << "a topic without subscriptions";
  Recorder r;
  const auto id = svc().open_receiver(r);
  ASSERT_TRUE(svc().subscribe(t, "durable", opts(), id).ok());
  EXPECT_TRUE(svc().has_subscriptions(t));
  svc().close_receiver(id);
  settle();
  EXPECT_TRUE(svc().has_subscriptions(t)) << "a durable subscription outlives its receiver";
  svc().unsubscribe(t, "durable");
  settle();
  EXPECT_FALSE(svc().has_subscriptions(t));
  SubscriptionOptions reader = opts();
  reader.durable = false;
  Recorder r2;
  const auto id2 = svc().open_receiver(r2);
  ASSERT_TRUE(svc().subscribe(t, "reader", reader, id2).ok());
  EXPECT_TRUE(svc().has_subscriptions(t));
  EXPECT_FALSE(svc().has_subscriptions(topic("has-subs-other"))) << "per topic";
  svc().close_receiver(id2);
  settle();
  EXPECT_FALSE(svc().has_subscriptions(t)) << "a non-durable subscription goes with its last receiver";
}

TEST_P(ServiceContract, UnsubscribeDropsTheBacklog) {
  const auto t = topic("unsubscribe");
  Recorder r;
  const auto rid = svc().open_receiver(r);
  ASSERT_TRUE(svc().subscribe(t, "s", opts(), rid).ok());
  svc().close_receiver(rid);
  publish_n(t, 3);
  expect_stored(t, 3u);
  svc().unsubscribe(t, "s");
  settle();
  expect_stored(t, 0u);
  Recorder again;
  const auto id2 = svc().open_receiver(again);
  ASSERT_TRUE(svc().subscribe(t, "s", opts(), id2).ok());
  svc().flow(id2, 10);
  settle();
  EXPECT_TRUE(again.got.empty()) << "the old backlog went with the subscription";
}

TEST_P(ServiceContract, LogIsTrimmedWhenEverySubscriptionHasAcknowledged) {
  const auto t = topic("trim");
  Recorder r1, r2;
  const auto id1 = svc().open_receiver(r1);
  const auto id2 = svc().open_receiver(r2);
  ASSERT_TRUE(svc().subscribe(t, "a", opts(), id1).ok());
  ASSERT_TRUE(svc().subscribe(t, "b", opts(), id2).ok());
  svc().flow(id1, 1000);
  svc().flow(id2, 1000);
  for (int round = 0; round < 5; ++round) {
    publish_n(t, 100);
    for (const auto& d : r1.got) svc().ack(t, "a", d.id);
    settle();
    expect_stored(t, 100u, "b has not acknowledged");
    for (const auto& d : r2.got) svc().ack(t, "b", d.id);
    settle();
    expect_stored(t, 0u);
    r1.got.clear();
    r2.got.clear();
  }
}

TEST_P(ServiceContract, AcksOutOfOrderTrimOnlyTheAcknowledgedPrefix) {
  const auto t = topic("trim-gap");
  Recorder r;
  const auto rid = svc().open_receiver(r);
  ASSERT_TRUE(svc().subscribe(t, "s", opts(), rid).ok());
  svc().flow(rid, 10);
  publish_n(t, 4);
  svc().ack(t, "s", r.got[1].id);
  svc().ack(t, "s", r.got[2].id);
  settle();
  expect_stored(t, 4u);
  svc().ack(t, "s", r.got[0].id);
  settle();
  expect_stored(t, 1u);
}

TEST_P(ServiceContract, TopicWithoutSubscriptionsKeepsNothing) {
  if (!in_process()) GTEST_SKIP() << "what a Pulsar broker keeps is its namespace's retention";
  const auto t = topic("nobody");
  publish_n(t, 10);
  expect_stored(t, 0u);
  Recorder r;
  const auto rid = svc().open_receiver(r);
  ASSERT_TRUE(svc().subscribe(t, "s", opts(SubscriptionType::shared, InitialPosition::earliest), rid).ok());
  svc().flow(rid, 100);
  settle();
  EXPECT_TRUE(r.got.empty());
}

TEST_P(ServiceContract, NonDurableSubscriptionVanishesWithItsLastReceiver) {
  const auto t = topic("reader");
  Recorder r1, r2;
  const auto id1 = svc().open_receiver(r1);
  ASSERT_TRUE(svc().subscribe(t, "reader", opts(SubscriptionType::exclusive, InitialPosition::latest, false), id1).ok());
  svc().close_receiver(id1);
  settle();
  publish_n(t, 3);
  expect_stored(t, 0u);
  const auto id2 = svc().open_receiver(r2);
  ASSERT_TRUE(svc().subscribe(t, "reader", opts(SubscriptionType::exclusive, InitialPosition::latest, false), id2).ok());
  svc().flow(id2, 10);
  settle();
  EXPECT_TRUE(r2.got.empty());
}

TEST_P(ServiceContract, WatchAnnouncesTopicsCreatedAfterIt) {
  const auto before = topic("w-before");
  publish_n(before, 1);
  TopicRecorder w;
  svc().watch_topics(kDefault, w);
  publish_n(before, 1);
  const auto fresh = topic("w-fresh");
  publish_n(fresh, 2);
  publish_n(topic("elsewhere", "other-ns"), 1);
  Recorder r;
  const auto rid = svc().open_receiver(r);
  const auto by_subscribe = topic("w-subscribed");
  ASSERT_TRUE(svc().subscribe(by_subscribe, "s", opts(), rid).ok());
  settle();
  EXPECT_EQ(w.created, (std::vector<TopicName>{fresh, by_subscribe}));
  const auto listed = svc().list_topics(kDefault);
  for (const auto& t : {before, fresh, by_subscribe}) {
    EXPECT_NE(std::find(listed.begin(), listed.end(), t), listed.end()) << t.str();
  }
  EXPECT_EQ(listed.size(), 3u);
  svc().unwatch_topics(kDefault, w);
  publish_n(topic("w-after-unwatch"), 1);
  EXPECT_EQ(w.created.size(), 2u);
}

TEST_P(ServiceContract, UnwatchBeforeTheNotificationRunsSilencesIt) {
  TopicRecorder w;
  svc().watch_topics(kDefault, w);
  svc().publish(topic("w-race"), make_message("x"), {});
  svc().unwatch_topics(kDefault, w);
  settle();
  EXPECT_TRUE(w.created.empty());
}

// What a wildcard MQTT subscription does: subscribe from the notification, at earliest.
class SubscribeOnCreate final : public TopicListener {
public:
  SubscribeOnCreate(MessagingService& svc, ReceiverId rid) : svc_(svc), rid_(rid) {}
  void on_topic_created(const TopicName& t) override {
    EXPECT_TRUE(svc_.subscribe(t, "wild", opts(SubscriptionType::shared, InitialPosition::earliest), rid_).ok());
  }

private:
  MessagingService& svc_;
  ReceiverId rid_;
};

TEST_P(ServiceContract, WatcherSubscribingAtEarliestSeesTheFirstMessagesOnce) {
  Recorder r;
  const auto rid = svc().open_receiver(r);
  svc().flow(rid, 100);
  SubscribeOnCreate w(svc(), rid);
  svc().watch_topics(kDefault, w);
  const auto t = topic("wild-first");
  // Both published before the notification can run.
  svc().publish(t, make_message("first"), {});
  svc().publish(t, make_message("second"), {});
  settle();
  svc().publish(t, make_message("third"), {});
  settle();
  EXPECT_EQ(r.payloads(), strings({"first", "second", "third"}));
}

TEST_P(ServiceContract, RetainedSetReplaceClearAndFilter) {
  const auto a = topic("sensors%2Fa");
  const auto b = topic("sensors%2Fb");
  const auto other = topic("sensors%2Fa", "other-ns");
  int done = 0;
  auto count = [&](std::error_code ec) {
    EXPECT_FALSE(ec);
    ++done;
  };
  svc().set_retained(a, make_message("a1"), count);
  svc().set_retained(b, make_message("b1"), count);
  svc().set_retained(other, make_message("o1"), count);
  svc().set_retained(a, make_message("a2"), count);
  settle();
  EXPECT_EQ(done, 4);
  auto all = svc().retained(kDefault, [](const TopicName&) { return true; });
  std::map<std::string, std::string> got;
  for (const auto& [t, m] : all) got[t.str()] = std::string(m->payload.view());
  EXPECT_EQ(got, (std::map<std::string, std::string>{{a.str(), "a2"}, {b.str(), "b1"}}));
  auto only_b = svc().retained(kDefault, [&](const TopicName& t) { return t == b; });
  ASSERT_EQ(only_b.size(), 1u);
  EXPECT_EQ(only_b[0].first, b);
  auto empty = std::make_shared<Message>();
  svc().set_retained(a, empty, count);
  settle();
  all = svc().retained(kDefault, [](const TopicName&) { return true; });
  ASSERT_EQ(all.size(), 1u);
  EXPECT_EQ(all[0].first, b);
  EXPECT_EQ(svc().retained(harness_->namespace_named("other-ns"), [](const TopicName&) { return true; }).size(), 1u);
}

TEST_P(ServiceContract, GivenPublishTimeIsKept) {
  const auto t = topic("publish-time");
  struct TimeRecorder final : ReceiverListener {
    void on_message(const TopicName&, const std::string&, MessageId, const MessagePtr& m, std::uint32_t) override {
      times.push_back(m->publish_time_ms);
    }
    std::vector<std::uint64_t> times;
  } r;
  const auto rid = svc().open_receiver(r);
  ASSERT_TRUE(svc().subscribe(t, "s", opts(), rid).ok());
  svc().flow(rid, 10);
  publish_n(t, 1);
  ASSERT_EQ(r.times.size(), 1u);
  EXPECT_EQ(r.times[0], 1'700'000'000'123ULL);
}

}  // namespace
}  // namespace mop::service::testing
