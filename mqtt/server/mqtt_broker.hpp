#pragma once
// MqttBroker: MQTT sessions over the messaging service. It owns the session registry (client id
// -> session), turns MQTT subscriptions into Pulsar subscriptions on every matching topic
// (including topics created later), routes publishes, retained messages and wills, and applies
// the acknowledgements clients send back to the subscriptions' cursors.
//
// A ClientConnection joins one network connection's Protocol to the broker. Transports (TCP
// today, TLS and WebSocket later) implement Transport and feed bytes to ClientConnection.
//
// Persistence: sessions that outlive their connection (3.1.1 clean session 0, MQTT 5 session
// expiry > 0) and will messages are written through the service (put_session / put_will) when
// they change and read back when the broker is constructed; see "Persistent sessions" in the
// README for what is stored when, and why.
//
// Thread: everything here is owned by the broker thread.
#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <unordered_map>
#include <vector>

#include "core/clock.hpp"
#include "mqtt/server/authenticator.hpp"
#include "mqtt/server/topic_mapping.hpp"
#include "mqtt/session/protocol.hpp"
#include "service/messaging_service.hpp"

namespace mop::mqtt {

class Transport {
public:
  virtual ~Transport() = default;
  // Output is waiting in the protocol's OutBuffer.
  virtual void output_ready() = 0;
  // Flush what is queued, then close the socket. Called once.
  virtual void close_after_flush() = 0;
  virtual std::string peer() const = 0;
  // Bytes accepted for this connection and not yet written to the socket.
  virtual std::size_t queued_bytes() const = 0;
};

struct BrokerOptions {
  TopicDefaults defaults;
  // Most QoS 1/2 deliveries in flight to one client (MoP's receiveMaximum).
  std::uint32_t receive_maximum = 1000;
  // A client that has this many bytes waiting to be written is congested. Its session then
  // takes no more messages until the socket has drained: on a persistent topic they wait in the
  // log (nothing is lost, at any QoS); QoS 0 messages of a non-persistent topic are dropped, as
  // MQTT allows, since nothing holds them. QoS 1/2 are also bounded by receive_maximum.
  std::size_t max_queued_bytes = 1024 * 1024;
  ProtocolLimits limits;
  // Most clients connected at once (mqttMaxConnections); 0 = no limit. One more gets CONNACK
  // 0x97 Quota exceeded (3.1.1: return code 3, server unavailable); a takeover of a connected
  // client id is not one more.
  std::size_t max_connections = 0;
  // MQTT 5 enhanced authentication; none by default (a CONNECT naming a method gets 0x8C).
  std::shared_ptr<Authenticator> authenticator;
};

class MqttBroker;
struct SessionEntry;
struct SessionBinding;

class ClientConnection final : public ProtocolHandler {
public:
  ClientConnection(MqttBroker& broker, Transport& transport);
  ~ClientConnection() override;

  Protocol& protocol() { return *protocol_; }
  const Protocol& protocol() const { return *protocol_; }
  Transport& transport() { return transport_; }
  bool congested() const;
  // Counts a QoS 0 message not delivered because the client was congested.
  void note_dropped_qos0() { ++dropped_qos0_; }
  std::uint64_t dropped_qos0() const { return dropped_qos0_; }
  // The socket is not keeping up: the session's receiver gets no permits until
  // on_output_drained(), then the whole window again.
  void pause_deliveries();
  bool deliveries_paused() const { return deliveries_paused_; }
  std::uint64_t delivery_pauses() const { return delivery_pauses_; }
  // Everything queued for the client has been written to its socket.
  void on_output_drained();

  // ProtocolHandler
  void output_ready() override;
  void close(CloseReason reason, const std::string& detail) override;
  void on_connect(const Connect& connect) override;
  void on_publish(const Publish& publish, PublishDone done) override;
  std::vector<std::uint8_t> on_subscribe(const Subscribe& subscribe) override;
  void on_subscribed(const Subscribe& subscribe, const std::vector<std::uint8_t>& codes) override;
  std::vector<ReasonCode> on_unsubscribe(const Unsubscribe& unsubscribe) override;
  void on_delivery_acked(const DeliveryOrigin& origin) override;
  void on_inflight_freed(const DeliveryOrigin& origin) override;
  void on_pubrec_received(PacketId id, const DeliveryOrigin& origin, std::function<void()> done) override;
  void on_pubcomp_received(const DeliveryOrigin& origin) override;
  void on_inbound_released(PacketId id, std::function<void()> done) override;
  bool supports_auth_method(const std::string& method) const override;
  void on_auth(const Auth& auth) override;

private:
  friend class MqttBroker;
  MqttBroker& broker_;
  Transport& transport_;
  std::shared_ptr<Protocol> protocol_;
  // Held by pointer: an idle connection should not carry a Will and a CONNECT (1.7 KiB) inline.
  std::unique_ptr<Will> will_;
  std::shared_ptr<SessionEntry> entry_;
  bool closed_ = false;
  std::uint64_t dropped_qos0_ = 0;
  bool deliveries_paused_ = false;
  std::uint64_t delivery_pauses_ = 0;
  // Enhanced authentication in progress: the exchange's state and the CONNECT it admits.
  std::unique_ptr<Authenticator::State> auth_state_;
  std::unique_ptr<Connect> pending_connect_;
  // The last topic this client published to, mapped: publishers mostly repeat their topic, and
  // mapping it (URL encoding, parsing) is the costliest step of a small publish.
  std::string last_topic_;
  std::optional<service::TopicName> last_pulsar_topic_;
};

class MqttBroker final : public service::TopicListener {
public:
  // Restores the sessions and wills the service holds (service::MessagingService::load_sessions,
  // load_wills): sessions come back offline, their Pulsar subscriptions collecting messages,
  // their expiry counted from when they were disconnected; wills are published when due.
  MqttBroker(service::MessagingService& service, const Clock& clock, BrokerOptions options);
  ~MqttBroker() override;
  MqttBroker(const MqttBroker&) = delete;
  MqttBroker& operator=(const MqttBroker&) = delete;

  const BrokerOptions& options() const { return options_; }
  const Clock& clock() const { return clock_; }
  const TopicMapper& mapper() const { return mapper_; }

  // Closes every connection (server shutdown).
  void shutdown();
  // Timers: ends sessions whose expiry interval ran out and publishes wills whose delay did.
  // The listener calls it about once a second; tests call it with a manual clock.
  void tick();
  std::size_t session_count() const { return sessions_.size(); }
  std::size_t connection_count() const { return connections_.size(); }
  // Connections with an accepted CONNECT (what max_connections bounds).
  std::size_t live_connection_count() const { return live_connections_; }
  std::size_t pending_will_count() const { return pending_wills_.size(); }

  // service::TopicListener
  void on_topic_created(const service::TopicName& topic) override;

private:
  friend class ClientConnection;
  friend struct SessionEntry;

  void connect(ClientConnection& conn, const Connect& c);
  // The CONNECT is authenticated: take over / resume / create the session and accept.
  void admit(ClientConnection& conn, const Connect& c);
  void auth(ClientConnection& conn, const Auth& a);
  // Applies one authentication step: CONNACK (success / refusal) or AUTH 0x18 (more).
  void auth_step(ClientConnection& conn, const Authenticator::Step& step, bool reauth);
  void disconnected(ClientConnection& conn, CloseReason reason, const std::string& detail);
  // Routes a publish to `topic`; `done` (may be empty) runs once it is stored.
  void publish(const service::TopicName& topic, const std::string& client_id, const Publish& publish,
               PublishDone done);
  std::vector<std::uint8_t> subscribe(SessionEntry& entry, const Subscribe& s);
  void send_retained(ClientConnection& conn, const Subscribe& s, const std::vector<std::uint8_t>& codes);
  std::vector<ReasonCode> unsubscribe(SessionEntry& entry, const Unsubscribe& u);
  void ack(const DeliveryOrigin& origin);
  // Grants the connection's session receiver its delivery window, less what is in flight.
  void grant_window(ClientConnection& conn);

  // Subscribes the session to `topic` for `filter` (creating the Pulsar subscription when it is
  // the session's first filter on that topic).
  void bind(SessionEntry& entry, const service::TopicName& topic, const std::string& filter,
            const FilterScope& scope, service::InitialPosition pos);
  void end_session(const std::shared_ptr<SessionEntry>& entry);
  void unbind(SessionEntry& entry, const std::pair<service::TopicName, std::string>& key,
              const SessionBinding& b, bool explicit_unsubscribe);
  void watch(const service::NamespaceName& ns, SessionEntry& entry);
  void publish_will(const std::string& client_id, const Will& will);

  // Persistence of sessions and wills (see the README).
  void restore();
  // Writes the session's record as it is now (or deletes it when the session no longer outlives
  // its connection). `done` (may be empty) runs once the write is durable.
  void persist(const std::shared_ptr<SessionEntry>& entry, std::function<void(bool ok)> done = {});
  service::SessionRecord record_of(const SessionEntry& entry) const;
  // Drops the oldest `n` completed QoS 2 deliveries from the record once their subscription
  // acknowledgements are surely stored (see the definition).
  void retire(const std::shared_ptr<SessionEntry>& entry, std::size_t n);
  void store_will(const std::string& client_id, const Will& will, std::uint64_t due_at_ms);
  void forget_will(const std::string& client_id);
  // Adds one filter to a session: its options, scope, watch and Pulsar subscriptions.
  void add_filter(SessionEntry& entry, const std::string& filter, std::uint8_t granted, const FilterScope& scope);

  // A will waiting for its delay interval (MQTT 5 3.1.3.2.2), by client id.
  struct PendingWill {
    TimePoint due;
    Will will;
  };

  service::MessagingService& service_;
  const Clock& clock_;
  BrokerOptions options_;
  TopicMapper mapper_;
  std::unordered_map<std::string, std::shared_ptr<SessionEntry>> sessions_;
  std::set<ClientConnection*> connections_;
  std::size_t live_connections_ = 0;
  bool shutting_down_ = false;  // shutdown() ran: CONNECTs get 0x89 Server busy
  // Namespaces watched for new topics, and the sessions with filters in each.
  std::map<service::NamespaceName, std::set<SessionEntry*>> watchers_;
  // Members (sessions) of each `$share` group's Pulsar subscription, per topic.
  std::map<std::pair<service::TopicName, std::string>, std::size_t> group_members_;
  // Disconnected sessions with a finite expiry interval: when each ends.
  std::map<std::string, TimePoint> expiries_;
  std::map<std::string, PendingWill> pending_wills_;
  // Client ids whose will the service holds (written or restored, not yet deleted).
  std::set<std::string> stored_wills_;
  // Completions of service writes check it: the broker may be gone by then.
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

// MQTT 5 PUBLISH properties <-> Pulsar message properties (names documented in the README).
// User properties keep their own names and order; the others use reserved `__mqtt_` names.
// Message expiry is stored as the absolute wall-clock time (ms) at which the message expires.
void to_message_properties(const Properties& in, std::uint64_t now_ms, bool retain,
                           std::vector<std::pair<std::string, std::string>>& out);
// Back: fills `out` and returns false when the message has expired (it must not be delivered).
// `expires_at_ms`, when given, receives the absolute expiry (0: the message does not expire).
bool from_message_properties(const std::vector<std::pair<std::string, std::string>>& in, std::uint64_t now_ms,
                             Properties& out, bool& retain, std::uint64_t* expires_at_ms = nullptr);

}  // namespace mop::mqtt
