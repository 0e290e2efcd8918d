#include "broker/broker.hpp"

#include "broker/in_memory_ledger.hpp"

namespace mop::broker {

Broker::Broker(Executor& executor, LedgerFactory ledgers, Persistence* persistence)
    : executor_(executor), ledgers_(std::move(ledgers)), persistence_(persistence) {
  if (!ledgers_) {
    ledgers_ = [this](const TopicName&) { return std::make_unique<InMemoryLedger>(next_ledger_id_++); };
  }
}

Broker::~Broker() {
  meter_.configure(0, {});  // whoever listened may be gone; topics going now return their bytes
  // Subscriptions point at receivers: topics go first.
  topics_.clear();
  receivers_.clear();
}

Topic& Broker::get_or_create(const TopicName& name) {
  if (auto* t = find_topic(name)) return *t;
  auto topic = std::make_unique<Topic>(name, ledgers_(name), [this](Topic& t) { schedule_trim(t); },
                                       name.persistent() ? persistence_ : nullptr);
  Topic& ref = *topic;
  ref.set_publish_meter(&meter_);
  ref.set_policies(policies_of(name.namespace_name()), clock_);
  topics_.emplace(name, std::move(topic));
  namespaces_[name.namespace_name()].insert(name);
  if (on_created_) on_created_(name);
  return ref;
}

bool Broker::delete_topic(const TopicName& name, PersistCallback done) {
  const auto it = topics_.find(name);
  if (it == topics_.end()) return false;
  trim_scheduled_.erase(it->second.get());
  if (const auto ns = namespaces_.find(name.namespace_name()); ns != namespaces_.end()) {
    ns->second.erase(name);
    if (ns->second.empty()) namespaces_.erase(ns);
  }
  // Publishes still being appended complete with an error: the topic and what they stored go
  // (later, on the executor: the publishers' code may publish again, recreating the topic).
  if (auto pending = it->second->take_pending_publishes(); !pending.empty()) {
    executor_.post([pending = std::move(pending)] {
      for (const auto& done : pending) {
        if (done) done(service::ServiceError::topic_not_found, {});
      }
    });
  }
  // Its subscriptions go with it (no write of their own: the topic's delete covers them).
  topics_.erase(it);
  retained_.set(name, nullptr);
  if (persistence_ != nullptr && name.persistent()) {
    persistence_->delete_topic(name, std::move(done));
  } else if (done) {
    executor_.post([alive = std::weak_ptr<bool>(alive_), done = std::move(done)] {
      if (!alive.expired()) done({});
    });
  }
  return true;
}

void Broker::set_namespace_policies(const NamespaceName& ns, std::optional<TopicPolicies> policies) {
  if (policies) {
    namespace_policies_.insert_or_assign(ns, *policies);
  } else {
    namespace_policies_.erase(ns);
  }
  const TopicPolicies& now = policies_of(ns);
  for (const auto& name : list_topics(ns)) find_topic(name)->change_policies(now);
}

const TopicPolicies& Broker::policies_of(const NamespaceName& ns) const {
  const auto it = namespace_policies_.find(ns);
  return it == namespace_policies_.end() ? policies_ : it->second;
}

Topic* Broker::find_topic(const TopicName& name) {
  const auto it = topics_.find(name);
  return it == topics_.end() ? nullptr : it->second.get();
}

std::vector<NamespaceName> Broker::list_namespaces() const {
  std::vector<NamespaceName> out;
  out.reserve(namespaces_.size());
  for (const auto& [ns, topics] : namespaces_) {
    if (!topics.empty()) out.push_back(ns);
  }
  return out;
}

std::vector<TopicName> Broker::list_topics(const NamespaceName& ns) const {
  const auto it = namespaces_.find(ns);
  if (it == namespaces_.end()) return {};
  return {it->second.begin(), it->second.end()};
}

void Broker::restore(const std::vector<Persistence::RestoredTopic>& topics) {
  for (const auto& stored : topics) {
    Topic& t = get_or_create(stored.name);
    for (const auto& sub : stored.subscriptions) t.restore_subscription(sub);
    t.trim();
  }
}

void Broker::expire() {
  for (auto& [_, topic] : topics_) topic->expire();
}

void Broker::publish(const TopicName& topic, MessagePtr message, AppendCallback done) {
  get_or_create(topic).publish(std::move(message), std::move(done));
}

void Broker::schedule_trim(Topic& topic) {
  // Deferred, not immediate: the topic-created notification for this topic was posted before
  // this task, so a watcher that subscribes at `earliest` from it still finds the entries.
  if (!trim_scheduled_.insert(&topic).second) return;
  executor_.post([this, alive = std::weak_ptr<bool>(alive_), t = &topic] {
    // Not when the topic was deleted meanwhile (delete_topic takes it out of the set).
    if (alive.expired() || trim_scheduled_.erase(t) == 0) return;
    t->trim();
  });
}

bool Broker::open_receiver(service::ReceiverId id, DeliverySink& sink) {
  return receivers_.emplace(id, std::make_unique<Receiver>(id, sink)).second;
}

Receiver* Broker::receiver(service::ReceiverId id) {
  const auto it = receivers_.find(id);
  return it == receivers_.end() ? nullptr : it->second.get();
}

void Broker::flow(service::ReceiverId id, std::uint32_t permits) {
  if (auto* r = receiver(id)) r->flow(permits);
}

void Broker::pause(service::ReceiverId id) {
  if (auto* r = receiver(id)) r->pause();
}

void Broker::close_receiver(service::ReceiverId id) {
  const auto it = receivers_.find(id);
  if (it == receivers_.end()) return;
  Receiver& r = *it->second;
  // Copy the keys first: detaching edits the receiver's attachment set.
  std::vector<std::shared_ptr<const SubscriptionKey>> keys;
  keys.reserve(r.attachments().size());
  for (const Attachment* a : r.attachments()) keys.push_back(a->subscription->key());
  for (const auto& key : keys) {
    if (auto* t = find_topic(key->topic)) t->detach(key->name, r);
  }
  receivers_.erase(it);
}

Result<void> Broker::subscribe(const TopicName& topic, const std::string& subscription,
                               const SubscriptionOptions& options, service::ReceiverId receiver_id) {
  Receiver* r = receiver(receiver_id);
  if (r == nullptr) return std::make_error_code(std::errc::invalid_argument);
  if (auto result = get_or_create(topic).subscribe(subscription, options, *r); !result.ok()) return result.error();
  return {};
}

void Broker::detach(const TopicName& topic, const std::string& subscription, service::ReceiverId receiver_id) {
  Receiver* r = receiver(receiver_id);
  Topic* t = find_topic(topic);
  if (r != nullptr && t != nullptr) t->detach(subscription, *r);
}

void Broker::stop_ack_on_dispatch(const TopicName& topic, const std::string& subscription,
                                  service::ReceiverId receiver_id) {
  Receiver* r = receiver(receiver_id);
  Topic* t = find_topic(topic);
  if (r != nullptr && t != nullptr) t->stop_ack_on_dispatch(subscription, *r);
}

void Broker::unsubscribe(const TopicName& topic, const std::string& subscription) {
  if (auto* t = find_topic(topic)) t->unsubscribe(subscription);
}

void Broker::ack(const TopicName& topic, const std::string& subscription, MessageId id) {
  if (auto* t = find_topic(topic)) t->ack(subscription, id);
}

void Broker::ack_cumulative(const TopicName& topic, const std::string& subscription, MessageId id) {
  if (auto* t = find_topic(topic)) t->ack_cumulative(subscription, id);
}

void Broker::redeliver_unacked(const TopicName& topic, const std::string& subscription,
                               service::ReceiverId receiver_id) {
  Receiver* r = receiver(receiver_id);
  Topic* t = find_topic(topic);
  if (r != nullptr && t != nullptr) t->redeliver_unacked(subscription, *r);
}

void Broker::redeliver(const TopicName& topic, const std::string& subscription, service::ReceiverId receiver_id,
                       const std::vector<MessageId>& ids) {
  Receiver* r = receiver(receiver_id);
  Topic* t = find_topic(topic);
  if (r != nullptr && t != nullptr) t->redeliver(subscription, *r, ids);
}

void Broker::seek(const TopicName& topic, const std::string& subscription, MessageId target) {
  if (auto* t = find_topic(topic)) t->seek(subscription, target);
}

void Broker::seek_time(const TopicName& topic, const std::string& subscription, std::uint64_t publish_time_ms) {
  if (auto* t = find_topic(topic)) t->seek_time(subscription, publish_time_ms);
}

}  // namespace mop::broker
