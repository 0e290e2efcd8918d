#pragma once
// A DeliverySink for broker tests: records what each receiver was handed, in order.
#include <string>
#include <vector>

#include "broker/delivery_sink.hpp"

namespace mop::broker::testing {

struct Delivered {
  std::string topic;
  std::string subscription;
  MessageId id;
  std::string payload;
  std::uint32_t redelivery_count;
};

class RecordingSink final : public DeliverySink {
public:
  void deliver(const std::shared_ptr<const SubscriptionKey>& key, const Entry& entry,
               std::uint32_t redelivery_count) override {
    got.push_back({key->topic.str(), key->name, entry.id, std::string(entry.message->payload.view()), redelivery_count});
  }
  std::vector<std::string> payloads() const {
    std::vector<std::string> out;
    for (const auto& d : got) out.push_back(d.payload);
    return out;
  }
  void subscription_removed(const std::shared_ptr<const SubscriptionKey>& key) override {
    removed.push_back(key->topic.str() + " " + key->name);
  }
  std::vector<Delivered> got;
  std::vector<std::string> removed;  // "topic subscription" of each subscription deleted under it
};

inline MessagePtr msg(std::string_view payload, std::optional<std::string> key = std::nullopt) {
  auto m = std::make_shared<service::Message>();
  m->payload = Payload::copy_of(payload);
  m->producer_name = "p";
  m->ordering_key = std::move(key);
  return m;
}

inline std::vector<std::string> strs(std::initializer_list<const char*> l) { return {l.begin(), l.end()}; }

}  // namespace mop::broker::testing
