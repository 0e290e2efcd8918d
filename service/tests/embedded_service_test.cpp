// Runs the MessagingService contract against EmbeddedService, plus what only the embedded
// implementation promises (its introspection, its handling of closed receivers).
#include "service/embedded_service.hpp"

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "service/tests/service_contract.hpp"

namespace mop::service::testing {
namespace {

class EmbeddedHarness final : public ContractHarness {
public:
  EmbeddedHarness() : service_(executor_, clock_) {}
  MessagingService& service() override { return service_; }
  void settle() override { executor_.run_all(); }
  std::optional<std::size_t> pending_tasks() override { return executor_.pending(); }
  std::optional<std::size_t> stored_entries(const TopicName& topic) override {
    const auto* t = service_.broker().find_topic(topic);
    return t == nullptr ? 0 : t->ledger().entry_count();
  }

private:
  ManualExecutor executor_;
  ManualClock clock_;
  EmbeddedService service_;
};

}  // namespace

INSTANTIATE_TEST_SUITE_P(Embedded, ServiceContract,
                         ::testing::Values(ContractParam{"embedded", [] { return std::make_unique<EmbeddedHarness>(); }}),
                         ContractParamName{});

namespace {

struct Counter final : ReceiverListener {
  void on_message(const TopicName&, const std::string&, MessageId, const MessagePtr&, std::uint32_t count) override {
    counts.push_back(count);
  }
  std::vector<std::uint32_t> counts;
};

MessagePtr message(std::uint64_t publish_time) {
  auto m = std::make_shared<Message>();
  m->payload = Payload::copy_of("x");
  m->publish_time_ms = publish_time;
  return m;
}

const TopicName kTopic(TopicDomain::persistent, "public", "default", "t");

// A batch entry: whole to a receiver that takes batches; one message per index, unpacked, to one
// that does not, which acknowledges index by index; after it goes away, only the indexes it did
// not acknowledge come again; acked_batch_indexes() tells a batch-taking receiver which.
TEST(EmbeddedService, BatchEntriesAreUnpackedForReceiversThatDoNotTakeThem) {
  ManualExecutor ex;
  ManualClock clock;
  EmbeddedService svc(ex, clock);
  // A test unpacker: the batch payload "a,b,c" holds three messages.
  svc.set_batch_unpacker([](const Message& batch) -> Result<std::vector<MessagePtr>> {
    std::vector<MessagePtr> out;
    std::string rest(batch.payload.view());
    for (std::size_t at = 0; at <= rest.size();) {
      const auto comma = std::min(rest.find(',', at), rest.size());
      auto m = std::make_shared<Message>();
      m->payload = Payload::copy_of(rest.substr(at, comma - at));
      out.push_back(std::move(m));
      at = comma + 1;
    }
    return out;
  });
  struct Recorder final : ReceiverListener {
    explicit Recorder(bool batches) : batches(batches) {}
    bool takes_batches() const override { return batches; }
    void on_message(const TopicName&, const std::string&, MessageId id, const MessagePtr& m, std::uint32_t) override {
      got.emplace_back(id, std::string(m->payload.view()));
    }
    bool batches;
    std::vector<std::pair<MessageId, std::string>> got;
  };
  Recorder whole(true), single(false);
  const auto w = svc.open_receiver(whole);
  const auto s = svc.open_receiver(single);
  ASSERT_TRUE(svc.subscribe(kTopic, "whole", {}, w).ok());
  ASSERT_TRUE(svc.subscribe(kTopic, "single", {}, s).ok());
  svc.flow(w, 10);
  svc.flow(s, 10);
  auto batch = std::make_shared<Message>();
  batch->payload = Payload::copy_of("a,b,c");
  batch->batch = BatchInfo{3, 0, 5};
  MessageId entry;
  svc.publish(kTopic, batch, [&](std::error_code ec, MessageId id) {
    EXPECT_FALSE(ec);
    entry = id;
  });
  ex.run_all();
  ASSERT_EQ(whole.got.size(), 1u);
  EXPECT_EQ(whole.got[0].first, entry);
  EXPECT_EQ(whole.got[0].second, "a,b,c");
  ASSERT_EQ(single.got.size(), 3u);
  for (std::int32_t i = 0; i < 3; ++i) {
    EXPECT_EQ(single.got[static_cast<std::size_t>(i)].first, (MessageId{entry.ledger, entry.entry, i}));
  }
  EXPECT_EQ(single.got[2].second, "c");
  EXPECT_EQ(svc.last_message_id(kTopic), (MessageId{entry.ledger, entry.entry, 2}));

  svc.ack(kTopic, "single", {entry.ledger, entry.entry, 1});
  svc.ack(kTopic, "whole", {entry.ledger, entry.entry, 0});
  EXPECT_EQ(svc.acked_batch_indexes(kTopic, "whole", entry), std::vector<std::uint64_t>{0b001});
  EXPECT_EQ(svc.acked_batch_indexes(kTopic, "single", entry), std::vector<std::uint64_t>{0b010});
  svc.close_receiver(s);
  Recorder again(false);
  const auto a = svc.open_receiver(again);
  ASSERT_TRUE(svc.subscribe(kTopic, "single", {}, a).ok());
  svc.flow(a, 10);
  ex.run_all();
  ASSERT_EQ(again.got.size(), 2u);
  EXPECT_EQ(again.got[0].second, "a");
  EXPECT_EQ(again.got[1].second, "c");
  EXPECT_EQ(again.got[1].first, (MessageId{entry.ledger, entry.entry, 2}));
  svc.ack(kTopic, "single", again.got[0].first);
  svc.ack(kTopic, "single", again.got[1].first);
  EXPECT_TRUE(svc.acked_batch_indexes(kTopic, "single", entry).empty());  // acknowledged whole
  svc.close_receiver(a);
  svc.close_receiver(w);
}

TEST(EmbeddedService, DeliveryQueuedForAClosedReceiverIsDroppedAndRedelivered) {
  ManualExecutor ex;
  ManualClock clock;
  EmbeddedService svc(ex, clock);
  Counter first, second;
  const auto id1 = svc.open_receiver(first);
  ASSERT_TRUE(svc.subscribe(kTopic, "s", {}, id1).ok());
  svc.flow(id1, 10);
  svc.publish(kTopic, message(1), {});
  svc.close_receiver(id1);  // the delivery task is still queued
  ex.run_all();
  EXPECT_TRUE(first.counts.empty());
  const auto id2 = svc.open_receiver(second);
  ASSERT_TRUE(svc.subscribe(kTopic, "s", {}, id2).ok());
  svc.flow(id2, 10);
  ex.run_all();
  EXPECT_EQ(second.counts, (std::vector<std::uint32_t>{1}));
}

TEST(EmbeddedService, StampsPublishTimeOnlyWhenMissing) {
  ManualExecutor ex;
  ManualClock clock;
  EmbeddedService svc(ex, clock);
  struct Times final : ReceiverListener {
    void on_message(const TopicName&, const std::string&, MessageId, const MessagePtr& m, std::uint32_t) override {
      times.push_back(m->publish_time_ms);
    }
    std::vector<std::uint64_t> times;
  } r;
  const auto rid = svc.open_receiver(r);
  ASSERT_TRUE(svc.subscribe(kTopic, "s", {}, rid).ok());
  svc.flow(rid, 10);
  auto unstamped = message(0);
  svc.publish(kTopic, unstamped, {});
  svc.publish(kTopic, message(42), {});
  ex.run_all();
  EXPECT_EQ(r.times, (std::vector<std::uint64_t>{clock.wall_ms(), 42}));
  EXPECT_EQ(unstamped->publish_time_ms, 0u) << "the caller's message is not modified";
}

TEST(EmbeddedService, TasksQueuedAfterDestructionDoNothing) {
  ManualExecutor ex;
  ManualClock clock;
  bool called = false;
  {
    EmbeddedService svc(ex, clock);
    svc.publish(kTopic, message(1), [&](std::error_code, MessageId) { called = true; });
  }
  ex.run_all();
  EXPECT_FALSE(called);
}

TEST(EmbeddedService, SubscribeWithUnknownReceiverFails) {
  ManualExecutor ex;
  ManualClock clock;
  EmbeddedService svc(ex, clock);
  EXPECT_FALSE(svc.subscribe(kTopic, "s", {}, 12345).ok());
}

}  // namespace
// A listener that hands its permit back from on_message (what an MQTT QoS 0 subscriber does)
// gets its whole backlog in one executor task, not one task per message queued behind every
// other task posted meanwhile (that let a topic's backlog grow without bound under fan-in).
// Hands its permit back from on_message, as an MQTT QoS 0 subscriber does; counts in `received`.
struct PermitReturner final : ReceiverListener {
  PermitReturner(EmbeddedService& service, std::size_t& received) : svc(service), received(received) {
    receiver = svc.open_receiver(*this);
  }
  void on_message(const TopicName& t, const std::string& s, MessageId id, const MessagePtr&, std::uint32_t) override {
    ++received;
    svc.ack(t, s, id);
    svc.flow(receiver, 1);
  }
  EmbeddedService& svc;
  std::size_t& received;
  ReceiverId receiver = 0;
};

TEST(EmbeddedService, PermitReturnedDuringDeliveryDrainsBacklogInOneTask) {
  ManualExecutor ex;
  ManualClock clock;
  EmbeddedService svc(ex, clock);
  std::size_t received = 0;
  PermitReturner r(svc, received);
  ASSERT_TRUE(svc.subscribe(kTopic, "s", {}, r.receiver).ok());
  for (int i = 0; i < 500; ++i) svc.publish(kTopic, message(1), {});
  svc.flow(r.receiver, 1);
  ex.run_all();  // publish completions
  EXPECT_EQ(received, 500u);
  EXPECT_EQ(svc.broker().find_topic(kTopic)->ledger().entry_count(), 0u) << "acknowledged entries are trimmed";

  // Live traffic: the deliveries of a burst of publishes share one task.
  received = 0;
  for (int i = 0; i < 100; ++i) svc.publish(kTopic, message(1), {});
  EXPECT_EQ(ex.pending(), 1u) << "one drain task, not one task per delivery";
  ASSERT_TRUE(ex.run_one());
  EXPECT_EQ(received, 100u);
  EXPECT_EQ(ex.pending(), 0u);
}

// Receivers catching up on a backlog share one round's budget of deliveries: a task posted
// behind their drains (as the sockets' turn is, in the broker's io_context) runs after 65,536
// deliveries in all, not 65,536 per receiver. With a budget per receiver, 100 MQTT subscribers
// catching up after a slow group commit ran millions of deliveries between two polls of the
// sockets, and the publisher was not read for seconds (README.md, "A round of deliveries").
TEST(EmbeddedService, BusyReceiversShareOneRoundOfDeliveries) {
  ManualExecutor ex;
  ManualClock clock;
  EmbeddedService svc(ex, clock);
  constexpr std::size_t kReceivers = 8, kBacklog = 20000;  // 8 x 8,192 a round
  std::size_t total = 0;
  std::vector<std::unique_ptr<PermitReturner>> receivers;
  for (std::size_t i = 0; i < kReceivers; ++i) {
    auto& r = *receivers.emplace_back(std::make_unique<PermitReturner>(svc, total));
    ASSERT_TRUE(svc.subscribe(kTopic, "s" + std::to_string(i), {}, r.receiver).ok());
  }
  // The backlog builds up while no receiver has a permit (paused subscribers).
  for (std::size_t i = 0; i < kBacklog; ++i) svc.publish(kTopic, message(1), {});
  ex.run_all();
  ASSERT_EQ(total, 0u);
  for (auto& r : receivers) svc.flow(r->receiver, 1);
  std::optional<std::size_t> before_sockets;
  ex.post([&] { before_sockets = total; });  // the sockets' turn
  ex.run_all();
  ASSERT_TRUE(before_sockets.has_value());
  EXPECT_LE(*before_sockets, 65536u) << "deliveries run before the sockets' turn";
  EXPECT_GE(*before_sockets, kReceivers) << "every receiver had its turn first";
  EXPECT_EQ(total, kReceivers * kBacklog) << "and everything is delivered in the end";
}

// A listener closing its own receiver from on_message stops the drain cleanly.
TEST(EmbeddedService, ReceiverClosedDuringDrainStopsIt) {
  ManualExecutor ex;
  ManualClock clock;
  EmbeddedService svc(ex, clock);
  struct Closer final : ReceiverListener {
    void on_message(const TopicName&, const std::string&, MessageId, const MessagePtr&, std::uint32_t) override {
      ++received;
      svc->close_receiver(receiver);
    }
    EmbeddedService* svc = nullptr;
    ReceiverId receiver = 0;
    int received = 0;
  } c;
  c.svc = &svc;
  c.receiver = svc.open_receiver(c);
  ASSERT_TRUE(svc.subscribe(kTopic, "s", {}, c.receiver).ok());
  svc.flow(c.receiver, 10);
  for (int i = 0; i < 5; ++i) svc.publish(kTopic, message(1), {});
  ex.run_all();
  EXPECT_EQ(c.received, 1);
}

}  // namespace mop::service::testing
