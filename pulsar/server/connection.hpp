#pragma once
// The Pulsar binary protocol, server side, over service::MessagingService. Sans socket: bytes and
// timer ticks in, encoded frames out (OutBuffer), so it is unit-tested with encoded frames. One
// Connection per client connection; a PulsarServer (pulsar_server.hpp) holds what connections
// share. Framing, the dispatch table and keep-alive are in connection.cpp, the command handlers
// in handlers/, one file per command family. Everything runs on the service's thread.
#include <array>
#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "core/clock.hpp"
#include "core/out_buffer.hpp"
#include "net/stream.hpp"
#include "pulsar/codec/codec.hpp"
#include "pulsar/server/authentication_provider.hpp"
#include "pulsar/server/pulsar_server.hpp"
#include "service/messaging_service.hpp"

namespace mop::pulsar::server {

// The protocol side of one socket (a net::StreamHandler); it talks back through the net::Stream
// it is given (net/stream.hpp), which is all it knows of the socket.
class Connection final : public net::StreamHandler {
public:
  Connection(PulsarServer& server, net::Stream& stream);
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;
  // Releases producers and consumers (their unacknowledged messages go back for redelivery).
  ~Connection();

  void on_bytes(std::span<const std::uint8_t> bytes) override;
  // Who the client authenticated as (empty without an authentication provider).
  const std::string& role() const { return role_; }
  // Keep-alive and credential refresh: call at or after next_deadline().
  void on_tick() override;
  TimePoint next_deadline() const override { return next_check_; }
  // The socket is gone.
  void on_closed() override;

  OutBuffer& output() override { return out_; }
  bool closed() const override { return closed_; }
  // Requests are pipelined: each frame is handled at once, and an answer that waits for the store
  // (SEND, a schema, a partition count) is counted until it is sent. Once kMaxWaitingRequests
  // wait, the transport stops reading (net::StreamHandler::input_held) until one is answered,
  // so a client cannot queue requests without bound while the store is slow or stalled.
  static constexpr std::size_t kMaxWaitingRequests = 1000;  // Pulsar's maxPendingPublishRequestsPerConnection
  bool input_held() const override { return !closed_ && waiting_requests_ >= kMaxWaitingRequests; }
  std::int32_t protocol_version() const { return protocol_version_; }
  std::size_t producer_count() const { return producers_.size(); }
  std::size_t consumer_count() const { return consumers_.size(); }

  // Called by the ProducerRegistry: one of our producers is closed (fenced by an
  // ExclusiveWithFencing producer): CLOSE_PRODUCER to the client.
  void close_producer_from_server(std::uint64_t producer_id);
  // CLOSE_CONSUMER to the client, which subscribes again; `why` goes to the log. Called by our
  // Consumer (its subscription was deleted elsewhere) and by close_consumers_of.
  void close_consumer_from_server(std::uint64_t consumer_id, std::string_view why);
  // Called by PulsarServer::close_consumers_of (a SEEK reset the subscription):
  // close_consumer_from_server for each of our consumers of that subscription.
  void close_consumers_of(const service::TopicName& topic, const std::string& subscription, std::string_view why);
  // Called by PulsarServer::unload: CLOSE_PRODUCER and CLOSE_CONSUMER for each of our producers
  // and consumers of `topic` (the client reconnects them). Returns how many were closed.
  std::size_t unload(const service::TopicName& topic);
  // Called by the ProducerRegistry: a queued WaitForExclusive producer got the topic:
  // PRODUCER_SUCCESS producer_ready=true.
  void producer_now_ready(std::uint64_t producer_id, std::uint64_t request_id, std::uint64_t epoch);
  // Called by PulsarServer: the broker is shutting down: CLOSE_PRODUCER / CLOSE_CONSUMER for
  // each producer and consumer, then close after flushing (see PulsarServer::shutdown).
  void server_shutdown();
  // Called by PulsarServer::for_each_producer: each of our producers.
  void for_each_producer(const std::function<void(const ProducerInfo&)>& fn) const;

private:
  struct Producer {
    service::TopicName topic;
    std::string name;
    bool ready = true;  // false while a WaitForExclusive producer waits for the topic
    proto::ProducerAccessMode access_mode = proto::Shared;
    std::chrono::system_clock::time_point since{};
    // The version of the topic's schema it was told (PRODUCER with a schema), for a retried PRODUCER.
    std::optional<std::uint64_t> schema_version;
    std::uint64_t msg_in = 0;  // messages accepted for storing (each of a batch)
    std::uint64_t bytes_in = 0;
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
  // A request now waits for the store (counted for input_held); request_answered() when its
  // answer is out (only while the connection is alive), which reads on if it was held.
  void request_waits() { ++waiting_requests_; }
  void request_answered();
  // A topic name as clients send it (full, or short in the default namespace); nullopt if invalid.
  std::optional<service::TopicName> resolve(const std::string& topic) const;
  // Whether the topic may be used: it exists or may be created.
  bool usable(const service::TopicName& topic);
  // One id of an ACK: individual or cumulative, whole entry or batch indexes (ack_set).
  void ack_one(const Consumer& consumer, const proto::MessageIdData& id, bool cumulative);
  void deliver(Consumer& consumer, service::MessageId id, const service::MessagePtr& message,
               std::uint32_t redelivery_count);

  // One handler per command, in the file named (handlers/ unless it says connection.cpp).
  // connect.cpp
  void on_connect(const Frame& f);
  void on_auth_response(const Frame& f);
  // Every auth_refresh_check: AUTH_CHALLENGE once the credentials expired, close if the last one
  // was not answered with good ones.
  void check_credentials(TimePoint now);
  // authorizationEnabled: may this connection's role do `action` on `topic`? (Logs a refusal.)
  bool authorized(auth::Action action, const service::TopicName& topic);
  // Acts on the authentication provider's answer: CONNECTED, AUTH_CHALLENGE, or ERROR and close.
  void authenticated(const AuthOutcome& outcome);
  void send_connected();
  // connection.cpp (keep-alive)
  void on_ping(const Frame& f);
  void on_pong(const Frame& f);
  // lookup.cpp
  void on_partitioned_metadata(const Frame& f);
  void on_lookup(const Frame& f);
  void on_get_topics_of_namespace(const Frame& f);
  // producer.cpp
  void on_producer(const Frame& f);
  void producer_success(const proto::CommandProducer& q, const Producer& p, bool ready,
                        std::optional<std::uint64_t> schema_version);
  void on_close_producer(const Frame& f);
  // send.cpp
  void on_send(const Frame& f);
  // consumer.cpp
  void on_subscribe(const Frame& f);
  void on_flow(const Frame& f);
  void on_redeliver(const Frame& f);
  void on_unsubscribe(const Frame& f);
  void on_close_consumer(const Frame& f);
  // ack.cpp
  void on_ack(const Frame& f);
  // schema.cpp
  void on_get_schema(const Frame& f);
  void on_get_or_create_schema(const Frame& f);
  // seek.cpp
  void on_seek(const Frame& f);
  void on_get_last_message_id(const Frame& f);

  PulsarServer& server_;
  service::MessagingService& service_;
  net::Stream& stream_;
  std::string peer_;
  FrameReader reader_;
  OutBuffer out_;
  bool connected_ = false;
  std::unique_ptr<AuthenticationProvider::Session> auth_;  // set while CONNECT is being authenticated
  // (or, once connected, while a refresh challenge waits for its AUTH_RESPONSE)
  std::string auth_method_;  // CONNECT's auth_method_name
  std::string role_;         // who the provider accepted (empty without a provider)
  std::string client_version_;  // CONNECT's client_version
  std::optional<std::int64_t> auth_expires_at_;  // unix seconds; checked every auth_refresh_check
  TimePoint next_refresh_check_;
  bool refresh_pending_ = false;  // AUTH_CHALLENGE for a refresh sent, no good answer yet
  bool closed_ = false;
  std::size_t waiting_requests_ = 0;  // see input_held
  std::int32_t protocol_version_ = 0;
  TimePoint last_received_;
  TimePoint next_check_;
  TimePoint opened_;  // the handshake must be done one keep-alive interval after this
  std::unordered_map<std::uint64_t, Producer> producers_;
  std::unordered_map<std::uint64_t, std::unique_ptr<Consumer>> consumers_;
  // Publish callbacks outlive nothing: they check this before touching the connection.
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
  std::string scratch_;  // decompression buffer, reused
  std::uint64_t serial_ = 0;  // registration with the server
};

// The single place where service and codec errors become Pulsar's ServerError.
proto::ServerError to_server_error(std::error_code ec);

}  // namespace mop::pulsar::server
