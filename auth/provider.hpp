#pragma once
// Authentication providers shared by the MQTT listeners, the Pulsar port and HTTP: who a client
// is (its role) from the credentials it presented, checked as Apache Pulsar's providers check
// them. `basic` (basic_provider.hpp) takes "user:password" against Pulsar's basicAuthConf file;
// `token` (token_provider.hpp) takes a JWT as Pulsar's AuthenticationProviderToken does.
//
// An Authenticator is an ordered list of providers (mqttAuthenticationMethods, or
// authenticationProviders for the Pulsar port and HTTP); the same provider objects serve both.
//
// Failures carry a reason fit for the wire and the log: it never contains the secret (password,
// token or key), only what was wrong with it.
//
// Thread: providers are immutable after construction; authenticate() is const, does no I/O and
// may be called from any thread.
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/result.hpp"

namespace mop::auth {

// Why a key, a credential file or a token could not be read or made (never the secret itself).
// A type of its own so that Result<std::string, Fault> keeps value and error apart.
struct Fault {
  std::string message;
};

// Who a client is once authenticated.
struct Principal {
  std::string role;
  std::string method;                  // the provider that accepted it: "basic", "token", "tls"
  std::optional<std::int64_t> expires_at;  // unix seconds; a token's `exp`
};

// Why a client was refused; `reason` never holds the secret.
struct AuthFailure {
  enum class Kind {
    bad_credentials,  // wrong password, bad signature, expired: MQTT 0x86 / return code 4
    not_authorized,   // no usable credentials for any configured method: MQTT 0x87 / code 5
  };
  Kind kind = Kind::bad_credentials;
  std::string reason;
};

class Provider {
public:
  virtual ~Provider() = default;
  // Pulsar's auth method name: "basic" or "token".
  virtual const std::string& method() const = 0;
  // `data` is the credential as a Pulsar client sends it for this method ("user:password" for
  // basic, the JWT for token). `now` in unix seconds.
  virtual Result<Principal, AuthFailure> authenticate(std::string_view data, std::int64_t now) const = 0;
};

class Authenticator {
public:
  explicit Authenticator(std::vector<std::shared_ptr<const Provider>> providers, std::string anonymous_role = {})
      : providers_(std::move(providers)), anonymous_role_(std::move(anonymous_role)) {}

  const std::vector<std::shared_ptr<const Provider>>& providers() const { return providers_; }
  const Provider* find(std::string_view method) const;
  // Pulsar's anonymousUserRole: the role of a client that presents no credentials; empty = such
  // clients are refused.
  const std::string& anonymous_role() const { return anonymous_role_; }

  // A Pulsar CONNECT or an HTTP request: credentials for one named method. An empty method with
  // empty data is the anonymous client.
  Result<Principal, AuthFailure> authenticate(std::string_view method, std::string_view data, std::int64_t now) const;

  // An MQTT CONNECT: its user name and password tried with each provider in the configured
  // order (basic: "user:password"; token: the password is the JWT), the first that accepts wins.
  // Without a password the client is anonymous. A refusal's reason names each method's.
  Result<Principal, AuthFailure> authenticate_login(const std::optional<std::string>& user,
                                                    const std::optional<std::string>& password,
                                                    std::int64_t now) const;

private:
  Result<Principal, AuthFailure> anonymous() const;

  std::vector<std::shared_ptr<const Provider>> providers_;
  std::string anonymous_role_;
};

}  // namespace mop::auth
