// Delivery to a session: messages from its Pulsar subscriptions as PUBLISH to the client, the
// client's PUBACK / PUBREC / PUBCOMP back to the subscriptions, the delivery window (receive
// maximum) and the pause while the client's socket is congested.
#include <algorithm>
#include <cassert>
#include <utility>

#include "mqtt/server/session_router.hpp"

namespace mop::mqtt {

using service::MessageId;
using service::MessagePtr;
using service::TopicName;

void SessionEntry::on_message(const TopicName& topic, const std::string& subscription, MessageId id,
                              const MessagePtr& message, std::uint32_t /*redelivery_count*/) {
  router.deliver(*this, topic, subscription, id, message);
}

void SessionRouter::deliver(SessionEntry& entry, const TopicName& topic, const std::string& subscription,
                            MessageId id, const MessagePtr& message) {
  auto it = entry.subs->bindings.find(BindingRef{topic, subscription});
  if (it == entry.subs->bindings.end()) {  // unsubscribed while the message was on its way
    service_.ack(topic, subscription, id);
    give_back_permit(entry);
    return;
  }
  const SessionBinding& b = it->second;
  Properties props;
  bool was_retained = false;
  std::uint64_t expires_at = 0;
  bool wanted = message->properties.empty() ||
                from_message_properties(message->properties, clock_.wall_ms(), props, was_retained, &expires_at);
  // No local [MQTT-3.8.3-3], retain as published and subscription identifiers [MQTT-3.3.4-3]
  // over every filter of this session that matched the topic.
  bool any = false, keep_retain = false;
  for (const auto& [filter, q] : b.filters) {
    auto o = entry.subs->options.find(filter);
    if (o == entry.subs->options.end()) {
      any = true;
      continue;
    }
    if (o->second.no_local && message->producer_name == entry.session->client_id()) continue;
    any = true;
    keep_retain = keep_retain || o->second.retain_as_published;
    if (o->second.subscription_id) props.subscription_identifiers.push_back(o->second.subscription_id);
  }
  if (!wanted || !any) {  // expired, or only no-local filters and our own message
    if (!b.acked_on_dispatch) service_.ack(topic, subscription, id);
    give_back_permit(entry);
    return;
  }
  // Without message properties and subscription identifiers, the PUBLISH carries nothing of
  // this subscriber's: a QoS 0 one has the same bytes for every subscriber of the topic name.
  const bool plain = message->properties.empty() && props.subscription_identifiers.empty();
  const bool retain = keep_retain && was_retained;
  const std::uint8_t qos = std::min(message->mqtt_qos, b.qos);
  ClientConnection* conn = entry.conn;
  if (qos == 0) {
    // Nothing to wait for: the cursor moves on (already, when acknowledged on dispatch) and the
    // permit comes straight back, unless the client's socket is not keeping up.
    if (!b.acked_on_dispatch) service_.ack(topic, subscription, id);
    if (!conn) {
      give_back_permit(entry);
      return;
    }
    if (conn->congested()) {
      if (!topic.persistent()) {
        // Nothing is stored to wait in: dropped, as MQTT allows for QoS 0.
        ++conn->dropped_qos0_;
        give_back_permit(entry);
        return;
      }
      // Persistent topic: the backlog waits in the log. This one goes out, and the session
      // takes no more until the socket has drained (handle_output_drained).
      pause_deliveries(*conn);
    }
    if (!plain || !deliver_plain_qos0(*conn, b.mqtt_name, message->payload))
      conn->protocol().deliver(Publish{false, 0, retain, b.mqtt_name, 0, message->payload, std::move(props)}, {});
    give_back_permit(entry);
    return;
  }
  Publish p{false, qos, retain, b.mqtt_name, 0, message->payload, std::move(props)};
  DeliveryOrigin origin{b.source, id.ledger, id.entry, id.batch};
  if (conn)
    conn->protocol().deliver(std::move(p), origin, expires_at);
  else
    entry.session->add_outbound(std::move(p), std::move(origin), false, expires_at);
}

bool SessionRouter::deliver_plain_qos0(ClientConnection& conn, const std::string& topic, const Payload& payload) {
  Protocol& protocol = conn.protocol();
  Qos0Header& h = qos0_header_;
  if (h.bytes.empty() || h.payload_size != payload.size() || h.version != protocol.version() || h.topic != topic) {
    h.bytes.clear();
    encode_publish_header(Publish{false, 0, false, topic, 0, payload, {}}, protocol.version(), h.bytes);
    h.topic = topic;
    h.payload_size = payload.size();
    h.version = protocol.version();
  }
  return protocol.deliver_encoded(h.bytes, payload);
}

void SessionRouter::give_back_permit(SessionEntry& entry) {
  // None while the session has no connection: its receiver was paused when the client went, and
  // a permit now would dispatch the next message to nobody (a QoS 0 one acknowledged and gone,
  // and the next after it, until the backlog is empty). The client's window comes back with it
  // (grant_window).
  if (entry.conn != nullptr && !entry.conn->deliveries_paused()) flow(entry, 1);
}

void SessionRouter::pause_deliveries(ClientConnection& conn) {
  if (conn.deliveries_paused_ || !conn.entry_) return;
  conn.deliveries_paused_ = true;
  ++conn.delivery_pauses_;
  pause_receiver(*conn.entry_);
}

void SessionRouter::handle_output_drained(ClientConnection& conn) {
  if (!conn.deliveries_paused_) return;
  conn.deliveries_paused_ = false;
  if (conn.entry_ && !conn.closed_) grant_window(conn);
}

void SessionRouter::grant_window(ClientConnection& conn) {
  // Permits = the smaller of the two receive maximums: the client's bounds what it can take
  // [MQTT-3.3.4-7], ours bounds what we hold for it. Less what is already in flight.
  const auto& entry = conn.entry_;
  assert(entry && entry->conn == &conn && "a window for a connection that holds no session");
  const std::uint32_t window =
      std::min<std::uint32_t>(options_.receive_maximum, conn.protocol().client_receive_maximum());
  const auto inflight = static_cast<std::uint32_t>(entry->session->outbound_count());
  if (inflight < window) flow(*entry, window - inflight);
}

void SessionRouter::open_receiver(SessionEntry& entry) {
  if (entry.receiver != 0 || entry.ended) return;  // an ended session's was closed for good
  entry.receiver = service_.open_receiver(entry);
  // A connected client (its CONNACK sent) gets its window now: grant_window had no receiver to
  // give it to. A paused one gets it when its socket drains, a session without a client when
  // one resumes it.
  if (entry.conn && !entry.connack_pending && !entry.conn->deliveries_paused_ && !entry.conn->closed_)
    grant_window(*entry.conn);
}

void SessionRouter::flow(SessionEntry& entry, std::uint32_t permits) {
  if (entry.receiver != 0) service_.flow(entry.receiver, permits);
}

void SessionRouter::pause_receiver(SessionEntry& entry) {
  if (entry.receiver != 0) service_.pause(entry.receiver);
}

void SessionRouter::close_receiver(SessionEntry& entry) {
  if (entry.receiver != 0) service_.close_receiver(std::exchange(entry.receiver, 0));
}

void SessionRouter::handle_delivery_acked(const DeliveryOrigin& origin) { ack(origin); }

void SessionRouter::handle_inflight_freed(ClientConnection& conn, const DeliveryOrigin& origin) {
  // Retained deliveries (no origin) never took a permit, so they give none back; while paused,
  // resuming grants the whole window again.
  if (origin.source && conn.entry_ && !conn.deliveries_paused_) flow(*conn.entry_, 1);
}

void SessionRouter::handle_pubrec(ClientConnection& conn, const DeliveryOrigin& origin, std::function<void()> done) {
  const auto& entry = conn.entry_;
  if (!origin.source || !entry || entry->session->expiry_interval() == 0) {
    ack(origin);
    done();
    return;
  }
  // The client has the message and delivers it when it gets our PUBREL. The PUBREL-sent state
  // is made durable first and the subscription acknowledged after: a restart in between then
  // resends the PUBREL (and drops the cursor's redelivery of the message) instead of sending the
  // message again under a new packet id, which the client would deliver a second time.
  persist_soon(entry, [this, alive = std::weak_ptr<bool>(alive_), origin, done = std::move(done)](bool) {
    if (alive.expired()) return;
    ack(origin);
    done();
  });
}

void SessionRouter::handle_pubcomp(ClientConnection& conn, const DeliveryOrigin& origin) {
  // The entry's packet id leaves the record (ids are handed out round robin, so it is not reused
  // for another message before this write is durable: 65535 other ids would have to go first);
  // its origin stays a while as a completed delivery (see SessionQos2::completed_qos2).
  const auto& entry = conn.entry_;
  if (origin.source && entry && entry->session->expiry_interval() != 0) {
    entry->qos2->completed_qos2.push_back(origin);
    retire(entry, 1);
  }
  handle_inflight_freed(conn, origin);
}

void SessionRouter::ack(const DeliveryOrigin& origin) {
  if (origin.source)
    service_.ack(origin.source->topic, origin.source->subscription, MessageId{origin.ledger, origin.entry, origin.batch});
}

}  // namespace mop::mqtt
