#pragma once
// Subscription: a named, cursor-backed view of a topic (Pulsar's subscription plus its
// dispatcher). It delivers entries from the cursor's read position, after any redeliveries,
// to its attached receivers according to its type:
//   exclusive  one receiver; a second one is refused with consumer_busy;
//   failover   the first attached receiver (attach order) is active, the others stand by;
//   shared     round-robin over the attached receivers that have permits;
//   key_shared ordering key (or producer name) hashed over the attached receivers; a message
//              whose receiver has no permits holds back the ones after it (keeps key order).
// Messages dispatched but not acknowledged are remembered per receiver; when that receiver
// detaches they go back to the front, in id order, with their redelivery count raised.
// With no receiver attached the backlog simply stays in the ledger (an offline session).
// Owned by its Topic; broker thread.
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <vector>

#include "broker/attachment.hpp"
#include "broker/cursor.hpp"
#include "broker/receiver.hpp"
#include "core/result.hpp"

namespace mop::broker {

using service::SubscriptionOptions;
using service::SubscriptionType;

class Subscription;

// Told when a subscription acknowledges by itself, i.e. dispatched a message to a receiver that
// acknowledges on dispatch (implemented by Topic, which keeps the floors and writes cursors).
class SubscriptionOwner {
public:
  virtual void acked_on_dispatch(Subscription& sub, MessageId floor_before) = 0;

protected:
  ~SubscriptionOwner() = default;
};

class Subscription {
public:
  Subscription(std::shared_ptr<const SubscriptionKey> key, const SubscriptionOptions& options, const Ledger& ledger,
               Cursor cursor);
  Subscription(const Subscription&) = delete;
  Subscription& operator=(const Subscription&) = delete;
  // Detaches every receiver and tells each (Receiver::removed); what they had not acknowledged
  // is simply forgotten.
  ~Subscription();

  const std::shared_ptr<const SubscriptionKey>& key() const { return key_; }
  const std::string& name() const { return key_->name; }
  SubscriptionType type() const { return type_; }
  bool durable() const { return durable_; }
  const Cursor& cursor() const { return cursor_; }

  // Who hears of acknowledgements made on dispatch (nullptr: nobody; the owner must outlive it).
  void set_owner(SubscriptionOwner* owner) { owner_ = owner; }

  // Attaching the same receiver twice is a no-op (its attachment keeps its setting). Does not
  // dispatch: call dispatch() after. With `acks_on_dispatch`, every message dispatched to this
  // receiver counts as acknowledged as it is dispatched: it is never outstanding, never
  // redelivered, and the read position and floor move together without an ack() round trip.
  Result<void> attach(Receiver& receiver, bool acks_on_dispatch = false);
  // From now on messages dispatched to `receiver` wait for ack() again (the ones dispatched
  // before stay acknowledged). Returns false if the receiver is not attached.
  bool stop_ack_on_dispatch(const Receiver& receiver);
  // Returns false if the receiver was not attached. Its unacknowledged messages are queued
  // for redelivery; call dispatch() after to hand them to the remaining receivers.
  bool detach(Receiver& receiver);
  bool attached(const Receiver& receiver) const { return find(receiver) != attachments_.end(); }
  std::size_t receiver_count() const { return attachments_.size(); }
  // Failover/exclusive: the receiver that gets messages now.
  Receiver* active_receiver() const { return attachments_.empty() ? nullptr : attachments_.front()->receiver; }

  // Individual acknowledgement; a batch index >= 0 of a batch entry acknowledges that message
  // only (see Cursor::ack_indexes). Returns true if the cursor's floor moved.
  bool ack(MessageId id);
  // Acknowledges the messages of batch entry `id` whose bits are set (Pulsar's ack_set, inverted).
  bool ack_indexes(MessageId id, const Cursor::BatchBits& indexes);
  // Cumulative acknowledgement (Pulsar's ACK Cumulative): every entry up to and including `id`.
  // Returns true if the cursor's floor moved.
  bool ack_cumulative(MessageId id);
  // Puts what `receiver` holds unacknowledged back for redelivery (Pulsar's
  // REDELIVER_UNACKNOWLEDGED_MESSAGES without ids), with raised redelivery counts. Call
  // dispatch() after.
  void redeliver_unacked(const Receiver& receiver);
  // The same for the listed entries only (a negative ack); ids `receiver` does not hold are
  // ignored. O(ids * log(in flight)). Call dispatch() after.
  void redeliver(const Receiver& receiver, const std::vector<MessageId>& ids);
  // Pulsar's reset cursor: every entry before `target` counts as acknowledged, every entry from
  // it on as not (individual acks above it are forgotten), and deliveries in flight are
  // forgotten (the consumer drops its queue). Clamped to the entries still stored. A batch
  // index > 0 counts the batch's messages before it as acknowledged. Call dispatch() after.
  void seek(MessageId target);

  // Delivers while some receiver can take messages; waits in ready queues otherwise.
  void dispatch();
  // Delivers at most one message. Returns false if nothing could be delivered.
  bool dispatch_one();
  // Something is waiting to be delivered (redeliveries or unread entries).
  bool has_pending() const { return !replay_.empty() || cursor_.read_position() < ledger_.end(); }

  // Messages delivered and not yet acknowledged (Pulsar's unackedMessages): a batch entry counts
  // its messages less those acknowledged by batch index. O(in flight): for stats.
  std::size_t unacked_count() const;
  // Messages and payload bytes handed to receivers since this process started, redeliveries
  // included (Pulsar's msgOutCounter, bytesOutCounter).
  std::uint64_t msg_out_counter() const { return msg_out_; }
  std::uint64_t bytes_out_counter() const { return bytes_out_; }
  // The attached receivers, in attach order (read-only; admin stats).
  template <typename F>
  void for_each_receiver(F&& f) const {
    for (const auto& a : attachments_) f(static_cast<const Receiver&>(*a->receiver));
  }

  // Persistence bookkeeping, kept by the Topic: at most one cursor write in flight; changes
  // made meanwhile mark it dirty and the latest state is written when it completes. `serial`
  // tells a completion whether this is still the subscription it was written for.
  struct CursorWrites {
    std::uint64_t serial = 0;
    bool in_flight = false;
    bool dirty = false;
  };
  CursorWrites& cursor_writes() { return cursor_writes_; }
  // Entries not yet acknowledged, delivered or not.
  std::size_t backlog() const;

private:
  struct Next {
    Entry entry;
    bool from_replay;
  };
  using Attachments = std::vector<std::unique_ptr<Attachment>>;

  Attachments::const_iterator find(const Receiver& receiver) const;
  std::optional<Next> peek();
  // The attachment that takes `entry` now, or nullptr after parking on the receivers whose
  // permits the subscription waits for.
  Attachment* pick(const Entry& entry);
  Attachment* take_or_park(Attachment& a);
  // When no receiver has a permit, parks every attachment in its receiver's ready queue and
  // returns true; otherwise changes nothing.
  bool park_if_no_permits();

  std::shared_ptr<const SubscriptionKey> key_;
  SubscriptionType type_;
  bool durable_;
  const Ledger& ledger_;
  SubscriptionOwner* owner_ = nullptr;
  Cursor cursor_;
  Attachments attachments_;  // in attach order
  std::size_t round_robin_ = 0;
  // Dispatched and not yet acknowledged -> the receiver holding it, and how many messages it has.
  struct Outstanding {
    Attachment* holder;
    std::uint32_t messages;
  };
  std::map<MessageId, Outstanding> outstanding_;
  // Returned by a detached receiver; delivered before anything new, in id order.
  std::set<MessageId> replay_;
  // Only for entries delivered more than once; erased on acknowledgement.
  std::map<MessageId, std::uint32_t> redeliveries_;
  CursorWrites cursor_writes_;
  std::uint64_t msg_out_ = 0;
  std::uint64_t bytes_out_ = 0;
};

}  // namespace mop::broker
