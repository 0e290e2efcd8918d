#pragma once
// EmbeddedService: MessagingService over the in-process broker (broker/). It keeps the
// interface's threading promise: the broker works inline, and every callback and listener call
// it causes is posted to the executor. Owned by the executor's thread.
#include <map>
#include <memory>
#include <unordered_map>
#include <vector>

#include "broker/broker.hpp"
#include "broker/persistence.hpp"
#include "core/clock.hpp"
#include "core/executor.hpp"
#include "service/messaging_service.hpp"

namespace mop::service {

class EmbeddedService final : public MessagingService {
public:
  EmbeddedService(Executor& executor, Clock& clock);
  // For the store (mop standalone) and tests: topics get their ledgers from `ledgers`;
  // subscriptions, cursors and retained messages are written to `persistence` (which must
  // outlive the service) when given, else kept in memory. Call restore() once before serving.
  EmbeddedService(Executor& executor, Clock& clock, broker::Broker::LedgerFactory ledgers,
                  broker::Persistence* persistence = nullptr);
  EmbeddedService(const EmbeddedService&) = delete;
  EmbeddedService& operator=(const EmbeddedService&) = delete;
  ~EmbeddedService() override;

  void publish(const TopicName& topic, MessagePtr message, PublishCallback done) override;

  ReceiverId open_receiver(ReceiverListener& listener) override;
  void flow(ReceiverId receiver, std::uint32_t permits) override;
  void pause(ReceiverId receiver) override;
  void close_receiver(ReceiverId receiver) override;

  using MessagingService::subscribe;
  Result<void> subscribe(const TopicName& topic, const std::string& subscription, const SubscriptionOptions& opts,
                         ReceiverId receiver, SubscribeReady ready) override;
  bool acks_on_dispatch() const override { return true; }
  void stop_ack_on_dispatch(const TopicName& topic, const std::string& subscription, ReceiverId receiver) override;
  void detach(const TopicName& topic, const std::string& subscription, ReceiverId receiver) override;
  void unsubscribe(const TopicName& topic, const std::string& subscription) override;
  void ack(const TopicName& topic, const std::string& subscription, MessageId id) override;
  void ack_cumulative(const TopicName& topic, const std::string& subscription, MessageId id) override;
  void redeliver_unacked(const TopicName& topic, const std::string& subscription, ReceiverId receiver) override;
  void redeliver(const TopicName& topic, const std::string& subscription, ReceiverId receiver,
                 const std::vector<MessageId>& ids) override;
  void seek(const TopicName& topic, const std::string& subscription, MessageId target) override;
  void seek_time(const TopicName& topic, const std::string& subscription, std::uint64_t publish_time_ms) override;
  bool topic_exists(const TopicName& topic) override;
  std::optional<MessageId> last_message_id(const TopicName& topic) override;
  std::vector<std::uint64_t> acked_batch_indexes(const TopicName& topic, const std::string& subscription,
                                                 MessageId id) override;
  // How batch entries are unpacked for receivers that do not take batches (MQTT sessions).
  // Without one such an entry is acknowledged unread, with an error logged.
  void set_batch_unpacker(BatchUnpacker unpacker) { unpacker_ = std::move(unpacker); }
  bool has_subscriptions(const TopicName& topic) override;

  std::vector<TopicName> list_topics(const NamespaceName& ns) override;
  void watch_topics(const NamespaceName& ns, TopicListener& listener) override;
  void unwatch_topics(const NamespaceName& ns, TopicListener& listener) override;

  void set_retained(const TopicName& topic, MessagePtr message, std::function<void(std::error_code)> done) override;
  std::vector<std::pair<TopicName, MessagePtr>> retained(const NamespaceName& ns,
                                                         const std::function<bool(const TopicName&)>& match) override;

  std::vector<ProducerSequenceRecord> load_producer_sequences() override;
  void set_publish_pressure_listener(std::size_t limit_bytes, std::function<void(bool over)> listener) override;

  // Reads back what `persistence` holds (nothing to do without one). On error the service must
  // not serve: the error names the record that could not be read.
  Result<void, Error> restore();

  // Retention, TTL and backlog quota of every topic: call before restore(). expire() applies
  // TTL and time-based retention; the owner runs it periodically.
  void set_policies(const broker::TopicPolicies& policies) { broker_.set_policies(policies, clock_); }
  void expire() { broker_.expire(); }

  // Introspection for tests and metrics.
  broker::Broker& broker() { return broker_; }

private:
  class ReceiverSink;

  // Posts `task` unless this service is gone by the time it runs.
  template <typename F>
  void post(F&& task);
  void topic_created(const TopicName& topic);
  bool watching(const NamespaceName& ns, const TopicListener* listener) const;
  void logger_error(const TopicName& topic, MessageId id, const std::string& why);

  Executor& executor_;
  Clock& clock_;
  // Receivers whose drain task is posted (ReceiverSink::drain): they share one round's budget
  // of deliveries. Declared before receivers_, whose sinks count themselves out as they go.
  std::size_t draining_ = 0;
  // Declared before broker_: the broker holds references to these sinks until it is destroyed.
  std::unordered_map<ReceiverId, std::unique_ptr<ReceiverSink>> receivers_;
  // Set by the destructor, read while broker_ is destroyed (so declared before it): the
  // subscriptions going away with the broker tell no one.
  bool closing_ = false;
  // Depth of publish() calls in progress: a publish completion that runs inside one is posted.
  int publishing_ = 0;
  broker::Broker broker_;
  ReceiverId next_receiver_ = 1;
  std::map<NamespaceName, std::vector<TopicListener*>> watchers_;
  broker::Persistence* persistence_ = nullptr;
  // Producer sequences as restored (what load_producer_sequences returns).
  std::vector<ProducerSequenceRecord> producer_sequences_;
  BatchUnpacker unpacker_;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

}  // namespace mop::service
