#include "mqtt/server/mqtt_broker.hpp"

#include <algorithm>
#include <deque>

#include <fmt/ranges.h>

#include "core/log.hpp"
#include "mqtt/codec/topic.hpp"

namespace mop::mqtt {

using service::InitialPosition;
using service::MessageId;
using service::MessagePtr;
using service::TopicName;

namespace {

const std::shared_ptr<spdlog::logger>& logger() {
  static const auto l = log::get("mqtt");
  return l;
}

bool has_wildcard(std::string_view filter) { return filter.find_first_of("+#") != std::string_view::npos; }

const char* version_name(ProtocolVersion v) {
  switch (v) {
    case ProtocolVersion::v31: return "3.1";
    case ProtocolVersion::v311: return "3.1.1";
    case ProtocolVersion::v5: return "5.0";
  }
  return "?";
}

constexpr std::string_view kPayloadFormat = "__mqtt_payload_format";
constexpr std::string_view kMessageExpiry = "__mqtt_message_expiry";
constexpr std::string_view kContentType = "__mqtt_content_type";
constexpr std::string_view kResponseTopic = "__mqtt_response_topic";
constexpr std::string_view kCorrelationData = "__mqtt_correlation_data";
constexpr std::string_view kRetain = "__mqtt_retain";

std::string to_hex(std::string_view bytes) {
  static constexpr char digits[] = "0123456789abcdef";
  std::string out;
  out.reserve(bytes.size() * 2);
  for (unsigned char c : bytes) {
    out.push_back(digits[c >> 4]);
    out.push_back(digits[c & 15]);
  }
  return out;
}

std::optional<std::string> from_hex(std::string_view hex) {
  if (hex.size() % 2) return std::nullopt;
  auto nibble = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  std::string out;
  out.reserve(hex.size() / 2);
  for (std::size_t i = 0; i < hex.size(); i += 2) {
    int hi = nibble(hex[i]), lo = nibble(hex[i + 1]);
    if (hi < 0 || lo < 0) return std::nullopt;
    out.push_back(static_cast<char>(hi * 16 + lo));
  }
  return out;
}

std::optional<std::uint64_t> to_u64(std::string_view s) {
  std::uint64_t v = 0;
  if (s.empty()) return std::nullopt;
  for (char c : s) {
    if (c < '0' || c > '9') return std::nullopt;
    v = v * 10 + static_cast<std::uint64_t>(c - '0');
  }
  return v;
}

// What a QoS 1/2 publisher is told once the service has answered. Asked at completion, not at
// publish time: a wildcard subscriber binds to a new topic when it is created, which the service
// reports before the first publish to it completes. A retained message nobody subscribed to is
// still 0x10: it is stored, but no subscription matched (MQTT 5 3.4.2.1).
PublishResult publish_result(std::error_code ec, service::MessagingService& svc, const TopicName& topic) {
  if (!ec)
    return {svc.has_subscriptions(topic) ? ReasonCode::success : ReasonCode::no_matching_subscribers, {}};
  // A full disk is the store's quota; every other failure has no more specific code.
  if (ec == std::errc::no_space_on_device) return {ReasonCode::quota_exceeded, "message not stored: " + ec.message()};
  return {ReasonCode::unspecified_error, "message not stored: " + ec.message()};
}

}  // namespace

void to_message_properties(const Properties& in, std::uint64_t now_ms, bool retain,
                           std::vector<std::pair<std::string, std::string>>& out) {
  if (in.payload_format_indicator) out.emplace_back(kPayloadFormat, std::to_string(*in.payload_format_indicator));
  if (in.message_expiry_interval)
    out.emplace_back(kMessageExpiry, std::to_string(now_ms + std::uint64_t{*in.message_expiry_interval} * 1000));
  if (in.content_type) out.emplace_back(kContentType, *in.content_type);
  if (in.response_topic) out.emplace_back(kResponseTopic, *in.response_topic);
  // Binary: hex keeps Pulsar clients (whose properties are strings) able to read it.
  if (in.correlation_data) out.emplace_back(kCorrelationData, to_hex(*in.correlation_data));
  if (retain) out.emplace_back(kRetain, "1");
  for (const auto& kv : in.user_properties) out.push_back(kv);
}

bool from_message_properties(const std::vector<std::pair<std::string, std::string>>& in, std::uint64_t now_ms,
                             Properties& out, bool& retain, std::uint64_t* expires_at_ms) {
  for (const auto& [k, v] : in) {
    if (!k.starts_with("__mqtt_")) {
      out.user_properties.emplace_back(k, v);
    } else if (k == kPayloadFormat) {
      if (v == "0" || v == "1") out.payload_format_indicator = static_cast<std::uint8_t>(v[0] - '0');
    } else if (k == kMessageExpiry) {
      if (auto at = to_u64(v)) {
        if (*at <= now_ms) return false;  // [MQTT-3.3.2-5]: expired, not delivered
        if (expires_at_ms) *expires_at_ms = *at;
        // [MQTT-3.3.2-6]: the remaining interval, rounded up so it never reads 0 while alive.
        out.message_expiry_interval = static_cast<std::uint32_t>((*at - now_ms + 999) / 1000);
      }
    } else if (k == kContentType) {
      out.content_type = v;
    } else if (k == kResponseTopic) {
      out.response_topic = v;
    } else if (k == kCorrelationData) {
      if (auto bytes = from_hex(v)) out.correlation_data = std::move(*bytes);
    } else if (k == kRetain) {
      retain = v == "1";
    }
  }
  return true;
}

// The Pulsar side of one MQTT session: its receiver (permits shared by all its subscriptions)
// and its bindings: per (matched topic, Pulsar subscription), the filters that matched. The
// Pulsar subscription is the client id, or the group of a shared subscription.
struct SessionBinding {
  std::map<std::string, std::uint8_t> filters;  // filter -> granted QoS
  std::string mqtt_name;                        // topic name sent to this client
  std::uint8_t qos = 0;                         // max over filters [MQTT-3.3.5-1]
  bool shared = false;                          // the subscription is a `$share` group's
};

// MQTT 5 subscription options of one filter (3.1.1 filters have the defaults).
struct FilterOptions {
  bool no_local = false;
  bool retain_as_published = false;
  std::uint8_t retain_handling = 0;
  std::uint32_t subscription_id = 0;  // 0 = none
};

struct SessionEntry final : service::ReceiverListener, std::enable_shared_from_this<SessionEntry> {
  using Binding = SessionBinding;
  using BindingKey = std::pair<TopicName, std::string>;  // topic, Pulsar subscription

  SessionEntry(MqttBroker& b, std::shared_ptr<Session> s) : broker(b), session(std::move(s)) {}

  void on_message(const TopicName& topic, const std::string& subscription, MessageId id,
                  const MessagePtr& message, std::uint32_t /*redelivery_count*/) override {
    DeliveryOrigin origin{topic.str(), subscription, id.ledger, id.entry, id.batch};
    auto it = bindings.find(BindingKey{topic, subscription});
    if (it == bindings.end()) {  // unsubscribed while the message was on its way
      broker.ack(origin);
      give_back_permit();
      return;
    }
    const Binding& b = it->second;
    Properties props;
    bool was_retained = false;
    std::uint64_t expires_at = 0;
    bool wanted = message->properties.empty() ||
                  from_message_properties(message->properties, broker.clock_.wall_ms(), props, was_retained, &expires_at);
    // No local [MQTT-3.8.3-3], retain as published and subscription identifiers [MQTT-3.3.4-3]
    // over every filter of this session that matched the topic.
    bool any = false, keep_retain = false;
    for (const auto& [filter, q] : b.filters) {
      auto o = options.find(filter);
      if (o == options.end()) {
        any = true;
        continue;
      }
      if (o->second.no_local && message->producer_name == session->client_id()) continue;
      any = true;
      keep_retain = keep_retain || o->second.retain_as_published;
      if (o->second.subscription_id) props.subscription_identifiers.push_back(o->second.subscription_id);
    }
    if (!wanted || !any) {  // expired, or only no-local filters and our own message
      broker.service_.ack(topic, subscription, id);
      give_back_permit();
      return;
    }
    const bool retain = keep_retain && was_retained;
    const std::uint8_t qos = std::min(message->mqtt_qos, b.qos);
    if (qos == 0) {
      // Nothing to wait for: the cursor moves on and the permit comes straight back, unless
      // the client's socket is not keeping up.
      broker.service_.ack(topic, subscription, id);
      if (!conn) {
        give_back_permit();
        return;
      }
      if (conn->congested()) {
        if (!topic.persistent()) {
          // Nothing is stored to wait in: dropped, as MQTT allows for QoS 0.
          conn->note_dropped_qos0();
          give_back_permit();
          return;
        }
        // Persistent topic: the backlog waits in the log. This one goes out, and the session
        // takes no more until the socket has drained (ClientConnection::on_output_drained).
        conn->pause_deliveries();
      }
      conn->protocol().deliver(Publish{false, 0, retain, b.mqtt_name, 0, message->payload, std::move(props)}, {});
      give_back_permit();
      return;
    }
    Publish p{false, qos, retain, b.mqtt_name, 0, message->payload, std::move(props)};
    if (conn)
      conn->protocol().deliver(std::move(p), origin, expires_at);
    else
      session->add_outbound(std::move(p), std::move(origin), false, expires_at);
  }

  MqttBroker& broker;
  std::shared_ptr<Session> session;
  service::ReceiverId receiver = 0;
  ClientConnection* conn = nullptr;

  // A delivery that needs no acknowledgement from the client returns its permit at once; while
  // the connection has paused deliveries, the window is granted afresh when it resumes.
  void give_back_permit() {
    if (conn == nullptr || !conn->deliveries_paused()) broker.service_.flow(receiver, 1);
  }
  std::map<BindingKey, Binding> bindings;
  std::map<std::string, FilterScope> scopes;  // filter -> where it looks
  std::map<std::string, FilterOptions> options;  // filter -> MQTT 5 options (absent: defaults)
  std::set<std::string> fresh;  // filters of the last SUBSCRIBE that did not exist before it

  // Persistence (sessions that outlive their connection). Each change writes the whole record;
  // the service applies a session's writes in call order, so the last one wins.
  ProtocolVersion version = ProtocolVersion::v311;
  bool clean_start = true;
  std::uint64_t disconnected_at_ms = 0;  // wall clock; 0 while connected
  bool stored = false;  // the service holds a record of it: ending the session deletes it
  bool ended = false;
  // Inbound QoS 2 packet ids the record lists: those whose message was handed to the service
  // before the record was written (see ClientConnection::on_publish). The session's own set also
  // has ids still on their way there.
  std::set<PacketId> inbound_recorded;
  // QoS 2 deliveries completed by PUBCOMP whose subscription acknowledgement may not be on disk
  // yet: the record keeps their origin (packet id 0) until it surely is (MqttBroker::retire),
  // so that after a restart their redelivery is acknowledged instead of sent a second time.
  std::deque<DeliveryOrigin> completed_qos2;
};

// ---------------------------------------------------------------------------------------------
// ClientConnection

ClientConnection::ClientConnection(MqttBroker& broker, Transport& transport)
    : broker_(broker),
      transport_(transport),
      protocol_(std::make_shared<Protocol>(*this, broker.clock(), broker.options().limits)) {
  broker_.connections_.insert(this);
}

ClientConnection::~ClientConnection() {
  if (!closed_) {
    // The transport is going away without having reported it; the session must not keep a
    // pointer to this connection. The transport cannot be called back at this point.
    closed_ = true;
    broker_.disconnected(*this, CloseReason::network_error, "connection destroyed");
  }
  broker_.connections_.erase(this);
}

void ClientConnection::output_ready() { transport_.output_ready(); }

void ClientConnection::close(CloseReason reason, const std::string& detail) {
  if (closed_) return;
  closed_ = true;
  broker_.disconnected(*this, reason, detail);
  transport_.close_after_flush();
}

void ClientConnection::on_connect(const Connect& connect) { broker_.connect(*this, connect); }

void ClientConnection::on_publish(const Publish& publish, PublishDone done) {
  if (!last_pulsar_topic_ || publish.topic != last_topic_) {
    last_pulsar_topic_ = broker_.mapper().to_pulsar(publish.topic);
    last_topic_ = publish.topic;
  }
  if (!last_pulsar_topic_) {
    logger()->warn("client {}: topic '{}' names no Pulsar topic (persistent://tenant/namespace/name)",
                   protocol_->client_id(), publish.topic);
    protocol_->terminate(CloseReason::protocol_error);
    return;
  }
  if (publish.qos == 2 && done && entry_ && entry_->session->expiry_interval() != 0) {
    // Exactly once across restarts: the packet id must be durable before PUBREC goes out, or the
    // client's resend after a restart would be published a second time. And never without its
    // message: a stored id turns the resend into a "duplicate", which would lose a message that
    // was not stored. So the message and the record with the id are written atomically
    // (service_.atomically: one group commit of the store, which a crash keeps whole or not at
    // all), and PUBREC waits for both.
    auto e = entry_;
    struct Join {
      int pending = 2;
      PublishResult result;
      PublishDone done;
      // A refusal wins over 0x10, which wins over success.
      void add(PublishResult r) {
        if (!r.stored() ? result.stored() : result.reason == ReasonCode::success) result = std::move(r);
        if (--pending == 0) done(std::move(result));
      }
    };
    auto join = std::make_shared<Join>(Join{2, {}, std::move(done)});
    const PacketId id = publish.packet_id;
    broker_.service_.atomically([&] {
      broker_.publish(*last_pulsar_topic_, protocol_->client_id(), publish,
                      [&broker = broker_, alive = std::weak_ptr<bool>(broker_.alive_), e, id, join](PublishResult r) {
                        if (!r.stored() && !alive.expired() && !e->ended && e->inbound_recorded.erase(id) != 0)
                          broker.persist(e);  // not stored: the id must not stay recorded
                        join->add(std::move(r));
                      });
      e->inbound_recorded.insert(id);
      broker_.persist(e, [join](bool ok) {
        join->add(ok ? PublishResult{} : PublishResult{ReasonCode::unspecified_error, "session state not stored"});
      });
    });
    return;
  }
  broker_.publish(*last_pulsar_topic_, protocol_->client_id(), publish, std::move(done));
}

std::vector<std::uint8_t> ClientConnection::on_subscribe(const Subscribe& subscribe) {
  return broker_.subscribe(*entry_, subscribe);
}

bool ClientConnection::congested() const {
  return transport_.queued_bytes() > broker_.options().max_queued_bytes;
}

void ClientConnection::on_subscribed(const Subscribe& subscribe, const std::vector<std::uint8_t>& codes) {
  broker_.send_retained(*this, subscribe, codes);
}

std::vector<ReasonCode> ClientConnection::on_unsubscribe(const Unsubscribe& unsubscribe) {
  return broker_.unsubscribe(*entry_, unsubscribe);
}

void ClientConnection::on_delivery_acked(const DeliveryOrigin& origin) { broker_.ack(origin); }

void ClientConnection::on_inflight_freed(const DeliveryOrigin& origin) {
  // Retained deliveries (no origin) never took a permit, so they give none back; while paused,
  // resuming grants the whole window again.
  if (!origin.topic.empty() && entry_ && !deliveries_paused_) broker_.service_.flow(entry_->receiver, 1);
}

void ClientConnection::pause_deliveries() {
  if (deliveries_paused_ || !entry_) return;
  deliveries_paused_ = true;
  ++delivery_pauses_;
  broker_.service_.pause(entry_->receiver);
}

void ClientConnection::on_output_drained() {
  if (!deliveries_paused_) return;
  deliveries_paused_ = false;
  if (entry_ && !closed_) broker_.grant_window(*this);
}

void ClientConnection::on_pubrec_received(PacketId /*id*/, const DeliveryOrigin& origin, std::function<void()> done) {
  if (origin.topic.empty() || !entry_ || entry_->session->expiry_interval() == 0) {
    broker_.ack(origin);
    done();
    return;
  }
  // The client has the message and delivers it when it gets our PUBREL. The PUBREL-sent state
  // is made durable first and the subscription acknowledged after: a restart in between then
  // resends the PUBREL (and drops the cursor's redelivery of the message) instead of sending the
  // message again under a new packet id, which the client would deliver a second time.
  broker_.persist(entry_, [&broker = broker_, alive = std::weak_ptr<bool>(broker_.alive_), origin,
                           done = std::move(done)](bool) {
    if (alive.expired()) return;
    broker.ack(origin);
    done();
  });
}

void ClientConnection::on_pubcomp_received(const DeliveryOrigin& origin) {
  // The entry's packet id leaves the record (ids are handed out round robin, so it is not reused
  // for another message before this write is durable: 65535 other ids would have to go first);
  // its origin stays a while as a completed delivery (see SessionEntry::completed_qos2).
  if (!origin.topic.empty() && entry_ && entry_->session->expiry_interval() != 0) {
    entry_->completed_qos2.push_back(origin);
    broker_.retire(entry_, 1);
  }
  on_inflight_freed(origin);
}

void ClientConnection::on_inbound_released(PacketId id, std::function<void()> done) {
  // PUBCOMP lets the client reuse the id at once: it leaves the record first, or a restart would
  // take the next message with that id for a duplicate and drop it.
  if (!entry_ || entry_->inbound_recorded.erase(id) == 0) return done();
  broker_.persist(entry_, [done = std::move(done)](bool) { done(); });
}

bool ClientConnection::supports_auth_method(const std::string& method) const {
  const auto& a = broker_.options().authenticator;
  return a && a->method() == method;
}

void ClientConnection::on_auth(const Auth& auth) { broker_.auth(*this, auth); }

// ---------------------------------------------------------------------------------------------
// MqttBroker

MqttBroker::MqttBroker(service::MessagingService& service, const Clock& clock, BrokerOptions options)
    : service_(service), clock_(clock), options_(std::move(options)), mapper_(options_.defaults) {
  // What CONNACK advertises is what the broker grants.
  options_.limits.receive_maximum =
      static_cast<std::uint16_t>(std::clamp<std::uint32_t>(options_.receive_maximum, 1, 65535));
  restore();
}

MqttBroker::~MqttBroker() {
  for (auto& [ns, entries] : watchers_) service_.unwatch_topics(ns, *this);
  for (auto& [id, entry] : sessions_) service_.close_receiver(entry->receiver);
}

void MqttBroker::shutdown() {
  shutting_down_ = true;
  std::vector<ClientConnection*> all(connections_.begin(), connections_.end());
  for (auto* c : all) c->protocol().terminate(CloseReason::server_shutdown);
}

void MqttBroker::connect(ClientConnection& conn, const Connect& c) {
  if (shutting_down_) {  // a CONNECT that raced the shutdown (3.1.1: return code 3, unavailable)
    conn.protocol().reject(ReasonCode::server_busy, "server shutting down");
    return;
  }
  if (options_.max_connections > 0 && live_connections_ >= options_.max_connections) {
    // A client taking its own session over replaces a connection rather than adding one.
    auto it = sessions_.find(conn.protocol().client_id());
    if (it == sessions_.end() || !it->second->conn) {
      logger()->warn("client {}: refused, {} connections is the limit (mqttMaxConnections)",
                     conn.protocol().client_id(), options_.max_connections);
      conn.protocol().reject(ReasonCode::quota_exceeded,
                             fmt::format("connection limit reached ({})", options_.max_connections));
      return;
    }
  }
  if (c.properties.authentication_method && options_.authenticator) {
    // Protocol already refused methods other than ours (0x8C).
    conn.pending_connect_ = std::make_unique<Connect>(c);
    auth_step(conn,
              options_.authenticator->start(conn.protocol().client_id(),
                                            c.properties.authentication_data.value_or(""), conn.auth_state_),
              false);
    return;
  }
  admit(conn, c);
}

void MqttBroker::auth(ClientConnection& conn, const Auth& a) {
  if (!options_.authenticator) {
    conn.protocol().terminate(CloseReason::protocol_error);  // AUTH without a method [MQTT-4.12.0-2]
    return;
  }
  const std::string data = a.properties.authentication_data.value_or("");
  if (a.reason_code == ReasonCode::re_authenticate)
    auth_step(conn, options_.authenticator->start(conn.protocol().client_id(), data, conn.auth_state_), true);
  else
    auth_step(conn, options_.authenticator->next(data, conn.auth_state_), !conn.pending_connect_);
}

void MqttBroker::auth_step(ClientConnection& conn, const Authenticator::Step& step, bool reauth) {
  const std::string& method = options_.authenticator->method();
  using Kind = Authenticator::Step::Kind;
  if (step.kind == Kind::more) {
    conn.protocol().send_auth(ReasonCode::continue_authentication, method, step.data);
    return;
  }
  conn.auth_state_.reset();
  if (reauth) {
    if (step.kind == Kind::success)
      conn.protocol().send_auth(ReasonCode::success, method, step.data);
    else
      conn.protocol().terminate(CloseReason::protocol_error);  // MQTT 5 4.12.1: fails -> disconnect
    return;
  }
  const auto c = std::move(conn.pending_connect_);
  if (!c) return;
  if (step.kind == Kind::failure) {
    logger()->info("client {}: authentication with {} failed", conn.protocol().client_id(), method);
    conn.protocol().reject(ReasonCode::not_authorized, "authentication failed");
    return;
  }
  conn.protocol().set_connack_auth(method, step.data);
  admit(conn, *c);
}

void MqttBroker::admit(ClientConnection& conn, const Connect& c) {
  const std::string& id = conn.protocol().client_id();
  // MQTT 5 says how long the session outlives the connection; 3.1.1's clean session is 0 or never.
  const std::uint32_t expiry = c.version == ProtocolVersion::v5 ? c.properties.session_expiry_interval.value_or(0)
                               : c.clean_session                ? 0
                                                                : Session::kNeverExpires;
  auto it = sessions_.find(id);
  if (it != sessions_.end() && it->second->conn) {
    // [MQTT-3.1.4-2]: the existing connection of this client id is closed.
    it->second->conn->protocol().terminate(CloseReason::session_taken_over);
    it = sessions_.find(id);  // a session with expiry 0 ended with its connection
  }
  // A reconnect cancels a delayed will [MQTT-3.1.3-9] and the session's expiry.
  pending_wills_.erase(id);
  expiries_.erase(id);
  if (it != sessions_.end() && c.clean_session) {
    end_session(it->second);  // [MQTT-3.1.2-6]
    it = sessions_.end();
  }
  bool present = false;
  std::shared_ptr<SessionEntry> entry;
  if (it != sessions_.end()) {
    entry = it->second;
    present = true;  // [MQTT-3.2.2-2]
  } else {
    entry = std::make_shared<SessionEntry>(*this, std::make_shared<Session>(id, expiry == 0));
    entry->receiver = service_.open_receiver(*entry);
    sessions_.emplace(id, entry);
  }
  entry->session->set_expiry_interval(expiry);
  entry->conn = &conn;
  ++live_connections_;
  entry->version = c.version;
  entry->clean_start = c.clean_session;
  entry->disconnected_at_ms = 0;
  conn.entry_ = entry;
  conn.will_ = c.will ? std::make_unique<Will>(*c.will) : nullptr;
  // A session that outlives its connection is stored (or, resumed with expiry 0 now, deleted).
  if (expiry != 0 || entry->stored) persist(entry);
  // The will is stored while the client is connected: if the broker dies first, the connection
  // has ended without DISCONNECT and the will goes out when the broker is back (see restore).
  if (c.will)
    store_will(id, *c.will, 0);
  else
    forget_will(id);
  logger()->info("client connected: id={} peer={} protocol={} clean={} keepalive={}s session_present={}",
                 id, conn.transport().peer(), version_name(c.version), c.clean_session, c.keep_alive, present);
  conn.protocol().accept(entry->session, present);
  // accept() may hand the packets that followed the CONNECT to the connection at once (when the
  // CONNECT was decided outside the read that brought it), and one of them may have closed it.
  if (conn.entry_ != entry) return;
  grant_window(conn);
}

void MqttBroker::grant_window(ClientConnection& conn) {
  // Permits = the smaller of the two receive maximums: the client's bounds what it can take
  // [MQTT-3.3.4-7], ours bounds what we hold for it. Less what is already in flight.
  const auto& entry = conn.entry_;
  const std::uint32_t window =
      std::min<std::uint32_t>(options_.receive_maximum, conn.protocol().client_receive_maximum());
  const auto inflight = static_cast<std::uint32_t>(entry->session->outbound_count());
  if (inflight < window) service_.flow(entry->receiver, window - inflight);
}

void MqttBroker::disconnected(ClientConnection& conn, CloseReason reason, const std::string& detail) {
  auto entry = conn.entry_;
  const std::string& id = conn.protocol().client_id();
  if (reason == CloseReason::protocol_error)
    logger()->warn("client disconnected: id={} peer={} reason={}: {}", id.empty() ? "-" : id,
                   conn.transport().peer(), to_string(reason), detail);
  else
    logger()->info("client disconnected: id={} peer={} reason={}", id.empty() ? "-" : id,
                   conn.transport().peer(), to_string(reason));
  if (conn.dropped_qos0() > 0)
    logger()->info("client {}: {} QoS 0 messages were dropped while it could not keep up", id, conn.dropped_qos0());
  if (!entry || entry->conn != &conn) return;
  entry->conn = nullptr;
  --live_connections_;
  conn.entry_.reset();
  entry->disconnected_at_ms = clock_.wall_ms();
  const std::uint32_t expiry = entry->session->expiry_interval();
  if (conn.will_ && publishes_will(reason)) {
    const std::uint32_t delay = conn.will_->properties.will_delay_interval.value_or(0);
    if (delay == 0 || expiry == 0) {
      publish_will(id, *conn.will_);  // the session ends now, before any delay [3.1.3.2.2]
    } else {  // the earlier of the delay and the session's end publishes it (see tick)
      store_will(id, *conn.will_, entry->disconnected_at_ms + std::uint64_t{delay} * 1000);
      pending_wills_[id] = PendingWill{clock_.now() + std::chrono::seconds(delay), std::move(*conn.will_)};
    }
  } else if (reason != CloseReason::server_shutdown) {
    // DISCONNECT: the will is gone. On shutdown it stays stored, as after a crash: the client's
    // connection ended without DISCONNECT and its will goes out when the broker is back.
    forget_will(id);
  }
  conn.will_.reset();
  if (expiry == 0) {
    end_session(entry);  // [MQTT-3.1.2-6], MQTT 5 3.1.2.11.2: the session ends with its connection
    return;
  }
  service_.pause(entry->receiver);  // keeps its subscriptions; messages wait in their backlogs
  if (expiry != Session::kNeverExpires) expiries_[id] = clock_.now() + std::chrono::seconds(expiry);
  persist(entry);  // the expiry counts from disconnected_at, across restarts too
}

void MqttBroker::publish_will(const std::string& client_id, const Will& w) {
  PublishDone after;
  if (stored_wills_.erase(client_id) != 0) {
    // The stored will is deleted once the message is stored, not before: a crash in between
    // publishes it again after the restart rather than never. A will stored meanwhile (the client
    // reconnected with a new one) stays.
    after = [this, alive = std::weak_ptr<bool>(alive_), client_id](PublishResult) {
      if (!alive.expired() && !stored_wills_.contains(client_id)) service_.delete_will(client_id, {});
    };
  }
  if (auto topic = mapper_.to_pulsar(w.topic)) {
    publish(*topic, client_id, Publish{false, w.qos, w.retain, w.topic, 0, w.payload, w.properties}, std::move(after));
  } else {
    logger()->warn("client {}: will topic '{}' names no Pulsar topic; will dropped", client_id, w.topic);
    if (after) after(PublishResult{ReasonCode::topic_name_invalid, {}});
  }
}

void MqttBroker::tick() {
  const TimePoint now = clock_.now();

  for (auto it = pending_wills_.begin(); it != pending_wills_.end();) {
    if (it->second.due > now) {
      ++it;
      continue;
    }
    publish_will(it->first, it->second.will);
    it = pending_wills_.erase(it);
  }
  for (auto it = expiries_.begin(); it != expiries_.end();) {
    if (it->second > now) {
      ++it;
      continue;
    }
    const std::string id = it->first;
    it = expiries_.erase(it);
    // A will still waiting goes out when its session ends, even before its delay ran out.
    if (auto w = pending_wills_.find(id); w != pending_wills_.end()) {
      publish_will(id, w->second.will);
      pending_wills_.erase(w);
    }
    auto s = sessions_.find(id);
    if (s != sessions_.end() && !s->second->conn) {
      logger()->info("session expired: id={}", id);
      end_session(s->second);
    }
  }
}

void MqttBroker::end_session(const std::shared_ptr<SessionEntry>& entry) {
  // The record goes now, ordered after this session's writes and before any of a new session
  // with this client id.
  entry->ended = true;
  if (entry->stored) {
    entry->stored = false;
    service_.delete_session(entry->session->client_id(), [id = entry->session->client_id()](std::error_code ec) {
      if (ec) logger()->error("client {}: session record not deleted: {}", id, ec.message());
    });
  }
  // The session's own subscriptions go with it; a shared group's subscription stays for the
  // other members and for members to come, keeping its backlog, as a Pulsar subscription does.
  for (auto& [key, binding] : entry->bindings) unbind(*entry, key, binding, false);
  entry->bindings.clear();
  service_.close_receiver(entry->receiver);
  for (auto& [ns, set] : watchers_) set.erase(entry.get());
  auto it = sessions_.find(entry->session->client_id());
  if (it != sessions_.end() && it->second == entry) sessions_.erase(it);
}

void MqttBroker::publish(const TopicName& topic, const std::string& client_id, const Publish& p, PublishDone done) {
  auto msg = std::make_shared<service::Message>();
  msg->payload = p.payload;
  msg->publish_time_ms = clock_.wall_ms();
  msg->producer_name = client_id;
  msg->ordering_key = client_id;
  msg->mqtt_qos = p.qos;
  to_message_properties(p.properties, msg->publish_time_ms, p.retain, msg->properties);

  if (!p.retain) {
    service::PublishCallback cb;  // QoS 0 without a completion to report costs no callback at all
    if (done)
      cb = [done = std::move(done), client_id, topic, svc = &service_](std::error_code ec, MessageId) {
        if (ec) logger()->error("client {}: message not stored: {}", client_id, ec.message());
        done(publish_result(ec, *svc, topic));
      };
    service_.publish(topic, std::move(msg), std::move(cb));
    return;
  }
  // A retained message is acknowledged once both the topic and the retained store have it.
  struct Join {
    int pending;
    std::error_code ec;
    PublishDone done;
  };
  auto join = std::make_shared<Join>(Join{2, {}, std::move(done)});
  auto finish = [join, topic, svc = &service_](std::error_code ec) {
    if (ec && !join->ec) join->ec = ec;
    if (--join->pending == 0 && join->done) join->done(publish_result(join->ec, *svc, topic));
  };
  // An empty payload clears the retained message and is not stored as one [MQTT-3.3.1-10/11].
  service_.set_retained(topic, msg, [finish, client_id](std::error_code ec) {
    if (ec) logger()->error("client {}: retained message not stored: {}", client_id, ec.message());
    finish(ec);
  });
  service_.publish(topic, std::move(msg), [finish, client_id](std::error_code ec, MessageId) {
    if (ec) logger()->error("client {}: message not stored: {}", client_id, ec.message());
    finish(ec);
  });
}

void MqttBroker::watch(const service::NamespaceName& ns, SessionEntry& entry) {
  auto [it, inserted] = watchers_.try_emplace(ns);
  if (inserted) service_.watch_topics(ns, *this);
  it->second.insert(&entry);
}

std::vector<std::uint8_t> MqttBroker::subscribe(SessionEntry& entry, const Subscribe& s) {
  std::vector<std::uint8_t> codes;
  codes.reserve(s.entries.size());
  const bool v5 = entry.conn && entry.conn->protocol().version() == ProtocolVersion::v5;
  const std::uint32_t sub_id = s.properties.subscription_identifiers.empty() ? 0 : s.properties.subscription_identifiers[0];
  entry.fresh.clear();
  const std::string& id = entry.session->client_id();
  for (const auto& e : s.entries) {
    std::optional<FilterScope> scope;
    if (!valid_topic_filter(e.filter)) {
      logger()->info("client {}: invalid topic filter '{}'", id, e.filter);
    } else if (!(scope = mapper_.scope(e.filter))) {
      logger()->info("client {}: filter '{}' is not a valid shared subscription or names no Pulsar namespace",
                     id, e.filter);
    }
    if (!scope) {
      codes.push_back(v5 ? static_cast<std::uint8_t>(ReasonCode::topic_filter_invalid) : kSubackFailure);
      continue;
    }
    const std::uint8_t granted = std::min<std::uint8_t>(e.qos, 2);
    if (!entry.session->subscriptions().contains(e.filter)) entry.fresh.insert(e.filter);
    FilterOptions fo{e.no_local, e.retain_as_published, e.retain_handling, sub_id};
    if (fo.no_local || fo.retain_as_published || fo.retain_handling || fo.subscription_id)
      entry.options[e.filter] = fo;
    else
      entry.options.erase(e.filter);
    add_filter(entry, e.filter, granted, *scope);
    codes.push_back(granted);
  }
  if (entry.session->expiry_interval() != 0) persist(entry.shared_from_this());
  return codes;
}

void MqttBroker::add_filter(SessionEntry& entry, const std::string& filter, std::uint8_t granted,
                            const FilterScope& scope) {
  entry.session->subscriptions().insert_or_assign(filter, granted);  // [MQTT-3.8.4-3]
  auto [sit, _] = entry.scopes.insert_or_assign(filter, scope);
  const FilterScope& sc = sit->second;
  if (has_wildcard(sc.local_filter)) {
    watch(sc.ns, entry);
    for (const auto& topic : service_.list_topics(sc.ns))
      if (sc.matches(topic)) bind(entry, topic, filter, sc, InitialPosition::latest);
  } else {
    // A filter without wildcards names one topic; subscribing creates it, as Pulsar does.
    TopicName topic(sc.domain, sc.ns.tenant, sc.ns.ns, service::url_encode(sc.local_filter));
    bind(entry, topic, filter, sc, InitialPosition::latest);
  }
}

void MqttBroker::bind(SessionEntry& entry, const TopicName& topic, const std::string& filter,
                      const FilterScope& scope, InitialPosition pos) {
  const bool shared = !scope.group.empty();
  const std::string& sub = shared ? scope.group : entry.session->client_id();
  auto [it, inserted] = entry.bindings.try_emplace(SessionEntry::BindingKey{topic, sub});
  auto& b = it->second;
  b.filters[filter] = entry.session->subscriptions()[filter];
  b.qos = 0;
  for (const auto& [f, q] : b.filters) b.qos = std::max(b.qos, q);
  if (!inserted) return;
  b.mqtt_name = scope.mqtt_name(topic);
  b.shared = shared;
  service::SubscriptionOptions opts;
  // Shared either way: as in MoP, Pulsar consumers may join a session's subscription, and a
  // `$share` group is one Pulsar Shared subscription whose members each get some messages.
  opts.type = service::SubscriptionType::shared;
  opts.initial_position = pos;
  opts.durable = shared || entry.session->expiry_interval() != 0;
  if (auto st = service_.subscribe(topic, sub, opts, entry.receiver)) {
    logger()->error("client {}: cannot subscribe to {} as {}: {}", entry.session->client_id(), topic.str(), sub,
                    st.message());
    entry.bindings.erase(it);
    return;
  }
  if (shared) ++group_members_[SessionEntry::BindingKey{topic, sub}];
}

void MqttBroker::unbind(SessionEntry& entry, const SessionEntry::BindingKey& key, const SessionEntry::Binding& b,
                        bool explicit_unsubscribe) {
  if (!b.shared) {
    // Unlike MoP, the Pulsar subscription goes too, so its backlog does not grow forever.
    service_.unsubscribe(key.first, key.second);
    return;
  }
  // A member leaving hands its unacknowledged messages back to the group.
  service_.detach(key.first, key.second, entry.receiver);
  auto it = group_members_.find(key);
  if (it != group_members_.end() && --it->second == 0) {
    group_members_.erase(it);
    // The last member unsubscribing ends the group; a member merely going away does not.
    if (explicit_unsubscribe) service_.unsubscribe(key.first, key.second);
  }
}

void MqttBroker::send_retained(ClientConnection& conn, const Subscribe& s, const std::vector<std::uint8_t>& codes) {
  auto& entry = *conn.entry_;
  for (std::size_t i = 0; i < s.entries.size() && i < codes.size(); ++i) {
    if (codes[i] == kSubackFailure) continue;
    auto sit = entry.scopes.find(s.entries[i].filter);
    if (sit == entry.scopes.end()) continue;
    const FilterScope& sc = sit->second;
    if (!sc.group.empty()) continue;  // shared subscriptions get no retained messages (MQTT 5 4.8.2)
    // Retain handling [MQTT-3.3.1-9/10/11]: 0 always, 1 only for a new subscription, 2 never.
    const auto& e = s.entries[i];
    if (e.retain_handling == 2 || (e.retain_handling == 1 && !entry.fresh.contains(e.filter))) continue;
    std::uint32_t sub_id = 0;
    if (auto o = entry.options.find(e.filter); o != entry.options.end()) sub_id = o->second.subscription_id;
    // [MQTT-3.3.1-6]: every retained message matching the filter, with RETAIN set.
    for (auto& [topic, msg] : service_.retained(sc.ns, [&](const TopicName& t) { return sc.matches(t); })) {
      Properties props;
      bool ignored = false;
      std::uint64_t expires_at = 0;
      if (!from_message_properties(msg->properties, clock_.wall_ms(), props, ignored, &expires_at)) continue;  // expired
      if (sub_id) props.subscription_identifiers.push_back(sub_id);
      const std::uint8_t qos = std::min(msg->mqtt_qos, codes[i]);
      conn.protocol().deliver(Publish{false, qos, true, sc.mqtt_name(topic), 0, msg->payload, std::move(props)},
                              DeliveryOrigin{}, expires_at);
    }
  }
}

std::vector<ReasonCode> MqttBroker::unsubscribe(SessionEntry& entry, const Unsubscribe& u) {
  std::vector<ReasonCode> codes;
  codes.reserve(u.filters.size());
  for (const auto& filter : u.filters) {
    if (!valid_topic_filter(filter)) {  // the MQTT 5 codec keeps it for this answer (3.11.3)
      codes.push_back(ReasonCode::topic_filter_invalid);
      continue;
    }
    const bool existed = entry.session->subscriptions().erase(filter) != 0;
    codes.push_back(existed ? ReasonCode::success : ReasonCode::no_subscription_existed);  // [MQTT-3.11.3-1]
    entry.scopes.erase(filter);
    entry.options.erase(filter);
    for (auto it = entry.bindings.begin(); it != entry.bindings.end();) {
      auto& b = it->second;
      if (b.filters.erase(filter) == 0) {
        ++it;
        continue;
      }
      if (b.filters.empty()) {
        unbind(entry, it->first, b, true);
        it = entry.bindings.erase(it);
        continue;
      }
      b.qos = 0;
      for (const auto& [f, q] : b.filters) b.qos = std::max(b.qos, q);
      ++it;
    }
  }
  if (entry.session->expiry_interval() != 0) persist(entry.shared_from_this());
  return codes;
}

void MqttBroker::ack(const DeliveryOrigin& origin) {
  if (origin.topic.empty()) return;
  if (auto topic = TopicName::parse(origin.topic))
    service_.ack(*topic, origin.subscription, MessageId{origin.ledger, origin.entry, origin.batch});
}

// ---------------------------------------------------------------------------------------------
// Persistence

namespace {

// MQTT 5 subscription options as the SUBSCRIBE options byte has them above the QoS bits.
std::uint8_t options_byte(const FilterOptions& o) {
  return static_cast<std::uint8_t>((o.no_local ? 0x04 : 0) | (o.retain_as_published ? 0x08 : 0) |
                                   ((o.retain_handling & 3) << 4));
}

}  // namespace

service::SessionRecord MqttBroker::record_of(const SessionEntry& e) const {
  service::SessionRecord r;
  r.client_id = e.session->client_id();
  r.clean_start = e.clean_start;
  r.protocol_version = static_cast<std::uint8_t>(e.version);
  r.expiry_interval_s = e.session->expiry_interval();
  r.disconnected_at_ms = e.conn ? 0 : e.disconnected_at_ms;
  r.subscriptions.reserve(e.session->subscriptions().size());
  for (const auto& [filter, qos] : e.session->subscriptions()) {
    service::SessionSubscription sub{filter, qos, 0, 0};
    if (auto o = e.options.find(filter); o != e.options.end()) {
      sub.options = options_byte(o->second);
      sub.subscription_id = o->second.subscription_id;
    }
    r.subscriptions.push_back(std::move(sub));
  }
  r.inbound_qos2.assign(e.inbound_recorded.begin(), e.inbound_recorded.end());
  // Only QoS 2 deliveries in the PUBREL-sent state: the others are unacknowledged on their
  // subscriptions and come back from the cursor after a restart.
  for (const auto& [id, o] : e.session->outbound())
    if (o.state == Outbound::State::awaiting_pubcomp && !o.origin.topic.empty())
      r.outbound.push_back(service::OutboundInflight{id, o.origin.topic, o.origin.subscription,
                                                     MessageId{o.origin.ledger, o.origin.entry, o.origin.batch}, 2,
                                                     service::OutboundState::pubrel_sent});
  // Completed ones: packet id 0 (no MQTT packet has it), only their acknowledgement matters.
  for (const auto& o : e.completed_qos2)
    r.outbound.push_back(service::OutboundInflight{0, o.topic, o.subscription, MessageId{o.ledger, o.entry, o.batch},
                                                   2, service::OutboundState::pubrel_sent});
  return r;
}

void MqttBroker::persist(const std::shared_ptr<SessionEntry>& entry, std::function<void(bool)> done) {
  const bool keep = entry->session->expiry_interval() != 0;
  if (entry->ended || (!keep && !entry->stored)) {  // nothing stored and nothing to store
    if (done) done(true);
    return;
  }
  auto finish = [id = entry->session->client_id(), done = std::move(done)](std::error_code ec) {
    if (ec) logger()->error("client {}: session state not stored: {}", id, ec.message());
    if (done) done(!ec);
  };
  entry->stored = keep;
  if (keep)
    service_.put_session(record_of(*entry), std::move(finish));
  else
    service_.delete_session(entry->session->client_id(), std::move(finish));
}

void MqttBroker::retire(const std::shared_ptr<SessionEntry>& entry, std::size_t n) {
  // The last `n` completed QoS 2 deliveries were acknowledged on their subscriptions before now.
  // The service writes a subscription's cursor with at most one write in flight, the next one
  // issued when it completes; its completions and ours run in store order on this thread. So
  // once a record written now (A) is durable, every cursor write holding those acknowledgements
  // has been issued, and a record written after A completes (B) is stored after them: B may
  // leave the deliveries out. A crash before B restores them from A (or earlier) and acks again.
  persist(entry, [this, alive = std::weak_ptr<bool>(alive_), weak = std::weak_ptr<SessionEntry>(entry), n](bool) {
    auto e = weak.lock();
    if (alive.expired() || !e || e->ended) return;
    for (std::size_t i = 0; i < n && !e->completed_qos2.empty(); ++i) e->completed_qos2.pop_front();
    persist(e);
  });
}

void MqttBroker::store_will(const std::string& client_id, const Will& will, std::uint64_t due_at_ms) {
  auto topic = mapper_.to_pulsar(will.topic);
  if (!topic) return;  // cannot be published either (logged when it would be)
  service::WillRecord r;
  r.client_id = client_id;
  r.topic = topic->str();
  r.message.payload = will.payload;
  r.message.producer_name = client_id;
  r.message.mqtt_qos = will.qos;
  // Message properties with a message expiry counted from 0: relative, as the will has it until
  // it is published.
  to_message_properties(will.properties, 0, false, r.message.properties);
  r.qos = will.qos;
  r.retain = will.retain;
  r.delay_s = will.properties.will_delay_interval.value_or(0);
  r.due_at_ms = due_at_ms;
  stored_wills_.insert(client_id);
  service_.put_will(std::move(r), [client_id](std::error_code ec) {
    if (ec) logger()->error("client {}: will message not stored: {}", client_id, ec.message());
  });
}

void MqttBroker::forget_will(const std::string& client_id) {
  if (stored_wills_.erase(client_id) == 0) return;
  service_.delete_will(client_id, [client_id](std::error_code ec) {
    if (ec) logger()->error("client {}: will message not deleted: {}", client_id, ec.message());
  });
}

void MqttBroker::restore() {
  const TimePoint now = clock_.now();
  const std::uint64_t wall = clock_.wall_ms();
  auto records = service_.load_sessions();
  auto wills = service_.load_wills();
  if (records.empty() && wills.empty()) return;
  std::size_t expired = 0;
  for (auto& r : records) {
    auto session = std::make_shared<Session>(r.client_id, r.expiry_interval_s == 0);
    session->set_expiry_interval(r.expiry_interval_s);
    auto entry = std::make_shared<SessionEntry>(*this, session);
    entry->receiver = service_.open_receiver(*entry);
    entry->version = static_cast<ProtocolVersion>(r.protocol_version);
    entry->clean_start = r.clean_start;
    entry->stored = true;
    // Connected when the broker stopped: disconnected now, as far as anyone can tell.
    entry->disconnected_at_ms = r.disconnected_at_ms != 0 ? r.disconnected_at_ms : wall;
    sessions_.insert_or_assign(r.client_id, entry);
    for (const auto& sub : r.subscriptions) {
      auto scope = mapper_.scope(sub.filter);
      if (!scope) {
        logger()->warn("client {}: stored filter '{}' names no Pulsar namespace; dropped", r.client_id, sub.filter);
        continue;
      }
      FilterOptions fo{(sub.options & 0x04) != 0, (sub.options & 0x08) != 0,
                       static_cast<std::uint8_t>((sub.options >> 4) & 3), sub.subscription_id};
      if (sub.options || sub.subscription_id) entry->options[sub.filter] = fo;
      add_filter(*entry, sub.filter, sub.qos, *scope);
    }
    service_.pause(entry->receiver);  // no permits until the client is back
    for (PacketId id : r.inbound_qos2) {
      session->add_inbound_qos2(id);
      entry->inbound_recorded.insert(id);
    }
    for (const auto& o : r.outbound) {
      if (o.state != service::OutboundState::pubrel_sent) continue;
      DeliveryOrigin origin{o.topic, o.subscription, o.message_id.ledger, o.message_id.entry, o.message_id.batch};
      // The client has it: the subscription must not deliver it again (its acknowledgement was
      // sent after the record's write and may not have reached the disk). Packet id 0: already
      // completed; otherwise its PUBREL is still owed.
      if (o.packet_id != 0 && !session->restore_awaiting_pubcomp(o.packet_id, origin)) continue;
      if (o.packet_id == 0) entry->completed_qos2.push_back(origin);
      ack(origin);
    }
    if (logger()->should_log(spdlog::level::debug)) {
      std::vector<std::string> owed;
      for (const auto& o : r.outbound)
        owed.push_back(fmt::format("{}:{}:{}", o.packet_id, o.message_id.ledger, o.message_id.entry));
      logger()->debug("restored session {}: {} filters, inbound QoS 2 ids [{}], QoS 2 deliveries PUBREL-sent "
                      "or completed (packet id:ledger:entry) [{}]",
                      r.client_id, r.subscriptions.size(), fmt::join(r.inbound_qos2, ","), fmt::join(owed, ","));
    }
    const std::uint32_t expiry = r.expiry_interval_s;
    if (expiry == 0) {  // ended with its connection: not kept
      ++expired;
      expiries_[r.client_id] = now;
    } else if (expiry != Session::kNeverExpires) {
      // Expiry counts from the disconnection, across the restart; tick() below ends those
      // whose time ran out while the broker was down.
      const std::uint64_t end_ms = entry->disconnected_at_ms + std::uint64_t{expiry} * 1000;
      if (end_ms <= wall) ++expired;
      expiries_[r.client_id] = now + std::chrono::milliseconds(end_ms > wall ? end_ms - wall : 0);
    }
    if (r.disconnected_at_ms == 0) persist(entry);  // from now on its expiry counts from this start
    if (!entry->completed_qos2.empty()) retire(entry, entry->completed_qos2.size());
  }
  for (auto& w : wills) {
    auto topic = TopicName::parse(w.topic);
    auto local = topic ? service::url_decode(topic->local()) : std::nullopt;
    if (!local) {
      logger()->warn("client {}: stored will names no Pulsar topic ('{}'); dropped", w.client_id, w.topic);
      service_.delete_will(w.client_id, {});
      continue;
    }
    Will will;
    // The full form of the MQTT name ("persistent://tenant/ns/" + the decoded local name) maps
    // back to the same Pulsar topic.
    will.topic = w.topic.substr(0, w.topic.size() - topic->local().size()) + *local;
    will.payload = w.message.payload;
    will.qos = w.qos;
    will.retain = w.retain;
    bool ignored = false;
    from_message_properties(w.message.properties, 0, will.properties, ignored);
    if (w.delay_s) will.properties.will_delay_interval = w.delay_s;
    stored_wills_.insert(w.client_id);
    TimePoint due = now;
    if (w.due_at_ms != 0) {
      if (w.due_at_ms > wall) due = now + std::chrono::milliseconds(w.due_at_ms - wall);
    } else {
      // The client was connected when the broker stopped: its network connection ended without
      // DISCONNECT, so the will is published, after its delay when its session outlives the
      // connection (mosquitto with persistence does the same).
      auto s = sessions_.find(w.client_id);
      const bool lives_on = s != sessions_.end() && s->second->session->expiry_interval() != 0;
      if (w.delay_s != 0 && lives_on) {
        due = now + std::chrono::seconds(w.delay_s);
        store_will(w.client_id, will, wall + std::uint64_t{w.delay_s} * 1000);
      }
    }
    pending_wills_.insert_or_assign(w.client_id, PendingWill{due, std::move(will)});
  }
  logger()->info("restored {} MQTT sessions ({} expired while the broker was down) and {} will messages",
                 records.size(), expired, wills.size());
  tick();  // wills due and sessions expired while the broker was down
}

void MqttBroker::on_topic_created(const TopicName& topic) {
  auto it = watchers_.find(topic.namespace_name());
  if (it == watchers_.end()) return;
  for (SessionEntry* entry : it->second) {
    for (const auto& [filter, scope] : entry->scopes) {
      // The topic is new: everything in it was published after this subscription existed.
      if (has_wildcard(scope.local_filter) && scope.matches(topic))
        bind(*entry, topic, filter, scope, InitialPosition::earliest);
    }
  }
}

}  // namespace mop::mqtt
