// Session persistence: a session's record (write, delete), the retirement of completed QoS 2
// deliveries, and the restore of sessions and wills at start. See "Persistent sessions and
// wills" in the README.
#include <algorithm>
#include <cstddef>
#include <utility>

#include <fmt/ranges.h>

#include "mqtt/server/router_log.hpp"
#include "mqtt/server/session_router.hpp"

namespace mop::mqtt {

using service::MessageId;
using service::TopicName;

namespace {

// MQTT 5 subscription options as the SUBSCRIBE options byte has them above the QoS bits.
std::uint8_t options_byte(const FilterOptions& o) {
  return static_cast<std::uint8_t>((o.no_local ? 0x04 : 0) | (o.retain_as_published ? 0x08 : 0) |
                                   ((o.retain_handling & 3) << 4));
}

}  // namespace

service::SessionRecord SessionRouter::record_of(const SessionEntry& e) const {
  service::SessionRecord r;
  r.client_id = e.session->client_id();
  r.clean_start = e.clean_start;
  r.protocol_version = static_cast<std::uint8_t>(e.version);
  r.expiry_interval_s = e.session->expiry_interval();
  r.disconnected_at_ms = e.conn ? 0 : e.disconnected_at_ms;
  r.subscriptions.reserve(e.session->subscriptions().size());
  const SessionSubscriptions* subs = e.subs.get();
  for (const auto& [filter, qos] : e.session->subscriptions()) {
    service::SessionSubscription sub{filter, qos, 0, 0};
    if (subs)
      if (auto o = subs->options.find(filter); o != subs->options.end()) {
        sub.options = options_byte(o->second);
        sub.subscription_id = o->second.subscription_id;
      }
    r.subscriptions.push_back(std::move(sub));
  }
  const SessionQos2* q = e.qos2.get();
  if (q) {
    r.inbound_qos2.assign(q->inbound_recorded.begin(), q->inbound_recorded.end());
    for (const auto& [id, seq] : q->inbound_sequences) r.inbound_sequences.push_back({id, seq});
    r.last_sequence_id = q->last_sequence_id;
  }
  // Only QoS 2 deliveries in the PUBREL-sent state: the others are unacknowledged on their
  // subscriptions and come back from the cursor after a restart.
  for (const auto& [id, o] : e.session->outbound())
    if (o.state == Outbound::State::awaiting_pubcomp && o.origin.source)
      r.outbound.push_back(service::OutboundInflight{id, o.origin.source->topic.str(), o.origin.source->subscription,
                                                     MessageId{o.origin.ledger, o.origin.entry, o.origin.batch}, 2,
                                                     service::OutboundState::pubrel_sent});
  // Completed ones: packet id 0 (no MQTT packet has it), only their acknowledgement matters.
  if (q)
    for (const auto& o : q->completed_qos2)
      r.outbound.push_back(service::OutboundInflight{0, o.source->topic.str(), o.source->subscription,
                                                   MessageId{o.ledger, o.entry, o.batch},
                                                   2, service::OutboundState::pubrel_sent});
  return r;
}

void SessionRouter::persist(const std::shared_ptr<SessionEntry>& entry, std::function<void(bool)> done) {
  const bool keep = entry->session->expiry_interval() != 0;
  if (entry->ended || (!keep && !entry->stored)) {  // nothing stored and nothing to store
    if (done) done(true);
    return;
  }
  // This write carries every change made so far, so the QoS 2 steps waiting for the next
  // coalesced write (persist_soon) are answered by it: a QoS 2 publisher's record, written with
  // each PUBLISH, thus carries its PUBRELs' removals at once (the write joins the next group
  // commit) instead of after the coalesced write in flight and the one issued when it completes.
  std::vector<std::function<void(bool)>> joined;
  if (auto* q = entry->qos2.get()) joined = std::exchange(q->coalesced_waiters, {});
  auto finish = [id = entry->session->client_id(), joined = std::move(joined),
                 done = std::move(done)](Result<void, Error> r) mutable {
    if (!r.ok()) logger()->error("client {}: session state not stored: {}", id, r.error().to_string());
    for (auto& j : joined)  // in call order: each of them was made before `done`'s change
      if (j) j(r.ok());
    if (done) done(r.ok());
  };
  entry->stored = keep;
  if (keep)
    store_.put_session(record_of(*entry), std::move(finish));
  else
    store_.delete_session(entry->session->client_id(), std::move(finish));
}

void SessionRouter::persist_soon(const std::shared_ptr<SessionEntry>& entry, std::function<void(bool)> done) {
  if (entry->qos2->coalesced_in_flight) {
    // Joins the next write, which is encoded once the one in flight is durable: after this
    // change, so it carries it.
    entry->qos2->coalesced_waiters.push_back(std::move(done));
    return;
  }
  entry->qos2->coalesced_in_flight = true;
  std::vector<std::function<void(bool)>> dones;
  dones.push_back(std::move(done));
  write_coalesced(entry, std::move(dones));
}

void SessionRouter::write_coalesced(const std::shared_ptr<SessionEntry>& entry,
                                    std::vector<std::function<void(bool)>> dones) {
  persist(entry, [this, alive = std::weak_ptr<bool>(alive_), weak = std::weak_ptr<SessionEntry>(entry),
                  dones = std::move(dones)](bool ok) mutable {
    // In call order; a `done` that changes the session again (retire) joins the next write.
    for (auto& d : dones) {
      if (d) d(ok);
    }
    auto e = weak.lock();
    if (alive.expired() || !e) return;
    if (e->qos2->coalesced_waiters.empty()) {
      e->qos2->coalesced_in_flight = false;
      return;
    }
    write_coalesced(e, std::exchange(e->qos2->coalesced_waiters, {}));
  });
}

void SessionRouter::retire(const std::shared_ptr<SessionEntry>& entry, std::size_t n) {
  // The last `n` completed QoS 2 deliveries were acknowledged on their subscriptions before now.
  // The service writes a subscription's cursor with at most one write in flight, the next one
  // issued when it completes; its completions and ours run in store order on this thread. So
  // once a record written now (A) is durable, every cursor write holding those acknowledgements
  // has been issued, and a record written after A completes (B) is stored after them: B may
  // leave the deliveries out. A crash before B restores them from A (or earlier) and acks again.
  // Both writes coalesced (persist_soon): A may be issued later than now, which only makes the
  // argument above stronger.
  persist_soon(entry, [this, alive = std::weak_ptr<bool>(alive_), weak = std::weak_ptr<SessionEntry>(entry), n](bool) {
    auto e = weak.lock();
    if (alive.expired() || !e || e->ended) return;
    auto& done = e->qos2->completed_qos2;
    done.erase(done.begin(), done.begin() + static_cast<std::ptrdiff_t>(std::min(n, done.size())));
    persist_soon(e);
  });
}

void SessionRouter::restore(service::SessionSnapshot restored) {
  const TimePoint now = clock_.now();
  const std::uint64_t wall = clock_.wall_ms();
  auto& records = restored.sessions;
  auto& wills = restored.wills;
  if (records.empty() && wills.empty()) return;
  std::size_t expired = 0;
  for (auto& r : records) {
    auto entry = restore_session(r, wall);
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
    if (const auto* q = entry->qos2.get(); q && !q->completed_qos2.empty()) retire(entry, q->completed_qos2.size());
  }
  restore_wills(wills, now, wall);
  logger()->info("restored {} MQTT sessions ({} expired while the broker was down) and {} will messages",
                 records.size(), expired, wills.size());
  tick();  // wills due and sessions expired while the broker was down
}

void SessionRouter::adopt_sessions(std::vector<service::SessionRecord> records) {
  const TimePoint now = clock_.now();
  const std::uint64_t wall = clock_.wall_ms();
  std::size_t adopted = 0;
  for (auto& r : records) {
    if (sessions_.contains(r.client_id)) continue;  // its client is back here: that session is newer
    if (r.disconnected_at_ms == 0) r.disconnected_at_ms = wall;
    auto entry = restore_session(r, wall);
    const std::uint32_t expiry = r.expiry_interval_s;
    if (expiry != Session::kNeverExpires) {
      const std::uint64_t end_ms = r.disconnected_at_ms + std::uint64_t{expiry} * 1000;
      expiries_[r.client_id] = now + std::chrono::milliseconds(end_ms > wall ? end_ms - wall : 0);
    }
    persist(entry);  // this server's from now on, with the time it counts as disconnected
    if (const auto* q = entry->qos2.get(); q && !q->completed_qos2.empty()) retire(entry, q->completed_qos2.size());
    ++adopted;
  }
  logger()->info("took over {} sessions of another server", adopted);
}

std::shared_ptr<SessionEntry> SessionRouter::restore_session(const service::SessionRecord& r, std::uint64_t wall) {
  auto session = std::make_shared<Session>(r.client_id, r.expiry_interval_s == 0);
  session->set_expiry_interval(r.expiry_interval_s);
  auto entry = std::make_shared<SessionEntry>(*this, session);
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
    if (sub.options || sub.subscription_id) entry->subs->options[sub.filter] = fo;
    add_filter(*entry, sub.filter, sub.qos, *scope);
  }
  pause_receiver(*entry);  // no permits until the client is back
  for (PacketId id : r.inbound_qos2) {
    session->add_inbound_qos2(id);
    entry->qos2->inbound_recorded.insert(id);
  }
  for (const auto& s : r.inbound_sequences) {
    session->add_inbound_qos2_unsure(s.packet_id);
    entry->qos2->inbound_sequences[s.packet_id] = s.sequence_id;
  }
  if (r.last_sequence_id != -1) entry->qos2->last_sequence_id = r.last_sequence_id;
  for (const auto& o : r.outbound) {
    if (o.state != service::OutboundState::pubrel_sent) continue;
    auto topic = TopicName::parse(o.topic);
    if (!topic) {
      logger()->warn("client {}: stored QoS 2 delivery names no Pulsar topic ('{}'); dropped", r.client_id, o.topic);
      continue;
    }
    DeliveryOrigin origin{std::make_shared<const DeliverySource>(DeliverySource{std::move(*topic), o.subscription}),
                          o.message_id.ledger, o.message_id.entry, o.message_id.batch};
    // The client has it: the subscription must not deliver it again (its acknowledgement was
    // sent after the record's write and may not have reached the disk). Packet id 0: already
    // completed; otherwise its PUBREL is still owed.
    if (o.packet_id != 0 && !session->restore_awaiting_pubcomp(o.packet_id, origin)) continue;
    if (o.packet_id == 0) entry->qos2->completed_qos2.push_back(origin);
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
  return entry;
}

void SessionRouter::restore_wills(std::vector<service::WillRecord>& wills, TimePoint now, std::uint64_t wall) {
  for (auto& w : wills) {
    auto topic = TopicName::parse(w.topic);
    auto local = topic ? service::url_decode(topic->local()) : std::nullopt;
    if (!local) {
      logger()->warn("client {}: stored will names no Pulsar topic ('{}'); dropped", w.client_id, w.topic);
      store_.delete_will(w.client_id, {});
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
}

}  // namespace mop::mqtt
