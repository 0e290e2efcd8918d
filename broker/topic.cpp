#include "broker/topic.hpp"

#include <algorithm>

namespace mop::broker {

CursorState cursor_state(const Cursor& cursor) {
  CursorState out;
  out.ack_floor = cursor.ack_floor();
  for (const MessageId& id : cursor.individually_acked()) {
    if (!out.acked.empty() && out.acked.back().second + 1 == id.entry) {
      out.acked.back().second = id.entry;
    } else {
      out.acked.emplace_back(id.entry, id.entry);
    }
  }
  return out;
}

Topic::Topic(service::TopicName name, std::unique_ptr<Ledger> ledger, UnreadHook on_unread, Persistence* persistence)
    : name_(std::move(name)), ledger_(std::move(ledger)), on_unread_(std::move(on_unread)), persistence_(persistence) {}

Topic::~Topic() {
  if (meter_ != nullptr) meter_->remove(appending_bytes_);
}

void Topic::publish(MessagePtr message, AppendCallback done) {
  const std::size_t size = message ? message->payload.size() : 0;
  if (meter_ != nullptr) {
    appending_bytes_ += size;
    meter_->add(size);
  }
  // `this` outlives the append: the topic owns the ledger, and a ledger drops its pending
  // completions when it is destroyed.
  ledger_->append(std::move(message), [this, size, done = std::move(done)](std::error_code ec, MessageId id) {
    if (meter_ != nullptr) {
      appending_bytes_ -= size;
      meter_->remove(size);
    }
    if (done) done(ec, id);
    if (ec) return;
    if (subscriptions_.empty()) {
      if (on_unread_) on_unread_(*this);
      return;
    }
    for (auto& [_, sub] : subscriptions_) sub->dispatch();
  });
}

Result<Subscription*> Topic::subscribe(const std::string& name, const SubscriptionOptions& options,
                                       Receiver& receiver) {
  auto it = subscriptions_.find(name);
  if (it == subscriptions_.end()) {
    const MessageId start =
        options.initial_position == service::InitialPosition::earliest ? ledger_->first() : ledger_->end();
    auto key = std::make_shared<const SubscriptionKey>(SubscriptionKey{name_, name});
    auto sub = std::make_unique<Subscription>(std::move(key), options, *ledger_, Cursor(start));
    floors_.insert(sub->cursor().ack_floor());
    sub->cursor_writes().serial = next_serial_++;
    if (persistence_ != nullptr && sub->durable()) {
      persistence_->put_subscription(name_, name, sub->type(), cursor_state(sub->cursor()), {});
    }
    it = subscriptions_.emplace(name, std::move(sub)).first;
  }
  Subscription& sub = *it->second;
  if (const auto ec = sub.attach(receiver)) return ec;
  sub.dispatch();
  return &sub;
}

void Topic::detach(const std::string& name, Receiver& receiver) {
  const auto it = subscriptions_.find(name);
  if (it == subscriptions_.end() || !it->second->detach(receiver)) return;
  if (!it->second->durable() && it->second->receiver_count() == 0) {
    remove(it);
    return;
  }
  it->second->dispatch();
}

bool Topic::unsubscribe(const std::string& name) {
  const auto it = subscriptions_.find(name);
  if (it == subscriptions_.end()) return false;
  remove(it);
  return true;
}

void Topic::ack(const std::string& name, MessageId id) {
  const auto it = subscriptions_.find(name);
  if (it == subscriptions_.end()) return;
  Subscription& sub = *it->second;
  const MessageId before = sub.cursor().ack_floor();
  const bool moved = sub.ack(id);
  cursor_changed(sub);
  if (!moved) return;
  floors_.erase(floors_.find(before));
  floors_.insert(sub.cursor().ack_floor());
  trim();
}

void Topic::ack_cumulative(const std::string& name, MessageId id) {
  const auto it = subscriptions_.find(name);
  if (it == subscriptions_.end()) return;
  Subscription& sub = *it->second;
  const MessageId before = sub.cursor().ack_floor();
  const bool moved = sub.ack_cumulative(id);
  cursor_changed(sub);
  if (!moved) return;
  floors_.erase(floors_.find(before));
  floors_.insert(sub.cursor().ack_floor());
  trim();
}

void Topic::redeliver_unacked(const std::string& name, const Receiver& receiver) {
  const auto it = subscriptions_.find(name);
  if (it == subscriptions_.end()) return;
  it->second->redeliver_unacked(receiver);
  it->second->dispatch();
}

void Topic::redeliver(const std::string& name, const Receiver& receiver, const std::vector<MessageId>& ids) {
  const auto it = subscriptions_.find(name);
  if (it == subscriptions_.end()) return;
  it->second->redeliver(receiver, ids);
  it->second->dispatch();
}

void Topic::seek(const std::string& name, MessageId target) {
  const auto it = subscriptions_.find(name);
  if (it == subscriptions_.end()) return;
  Subscription& sub = *it->second;
  const MessageId before = sub.cursor().ack_floor();
  sub.seek(target);
  cursor_changed(sub);
  floors_.erase(floors_.find(before));
  floors_.insert(sub.cursor().ack_floor());
  trim();
  sub.dispatch();
}

void Topic::seek_time(const std::string& name, std::uint64_t publish_time_ms) {
  // A linear scan: seeking by time is rare, and entries are in publish order only roughly.
  MessageId target = ledger_->end();
  for (MessageId id = ledger_->first(); id < ledger_->end(); id = Ledger::next(id)) {
    const auto e = ledger_->read(id);
    if (e && e->message && e->message->publish_time_ms >= publish_time_ms) {
      target = id;
      break;
    }
  }
  seek(name, target);
}

std::optional<MessageId> Topic::last_message_id() const {
  const MessageId end = ledger_->end();
  if (end.entry == 0) return std::nullopt;
  return MessageId{end.ledger, end.entry - 1, -1};
}

Subscription* Topic::subscription(const std::string& name) {
  const auto it = subscriptions_.find(name);
  return it == subscriptions_.end() ? nullptr : it->second.get();
}

void Topic::restore_subscription(const Persistence::RestoredSubscription& stored) {
  if (subscriptions_.contains(stored.name)) return;
  // Clamped to what the log holds: a trim may have reached the disk before the cursor write
  // that allowed it (the entries below were acknowledged either way).
  MessageId floor{ledger_->ledger_id(), stored.cursor.ack_floor.entry, -1};
  if (floor < ledger_->first()) floor = ledger_->first();
  if (ledger_->end() < floor) floor = ledger_->end();
  std::set<MessageId> acked;
  for (const auto& [first, last] : stored.cursor.acked) {
    for (std::uint64_t e = std::max(first, floor.entry); e <= last && e < ledger_->end().entry; ++e) {
      acked.insert(MessageId{floor.ledger, e, -1});
    }
  }
  SubscriptionOptions options;
  options.type = stored.type;
  options.durable = true;
  auto key = std::make_shared<const SubscriptionKey>(SubscriptionKey{name_, stored.name});
  auto sub = std::make_unique<Subscription>(std::move(key), options, *ledger_, Cursor(floor, acked));
  floors_.insert(sub->cursor().ack_floor());
  sub->cursor_writes().serial = next_serial_++;
  subscriptions_.emplace(stored.name, std::move(sub));
}

void Topic::cursor_changed(Subscription& sub) {
  if (persistence_ == nullptr || !sub.durable()) return;
  auto& w = sub.cursor_writes();
  if (w.in_flight) {
    w.dirty = true;
    return;
  }
  write_cursor(sub);
}

void Topic::write_cursor(Subscription& sub) {
  auto& w = sub.cursor_writes();
  w.in_flight = true;
  w.dirty = false;
  persistence_->put_cursor(name_, sub.name(), cursor_state(sub.cursor()),
                           [this, alive = std::weak_ptr<bool>(alive_), name = sub.name(), serial = w.serial](std::error_code) {
                             if (alive.expired()) return;
                             Subscription* s = subscription(name);
                             if (s == nullptr || s->cursor_writes().serial != serial) return;
                             s->cursor_writes().in_flight = false;
                             // After a failure too: the latest state is written with the next change.
                             if (s->cursor_writes().dirty) write_cursor(*s);
                           });
}

void Topic::remove(Subscriptions::iterator it) {
  if (persistence_ != nullptr && it->second->durable()) persistence_->delete_subscription(name_, it->first, {});
  floors_.erase(floors_.find(it->second->cursor().ack_floor()));
  subscriptions_.erase(it);
  trim();
}

void Topic::trim() {
  ledger_->trim_before(floors_.empty() ? ledger_->end() : *floors_.begin());
}

}  // namespace mop::broker
