#include "mqtt/server/mqtt_broker.hpp"

#include <algorithm>

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

}  // namespace

// The Pulsar side of one MQTT session: its receiver (permits shared by all its subscriptions)
// and its bindings: per (matched topic, Pulsar subscription), the filters that matched. The
// Pulsar subscription is the client id, or the group of a shared subscription.
struct SessionBinding {
  std::map<std::string, std::uint8_t> filters;  // filter -> granted QoS
  std::string mqtt_name;                        // topic name sent to this client
  std::uint8_t qos = 0;                         // max over filters [MQTT-3.3.5-1]
  bool shared = false;                          // the subscription is a `$share` group's
};

struct SessionEntry final : service::ReceiverListener {
  using Binding = SessionBinding;
  using BindingKey = std::pair<TopicName, std::string>;  // topic, Pulsar subscription

  SessionEntry(MqttBroker& b, std::shared_ptr<Session> s) : broker(b), session(std::move(s)) {}

  void on_message(const TopicName& topic, const std::string& subscription, MessageId id,
                  const MessagePtr& message, std::uint32_t /*redelivery_count*/) override {
    DeliveryOrigin origin{topic.str(), subscription, id.ledger, id.entry, id.batch};
    auto it = bindings.find(BindingKey{topic, subscription});
    if (it == bindings.end()) {  // unsubscribed while the message was on its way
      broker.ack(origin);
      broker.service_.flow(receiver, 1);
      return;
    }
    const std::uint8_t qos = std::min(message->mqtt_qos, it->second.qos);
    if (qos == 0) {
      // Nothing to wait for: the cursor moves on and the permit comes straight back.
      broker.service_.ack(topic, subscription, id);
      broker.service_.flow(receiver, 1);
      if (!conn) return;
      if (conn->congested()) {
        conn->note_dropped_qos0();
        return;
      }
      conn->protocol().deliver(Publish{false, 0, false, it->second.mqtt_name, 0, message->payload}, {});
      return;
    }
    Publish p{false, qos, false, it->second.mqtt_name, 0, message->payload};
    if (conn)
      conn->protocol().deliver(std::move(p), origin);
    else
      session->add_outbound(std::move(p), std::move(origin), false);
  }

  MqttBroker& broker;
  std::shared_ptr<Session> session;
  service::ReceiverId receiver = 0;
  ClientConnection* conn = nullptr;
  std::map<BindingKey, Binding> bindings;
  std::map<std::string, FilterScope> scopes;  // filter -> where it looks
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

void ClientConnection::on_unsubscribe(const Unsubscribe& unsubscribe) { broker_.unsubscribe(*entry_, unsubscribe); }

void ClientConnection::on_delivery_acked(const DeliveryOrigin& origin) { broker_.ack(origin); }

void ClientConnection::on_inflight_freed(const DeliveryOrigin& origin) {
  // Retained deliveries (no origin) never took a permit, so they give none back.
  if (!origin.topic.empty() && entry_) broker_.service_.flow(entry_->receiver, 1);
}

// ---------------------------------------------------------------------------------------------
// MqttBroker

MqttBroker::MqttBroker(service::MessagingService& service, const Clock& clock, BrokerOptions options)
    : service_(service), clock_(clock), options_(std::move(options)), mapper_(options_.defaults) {}

MqttBroker::~MqttBroker() {
  for (auto& [ns, entries] : watchers_) service_.unwatch_topics(ns, *this);
  for (auto& [id, entry] : sessions_) service_.close_receiver(entry->receiver);
}

void MqttBroker::shutdown() {
  std::vector<ClientConnection*> all(connections_.begin(), connections_.end());
  for (auto* c : all) c->protocol().terminate(CloseReason::server_shutdown);
}

void MqttBroker::connect(ClientConnection& conn, const Connect& c) {
  const std::string& id = conn.protocol().client_id();
  auto it = sessions_.find(id);
  if (it != sessions_.end() && it->second->conn) {
    // [MQTT-3.1.4-2]: the existing connection of this client id is closed.
    it->second->conn->protocol().terminate(CloseReason::session_taken_over);
    it = sessions_.find(id);  // a clean session ended with its connection
  }
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
    entry = std::make_shared<SessionEntry>(*this, std::make_shared<Session>(id, c.clean_session));
    entry->receiver = service_.open_receiver(*entry);
    sessions_.emplace(id, entry);
  }
  entry->conn = &conn;
  conn.entry_ = entry;
  conn.will_ = c.will;
  logger()->info("client connected: id={} peer={} protocol={} clean={} keepalive={}s session_present={}",
                 id, conn.transport().peer(), version_name(c.version), c.clean_session, c.keep_alive, present);
  conn.protocol().accept(entry->session, present);
  const auto inflight = static_cast<std::uint32_t>(entry->session->outbound_count());
  if (inflight < options_.receive_maximum) service_.flow(entry->receiver, options_.receive_maximum - inflight);
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
  conn.entry_.reset();
  if (conn.will_ && publishes_will(reason)) {
    const Will& w = *conn.will_;
    if (auto topic = mapper_.to_pulsar(w.topic))
      publish(*topic, id, Publish{false, w.qos, w.retain, w.topic, 0, w.payload}, {});
    else
      logger()->warn("client {}: will topic '{}' names no Pulsar topic; will dropped", id, w.topic);
  }
  conn.will_.reset();
  if (entry->session->clean())
    end_session(entry);  // [MQTT-3.1.2-6]: a clean session ends with its connection
  else
    service_.pause(entry->receiver);  // keeps its subscriptions; messages wait in their backlogs
}

void MqttBroker::end_session(const std::shared_ptr<SessionEntry>& entry) {
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

  if (!p.retain) {
    service::PublishCallback cb;  // QoS 0 without a completion to report costs no callback at all
    if (done)
      cb = [done = std::move(done), client_id](std::error_code ec, MessageId) {
        if (ec) logger()->error("client {}: message not stored: {}", client_id, ec.message());
        done(!ec);
      };
    service_.publish(topic, std::move(msg), std::move(cb));
    return;
  }
  // A retained message is acknowledged once both the topic and the retained store have it.
  struct Join {
    int pending;
    bool ok = true;
    PublishDone done;
  };
  auto join = std::make_shared<Join>(Join{2, true, std::move(done)});
  auto finish = [join](bool ok) {
    join->ok = join->ok && ok;
    if (--join->pending == 0 && join->done) join->done(join->ok);
  };
  // An empty payload clears the retained message and is not stored as one [MQTT-3.3.1-10/11].
  service_.set_retained(topic, msg, [finish, client_id](std::error_code ec) {
    if (ec) logger()->error("client {}: retained message not stored: {}", client_id, ec.message());
    finish(!ec);
  });
  service_.publish(topic, std::move(msg), [finish, client_id](std::error_code ec, MessageId) {
    if (ec) logger()->error("client {}: message not stored: {}", client_id, ec.message());
    finish(!ec);
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
      codes.push_back(kSubackFailure);
      continue;
    }
    const std::uint8_t granted = std::min<std::uint8_t>(e.qos, 2);
    entry.session->subscriptions()[e.filter] = granted;  // replaces an existing one [MQTT-3.8.4-3]
    auto [sit, _] = entry.scopes.insert_or_assign(e.filter, *scope);
    const FilterScope& sc = sit->second;
    if (has_wildcard(sc.local_filter)) {
      watch(sc.ns, entry);
      for (const auto& topic : service_.list_topics(sc.ns))
        if (sc.matches(topic)) bind(entry, topic, e.filter, sc, InitialPosition::latest);
    } else {
      // A filter without wildcards names one topic; subscribing creates it, as Pulsar does.
      TopicName topic(sc.domain, sc.ns.tenant, sc.ns.ns, service::url_encode(sc.local_filter));
      bind(entry, topic, e.filter, sc, InitialPosition::latest);
    }
    codes.push_back(granted);
  }
  return codes;
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
  opts.durable = shared || !entry.session->clean();
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
    // [MQTT-3.3.1-6]: every retained message matching the filter, with RETAIN set.
    for (auto& [topic, msg] : service_.retained(sc.ns, [&](const TopicName& t) { return sc.matches(t); })) {
      const std::uint8_t qos = std::min(msg->mqtt_qos, codes[i]);
      conn.protocol().deliver(Publish{false, qos, true, sc.mqtt_name(topic), 0, msg->payload}, DeliveryOrigin{});
    }
  }
}

void MqttBroker::unsubscribe(SessionEntry& entry, const Unsubscribe& u) {
  for (const auto& filter : u.filters) {
    entry.session->subscriptions().erase(filter);
    entry.scopes.erase(filter);
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
}

void MqttBroker::ack(const DeliveryOrigin& origin) {
  if (origin.topic.empty()) return;
  if (auto topic = TopicName::parse(origin.topic))
    service_.ack(*topic, origin.subscription, MessageId{origin.ledger, origin.entry, origin.batch});
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
