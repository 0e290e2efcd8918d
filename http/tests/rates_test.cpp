// MessageRates: rates are counter differences between two samples over the time between them,
// zero for what a sample sees first; and they reach /metrics.
#include <gtest/gtest.h>

#include "core/clock.hpp"
#include "core/executor.hpp"
#include "http/metrics.hpp"
#include "http/rates.hpp"
#include "service/embedded_service.hpp"

namespace mop::http {
namespace {

struct Taker : service::ReceiverListener {
  std::size_t got = 0;
  void on_message(const service::TopicName&, const std::string&, service::MessageId, const service::MessagePtr&,
                  std::uint32_t) override {
    ++got;
  }
};

class RatesTest : public ::testing::Test {
protected:
  void publish(int n) {
    for (int i = 0; i < n; ++i) {
      auto m = std::make_shared<service::Message>();
      m->payload = Payload::copy_of(std::string_view("0123456789"));
      service_.publish(topic_, std::move(m), {});
    }
    executor_.run_all();
  }

  ManualExecutor executor_;
  ManualClock clock_;
  service::EmbeddedService service_{executor_, clock_};
  const service::TopicName topic_ = *service::TopicName::parse("persistent://public/default/r");
  const MessageRates::TimePoint t0_ = MessageRates::TimePoint{} + std::chrono::hours(1);
};

TEST_F(RatesTest, RateIsTheDifferenceOverTheInterval) {
  Taker taker;
  const auto receiver = service_.open_receiver(taker);
  ASSERT_TRUE(service_.subscribe(topic_, "s", {}, receiver).ok());
  service_.flow(receiver, 1000);
  publish(3);
  MessageRates rates;
  rates.sample(service_.broker(), t0_);
  // The first sample has nothing to compare with.
  EXPECT_EQ(rates.topic(topic_.str()).msg_in, 0);
  publish(8);
  rates.sample(service_.broker(), t0_ + std::chrono::seconds(4));
  const Rates r = rates.topic(topic_.str());
  EXPECT_DOUBLE_EQ(r.msg_in, 2.0);
  EXPECT_DOUBLE_EQ(r.bytes_in, 20.0);
  EXPECT_DOUBLE_EQ(r.msg_out, 2.0);
  EXPECT_DOUBLE_EQ(r.bytes_out, 20.0);
  EXPECT_DOUBLE_EQ(rates.subscription(topic_.str(), "s").msg_out, 2.0);
  EXPECT_EQ(taker.got, 11u);

  MetricsSources sources;
  sources.broker = &service_.broker();
  sources.rates = &rates;
  sources.process = false;
  const std::string text = render_metrics(sources);
  const std::string labels = "{cluster=\"standalone\",namespace=\"public/default\",topic=\"persistent://public/default/r\"";
  EXPECT_NE(text.find("# TYPE pulsar_rate_in gauge\npulsar_rate_in" + labels + "} 2\n"), std::string::npos) << text;
  EXPECT_NE(text.find("pulsar_throughput_in" + labels + "} 20\n"), std::string::npos);
  EXPECT_NE(text.find("pulsar_subscription_msg_rate_out" + labels + ",subscription=\"s\"} 2\n"), std::string::npos);

  // Nothing more happens: the next interval's rates are zero.
  rates.sample(service_.broker(), t0_ + std::chrono::seconds(8));
  EXPECT_EQ(rates.topic(topic_.str()).msg_in, 0);
  service_.close_receiver(receiver);
  executor_.run_all();
}

TEST_F(RatesTest, ATopicCreatedBetweenSamplesCountsFromZero) {
  MessageRates rates;
  rates.sample(service_.broker(), t0_);  // before the topic exists
  publish(6);
  rates.sample(service_.broker(), t0_ + std::chrono::seconds(2));
  EXPECT_DOUBLE_EQ(rates.topic(topic_.str()).msg_in, 3.0);
  EXPECT_DOUBLE_EQ(rates.topic(topic_.str()).bytes_in, 30.0);
}

TEST_F(RatesTest, WithoutRatesTheFamiliesAreLeftOut) {
  publish(1);
  MetricsSources sources;
  sources.broker = &service_.broker();
  sources.process = false;
  const std::string text = render_metrics(sources);
  EXPECT_EQ(text.find("pulsar_rate_in"), std::string::npos);
  EXPECT_NE(text.find("pulsar_in_messages_total"), std::string::npos);
}

TEST_F(RatesTest, UnknownTopicHasZeroRates) {
  MessageRates rates;
  EXPECT_EQ(rates.topic("persistent://x/y/z").msg_in, 0);
  EXPECT_EQ(rates.subscription("persistent://x/y/z", "s").msg_out, 0);
}

}  // namespace
}  // namespace mop::http
