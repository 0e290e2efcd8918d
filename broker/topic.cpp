#include "broker/topic.hpp"

#include <algorithm>
#include <cassert>

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
  for (const auto& [id, bits] : cursor.partly_acked()) out.batch_acked.emplace_back(id.entry, bits);
  return out;
}

Topic::Topic(service::TopicName name, std::unique_ptr<Ledger> ledger, UnreadHook on_unread, Persistence* persistence)
    : name_(std::move(name)), ledger_(std::move(ledger)), on_unread_(std::move(on_unread)), persistence_(persistence) {}

Topic::~Topic() {
  if (meter_ != nullptr) meter_->remove(appending_bytes_);
}

void Topic::publish(MessagePtr message, AppendCallback done) {
  if (policies_.backlog_quota_bytes >= 0 &&
      policies_.backlog_policy == TopicPolicies::BacklogPolicy::producer_exception &&
      backlog_bytes() >= static_cast<std::uint64_t>(policies_.backlog_quota_bytes)) {
    if (done) done(service::ServiceError::backlog_quota_exceeded, {});
    return;
  }
  const auto size = static_cast<std::uint32_t>(message ? message->payload.size() : 0);
  if (meter_ != nullptr) {
    appending_bytes_ += size;
    meter_->add(size);
  }
  // `this` outlives the append: the topic owns the ledger, and a ledger drops its pending
  // completions when it is destroyed.
  // A batch entry counts its messages in msgIn, as Pulsar counts them.
  const std::uint32_t count = message ? service::message_count(*message) : 1;
  const std::uint64_t publish = first_publishing_ + publishing_.size();
  publishing_.emplace_back(std::move(done));
  ledger_->append(std::move(message), [this, size, count, publish](std::error_code ec, MessageId id) {
    if (meter_ != nullptr) {
      assert(appending_bytes_ >= size);
      appending_bytes_ -= size;
      meter_->remove(size);
    }
    AppendCallback done;
    if (publish >= first_publishing_) {  // else taken by take_pending_publishes
      auto& slot = publishing_[publish - first_publishing_];
      done = std::move(*slot);
      slot.reset();
      while (!publishing_.empty() && !publishing_.front()) {
        publishing_.pop_front();
        ++first_publishing_;
      }
    }
    if (!ec) {
      msg_in_ += count;
      bytes_in_ += size;
      sizes_.push_back(size);
      stored_bytes_ += size;
      if (subscriptions_.empty()) sync_min_floor();  // nobody needs it: it counts as acknowledged
    }
    if (done) done(ec, id);
    if (ec) return;
    if (subscriptions_.empty()) {
      if (on_unread_) on_unread_(*this);
      return;
    }
    for (auto& [_, sub] : subscriptions_) sub->dispatch();
    if (policies_.backlog_quota_bytes >= 0 &&
        policies_.backlog_policy == TopicPolicies::BacklogPolicy::consumer_backlog_eviction) {
      evict_backlog();
    }
  });
}

std::vector<AppendCallback> Topic::take_pending_publishes() {
  std::vector<AppendCallback> out;
  out.reserve(publishing_.size());
  for (auto& slot : publishing_) {
    if (slot) out.push_back(std::move(*slot));
  }
  first_publishing_ += publishing_.size();
  publishing_.clear();
  return out;
}

std::pair<Subscription*, bool> Topic::create_subscription(const std::string& name, const SubscriptionOptions& options,
                                                         MessageId start) {
  if (const auto it = subscriptions_.find(name); it != subscriptions_.end()) return {it->second.get(), false};
  if (start < ledger_->first()) start = ledger_->first();
  if (ledger_->end() < start) start = ledger_->end();
  auto key = std::make_shared<const SubscriptionKey>(SubscriptionKey{name_, name});
  auto sub = std::make_unique<Subscription>(std::move(key), options, *ledger_, Cursor(start));
  sub->set_owner(this);
  sub->cursor_writes().serial = next_serial_++;
  if (persistence_ != nullptr && sub->durable()) {
    persistence_->put_subscription(name_, name, sub->type(), cursor_state(sub->cursor()), {});
  }
  Subscription* out = subscriptions_.emplace(name, std::move(sub)).first->second.get();
  floor_added(out->cursor().ack_floor());
  sync_min_floor();
  return {out, true};
}

Result<Subscription*> Topic::subscribe(const std::string& name, const SubscriptionOptions& options,
                                       Receiver& receiver) {
  const MessageId start =
      options.initial_position == service::InitialPosition::earliest ? ledger_->first() : ledger_->end();
  Subscription& sub = *create_subscription(name, options, start).first;
  if (auto r = sub.attach(receiver, options.ack_on_dispatch); !r.ok()) return r.error();
  sub.dispatch();
  return &sub;
}

void Topic::stop_ack_on_dispatch(const std::string& name, const Receiver& receiver) {
  if (Subscription* sub = subscription(name)) sub->stop_ack_on_dispatch(receiver);
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
  if (moved && floor_moved(before, sub.cursor().ack_floor())) trim();
}

void Topic::ack_cumulative(const std::string& name, MessageId id) {
  const auto it = subscriptions_.find(name);
  if (it == subscriptions_.end()) return;
  Subscription& sub = *it->second;
  const MessageId before = sub.cursor().ack_floor();
  const bool moved = sub.ack_cumulative(id);
  cursor_changed(sub);
  if (moved && floor_moved(before, sub.cursor().ack_floor())) trim();
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
  floor_moved(before, sub.cursor().ack_floor());
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
  MessageId last{end.ledger, end.entry - 1, -1};
  // A batch entry's last message is its last index, as Pulsar answers GET_LAST_MESSAGE_ID.
  if (const auto e = ledger_->read(last); e && e->message && e->message->batch) {
    last.batch = static_cast<std::int32_t>(e->message->batch->count) - 1;
  }
  return last;
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
  Cursor cursor(floor, acked);
  for (const auto& [entry, bits] : stored.cursor.batch_acked) {
    const MessageId id{floor.ledger, entry, -1};
    if (!(id < ledger_->end())) continue;
    if (const auto e = ledger_->read(id); e && e->message) cursor.ack_indexes(id, service::message_count(*e->message), bits);
  }
  auto sub = std::make_unique<Subscription>(std::move(key), options, *ledger_, std::move(cursor));
  sub->set_owner(this);
  sub->cursor_writes().serial = next_serial_++;
  const MessageId restored_floor = sub->cursor().ack_floor();
  subscriptions_.emplace(stored.name, std::move(sub));
  floor_added(restored_floor);
  sync_min_floor();
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
  const MessageId floor = it->second->cursor().ack_floor();
  // What it delivered stays counted in the topic's out counters.
  removed_msg_out_ += it->second->msg_out_counter();
  removed_bytes_out_ += it->second->bytes_out_counter();
  subscriptions_.erase(it);
  floor_removed(floor);
  trim();
}

void Topic::trim() {
  sync_min_floor();
  MessageId target = min_floor();
  const MessageId first = ledger_->first();
  if (!(first < target)) return;
  if (policies_.retains()) {
    // Acknowledged entries within retention stay: walk from the oldest while it may go.
    const std::uint64_t now = clock_ != nullptr ? clock_->wall_ms() : 0;
    std::uint64_t acked = acked_bytes_;
    MessageId pos = first;
    while (pos < target) {
      const bool by_size = policies_.retention_size_bytes < 0 ||
                           (policies_.retention_size_bytes > 0 &&
                            acked <= static_cast<std::uint64_t>(policies_.retention_size_bytes));
      bool by_time = policies_.retention_time_ms < 0;
      if (policies_.retention_time_ms > 0) {
        const auto e = ledger_->read(pos);
        by_time = e && e->message &&
                  now <= e->message->publish_time_ms + static_cast<std::uint64_t>(policies_.retention_time_ms);
      }
      if (by_size && by_time) break;
      acked -= sizes_[pos.entry - first.entry];
      pos = Ledger::next(pos);
    }
    target = pos;
  }
  for (std::uint64_t e = first.entry; e < target.entry && !sizes_.empty(); ++e) {
    // Trimmed entries are stored and acknowledged by every subscription: counted in both.
    assert(acked_bytes_ >= sizes_.front() && stored_bytes_ >= acked_bytes_);
    stored_bytes_ -= sizes_.front();
    acked_bytes_ -= sizes_.front();
    sizes_.pop_front();
  }
  ledger_->trim_before(target);
}

std::uint64_t Topic::msg_out_counter() const {
  std::uint64_t n = removed_msg_out_;
  for (const auto& [_, sub] : subscriptions_) n += sub->msg_out_counter();
  return n;
}

std::uint64_t Topic::bytes_out_counter() const {
  std::uint64_t n = removed_bytes_out_;
  for (const auto& [_, sub] : subscriptions_) n += sub->bytes_out_counter();
  return n;
}

void Topic::set_policies(const TopicPolicies& policies, const Clock* clock) {
  policies_ = policies;
  clock_ = clock;
  sizes_.clear();
  stored_bytes_ = 0;
  acked_bytes_ = 0;
  counted_floor_ = ledger_->first();
  // Entries stored before (a restored topic): read once for their sizes.
  for (MessageId id = ledger_->first(); id < ledger_->end(); id = Ledger::next(id)) {
    const auto e = ledger_->read(id);
    const auto size = static_cast<std::uint32_t>(e && e->message ? e->message->payload.size() : 0);
    sizes_.push_back(size);
    stored_bytes_ += size;
  }
  sync_min_floor();
}

void Topic::change_policies(const TopicPolicies& policies) {
  policies_ = policies;
  trim();
}

std::uint64_t Topic::bytes_between(std::uint64_t from, std::uint64_t to) const {
  const std::uint64_t first = ledger_->first().entry;
  std::uint64_t sum = 0;
  for (std::uint64_t e = std::max(from, first); e < to && e - first < sizes_.size(); ++e) sum += sizes_[e - first];
  return sum;
}

void Topic::acked_on_dispatch(Subscription& sub, MessageId floor_before) {
  cursor_changed(sub);
  if (floor_moved(floor_before, sub.cursor().ack_floor())) trim();
}

bool Topic::floor_moved(MessageId before, MessageId after) {
  if (before == after) return false;
  const MessageId min_before = min_floor_;
  if (after < min_floor_) {  // moved back (a seek) below every other floor
    min_floor_ = after;
    at_min_floor_ = 1;
  } else {
    if (after == min_floor_) ++at_min_floor_;
    assert(!(before < min_floor_) && "a floor below the minimum floor");
    if (before == min_floor_) {
      assert(at_min_floor_ > 0);
      if (--at_min_floor_ == 0) rescan_min_floor();
    }
  }
  return min_floor_ != min_before;
}

void Topic::floor_added(MessageId floor) {
  if (at_min_floor_ == 0 || floor < min_floor_) {
    min_floor_ = floor;
    at_min_floor_ = 1;
  } else if (floor == min_floor_) {
    ++at_min_floor_;
  }
}

void Topic::floor_removed(MessageId floor) {
  if (floor != min_floor_) return;
  assert(at_min_floor_ > 0);
  if (--at_min_floor_ == 0) rescan_min_floor();
}

void Topic::rescan_min_floor() {
  at_min_floor_ = 0;
  for (const auto& [_, s] : subscriptions_) floor_added(s->cursor().ack_floor());
}

void Topic::sync_min_floor() {
  const MessageId first = ledger_->first();
  MessageId now = min_floor();
  MessageId before = counted_floor_;
  if (now < first) now = first;
  if (before < first) before = first;
  if (before < now) {
    acked_bytes_ += bytes_between(before.entry, now.entry);
  } else if (now < before) {
    assert(acked_bytes_ >= bytes_between(now.entry, before.entry));
    acked_bytes_ -= bytes_between(now.entry, before.entry);
  }
  counted_floor_ = now;
  assert(acked_bytes_ <= stored_bytes_ && "more bytes acknowledged than stored");
}

std::uint64_t Topic::backlog_bytes() const {
  return subscriptions_.empty() ? 0 : stored_bytes_ - acked_bytes_;
}

void Topic::evict_backlog() {
  const auto quota = static_cast<std::uint64_t>(policies_.backlog_quota_bytes);
  bool evicted = false;
  while (!subscriptions_.empty() && backlog_bytes() > quota) {
    // The slowest subscription: the one whose floor is the minimum (a scan of this topic's
    // subscriptions, only while over quota).
    const MessageId slowest = min_floor_;
    Subscription* sub = nullptr;
    for (auto& [_, s] : subscriptions_) {
      if (s->cursor().ack_floor() == slowest) {
        sub = s.get();
        break;
      }
    }
    if (sub == nullptr || !(slowest < ledger_->end())) break;
    sub->ack(slowest);  // its oldest unacknowledged entry counts as acknowledged
    floor_moved(slowest, sub->cursor().ack_floor());
    cursor_changed(*sub);
    sync_min_floor();
    evicted = true;
  }
  if (evicted) trim();
}

void Topic::expire() {
  if (policies_.ttl_ms > 0 && clock_ != nullptr) {
    const std::uint64_t now = clock_->wall_ms();
    for (auto& [_, sub] : subscriptions_) {
      // From the floor while entries are older than the TTL (publish order is time order,
      // roughly; an entry stamped later stops the walk, as Pulsar's expiry does).
      std::optional<MessageId> last;
      for (MessageId pos = sub->cursor().ack_floor(); pos < ledger_->end(); pos = Ledger::next(pos)) {
        const auto e = ledger_->read(pos);
        if (!e || !e->message || e->message->publish_time_ms + policies_.ttl_ms > now) break;
        last = pos;
      }
      if (!last) continue;
      const MessageId before = sub->cursor().ack_floor();
      sub->ack_cumulative(*last);
      floor_moved(before, sub->cursor().ack_floor());
      cursor_changed(*sub);
    }
  }
  trim();
}

}  // namespace mop::broker
