#pragma once
// The hook through which the Pulsar server authenticates a connection: Pulsar's
// AuthenticationProvider, its per-connection AuthenticationState being our Session, reduced to
// what the wire needs. The server asks it on CONNECT and on every AUTH_RESPONSE; each answer
// accepts (CONNECTED), challenges (AUTH_CHALLENGE with the given data, the client answers with
// AUTH_RESPONSE) or rejects (ERROR AuthenticationError, then the connection closes). With no
// provider configured every connection is accepted. Called on the service's thread; one call per
// command, no I/O.
//
// An accepted client has a role (for authorization and the log) and may have an expiry (a
// token's `exp`): the connection then checks every ServerOptions::auth_refresh_check whether it
// has passed, and if so sends AUTH_CHALLENGE with kRefreshAuthData, as Pulsar does; the client
// answers with fresh credentials (AUTH_RESPONSE, which must name the same role) before the next
// check or is closed.
#include <cstdint>
#include <memory>
#include <optional>
#include <string>

namespace mop::pulsar::server {

// What Pulsar brokers send in an AUTH_CHALLENGE that asks for fresh credentials.
inline constexpr char kRefreshAuthData[] = "PulsarAuthRefresh";

struct AuthOutcome {
  enum class Kind { accept, challenge, reject };
  Kind kind = Kind::accept;
  std::string data;     // challenge: the bytes sent in AUTH_CHALLENGE
  std::string message;  // reject: why (sent to the client and logged; never the secret)
  std::string role;     // accept: who the client is
  std::optional<std::int64_t> expires_at;  // accept: unix seconds after which it must refresh
  static AuthOutcome accept(std::string role = {}, std::optional<std::int64_t> expires_at = std::nullopt) {
    return {Kind::accept, {}, {}, std::move(role), expires_at};
  }
  static AuthOutcome challenge(std::string data) { return {Kind::challenge, std::move(data), {}, {}, {}}; }
  static AuthOutcome reject(std::string why) { return {Kind::reject, {}, std::move(why), {}, {}}; }
};

class AuthenticationProvider {
public:
  virtual ~AuthenticationProvider() = default;
  // Per connection: state of one authentication exchange.
  class Session {
  public:
    virtual ~Session() = default;
    // CONNECT's auth_method_name and auth_data.
    virtual AuthOutcome on_connect(const std::string& method, const std::string& data) = 0;
    // An AUTH_RESPONSE to our challenge.
    virtual AuthOutcome on_response(const std::string& method, const std::string& data) = 0;
  };
  virtual std::unique_ptr<Session> new_session() = 0;
  // The method name sent in AUTH_CHALLENGE (e.g. "token").
  virtual std::string method() const = 0;
};

}  // namespace mop::pulsar::server
