#include "pulsar/server/credentials_authentication.hpp"

namespace mop::pulsar::server {

namespace {

class OneStep final : public AuthenticationProvider::Session {
public:
  explicit OneStep(const CredentialsAuthentication& owner) : owner_(owner) {}
  AuthOutcome on_connect(const std::string& method, const std::string& data) override {
    return owner_.check(method, data);
  }
  AuthOutcome on_response(const std::string& method, const std::string& data) override {
    return owner_.check(method, data);
  }

private:
  const CredentialsAuthentication& owner_;
};

}  // namespace

std::unique_ptr<AuthenticationProvider::Session> CredentialsAuthentication::new_session() {
  return std::make_unique<OneStep>(*this);
}

std::string CredentialsAuthentication::method() const {
  const auto& ps = authenticator_->providers();
  return ps.empty() ? std::string("none") : ps.front()->method();
}

AuthOutcome CredentialsAuthentication::check(const std::string& method, const std::string& data) const {
  auto who = authenticator_->authenticate(method, data, static_cast<std::int64_t>(clock_.wall_ms() / 1000));
  if (!who.ok()) return AuthOutcome::reject(std::move(who).error().reason);
  return AuthOutcome::accept(std::move(who->role), who->expires_at);
}

}  // namespace mop::pulsar::server
