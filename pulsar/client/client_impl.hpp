#pragma once
// Internal to pulsar/client: the objects behind Client, Producer and Consumer. One Impl per
// Client; one Connection per broker (shared by every producer and consumer on it); ProducerImpl
// and ConsumerImpl per topic or partition; PartitionedProducer and MultiConsumer over them.
#include <deque>
#include <map>
#include <memory>
#include <random>
#include <set>
#include <string>
#include <unordered_map>
#include <vector>

#include "pulsar/client/client.hpp"
#include "pulsar/codec/codec.hpp"

namespace mop::pulsar::client {

// "host:port" of a service URL or a broker URL.
struct Endpoint {
  std::string host;
  std::uint16_t port = 6650;
  bool tls = false;  // pulsar+ssl://
  std::string key() const { return host + ":" + std::to_string(port); }
};
// "pulsar://h1:6650,h2" or "pulsar+ssl://h1:6651" -> endpoints; invalid_argument if the scheme
// or a port is bad.
Result<std::vector<Endpoint>, Error> parse_service_url(const std::string& url);
// "x" -> "persistent://public/default/x", "t/ns/x" -> "persistent://t/ns/x"; full names kept.
Result<std::string, Error> full_topic_name(const std::string& topic);
// "pulsar://host:port" or "pulsar+ssl://host:port".
std::string endpoint_url(const Endpoint& e);
std::string partition_name(const std::string& topic, std::uint32_t partition);

class Connection;
class ProducerImpl;
class ConsumerImpl;

// What a Connection hands producers and consumers registered on it.
class ConnectionUser {
public:
  virtual ~ConnectionUser() = default;
  // SEND_RECEIPT, SEND_ERROR, CLOSE_PRODUCER / MESSAGE, CLOSE_CONSUMER, ACK_RESPONSE,
  // ACTIVE_CONSUMER_CHANGE, REACHED_END_OF_TOPIC. The frame is valid during the call only.
  virtual void on_frame(const Frame& frame) = 0;
  // The connection is gone; the user is no longer registered.
  virtual void on_disconnected() = 0;
};

// Something else with timers (a pattern consumer's polling), ticked with the rest.
class Timed {
public:
  virtual ~Timed() = default;
  virtual void on_tick(TimePoint now) = 0;
  virtual TimePoint next_deadline() const = 0;
};

using RequestCallback = std::function<void(Result<const proto::BaseCommand*, Error>)>;

class Connection final : public LinkHandler, public std::enable_shared_from_this<Connection> {
public:
  Connection(Client::Impl& client, Endpoint physical, std::string logical_url, std::string proxy_to_broker_url);
  ~Connection() override;

  void open();
  // Runs `cb` (posted) once CONNECTED arrived, or with the error.
  void when_ready(std::function<void(Result<void, Error>)> cb);
  bool ready() const { return state_ == State::ready; }
  bool closed() const { return state_ == State::closed; }
  // Requests awaiting an answer, plus 1 while connecting (Client::operations_in_flight).
  std::size_t in_flight() const {
    const bool connecting = state_ == State::connecting || state_ == State::handshaking;
    return requests_.size() + (connecting ? 1 + waiters_.size() : 0);
  }
  const std::string& key() const { return key_; }
  // key() with the scheme: "pulsar://host:port" or "pulsar+ssl://host:port".
  std::string url() const { return (physical_.tls ? "pulsar+ssl://" : "pulsar://") + key_; }

  // Sends a request whose request id is already in `command`; `cb` gets the answer (SUCCESS,
  // PRODUCER_SUCCESS, LOOKUP_RESPONSE, ...; ERROR turned into a server error), `disconnected` if the
  // connection goes, `timeout` after the operation timeout. Never called inline.
  void request(std::uint64_t request_id, const proto::BaseCommand& command, RequestCallback cb);
  void send(const proto::BaseCommand& command);
  void send_raw(std::string bytes);
  Checksum checksum() const { return checksum_; }
  std::uint32_t max_message_size() const { return max_message_size_; }
  std::int32_t protocol_version() const { return protocol_version_; }
  // The broker announced topic-list watchers (WATCH_TOPIC_LIST) in CONNECTED.
  bool supports_topic_watchers() const { return topic_watchers_; }

  void add_producer(std::uint64_t id, ConnectionUser* user) { producers_[id] = user; }
  void remove_producer(std::uint64_t id) { producers_.erase(id); }
  void add_consumer(std::uint64_t id, ConnectionUser* user) { consumers_[id] = user; }
  void remove_consumer(std::uint64_t id) { consumers_.erase(id); }
  // WATCH_TOPIC_UPDATE frames of this watcher id go to `user`.
  void add_watcher(std::uint64_t id, ConnectionUser* user) { watchers_[id] = user; }
  void remove_watcher(std::uint64_t id) { watchers_.erase(id); }

  // Closes the socket: requests fail with `disconnected`, users get on_disconnected().
  void close(const std::string& why);

  void on_tick(TimePoint now);
  TimePoint next_deadline() const;

  // LinkHandler
  void on_connected(const std::string& error) override;
  void on_bytes(std::span<const std::uint8_t> bytes) override;
  void on_closed(const std::string& why) override;

private:
  enum class State { idle, connecting, handshaking, ready, closed };
  struct Pending {
    TimePoint deadline;
    RequestCallback cb;
  };
  void handle(const Frame& frame);
  void answer(std::uint64_t request_id, Result<const proto::BaseCommand*, Error> result);
  void fail_waiters(const Error& e);

  Client::Impl& client_;
  Endpoint physical_;
  std::string logical_url_;
  std::string proxy_to_;
  std::string key_;
  State state_ = State::idle;
  std::unique_ptr<Link> link_;
  FrameReader reader_;
  Checksum checksum_ = Checksum::crc32c;
  std::uint32_t max_message_size_ = kDefaultMaxMessageSize;
  std::int32_t protocol_version_ = 0;
  std::vector<std::function<void(Result<void, Error>)>> waiters_;
  std::map<std::uint64_t, Pending> requests_;
  std::unordered_map<std::uint64_t, ConnectionUser*> producers_, consumers_, watchers_;
  bool topic_watchers_ = false;
  TimePoint connect_deadline_{};
  TimePoint last_received_{};
  bool ping_outstanding_ = false;
  proto::BaseCommand out_;
};

struct Client::Impl {
  Impl(Executor& executor, Clock& clock, Transport& transport, ClientConfig config);

  Executor& executor;
  Clock& clock;
  Transport& transport;
  ClientConfig config;
  std::vector<Endpoint> service;
  std::size_t next_service = 0;
  std::shared_ptr<bool> alive = std::make_shared<bool>(true);
  bool closing = false;
  std::uint64_t next_request_id = 1;
  std::uint64_t next_producer_id = 1;
  std::uint64_t next_consumer_id = 1;
  std::uint64_t next_watcher_id = 1;
  std::uint64_t lookup_redirects = 0;
  std::mt19937_64 rng;
  std::function<void()> wakeup;
  TimePoint reported_deadline = TimePoint::max();

  std::map<std::string, std::shared_ptr<Connection>> connections;  // by Connection::key()
  std::set<std::shared_ptr<ProducerImpl>> producers;                // open ones
  std::set<std::shared_ptr<ConsumerImpl>> consumers;
  std::set<std::shared_ptr<Timed>> timed;

  // Runs `fn` on the executor later, unless the client is gone by then.
  void post(std::function<void()> fn);
  // A timer of some object moved to `t`: tell the driver if it is earlier than what it knows.
  void arm(TimePoint t);
  TimePoint now() const { return clock.now(); }
  // A wait of `attempt` (0, 1, ...) backoffs, with +-20% jitter.
  Millis backoff(int attempt);

  // The connection for a broker (created on first use); `cb` once it is ready.
  void connection_to(const Endpoint& physical, const std::string& logical_url, const std::string& proxy_to,
                     std::function<void(Result<std::shared_ptr<Connection>, Error>)> cb);
  // A connection to one of the service URL's hosts (round-robin over the hosts that fail).
  void service_connection(std::function<void(Result<std::shared_ptr<Connection>, Error>)> cb, std::size_t tries = 0);
  void forget(Connection& c);

  // LOOKUP with redirects; `cb` gets the ready connection of the owning broker.
  void lookup_connection(const std::string& topic, std::function<void(Result<std::shared_ptr<Connection>, Error>)> cb);
  void partitions(const std::string& topic, std::function<void(Result<std::uint32_t, Error>)> cb);

  void on_tick();
  TimePoint next_deadline() const;
};

// Turns a command's ServerError + message into an Error naming `what`.
Error server_failure(const std::string& what, proto::ServerError e, const std::string& message);

}  // namespace mop::pulsar::client
