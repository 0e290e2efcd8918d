#pragma once
// MessageRates: Pulsar's message rates (msgRateIn/Out, msgThroughputIn/Out; pulsar_rate_in/out,
// pulsar_throughput_in/out), computed as Pulsar computes them: every statsUpdateFrequencyInSecs
// the owner calls sample(), which reads every topic's and subscription's counters; a rate is the
// difference from the previous sample over the time between the two. Between samples the rates
// stay as they were. Counters start at 0 with their topic or subscription, so one created since
// the previous sample counts all it did in this interval; the first sample has no rates.
// Nothing per message: the counters are the broker's own.
//
// Thread: the broker's.
#include <chrono>
#include <string>
#include <unordered_map>

namespace mop::broker {
class Broker;
}
namespace mop::pulsar::server {
class PulsarServer;
}

namespace mop::http {

struct Rates {
  double msg_in = 0;     // messages/s stored
  double bytes_in = 0;   // payload bytes/s stored
  double msg_out = 0;    // messages/s delivered
  double bytes_out = 0;  // payload bytes/s delivered
};

class MessageRates {
public:
  using TimePoint = std::chrono::steady_clock::time_point;

  // With `pulsar`, its producers' rates in too (their own counters, keyed by topic and name).
  void sample(const broker::Broker& broker, TimePoint now, const pulsar::server::PulsarServer* pulsar = nullptr);

  // Rates of a topic (full name) or of one of its subscriptions, as of the last sample; zeros
  // when not known.
  Rates topic(const std::string& topic) const;
  Rates subscription(const std::string& topic, const std::string& subscription) const;
  // A Pulsar producer's (msg_in, bytes_in only), by its topic and name.
  Rates producer(const std::string& topic, const std::string& producer) const;
  std::size_t samples() const { return samples_; }

private:
  struct Entry {
    std::uint64_t msg_in = 0, bytes_in = 0, msg_out = 0, bytes_out = 0;
    Rates rates;
    std::uint64_t seen = 0;  // the sample that last saw it
  };
  void update(Entry& e, std::uint64_t msg_in, std::uint64_t bytes_in, std::uint64_t msg_out, std::uint64_t bytes_out,
              bool known, double seconds);

  std::unordered_map<std::string, Entry> topics_;
  // Keyed by the topic's full name and the subscription's name, joined by a newline.
  std::unordered_map<std::string, Entry> subscriptions_;
  std::unordered_map<std::string, Entry> producers_;  // keyed the same way, by producer name
  TimePoint last_{};
  std::uint64_t samples_ = 0;
};

}  // namespace mop::http
