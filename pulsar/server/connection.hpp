#pragma once
// The Pulsar binary protocol, server side, over service::MessagingService. Sans socket: bytes and
// timer ticks in, encoded frames out (OutBuffer), so it is unit-tested with encoded frames. One
// Connection per client connection; a PulsarServer holds what connections share (options,
// schemas, producer-name counter). Everything runs on the service's thread.
#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <optional>
#include <memory>
#include <span>
#include <string>
#include <unordered_map>
#include <vector>

#include "core/clock.hpp"
#include "core/out_buffer.hpp"
#include "pulsar/codec/codec.hpp"
#include "pulsar/server/authenticator.hpp"
#include "service/messaging_service.hpp"

namespace mop::pulsar::server {

struct ServerOptions {
  std::string server_version = "mop/0.1.0";
  std::uint32_t max_message_size = kDefaultMaxMessageSize;
  // What LOOKUP answers: "pulsar://<advertised host>:<bound port>". Clients that get the URL
  // they used stay on their connection; any other makes them open a second one.
  std::string service_url;
  // Pulsar's allowAutoTopicCreation: false makes LOOKUP, PRODUCER and SUBSCRIBE of a topic that
  // does not exist fail with TopicNotFound.
  bool allow_auto_topic_creation = true;
  // Pulsar's allowAutoTopicCreationType=partitioned: a topic first named in PARTITIONED_METADATA
  // (what Pulsar clients ask before anything else) is created as a partitioned topic of
  // default_num_partitions partitions ("x-partition-0" ..). false: non-partitioned, as Pulsar.
  bool auto_create_partitioned = false;
  std::uint32_t default_num_partitions = 1;
  // Pulsar's brokerDeduplicationEnabled: a SEND whose sequence id is not above the last one
  // stored for its producer name on the topic is answered, not stored again (state in memory).
  bool deduplication = false;
  // Authenticates CONNECT (and AUTH_RESPONSE); nullptr: every connection is accepted. Not owned.
  Authenticator* authenticator = nullptr;
  // We ping a client silent for one interval and drop it after two (as Pulsar brokers do).
  std::chrono::milliseconds keep_alive{30'000};
  // Where short topic names ("my-topic") live, as Pulsar clients expand them.
  std::string default_tenant = "public";
  std::string default_namespace = "default";
};

// What a connection needs from its socket.
class Transport {
public:
  virtual ~Transport() = default;
  // Output was queued: write it (batched per wakeup by the transport).
  virtual void output_ready() = 0;
  // Write what is queued, then close the socket.
  virtual void close_after_flush() = 0;
  // Closes the socket now (server shutdown). Transports without one need not care.
  virtual void shutdown() {}
};

class Connection;

// State shared by every connection of one listener.
class PulsarServer {
public:
  // Reads back what the service restored: partition counts, schemas, producer sequence ids.
  PulsarServer(service::MessagingService& service, Clock& clock, ServerOptions options);

  service::MessagingService& service() { return service_; }
  Clock& clock() { return clock_; }
  ServerOptions& options() { return options_; }
  // Producer names the server picks are unique for the life of the process.
  std::string next_producer_name();
  // Topic schemas, opaque to us (Schema protobuf as the client sent it). Versions count from 0.
  struct StoredSchema {
    proto::Schema schema;
    std::uint64_t version = 0;
  };
  std::map<std::string, StoredSchema>& schemas() { return schemas_; }
  // The topic's schema, or `schema` as its first one, stored through the service: `done` gets
  // the version once durable (at once for a schema the topic has). On a failed write the
  // schema is forgotten again and `done` gets the error.
  void get_or_create_schema(const service::TopicName& topic, const proto::Schema& schema,
                            std::function<void(std::error_code, std::uint64_t version)> done);
  // Partitioned topics by base name -> partition count, stored through the service (they
  // survive a restart).
  std::uint32_t partitions(const service::TopicName& base) const;
  // Creates it (known at once) and stores it; `done` runs once durable, or with the error (the
  // topic is then forgotten again).
  void create_partitioned(const service::TopicName& base, std::uint32_t partitions,
                          std::function<void(std::error_code)> done);
  // `done` runs once the topic's partition count is durable: at once, or with the outcome of the
  // write still storing it.
  void when_partitioned_stored(const service::TopicName& base, std::function<void(std::error_code)> done);
  // The same for a schema being stored (`done` runs either way; a failed one is gone by then).
  void when_schema_stored(const service::TopicName& topic, std::function<void()> done);
  // For "x-partition-N" of a partitioned topic "x" with more than N partitions: true.
  bool is_partition_of_partitioned(const service::TopicName& topic) const;
  // Producers of each topic, for access modes and name uniqueness (Pulsar's rules):
  //   Shared            refused (ProducerBusy) while an exclusive producer is there or waiting;
  //   Exclusive         refused (ProducerFenced) while any producer is there;
  //   WaitForExclusive  queued (PRODUCER_SUCCESS producer_ready=false) until the topic is free;
  //   ExclusiveWithFencing  closes every other producer (CLOSE_PRODUCER) and takes the topic.
  // A second producer with a name already connected to the topic: ProducerBusy.
  enum class AddProducer { ready, queued, busy, fenced };
  AddProducer add_producer(const service::TopicName& topic, const std::string& name, proto::ProducerAccessMode mode,
                           Connection& connection, std::uint64_t producer_id, std::uint64_t request_id,
                           std::string& why);
  // A producer went away (closed, fenced, its connection closed); a waiting exclusive one may
  // now take the topic.
  void remove_producer(const service::TopicName& topic, Connection& connection, std::uint64_t producer_id);
  // Topic epoch: raised each time an exclusive producer takes the topic.
  std::uint64_t topic_epoch(const service::TopicName& topic) const;

  // Broker shutdown: every connection tells its client that each of its producers and consumers
  // is closed (CLOSE_PRODUCER, CLOSE_CONSUMER, as Pulsar does when it unloads a topic, so clients
  // reconnect rather than treat the closed socket as a failure), then closes after flushing.
  // Waiting exclusive producers are not promoted meanwhile.
  void shutdown();
  bool shutting_down() const { return shutting_down_; }
  // Connections register themselves (Connection's constructor and destructor); shutdown goes
  // through them oldest first.
  std::uint64_t attach(Connection& c) {
    connections_.emplace(next_connection_, &c);
    return next_connection_++;
  }
  void detach(std::uint64_t serial) { connections_.erase(serial); }

  // Deduplication state of one producer name on one topic (brokerDeduplicationEnabled).
  struct Dedup {
    std::int64_t pushed = -1;     // highest sequence id accepted for storing
    std::int64_t persisted = -1;  // highest sequence id stored
    // The id each recently stored sequence id got, to answer a resend with it (bounded).
    std::map<std::int64_t, service::MessageId> recent;
  };
  static constexpr std::size_t kDedupRecent = 1000;
  // Shared with publish callbacks, which may run after the connection is gone.
  const std::shared_ptr<Dedup>& dedup(const service::TopicName& topic, const std::string& producer_name) {
    auto& d = dedup_[topic.str() + '\n' + producer_name];
    if (!d) d = std::make_shared<Dedup>();
    return d;
  }

  // Batch-index acknowledgements (ack_set) of entries not yet fully acknowledged, per
  // subscription: an entry is acknowledged in the service once every index is. In memory.
  struct PartialAckKey {
    std::string topic;
    std::string subscription;
    std::uint64_t ledger = 0;
    std::uint64_t entry = 0;
    auto operator<=>(const PartialAckKey&) const = default;
  };
  std::map<PartialAckKey, std::vector<std::int64_t>>& partial_acks() { return partial_acks_; }
  // Forgets the partial acks of a subscription up to and including `upto` (all without one).
  void forget_partial_acks(const service::TopicName& topic, const std::string& subscription,
                           std::optional<service::MessageId> upto = std::nullopt);

private:
  service::MessagingService& service_;
  Clock& clock_;
  ServerOptions options_;
  std::uint64_t producer_names_ = 0;
  std::map<std::string, StoredSchema> schemas_;
  std::map<PartialAckKey, std::vector<std::int64_t>> partial_acks_;
  std::unordered_map<std::string, std::uint32_t> partitioned_;
  // Completions waiting for a partition count or a schema still being written, by topic name.
  std::unordered_map<std::string, std::vector<std::function<void(std::error_code)>>> partitioned_writes_;
  std::unordered_map<std::string, std::vector<std::function<void(std::error_code, std::uint64_t)>>> schema_writes_;
  struct ProducerRef {
    Connection* connection;
    std::uint64_t producer_id;
    std::string name;
    std::uint64_t request_id = 0;
  };
  struct TopicProducers {
    std::vector<ProducerRef> active;   // few per topic: linear scans are over a handful
    std::deque<ProducerRef> waiting;   // WaitForExclusive, in arrival order
    bool exclusive = false;            // `active` holds one exclusive producer
    std::uint64_t epoch = 0;
  };
  std::unordered_map<std::string, TopicProducers> topic_producers_;
  std::unordered_map<std::string, std::shared_ptr<Dedup>> dedup_;
  std::map<std::uint64_t, Connection*> connections_;
  std::uint64_t next_connection_ = 0;
  bool shutting_down_ = false;
};

class Connection {
public:
  Connection(PulsarServer& server, Transport& transport, std::string peer = "test");
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;
  // Releases producers and consumers (their unacknowledged messages go back for redelivery).
  ~Connection();

  void on_bytes(std::span<const std::uint8_t> bytes);
  // Keep-alive: call at or after next_deadline().
  void on_tick();
  TimePoint next_deadline() const { return next_check_; }
  // The socket is gone.
  void on_closed();

  OutBuffer& output() { return out_; }
  bool closed() const { return closed_; }
  std::int32_t protocol_version() const { return protocol_version_; }
  std::size_t producer_count() const { return producers_.size(); }
  std::size_t consumer_count() const { return consumers_.size(); }

  // Called by PulsarServer. The server closes one of our producers (fenced by an
  // ExclusiveWithFencing producer, or its topic went away): CLOSE_PRODUCER to the client.
  void close_producer_from_server(std::uint64_t producer_id);
  // The consumer's subscription was deleted elsewhere: CLOSE_CONSUMER to the client.
  void close_consumer_from_server(std::uint64_t consumer_id);
  // A queued WaitForExclusive producer got the topic: PRODUCER_SUCCESS producer_ready=true.
  void producer_now_ready(std::uint64_t producer_id, std::uint64_t request_id, std::uint64_t epoch);
  // The broker is shutting down: CLOSE_PRODUCER / CLOSE_CONSUMER for each producer and
  // consumer, then close after flushing (see PulsarServer::shutdown).
  void server_shutdown();

private:
  struct Producer {
    service::TopicName topic;
    std::string name;
    bool ready = true;  // false while a WaitForExclusive producer waits for the topic
  };
  class Consumer;
  using Handler = void (Connection::*)(const Frame&);

  static const std::array<Handler, 69>& handlers();
  void dispatch(const Frame& frame);
  void close(const char* why);
  void release();
  void send(const proto::BaseCommand& command);
  void send_error(std::uint64_t request_id, proto::ServerError error, const std::string& message);
  void send_success(std::uint64_t request_id);
  // A topic name as clients send it (full, or short in the default namespace); nullopt if invalid.
  std::optional<service::TopicName> resolve(const std::string& topic) const;
  // Whether the topic may be used: it exists or may be created.
  bool usable(const service::TopicName& topic);
  // One id of an ACK: individual or cumulative, whole entry or batch indexes (ack_set).
  void ack_one(const Consumer& consumer, const proto::MessageIdData& id, bool cumulative);
  void deliver(Consumer& consumer, service::MessageId id, const service::MessagePtr& message,
               std::uint32_t redelivery_count);

  // One handler per command.
  void on_connect(const Frame& f);
  void on_auth_response(const Frame& f);
  // Acts on the authenticator's answer: CONNECTED, AUTH_CHALLENGE, or ERROR and close.
  void authenticated(const AuthOutcome& outcome);
  void send_connected();
  void on_ping(const Frame& f);
  void on_pong(const Frame& f);
  void on_partitioned_metadata(const Frame& f);
  void on_lookup(const Frame& f);
  void on_producer(const Frame& f);
  void producer_success(const proto::CommandProducer& q, const Producer& p, bool ready,
                        std::optional<std::uint64_t> schema_version);
  void on_send(const Frame& f);
  void on_close_producer(const Frame& f);
  void on_subscribe(const Frame& f);
  void on_flow(const Frame& f);
  void on_ack(const Frame& f);
  void on_redeliver(const Frame& f);
  void on_unsubscribe(const Frame& f);
  void on_close_consumer(const Frame& f);
  void on_get_last_message_id(const Frame& f);
  void on_get_schema(const Frame& f);
  void on_get_or_create_schema(const Frame& f);
  void on_get_topics_of_namespace(const Frame& f);
  void on_seek(const Frame& f);

  PulsarServer& server_;
  service::MessagingService& service_;
  Transport& transport_;
  std::string peer_;
  FrameReader reader_;
  OutBuffer out_;
  bool connected_ = false;
  std::unique_ptr<Authenticator::Session> auth_;  // set while CONNECT is being authenticated
  bool closed_ = false;
  std::int32_t protocol_version_ = 0;
  TimePoint last_received_;
  TimePoint next_check_;
  std::unordered_map<std::uint64_t, Producer> producers_;
  std::unordered_map<std::uint64_t, std::unique_ptr<Consumer>> consumers_;
  // Publish callbacks outlive nothing: they check this before touching the connection.
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
  std::string scratch_;  // decompression buffer, reused
  std::uint64_t serial_ = 0;  // registration with the server
};

// "persistent://t/n/x-partition-3" -> ("persistent://t/n/x", 3); nullopt for other names.
std::optional<std::pair<std::string, std::uint32_t>> partition_of(const service::TopicName& topic);

// The single place where service and codec errors become Pulsar's ServerError.
proto::ServerError to_server_error(std::error_code ec);

}  // namespace mop::pulsar::server
