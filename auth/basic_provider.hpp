#pragma once
// `basic`: user name and password against Pulsar's basicAuthConf file, as Pulsar's
// AuthenticationProviderBasic reads it. The setting is a file (path, file:, data:) or the file's
// content in base64; each line is `user:hash`, where a hash starting with `$apr1$` is Apache's
// MD5 (htpasswd -m, `openssl passwd -apr1`) and anything else is a crypt(3) hash ($1$, $5$, $6$,
// $2b$, DES). Credentials are "user:password" (a Pulsar client's AuthenticationBasic data, an
// MQTT CONNECT's user name and password, an HTTP Basic header). Role = the user name.
#include <map>
#include <memory>
#include <string>
#include <string_view>

#include "auth/provider.hpp"

namespace mop::auth {

class BasicProvider final : public Provider {
public:
  // `conf`: the basicAuthConf value. Errors say which line is bad (never a hash).
  static Result<std::shared_ptr<BasicProvider>, std::string> create(std::string_view conf);
  // The users and hashes themselves (tests).
  explicit BasicProvider(std::map<std::string, std::string> users) : users_(std::move(users)) {}

  const std::string& method() const override;
  Result<Principal, AuthFailure> authenticate(std::string_view data, std::int64_t now) const override;

  std::size_t user_count() const { return users_.size(); }

private:
  std::map<std::string, std::string> users_;
};

// Apache's `$apr1$` MD5 crypt of `password` with the salt of `setting` ("$apr1$salt$..." or
// "$apr1$salt"), e.g. "$apr1$salt$hash". Public for tests.
std::string apr1_crypt(std::string_view password, std::string_view setting);
// True when `password` hashes to `hash` ($apr1$ or crypt(3)); compared in constant time.
bool password_matches(std::string_view password, const std::string& hash);

}  // namespace mop::auth
