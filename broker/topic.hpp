#pragma once
// Topic: a ledger and the subscriptions reading it. An appended entry is offered to every
// subscription of this topic (the fan-out, nothing wider); entries every subscription has
// acknowledged are trimmed from the ledger. With no subscription nothing needs keeping, as in
// Pulsar with retention 0 (retention settings come with issue 4), but the trim of such entries
// is left to the owner (see Broker) so that a subscriber reacting to the topic's creation can
// still read them. Owned by the broker's thread.
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "broker/publish_meter.hpp"
#include "broker/ledger.hpp"
#include "broker/persistence.hpp"
#include "broker/subscription.hpp"
#include "core/clock.hpp"

namespace mop::broker {

// Retention, TTL and backlog quota, with Pulsar's meanings (broker.conf keys in parentheses).
struct TopicPolicies {
  // Acknowledged entries are kept while within both limits; 0 = not kept (trimmed once every
  // subscription passed them), -1 = no limit of that kind (defaultRetentionTimeInMinutes,
  // defaultRetentionSizeInMB).
  std::int64_t retention_time_ms = 0;
  std::int64_t retention_size_bytes = 0;
  // Entries older than this are acknowledged for every subscription; 0 = never
  // (ttlDurationDefaultInSeconds).
  std::uint64_t ttl_ms = 0;
  // Most bytes of backlog (from the slowest subscription's ack floor to the end); -1 = no limit
  // (backlogQuotaDefaultLimitBytes), and what happens above it (backlogQuotaDefaultRetentionPolicy).
  std::int64_t backlog_quota_bytes = -1;
  enum class BacklogPolicy { producer_exception, consumer_backlog_eviction };
  BacklogPolicy backlog_policy = BacklogPolicy::producer_exception;
  // Pulsar producer deduplication for the topic (a namespace's deduplication policy); nullopt:
  // the Pulsar server's own setting (brokerDeduplicationEnabled). Read by the Pulsar server
  // (ServerOptions::namespace_deduplication); nothing in the broker acts on it.
  std::optional<bool> deduplication;

  bool retains() const { return retention_time_ms != 0 || retention_size_bytes != 0; }
};

class Topic final : private SubscriptionOwner {
public:
  // Called after an append completes while the topic has no subscription.
  using UnreadHook = std::function<void(Topic&)>;

  // With `persistence` (persistent topics of a broker with a store), durable subscriptions and
  // their cursors are written there; it must outlive the topic.
  Topic(service::TopicName name, std::unique_ptr<Ledger> ledger, UnreadHook on_unread = {},
        Persistence* persistence = nullptr);
  ~Topic();
  // Retention, TTL and backlog quota; `clock` (needed for retention time and TTL) must outlive
  // the topic. Call before the topic is used (sizes of entries already stored are read now).
  void set_policies(const TopicPolicies& policies, const Clock* clock);

  // Replaces the policies of a topic in use (a namespace's policies changed) and trims what
  // they no longer keep.
  void change_policies(const TopicPolicies& policies);
  const TopicPolicies& policies() const { return policies_; }

  // Applies TTL and time-based retention (run periodically by the owner).
  void expire();
  // Bytes of payload from the slowest subscription's ack floor to the end (0 without
  // subscriptions).
  std::uint64_t backlog_bytes() const;
  // Bytes of payload stored in the ledger (Pulsar's storageSize).
  std::uint64_t stored_bytes() const { return stored_bytes_; }
  // Messages and payload bytes appended since this process started (Pulsar's msgInCounter,
  // bytesInCounter): one increment each per stored message.
  std::uint64_t msg_in_counter() const { return msg_in_; }
  std::uint64_t bytes_in_counter() const { return bytes_in_; }
  // Messages and payload bytes delivered to consumers since this process started, over every
  // subscription it has had (Pulsar's msgOutCounter, bytesOutCounter): a walk over the
  // subscriptions, for metrics.
  std::uint64_t msg_out_counter() const;
  std::uint64_t bytes_out_counter() const;
  // Every subscription, by name (read-only; metrics and admin stats).
  template <typename F>
  void for_each_subscription(F&& f) const {
    for (const auto& [name, sub] : subscriptions_) f(static_cast<const Subscription&>(*sub));
  }
  Topic(const Topic&) = delete;
  Topic& operator=(const Topic&) = delete;

  // Counts this topic's appends in flight (until their completion) on `meter`, which must
  // outlive the topic.
  void set_publish_meter(PublishMeter* meter) { meter_ = meter; }

  const service::TopicName& name() const { return name_; }
  const Ledger& ledger() const { return *ledger_; }

  // `done` runs when the ledger completes the append (inline for InMemoryLedger), before the
  // entry is dispatched.
  void publish(MessagePtr message, AppendCallback done);
  // The completions of the publishes still being appended, taken out (their appends then complete
  // silently): the topic is being deleted, and its owner fails them (Broker::delete_topic).
  std::vector<AppendCallback> take_pending_publishes();

  // Creates the subscription `name` with nothing acknowledged from `start` on (clamped to the
  // entries stored) and no receiver, unless it exists. Returns it, and whether it was created.
  std::pair<Subscription*, bool> create_subscription(const std::string& name, const SubscriptionOptions& options,
                                                     MessageId start);
  // Creates the subscription if needed (at the initial position) and attaches the receiver
  // (acknowledging on dispatch with `options.ack_on_dispatch`, see Subscription::attach).
  Result<Subscription*> subscribe(const std::string& name, const SubscriptionOptions& options, Receiver& receiver);
  // See Subscription::stop_ack_on_dispatch.
  void stop_ack_on_dispatch(const std::string& name, const Receiver& receiver);
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

  // Recreates a stored durable subscription (at start, before any receiver); not written back.
  void restore_subscription(const Persistence::RestoredSubscription& stored);

  Subscription* subscription(const std::string& name);
  std::size_t subscription_count() const { return subscriptions_.size(); }

  // Drops the entries that no subscription needs.
  void trim();

private:
  using Subscriptions = std::unordered_map<std::string, std::unique_ptr<Subscription>>;
  void remove(Subscriptions::iterator it);
  // The subscription's cursor changed: write it (coalesced, see Subscription::CursorWrites).
  void cursor_changed(Subscription& sub);
  void write_cursor(Subscription& sub);
  // SubscriptionOwner: a dispatch acknowledged the entry it sent.
  void acked_on_dispatch(Subscription& sub, MessageId floor_before) override;
  // Keeps the minimum floor right after a subscription's floor moved from `before` to `after`.
  // Returns whether the minimum moved (call trim() then).
  bool floor_moved(MessageId before, MessageId after);
  // A subscription's floor joins (it is in subscriptions_ already) or leaves (it is gone from
  // it) the minimum.
  void floor_added(MessageId floor);
  void floor_removed(MessageId floor);
  // Finds the minimum floor and how many subscriptions are at it, walking the subscriptions.
  void rescan_min_floor();
  // Recomputes acked_bytes_ for the current minimum floor, walking from the old one.
  void sync_min_floor();
  MessageId min_floor() const { return subscriptions_.empty() ? ledger_->end() : min_floor_; }
  std::uint64_t bytes_between(std::uint64_t from, std::uint64_t to) const;
  // Whether the oldest stored entry, acknowledged by everyone, may still be kept.
  bool keep_oldest(std::uint64_t now_ms) const;
  void evict_backlog();

  service::TopicName name_;
  std::unique_ptr<Ledger> ledger_;
  UnreadHook on_unread_;
  Subscriptions subscriptions_;
  // The smallest ack floor of the subscriptions (how far the ledger can be trimmed) and how many
  // subscriptions are at it. Kept lazily: a floor moving off the minimum only counts down, and
  // the subscriptions are walked once the last one has left it, so subscriptions that move in
  // lockstep cost one walk per entry, not an ordered-set update per subscription per entry.
  MessageId min_floor_;
  std::size_t at_min_floor_ = 0;
  TopicPolicies policies_;
  const Clock* clock_ = nullptr;
  // Sizes of the stored entries [ledger first, end), their sum, and the sum of those below the
  // minimum floor (acknowledged by every subscription).
  std::deque<std::uint32_t> sizes_;
  std::uint64_t stored_bytes_ = 0;
  std::uint64_t acked_bytes_ = 0;
  std::uint64_t msg_in_ = 0;
  std::uint64_t bytes_in_ = 0;
  // Deliveries of the subscriptions removed since (their counters go with them).
  std::uint64_t removed_msg_out_ = 0;
  std::uint64_t removed_bytes_out_ = 0;
  MessageId counted_floor_;  // the minimum floor acked_bytes_ was computed for
  Persistence* persistence_;
  PublishMeter* meter_ = nullptr;
  std::size_t appending_bytes_ = 0;  // on meter_, returned if the topic goes with appends pending
  // Completions of the publishes being appended, by publish number (the ledger drops its pending
  // completions when it is destroyed, so a deleted topic's owner must be able to fail them).
  // A deque (no allocation per publish); an entry is emptied when its append completes, and the
  // completed ones at the front are dropped.
  std::deque<std::optional<AppendCallback>> publishing_;
  std::uint64_t first_publishing_ = 0;  // the publish number of publishing_.front()
  std::uint64_t next_serial_ = 1;
  // Persistence completions check it: the topic may be gone when they run.
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

// The stored form of a cursor.
CursorState cursor_state(const Cursor& cursor);

}  // namespace mop::broker
