#pragma once
// DeliverySink: where a Receiver hands the messages dispatched to it. The broker calls it
// inline while dispatching; the service layer's sink posts the listener call to its executor,
// which is what keeps the service's "never inline" promise. Called on the broker's thread.
#include <cstdint>
#include <memory>
#include <string>

#include "broker/entry.hpp"

namespace mop::broker {

// The identity of a subscription, shared (not copied) by every delivery made for it.
struct SubscriptionKey {
  service::TopicName topic;
  std::string name;
};

class DeliverySink {
public:
  virtual ~DeliverySink() = default;
  virtual void deliver(const std::shared_ptr<const SubscriptionKey>& subscription, const Entry& entry,
                       std::uint32_t redelivery_count) = 0;
  // Permits the delivery of `entry` costs: 1, or a batch entry's message count for a sink that
  // hands its messages on one by one.
  virtual std::uint32_t permits_for(const Entry& /*entry*/) const { return 1; }
  // The subscription was deleted while this receiver was attached to it (unsubscribed by
  // someone else, or its topic went away). The receiver is already detached from it.
  virtual void subscription_removed(const std::shared_ptr<const SubscriptionKey>&) {}
};

}  // namespace mop::broker
