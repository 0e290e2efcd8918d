// Runs the MessagingService contract against EmbeddedService, plus what only the embedded
// implementation promises (its introspection, its handling of closed receivers).
#include "service/embedded_service.hpp"

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

TEST(EmbeddedService, DeliveryQueuedForAClosedReceiverIsDroppedAndRedelivered) {
  ManualExecutor ex;
  ManualClock clock;
  EmbeddedService svc(ex, clock);
  Counter first, second;
  const auto id1 = svc.open_receiver(first);
  ASSERT_FALSE(svc.subscribe(kTopic, "s", {}, id1));
  svc.flow(id1, 10);
  svc.publish(kTopic, message(1), {});
  svc.close_receiver(id1);  // the delivery task is still queued
  ex.run_all();
  EXPECT_TRUE(first.counts.empty());
  const auto id2 = svc.open_receiver(second);
  ASSERT_FALSE(svc.subscribe(kTopic, "s", {}, id2));
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
  ASSERT_FALSE(svc.subscribe(kTopic, "s", {}, rid));
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
  EXPECT_TRUE(svc.subscribe(kTopic, "s", {}, 12345));
}

}  // namespace
}  // namespace mop::service::testing
