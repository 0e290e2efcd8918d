// CONNECT and AUTH (admission, enhanced authentication, session takeover and resumption), and
// the end of a connection.
#include <algorithm>
#include <cassert>
#include <memory>
#include <optional>
#include <utility>

#include <fmt/format.h>

#include "mqtt/server/router_log.hpp"
#include "mqtt/server/session_router.hpp"

namespace mop::mqtt {

namespace {

const char* version_name(ProtocolVersion v) {
  switch (v) {
    case ProtocolVersion::v31: return "3.1";
    case ProtocolVersion::v311: return "3.1.1";
    case ProtocolVersion::v5: return "5.0";
  }
  return "?";
}

// mTLS: the role of a client whose TLS certificate the listener verified is the certificate's
// common name; none on plain TCP, WebSocket, PSK, TLS without a client certificate, or a
// certificate let in unverified (tlsAllowInsecureConnection).
std::optional<std::string> tls_client_role(ClientConnection& conn) {
  auto cn = conn.stream().peer_certificate_cn();
  if (cn && cn->empty()) return std::nullopt;
  return cn;
}

}  // namespace

void SessionRouter::handle_connect(ClientConnection& conn, const Connect& c) {
  if (shutting_down_) {  // a CONNECT that raced the shutdown (3.1.1: return code 3, unavailable)
    conn.protocol().reject(ReasonCode::server_busy, "server shutting down");
    return;
  }
  if (options_.unavailable) {
    if (auto why = options_.unavailable(); !why.empty()) {
      logger()->warn("client {}: refused, server unavailable: {}", conn.protocol().client_id(), why);
      conn.protocol().reject(ReasonCode::server_unavailable, why);
      return;
    }
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
  if (options_.login) {
    // mqttAuthenticationEnabled. A verified client certificate stands for credentials not given.
    auto cert_role = options_.tls_login ? tls_client_role(conn) : std::nullopt;
    auto who = cert_role && !c.password ? Result<auth::Principal, auth::AuthFailure>(auth::Principal{*cert_role, "tls", {}})
                                        : options_.login->authenticate_login(c.username, c.password,
                                                  static_cast<std::int64_t>(clock_.wall_ms() / 1000));
    if (!who.ok()) {
      const auto& f = who.error();
      const bool bad = f.kind == auth::AuthFailure::Kind::bad_credentials;
      logger()->warn("client {}: authentication refused: peer={} user={} reason={}", conn.protocol().client_id(),
                     conn.stream().peer(), c.username.value_or("-"), f.reason);
      conn.protocol().reject(bad ? ReasonCode::bad_user_name_or_password : ReasonCode::not_authorized, f.reason);
      return;
    }
    conn.role_ = std::move(who->role);
  }
  admit(conn, c);
}

bool SessionRouter::supports_auth_method(const std::string& method) const {
  const auto& a = options_.authenticator;
  return a && a->method() == method;
}

void SessionRouter::handle_auth(ClientConnection& conn, const Auth& a) {
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

void SessionRouter::auth_step(ClientConnection& conn, const EnhancedAuthenticator::Step& step, bool reauth) {
  const std::string& method = options_.authenticator->method();
  using Kind = EnhancedAuthenticator::Step::Kind;
  if (step.kind == Kind::more) {
    conn.protocol().send_auth(ReasonCode::continue_authentication, method, step.data);
    return;
  }
  conn.auth_state_.reset();
  const std::string why = step.reason.empty() ? "authentication failed" : step.reason;
  if (reauth) {
    if (step.kind == Kind::success) {
      if (!step.role.empty()) conn.role_ = step.role;
      conn.protocol().send_auth(ReasonCode::success, method, step.data);
    } else {  // MQTT 5 4.12.1: a failed re-authentication ends the connection (DISCONNECT 0x87)
      logger()->warn("client {}: re-authentication with {} refused: peer={} reason={}", conn.protocol().client_id(),
                     method, conn.stream().peer(), why);
      conn.protocol().terminate(CloseReason::not_authorized);
    }
    return;
  }
  const auto c = std::move(conn.pending_connect_);
  if (!c) return;
  if (step.kind == Kind::failure) {
    logger()->warn("client {}: authentication with {} refused: peer={} reason={}", conn.protocol().client_id(),
                   method, conn.stream().peer(), why);
    conn.protocol().reject(ReasonCode::not_authorized, why);
    return;
  }
  conn.role_ = step.role;
  conn.protocol().set_connack_auth(method, step.data);
  admit(conn, *c);
}

void SessionRouter::admit(ClientConnection& conn, const Connect& c, bool synced) {
  const std::string& id = conn.protocol().client_id();
  if (!synced && !c.clean_session && options_.find_session && options_.sync_sessions && !sessions_.contains(id)) {
    // A session another server may have stored: read the shared store up to now first. The
    // protocol holds the client's further packets until the CONNACK.
    auto protocol = std::weak_ptr<Protocol>(conn.protocol_);
    options_.sync_sessions([this, alive = std::weak_ptr<bool>(alive_), conn_ptr = &conn, protocol,
                            connect = std::make_shared<Connect>(c)](bool ok) {
      if (alive.expired()) return;
      auto p = protocol.lock();
      // Gone or closed meanwhile (the pointer alone could name a newer connection).
      if (!p || !connections_.contains(conn_ptr) || conn_ptr->protocol_ != p || conn_ptr->closed_) return;
      if (shutting_down_) return p->reject(ReasonCode::server_busy, "server shutting down");
      if (!ok) {
        logger()->warn("client {}: refused, server unavailable: the session store could not be read",
                       p->client_id());
        return p->reject(ReasonCode::server_unavailable, "session store not readable now");
      }
      admit(*conn_ptr, *connect, true);
    });
    return;
  }
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
  adopted_wills_.erase(id);
  expiries_.erase(id);
  if (it != sessions_.end() && c.clean_session) {
    end_session(it->second);  // [MQTT-3.1.2-6]
    it = sessions_.end();
  }
  if (it == sessions_.end() && !c.clean_session && options_.find_session) {
    // Stored by another server sharing the state: resumed here unless it expired meanwhile.
    if (auto record = options_.find_session(id)) {
      const std::uint64_t wall = clock_.wall_ms();
      const std::uint32_t e = record->expiry_interval_s;
      const bool expired = record->disconnected_at_ms != 0 && e != Session::kNeverExpires &&
                           record->disconnected_at_ms + std::uint64_t{e} * 1000 <= wall;
      if (!expired && e != 0) {
        restore_session(*record, wall);
        logger()->info("client {}: session resumed from the shared store", id);
        it = sessions_.find(id);
      }
    }
  }
  bool present = false;
  std::shared_ptr<SessionEntry> entry;
  if (it != sessions_.end()) {
    entry = it->second;
    present = true;  // [MQTT-3.2.2-2]
  } else {
    entry = std::make_shared<SessionEntry>(*this, std::make_shared<Session>(id, expiry == 0));
    sessions_.emplace(id, entry);
  }
  // A session is bound to at most one live connection: the takeover above unbound the old one,
  // and a connection is admitted once.
  assert(entry->conn == nullptr && "a session bound to two connections");
  assert(conn.entry_ == nullptr && "a connection admitted twice");
  entry->session->set_expiry_interval(expiry);
  entry->conn = &conn;
  ++live_connections_;
  ++total_connections_;
  max_live_connections_ = std::max(max_live_connections_, live_connections_);
  entry->version = c.version;
  entry->clean_start = c.clean_session;
  entry->role = conn.role_;
  entry->disconnected_at_ms = 0;
  entry->connected_at_ms = clock_.wall_ms();
  conn.entry_ = entry;
  conn.will_ = c.will ? std::make_unique<Will>(*c.will) : nullptr;
  logger()->info("client connected: id={} peer={} protocol={} clean={} keepalive={}s session_present={}{}{}",
                 id, conn.stream().peer(), version_name(c.version), c.clean_session, c.keep_alive, present,
                 conn.role_.empty() ? "" : " role=", conn.role_);
  // What the client is told exists must survive a crash, so CONNACK waits for the writes that
  // make it durable, as a PUBREC waits for its packet id: the will (stored while the client is
  // connected: if the broker dies first, the connection has ended without DISCONNECT and the
  // will goes out when the broker is back, see restore), and the record of a session that
  // outlives its connection (or, resumed with expiry 0 now, its deletion).
  const bool record = expiry != 0 || entry->stored;
  if (!c.will) {
    // A will another server stored for this client id (it died with the client connected there)
    // must not go out now that the client is back.
    if (!stored_wills_.contains(id) && options_.has_shared_will && options_.has_shared_will(id)) stored_wills_.insert(id);
    adopted_wills_.erase(id);
    forget_will(id);
  }
  const bool announce = static_cast<bool>(options_.announce);
  if (!c.will && !record && !announce) {
    ++entry->admissions;
    accept(conn, entry, present);
    return;
  }
  // The announcement goes with the writes, not after the CONNACK: the connection acknowledged
  // later is then the later one in the announcement order, which decides which one stays.
  struct Join {
    int pending = 0;
    bool stored = true;     // the will and the session record
    bool announced = true;  // RouterOptions::announce
  };
  auto join = std::make_shared<Join>(Join{(c.will ? 1 : 0) + (record ? 1 : 0) + (announce ? 1 : 0)});
  entry->connack_pending = true;
  auto finished = [this, alive = std::weak_ptr<bool>(alive_), weak = std::weak_ptr<SessionEntry>(entry),
                   admission = ++entry->admissions, present, join] {
    assert(join->pending > 0 && "a store completion ran twice");
    if (--join->pending > 0) return;
    auto e = weak.lock();
    if (alive.expired() || !e || e->ended || e->admissions != admission || !e->conn || !e->connack_pending) return;
    e->connack_pending = false;
    // Logged where it failed too; 3.1.1: return code 3, server unavailable.
    if (!join->stored) {
      e->conn->protocol().reject(ReasonCode::server_unavailable, "session state not stored");
      return;
    }
    if (!join->announced) {
      logger()->warn("client {}: refused, server unavailable: its connection could not be announced to the other "
                     "servers", e->session->client_id());
      e->conn->protocol().reject(ReasonCode::server_unavailable, "connection not announced to the other servers");
      return;
    }
    accept(*e->conn, e, present);
  };
  auto written = [join, finished](bool ok) {
    join->stored = join->stored && ok;
    finished();
  };
  if (c.will) store_will(id, *c.will, 0, written);
  if (record) persist(entry, written);
  if (announce) options_.announce(id, [join, finished](bool ok) {
    join->announced = join->announced && ok;
    finished();
  });
}

void SessionRouter::accept(ClientConnection& conn, const std::shared_ptr<SessionEntry>& entry, bool present) {
  conn.protocol().accept(entry->session, present);
  // accept() may hand the packets that followed the CONNECT to the connection at once (when the
  // CONNECT was decided outside the read that brought it), and one of them may have closed it.
  if (conn.entry_ != entry) return;
  grant_window(conn);
}

void SessionRouter::handle_close(ClientConnection& conn, CloseReason reason, const std::string& detail) {
  assert(static_cast<std::size_t>(reason) < closes_.size() && "kCloseReasonCount is behind CloseReason");
  ++closes_[static_cast<std::size_t>(reason)];
  auto entry = conn.entry_;
  const std::string& id = conn.protocol().client_id();
  if (reason == CloseReason::protocol_error)
    logger()->warn("client disconnected: id={} peer={} reason={}: {}", id.empty() ? "-" : id,
                   conn.stream().peer(), to_string(reason), detail);
  else if (reason == CloseReason::connect_rejected)
    // Every refusal says why here, whoever refused it (the codec, Protocol or this router): the
    // detail names the CONNACK code and its reason.
    logger()->info("client disconnected: id={} peer={} reason={}: {}", id.empty() ? "-" : id,
                   conn.stream().peer(), to_string(reason), detail);
  else
    logger()->info("client disconnected: id={} peer={} reason={}", id.empty() ? "-" : id,
                   conn.stream().peer(), to_string(reason));
  if (conn.dropped_qos0() > 0)
    logger()->info("client {}: {} QoS 0 messages were dropped while it could not keep up", id, conn.dropped_qos0());
  if (!entry || entry->conn != &conn) return;
  entry->conn = nullptr;
  assert(live_connections_ > 0);
  --live_connections_;
  conn.entry_.reset();
  entry->disconnected_at_ms = clock_.wall_ms();
  if (releasing_.contains(id)) {
    // Taken over on another server (release()): the stored state is the new connection's.
    if (conn.will_ && publishes_will(reason) && conn.will_->properties.will_delay_interval.value_or(0) == 0) {
      publish_will(id, *conn.will_);
    }
    conn.will_.reset();
    return;
  }
  const std::uint32_t expiry = entry->session->expiry_interval();
  // A client that went before its CONNACK was never connected: its will does not go out.
  const bool was_connected = !std::exchange(entry->connack_pending, false);
  if (conn.will_ && was_connected && publishes_will(reason)) {
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
  pause_receiver(*entry);  // keeps its subscriptions; messages wait in their backlogs
  if (expiry != Session::kNeverExpires) expiries_[id] = clock_.now() + std::chrono::seconds(expiry);
  persist(entry);  // the expiry counts from disconnected_at, across restarts too
}

}  // namespace mop::mqtt
