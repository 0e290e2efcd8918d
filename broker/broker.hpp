#pragma once
// Broker: the topics of this process by name, the namespace index behind topic listing and
// watching, the receivers, and the retained store. The engine behind EmbeddedService; it calls
// DeliverySinks and its topic-created hook inline, and leaves the "never inline" promise of the
// service interface to its caller. Owned by one thread; the executor it is given is that
// thread's, used only for deferred housekeeping (trimming topics nobody subscribes to).
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "broker/persistence.hpp"
#include "broker/retained_store.hpp"
#include "broker/topic.hpp"
#include "core/executor.hpp"

namespace mop::broker {

using service::NamespaceName;
using service::TopicName;

class Broker {
public:
  // Makes the ledger of a new topic. The default makes InMemoryLedgers with increasing ledger
  // ids; issue 4 passes one that opens (or recovers) the topic's ledger in storage.
  using LedgerFactory = std::function<std::unique_ptr<Ledger>(const TopicName&)>;
  using TopicCreatedHook = std::function<void(const TopicName&)>;

  // With `persistence` (which must outlive the broker), the durable subscriptions of persistent
  // topics and their cursors are written there.
  explicit Broker(Executor& executor, LedgerFactory ledgers = {}, Persistence* persistence = nullptr);
  Broker(const Broker&) = delete;
  Broker& operator=(const Broker&) = delete;
  ~Broker();

  // Runs inline when a topic is created, before anything is appended to or subscribed on it.
  void set_topic_created_hook(TopicCreatedHook hook) { on_created_ = std::move(hook); }
  // Bytes accepted by publish() and not yet stored, over every topic (see PublishMeter).
  PublishMeter& publish_meter() { return meter_; }

  Topic& get_or_create(const TopicName& name);
  Topic* find_topic(const TopicName& name);
  // Deletes the topic (Pulsar's topic deletion): it is gone at once, with its entries,
  // subscriptions (each attached receiver's sink hears subscription_removed) and retained
  // message; with persistence, all of that and its stored record go in one atomic write, and
  // `done` runs (posted) once that write is durable; without, `done` is posted at once. Appends
  // still pending complete no more. A later publish or subscribe makes a new, empty topic of
  // the same name. Returns false (and drops `done`) when there is no such topic.
  bool delete_topic(const TopicName& name, PersistCallback done);
  std::size_t topic_count() const { return topics_.size(); }
  std::vector<TopicName> list_topics(const NamespaceName& ns) const;
  // Namespaces that have a topic now, in order.
  std::vector<NamespaceName> list_namespaces() const;
  // Every topic (read-only; metrics), in no particular order.
  template <typename F>
  void for_each_topic(F&& f) const {
    for (const auto& [name, topic] : topics_) f(static_cast<const Topic&>(*topic));
  }

  void publish(const TopicName& topic, MessagePtr message, AppendCallback done);

  // Receivers are identified by the caller's ids. Returns false if `id` is already open.
  bool open_receiver(service::ReceiverId id, DeliverySink& sink);
  Receiver* receiver(service::ReceiverId id);
  void flow(service::ReceiverId id, std::uint32_t permits);
  void pause(service::ReceiverId id);
  void close_receiver(service::ReceiverId id);

  Result<void> subscribe(const TopicName& topic, const std::string& subscription, const SubscriptionOptions& options,
                   service::ReceiverId receiver);
  void detach(const TopicName& topic, const std::string& subscription, service::ReceiverId receiver);
  void unsubscribe(const TopicName& topic, const std::string& subscription);
  // See Subscription::stop_ack_on_dispatch.
  void stop_ack_on_dispatch(const TopicName& topic, const std::string& subscription, service::ReceiverId receiver);
  void ack(const TopicName& topic, const std::string& subscription, MessageId id);
  void ack_cumulative(const TopicName& topic, const std::string& subscription, MessageId id);
  void redeliver_unacked(const TopicName& topic, const std::string& subscription, service::ReceiverId receiver);
  void redeliver(const TopicName& topic, const std::string& subscription, service::ReceiverId receiver,
                 const std::vector<MessageId>& ids);
  void seek(const TopicName& topic, const std::string& subscription, MessageId target);
  void seek_time(const TopicName& topic, const std::string& subscription, std::uint64_t publish_time_ms);

  RetainedStore& retained() { return retained_; }

  // Retention, TTL and backlog quota of every topic (set before any topic exists, i.e. before
  // restore()); `clock` must outlive the broker.
  void set_policies(const TopicPolicies& policies, const Clock& clock) {
    policies_ = policies;
    clock_ = &clock;
  }
  const TopicPolicies& policies() const { return policies_; }
  // A namespace's own policies (Pulsar's namespace policies), replacing the broker's for its
  // topics, those that exist now and those created later; nullopt: the broker's again.
  void set_namespace_policies(const NamespaceName& ns, std::optional<TopicPolicies> policies);
  // The policies a topic of `ns` gets.
  const TopicPolicies& policies_of(const NamespaceName& ns) const;
  // Applies TTL and time-based retention to every topic; the owner runs it periodically.
  void expire();

  // At start, before serving: recreates the stored topics (their ledgers reopen where the stored
  // logs are) with their subscriptions and cursors, then trims what no subscription needs.
  void restore(const std::vector<Persistence::RestoredTopic>& topics);

private:
  void schedule_trim(Topic& topic);

  Executor& executor_;
  LedgerFactory ledgers_;
  Persistence* persistence_;
  PublishMeter meter_;  // before topics_: a topic destroyed with appends pending returns its bytes
  TopicPolicies policies_;
  std::map<NamespaceName, TopicPolicies> namespace_policies_;
  const Clock* clock_ = nullptr;
  std::uint64_t next_ledger_id_ = 1;
  TopicCreatedHook on_created_;
  std::unordered_map<TopicName, std::unique_ptr<Topic>> topics_;
  std::map<NamespaceName, std::set<TopicName>> namespaces_;
  std::unordered_map<service::ReceiverId, std::unique_ptr<Receiver>> receivers_;
  RetainedStore retained_;
  std::unordered_set<Topic*> trim_scheduled_;
  // Posted tasks check it so that destroying the broker before the executor is safe.
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

}  // namespace mop::broker
