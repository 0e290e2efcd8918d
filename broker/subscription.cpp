#include "broker/subscription.hpp"

#include <algorithm>
#include <bit>
#include <functional>

namespace mop::broker {

Subscription::Subscription(std::shared_ptr<const SubscriptionKey> key, const SubscriptionOptions& options,
                           const Ledger& ledger, Cursor cursor)
    : key_(std::move(key)), type_(options.type), durable_(options.durable), ledger_(ledger), cursor_(cursor) {}

Subscription::~Subscription() {
  for (auto& a : attachments_) a->receiver->removed(*a, key_);
}

Subscription::Attachments::const_iterator Subscription::find(const Receiver& receiver) const {
  return std::find_if(attachments_.begin(), attachments_.end(),
                      [&](const auto& a) { return a->receiver == &receiver; });
}

Result<void> Subscription::attach(Receiver& receiver, bool acks_on_dispatch) {
  if (find(receiver) != attachments_.end()) return {};
  if (type_ == SubscriptionType::exclusive && !attachments_.empty()) return service::ServiceError::consumer_busy;
  auto a = std::make_unique<Attachment>();
  a->subscription = this;
  a->receiver = &receiver;
  a->acks_on_dispatch = acks_on_dispatch;
  receiver.attached(*a);
  attachments_.push_back(std::move(a));
  return {};
}

bool Subscription::stop_ack_on_dispatch(const Receiver& receiver) {
  const auto it = find(receiver);
  if (it == attachments_.end()) return false;
  (*it)->acks_on_dispatch = false;
  return true;
}

bool Subscription::detach(Receiver& receiver) {
  const auto it = find(receiver);
  if (it == attachments_.end()) return false;
  Attachment* gone = it->get();
  // Scanning the outstanding map is O(in flight) once per detach, which buys one map node per
  // delivery instead of two on the hot path.
  for (auto o = outstanding_.begin(); o != outstanding_.end();) {
    if (o->second.holder == gone) {
      replay_.insert(o->first);
      ++redeliveries_[o->first];
      o = outstanding_.erase(o);
    } else {
      ++o;
    }
  }
  receiver.detached(*gone);
  attachments_.erase(it);
  return true;
}

bool Subscription::ack(MessageId id) {
  const std::int32_t index = id.batch;
  id.batch = -1;
  if (id.ledger != ledger_.ledger_id() || !(id < ledger_.end())) return false;
  if (index >= 0) {
    // One message of a batch entry: the entry stays out (with its holder) until all are acked.
    const auto e = ledger_.read(id);
    if (e && e->message && e->message->batch && e->message->batch->count > 1) {
      const auto count = e->message->batch->count;
      if (static_cast<std::uint32_t>(index) >= count) return false;
      Cursor::BatchBits bits((count + 63) / 64, 0);
      bits[static_cast<std::size_t>(index) / 64] |= std::uint64_t{1} << (index % 64);
      return ack_indexes(id, bits);
    }
  }
  outstanding_.erase(id);
  replay_.erase(id);
  redeliveries_.erase(id);
  return cursor_.ack(id);
}

bool Subscription::ack_indexes(MessageId id, const Cursor::BatchBits& indexes) {
  id.batch = -1;
  if (id.ledger != ledger_.ledger_id() || !(id < ledger_.end())) return false;
  const auto e = ledger_.read(id);
  if (!e || !e->message) return false;
  const bool moved = cursor_.ack_indexes(id, service::message_count(*e->message), indexes);
  if (cursor_.is_acked(id)) {
    outstanding_.erase(id);
    replay_.erase(id);
    redeliveries_.erase(id);
  }
  return moved;
}

bool Subscription::ack_cumulative(MessageId id) {
  id.batch = -1;
  const MessageId end = ledger_.end();
  if (id.ledger != ledger_.ledger_id() || end.entry == 0) return false;
  if (!(id < end)) id.entry = end.entry - 1;  // acknowledging past the end means "everything"
  // Entries are contiguous in one ledger, so walking from the floor visits exactly the range.
  bool moved = false;
  for (MessageId e = cursor_.ack_floor(); !(id < e); ++e.entry) moved = ack(e) || moved;
  return moved;
}

void Subscription::redeliver_unacked(const Receiver& receiver) {
  const auto it = find(receiver);
  if (it == attachments_.end()) return;
  const Attachment* holder = it->get();
  for (auto o = outstanding_.begin(); o != outstanding_.end();) {
    if (o->second.holder == holder) {
      replay_.insert(o->first);
      ++redeliveries_[o->first];
      o = outstanding_.erase(o);
    } else {
      ++o;
    }
  }
}

void Subscription::redeliver(const Receiver& receiver, const std::vector<MessageId>& ids) {
  const auto it = find(receiver);
  if (it == attachments_.end()) return;
  const Attachment* holder = it->get();
  for (MessageId id : ids) {
    id.batch = -1;
    const auto o = outstanding_.find(id);
    if (o == outstanding_.end() || o->second.holder != holder) continue;
    replay_.insert(id);
    ++redeliveries_[id];
    outstanding_.erase(o);
  }
}

void Subscription::seek(MessageId target) {
  const std::int32_t index = target.batch;
  target.batch = -1;
  const MessageId first = ledger_.first();
  const MessageId end = ledger_.end();
  if (target < first) target = first;
  if (end < target) target = end;
  outstanding_.clear();
  replay_.clear();
  redeliveries_.clear();
  cursor_ = Cursor(target);
  if (index > 0 && target < end) {
    // Into a batch: its messages before the index count as acknowledged.
    const auto e = ledger_.read(target);
    if (e && e->message && e->message->batch) {
      const auto count = e->message->batch->count;
      Cursor::BatchBits bits((count + 63) / 64, 0);
      for (std::uint32_t i = 0; i < count && i < static_cast<std::uint32_t>(index); ++i) bits[i / 64] |= std::uint64_t{1} << (i % 64);
      cursor_.ack_indexes(target, count, bits);
    }
  }
}

std::size_t Subscription::backlog() const {
  const auto end = ledger_.end().entry;
  const auto floor = cursor_.ack_floor().entry;
  return end > floor ? end - floor - cursor_.individually_acked().size() : 0;
}

std::size_t Subscription::unacked_count() const {
  std::size_t n = 0;
  for (const auto& [id, o] : outstanding_) {
    std::uint32_t acked = 0;
    if (const auto* bits = cursor_.batch_acked(id)) {
      for (const auto word : *bits) acked += static_cast<std::uint32_t>(std::popcount(word));
    }
    n += o.messages > acked ? o.messages - acked : 0;
  }
  return n;
}

std::optional<Subscription::Next> Subscription::peek() {
  while (!replay_.empty()) {
    if (auto e = ledger_.read(*replay_.begin())) return Next{std::move(*e), true};
    replay_.erase(replay_.begin());  // cannot happen while trimming respects the cursor floor
  }
  for (MessageId pos = cursor_.read_position(); pos < ledger_.end(); pos = Ledger::next(pos)) {
    // Entries acknowledged before they were dispatched (allowed, as in Pulsar) are skipped.
    if (cursor_.is_acked(pos)) {
      cursor_.set_read_position(Ledger::next(pos));
      continue;
    }
    if (auto e = ledger_.read(pos)) return Next{std::move(*e), false};
    cursor_.set_read_position(Ledger::next(pos));
  }
  return std::nullopt;
}

Attachment* Subscription::take_or_park(Attachment& a) {
  if (a.receiver->permits() > 0) return &a;
  a.receiver->park(a);
  return nullptr;
}

Attachment* Subscription::pick(const Entry& entry) {
  if (attachments_.empty()) return nullptr;
  switch (type_) {
    case SubscriptionType::exclusive:
    case SubscriptionType::failover:
      return take_or_park(*attachments_.front());
    case SubscriptionType::key_shared: {
      const auto& m = *entry.message;
      const std::string& key = m.ordering_key ? *m.ordering_key : m.producer_name;
      return take_or_park(*attachments_[std::hash<std::string>{}(key) % attachments_.size()]);
    }
    case SubscriptionType::shared: {
      const auto n = attachments_.size();
      for (std::size_t i = 0; i < n; ++i) {
        const auto idx = (round_robin_ + i) % n;
        if (attachments_[idx]->receiver->permits() > 0) {
          round_robin_ = idx + 1;
          return attachments_[idx].get();
        }
      }
      for (auto& a : attachments_) a->receiver->park(*a);
      return nullptr;
    }
  }
  return nullptr;
}

bool Subscription::park_if_no_permits() {
  for (const auto& a : attachments_) {
    if (a->receiver->permits() > 0) return false;
  }
  // Whichever receiver gets permits first resumes this subscription (Receiver::flow); pick()
  // then parks the one the message is for, when that is another (key_shared).
  for (auto& a : attachments_) a->receiver->park(*a);
  return true;
}

bool Subscription::dispatch_one() {
  if (attachments_.empty()) return false;  // an offline subscription keeps its backlog
  // No receiver has a permit: nothing can go out, so the next message is not read. Topic calls
  // dispatch() for every entry the store confirms; a subscription behind the ledger's tail cache
  // read the store each time (and the ledger's one read-ahead window, which the other
  // subscriptions' reads replace, rarely helped), so after a slow group commit the broker's
  // thread spent its time re-reading the backlog for subscriptions that could not take it
  // (README.md, "A burst after a slow group commit").
  if (!has_pending() || park_if_no_permits()) return false;
  auto next = peek();
  if (!next) return false;
  Attachment* a = pick(next->entry);
  if (a == nullptr) return false;
  const MessageId id = next->entry.id;
  if (next->from_replay) {
    replay_.erase(replay_.begin());
  } else {
    cursor_.set_read_position(Ledger::next(id));
  }
  const std::uint32_t messages = next->entry.message ? service::message_count(*next->entry.message) : 1;
  msg_out_ += messages;  // messages, as Pulsar
  bytes_out_ += next->entry.message ? next->entry.message->payload.size() : 0;
  std::uint32_t redelivered = 0;
  if (!redeliveries_.empty()) {
    if (const auto r = redeliveries_.find(id); r != redeliveries_.end()) {
      redelivered = r->second;
      if (a->acks_on_dispatch) redeliveries_.erase(r);
    }
  }
  if (!a->acks_on_dispatch) {
    outstanding_.emplace(id, Outstanding{a, messages});
    a->receiver->deliver(key_, next->entry, redelivered);
    return true;
  }
  // Acknowledged as it goes out: no outstanding_ entry to insert now and erase at the ack.
  const MessageId floor_before = cursor_.ack_floor();
  cursor_.ack(id);
  a->receiver->deliver(key_, next->entry, redelivered);
  if (owner_ != nullptr) owner_->acked_on_dispatch(*this, floor_before);
  return true;
}

void Subscription::dispatch() {
  while (dispatch_one()) {
  }
}

}  // namespace mop::broker
