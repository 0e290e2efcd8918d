#include "service/embedded_service.hpp"

#include <algorithm>

#include "core/log.hpp"
#include <vector>

namespace mop::service {

// Turns broker deliveries into ReceiverListener calls, run from the executor (never inline: the
// broker must not be re-entered). Deliveries queue per receiver and one posted task drains them,
// so a burst costs one executor task, not one per message; and a listener that returns its
// permit during on_message (QoS 0) has the next message delivered in the same task instead of
// behind everything else the executor has queued meanwhile, which let a slow-looking subscriber
// fall ever further behind its publishers. A drain hands over (posts itself again, behind the
// sockets' turn) after its share of kRoundBudget: the receivers with a drain posted share that
// budget, each taking at least kMinDrainShare, so one round of the executor's queue runs at most
// max(kRoundBudget, kMinDrainShare x busy receivers) deliveries before the sockets are polled
// again. (A budget of 65,536 per receiver let 100 subscribers catching up on a backlog run 6.5
// million deliveries between two polls: seconds in which no publisher was read, no keep-alive
// answered; README.md, "A round of deliveries".) Deliveries still queued when the receiver
// closes are dropped: the broker has already put those messages back for redelivery.
class EmbeddedService::ReceiverSink final : public broker::DeliverySink {
public:
  ReceiverSink(EmbeddedService& service, ReceiverId id, ReceiverListener& listener)
      : service_(service), id_(id), listener_(listener), takes_batches_(listener.takes_batches()) {}

  std::uint32_t permits_for(const broker::Entry& entry) const override {
    return takes_batches_ || !entry.message ? 1 : message_count(*entry.message);
  }

  void deliver(const std::shared_ptr<const broker::SubscriptionKey>& key, const broker::Entry& entry,
               std::uint32_t redelivery_count) override {
    if (head_ == pending_.size()) {  // drained: reuse the storage from the start
      pending_.clear();
      head_ = 0;
    }
    pending_.push_back(Pending{key, entry, redelivery_count});
    if (!drain_posted_) {
      drain_posted_ = true;
      ++service_.draining_;
      service_.post([&service = service_, id = id_] { drain(service, id); });
    }
  }

  ~ReceiverSink() override {
    if (drain_posted_) --service_.draining_;  // its posted drain finds no receiver
  }

  void subscription_removed(const std::shared_ptr<const broker::SubscriptionKey>& key) override {
    // After the deliveries already queued for it (the executor runs tasks in order).
    if (service_.closing_) return;
    service_.post([&service = service_, id = id_, key] {
      const auto it = service.receivers_.find(id);
      if (it != service.receivers_.end()) it->second->listener_.on_subscription_removed(key->topic, key->name);
    });
  }

private:
  // Deliveries per round of the executor's queue, over every receiver (above). A drain's share
  // is never below kMinDrainShare: smaller shares (128) halved the deliveries per second of a
  // steady fan-out to 100 subscribers, since each switch to another subscriber behind the tail
  // cache costs a store read (storage/StoreLedger keeps one read-ahead window).
  static constexpr std::size_t kRoundBudget = 65536;
  static constexpr std::size_t kMinDrainShare = 4096;

  struct Pending {
    std::shared_ptr<const broker::SubscriptionKey> key;
    broker::Entry entry;
    std::uint32_t redelivery_count;
  };

  // Static and by id: a listener may close its receiver (destroying this sink) from on_message.
  static void drain(EmbeddedService& service, ReceiverId id) {
    const std::size_t share = std::max(kMinDrainShare, kRoundBudget / std::max<std::size_t>(service.draining_, 1));
    for (std::size_t n = 0;; ++n) {
      const auto it = service.receivers_.find(id);
      if (it == service.receivers_.end()) return;
      ReceiverSink& sink = *it->second;
      if (sink.head_ == sink.pending_.size()) {
        sink.drain_posted_ = false;
        --service.draining_;
        sink.release();
        return;
      }
      if (n == share) {  // still drain_posted_: the follow-up task is the one posted here
        sink.pending_.erase(sink.pending_.begin(), sink.pending_.begin() + static_cast<std::ptrdiff_t>(sink.head_));
        sink.head_ = 0;  // what was delivered goes; the vector does not grow while never empty
        service.post([&service, id] { drain(service, id); });
        return;
      }
      Pending d = std::move(sink.pending_[sink.head_++]);
      if (!sink.takes_batches_ && d.entry.message && d.entry.message->batch) {
        unpack(service, id, d);
        continue;
      }
      sink.listener_.on_message(d.key->topic, d.key->name, d.entry.id, d.entry.message, d.redelivery_count);
    }
  }

  // A batch entry for a receiver that takes messages one by one: each message not yet
  // acknowledged, in index order, with id (ledger, entry, index). The entry cost one permit per
  // message; those skipped (acknowledged before) are given back. An entry that does not unpack
  // (no unpacker, or a malformed batch) is logged and acknowledged whole, so that it cannot
  // block the subscription, and its permits are given back.
  static void unpack(EmbeddedService& service, ReceiverId id, const Pending& d) {
    const Message& batch = *d.entry.message;
    const auto count = message_count(batch);
    Result<std::vector<MessagePtr>> messages =
        service.unpacker_ ? service.unpacker_(batch)
                          : Result<std::vector<MessagePtr>>(std::make_error_code(std::errc::not_supported));
    if (!messages.ok() || messages->size() != count) {
      service.logger_error(d.key->topic, d.entry.id,
                           messages.ok() ? std::string("message count differs from the batch's") : messages.error().message());
      service.broker_.ack(d.key->topic, d.key->name, d.entry.id);
      service.broker_.flow(id, count);
      return;
    }
    const auto acked = service.acked_batch_indexes(d.key->topic, d.key->name, d.entry.id);
    std::uint32_t skipped = 0;
    for (std::uint32_t i = 0; i < count; ++i) {
      if (i / 64 < acked.size() && (acked[i / 64] >> (i % 64)) & 1) {
        ++skipped;
        continue;
      }
      const auto it = service.receivers_.find(id);
      if (it == service.receivers_.end()) return;  // closed by the listener meanwhile
      MessageId mid = d.entry.id;
      mid.batch = static_cast<std::int32_t>(i);
      it->second->listener_.on_message(d.key->topic, d.key->name, mid, (*messages)[i], d.redelivery_count);
    }
    if (skipped != 0 && service.receivers_.contains(id)) service.broker_.flow(id, skipped);
  }

  EmbeddedService& service_;
  ReceiverId id_;
  ReceiverListener& listener_;
  const bool takes_batches_;
  // Drained from pending_[head_]. A vector, not a deque: an empty std::deque allocates about
  // 600 bytes up front, which every idle MQTT connection would pay.
  void release() {
    pending_.clear();
    head_ = 0;
    if (pending_.capacity() > 1024) pending_.shrink_to_fit();  // after a burst
  }
  std::vector<Pending> pending_;
  std::size_t head_ = 0;
  bool drain_posted_ = false;
};

EmbeddedService::EmbeddedService(Executor& executor, Clock& clock) : EmbeddedService(executor, clock, {}) {}

EmbeddedService::EmbeddedService(Executor& executor, Clock& clock, broker::Broker::LedgerFactory ledgers,
                                 broker::Persistence* persistence)
    : executor_(executor), clock_(clock), broker_(executor, std::move(ledgers), persistence), persistence_(persistence) {
  broker_.set_topic_created_hook([this](const TopicName& topic) { topic_created(topic); });
}

// Tasks still queued on the executor see alive_ expired and do nothing.
EmbeddedService::~EmbeddedService() { closing_ = true; }

template <typename F>
void EmbeddedService::post(F&& task) {
  executor_.post([alive = std::weak_ptr<bool>(alive_), task = std::forward<F>(task)]() mutable {
    if (!alive.expired()) task();
  });
}

void EmbeddedService::publish(const TopicName& topic, MessagePtr message, PublishCallback done) {
  if (message && message->publish_time_ms == 0) {
    // The caller did not stamp it. A shallow copy: the payload buffer is shared, not copied.
    auto stamped = std::make_shared<Message>(*message);
    stamped->publish_time_ms = clock_.wall_ms();
    message = std::move(stamped);
  }
  if (!message) {
    post([done = std::move(done)] {
      if (done) done(std::make_error_code(std::errc::invalid_argument), {});
    });
    return;
  }
  // A completion that runs inside this call (a ledger with nothing to wait for, or a refusal) is
  // posted: the caller must not be re-entered. One that runs later already runs on the executor,
  // from the store's completion task (StoreLedger), and is called there: posting it again would
  // cost every acknowledged publish one more executor turn for nothing.
  ++publishing_;
  broker_.publish(topic, std::move(message),
                  [this, done = std::move(done)](std::error_code ec, MessageId id) mutable {
                    if (!done) return;
                    if (publishing_ > 0) {
                      post([done = std::move(done), ec, id] { done(ec, id); });
                    } else {
                      done(ec, id);
                    }
                  });
  --publishing_;
}

ReceiverId EmbeddedService::open_receiver(ReceiverListener& listener) {
  const ReceiverId id = next_receiver_++;
  auto sink = std::make_unique<ReceiverSink>(*this, id, listener);
  broker_.open_receiver(id, *sink);
  receivers_.emplace(id, std::move(sink));
  return id;
}

void EmbeddedService::flow(ReceiverId receiver, std::uint32_t permits) { broker_.flow(receiver, permits); }

void EmbeddedService::pause(ReceiverId receiver) { broker_.pause(receiver); }

void EmbeddedService::close_receiver(ReceiverId receiver) {
  broker_.close_receiver(receiver);
  receivers_.erase(receiver);
}

Result<void> EmbeddedService::subscribe(const TopicName& topic, const std::string& subscription,
                                        const SubscriptionOptions& opts, ReceiverId receiver, SubscribeReady ready) {
  auto r = broker_.subscribe(topic, subscription, opts, receiver);
  // The broker made it in this call: ready at once.
  if (r.ok() && ready) post([ready = std::move(ready)] { ready({}); });
  return r;
}

void EmbeddedService::stop_ack_on_dispatch(const TopicName& topic, const std::string& subscription,
                                           ReceiverId receiver) {
  broker_.stop_ack_on_dispatch(topic, subscription, receiver);
}

void EmbeddedService::detach(const TopicName& topic, const std::string& subscription, ReceiverId receiver) {
  broker_.detach(topic, subscription, receiver);
}

void EmbeddedService::unsubscribe(const TopicName& topic, const std::string& subscription) {
  broker_.unsubscribe(topic, subscription);
}

void EmbeddedService::ack(const TopicName& topic, const std::string& subscription, MessageId id) {
  broker_.ack(topic, subscription, id);
}

void EmbeddedService::ack_cumulative(const TopicName& topic, const std::string& subscription, MessageId id) {
  broker_.ack_cumulative(topic, subscription, id);
}

void EmbeddedService::redeliver_unacked(const TopicName& topic, const std::string& subscription,
                                        ReceiverId receiver) {
  broker_.redeliver_unacked(topic, subscription, receiver);
}

void EmbeddedService::redeliver(const TopicName& topic, const std::string& subscription, ReceiverId receiver,
                                const std::vector<MessageId>& ids) {
  broker_.redeliver(topic, subscription, receiver, ids);
}

void EmbeddedService::seek(const TopicName& topic, const std::string& subscription, MessageId target) {
  broker_.seek(topic, subscription, target);
}

void EmbeddedService::seek_time(const TopicName& topic, const std::string& subscription,
                                std::uint64_t publish_time_ms) {
  broker_.seek_time(topic, subscription, publish_time_ms);
}

std::vector<std::uint64_t> EmbeddedService::acked_batch_indexes(const TopicName& topic, const std::string& subscription,
                                                                MessageId id) {
  auto* t = broker_.find_topic(topic);
  auto* sub = t == nullptr ? nullptr : t->subscription(subscription);
  if (sub == nullptr) return {};
  const auto* bits = sub->cursor().batch_acked(id);
  return bits == nullptr ? std::vector<std::uint64_t>{} : *bits;
}

void EmbeddedService::logger_error(const TopicName& topic, MessageId id, const std::string& why) {
  log::get("service")->error("{} entry {}: the batch does not unpack ({}); acknowledged whole", topic.str(),
                             id.to_string(), why);
}

bool EmbeddedService::topic_exists(const TopicName& topic) { return broker_.find_topic(topic) != nullptr; }

std::optional<MessageId> EmbeddedService::last_message_id(const TopicName& topic) {
  const auto* t = broker_.find_topic(topic);
  return t == nullptr ? std::nullopt : t->last_message_id();
}

bool EmbeddedService::has_subscriptions(const TopicName& topic) {
  const auto* t = broker_.find_topic(topic);
  return t != nullptr && t->subscription_count() > 0;
}

std::vector<TopicName> EmbeddedService::list_topics(const NamespaceName& ns) { return broker_.list_topics(ns); }

void EmbeddedService::watch_topics(const NamespaceName& ns, TopicListener& listener) {
  auto& list = watchers_[ns];
  if (std::find(list.begin(), list.end(), &listener) == list.end()) list.push_back(&listener);
}

void EmbeddedService::unwatch_topics(const NamespaceName& ns, TopicListener& listener) {
  const auto it = watchers_.find(ns);
  if (it == watchers_.end()) return;
  std::erase(it->second, &listener);
  if (it->second.empty()) watchers_.erase(it);
}

bool EmbeddedService::watching(const NamespaceName& ns, const TopicListener* listener) const {
  const auto it = watchers_.find(ns);
  return it != watchers_.end() && std::find(it->second.begin(), it->second.end(), listener) != it->second.end();
}

void EmbeddedService::topic_created(const TopicName& topic) {
  // Runs inside the broker call that created the topic, before its first entry is appended, so
  // these notifications are queued ahead of every delivery and trim the topic will cause.
  const auto it = watchers_.find(topic.namespace_name());
  if (it == watchers_.end()) return;
  for (TopicListener* listener : it->second) {
    post([this, listener, topic] {
      // Unwatched (and perhaps destroyed) since: say nothing.
      if (watching(topic.namespace_name(), listener)) listener->on_topic_created(topic);
    });
  }
}

void EmbeddedService::set_retained(const TopicName& topic, MessagePtr message,
                                   std::function<void(std::error_code)> done) {
  const bool clear = !message || message->payload.empty();
  if (persistence_ != nullptr && topic.persistent()) {
    // The completion waits for the disk; readers see the new state at once.
    auto finish = [alive = std::weak_ptr<bool>(alive_), done = std::move(done)](std::error_code ec) {
      if (!alive.expired() && done) done(ec);
    };
    if (clear) {
      persistence_->delete_retained(topic, std::move(finish));
    } else {
      persistence_->put_retained(topic, *message, std::move(finish));
    }
  } else if (done) {
    post([done = std::move(done)] { done({}); });
  }
  broker_.retained().set(topic, std::move(message));
}

std::vector<std::pair<TopicName, MessagePtr>> EmbeddedService::retained(
    const NamespaceName& ns, const std::function<bool(const TopicName&)>& match) {
  return broker_.retained().match(ns, match);
}

std::vector<ProducerSequenceRecord> EmbeddedService::load_producer_sequences() { return producer_sequences_; }

Result<void, Error> EmbeddedService::restore() {
  if (persistence_ == nullptr) return {};
  broker::Persistence::Restored restored;
  if (auto loaded = persistence_->load(restored); !loaded.ok()) return loaded;
  broker_.restore(restored.topics);
  for (auto& [topic, message] : restored.retained) broker_.retained().set(topic, std::move(message));
  producer_sequences_ = std::move(restored.producer_sequences);
  return {};
}

void EmbeddedService::set_publish_pressure_listener(std::size_t limit_bytes, std::function<void(bool)> listener) {
  broker_.publish_meter().configure(limit_bytes, std::move(listener));
}

}  // namespace mop::service
