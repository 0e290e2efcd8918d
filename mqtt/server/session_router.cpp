#include "mqtt/server/session_router.hpp"

#include <algorithm>

#include "mqtt/server/router_log.hpp"
#include "mqtt/server/session_entry.hpp"

namespace mop::mqtt {

SessionRouter::SessionRouter(service::MessagingService& service, service::SessionStore& store, const Clock& clock,
                             RouterOptions options)
    : service_(service), store_(store), clock_(clock), options_(std::move(options)), mapper_(options_.defaults) {
  // What CONNACK advertises is what the router grants.
  options_.limits.receive_maximum =
      static_cast<std::uint16_t>(std::clamp<std::uint32_t>(options_.receive_maximum, 1, 65535));
}

SessionRouter::~SessionRouter() {
  for (auto& [ns, entries] : watchers_) service_.unwatch_topics(ns, *this);
  for (auto& [id, entry] : sessions_) close_receiver(*entry);
}

void SessionRouter::connection_opened(ClientConnection& conn) {
  connections_.insert(&conn);
  conn.protocol().set_counters(&counters_);
}

std::size_t SessionRouter::subscription_count() const {
  std::size_t n = 0;
  for (const auto& [_, entry] : sessions_) n += entry->session->subscriptions().size();
  return n;
}

std::vector<SessionRouter::ClientInfo> SessionRouter::clients() const {
  std::vector<ClientInfo> out;
  out.reserve(sessions_.size());
  for (const auto& [id, entry] : sessions_) {
    ClientInfo c;
    c.client_id = id;
    c.connected = entry->conn != nullptr;
    c.version = entry->version;
    c.clean_start = entry->clean_start;
    for (const auto& [filter, _] : entry->session->subscriptions()) c.filters.push_back(filter);
    c.inflight = entry->session->inflight_count();
    if (c.connected) {
      c.peer = entry->conn->stream().peer();
      c.keep_alive_seconds = static_cast<std::uint16_t>(
          std::chrono::duration_cast<std::chrono::seconds>(entry->conn->protocol().keep_alive()).count());
      c.connected_at_ms = entry->connected_at_ms;
    } else {
      c.disconnected_at_ms = entry->disconnected_at_ms;
    }
    out.push_back(std::move(c));
  }
  std::sort(out.begin(), out.end(), [](const ClientInfo& a, const ClientInfo& b) { return a.client_id < b.client_id; });
  return out;
}

bool SessionRouter::disconnect_client(const std::string& client_id) {
  const auto it = sessions_.find(client_id);
  if (it == sessions_.end() || it->second->conn == nullptr) return false;
  logger()->info("client {}: disconnected by an administrator", client_id);
  it->second->conn->protocol().terminate(CloseReason::administrative_action);
  return true;
}

void SessionRouter::connection_destroyed(ClientConnection& conn) { connections_.erase(&conn); }

void SessionRouter::shutdown() {
  shutting_down_ = true;
  std::vector<ClientConnection*> all(connections_.begin(), connections_.end());
  for (auto* c : all) c->protocol().terminate(CloseReason::server_shutdown);
}

void SessionRouter::tick() {
  const TimePoint now = clock_.now();
  publish_due_wills(now);
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

void SessionRouter::release(const std::string& client_id) {
  // The new connection's will, not ours to delete or publish (an adopted one too, which this
  // server holds without a session).
  stored_wills_.erase(client_id);
  pending_wills_.erase(client_id);
  adopted_wills_.erase(client_id);
  auto it = sessions_.find(client_id);
  if (it == sessions_.end()) return;
  auto entry = it->second;
  expiries_.erase(client_id);
  if (entry->conn) {
    releasing_.insert(client_id);
    entry->conn->protocol().terminate(handing_over_ ? CloseReason::server_shutdown : CloseReason::session_taken_over);
    releasing_.erase(client_id);
  }
  if (!handing_over_) logger()->info("client {}: connected to another server; session released here", client_id);
  entry->ended = true;
  close_receiver(*entry);  // unacknowledged deliveries go back to the subscriptions
  for (auto& [ns, set] : watchers_) set.erase(entry.get());
  it = sessions_.find(client_id);
  if (it != sessions_.end() && it->second == entry) sessions_.erase(it);
}

void SessionRouter::hand_over() {
  logger()->warn("another server took this one's clients over: closing {} connections, dropping {} sessions and {} "
                 "waiting wills without a write",
                 live_connections_, sessions_.size(), pending_wills_.size());
  pending_wills_.clear();
  stored_wills_.clear();
  adopted_wills_.clear();
  std::vector<std::string> ids;
  ids.reserve(sessions_.size());
  for (const auto& [id, entry] : sessions_) ids.push_back(id);
  handing_over_ = true;
  for (const auto& id : ids) release(id);
  handing_over_ = false;
}

void SessionRouter::end_session(const std::shared_ptr<SessionEntry>& entry) {
  // The record goes now, ordered after this session's writes and before any of a new session
  // with this client id.
  entry->ended = true;
  if (entry->stored) {
    entry->stored = false;
    store_.delete_session(entry->session->client_id(), [id = entry->session->client_id()](Result<void, Error> r) {
      if (!r.ok()) logger()->error("client {}: session record not deleted: {}", id, r.error().to_string());
    });
  }
  // The session's own subscriptions go with it; a shared group's subscription stays for the
  // other members and for members to come, keeping its backlog, as a Pulsar subscription does.
  if (auto* subs = entry->subs.get()) {
    for (auto& [key, binding] : subs->bindings) unbind(*entry, key, binding, false);
    subs->bindings.clear();
  }
  close_receiver(*entry);
  for (auto& [ns, set] : watchers_) set.erase(entry.get());
  auto it = sessions_.find(entry->session->client_id());
  if (it != sessions_.end() && it->second == entry) sessions_.erase(it);
}

}  // namespace mop::mqtt
