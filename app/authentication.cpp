#include "app/authentication.hpp"

#include <algorithm>

#include "auth/basic_provider.hpp"
#include "auth/tls_provider.hpp"
#include "auth/token.hpp"
#include "core/log.hpp"
#include "mqtt/server/token_authenticator.hpp"

#include <fmt/ranges.h>

namespace mop::app {

Result<Authentication, std::string> build_authentication(const Config& config) {
  std::shared_ptr<const auth::Provider> basic, token, tls;
  auto provider = [&](const std::string& method) -> Result<std::shared_ptr<const auth::Provider>, std::string> {
    if (method == "basic") {
      if (!basic) {
        auto p = auth::BasicProvider::create(config.basicAuthConf);
        if (!p.ok()) return p.error();
        basic = *p;
      }
      return basic;
    }
    if (method == "token") {
      if (!token) {
        auth::TokenSettings s;
        s.secret_key = config.tokenSecretKey;
        s.public_key = config.tokenPublicKey;
        s.public_alg = config.tokenPublicAlg;
        s.auth_claim = config.tokenAuthClaim;
        s.audience_claim = config.tokenAudienceClaim;
        s.audience = config.tokenAudience;
        auto p = auth::TokenProvider::create(s);
        if (!p.ok()) return p.error();
        token = *p;
      }
      return token;
    }
    if (method == "tls") {
      if (!tls) tls = std::make_shared<auth::TlsProvider>();
      return tls;
    }
    return "authentication method " + method + " is not supported";
  };
  // MQTT's `tls` is RouterOptions::tls_login (the CONNECT without a password); the Pulsar port
  // and HTTP take it as a provider whose credential is the connection's verified common name.
  auto list = [&](const std::vector<std::string>& methods, bool tls_provider)
      -> Result<std::shared_ptr<const auth::Authenticator>, std::string> {
    std::vector<std::shared_ptr<const auth::Provider>> ps;
    for (const auto& m : methods) {
      if (m == "tls" && !tls_provider) continue;
      auto p = provider(m);
      if (!p.ok()) return p.error();
      if (std::find(ps.begin(), ps.end(), *p) == ps.end()) ps.push_back(*p);
    }
    return std::make_shared<const auth::Authenticator>(std::move(ps), config.anonymousUserRole);
  };
  Authentication out;
  if (config.mqttAuthenticationEnabled) {
    auto a = list(config.mqttAuthenticationMethods, false);
    if (!a.ok()) return a.error();
    out.mqtt = *a;
    out.mqtt_tls = std::find(config.mqttAuthenticationMethods.begin(), config.mqttAuthenticationMethods.end(),
                             "tls") != config.mqttAuthenticationMethods.end();
    if (const auto* t = out.mqtt->find("token")) {
      for (const auto& p : out.mqtt->providers())
        if (p.get() == t) out.mqtt_token = p;
    }
  }
  if (config.authenticationEnabled) {
    auto a = list(config.pulsar_authentication_methods(), true);
    if (!a.ok()) return a.error();
    out.pulsar = *a;
  }
  return out;
}

void set_mqtt_authentication(const Config& config, const Authentication& authentication, const Clock& clock,
                             mqtt::RouterOptions& options) {
  options.login = authentication.mqtt;
  options.tls_login = authentication.mqtt_tls;
  if (authentication.mqtt_token)
    options.authenticator = std::make_shared<mqtt::TokenAuthenticator>(authentication.mqtt_token, clock);
  if (options.login)
    log::get("mop")->info("MQTT authentication on: methods {}", fmt::join(config.mqttAuthenticationMethods, ", "));
}

}  // namespace mop::app
