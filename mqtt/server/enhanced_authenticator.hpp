#pragma once
// EnhancedAuthenticator: one MQTT 5 enhanced authentication method (MQTT 5.0 section 4.12), a
// challenge/response exchange driven by the broker: CONNECT (method + data) -> start(), each
// AUTH from the client -> next(), until success or failure. The exchange state lives in the
// per-connection `State` the authenticator returns, so one instance serves every connection.
//
// With no authenticator configured (the default), a CONNECT that names a method is refused with
// CONNACK 0x8C Bad authentication method [MQTT-4.12.0-1].
//
// Thread: called on the broker thread; implementations must not block.
#include <memory>
#include <string>

namespace mop::mqtt {

class EnhancedAuthenticator {
public:
  struct State {
    virtual ~State() = default;
  };
  struct Step {
    enum class Kind { success, more, failure } kind = Kind::failure;
    std::string data;  // authentication data to send (AUTH 0x18 for `more`, CONNACK for success)
    std::string role;  // success: who the client is (kept by the connection for authorization)
    std::string reason;  // failure: why, for the log and the reason string (never the secret)
  };

  virtual ~EnhancedAuthenticator() = default;
  // The authentication method name, e.g. "SCRAM-SHA-256".
  virtual const std::string& method() const = 0;
  // First step, from CONNECT (or AUTH 0x19 for re-authentication). `state` may be set.
  virtual Step start(const std::string& client_id, const std::string& data, std::unique_ptr<State>& state) = 0;
  // A later step, from an AUTH 0x18 Continue authentication.
  virtual Step next(const std::string& data, std::unique_ptr<State>& state) = 0;
};

}  // namespace mop::mqtt
