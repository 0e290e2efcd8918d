#pragma once
// Topic: a ledger and the subscriptions reading it. An appended entry is offered to every
// subscription of this topic (the fan-out, nothing wider); entries every subscription has
// acknowledged are trimmed from the ledger. With no subscription nothing needs keeping, as in
// Pulsar with retention 0 (retention settings come with issue 4), but the trim of such entries
// is left to the owner (see Broker) so that a subscriber reacting to the topic's creation can
// still read them. Owned by the broker's thread.
#include <functional>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <unordered_map>

#include "broker/ledger.hpp"
#include "broker/subscription.hpp"

namespace mop::broker {

class Topic {
public:
  // Called after an append completes while the topic has no subscription.
  using UnreadHook = std::function<void(Topic&)>;

  Topic(service::TopicName name, std::unique_ptr<Ledger> ledger, UnreadHook on_unread = {});
  Topic(const Topic&) = delete;
  Topic& operator=(const Topic&) = delete;

  const service::TopicName& name() const { return name_; }
  const Ledger& ledger() const { return *ledger_; }

  // `done` runs when the ledger completes the append (inline for InMemoryLedger), before the
  // entry is dispatched.
  void publish(MessagePtr message, AppendCallback done);

  // Creates the subscription if needed (at the initial position) and attaches the receiver.
  Result<Subscription*> subscribe(const std::string& name, const SubscriptionOptions& options, Receiver& receiver);
  // Unacknowledged messages of `receiver` go to the remaining receivers; a non-durable
  // subscription left without receivers is removed.
  void detach(const std::string& name, Receiver& receiver);
  // Removes the subscription, its cursor and (by trimming) the backlog only it kept.
  bool unsubscribe(const std::string& name);
  void ack(const std::string& name, MessageId id);
  void ack_cumulative(const std::string& name, MessageId id);
  void redeliver_unacked(const std::string& name, const Receiver& receiver);
  void redeliver(const std::string& name, const Receiver& receiver, const std::vector<MessageId>& ids);
  // Resets the subscription to `target` (see Subscription::seek), or to the first stored entry
  // published at or after `publish_time_ms`.
  void seek(const std::string& name, MessageId target);
  void seek_time(const std::string& name, std::uint64_t publish_time_ms);
  // The newest stored entry, if any.
  std::optional<MessageId> last_message_id() const;

  Subscription* subscription(const std::string& name);
  std::size_t subscription_count() const { return subscriptions_.size(); }

  // Drops the entries that no subscription needs.
  void trim();

private:
  using Subscriptions = std::unordered_map<std::string, std::unique_ptr<Subscription>>;
  void remove(Subscriptions::iterator it);

  service::TopicName name_;
  std::unique_ptr<Ledger> ledger_;
  UnreadHook on_unread_;
  Subscriptions subscriptions_;
  // Every subscription's ack floor: the smallest is how far the ledger can be trimmed, found
  // without scanning the subscriptions on each acknowledgement.
  std::multiset<MessageId> floors_;
};

}  // namespace mop::broker
