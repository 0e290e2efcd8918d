#include "cluster/cluster_service.hpp"

#include "cluster/cluster_session_store.hpp"

#include <algorithm>
#include <limits>

#include <nlohmann/json.hpp>

#include "cluster/cluster_log.hpp"

namespace mop::cluster {

namespace pc = pulsar::client;
using service::MessageId;
using service::ReceiverId;
using service::TopicName;

namespace {

constexpr const char* kQosProperty = "__mqtt_qos";

pc::MessageId to_client(const MessageId& id) {
  pc::MessageId out;
  out.ledger = id.ledger;
  out.entry = id.entry;
  out.batch_index = id.batch;
  return out;
}

MessageId from_client(const pc::MessageId& id) { return MessageId{id.ledger, id.entry, id.batch_index}; }

std::error_code to_service_error(const Error& e) {
  if (const auto server = pc::server_error_of(e.code)) {
    switch (*server) {
      case pulsar::proto::ConsumerBusy:
        return service::ServiceError::consumer_busy;
      case pulsar::proto::TopicNotFound:
        return service::ServiceError::topic_not_found;
      case pulsar::proto::SubscriptionNotFound:
        return service::ServiceError::subscription_not_found;
      case pulsar::proto::ProducerBlockedQuotaExceededError:
      case pulsar::proto::ProducerBlockedQuotaExceededException:
        return service::ServiceError::backlog_quota_exceeded;
      default:
        break;
    }
  }
  if (pc::is_retriable(e.code)) return service::ServiceError::service_not_ready;
  return service::ServiceError::persistence_error;
}

service::MessagePtr to_service_message(const pc::Message& m) {
  auto out = std::make_shared<service::Message>();
  out->payload = Payload::copy_of(std::string_view(m.payload));
  out->publish_time_ms = m.publish_time;
  out->producer_name = m.producer_name;
  out->ordering_key = m.key;
  out->mqtt_qos = 1;  // messages of Pulsar producers count as QoS 1
  for (const auto& [k, v] : m.properties) {
    if (k == kQosProperty) {
      if (v == "0" || v == "1" || v == "2") out->mqtt_qos = static_cast<std::uint8_t>(v[0] - '0');
      continue;
    }
    out->properties.emplace_back(k, v);
  }
  return out;
}

// How often a named producer refused with ProducerBusy is created again (every topic_poll): the
// proxy holding the name closes it within 10 s of its last use.
constexpr int kBusyRetries = 40;
// A producer's own queue (pulsar::client's max_pending_messages): sends beyond it wait in the slot.
const std::size_t kProducerQueue = pc::ProducerConfig{}.max_pending_messages;
// Publishers are held back (the pressure listener) beyond this many sends waiting for receipts in
// all, and read again below half of it, whatever their bytes.
const std::size_t kMaxPendingMessages = 4 * kProducerQueue;

// The ledger of a receipt naming no entry: Pulsar's answer to a send it deduplicated.
constexpr std::uint64_t kNoEntry = std::numeric_limits<std::uint64_t>::max();

pc::OutgoingMessage to_outgoing(const service::Message& m) {
  pc::OutgoingMessage out;
  out.payload = std::string(m.payload.view());
  out.key = m.ordering_key;
  out.publish_time = m.publish_time_ms;  // 0: now
  // Pulsar message properties are a map: of a repeated name (MQTT 5 user properties may repeat
  // one) the last value is kept.
  for (const auto& [k, v] : m.properties) out.properties[k] = v;
  out.properties[kQosProperty] = std::to_string(m.mqtt_qos);
  return out;
}

}  // namespace

std::string retained_topic(const std::string& ns) { return "persistent://" + ns + "/mqtt-retained"; }

// ---------------------------------------------------------------------------------------------

struct ClusterService::ProducerSlot {
  std::shared_ptr<pc::Producer> producer;
  bool creating = false;
  struct Pending {
    pc::OutgoingMessage message;
    std::size_t bytes = 0;
    std::function<void(Result<pc::MessageId, Error>)> done;
  };
  // Sends before the producer exists, behind a SUBSCRIBE of the topic on its way, or while the
  // producer already holds max_pending_messages (kProducerQueue) waiting for receipts.
  std::deque<Pending> waiting;
  bool named = false;           // a producer of a DedupMark's name (closed when idle)
  bool used = true;             // since the last close_idle_named_producers()
  std::string topic;
  std::string name;             // empty: the broker names it
  // A named producer refused with ProducerBusy (another proxy still has the name): created
  // again by retry_busy_producers(), at most kBusyRetries times.
  bool busy = false;
  int busy_retries = 0;
  // last_sequence_id() callers waiting for the producer to be created.
  std::vector<std::function<void(std::int64_t)>> sequence_waiters;
};

struct ClusterService::Binding {
  TopicName topic;
  std::string subscription;
  ReceiverId receiver = 0;
  service::SubscriptionOptions options;
  std::shared_ptr<pc::Consumer> consumer;
  bool closing = false;
  bool connecting = false;  // a SUBSCRIBE is on its way
  // Deliveries of this consumer waiting in the receiver's queue; at queue_size() of them the
  // consumer is paused (`held`: no more messages from the client, so no more FLOW permits to
  // the broker) until half of them have gone to the receiver.
  std::size_t queued = 0;
  bool held = false;
  // Acks and seeks asked for before the consumer exists, run once it does.
  std::vector<std::function<void(pc::Consumer&)>> waiting;
  // subscribe()'s ready callbacks, run once the consumer exists (or could not be made).
  std::vector<service::SubscribeReady> ready;
};

struct ClusterService::Receiver {
  service::ReceiverListener* listener = nullptr;
  std::uint32_t permits = 0;
  std::deque<Delivery> queue;
  bool drain_posted = false;
  bool paused = false;  // pause() until the next flow(): its consumers are paused too
};

ClusterService::ClusterService(Executor& executor, pc::Client& client, ClusterOptions options)
    : executor_(executor),
      client_(client),
      options_(std::move(options)),
      retained_(client, retained_topic(options_.system_namespace)) {}

ClusterService::~ClusterService() { *alive_ = false; }

void ClusterService::start(std::function<void(Result<void, Error>)> done) { retained_.open(std::move(done)); }

void ClusterService::shutdown(std::function<void()> done) {
  auto remaining = std::make_shared<std::size_t>(1);
  auto finish = [remaining, done] {
    if (--*remaining == 0) done();
  };
  for (auto& [topic, slot] : producers_) {
    if (!slot->producer) continue;
    ++*remaining;
    slot->producer->close([finish](auto) { finish(); });
  }
  for (auto& [key, b] : bindings_) {
    if (!b->consumer) continue;
    ++*remaining;
    b->consumer->close([finish](auto) { finish(); });
  }
  retained_.close();
  executor_.post(finish);
}

// --- publishing -------------------------------------------------------------------------------

void ClusterService::pressure(std::ptrdiff_t bytes, std::ptrdiff_t messages) {
  // Bytes and messages: a million small QoS 0 messages are few bytes but a million sends, and
  // each waits as an entry here or in a producer.
  pending_bytes_ = static_cast<std::size_t>(static_cast<std::ptrdiff_t>(pending_bytes_) + bytes);
  pending_messages_ = static_cast<std::size_t>(static_cast<std::ptrdiff_t>(pending_messages_) + messages);
  if (pressure_limit_ == 0 || !pressure_listener_) return;
  if (!over_ && (pending_bytes_ > pressure_limit_ || pending_messages_ > kMaxPendingMessages)) {
    over_ = true;
    pressure_listener_(true);
  } else if (over_ && pending_bytes_ <= pressure_limit_ / 2 && pending_messages_ <= kMaxPendingMessages / 2) {
    over_ = false;
    pressure_listener_(false);
  }
}

void ClusterService::send(const std::string& topic, pc::OutgoingMessage message, std::size_t bytes,
                          std::function<void(Result<pc::MessageId, Error>)> done, const std::string& producer_name) {
  const std::string key = producer_name.empty() ? topic : topic + '\n' + producer_name;
  auto& slot = producers_[key];
  if (!slot) {
    slot = std::make_unique<ProducerSlot>();
    slot->named = !producer_name.empty();
    slot->topic = topic;
    slot->name = producer_name;
  }
  slot->used = true;
  pressure(static_cast<std::ptrdiff_t>(bytes), 1);
  auto alive = alive_;
  auto finish = [this, alive, bytes, key, done = std::move(done)](Result<pc::MessageId, Error> r) {
    if (!*alive) return;
    pressure(-static_cast<std::ptrdiff_t>(bytes), -1);
    done(std::move(r));
    // A receipt makes room in the producer for what waits behind a full queue: sent from a task
    // of its own, not from inside the producer's receipt handling.
    if (auto it = producers_.find(key); it != producers_.end() && !it->second->waiting.empty() && it->second->producer) {
      executor_.post([this, alive, key] {
        if (*alive) release_sends(key);
      });
    }
  };
  // A message published after subscribe() returned is that subscription's: while a SUBSCRIBE
  // of this topic is on its way, sends wait (in order) until the broker has answered it.
  if (slot->producer && slot->waiting.empty() && !subscribing_.contains(topic) &&
      slot->producer->pending_messages() < kProducerQueue) {
    slot->producer->send(std::move(message), std::move(finish));
    return;
  }
  slot->waiting.push_back({std::move(message), bytes, std::move(finish)});
  if (slot->producer || slot->creating || slot->busy) return;
  create_producer(key);
}

void ClusterService::create_producer(const std::string& key) {
  auto& slot = *producers_.at(key);
  slot.creating = true;
  slot.busy = false;
  auto alive = alive_;
  client_.create_producer(pc::ProducerConfig{.topic = slot.topic, .producer_name = slot.name}, [this, alive, key](auto made) {
    if (!*alive) return;
    auto it = producers_.find(key);
    if (it == producers_.end()) return;
    auto& s = *it->second;
    s.creating = false;
    if (!made.ok()) {
      const auto server = pc::server_error_of(made.error().code);
      if (s.named && server && *server == pulsar::proto::ProducerBusy && s.busy_retries < kBusyRetries) {
        // The proxy the client left still has the name on this topic (it closes it once idle):
        // the messages wait here and the creation is tried again (retry_busy_producers).
        ++s.busy_retries;
        s.busy = true;
        logger()->debug("{}: producer {} busy elsewhere, trying again", s.topic, s.name);
        return;
      }
      logger()->warn("cannot publish to {}: {}", s.topic, made.error().to_string());
      auto waiting = std::move(s.waiting);
      auto waiters = std::move(s.sequence_waiters);
      producers_.erase(it);  // the next publish tries again
      for (auto& w : waiters) w(-1);
      for (auto& w : waiting) w.done(made.error());
      return;
    }
    s.busy_retries = 0;
    s.producer = made.value();
    if (!s.sequence_waiters.empty()) {
      auto waiters = std::move(s.sequence_waiters);
      const std::int64_t last = s.producer->last_sequence_id();
      for (auto& w : waiters) w(last);
      if (!*alive) return;
    }
    release_sends(key);
  });
}

void ClusterService::close_named_producers(const std::string& producer_name) {
  for (auto it = producers_.begin(); it != producers_.end();) {
    auto& slot = *it->second;
    if (!slot.named || slot.name != producer_name || slot.creating) {
      ++it;
      continue;
    }
    if (slot.producer) slot.producer->close([](auto) {});
    auto waiting = std::move(slot.waiting);
    auto waiters = std::move(slot.sequence_waiters);
    it = producers_.erase(it);
    for (auto& w : waiters) w(-1);
    for (auto& w : waiting) w.done(Error(pc::ClientErrc::closed, "producer " + producer_name + " closed: its client moved"));
  }
}

void ClusterService::retry_busy_producers() {
  std::vector<std::string> keys;
  for (const auto& [key, slot] : producers_)
    if (slot->busy && !slot->creating) keys.push_back(key);
  for (const auto& key : keys) create_producer(key);
}

void ClusterService::close_idle_named_producers() {
  for (auto it = producers_.begin(); it != producers_.end();) {
    auto& slot = *it->second;
    const bool idle = slot.named && !slot.used && slot.producer && !slot.creating && slot.waiting.empty() &&
                      slot.sequence_waiters.empty() &&
                      slot.producer->pending_messages() == 0;
    slot.used = false;
    if (!idle) {
      ++it;
      continue;
    }
    slot.producer->close([](auto) {});
    it = producers_.erase(it);
  }
}

void ClusterService::probe_deduplication(const std::string& probe_name, std::function<void(Result<bool, Error>)> done) {
  const std::string topic = "persistent://" + options_.system_namespace + "/mqtt-dedup-probe";
  auto alive = alive_;
  client_.create_producer(pc::ProducerConfig{.topic = topic, .producer_name = probe_name}, [alive, done](auto made) {
    if (!*alive) return;
    if (!made.ok()) return done(made.error());
    auto producer = made.value();
    auto message = [] {
      pc::OutgoingMessage m;
      m.payload = "mop proxy deduplication probe";
      m.sequence_id = 0;
      return m;
    };
    producer->send(message(), [alive, producer, message, done](auto first) {
      if (!*alive) return;
      if (!first.ok()) {
        producer->close([](auto) {});
        return done(first.error());
      }
      producer->send(message(), [alive, producer, done](auto second) {
        producer->close([](auto) {});
        if (!*alive) return;
        if (!second.ok()) return done(second.error());
        done(second.value().ledger == kNoEntry);
      });
    });
  });
}

void ClusterService::release_sends(const std::string& key) {
  auto it = producers_.find(key);
  if (it == producers_.end() || !it->second->producer || subscribing_.contains(it->second->topic)) return;
  auto& slot = *it->second;
  // In order, as far as the producer's queue takes them; the rest go as receipts come back.
  while (!slot.waiting.empty() && slot.producer->pending_messages() < kProducerQueue) {
    auto w = std::move(slot.waiting.front());
    slot.waiting.pop_front();
    slot.producer->send(std::move(w.message), std::move(w.done));
  }
}

void ClusterService::release_topic_sends(const std::string& topic) {
  std::vector<std::string> keys;
  for (const auto& [key, slot] : producers_)
    if (slot->topic == topic) keys.push_back(key);
  for (const auto& key : keys) release_sends(key);
}

void ClusterService::publish(const TopicName& topic, service::MessagePtr message, service::PublishCallback done) {
  known_topics_.insert(topic.str());
  const std::string name = topic.str();
  // `done` may be empty (QoS 0).
  auto out = to_outgoing(*message);
  std::string producer_name;
  if (message->dedup) {
    producer_name = message->dedup->producer;
    out.sequence_id = static_cast<std::uint64_t>(message->dedup->sequence_id);
  }
  send(name, std::move(out), message->payload.size(), [this, name, done = std::move(done)](auto r) {
    if (!r.ok()) {
      logger()->debug("publish to {} failed: {}", name, r.error().to_string());
      if (done) done(to_service_error(r.error()), MessageId{});
      return;
    }
    if (r.value().ledger == kNoEntry) {
      // Deduplicated by the broker: stored before (a resend), so it is stored.
      logger()->debug("publish to {}: the broker had this sequence id already (deduplicated)", name);
      if (done) done({}, MessageId{});
      return;
    }
    const auto id = from_client(r.value());
    auto& last = last_ids_[name];
    last = std::max(last, id);
    if (done) done({}, id);
  }, producer_name);
}

void ClusterService::last_sequence_id(const TopicName& topic, const std::string& producer,
                                      std::function<void(std::int64_t)> done) {
  const std::string key = topic.str() + '\n' + producer;
  auto& slot = producers_[key];
  if (!slot) {
    slot = std::make_unique<ProducerSlot>();
    slot->named = true;
    slot->topic = topic.str();
    slot->name = producer;
  }
  slot->used = true;
  if (slot->producer) return done(slot->producer->last_sequence_id());
  slot->sequence_waiters.push_back(std::move(done));
  if (slot->creating || slot->busy) return;
  create_producer(key);
}

// --- receivers --------------------------------------------------------------------------------

ReceiverId ClusterService::open_receiver(service::ReceiverListener& listener) {
  const ReceiverId id = next_receiver_++;
  auto r = std::make_unique<Receiver>();
  r->listener = &listener;
  receivers_.emplace(id, std::move(r));
  return id;
}

void ClusterService::flow(ReceiverId receiver, std::uint32_t permits) {
  auto it = receivers_.find(receiver);
  if (it == receivers_.end()) return;
  it->second->permits += permits;
  if (it->second->paused) {
    it->second->paused = false;
    std::vector<BindingKey> keys;
    for (const auto& [key, b] : bindings_) {
      if (std::get<2>(key) == receiver) keys.push_back(key);
    }
    for (const auto& key : keys) connect_binding(key);
  }
  schedule_drain(receiver);
}

void ClusterService::pause(ReceiverId receiver) {
  auto it = receivers_.find(receiver);
  if (it == receivers_.end()) return;
  it->second->permits = 0;
  // An offline session's messages stay in Pulsar, not in this proxy: its consumers are closed
  // (what they held unacknowledged goes back to the subscriptions, in order, for whichever
  // proxy the client comes back to) and opened again by the next flow().
  it->second->paused = true;
  auto& q = it->second->queue;
  q.clear();
  for (auto& [key, b] : bindings_) {
    if (std::get<2>(key) != receiver) continue;
    b->queued = 0;
    b->held = false;  // the next consumer starts unpaused
    if (!b->consumer) continue;
    auto consumer = std::move(b->consumer);
    b->consumer = nullptr;
    b->waiting.clear();
    consumer->close([consumer](auto) {});
  }
}

std::uint32_t ClusterService::queue_size(const service::SubscriptionOptions& opts) const {
  return std::max<std::uint32_t>(1, opts.group ? options_.group_consumer_queue : options_.consumer_queue);
}

void ClusterService::schedule_drain(ReceiverId id) {
  auto it = receivers_.find(id);
  if (it == receivers_.end() || it->second->drain_posted) return;
  if (it->second->queue.empty() || it->second->permits == 0) return;
  it->second->drain_posted = true;
  auto alive = alive_;
  executor_.post([this, alive, id] {
    if (!*alive) return;
    drain(id);
  });
}

void ClusterService::drain(ReceiverId id) {
  auto it = receivers_.find(id);
  if (it == receivers_.end()) return;
  Receiver& r = *it->second;
  r.drain_posted = false;
  while (r.permits > 0 && !r.queue.empty()) {
    Delivery d = std::move(r.queue.front());
    r.queue.pop_front();
    --r.permits;
    if (auto bit = bindings_.find(BindingKey{d.topic.str(), d.subscription, id}); bit != bindings_.end()) {
      Binding& b = *bit->second;
      if (b.queued > 0) --b.queued;
      if (b.held && b.queued <= queue_size(b.options) / 2) {
        b.held = false;
        if (b.consumer) b.consumer->resume();
      }
    }
    // The listener may close the receiver: look it up again after each call.
    r.listener->on_message(d.topic, d.subscription, d.id, d.message, d.redelivery_count);
    if (receivers_.find(id) == receivers_.end()) return;
  }
}

void ClusterService::close_receiver(ReceiverId receiver) {
  std::vector<BindingKey> keys;
  for (const auto& [key, b] : bindings_) {
    if (std::get<2>(key) == receiver) keys.push_back(key);
  }
  for (const auto& key : keys) close_binding(key, false);
  receivers_.erase(receiver);
}

ClusterService::Binding* ClusterService::find_binding(const std::string& topic, const std::string& subscription,
                                                      ReceiverId receiver) {
  auto it = bindings_.find(BindingKey{topic, subscription, receiver});
  return it == bindings_.end() ? nullptr : it->second.get();
}

ClusterService::Binding* ClusterService::any_binding(const std::string& topic, const std::string& subscription) {
  auto it = bindings_.lower_bound(BindingKey{topic, subscription, 0});
  if (it == bindings_.end() || std::get<0>(it->first) != topic || std::get<1>(it->first) != subscription) {
    return nullptr;
  }
  return it->second.get();
}

void ClusterService::connect_binding(const BindingKey& key) {
  auto found = bindings_.find(key);
  if (found == bindings_.end() || found->second->consumer || found->second->connecting) return;
  found->second->connecting = true;
  ++subscribing_[std::get<0>(key)];
  const service::SubscriptionOptions opts = found->second->options;
  pc::ConsumerConfig cc;
  cc.topic = std::get<0>(key);
  cc.subscription = std::get<1>(key);
  switch (opts.type) {
    case service::SubscriptionType::exclusive:
      cc.type = pulsar::proto::CommandSubscribe::Exclusive;
      break;
    case service::SubscriptionType::shared:
      cc.type = pulsar::proto::CommandSubscribe::Shared;
      break;
    case service::SubscriptionType::failover:
      cc.type = pulsar::proto::CommandSubscribe::Failover;
      break;
    case service::SubscriptionType::key_shared:
      cc.type = pulsar::proto::CommandSubscribe::Key_Shared;
      break;
  }
  cc.initial_position = opts.initial_position == service::InitialPosition::earliest
                            ? pulsar::proto::CommandSubscribe::Earliest
                            : pulsar::proto::CommandSubscribe::Latest;
  cc.durable = opts.durable;
  cc.receiver_queue = queue_size(opts);
  auto alive = alive_;
  cc.listener = [this, alive, key](pc::Consumer& self, const pc::Message& m) {
    if (!*alive) return;
    auto rit = receivers_.find(std::get<2>(key));
    auto bit = bindings_.find(key);
    if (rit == receivers_.end() || bit == bindings_.end() || bit->second->closing) return;
    rit->second->queue.push_back(Delivery{bit->second->topic, std::get<1>(key), from_client(m.id),
                                          to_service_message(m), m.redelivery_count});
    Binding& b = *bit->second;
    if (++b.queued >= queue_size(b.options) && !b.held) {
      b.held = true;
      self.pause();
    }
    schedule_drain(std::get<2>(key));
  };
  client_.subscribe(std::move(cc), [this, alive, key](auto made) {
    if (!*alive) return;
    if (auto sit = subscribing_.find(std::get<0>(key)); sit != subscribing_.end() && --sit->second == 0) {
      subscribing_.erase(sit);
      release_topic_sends(std::get<0>(key));
    }
    auto bit = bindings_.find(key);
    if (!made.ok()) {
      logger()->warn("cannot subscribe {} to {}: {}", std::get<1>(key), std::get<0>(key), made.error().to_string());
      if (bit == bindings_.end()) return;
      const TopicName topic = bit->second->topic;
      auto ready = std::move(bit->second->ready);
      bindings_.erase(bit);
      for (auto& r : ready) r(to_service_error(made.error()));
      if (auto rit = receivers_.find(std::get<2>(key)); rit != receivers_.end()) {
        rit->second->listener->on_subscription_removed(topic, std::get<1>(key));
      }
      return;
    }
    auto consumer = made.value();
    if (bit == bindings_.end() || bit->second->closing) {
      // Detached or closed while subscribing.
      consumer->close([](auto) {});
      return;
    }
    bit->second->connecting = false;
    if (auto rit = receivers_.find(std::get<2>(key)); rit != receivers_.end() && rit->second->paused) {
      // Went offline while subscribing: no consumer while offline (the subscription exists).
      consumer->close([consumer](auto) {});
      auto ready = std::move(bit->second->ready);
      for (auto& r : ready) r({});
      return;
    }
    bit->second->consumer = consumer;
    auto waiting = std::move(bit->second->waiting);
    for (auto& w : waiting) w(*consumer);
    auto ready = std::move(bit->second->ready);
    for (auto& r : ready) r({});
  });
}

Result<void> ClusterService::subscribe(const TopicName& topic, const std::string& subscription,
                                       const service::SubscriptionOptions& opts, ReceiverId receiver,
                                       service::SubscribeReady ready) {
  if (receivers_.find(receiver) == receivers_.end()) return std::make_error_code(std::errc::invalid_argument);
  // A second receiver of an exclusive subscription that this proxy already consumes is refused
  // at once, as the broker would refuse it; held by another proxy, the broker's refusal comes
  // through `ready` and on_subscription_removed.
  for (auto it = bindings_.lower_bound(BindingKey{topic.str(), subscription, 0});
       it != bindings_.end() && std::get<0>(it->first) == topic.str() && std::get<1>(it->first) == subscription; ++it) {
    if (std::get<2>(it->first) == receiver) continue;
    if (it->second->options.type == service::SubscriptionType::exclusive ||
        opts.type == service::SubscriptionType::exclusive) {
      return service::ServiceError::consumer_busy;
    }
  }
  if (ready) {
    // Ready once the consumer exists AND the retained table has read everything written before
    // now, so that the retained messages sent after SUBACK include every retained set or clear
    // acknowledged (on any proxy) before this SUBSCRIBE.
    struct Join {
      int left = 2;
      std::error_code ec;
      service::SubscribeReady ready;
    };
    auto join = std::make_shared<Join>();
    join->ready = std::move(ready);
    auto part = [join](std::error_code ec) {
      if (ec && !join->ec) join->ec = ec;
      if (--join->left == 0) join->ready(join->ec);
    };
    auto alive = alive_;
    retained_.sync([part, alive, topic = topic.str()](Result<void, Error> r) {
      if (!*alive) return;
      if (!r.ok()) logger()->warn("retained messages for a subscriber of {} may be stale: {}", topic, r.error().message);
      part({});
    });
    ready = part;
  }
  const BindingKey key{topic.str(), subscription, receiver};
  if (auto existing = bindings_.find(key); existing != bindings_.end()) {
    if (!ready) return {};
    if (existing->second->consumer) {
      executor_.post([alive = alive_, ready = std::move(ready)] {
        if (*alive) ready({});
      });
    } else {
      existing->second->ready.push_back(std::move(ready));
    }
    return {};
  }
  known_topics_.insert(topic.str());
  auto b = std::make_unique<Binding>();
  b->topic = topic;
  b->subscription = subscription;
  b->receiver = receiver;
  b->options = opts;
  if (ready) b->ready.push_back(std::move(ready));
  bindings_.emplace(key, std::move(b));

  // An offline receiver gets its consumers when it is given permits again (flow()).
  if (!receivers_.at(receiver)->paused) connect_binding(key);
  return {};
}

void ClusterService::close_binding(BindingKey key, bool unsubscribe) {
  auto it = bindings_.find(key);
  if (it == bindings_.end()) return;
  auto consumer = it->second->consumer;
  // Deliveries still queued for the receiver go back with the consumer (Pulsar redelivers them).
  if (auto rit = receivers_.find(std::get<2>(key)); rit != receivers_.end()) {
    auto& q = rit->second->queue;
    q.erase(std::remove_if(q.begin(), q.end(),
                           [&](const Delivery& d) {
                             return d.topic.str() == std::get<0>(key) && d.subscription == std::get<1>(key);
                           }),
            q.end());
  }
  // A SUBSCRIBE still waiting is answered: what asked for it is being undone.
  if (!it->second->ready.empty()) {
    executor_.post([alive = alive_, ready = std::move(it->second->ready)] {
      if (!*alive) return;
      for (const auto& r : ready) r({});
    });
  }
  const bool connecting = it->second->connecting;
  bindings_.erase(it);
  if (!consumer) {
    // An offline receiver's binding (paused: its consumer closed) holds none: the subscription
    // is deleted through a consumer of its own. One on its way: its completion closes it.
    if (unsubscribe && !connecting) delete_subscription(std::get<0>(key), std::get<1>(key));
    return;
  }
  if (unsubscribe) {
    consumer->unsubscribe([consumer](auto r) {
      if (!r.ok()) consumer->close([](auto) {});
    });
  } else {
    consumer->close([consumer](auto) {});
  }
}

void ClusterService::detach(const TopicName& topic, const std::string& subscription, ReceiverId receiver) {
  close_binding(BindingKey{topic.str(), subscription, receiver}, false);
}

void ClusterService::delete_subscription(const std::string& topic, const std::string& subscription) {
  // Pulsar deletes a subscription through a consumer of it: attached briefly for that.
  pc::ConsumerConfig cc;
  cc.topic = topic;
  cc.subscription = subscription;
  cc.type = pulsar::proto::CommandSubscribe::Shared;
  cc.listener = [](pc::Consumer&, const pc::Message&) {};
  cc.receiver_queue = 0;
  client_.subscribe(std::move(cc), [](auto made) {
    if (made.ok()) {
      auto c = made.value();
      c->unsubscribe([c](auto) {});
    }
  });
}

void ClusterService::unsubscribe(const TopicName& topic, const std::string& subscription) {
  std::vector<BindingKey> keys;
  for (const auto& [key, b] : bindings_) {
    if (std::get<0>(key) == topic.str() && std::get<1>(key) == subscription) keys.push_back(key);
  }
  if (keys.empty()) {
    delete_subscription(topic.str(), subscription);  // nobody here consumes it
    return;
  }
  // Every receiver attached hears that it is gone (unsubscribe() is nobody's own detach); the
  // last consumer deletes it.
  for (std::size_t i = 0; i < keys.size(); ++i) {
    const bool last = i + 1 == keys.size();
    close_binding(keys[i], last);
  }
  for (std::size_t i = 0; i < keys.size(); ++i) {
    const ReceiverId rid = std::get<2>(keys[i]);
    auto alive = alive_;
    executor_.post([this, alive, rid, topic, subscription] {
      if (!*alive) return;
      if (auto rit = receivers_.find(rid); rit != receivers_.end()) {
        rit->second->listener->on_subscription_removed(topic, subscription);
      }
    });
  }
}

namespace {
// Runs `op` on the binding's consumer now, or once it exists.
template <typename B>
void with_consumer(B* b, std::function<void(pc::Consumer&)> op) {
  if (b == nullptr) return;
  if (b->consumer) {
    op(*b->consumer);
  } else {
    b->waiting.push_back(std::move(op));
  }
}
}  // namespace

void ClusterService::ack(const TopicName& topic, const std::string& subscription, MessageId id) {
  with_consumer(any_binding(topic.str(), subscription),
                [id](pc::Consumer& c) { c.acknowledge(to_client(id), [](auto) {}); });
}

void ClusterService::ack_cumulative(const TopicName& topic, const std::string& subscription, MessageId id) {
  with_consumer(any_binding(topic.str(), subscription),
                [id](pc::Consumer& c) { c.acknowledge_cumulative(to_client(id), [](auto) {}); });
}

void ClusterService::redeliver_unacked(const TopicName& topic, const std::string& subscription, ReceiverId receiver) {
  with_consumer(find_binding(topic.str(), subscription, receiver),
                [](pc::Consumer& c) { c.redeliver_unacknowledged(); });
}

void ClusterService::redeliver(const TopicName& topic, const std::string& subscription, ReceiverId receiver,
                               const std::vector<MessageId>& ids) {
  with_consumer(find_binding(topic.str(), subscription, receiver), [ids](pc::Consumer& c) {
    for (const auto& id : ids) c.negative_acknowledge(to_client(id));
  });
}

void ClusterService::seek(const TopicName& topic, const std::string& subscription, MessageId target) {
  with_consumer(any_binding(topic.str(), subscription),
                [target](pc::Consumer& c) { c.seek(to_client(target), [](auto) {}); });
}

void ClusterService::seek_time(const TopicName& topic, const std::string& subscription, std::uint64_t publish_time_ms) {
  with_consumer(any_binding(topic.str(), subscription),
                [publish_time_ms](pc::Consumer& c) { c.seek(publish_time_ms, [](auto) {}); });
}

bool ClusterService::topic_exists(const TopicName& topic) { return known_topics_.contains(topic.str()); }

std::vector<std::uint64_t> ClusterService::acked_batch_indexes(const TopicName&, const std::string&, MessageId) {
  return {};  // the client unpacks batches and acknowledges them by index itself
}

std::optional<MessageId> ClusterService::last_message_id(const TopicName& topic) {
  auto it = last_ids_.find(topic.str());
  if (it == last_ids_.end()) return std::nullopt;
  return it->second;
}

// Whether a publish now is kept for some reader is the broker's knowledge; the proxy assumes yes
// (an MQTT 5 publisher through the proxy never gets 0x10 "no matching subscribers").
bool ClusterService::has_subscriptions(const TopicName&) { return true; }

// --- topics -----------------------------------------------------------------------------------

std::vector<TopicName> ClusterService::list_topics(const service::NamespaceName& ns) {
  std::vector<TopicName> out;
  const std::string prefix = "persistent://" + ns.to_string() + "/";
  for (auto it = known_topics_.lower_bound(prefix); it != known_topics_.end() && it->starts_with(prefix); ++it) {
    if (auto t = TopicName::parse(*it)) out.push_back(*t);
  }
  return out;
}

void ClusterService::watch_topics(const service::NamespaceName& ns, service::TopicListener& listener) {
  auto& w = watches_[ns.to_string()];
  if (std::find(w.listeners.begin(), w.listeners.end(), &listener) == w.listeners.end()) {
    w.listeners.push_back(&listener);
  }
  const std::string prefix = "persistent://" + ns.to_string() + "/";
  for (auto it = known_topics_.lower_bound(prefix); it != known_topics_.end() && it->starts_with(prefix); ++it) {
    w.seen.insert(*it);
  }
}

void ClusterService::unwatch_topics(const service::NamespaceName& ns, service::TopicListener& listener) {
  auto it = watches_.find(ns.to_string());
  if (it == watches_.end()) return;
  auto& ls = it->second.listeners;
  ls.erase(std::remove(ls.begin(), ls.end(), &listener), ls.end());
  if (ls.empty() && !it->second.listing) watches_.erase(it);
}

void ClusterService::poll_topics() {
  for (auto& [ns, w] : watches_) {
    if (w.listing || w.listeners.empty()) continue;
    w.listing = true;
    auto alive = alive_;
    client_.get_topics_of_namespace(ns, [this, alive, ns = ns](auto listed) {
      if (!*alive) return;
      auto it = watches_.find(ns);
      if (it == watches_.end()) return;
      it->second.listing = false;
      if (!listed.ok()) {
        logger()->warn("cannot list the topics of {}: {}", ns, listed.error().to_string());
        return;
      }
      std::vector<TopicName> fresh;
      for (const auto& name : listed.value()) {
        known_topics_.insert(name);
        if (it->second.seen.insert(name).second) {
          if (auto t = TopicName::parse(name)) fresh.push_back(*t);
        }
      }
      for (const auto& t : fresh) {
        auto listeners = it->second.listeners;  // a listener may unwatch
        for (auto* l : listeners) {
          auto again = watches_.find(ns);
          if (again == watches_.end()) return;
          const auto& now = again->second.listeners;
          if (std::find(now.begin(), now.end(), l) != now.end()) l->on_topic_created(t);
        }
      }
      if (auto again = watches_.find(ns); again != watches_.end() && again->second.listeners.empty()) {
        watches_.erase(again);
      }
    });
  }
}

// --- state tables ------------------------------------------------------------------------------

void ClusterService::set_retained(const TopicName& topic, service::MessagePtr message,
                                  std::function<void(std::error_code)> done) {
  retained_.write(topic.str(),
                  message->payload.empty() ? std::string() : ClusterSessionStore::encode_message(*message, {}),
                  [topic, done = std::move(done)](Result<void, Error> r) {
                    if (!r.ok()) logger()->warn("retained message of {} not stored: {}", topic.str(), r.error().message);
                    if (done) done(r.ok() ? std::error_code{} : to_service_error(r.error()));
                  });
}

std::vector<std::pair<TopicName, service::MessagePtr>> ClusterService::retained(
    const service::NamespaceName& ns, const std::function<bool(const TopicName&)>& match) {
  std::vector<std::pair<TopicName, service::MessagePtr>> out;
  for (const auto& [key, value] : retained_.rows()) {
    auto topic = TopicName::parse(key);
    if (!topic || topic->namespace_name() != ns || !match(*topic)) continue;
    auto m = ClusterSessionStore::decode_message(value, nullptr);
    if (!m) {
      logger()->warn("retained message of {} in {} cannot be decoded; skipped", key,
                     retained_topic(options_.system_namespace));
      continue;
    }
    out.emplace_back(*topic, std::make_shared<const service::Message>(std::move(*m)));
  }
  return out;
}

std::vector<service::ProducerSequenceRecord> ClusterService::load_producer_sequences() { return {}; }

void ClusterService::set_publish_pressure_listener(std::size_t limit_bytes, std::function<void(bool)> listener) {
  pressure_limit_ = limit_bytes;
  pressure_listener_ = std::move(listener);
}

}  // namespace mop::cluster
