#pragma once
// What every Pulsar connection of one listener shares: the options, the service, the
// cluster-wide registries (partitioned topics, schemas, producers and their access modes,
// deduplication state, batch-index acks), the producer-name counter, and the list of open
// connections that broker shutdown goes through. Runs on the service's thread.
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>

#include "core/clock.hpp"
#include "pulsar/codec/codec.hpp"
#include "auth/permissions.hpp"
#include "pulsar/server/authentication_provider.hpp"
#include "pulsar/server/deduplication.hpp"
#include "pulsar/server/partitioned_topics.hpp"
#include "pulsar/server/producer_registry.hpp"
#include "pulsar/server/schema_registry.hpp"
#include "service/messaging_service.hpp"

namespace mop::pulsar::server {

struct ServerOptions {
  std::string server_version = "mop/0.1.0";
  std::uint32_t max_message_size = kDefaultMaxMessageSize;
  // What LOOKUP answers: "pulsar://<advertised host>:<bound port>". Clients that get the URL
  // they used stay on their connection; any other makes them open a second one.
  std::string service_url;
  // The same for TLS clients ("pulsar+ssl://host:port", brokerServicePortTls); empty: none.
  std::string service_url_tls;
  // Pulsar's allowAutoTopicCreation: false makes LOOKUP, PRODUCER and SUBSCRIBE of a topic that
  // does not exist fail with TopicNotFound.
  bool allow_auto_topic_creation = true;
  // Pulsar's allowAutoTopicCreationType=partitioned: a topic first named in PARTITIONED_METADATA
  // (what Pulsar clients ask before anything else) is created as a partitioned topic of
  // default_num_partitions partitions ("x-partition-0" ..). false: non-partitioned, as Pulsar.
  bool auto_create_partitioned = false;
  std::uint32_t default_num_partitions = 1;
  // Pulsar's brokerDeduplicationEnabled: a SEND whose sequence id is not above the last one
  // stored for its producer name on the topic is answered, not stored again.
  bool deduplication = false;
  // A namespace's own deduplication policy (the admin API's), which overrides `deduplication`
  // for its topics; empty, or nullopt from it: `deduplication` applies.
  std::function<std::optional<bool>(const service::NamespaceName&)> namespace_deduplication;
  // Authenticates CONNECT (and AUTH_RESPONSE); nullptr: every connection is accepted. Not owned.
  AuthenticationProvider* authentication_provider = nullptr;
  // authorizationEnabled: PRODUCER needs produce, SUBSCRIBE consume for the connection's role
  // (AuthorizationError otherwise); nullptr = no checks. Not owned.
  const auth::Permissions* permissions = nullptr;
  // Pulsar's authenticationRefreshCheckSeconds: how often an accepted client's expiry is checked.
  std::chrono::milliseconds auth_refresh_check{60'000};
  // We ping a client silent for one interval and drop it after two, and drop a connection whose
  // CONNECT handshake is not done one interval after it opened (as Pulsar brokers do).
  std::chrono::milliseconds keep_alive{30'000};
  // Where short topic names ("my-topic") live, as Pulsar clients expand them.
  std::string default_tenant = "public";
  std::string default_namespace = "default";
};

class Connection;

// One connected Pulsar producer, as the admin API's topic stats list it (Pulsar's PublisherStats).
struct ProducerInfo {
  const service::TopicName* topic;
  const std::string* name;
  std::uint64_t producer_id;
  proto::ProducerAccessMode access_mode;
  const std::string* address;         // the client's address and port
  const std::string* client_version;  // CONNECT's client_version
  std::chrono::system_clock::time_point since;  // PRODUCER_SUCCESS (or the PRODUCER, while queued)
  std::uint64_t msg_in;    // messages accepted for storing (each of a batch), and their bytes
  std::uint64_t bytes_in;
};

class PulsarServer {
public:
  // Reads back the producer sequence ids the service restored; partition counts and schemas
  // are written to `metadata` (which must outlive the server); partition counts are handed back
  // to restore(), schemas are read from it when a request needs one (SchemaRegistry).
  PulsarServer(service::MessagingService& service, service::MetadataStore& metadata, Clock& clock,
               ServerOptions options);
  // Takes back what the metadata store held at start (service::MetadataStore::load). Call once,
  // before the server serves.
  void restore(const service::MetadataSnapshot& restored);

  service::MessagingService& service() { return service_; }
  Clock& clock() { return clock_; }
  ServerOptions& options() { return options_; }
  PartitionedTopics& partitioned() { return partitioned_; }
  SchemaRegistry& schemas() { return schemas_; }
  ProducerRegistry& producers() { return producers_; }
  Deduplication& deduplication() { return deduplication_; }
  // Whether SENDs to `topic` are deduplicated now: its namespace's policy, else the server's.
  bool deduplicates(const service::TopicName& topic) const;
  // Producer names the server picks are unique for the life of the process.
  std::string next_producer_name();

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
  // CLOSE_CONSUMER to every consumer of the subscription, on every connection (a SEEK resets it).
  void close_consumers_of(const service::TopicName& topic, const std::string& subscription, std::string_view why);
  // Pulsar's topic unload (the admin API's): CLOSE_PRODUCER / CLOSE_CONSUMER to every producer
  // and consumer of the topic, on every connection; their clients reconnect them, as to a topic
  // that moved. Returns how many were closed.
  std::size_t unload(const service::TopicName& topic);
  // Every producer of every connection, in no particular order (a walk, for the admin API).
  void for_each_producer(const std::function<void(const ProducerInfo&)>& fn) const;

private:
  service::MessagingService& service_;
  Clock& clock_;
  ServerOptions options_;
  PartitionedTopics partitioned_;
  SchemaRegistry schemas_;
  Deduplication deduplication_;
  ProducerRegistry producers_;
  std::uint64_t producer_names_ = 0;
  std::map<std::uint64_t, Connection*> connections_;
  std::uint64_t next_connection_ = 0;
  bool shutting_down_ = false;
};

}  // namespace mop::pulsar::server
