// PublishMeter: the high-water mark and its hysteresis, and a topic counting its appends in
// flight on it (a ledger that completes later, as the RocksDB one does).
#include "broker/publish_meter.hpp"

#include <gtest/gtest.h>

#include <vector>

#include "broker/tests/recording_sink.hpp"
#include "broker/topic.hpp"

namespace mop::broker {
namespace {

TEST(PublishMeter, SaysOverOnceAboveTheLimitAndDrainedOnceAtHalf) {
  PublishMeter m;
  std::vector<bool> calls;
  m.configure(100, [&](bool over) { calls.push_back(over); });
  m.add(60);
  m.add(40);
  EXPECT_TRUE(calls.empty()) << "at the limit is not over it";
  m.add(1);
  m.add(50);
  EXPECT_EQ(calls, (std::vector<bool>{true}));
  EXPECT_TRUE(m.over());
  m.remove(100);  // 51 left: above half
  EXPECT_EQ(calls, (std::vector<bool>{true}));
  m.remove(1);  // 50: drained to half
  EXPECT_EQ(calls, (std::vector<bool>{true, false}));
  EXPECT_FALSE(m.over());
  m.remove(50);
  EXPECT_EQ(m.bytes(), 0u);
  EXPECT_EQ(calls.size(), 2u);
}

TEST(PublishMeter, ZeroLimitNeverCalls) {
  PublishMeter m;
  int calls = 0;
  m.configure(0, [&](bool) { ++calls; });
  m.add(1u << 30);
  m.remove(1u << 30);
  EXPECT_EQ(calls, 0);
}

// A ledger whose appends complete when the test says so.
class HeldLedger final : public Ledger {
public:
  std::uint64_t ledger_id() const override { return 1; }
  void append(MessagePtr message, AppendCallback done) override {
    held_.push_back({std::move(message), std::move(done)});
  }
  MessageId first() const override { return {1, 0, -1}; }
  MessageId end() const override { return {1, next_, -1}; }
  std::optional<Entry> read(MessageId) const override { return std::nullopt; }
  void trim_before(MessageId) override {}
  std::size_t entry_count() const override { return 0; }
  void complete_one() {
    auto [m, done] = std::move(held_.front());
    held_.erase(held_.begin());
    done({}, {1, next_++, -1});
  }
  std::size_t held() const { return held_.size(); }

private:
  std::vector<std::pair<MessagePtr, AppendCallback>> held_;
  std::uint64_t next_ = 0;
};

TEST(PublishMeter, TopicCountsAppendsUntilTheyCompleteOrTheTopicGoes) {
  PublishMeter meter;
  std::vector<bool> calls;
  meter.configure(10, [&](bool over) { calls.push_back(over); });
  auto ledger = std::make_unique<HeldLedger>();
  HeldLedger& l = *ledger;
  auto topic = std::make_unique<Topic>(service::TopicName(service::TopicDomain::persistent, "public", "default", "t"),
                                       std::move(ledger));
  topic->set_publish_meter(&meter);
  for (int i = 0; i < 3; ++i) topic->publish(testing::msg("four"), {});
  EXPECT_EQ(meter.bytes(), 12u);
  EXPECT_EQ(calls, (std::vector<bool>{true}));
  l.complete_one();
  l.complete_one();
  EXPECT_EQ(meter.bytes(), 4u);
  EXPECT_EQ(calls, (std::vector<bool>{true, false}));
  topic->publish(testing::msg("four"), {});
  EXPECT_EQ(meter.bytes(), 8u);
  topic.reset();  // two appends still held: their bytes go back
  EXPECT_EQ(meter.bytes(), 0u);
}

}  // namespace
}  // namespace mop::broker
