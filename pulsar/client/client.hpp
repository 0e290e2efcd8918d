#pragma once
// mop's asynchronous Apache Pulsar client (pulsar/client/README.md has the whole story).
//
// THREADING. A Client and everything it creates (Producer, Consumer) belong to one thread: the
// thread that runs its Executor (with make_asio_client: the given io_context's thread, as
// `mop standalone` and `mop proxy` run everything). Call every method on that thread only; no
// locks are taken.
//
// CALLBACKS. Every callback runs on that executor, posted, never inline from the call that caused
// it (not even for an immediate failure such as producer_queue_full): a caller may call the
// library again from a callback. Order guarantees:
//   - one Producer: send callbacks complete in the order of the send() calls;
//   - one Consumer: messages reach the listener in the order the broker delivered them (per
//     partition for a partitioned topic), one listener call at a time;
//   - each operation's callback runs exactly once, unless the Client is destroyed first (then
//     never: callbacks posted before the destruction are dropped, not run).
// close() completes every pending callback of that object with ClientErrc::closed first.
//
// ERRORS. mop::Result<T, mop::Error> (core/result.hpp); the code is a ClientErrc or a Pulsar
// ServerError (errors.hpp: server_error_of()). The message names the topic and what failed.
//
// LIFETIME. Producers and consumers are shared_ptr; the Client must outlive them. Dropping the
// last reference to an open producer/consumer does not close it on the broker: call close().
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/clock.hpp"
#include "core/executor.hpp"
#include "core/result.hpp"
#include "pulsar/client/errors.hpp"
#include "pulsar/client/transport.hpp"
#include "pulsar/codec/message_id.hpp"
#include "pulsar/codec/proto/pulsar_api.pb.h"

namespace mop::pulsar::client {

using pulsar::MessageId;  // (ledger, entry, batch_index, partition)
using pulsar::kEarliest;  // the start and the end of a topic, for readers and seek
using pulsar::kLatest;
using Millis = std::chrono::milliseconds;

template <typename T>
using Callback = std::function<void(Result<T, Error>)>;
using DoneCallback = std::function<void(Result<void, Error>)>;

struct ClientConfig {
  // "pulsar://host1:6650,host2:6650" (several hosts: tried in turn, round-robin, for lookups and
  // for the first connection). "pulsar+ssl://h:6651": every connection is TLS, and lookups use
  // the brokers' TLS URLs (brokerServiceUrlTls).
  std::string service_url;
  // TLS (pulsar+ssl:// only). The broker's certificate is checked against tls_trust_certs_file
  // (PEM CAs; empty: the system's default CAs) and, with tls_hostname_verification, must name the
  // host connected to (DNS or IP subject alternative name). tls_allow_insecure_connection accepts
  // any certificate (no verification at all: tests and trusted networks only). A client
  // certificate (mTLS) is sent when tls_certificate_file and tls_key_file are set.
  std::string tls_trust_certs_file;
  std::string tls_certificate_file;
  std::string tls_key_file;
  bool tls_allow_insecure_connection = false;
  bool tls_hostname_verification = true;
  Millis operation_timeout{30'000};  // each request: LOOKUP, PRODUCER, SUBSCRIBE, CLOSE, SEEK, ...
  Millis connect_timeout{10'000};    // TCP connect + CONNECT/CONNECTED
  Millis keep_alive{30'000};         // PING after this much silence; closed after twice as much
  Millis backoff_initial{100};       // reconnect of producers/consumers: doubles up to backoff_max,
  Millis backoff_max{30'000};        // each wait with +-20% jitter
  int max_lookup_redirects = 20;
  // false: no LOOKUP, every topic is taken to be served by the service URL's broker (a single
  // broker, or a proxy that routes by itself). PARTITIONED_METADATA is still asked.
  bool lookup = true;
  std::uint32_t max_frame_size = 5 * 1024 * 1024 + 10 * 1024;  // until CONNECTED says otherwise
  std::string client_version = "mop-client/0.1";
  // Authentication: method name ("token") and a supplier of the credentials, asked at every
  // CONNECT and at every AUTH_CHALLENGE (so a refreshed token is sent). Empty method: none.
  std::string auth_method;
  std::function<std::string()> auth_data;
  // Seeds the backoff jitter (tests fix it).
  std::uint64_t seed = 0;
};

enum class AccessMode { shared, exclusive, wait_for_exclusive, exclusive_with_fencing };

struct ProducerConfig {
  std::string topic;          // "persistent://t/ns/x", "x" (public/default), or a partitioned topic
  std::string producer_name;  // empty: the broker names it
  AccessMode access_mode = AccessMode::shared;
  // At most this many messages sent and not yet acknowledged by a SEND_RECEIPT (the SEND window);
  // messages beyond it wait in the producer, up to max_pending_messages in all, after which
  // send() fails with producer_queue_full.
  std::uint32_t send_window = 1000;
  std::uint32_t max_pending_messages = 10'000;
  // Batching: off when batching_max_messages <= 1. A batch leaves when it holds that many
  // messages, batching_max_bytes, or batching_max_delay after its first message.
  std::uint32_t batching_max_messages = 0;
  std::uint32_t batching_max_bytes = 128 * 1024;
  Millis batching_max_delay{10};
  proto::CompressionType compression = proto::NONE;  // NONE, LZ4, ZLIB, ZSTD, SNAPPY
  // The first sequence id when the broker knows none for this producer name (otherwise the
  // broker's last_sequence_id + 1).
  std::optional<std::uint64_t> initial_sequence_id;
  std::map<std::string, std::string> properties;
  // Called (posted) once (per partition) if the producer stops for good on its own: a broker error after which
  // it does not reconnect (ProducerFenced when another ExclusiveWithFencing producer took the
  // topic, TopicTerminatedError, NotAllowedError, ...). Not called for close().
  std::function<void(const Error&)> on_closed;
  // Whether the first creation is tried again, within the operation timeout, after an error that
  // may pass (the connection lost before the broker answered, the broker unreachable, not ready).
  // false: the first such error fails the creation, so that it never completes on a later
  // connection (a proxy's attempt at another proxy's liveness lease: cluster/liveness_lease.cpp).
  bool retry_first_creation = true;
  // Partitioned topics: which partition a message goes to. Messages with a key go to
  // hash(key) % partitions; without one, round-robin per batch.
  // Partitioned topics: the partition count is read again this often, and partitions added
  // since get a producer of their own (0: never).
  Millis partitions_update_interval{60'000};
};

struct OutgoingMessage {
  std::string payload;
  std::optional<std::string> key;  // partition_key
  std::map<std::string, std::string> properties;
  std::uint64_t event_time = 0;               // 0: none
  std::optional<std::uint64_t> sequence_id;   // default: the producer's next
  // The message's publish time (ms since the epoch) when the caller has one (a proxy passing on
  // a message with its time); 0: the producer's clock at send(). A batch has the time of its
  // building, whatever its messages say.
  std::uint64_t publish_time = 0;
};

struct Message {
  std::string topic;  // the partition's name for partitioned topics
  MessageId id;       // batch_index >= 0 for a message of a batch; partition set on partitions
  std::string payload;
  std::optional<std::string> key;
  std::map<std::string, std::string> properties;
  std::string producer_name;
  std::uint64_t sequence_id = 0;
  std::uint64_t publish_time = 0;
  std::uint64_t event_time = 0;
  std::uint32_t redelivery_count = 0;
};

class Producer;
class Consumer;

using SubscriptionType = proto::CommandSubscribe::SubType;             // Exclusive, Shared, Failover, Key_Shared
using InitialPosition = proto::CommandSubscribe::InitialPosition;      // Latest, Earliest
using MessageListener = std::function<void(Consumer&, const Message&)>;

struct ConsumerConfig {
  // Exactly one of: topic (plain or partitioned), topics (several), topics_pattern (a regex over
  // full topic names "persistent://tenant/ns/.*" of one namespace; new matching topics are picked
  // up through WATCH_TOPIC_LIST, or by GET_TOPICS_OF_NAMESPACE every pattern_poll_interval where
  // the broker lacks it).
  std::string topic;
  std::vector<std::string> topics;
  std::string topics_pattern;
  Millis pattern_poll_interval{60'000};
  std::string subscription;
  SubscriptionType type = proto::CommandSubscribe::Exclusive;
  InitialPosition initial_position = proto::CommandSubscribe::Latest;
  std::string consumer_name;
  std::uint32_t receiver_queue = 1000;  // FLOW permits; refilled as the listener consumes
  // Called once per message, on the executor, in delivery order. Required.
  MessageListener listener;
  // Redelivery of negatively acknowledged messages after this delay.
  Millis negative_ack_delay{1'000};
  // Acks wait for the broker's ACK_RESPONSE before their callback (else they complete once sent).
  bool ack_receipts = false;
  // Batch-index acks: an individual ack of one message of a batch is sent at once with the
  // entry's `ack_set` (the indexes still unacknowledged), and a cumulative ack inside a batch
  // names that entry with its ack_set, so that after a reconnect the broker redelivers only the
  // messages not yet acknowledged. Needs a broker that keeps them (mop always; Apache Pulsar with
  // acknowledgmentAtBatchIndexLevelEnabled=true; a broker without it acts on the entry ack sent
  // once the whole batch is acknowledged). false: the entry is acked once all of it is.
  bool batch_index_ack = false;
  bool read_compacted = false;
  bool durable = true;                         // false for readers
  std::optional<MessageId> start_message_id;   // readers: where to start
  bool start_inclusive = false;                // readers: include start_message_id itself
  std::int32_t priority_level = 0;
  std::map<std::string, std::string> properties;
  // Called (posted) once if a consumer stops for good on its own (SubscriptionNotFound,
  // TopicNotFound, NotAllowedError, ... when resubscribing). Not called for close()/unsubscribe().
  std::function<void(const Error&)> on_closed;
  // Partitioned topics (topic or topics): the partition count is read again this often, and
  // partitions added since are subscribed to (0: never).
  Millis partitions_update_interval{60'000};
};

// A reader: a non-durable Exclusive subscription with a generated name that starts at
// start_message_id (kEarliest, kLatest, or an id). Its Consumer is used for seek,
// get_last_message_id and has_message_available-style checks; acks are not needed.
struct ReaderConfig {
  std::string topic;
  MessageId start_message_id = kEarliest;
  bool start_inclusive = false;
  bool read_compacted = false;
  std::uint32_t receiver_queue = 1000;
  MessageListener listener;
  std::string reader_name;
};

class Client {
public:
  // The sans-I/O client: brokers are reached through `transport`, time comes from `clock`, and
  // the client needs on_tick() called at or after next_deadline() (make_asio_client does that).
  Client(Executor& executor, Clock& clock, Transport& transport, ClientConfig config);
  ~Client();
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  // Checks the configuration (the service URL); invalid_argument if it is unusable. Called by
  // make_asio_client; the sans-I/O user calls it before anything else.
  Result<void, Error> start();

  void create_producer(ProducerConfig config, Callback<std::shared_ptr<Producer>> done);
  void subscribe(ConsumerConfig config, Callback<std::shared_ptr<Consumer>> done);
  void create_reader(ReaderConfig config, Callback<std::shared_ptr<Consumer>> done);

  // The broker serving a topic, "pulsar://host:port", after following redirects.
  void lookup(const std::string& topic, Callback<std::string> done);
  // 0 for a non-partitioned topic.
  void get_partitioned_topic_metadata(const std::string& topic, Callback<std::uint32_t> done);
  // Persistent topics of "tenant/ns" (partitions listed one by one, as the broker answers).
  void get_topics_of_namespace(const std::string& ns, Callback<std::vector<std::string>> done);

  // LOOKUP answers that named another broker than the one asked (redirects and Connect answers
  // elsewhere), since the start.
  std::uint64_t lookup_redirects() const;
  // What the client still has under way: requests awaiting their answer, connections being made,
  // messages awaiting their SEND_RECEIPT, producers and consumers (re)connecting, received
  // messages not yet handed to a listener, acks and negative acks not yet sent. 0 means the
  // client waits for nothing but what brokers send on their own (deliveries); tests that drive
  // a client over real sockets use it to tell "still working" from "quiet".
  std::size_t operations_in_flight() const;

  // Closes every producer and consumer (CLOSE_PRODUCER / CLOSE_CONSUMER), then the connections.
  void close(DoneCallback done);

  // Timers: keep-alive, operation timeouts, reconnect backoff, batch delays, negative acks.
  void on_tick();
  TimePoint next_deadline() const;
  // Called (on the executor thread) whenever next_deadline() moved earlier, so that a driver
  // re-arms its timer; make_asio_client sets it.
  void set_wakeup(std::function<void()> wakeup);

  struct Impl;  // internal (client_impl.hpp)

private:
  std::unique_ptr<Impl> impl_;
};

class Producer {
public:
  virtual ~Producer() = default;
  // Queues a message; `done` gets its MessageId once the broker stored it. On a lost connection
  // or CLOSE_PRODUCER the producer reconnects (backoff with jitter) and resends every message
  // not yet acknowledged, in order, with the same sequence ids: the broker's deduplication (when
  // enabled) drops what it already had. Fails for good only on close(), a non-retriable broker
  // error (ProducerFenced, TopicTerminatedError, ...), or producer_queue_full.
  virtual void send(OutgoingMessage message, Callback<MessageId> done) = 0;
  // Sends the batch being built now; `done` once everything sent so far is acknowledged.
  virtual void flush(DoneCallback done) = 0;
  virtual void close(DoneCallback done) = 0;

  virtual const std::string& topic() const = 0;
  virtual const std::string& producer_name() const = 0;  // as the broker named it
  // The sequence id of the last message acknowledged (-1: none yet).
  virtual std::int64_t last_sequence_id() const = 0;
  virtual bool connected() const = 0;
  virtual std::size_t pending_messages() const = 0;  // sent or queued, not yet acknowledged
};

class Consumer {
public:
  virtual ~Consumer() = default;
  // Individual ack of one message (a message of a batch: a batch-index ack; the entry is acked
  // once every message of it is).
  virtual void acknowledge(const MessageId& id, DoneCallback done) = 0;
  // Everything up to and including `id` (not for Shared / Key_Shared: invalid_argument).
  virtual void acknowledge_cumulative(const MessageId& id, DoneCallback done) = 0;
  // Redelivered after ConsumerConfig::negative_ack_delay (REDELIVER_UNACKNOWLEDGED_MESSAGES).
  virtual void negative_acknowledge(const MessageId& id) = 0;
  // Everything delivered and not acknowledged comes again.
  virtual void redeliver_unacknowledged() = 0;
  // Stops / resumes asking for messages (no FLOW while paused).
  virtual void pause() = 0;
  virtual void resume() = 0;
  virtual void seek(const MessageId& id, DoneCallback done) = 0;
  virtual void seek(std::uint64_t publish_time_ms, DoneCallback done) = 0;
  // GET_LAST_MESSAGE_ID (a partitioned consumer: not supported, unsupported).
  virtual void get_last_message_id(Callback<MessageId> done) = 0;
  virtual void unsubscribe(DoneCallback done) = 0;
  virtual void close(DoneCallback done) = 0;

  virtual const std::string& subscription() const = 0;
  // The topics currently consumed (partitions and pattern matches included).
  virtual std::vector<std::string> topics() const = 0;
  virtual bool connected() const = 0;
};

}  // namespace mop::pulsar::client
