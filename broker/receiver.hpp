#pragma once
// Receiver: one consumer identity (an MQTT session, a Pulsar consumer) and its budget of
// permits, shared by every subscription it is attached to. Subscriptions that have messages for
// it while it has no permits wait in its ready queue; flow() resumes them round-robin, one
// message each per turn, so that a large backlog on one topic cannot starve the others and no
// event ever scans all topics. Owned by the broker's thread.
#include <cstdint>
#include <list>
#include <unordered_set>

#include "broker/attachment.hpp"
#include "broker/delivery_sink.hpp"

namespace mop::broker {

using service::ReceiverId;

class Receiver {
public:
  Receiver(ReceiverId id, DeliverySink& sink) : id_(id), sink_(sink) {}
  Receiver(const Receiver&) = delete;
  Receiver& operator=(const Receiver&) = delete;
  ~Receiver();

  ReceiverId id() const { return id_; }
  std::uint32_t permits() const { return permits_; }
  // Adds permits and lets waiting subscriptions dispatch while they last.
  void flow(std::uint32_t permits);
  // Drops every permit; the receiver stays attached and its subscriptions keep their backlog.
  void pause() { permits_ = 0; }

  const std::unordered_set<Attachment*>& attachments() const { return attachments_; }
  std::size_t waiting_subscriptions() const { return ready_.size(); }

  // Used by Subscription.
  void deliver(const std::shared_ptr<const SubscriptionKey>& key, const Entry& entry, std::uint32_t redelivery_count);
  void attached(Attachment& a) { attachments_.insert(&a); }
  void detached(Attachment& a);
  // Detached because the subscription is being deleted: the sink hears of it.
  void removed(Attachment& a, const std::shared_ptr<const SubscriptionKey>& key) {
    detached(a);
    sink_.subscription_removed(key);
  }
  void park(Attachment& a);
  void unpark(Attachment& a);

private:
  ReceiverId id_;
  DeliverySink& sink_;
  std::uint32_t permits_ = 0;
  std::unordered_set<Attachment*> attachments_;
  std::list<Attachment*> ready_;  // FIFO of attachments waiting for permits, no duplicates
};

}  // namespace mop::broker
