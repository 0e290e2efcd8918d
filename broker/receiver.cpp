#include "broker/receiver.hpp"

#include <cassert>
#include <limits>

#include "broker/subscription.hpp"

namespace mop::broker {

Receiver::~Receiver() {
  // The owner detaches before destroying; make a missed detach harmless rather than dangling.
  for (Attachment* a : ready_) a->parked = false;
}

void Receiver::flow(std::uint32_t permits) {
  const auto room = std::numeric_limits<std::uint32_t>::max() - permits_;
  permits_ += permits < room ? permits : room;
  while (permits_ > 0 && !ready_.empty()) {
    Attachment* a = ready_.front();
    ready_.pop_front();
    a->parked = false;
    Subscription& sub = *a->subscription;
    // One message per turn, then to the back of the queue: fairness between subscriptions.
    // Each requeue follows a delivery, so the loop ends when messages or permits run out.
    if (sub.dispatch_one() && sub.has_pending()) park(*a);
  }
}

void Receiver::deliver(const std::shared_ptr<const SubscriptionKey>& key, const Entry& entry,
                       std::uint32_t redelivery_count) {
  // Subscriptions pick only receivers with permits (Subscription::pick): a delivery without one
  // would overrun the consumer's FLOW. A batch entry costs one permit per message (as in
  // Pulsar); it may take the last permits and leave the receiver short of its count.
  assert(permits_ > 0 && "a delivery to a receiver without permits");
  const std::uint32_t cost = sink_.permits_for(entry);
  permits_ -= cost < permits_ ? cost : permits_;
  sink_.deliver(key, entry, redelivery_count);
}

void Receiver::detached(Attachment& a) {
  unpark(a);
  attachments_.erase(&a);
}

void Receiver::park(Attachment& a) {
  if (a.parked) return;
  a.queue_pos = ready_.insert(ready_.end(), &a);
  a.parked = true;
}

void Receiver::unpark(Attachment& a) {
  if (!a.parked) return;
  ready_.erase(a.queue_pos);
  a.parked = false;
}

}  // namespace mop::broker
