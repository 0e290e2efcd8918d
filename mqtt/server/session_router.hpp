#pragma once
// SessionRouter: MQTT sessions over the messaging service (the messaging itself, topics,
// subscriptions and cursors, is broker::Broker's behind service::MessagingService). It owns the
// session registry (client id -> SessionEntry), turns MQTT subscriptions into Pulsar
// subscriptions on every matching topic (including topics created later), routes publishes,
// retained messages and wills, and applies the acknowledgements clients send back to the
// subscriptions' cursors.
//
// One handler per MQTT packet, in one file per concern (the README's table maps each packet to
// its file): router_connect.cpp (CONNECT, AUTH, takeover, the connection's end),
// router_publish.cpp (PUBLISH in, PUBREL in), router_subscribe.cpp (SUBSCRIBE with retained
// delivery, UNSUBSCRIBE, topics created later), router_delivery.cpp (PUBLISH out to a session,
// PUBACK / PUBREC / PUBCOMP in, the delivery window and the congestion pause), router_will.cpp
// (wills), router_persistence.cpp (session records: write, restore, retire), and
// message_properties.cpp (MQTT 5 properties <-> Pulsar message properties).
//
// ClientConnection (client_connection.hpp) joins a network connection's Protocol to the router;
// SessionEntry (session_entry.hpp) is a session's state.
//
// Persistence: sessions that outlive their connection (3.1.1 clean session 0, MQTT 5 session
// expiry > 0) and will messages are written to the service::SessionStore (put_session /
// put_will) when they change and handed back to restore() before the router serves; see
// "Persistent sessions" in the README for what is stored when, and why.
//
// Thread: everything here is owned by one thread, the service's.
#include <array>
#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "auth/permissions.hpp"
#include "auth/provider.hpp"
#include "core/clock.hpp"
#include "mqtt/server/enhanced_authenticator.hpp"
#include "mqtt/server/client_connection.hpp"
#include "mqtt/server/message_properties.hpp"
#include "mqtt/server/session_entry.hpp"
#include "mqtt/server/topic_mapping.hpp"
#include "mqtt/session/protocol.hpp"
#include "service/messaging_service.hpp"
#include "service/session_store.hpp"

namespace mop::mqtt {

struct RouterOptions {
  TopicDefaults defaults;
  // Most QoS 1/2 deliveries in flight to one client (MoP's receiveMaximum).
  std::uint32_t receive_maximum = 1000;
  // A client that has this many bytes waiting to be written, after the socket took what it
  // could (net::Stream::write_now), is congested (mqttMaxQueuedBytes). Its session then takes
  // no more messages until the socket has drained: on a persistent topic they wait in the log
  // (nothing is lost, at any QoS); QoS 0 messages of a non-persistent topic are dropped, as
  // MQTT allows, since nothing holds them. QoS 1/2 are also bounded by receive_maximum.
  std::size_t max_queued_bytes = 1024 * 1024;
  ProtocolLimits limits;
  // Most clients connected at once (mqttMaxConnections); 0 = no limit. One more gets CONNACK
  // 0x97 Quota exceeded (3.1.1: return code 3, server unavailable); a takeover of a connected
  // client id is not one more.
  std::size_t max_connections = 0;
  // Asked on every CONNECT: a non-empty answer (why the service cannot take clients now) refuses
  // it with CONNACK 0x88 Server unavailable (3.1.1: return code 3) and is logged. `mop proxy`
  // answers while the Pulsar cluster cannot be reached. Empty function: always available.
  std::function<std::string()> unavailable;
  // QoS 2 exactly once over a session store that is not atomic with the topics (`mop proxy`, when
  // the Pulsar cluster deduplicates: app/proxy.cpp probes it at start). An inbound QoS 2 message
  // of a session that outlives its connection gets a sequence id, stored in the session record
  // with its packet id before the message is handed to the service with that id as its
  // service::DedupMark (producer "mqtt-qos2-" + client id); a resend of the packet id, here or on
  // another server that resumed the record, is handed over again with the same id. false: the
  // message first and its id recorded after it (at least once across a crash in between).
  bool qos2_deduplication = false;
  // MQTT 5 enhanced authentication; none by default (a CONNECT naming a method gets 0x8C).
  std::shared_ptr<EnhancedAuthenticator> authenticator;
  // Asked for every admitted CONNECT, after an older connection of the client id here was closed
  // and before the CONNACK, which waits for `done`: true once the announcement is stored, false
  // when it could not be (the CONNECT then gets CONNACK 0x88 Server unavailable, 3.1.1: return
  // code 3). `mop proxy` announces the connection to the other proxies, which release() the
  // client; so of two connections of one id the one acknowledged later is the later announced,
  // and wins. Empty: the CONNACK does not wait.
  std::function<void(const std::string& client_id, std::function<void(bool stored)> done)> announce;
  // Asked on a CONNECT without clean start when this server holds no session of the client id:
  // the session record stored elsewhere (`mop proxy`: written by another proxy), resumed here as
  // a restart resumes it. Empty, or std::nullopt: a new session.
  std::function<std::optional<service::SessionRecord>(const std::string& client_id)> find_session;
  // Asked first, on such a CONNECT: admission goes on when `done` runs, with true once the shared
  // store has read every write stored before the ask, false when it could not (the CONNECT gets
  // CONNACK 0x88 Server unavailable). `mop proxy`: the sessions table synced, so the record a
  // client resumes has what the proxy it left wrote last, also when that proxy died just before.
  // Empty: find_session is asked at once.
  std::function<void(std::function<void(bool)> done)> sync_sessions;
  // Asked on a CONNECT without a will when this server stores no will of the client id: whether
  // the shared store holds one another server wrote (`mop proxy`: a will of a proxy that died,
  // which an heir may publish). It is deleted then: the client is back, so no server publishes
  // it. Empty: never.
  std::function<bool(const std::string& client_id)> has_shared_will;
  // Asked before a will taken over with adopt_wills() is published: false when the stored will is
  // no longer the one adopted (its client came back through another server, which rewrote or
  // deleted it); the will is then dropped here. Empty: always true.
  std::function<bool(const std::string& client_id)> owns_will;
  // mqttAuthenticationEnabled: a CONNECT without an authentication method is admitted only if its
  // user name and password pass these providers (mqttAuthenticationMethods, in order); null =
  // everyone is admitted. Refusals: CONNACK 0x86 (bad credentials) or 0x87 (none given).
  std::shared_ptr<const auth::Authenticator> login;
  // mqttAuthenticationMethods names `tls` (Pulsar's AuthenticationProviderTls): a client whose
  // certificate the TLS listener verified (mTLS) and that sends no password is admitted with the
  // certificate's common name as its role (net::Stream::peer_certificate_cn()).
  bool tls_login = false;
  // mqttAuthorizationEnabled: PUBLISH needs produce, SUBSCRIBE consume on the topic (a wildcard
  // filter: on its namespace, unless allow_wildcard_filters); null = no checks.
  std::shared_ptr<const auth::Permissions> permissions;
  bool allow_wildcard_filters = false;  // authorizationAllowWildcardsMatching
};

class SessionRouter final : public service::TopicListener {
public:
  // Session records and wills are written to `store` (which must outlive the router).
  SessionRouter(service::MessagingService& service, service::SessionStore& store, const Clock& clock,
                RouterOptions options);
  ~SessionRouter() override;
  SessionRouter(const SessionRouter&) = delete;
  SessionRouter& operator=(const SessionRouter&) = delete;

  // Takes back what `store` held at start (service::SessionStore::load): sessions come back
  // offline, their Pulsar subscriptions collecting messages, their expiry counted from when they
  // were disconnected; wills are published when due. Call once, before the router serves.
  void restore(service::SessionSnapshot restored);

  const RouterOptions& options() const { return options_; }
  const Clock& clock() const { return clock_; }
  const TopicMapper& mapper() const { return mapper_; }

  // Closes every connection (server shutdown).
  void shutdown();
  // The client connected to another server sharing this one's state (`mop proxy`): its
  // connection here, if any, is closed as a takeover (0x8E; its will goes out unless it has a
  // delay, which the reconnection cancels) and its session is forgotten here, detached from its
  // subscriptions, without a write to the session store: the record, the will and the Pulsar
  // subscriptions belong to the new connection now.
  void release(const std::string& client_id);
  // Wills another server stored and can no longer publish (`mop proxy`: those of a proxy whose
  // liveness lease this one took, cluster/README.md), already rewritten in the store as this
  // server's. Each goes out at its `due_at_ms` (wall clock; past: at the next tick()) unless its
  // client connects here first (a reconnect cancels a delayed will), or connects elsewhere
  // (release()), or RouterOptions::owns_will says the stored will changed; published, its record
  // is deleted as for the wills of this server's own clients.
  void adopt_wills(std::vector<service::WillRecord> wills);
  // Session records another server stored and can no longer keep (`mop proxy`: those of a proxy
  // whose liveness lease this one took). Each is held here as an offline session, disconnected
  // at its `disconnected_at_ms` (0, connected when that server died: now), rewritten as this
  // server's, and expires as this server's own do (expiry 0: at the next tick(); its Pulsar
  // subscriptions unsubscribed, its record deleted) unless its client comes back here first, or
  // connects elsewhere (release()). A client id held here already is left alone.
  void adopt_sessions(std::vector<service::SessionRecord> records);
  // Another server took this one's state over (`mop proxy`: the liveness lease was lost, split
  // brain): every connection is closed as on shutdown (MQTT 5: DISCONNECT 0x8B; wills neither
  // published nor deleted, they are the other server's now), the wills waiting here are
  // forgotten without a write, and the sessions kept here are dropped without a write. New
  // CONNECTs are admitted as before (RouterOptions::unavailable decides).
  void hand_over();
  // The producer name a client's QoS 2 messages carry with RouterOptions::qos2_deduplication.
  static std::string qos2_producer_name(const std::string& client_id);
  // Timers: ends sessions whose expiry interval ran out and publishes wills whose delay did.
  // The listener calls it about once a second; tests call it with a manual clock.
  void tick();
  std::size_t session_count() const { return sessions_.size(); }
  std::size_t connection_count() const { return connections_.size(); }
  // Connections with an accepted CONNECT (what max_connections bounds).
  std::size_t live_connection_count() const { return live_connections_; }
  std::size_t pending_will_count() const { return pending_wills_.size(); }
  // Metrics (MoP's names in parentheses): clients admitted since start (mop_total_client_count),
  // the most connected at once (mop_maximum_client_count), topic filters over every session
  // (mop_sub_count; counted when asked, no cost per message), PUBLISH packets in and out.
  std::uint64_t total_client_count() const { return total_connections_; }
  std::size_t maximum_client_count() const { return max_live_connections_; }
  std::size_t subscription_count() const;
  const PublishCounters& publish_counters() const { return counters_; }
  // Connections ended, by CloseReason (mop_disconnects_total).
  static constexpr std::size_t kCloseReasons = kCloseReasonCount;
  const std::array<std::uint64_t, kCloseReasons>& close_counts() const { return closes_; }
  // One MQTT session as the admin API shows it (http/mqtt_admin.cpp).
  struct ClientInfo {
    std::string client_id;
    bool connected = false;
    std::string peer;  // address:port while connected
    ProtocolVersion version = ProtocolVersion::v311;
    std::uint16_t keep_alive_seconds = 0;
    bool clean_start = true;
    std::vector<std::string> filters;
    std::size_t inflight = 0;  // QoS 1/2 deliveries not yet acknowledged by the client
    std::uint64_t connected_at_ms = 0;     // wall clock, while connected
    std::uint64_t disconnected_at_ms = 0;  // wall clock, while not
  };
  // Every session, connected or kept for a client that is away, by client id.
  std::vector<ClientInfo> clients() const;
  // Closes the client's connection as an operator's action (MQTT 5: DISCONNECT 0x98; its will
  // is published, its session kept as its CONNECT asked). False if it is not connected.
  bool disconnect_client(const std::string& client_id);
  // The broker's own retained QoS 0 message on the MQTT topic `topic` (SysTopics' `$SYS/...`),
  // routed as a client's publish is (router_publish.cpp).
  void publish_system(const std::string& topic, const std::string& payload);

  // service::TopicListener (router_subscribe.cpp): wildcard filters pick the new topic up.
  void on_topic_created(const service::TopicName& topic) override;

  // ---- Handlers: ClientConnection calls one per packet, SessionEntry calls deliver().

  // A ClientConnection exists / is gone (router_connect.cpp).
  void connection_opened(ClientConnection& conn);
  void connection_destroyed(ClientConnection& conn);
  // router_connect.cpp
  void handle_connect(ClientConnection& conn, const Connect& c);
  void handle_auth(ClientConnection& conn, const Auth& a);
  bool supports_auth_method(const std::string& method) const;
  // The connection ended (DISCONNECT, network loss, protocol error, takeover, shutdown).
  void handle_close(ClientConnection& conn, CloseReason reason, const std::string& detail);
  // Authorization (router_publish.cpp / router_subscribe.cpp): may `role` produce to / consume
  // from `topic`? Always true without RouterOptions::permissions.
  bool may(const std::string& role, auth::Action action, const service::TopicName& topic) const;
  // router_publish.cpp: PUBLISH in (`done` runs once it is stored), PUBREL in.
  void handle_publish(ClientConnection& conn, const Publish& publish, PublishDone done);
  void handle_pubrel(ClientConnection& conn, PacketId id, std::function<void()> done);
  // router_subscribe.cpp: SUBSCRIBE (`done` gets the codes for SUBACK once every subscription it
  // made exists in the service, MessagingService::subscribe's `ready`), then its retained
  // messages once the SUBACK is out; UNSUBSCRIBE.
  void handle_subscribe(ClientConnection& conn, const Subscribe& s,
                        std::function<void(std::vector<std::uint8_t>)> done);
  void send_retained(ClientConnection& conn, const Subscribe& s, const std::vector<std::uint8_t>& codes);
  std::vector<ReasonCode> handle_unsubscribe(ClientConnection& conn, const Unsubscribe& u);
  // router_delivery.cpp: a message for a session; the client's PUBACK / PUBREC / PUBCOMP; the
  // client's socket drained.
  void deliver(SessionEntry& entry, const service::TopicName& topic, const std::string& subscription,
               service::MessageId id, const service::MessagePtr& message);
  void handle_delivery_acked(const DeliveryOrigin& origin);
  // router_subscribe.cpp: a Pulsar subscription the session was bound to was deleted by someone
  // else (its topic deleted through the admin API, or the subscription itself): the binding
  // goes, the session's filters stay, and they bind again when a topic they match is created
  // (a publish recreating the deleted topic), as a Pulsar consumer's reconnect would.
  void subscription_removed(SessionEntry& entry, const service::TopicName& topic, const std::string& subscription);
  void handle_inflight_freed(ClientConnection& conn, const DeliveryOrigin& origin);
  void handle_pubrec(ClientConnection& conn, const DeliveryOrigin& origin, std::function<void()> done);
  void handle_pubcomp(ClientConnection& conn, const DeliveryOrigin& origin);
  void handle_output_drained(ClientConnection& conn);

private:
  // router_connect.cpp
  // The CONNECT is authenticated: take over / resume / create the session and accept.
  // `synced`: RouterOptions::sync_sessions has answered for this CONNECT.
  void admit(ClientConnection& conn, const Connect& c, bool synced = false);
  // The CONNACK of an admitted connection, and what follows it.
  void accept(ClientConnection& conn, const std::shared_ptr<SessionEntry>& entry, bool present);
  // Applies one authentication step: CONNACK (success / refusal) or AUTH 0x18 (more).
  void auth_step(ClientConnection& conn, const EnhancedAuthenticator::Step& step, bool reauth);
  // session_router.cpp
  void end_session(const std::shared_ptr<SessionEntry>& entry);
  // router_publish.cpp: routes a publish to `topic`; `done` (may be empty) runs once it is stored.
  void publish(const service::TopicName& topic, const std::string& client_id, const Publish& publish,
               PublishDone done, std::optional<service::DedupMark> dedup = std::nullopt);
  // The same with the topic's name shared, as a publisher's connection keeps it: its completion
  // holds the name without a copy.
  void publish(std::shared_ptr<const service::TopicName> topic, const std::string& client_id,
               const Publish& publish, PublishDone done, std::optional<service::DedupMark> dedup = std::nullopt);
  // A publish of a session that outlives its connection, with RouterOptions::qos2_deduplication:
  // QoS 2 by publish_deduplicated, QoS 0/1 by publish, in the client's order on each topic
  // (SessionEntry::publish_lanes); release_lane runs when one of them is stored or refused.
  void publish_in_order(const std::shared_ptr<SessionEntry>& e, const std::string& client_id,
                        const service::TopicName& topic, const Publish& publish, PublishDone done);
  void release_lane(SessionEntry& e, const std::string& key);
  // A QoS 2 publish with RouterOptions::qos2_deduplication.
  void publish_deduplicated(const std::shared_ptr<SessionEntry>& e, const std::string& client_id,
                            const service::TopicName& topic, const Publish& publish, PublishDone done);
  // router_subscribe.cpp
  // The SUBACK of one SUBSCRIBE, sent when the last subscription it waits for exists.
  struct SubackWait;
  // Adds one filter to a session: its options, scope, watch and Pulsar subscriptions. With
  // `wait`, the SUBACK at `wait_index` waits for each subscription made.
  void add_filter(SessionEntry& entry, const std::string& filter, std::uint8_t granted, const FilterScope& scope,
                  const std::shared_ptr<SubackWait>& wait = nullptr, std::size_t wait_index = 0);
  // Subscribes the session to `topic` for `filter` (creating the Pulsar subscription when it is
  // the session's first filter on that topic).
  void bind(SessionEntry& entry, const service::TopicName& topic, const std::string& filter,
            const FilterScope& scope, service::InitialPosition pos,
            const std::shared_ptr<SubackWait>& wait = nullptr, std::size_t wait_index = 0);
  void unbind(SessionEntry& entry, const SessionEntry::BindingKey& key, const SessionBinding& b,
              bool explicit_unsubscribe);
  void watch(const service::NamespaceName& ns, SessionEntry& entry);
  // router_delivery.cpp
  void ack(const DeliveryOrigin& origin);
  // Grants the connection's session receiver its delivery window, less what is in flight.
  void grant_window(ClientConnection& conn);
  // A delivery that needs no acknowledgement from the client returns its permit at once; while
  // the connection has paused deliveries, the window is granted afresh when it resumes.
  void give_back_permit(SessionEntry& entry);
  void pause_deliveries(ClientConnection& conn);
  // The session's receiver in the service (SessionEntry::receiver), opened at its first binding
  // with the connected client's window; flowing, pausing or closing one never opened does
  // nothing, so a session that never subscribed holds no receiver.
  void open_receiver(SessionEntry& entry);
  void flow(SessionEntry& entry, std::uint32_t permits);
  void pause_receiver(SessionEntry& entry);
  void close_receiver(SessionEntry& entry);
  // A QoS 0 PUBLISH of `payload` to `topic` without properties, its header encoded once for the
  // deliveries that follow with the same bytes (see qos0_header_); false where the connection
  // needs other bytes (Protocol::deliver_encoded).
  bool deliver_plain_qos0(ClientConnection& conn, const std::string& topic, const Payload& payload);
  // router_will.cpp
  void publish_will(const std::string& client_id, const Will& will);
  void publish_due_wills(TimePoint now);
  void store_will(const std::string& client_id, const Will& will, std::uint64_t due_at_ms,
                  std::function<void(bool ok)> done = {});
  void forget_will(const std::string& client_id);
  // router_persistence.cpp (see the README)
  // One stored session back as an offline entry (filters bound, receiver paused, QoS 2 state);
  // the caller sets its expiry. restore() and admit() (RouterOptions::find_session) use it.
  std::shared_ptr<SessionEntry> restore_session(const service::SessionRecord& r, std::uint64_t wall);
  void restore_wills(std::vector<service::WillRecord>& wills, TimePoint now, std::uint64_t wall);
  // Writes the session's record as it is now (or deletes it when the session no longer outlives
  // its connection). `done` (may be empty) runs once the write is durable.
  void persist(const std::shared_ptr<SessionEntry>& entry, std::function<void(bool ok)> done = {});
  // The same, for the QoS 2 steps that need their change durable but not a write of their own
  // (PUBREL received, PUBREC received, PUBCOMP's retirement): at most one such write of a
  // session in flight; the changes made meanwhile go out together in one write issued when it
  // completes, and their `done`s run, in call order, once that write is durable; a persist() of
  // the session meanwhile (a QoS 2 PUBLISH's, atomic with its message) carries those changes, so
  // it answers them and the next coalesced write is needed only for what comes after it. Never
  // inside a store_.atomically() bracket: the write may be issued later, outside it.
  void persist_soon(const std::shared_ptr<SessionEntry>& entry, std::function<void(bool ok)> done = {});
  void write_coalesced(const std::shared_ptr<SessionEntry>& entry, std::vector<std::function<void(bool ok)>> dones);
  service::SessionRecord record_of(const SessionEntry& entry) const;
  // Drops the oldest `n` completed QoS 2 deliveries from the record once their subscription
  // acknowledgements are surely stored (see the definition).
  void retire(const std::shared_ptr<SessionEntry>& entry, std::size_t n);

  // The header of the last QoS 0 PUBLISH without properties sent: a fan-out sends the same
  // one to every subscriber (same topic name, payload size and protocol version), so it is
  // encoded once and copied, not built per subscriber from a Publish.
  struct Qos0Header {
    std::string topic;
    std::size_t payload_size = 0;
    ProtocolVersion version = ProtocolVersion::v311;
    std::string bytes;  // empty: nothing cached yet
  };
  Qos0Header qos0_header_;

  // A will waiting for its delay interval (MQTT 5 3.1.3.2.2), by client id.
  struct PendingWill {
    TimePoint due;
    Will will;
  };

  service::MessagingService& service_;
  service::SessionStore& store_;
  const Clock& clock_;
  RouterOptions options_;
  TopicMapper mapper_;
  std::unordered_map<std::string, std::shared_ptr<SessionEntry>> sessions_;
  std::set<ClientConnection*> connections_;
  std::size_t live_connections_ = 0;
  std::uint64_t total_connections_ = 0;
  std::size_t max_live_connections_ = 0;
  PublishCounters counters_;
  std::array<std::uint64_t, kCloseReasons> closes_{};
  bool shutting_down_ = false;  // shutdown() ran: CONNECTs get 0x89 Server busy
  // Namespaces watched for new topics, and the sessions with filters in each.
  std::map<service::NamespaceName, std::set<SessionEntry*>> watchers_;
  // Members (sessions) of each `$share` group's Pulsar subscription, per topic.
  std::map<std::pair<service::TopicName, std::string>, std::size_t> group_members_;
  // Disconnected sessions with a finite expiry interval: when each ends.
  std::map<std::string, TimePoint> expiries_;
  std::map<std::string, PendingWill> pending_wills_;
  // Client ids whose will the store holds (written or restored, not yet deleted).
  std::set<std::string> stored_wills_;
  // Client ids being release()d: their connection's close writes nothing.
  std::set<std::string> releasing_;
  // Client ids whose pending will came from adopt_wills(): RouterOptions::owns_will is asked
  // before it is published.
  std::set<std::string> adopted_wills_;
  bool handing_over_ = false;  // hand_over() runs: release() closes as on shutdown, quietly
  // Completions of service writes check it: the router may be gone by then.
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

}  // namespace mop::mqtt
