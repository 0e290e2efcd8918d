#include "broker/topic.hpp"

namespace mop::broker {

Topic::Topic(service::TopicName name, std::unique_ptr<Ledger> ledger, UnreadHook on_unread)
    : name_(std::move(name)), ledger_(std::move(ledger)), on_unread_(std::move(on_unread)) {}

void Topic::publish(MessagePtr message, AppendCallback done) {
  // `this` outlives the append: the topic owns the ledger, and a ledger drops its pending
  // completions when it is destroyed.
  ledger_->append(std::move(message), [this, done = std::move(done)](std::error_code ec, MessageId id) {
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
  if (!sub.ack(id)) return;
  floors_.erase(floors_.find(before));
  floors_.insert(sub.cursor().ack_floor());
  trim();
}

void Topic::ack_cumulative(const std::string& name, MessageId id) {
  const auto it = subscriptions_.find(name);
  if (it == subscriptions_.end()) return;
  Subscription& sub = *it->second;
  const MessageId before = sub.cursor().ack_floor();
  if (!sub.ack_cumulative(id)) return;
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

void Topic::remove(Subscriptions::iterator it) {
  floors_.erase(floors_.find(it->second->cursor().ack_floor()));
  subscriptions_.erase(it);
  trim();
}

void Topic::trim() {
  ledger_->trim_before(floors_.empty() ? ledger_->end() : *floors_.begin());
}

}  // namespace mop::broker
