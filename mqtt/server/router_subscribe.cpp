// SUBSCRIBE (with the retained messages it gets), UNSUBSCRIBE, and wildcard filters picking up
// topics created later: MQTT filters as Pulsar subscriptions on every matching topic.
#include <algorithm>
#include <cassert>
#include <utility>

#include "mqtt/codec/topic.hpp"
#include "mqtt/server/router_log.hpp"
#include "mqtt/server/session_router.hpp"

namespace mop::mqtt {

using service::InitialPosition;
using service::TopicName;

namespace {

bool has_wildcard(std::string_view filter) { return filter.find_first_of("+#") != std::string_view::npos; }

}  // namespace

void SessionRouter::watch(const service::NamespaceName& ns, SessionEntry& entry) {
  auto [it, inserted] = watchers_.try_emplace(ns);
  if (inserted) service_.watch_topics(ns, *this);
  it->second.insert(&entry);
}

// Counts the subscriptions a SUBSCRIBE still waits for; the last one answers with the codes.
struct SessionRouter::SubackWait {
  std::vector<std::uint8_t> codes;
  std::size_t pending = 1;  // the SUBSCRIBE's own share, released once every filter is bound
  std::function<void(std::vector<std::uint8_t>)> done;
  void release() {
    if (--pending == 0 && done) std::exchange(done, nullptr)(std::move(codes));
  }
};

void SessionRouter::handle_subscribe(ClientConnection& conn, const Subscribe& s,
                                     std::function<void(std::vector<std::uint8_t>)> done) {
  SessionEntry& entry = *conn.entry_;
  auto wait = std::make_shared<SubackWait>();
  wait->done = std::move(done);
  std::vector<std::uint8_t>& codes = wait->codes;
  codes.reserve(s.entries.size());
  const bool v5 = entry.conn && entry.conn->protocol().version() == ProtocolVersion::v5;
  const std::uint32_t sub_id = s.properties.subscription_identifiers.empty() ? 0 : s.properties.subscription_identifiers[0];
  entry.subs->fresh.clear();
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
    if (options_.permissions) {
      const auto& sc = *scope;
      const bool allowed =
          has_wildcard(sc.local_filter)
              ? options_.allow_wildcard_filters ||
                    options_.permissions->can_namespace(conn.role_, auth::Action::consume, sc.ns.tenant, sc.ns.ns)
              : may(conn.role_, auth::Action::consume,
                    TopicName(sc.domain, sc.ns.tenant, sc.ns.ns, service::url_encode(sc.local_filter)));
      if (!allowed) {
        logger()->warn("client {}: subscribe to '{}' refused: role '{}' may not consume from it", id, e.filter,
                       conn.role_);
        codes.push_back(v5 ? static_cast<std::uint8_t>(ReasonCode::not_authorized) : kSubackFailure);
        continue;
      }
    }
    const std::uint8_t granted = std::min<std::uint8_t>(e.qos, 2);
    if (!entry.session->subscriptions().contains(e.filter)) entry.subs->fresh.insert(e.filter);
    FilterOptions fo{e.no_local, e.retain_as_published, e.retain_handling, sub_id};
    if (fo.no_local || fo.retain_as_published || fo.retain_handling || fo.subscription_id)
      entry.subs->options[e.filter] = fo;
    else
      entry.subs->options.erase(e.filter);
    codes.push_back(granted);
    add_filter(entry, e.filter, granted, *scope, wait, codes.size() - 1);
  }
  if (entry.session->expiry_interval() != 0) {
    // The SUBACK also waits for the session's record: a subscription granted to a session that
    // outlives its connection must outlive a crash too. One that could not be stored is answered
    // 0x80 (unspecified error), as a refused one is.
    ++wait->pending;
    persist(entry.shared_from_this(), [wait](bool ok) {
      if (!ok)
        for (auto& code : wait->codes) code = std::max<std::uint8_t>(code, kSubackFailure);
      wait->release();
    });
  }
  wait->release();
}

void SessionRouter::add_filter(SessionEntry& entry, const std::string& filter, std::uint8_t granted,
                            const FilterScope& scope, const std::shared_ptr<SubackWait>& wait, std::size_t wait_index) {
  entry.session->subscriptions().insert_or_assign(filter, granted);  // [MQTT-3.8.4-3]
  auto [sit, _] = entry.subs->scopes.insert_or_assign(filter, scope);
  const FilterScope& sc = sit->second;
  if (has_wildcard(sc.local_filter)) {
    watch(sc.ns, entry);
    for (const auto& topic : service_.list_topics(sc.ns))
      if (sc.matches(topic)) bind(entry, topic, filter, sc, InitialPosition::latest, wait, wait_index);
  } else {
    // A filter without wildcards names one topic; subscribing creates it, as Pulsar does.
    TopicName topic(sc.domain, sc.ns.tenant, sc.ns.ns, service::url_encode(sc.local_filter));
    bind(entry, topic, filter, sc, InitialPosition::latest, wait, wait_index);
  }
}

void SessionRouter::bind(SessionEntry& entry, const TopicName& topic, const std::string& filter,
                      const FilterScope& scope, InitialPosition pos, const std::shared_ptr<SubackWait>& wait,
                      std::size_t wait_index) {
  // A wildcard filter accepted under authorizationAllowWildcardsMatching binds only the topics
  // its role may consume.
  if (!entry.role.empty() && !may(entry.role, auth::Action::consume, topic)) return;
  const bool shared = !scope.group.empty();
  const std::string& sub = shared ? scope.group : entry.session->client_id();
  auto [it, inserted] = entry.subs->bindings.try_emplace(SessionEntry::BindingKey{topic, sub});
  auto& b = it->second;
  b.filters[filter] = entry.session->subscriptions()[filter];
  b.qos = 0;
  for (const auto& [f, q] : b.filters) b.qos = std::max(b.qos, q);
  if (!inserted) {
    if (b.qos > 0 && b.acked_on_dispatch) {  // a QoS 1/2 filter now matches too: acknowledged by the client
      b.acked_on_dispatch = false;
      service_.stop_ack_on_dispatch(topic, it->first.second, entry.receiver);
    }
    return;
  }
  b.mqtt_name = scope.mqtt_name(topic);
  b.shared = shared;
  b.source = std::make_shared<const DeliverySource>(DeliverySource{topic, sub});
  service::SubscriptionOptions opts;
  // Shared either way: as in MoP, Pulsar consumers may join a session's subscription, and a
  // `$share` group is one Pulsar Shared subscription whose members each get some messages.
  opts.type = service::SubscriptionType::shared;
  opts.initial_position = pos;
  opts.durable = shared || entry.session->expiry_interval() != 0;
  opts.group = shared;
  // QoS 0 to a clean session's own subscription: each delivery is acknowledged as it arrives
  // and nothing undelivered is wanted back (the subscription goes with the connection), so the
  // service may acknowledge on dispatch. Not for persistent sessions or `$share` groups, whose
  // undelivered messages go back to the session or the group.
  opts.ack_on_dispatch = !opts.durable && b.qos == 0 && service_.acks_on_dispatch();
  b.acked_on_dispatch = opts.ack_on_dispatch;
  service::SubscribeReady ready;
  if (wait) {
    // The SUBACK waits until the subscription exists where messages are kept; one that could
    // not be made answers 0x80 for its filter.
    ++wait->pending;
    ready = [wait, wait_index, weak = entry.weak_from_this(), topic, sub](std::error_code ec) {
      if (ec) {
        auto e = weak.lock();
        logger()->error("client {}: cannot subscribe to {} as {}: {}", e ? e->session->client_id() : sub,
                        topic.str(), sub, ec.message());
        if (wait_index < wait->codes.size()) wait->codes[wait_index] = kSubackFailure;
        if (e) e->subs->bindings.erase(SessionEntry::BindingKey{topic, sub});
      }
      wait->release();
    };
  }
  open_receiver(entry);
  if (const auto st = service_.subscribe(topic, sub, opts, entry.receiver, std::move(ready)); !st.ok()) {
    logger()->error("client {}: cannot subscribe to {} as {}: {}", entry.session->client_id(), topic.str(), sub,
                    st.error().message());
    entry.subs->bindings.erase(it);
    if (wait) {
      if (wait_index < wait->codes.size()) wait->codes[wait_index] = kSubackFailure;
      wait->release();
    }
    return;
  }
  if (shared) ++group_members_[SessionEntry::BindingKey{topic, sub}];
}

void SessionRouter::unbind(SessionEntry& entry, const SessionEntry::BindingKey& key, const SessionEntry::Binding& b,
                        bool explicit_unsubscribe) {
  if (!b.shared) {
    // Unlike MoP, the Pulsar subscription goes too, so its backlog does not grow forever.
    service_.unsubscribe(key.first, key.second);
    return;
  }
  // A member leaving hands its unacknowledged messages back to the group.
  service_.detach(key.first, key.second, entry.receiver);
  auto it = group_members_.find(key);
  assert(it == group_members_.end() || it->second > 0);
  if (it != group_members_.end() && --it->second == 0) {
    group_members_.erase(it);
    // The last member unsubscribing ends the group; a member merely going away does not.
    if (explicit_unsubscribe) service_.unsubscribe(key.first, key.second);
  }
}

void SessionRouter::send_retained(ClientConnection& conn, const Subscribe& s, const std::vector<std::uint8_t>& codes) {
  auto& entry = *conn.entry_;
  for (std::size_t i = 0; i < s.entries.size() && i < codes.size(); ++i) {
    if (codes[i] == kSubackFailure) continue;
    auto sit = entry.subs->scopes.find(s.entries[i].filter);
    if (sit == entry.subs->scopes.end()) continue;
    const FilterScope& sc = sit->second;
    if (!sc.group.empty()) continue;  // shared subscriptions get no retained messages (MQTT 5 4.8.2)
    // Retain handling [MQTT-3.3.1-9/10/11]: 0 always, 1 only for a new subscription, 2 never.
    const auto& e = s.entries[i];
    if (e.retain_handling == 2 || (e.retain_handling == 1 && !entry.subs->fresh.contains(e.filter))) continue;
    std::uint32_t sub_id = 0;
    if (auto o = entry.subs->options.find(e.filter); o != entry.subs->options.end()) sub_id = o->second.subscription_id;
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

std::vector<ReasonCode> SessionRouter::handle_unsubscribe(ClientConnection& conn, const Unsubscribe& u) {
  SessionEntry& entry = *conn.entry_;
  std::vector<ReasonCode> codes;
  codes.reserve(u.filters.size());
  for (const auto& filter : u.filters) {
    if (!valid_topic_filter(filter)) {  // the MQTT 5 codec keeps it for this answer (3.11.3)
      codes.push_back(ReasonCode::topic_filter_invalid);
      continue;
    }
    const bool existed = entry.session->subscriptions().erase(filter) != 0;
    codes.push_back(existed ? ReasonCode::success : ReasonCode::no_subscription_existed);  // [MQTT-3.11.3-1]
    entry.subs->scopes.erase(filter);
    entry.subs->options.erase(filter);
    for (auto it = entry.subs->bindings.begin(); it != entry.subs->bindings.end();) {
      auto& b = it->second;
      if (b.filters.erase(filter) == 0) {
        ++it;
        continue;
      }
      if (b.filters.empty()) {
        unbind(entry, it->first, b, true);
        it = entry.subs->bindings.erase(it);
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

void SessionEntry::on_subscription_removed(const TopicName& topic, const std::string& subscription) {
  router.subscription_removed(*this, topic, subscription);
}

void SessionRouter::subscription_removed(SessionEntry& entry, const TopicName& topic, const std::string& subscription) {
  const SessionEntry::BindingKey key{topic, subscription};
  const auto it = entry.subs->bindings.find(key);
  if (it == entry.subs->bindings.end()) return;  // its own unsubscribe: the binding went first
  logger()->info("client {}: subscription {} of {} was deleted; its filters bind again when the topic is back",
                 entry.session->client_id(), subscription, topic.str());
  if (it->second.shared) {
    if (auto g = group_members_.find(key); g != group_members_.end() && --g->second == 0) group_members_.erase(g);
  }
  entry.subs->bindings.erase(it);
  // Filters without wildcards watch only from now on (a wildcard filter's namespace already is).
  watch(topic.namespace_name(), entry);
}

void SessionRouter::on_topic_created(const TopicName& topic) {
  auto it = watchers_.find(topic.namespace_name());
  if (it == watchers_.end()) return;
  for (SessionEntry* entry : it->second) {
    for (const auto& [filter, scope] : entry->subs->scopes) {
      // The topic is new: everything in it was published after this subscription existed. A
      // filter without wildcards is here only after its topic was deleted (subscription_removed);
      // when it made the topic itself, bind() finds the binding it has and changes nothing.
      if (scope.matches(topic)) bind(*entry, topic, filter, scope, InitialPosition::earliest);
    }
  }
}

}  // namespace mop::mqtt
