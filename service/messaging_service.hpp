#pragma once
// The messaging model the protocols talk to: Pulsar's. Topics, durable subscriptions with
// cursors, message ids, retained messages. Both protocol servers call only this interface for
// messaging; `EmbeddedService` (broker/ in this process) implements it today, a cluster
// implementation (pulsar/client to a real Pulsar cluster) will implement it for `mop proxy`.
// What a protocol server keeps for itself is not here: MQTT sessions and wills go to
// SessionStore (session_store.hpp), Pulsar partition counts and schemas to MetadataStore
// (metadata_store.hpp).
//
// Threading: an implementation is owned by one thread. Every method is called on it, and every
// callback and listener method runs on it, always later (posted to the executor), never inline
// from inside the call that caused it.
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <system_error>
#include <utility>
#include <vector>

#include "core/payload.hpp"
#include "core/result.hpp"
#include "service/topic_name.hpp"

namespace mop::service {

// Pulsar message id: ledger:entry[:batch]. Ordered by (ledger, entry, batch).
struct MessageId {
  std::uint64_t ledger = 0;
  std::uint64_t entry = 0;
  std::int32_t batch = -1;
  auto operator<=>(const MessageId&) const = default;
  std::string to_string() const;
};

// Pulsar deduplication: the producer (its registered name) and the highest sequence id of it
// that a message completes.
struct DedupMark {
  std::string producer;
  std::int64_t sequence_id = -1;
};

// A Pulsar producer's batch stored as one entry, as Pulsar stores it: the payload is the batch
// exactly as the producer sent it (compressed with `compression`, `uncompressed_size` bytes once
// decompressed, then `count` messages each framed by its SingleMessageMetadata). The messages of
// a batch are addressed as (ledger, entry, batch index 0..count-1). Pulsar consumers get the
// entry whole; receivers that do not take batches get it unpacked (BatchUnpacker).
struct BatchInfo {
  std::uint32_t count = 0;            // num_messages_in_batch, >= 1
  std::uint8_t compression = 0;       // Pulsar CompressionType number (0 none)
  std::uint32_t uncompressed_size = 0;
  auto operator<=>(const BatchInfo&) const = default;
};

// A message as stored in a topic. Immutable once published and shared by every reader.
struct Message {
  Payload payload;
  // Set when the entry is a Pulsar batch (then payload, properties and ordering_key are the
  // batch's; each message's own are inside the payload).
  std::optional<BatchInfo> batch;
  // Pulsar message properties, in order; repeated keys allowed (MQTT 5 user properties).
  std::vector<std::pair<std::string, std::string>> properties;
  std::uint64_t publish_time_ms = 0;
  std::string producer_name;            // MQTT: the publisher's client id
  std::optional<std::string> ordering_key;
  // The QoS the MQTT publisher used; messages from Pulsar producers count as QoS 1.
  std::uint8_t mqtt_qos = 1;
  // Pulsar deduplication (brokerDeduplicationEnabled): a store records the mark per (topic,
  // producer) in the same atomic write as the entry, and gives it back at start
  // (MessagingService::load_producer_sequences), so a resend after a restart is still
  // recognised. A publish instruction, not content: not stored with the message, not compared.
  std::optional<DedupMark> dedup;
};
using MessagePtr = std::shared_ptr<const Message>;

// How many messages an entry holds (1 unless it is a batch).
inline std::uint32_t message_count(const Message& m) { return m.batch ? m.batch->count : 1; }

// Unpacks a batch entry into its messages, in batch index order (each with its own payload,
// properties and ordering key, and the entry's producer name and publish time). Supplied by the
// Pulsar codec (app/ wires pulsar::server::unpack_batch in); an error for a malformed batch.
using BatchUnpacker = std::function<Result<std::vector<MessagePtr>>(const Message& batch)>;

// Messages compare by content (the payload bytes, not the buffer).
bool operator==(const Message& a, const Message& b);

// Deduplication state of one producer name on one topic: the highest sequence id stored.
struct ProducerSequenceRecord {
  std::string topic;  // full topic name
  std::string producer;
  std::int64_t sequence_id = -1;
  auto operator<=>(const ProducerSequenceRecord&) const = default;
};

enum class SubscriptionType { exclusive, shared, failover, key_shared };
enum class InitialPosition { latest, earliest };

struct SubscriptionOptions {
  SubscriptionType type = SubscriptionType::shared;
  InitialPosition initial_position = InitialPosition::latest;
  bool durable = true;  // false: removed when its last receiver detaches (a Pulsar reader)
  // Receivers of this subscription compete for its messages as equals (an MQTT `$share` group):
  // an implementation that prefetches for a receiver (mop proxy's ClusterService) prefetches
  // less, so that a receiver that stopped taking messages holds few that another could take.
  bool group = false;
  // For the receiver this subscribe attaches: every message dispatched to it counts as
  // acknowledged as it is dispatched (it never waits for ack(), is never redelivered; ack()
  // of it is a no-op). For receivers that would acknowledge each message on arrival anyway and
  // whose undelivered messages nobody wants back (MQTT QoS 0 to a clean session). Honoured only
  // where MessagingService::acks_on_dispatch() says so; ignored by a receiver already attached.
  bool ack_on_dispatch = false;
};

using ReceiverId = std::uint64_t;

// A receiver is one consumer identity (an MQTT session, a Pulsar consumer) with a budget of
// permits shared by every subscription it is attached to. Each delivered message costs one
// permit; the receiver returns permits with flow() as it acknowledges or frees room.
class ReceiverListener {
public:
  virtual ~ReceiverListener() = default;
  // Whether this receiver takes a batch entry whole (a Pulsar consumer: one on_message with the
  // entry's id, batch -1; it asks acked_batch_indexes() which of its messages to skip) or, the
  // default, one on_message per message not yet acknowledged, with ids (ledger, entry, index).
  // Asked once, when the receiver is opened. A batch entry costs one permit per message.
  virtual bool takes_batches() const { return false; }
  virtual void on_message(const TopicName& topic, const std::string& subscription, MessageId id,
                          const MessagePtr& message, std::uint32_t redelivery_count) = 0;
  // A subscription this receiver was attached to was deleted (unsubscribe() by another party,
  // e.g. an MQTT UNSUBSCRIBE of a subscription a Pulsar consumer shares); the receiver is no
  // longer attached to it. Not called for the receiver's own detach or close.
  virtual void on_subscription_removed(const TopicName& /*topic*/, const std::string& /*subscription*/) {}
};

class TopicListener {
public:
  virtual ~TopicListener() = default;
  // A topic in the watched namespace was created (first publish, or a subscription).
  virtual void on_topic_created(const TopicName& topic) = 0;
};

using PublishCallback = std::function<void(std::error_code, MessageId)>;
// Runs once a subscription exists where the messages are kept (or could not be made).
using SubscribeReady = std::function<void(std::error_code)>;

class MessagingService {
public:
  virtual ~MessagingService() = default;

  // Appends a message to a topic, creating the topic if needed. `done` runs once the message is
  // durable (or failed); callbacks for one topic run in publish order.
  virtual void publish(const TopicName& topic, MessagePtr message, PublishCallback done) = 0;
  // Pulsar deduplication: the highest sequence id stored for the producer name `producer` on
  // `topic` (service::DedupMark), -1 when none is known; `done` once the answer is known. A
  // publisher that starts numbering afresh (a new MQTT session's QoS 2 messages) starts above
  // it, or the broker would drop its messages as duplicates. Default: -1 at once (a service
  // that keeps the sequences itself, as EmbeddedService, is asked by no publisher that needs it).
  virtual void last_sequence_id(const TopicName& /*topic*/, const std::string& /*producer*/,
                                std::function<void(std::int64_t)> done) {
    done(-1);
  }

  // Receivers.
  virtual ReceiverId open_receiver(ReceiverListener& listener) = 0;
  // Adds permits. Pending messages of attached subscriptions are dispatched while permits last.
  virtual void flow(ReceiverId receiver, std::uint32_t permits) = 0;
  // Drops the remaining permits (the receiver went offline but stays attached).
  virtual void pause(ReceiverId receiver) = 0;
  // Detaches the receiver from every subscription; its unacknowledged messages become
  // available for redelivery; non-durable subscriptions left without receivers are removed.
  virtual void close_receiver(ReceiverId receiver) = 0;

  // Creates the subscription if it does not exist (at opts.initial_position) and attaches the
  // receiver. Errors returned at once (then `ready` never runs): consumer_busy for a second
  // receiver on an exclusive subscription, an unknown receiver. `ready`, when given, runs once
  // the subscription exists where the messages are kept, so that every message published after
  // it is the subscription's: the embedded service at once (posted), a cluster once the broker
  // has answered its SUBSCRIBE; with the error when the backend refused it, the receiver then
  // not attached. MQTT sends SUBACK from it.
  virtual Result<void> subscribe(const TopicName& topic, const std::string& subscription,
                                 const SubscriptionOptions& opts, ReceiverId receiver, SubscribeReady ready) = 0;
  Result<void> subscribe(const TopicName& topic, const std::string& subscription, const SubscriptionOptions& opts,
                         ReceiverId receiver) {
    return subscribe(topic, subscription, opts, receiver, nullptr);
  }
  // Whether subscribe() honours SubscriptionOptions::ack_on_dispatch. Where it does not, the
  // receiver acknowledges as usual.
  virtual bool acks_on_dispatch() const { return false; }
  // The receiver's attachment to the subscription stops acknowledging on dispatch: messages
  // dispatched to it from now on wait for ack() (those dispatched before stay acknowledged).
  virtual void stop_ack_on_dispatch(const TopicName& /*topic*/, const std::string& /*subscription*/,
                                    ReceiverId /*receiver*/) {}
  // Detaches `receiver` from the subscription (unacknowledged messages go back for redelivery).
  virtual void detach(const TopicName& topic, const std::string& subscription, ReceiverId receiver) = 0;
  // Deletes the subscription and its cursor.
  virtual void unsubscribe(const TopicName& topic, const std::string& subscription) = 0;
  // Individual acknowledgement of one delivered message. An id with a batch index >= 0 of a
  // batch entry acknowledges that message of the batch; the entry counts as acknowledged once
  // every index is (the cursor keeps, and stores, the indexes acknowledged so far). A batch
  // index of an entry that is no batch, or -1, acknowledges the whole entry.
  virtual void ack(const TopicName& topic, const std::string& subscription, MessageId id) = 0;
  // Cumulative acknowledgement: every message up to and including `id` (Pulsar's ACK Cumulative).
  virtual void ack_cumulative(const TopicName& topic, const std::string& subscription, MessageId id) = 0;
  // Everything `receiver` holds unacknowledged on the subscription is delivered again (to it or
  // another receiver), with its redelivery count raised. Permits are not returned: the receiver
  // asks for more with flow() as a Pulsar consumer does after clearing its queue.
  virtual void redeliver_unacked(const TopicName& topic, const std::string& subscription, ReceiverId receiver) = 0;
  // The same for the listed messages only (Pulsar's REDELIVER_UNACKNOWLEDGED_MESSAGES with ids,
  // which is how clients send negative acks): ids that `receiver` does not hold unacknowledged
  // (acknowledged, held by another receiver, unknown) are ignored. Batch indexes are ignored.
  virtual void redeliver(const TopicName& topic, const std::string& subscription, ReceiverId receiver,
                         const std::vector<MessageId>& ids) = 0;
  // Resets a subscription (Pulsar's SEEK): messages before `target` count as acknowledged (a
  // batch index > 0: the earlier messages of its batch too), those from it on are delivered again, from the start of what is still stored at the earliest;
  // what its receivers held unacknowledged is forgotten. seek_time: to the first message
  // published at or after the time.
  virtual void seek(const TopicName& topic, const std::string& subscription, MessageId target) = 0;
  virtual void seek_time(const TopicName& topic, const std::string& subscription, std::uint64_t publish_time_ms) = 0;
  // Whether the topic exists now (Pulsar's allowAutoTopicCreation=false needs to know).
  virtual bool topic_exists(const TopicName& topic) = 0;
  // Which messages of the batch entry `id` the subscription has acknowledged (index i: bit i%64
  // of word i/64); empty when none is (or the entry is no batch, or is acknowledged whole).
  virtual std::vector<std::uint64_t> acked_batch_indexes(const TopicName& topic, const std::string& subscription,
                                                         MessageId id) = 0;
  // The id of the newest message of the topic (of a batch entry: its last index);
  // std::nullopt when it has none or does not exist.
  virtual std::optional<MessageId> last_message_id(const TopicName& topic) = 0;
  // Whether the topic has a subscription now (durable, or non-durable with a receiver), i.e.
  // whether a message published now is kept for some reader; false for an unknown topic. No
  // scan: MQTT asks it on every QoS 1/2 publish (MQTT 5 PUBACK/PUBREC 0x10 "no matching
  // subscribers").
  virtual bool has_subscriptions(const TopicName& topic) = 0;

  // Topics of a namespace that exist now, and a watch for those created later.
  virtual std::vector<TopicName> list_topics(const NamespaceName& ns) = 0;
  virtual void watch_topics(const NamespaceName& ns, TopicListener& listener) = 0;
  virtual void unwatch_topics(const NamespaceName& ns, TopicListener& listener) = 0;

  // Retained messages, one per topic. An empty payload clears the topic's retained message.
  virtual void set_retained(const TopicName& topic, MessagePtr message, std::function<void(std::error_code)> done) = 0;
  // Every retained message of a namespace whose topic satisfies `match`.
  virtual std::vector<std::pair<TopicName, MessagePtr>> retained(
      const NamespaceName& ns, const std::function<bool(const TopicName&)>& match) = 0;

  // Producer sequence ids as restored at start (written with the entries, see Message::dedup),
  // by topic then producer. Later publishes do not change it: the Pulsar server reads it once at
  // start and keeps the state itself from then on. (The Pulsar server's other state, partition
  // counts and schemas, is service::MetadataStore's; MQTT sessions and wills are
  // service::SessionStore's.)
  virtual std::vector<ProducerSequenceRecord> load_producer_sequences() = 0;

  // Publish back-pressure (Pulsar's maxMessagePublishBufferSizeInMB): `listener(true)` once the
  // payload bytes accepted by publish() and not yet stored exceed `limit_bytes`, `listener(false)`
  // once they are down to half of it. Protocol listeners stop reading from their sockets in
  // between, so publishers that outrun the storage are held back by TCP instead of queueing in
  // memory. limit 0 turns it off. Runs on the service's thread.
  virtual void set_publish_pressure_listener(std::size_t limit_bytes, std::function<void(bool over)> listener) = 0;
};

// Errors of the service, as Pulsar's ServerError names them.
enum class ServiceError {
  consumer_busy = 1,
  subscription_not_found,
  topic_not_found,
  persistence_error,
  service_not_ready,
  // The topic's backlog is over its quota (backlogQuotaDefaultRetentionPolicy=producer_exception).
  backlog_quota_exceeded,
};
const std::error_category& service_category() noexcept;
inline std::error_code make_error_code(ServiceError e) noexcept { return {static_cast<int>(e), service_category()}; }

}  // namespace mop::service

template <>
struct std::is_error_code_enum<mop::service::ServiceError> : std::true_type {};
