#include "http/rates.hpp"

#include "broker/broker.hpp"
#include "pulsar/server/pulsar_server.hpp"

namespace mop::http {

namespace {

std::string subscription_key(const std::string& topic, const std::string& subscription) {
  std::string key;
  key.reserve(topic.size() + 1 + subscription.size());
  key += topic;
  key += '\n';
  key += subscription;
  return key;
}

template <typename Map>
void forget_unseen(Map& map, std::uint64_t sample) {
  for (auto it = map.begin(); it != map.end();) {
    it = it->second.seen == sample ? std::next(it) : map.erase(it);
  }
}

}  // namespace

void MessageRates::update(Entry& e, std::uint64_t msg_in, std::uint64_t bytes_in, std::uint64_t msg_out,
                          std::uint64_t bytes_out, bool known, double seconds) {
  // Counters start at 0 when their topic or subscription is created. One the previous sample did
  // not see (or whose counters went down: deleted and created again) was created since: all it
  // counted belongs to this interval.
  if (!known || msg_in < e.msg_in || bytes_in < e.bytes_in || msg_out < e.msg_out || bytes_out < e.bytes_out) {
    e = Entry{};
  }
  if (seconds > 0) {
    e.rates = {static_cast<double>(msg_in - e.msg_in) / seconds, static_cast<double>(bytes_in - e.bytes_in) / seconds,
               static_cast<double>(msg_out - e.msg_out) / seconds,
               static_cast<double>(bytes_out - e.bytes_out) / seconds};
  } else {
    e.rates = {};  // the first sample: nothing to compare with
  }
  e.msg_in = msg_in;
  e.bytes_in = bytes_in;
  e.msg_out = msg_out;
  e.bytes_out = bytes_out;
  e.seen = samples_;
}

void MessageRates::sample(const broker::Broker& broker, TimePoint now, const pulsar::server::PulsarServer* pulsar) {
  const double seconds = samples_ == 0 ? 0 : std::chrono::duration<double>(now - last_).count();
  ++samples_;
  broker.for_each_topic([&](const broker::Topic& t) {
    auto [it, added] = topics_.try_emplace(t.name().str());
    update(it->second, t.msg_in_counter(), t.bytes_in_counter(), t.msg_out_counter(), t.bytes_out_counter(), !added,
           seconds);
    t.for_each_subscription([&](const broker::Subscription& s) {
      auto [sit, sadded] = subscriptions_.try_emplace(subscription_key(t.name().str(), s.name()));
      update(sit->second, 0, 0, s.msg_out_counter(), s.bytes_out_counter(), !sadded, seconds);
    });
  });
  if (pulsar != nullptr) {
    pulsar->for_each_producer([&](const pulsar::server::ProducerInfo& p) {
      // A name is connected to a topic once at a time; one that reconnected counts from 0 again.
      auto [it, added] = producers_.try_emplace(subscription_key(p.topic->str(), *p.name));
      update(it->second, p.msg_in, p.bytes_in, 0, 0, !added, seconds);
    });
  }
  forget_unseen(topics_, samples_);
  forget_unseen(subscriptions_, samples_);
  forget_unseen(producers_, samples_);
  last_ = now;
}

Rates MessageRates::topic(const std::string& topic) const {
  const auto it = topics_.find(topic);
  return it == topics_.end() ? Rates{} : it->second.rates;
}

Rates MessageRates::subscription(const std::string& topic, const std::string& subscription) const {
  const auto it = subscriptions_.find(subscription_key(topic, subscription));
  return it == subscriptions_.end() ? Rates{} : it->second.rates;
}

Rates MessageRates::producer(const std::string& topic, const std::string& producer) const {
  const auto it = producers_.find(subscription_key(topic, producer));
  return it == producers_.end() ? Rates{} : it->second.rates;
}

}  // namespace mop::http
