#include "pulsar/server/credentials_authentication.hpp"

namespace mop::pulsar::server {

namespace {

class OneStep final : public AuthenticationProvider::Session {
public:
  OneStep(const CredentialsAuthentication& owner, std::optional<std::string> peer_certificate_cn)
      : owner_(owner), peer_certificate_cn_(std::move(peer_certificate_cn)) {}
  AuthOutcome on_connect(const std::string& method, const std::string& data) override {
    return owner_.check(method, data, peer_certificate_cn_);
  }
  AuthOutcome on_response(const std::string& method, const std::string& data) override {
    return owner_.check(method, data, peer_certificate_cn_);
  }

private:
  const CredentialsAuthentication& owner_;
  std::optional<std::string> peer_certificate_cn_;
};

}  // namespace

std::unique_ptr<AuthenticationProvider::Session> CredentialsAuthentication::new_session(
    const std::optional<std::string>& peer_certificate_cn) {
  return std::make_unique<OneStep>(*this, peer_certificate_cn);
}

std::string CredentialsAuthentication::method() const {
  const auto& ps = authenticator_->providers();
  return ps.empty() ? std::string("none") : ps.front()->method();
}

AuthOutcome CredentialsAuthentication::check(const std::string& method, const std::string& data,
                                             const std::optional<std::string>& peer_certificate_cn) const {
  // tls: the identity is what the TLS handshake verified, never bytes the client sent.
  const std::string& credential = method == "tls" ? peer_certificate_cn.value_or(std::string()) : data;
  auto who = authenticator_->authenticate(method, credential, static_cast<std::int64_t>(clock_.wall_ms() / 1000));
  if (!who.ok()) return AuthOutcome::reject(std::move(who).error().reason);
  return AuthOutcome::accept(std::move(who->role), who->expires_at);
}

}  // namespace mop::pulsar::server
