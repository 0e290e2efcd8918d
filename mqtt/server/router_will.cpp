// Wills: published when a connection ends without DISCONNECT (at once or after their delay),
// stored while pending so that they survive a restart.
#include "mqtt/server/router_log.hpp"
#include "mqtt/server/session_router.hpp"

namespace mop::mqtt {

void SessionRouter::publish_will(const std::string& client_id, const Will& w) {
  PublishDone after;
  if (stored_wills_.erase(client_id) != 0) {
    // The stored will is deleted once the message is stored, not before: a crash in between
    // publishes it again after the restart rather than never. A will stored meanwhile (the client
    // reconnected with a new one) stays.
    after = [this, alive = std::weak_ptr<bool>(alive_), client_id](PublishResult) {
      if (!alive.expired() && !stored_wills_.contains(client_id)) store_.delete_will(client_id, {});
    };
  }
  if (auto topic = mapper_.to_pulsar(w.topic)) {
    publish(*topic, client_id, Publish{false, w.qos, w.retain, w.topic, 0, w.payload, w.properties}, std::move(after));
  } else {
    logger()->warn("client {}: will topic '{}' names no Pulsar topic; will dropped", client_id, w.topic);
    if (after) after(PublishResult{ReasonCode::topic_name_invalid, {}});
  }
}

void SessionRouter::store_will(const std::string& client_id, const Will& will, std::uint64_t due_at_ms,
                               std::function<void(bool)> done) {
  auto topic = mapper_.to_pulsar(will.topic);
  if (!topic) {  // cannot be published either (logged when it would be)
    if (done) done(true);
    return;
  }
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
  store_.put_will(std::move(r), [client_id, done = std::move(done)](Result<void, Error> stored) {
    if (!stored.ok()) logger()->error("client {}: will message not stored: {}", client_id, stored.error().to_string());
    if (done) done(stored.ok());
  });
}

void SessionRouter::forget_will(const std::string& client_id) {
  if (stored_wills_.erase(client_id) == 0) return;
  store_.delete_will(client_id, [client_id](Result<void, Error> deleted) {
    if (!deleted.ok()) logger()->error("client {}: will message not deleted: {}", client_id, deleted.error().to_string());
  });
}

void SessionRouter::publish_due_wills(TimePoint now) {
  for (auto it = pending_wills_.begin(); it != pending_wills_.end();) {
    if (it->second.due > now) {
      ++it;
      continue;
    }
    if (adopted_wills_.erase(it->first) != 0 && options_.owns_will && !options_.owns_will(it->first)) {
      // Its client came back through another server, which rewrote or deleted the stored will.
      logger()->info("client {}: the will taken over from another server changed in the store; not published here",
                     it->first);
      stored_wills_.erase(it->first);
      it = pending_wills_.erase(it);
      continue;
    }
    publish_will(it->first, it->second.will);
    it = pending_wills_.erase(it);
  }
}

void SessionRouter::adopt_wills(std::vector<service::WillRecord> wills) {
  const TimePoint now = clock_.now();
  const std::uint64_t wall = clock_.wall_ms();
  std::size_t adopted = 0;
  for (auto& w : wills) {
    // A client connected here meanwhile has a will of its own (or none): the adopted one is stale.
    if (auto s = sessions_.find(w.client_id); s != sessions_.end() && s->second->conn) continue;
    if (w.due_at_ms == 0) w.due_at_ms = wall;  // due now
    const std::string id = w.client_id;
    std::vector<service::WillRecord> one;
    one.push_back(std::move(w));
    restore_wills(one, now, wall);
    if (pending_wills_.contains(id)) {
      adopted_wills_.insert(id);
      ++adopted;
    }
  }
  logger()->info("took over {} will messages of another server", adopted);
}

}  // namespace mop::mqtt
