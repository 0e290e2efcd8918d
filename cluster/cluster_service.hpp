#pragma once
// ClusterService: the MessagingService of `mop proxy`, over an Apache Pulsar cluster reached
// through pulsar/client. The MQTT server (mqtt/server, SessionRouter) runs on top unchanged.
//
// What lives where (all in Pulsar, so that any proxy can serve any client):
//   - MQTT topics are Pulsar topics (the router's mapping); publish() sends through one producer
//     per topic and completes after the broker's SEND_RECEIPT, so PUBACK follows the receipt.
//   - A subscription is a Pulsar subscription of that name (durable ones named after the MQTT
//     client id, `$share` ones after the group): one Pulsar consumer per (topic, subscription,
//     receiver). Deliveries wait in the receiver's queue until it has permits (at most the
//     consumer's queue size of them per consumer: then it is paused until half have gone); ack /
//     seek / redeliver go to that consumer.
//   - Retained messages are keyed messages on the topic mqtt-retained of the system namespace
//     (mqttProxySystemNamespace; key: the full topic name). An empty value deletes a key, as
//     Pulsar's topic compaction does; every proxy keeps a reader on it and the table it builds is
//     what retained() returns ("table view"). Session records and wills are the
//     service::SessionStore's, ClusterSessionStore (cluster_session_store.hpp), on the same model.
//   - Topics created later: each watched namespace is listed every `topic_poll` (Pulsar's
//     GET_TOPICS_OF_NAMESPACE); topics not seen before are announced to the watchers.
//
// Threading: one thread, the executor's (the Client's too); callbacks are posted or come from the
// client's own posted callbacks, never inline from the call that caused them.
#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "cluster/state_table.hpp"
#include "core/executor.hpp"
#include "core/result.hpp"
#include "pulsar/client/client.hpp"
#include "service/messaging_service.hpp"

namespace mop::cluster {

struct ClusterOptions {
  std::string system_namespace = "public/mop-system";  // tenant/namespace
  std::chrono::milliseconds topic_poll{500};             // watched namespaces are listed this often
  // Pulsar permits per consumer (receiverQueueSize), and for a `$share` group's members
  // (SubscriptionOptions::group). A consumer also stops taking messages from the Pulsar client
  // while that many wait in the proxy for its receiver's permits, so that a receiver that stopped
  // taking messages holds at most twice this many beyond its MQTT in-flight window.
  std::uint32_t consumer_queue = 100;
  std::uint32_t group_consumer_queue = 10;
};

// The retained messages' topic in the system namespace `ns`.
std::string retained_topic(const std::string& ns);

class ClusterService final : public service::MessagingService {
public:
  ClusterService(Executor& executor, pulsar::client::Client& client, ClusterOptions options);
  ~ClusterService() override;

  // Opens the retained messages' table and reads it to its end; `done` once it is caught up (the
  // proxy serves only then), or with the error (a missing system namespace, an unreachable
  // cluster). The session store (ClusterSessionStore) is opened by its owner.
  void start(std::function<void(Result<void, Error>)> done);
  // Lists the watched namespaces again (call every options.topic_poll).
  void poll_topics();
  // Whether the cluster deduplicates (Pulsar's producer deduplication: the namespace policy
  // deduplicationEnabled or the broker's brokerDeduplicationEnabled), observed on a probe: a
  // producer named `probe_name` sends one message to `mqtt-dedup-probe` in the system namespace
  // twice with the same sequence id; a receipt naming no entry (-1:-1) for the second means it
  // was recognised and not stored again. `done` with the answer, or the error.
  void probe_deduplication(const std::string& probe_name, std::function<void(Result<bool, Error>)> done);
  // Closes the producers that publish under a message's own name (service::DedupMark) and were
  // not used since the previous call (call every few seconds): another proxy that takes one of
  // those clients over needs the name on the topic (the broker admits one producer per name).
  void close_idle_named_producers();
  // Creates again the named producers a broker refused with ProducerBusy (another proxy still
  // holds the name: a client taken over from a live proxy); call every options.topic_poll.
  void retry_busy_producers();
  // Closes the producers named `producer_name` on every topic (a client that moved to another
  // proxy: that one needs the name; what they still hold fails with `closed`).
  void close_named_producers(const std::string& producer_name);
  // Closes every producer and consumer; `done` once the broker has answered for each.
  void shutdown(std::function<void()> done);

  void publish(const service::TopicName& topic, service::MessagePtr message, service::PublishCallback done) override;
  // Creates the named producer if needed and answers what its PRODUCER_SUCCESS said (the
  // broker's last sequence id for that name on the topic), or what it acknowledged since; -1
  // when the producer cannot be created (the publish that follows reports that error).
  void last_sequence_id(const service::TopicName& topic, const std::string& producer,
                        std::function<void(std::int64_t)> done) override;
  service::ReceiverId open_receiver(service::ReceiverListener& listener) override;
  void flow(service::ReceiverId receiver, std::uint32_t permits) override;
  void pause(service::ReceiverId receiver) override;
  void close_receiver(service::ReceiverId receiver) override;
  using MessagingService::subscribe;
  // `ready` runs once the broker has answered the Pulsar SUBSCRIBE of the binding's consumer
  // (an offline receiver's: once flow() has made it).
  Result<void> subscribe(const service::TopicName& topic, const std::string& subscription,
                         const service::SubscriptionOptions& opts, service::ReceiverId receiver,
                         service::SubscribeReady ready) override;
  void detach(const service::TopicName& topic, const std::string& subscription, service::ReceiverId receiver) override;
  void unsubscribe(const service::TopicName& topic, const std::string& subscription) override;
  void ack(const service::TopicName& topic, const std::string& subscription, service::MessageId id) override;
  void ack_cumulative(const service::TopicName& topic, const std::string& subscription, service::MessageId id) override;
  void redeliver_unacked(const service::TopicName& topic, const std::string& subscription,
                         service::ReceiverId receiver) override;
  void redeliver(const service::TopicName& topic, const std::string& subscription, service::ReceiverId receiver,
                 const std::vector<service::MessageId>& ids) override;
  void seek(const service::TopicName& topic, const std::string& subscription, service::MessageId target) override;
  void seek_time(const service::TopicName& topic, const std::string& subscription, std::uint64_t publish_time_ms) override;
  bool topic_exists(const service::TopicName& topic) override;
  std::vector<std::uint64_t> acked_batch_indexes(const service::TopicName& topic, const std::string& subscription,
                                                 service::MessageId id) override;
  std::optional<service::MessageId> last_message_id(const service::TopicName& topic) override;
  bool has_subscriptions(const service::TopicName& topic) override;
  std::vector<service::TopicName> list_topics(const service::NamespaceName& ns) override;
  void watch_topics(const service::NamespaceName& ns, service::TopicListener& listener) override;
  void unwatch_topics(const service::NamespaceName& ns, service::TopicListener& listener) override;
  void set_retained(const service::TopicName& topic, service::MessagePtr message,
                    std::function<void(std::error_code)> done) override;
  std::vector<std::pair<service::TopicName, service::MessagePtr>> retained(
      const service::NamespaceName& ns, const std::function<bool(const service::TopicName&)>& match) override;
  std::vector<service::ProducerSequenceRecord> load_producer_sequences() override;
  void set_publish_pressure_listener(std::size_t limit_bytes, std::function<void(bool over)> listener) override;

private:
  struct ProducerSlot;
  struct Binding;
  struct Receiver;
  struct Delivery {
    service::TopicName topic;
    std::string subscription;
    service::MessageId id;
    service::MessagePtr message;
    std::uint32_t redelivery_count = 0;
  };
  using BindingKey = std::tuple<std::string, std::string, service::ReceiverId>;

  // `producer_name` empty: the topic's shared producer, named by the broker; otherwise a producer
  // of that name on the topic (service::DedupMark).
  void send(const std::string& topic, pulsar::client::OutgoingMessage message, std::size_t bytes,
            std::function<void(Result<pulsar::client::MessageId, Error>)> done, const std::string& producer_name = {});
  // Creates the producer of producers_[key] (its topic and name are in the slot).
  void create_producer(const std::string& key);
  // Sends what waits for producers_[key], once the producer exists and no SUBSCRIBE of its topic
  // is on its way; release_topic_sends does so for every producer of a topic.
  void release_sends(const std::string& key);
  void release_topic_sends(const std::string& topic);
  // Deletes a Pulsar subscription this proxy holds no consumer of (attached briefly for that).
  void delete_subscription(const std::string& topic, const std::string& subscription);
  // Creates the Pulsar consumer of a binding (unless it has one or one is on its way).
  void connect_binding(const BindingKey& key);
  void schedule_drain(service::ReceiverId id);
  // The consumer's queue size: options_.consumer_queue, or group_consumer_queue for a group.
  std::uint32_t queue_size(const service::SubscriptionOptions& opts) const;
  void drain(service::ReceiverId id);
  Binding* find_binding(const std::string& topic, const std::string& subscription, service::ReceiverId receiver);
  // The first consumer of (topic, subscription), whoever its receiver (acks and seeks are the
  // subscription's, not a consumer's).
  Binding* any_binding(const std::string& topic, const std::string& subscription);
  void close_binding(BindingKey key, bool unsubscribe);
  // Sends waiting for their receipts changed by `bytes` and `messages`; tells the pressure
  // listener when either total passes its limit, and when both are back under half of it.
  void pressure(std::ptrdiff_t bytes, std::ptrdiff_t messages);

  Executor& executor_;
  pulsar::client::Client& client_;
  ClusterOptions options_;
  StateTable retained_;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);

  // By topic, or by topic + '\n' + producer name for named producers.
  std::map<std::string, std::unique_ptr<ProducerSlot>> producers_;
  std::map<service::ReceiverId, std::unique_ptr<Receiver>> receivers_;
  service::ReceiverId next_receiver_ = 1;
  std::map<BindingKey, std::unique_ptr<Binding>> bindings_;
  std::map<std::string, service::MessageId> last_ids_;  // what this proxy published, by topic
  std::set<std::string> known_topics_;                  // full names seen listed or published to
  std::map<std::string, std::size_t> subscribing_;     // SUBSCRIBEs on their way, by topic
  struct Watch {
    std::vector<service::TopicListener*> listeners;
    std::set<std::string> seen;
    bool listing = false;
  };
  std::map<std::string, Watch> watches_;  // by "tenant/ns"


  std::size_t pressure_limit_ = 0;
  std::size_t pending_bytes_ = 0;
  std::size_t pending_messages_ = 0;
  bool over_ = false;
  std::function<void(bool)> pressure_listener_;
};

}  // namespace mop::cluster
