// PUBLISH from a client (QoS 0/1/2, retained) and PUBREL: messages into the service.
#include <algorithm>
#include <cassert>

#include "mqtt/server/router_log.hpp"
#include "mqtt/server/session_router.hpp"

namespace mop::mqtt {

using service::MessageId;
using service::TopicName;

namespace {

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

bool SessionRouter::may(const std::string& role, auth::Action action, const TopicName& topic) const {
  return !options_.permissions || options_.permissions->can(role, action, topic.tenant(), topic.ns(), topic.str());
}

void SessionRouter::handle_publish(ClientConnection& conn, const Publish& publish, PublishDone done) {
  auto& last = conn.last_topic_;
  if (!last) last = std::make_unique<ClientConnection::PublishTopic>();
  if (!last->pulsar || publish.topic != last->mqtt) {
    auto mapped = mapper_.to_pulsar(publish.topic);
    last->pulsar = mapped ? std::make_shared<const TopicName>(std::move(*mapped)) : nullptr;
    last->mqtt = publish.topic;
  }
  if (!last->pulsar) {
    logger()->warn("client {}: topic '{}' names no Pulsar topic (persistent://tenant/namespace/name)",
                   conn.protocol().client_id(), publish.topic);
    conn.protocol().terminate(CloseReason::protocol_error);
    return;
  }
  const TopicName& topic = *last->pulsar;
  if (!may(conn.role_, auth::Action::produce, topic)) {
    const std::string why = "role '" + conn.role_ + "' may not produce to " + topic.str();
    logger()->warn("client {}: publish refused: {}", conn.protocol().client_id(), why);
    // MQTT 5 QoS 1/2: PUBACK / PUBREC 0x87 and the client stays; otherwise (3.1.1, QoS 0) there is
    // no negative answer, so the connection closes (MQTT 5: DISCONNECT 0x87).
    if (done && publish.qos > 0 && conn.protocol().version() == ProtocolVersion::v5) {
      done(PublishResult{ReasonCode::not_authorized, why});
    } else {
      conn.protocol().terminate(CloseReason::not_authorized);
    }
    return;
  }
  if (!store_.atomic() && options_.qos2_deduplication && conn.entry_ &&
      conn.entry_->session->expiry_interval() != 0) {
    // This session's QoS 2 messages go through a producer of their own (publish_deduplicated).
    publish_in_order(conn.entry_, conn.protocol().client_id(), topic, publish, std::move(done));
    return;
  }
  if (publish.qos == 2 && done && conn.entry_ && conn.entry_->session->expiry_interval() != 0) {
    // Exactly once across restarts: the packet id must be durable before PUBREC goes out, or the
    // client's resend after a restart would be published a second time. And never without its
    // message: a stored id turns the resend into a "duplicate", which would lose a message that
    // was not stored. So the message and the record with the id are written atomically
    // (store_.atomically: one group commit of the store, which a crash keeps whole or not at
    // all, where the session store shares the topics' store), and PUBREC waits for both.
    auto e = conn.entry_;
    const PacketId id = publish.packet_id;
    if (!store_.atomic()) {
      // A store that cannot write the two together (system topics: the session record and the
      // message go to different topics) gets the message first and the id only once the
      // message is stored. A crash in between makes the client's resend a second copy, never a
      // lost message (at least once instead of exactly once across that crash).
      this->publish(topic, conn.protocol().client_id(), publish,
                    [this, alive = std::weak_ptr<bool>(alive_), e, id, done = std::move(done)](PublishResult r) mutable {
                      if (!r.stored() || alive.expired() || e->ended) return done(std::move(r));
                      e->qos2->inbound_recorded.insert(id);
                      persist(e, [r = std::move(r), done = std::move(done)](bool ok) mutable {
                        done(ok ? std::move(r)
                                : PublishResult{ReasonCode::unspecified_error, "session state not stored"});
                      });
                    });
      return;
    }
    struct Join {
      int pending = 2;
      PublishResult result;
      PublishDone done;
      // A refusal wins over 0x10, which wins over success.
      void add(PublishResult r) {
        if (!r.stored() ? result.stored() : result.reason == ReasonCode::success) result = std::move(r);
        assert(pending > 0 && "a store completion ran twice");
        if (--pending == 0) done(std::move(result));
      }
    };
    auto join = std::make_shared<Join>(Join{2, {}, std::move(done)});
    store_.atomically([&] {
      this->publish(topic, conn.protocol().client_id(), publish,
                    [this, alive = std::weak_ptr<bool>(alive_), e, id, join](PublishResult r) {
                      if (!r.stored() && !alive.expired() && !e->ended && e->qos2->inbound_recorded.erase(id) != 0)
                        persist(e);  // not stored: the id must not stay recorded
                      join->add(std::move(r));
                    });
      e->qos2->inbound_recorded.insert(id);
      persist(e, [join](bool ok) {
        join->add(ok ? PublishResult{} : PublishResult{ReasonCode::unspecified_error, "session state not stored"});
      });
    });
    return;
  }
  this->publish(last->pulsar, conn.protocol().client_id(), publish, std::move(done));
}

std::string SessionRouter::qos2_producer_name(const std::string& client_id) { return "mqtt-qos2-" + client_id; }

void SessionRouter::publish_in_order(const std::shared_ptr<SessionEntry>& e, const std::string& client_id,
                                     const TopicName& topic, const Publish& publish, PublishDone done) {
  // QoS 2 goes through the producer named after the client (and after a session record write),
  // QoS 0/1 through the topic's shared producer: each keeps its own messages in order, but a
  // message through one could overtake one through the other. So where this client switches
  // between the two on a topic, the next message waits until every one before it is stored
  // (its receipt); messages of the same kind go on at once. MQTT asks for order per topic and
  // QoS only [MQTT-4.6.0-6]; this keeps the order of all of a client's messages on a topic, as
  // `mop standalone` does, at the price of one receipt's wait at each switch.
  const bool named = publish.qos == 2 && done;
  auto go = [this, e, client_id, topic, publish, named, done = std::move(done)]() mutable {
    const std::string key = topic.str();
    auto& lane = e->publish_lanes[key];
    lane.named = named;
    ++lane.in_flight;
    PublishDone stored = [this, alive = std::weak_ptr<bool>(alive_), e, key, done = std::move(done)](PublishResult r) {
      if (done) done(std::move(r));
      if (!alive.expired()) release_lane(*e, key);
    };
    if (named) {
      publish_deduplicated(e, client_id, topic, publish, std::move(stored));
    } else {
      this->publish(topic, client_id, publish, std::move(stored));
    }
  };
  auto& lane = e->publish_lanes[topic.str()];
  if (!lane.held.empty() || (lane.in_flight > 0 && lane.named != named)) {
    lane.held.emplace_back(named, std::move(go));
    return;
  }
  go();
}

void SessionRouter::release_lane(SessionEntry& e, const std::string& key) {
  auto it = e.publish_lanes.find(key);
  if (it == e.publish_lanes.end()) return;
  auto& lane = it->second;
  assert(lane.in_flight > 0 && "a publish completion ran twice");
  --lane.in_flight;
  if (lane.releasing) return;  // a completion from inside the loop below: the loop goes on
  lane.releasing = true;
  while (!lane.held.empty() && (lane.in_flight == 0 || lane.held.front().first == lane.named)) {
    auto go = std::move(lane.held.front().second);
    lane.held.pop_front();
    go();
  }
  lane.releasing = false;
  if (lane.in_flight == 0 && lane.held.empty()) e.publish_lanes.erase(it);
}

void SessionRouter::publish_deduplicated(const std::shared_ptr<SessionEntry>& e, const std::string& client_id,
                                         const TopicName& topic, const Publish& publish, PublishDone done) {
  // The record names the packet id with its sequence id before the message is handed over, so
  // whichever server the client resends it to hands it over again under the same id, and the
  // Pulsar broker (deduplicating by producer name and sequence id) stores it at most once. No
  // id is recorded as "surely stored": a resend always goes to the broker, which decides.
  const PacketId id = publish.packet_id;
  const std::string producer = qos2_producer_name(client_id);
  if (auto it = e->qos2->inbound_sequences.find(id); it != e->qos2->inbound_sequences.end()) {
    logger()->debug("client {}: QoS 2 packet {} handed over again under sequence id {}", client_id, id, it->second);
    this->publish(topic, client_id, publish, std::move(done), service::DedupMark{producer, it->second});
    return;
  }
  // A new packet id: its sequence id is above the last one this session gave (the record names
  // it, also when another server wrote it), above what the broker holds for the producer name
  // on this topic (from an earlier session of this client id, on whichever server, whatever its
  // clock said), and at least the wall clock in microseconds (1000 ids per millisecond). The
  // broker's answer needs the producer: the service creates it first.
  service_.last_sequence_id(topic, producer, [this, alive = std::weak_ptr<bool>(alive_), e, id, topic, client_id,
                                              producer, publish, done = std::move(done)](std::int64_t broker_last) mutable {
    if (alive.expired()) return done(PublishResult{ReasonCode::unspecified_error, "server shutting down"});
    if (auto it = e->qos2->inbound_sequences.find(id); it != e->qos2->inbound_sequences.end()) {
      // A resend of this packet id got its sequence id while this one waited.
      this->publish(topic, client_id, publish, std::move(done), service::DedupMark{producer, it->second});
      return;
    }
    const std::int64_t seq = std::max({e->qos2->last_sequence_id + 1, broker_last + 1,
                                       static_cast<std::int64_t>(clock_.wall_ms()) * 1000});
    e->qos2->last_sequence_id = seq;
    e->qos2->inbound_sequences[id] = seq;
    logger()->debug("client {}: QoS 2 packet {} gets sequence id {} (broker's last {})", client_id, id, seq,
                    broker_last);
    persist(e, [this, alive, e, id, seq, topic, client_id, producer, publish, done = std::move(done)](bool ok) mutable {
      if (alive.expired()) return done(PublishResult{ReasonCode::unspecified_error, "server shutting down"});
      if (!ok) {
        // Not handed over: a resend starts again with a new sequence id.
        if (auto it = e->qos2->inbound_sequences.find(id); it != e->qos2->inbound_sequences.end() && it->second == seq)
          e->qos2->inbound_sequences.erase(it);
        return done(PublishResult{ReasonCode::unspecified_error, "session state not stored"});
      }
      this->publish(topic, client_id, publish, std::move(done), service::DedupMark{producer, seq});
    });
  });
}

void SessionRouter::handle_pubrel(ClientConnection& conn, PacketId id, std::function<void()> done) {
  // PUBCOMP lets the client reuse the id at once: it leaves the record first, or a restart would
  // take the next message with that id for a duplicate and drop it (or, with a sequence id, hand
  // it over under the old message's id, which the broker would drop).
  SessionQos2* q = conn.entry_ ? conn.entry_->qos2.get() : nullptr;
  if (!q) return done();
  const bool recorded = q->inbound_recorded.erase(id) != 0;
  const bool sequenced = q->inbound_sequences.erase(id) != 0;
  if (!recorded && !sequenced) return done();
  persist_soon(conn.entry_, [done = std::move(done)](bool) { done(); });
}

void SessionRouter::publish_system(const std::string& topic, const std::string& payload) {
  const auto pulsar = mapper_.to_pulsar(topic);
  if (!pulsar) return;
  Publish p;
  p.retain = true;
  p.topic = topic;
  p.payload = Payload::copy_of(std::string_view(payload));
  publish(*pulsar, "$SYS", p, {});
}

void SessionRouter::publish(const TopicName& topic, const std::string& client_id, const Publish& p, PublishDone done,
                            std::optional<service::DedupMark> dedup) {
  publish(std::make_shared<const TopicName>(topic), client_id, p, std::move(done), std::move(dedup));
}

void SessionRouter::publish(std::shared_ptr<const TopicName> name, const std::string& client_id,
                            const Publish& p, PublishDone done, std::optional<service::DedupMark> dedup) {
  const TopicName& topic = *name;
  auto msg = std::make_shared<service::Message>();
  msg->dedup = std::move(dedup);
  msg->payload = p.payload;
  msg->publish_time_ms = clock_.wall_ms();
  msg->producer_name = client_id;
  msg->ordering_key = client_id;
  msg->mqtt_qos = p.qos;
  to_message_properties(p.properties, msg->publish_time_ms, p.retain, msg->properties);

  if (!p.retain) {
    service::PublishCallback cb;  // QoS 0 without a completion to report costs no callback at all
    if (done)
      cb = [done = std::move(done), client_id, name, svc = &service_](std::error_code ec, MessageId) {
        if (ec) logger()->error("client {}: message not stored: {}", client_id, ec.message());
        done(publish_result(ec, *svc, *name));
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
  auto finish = [join, name, svc = &service_](std::error_code ec) {
    if (ec && !join->ec) join->ec = ec;
    assert(join->pending > 0 && "a store completion ran twice");
    if (--join->pending == 0 && join->done) join->done(publish_result(join->ec, *svc, *name));
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

}  // namespace mop::mqtt
