#pragma once
// CredentialsAuthentication: the Pulsar port's AuthenticationProvider over the shared providers
// (auth/provider.hpp, authenticationProviders): CONNECT's auth_method_name picks the provider
// (`token`, `basic`), its auth_data is the credential; one step, accept with the role (and a
// token's expiry, which drives the refresh challenge) or reject with the reason.
#include <memory>
#include <string>

#include "auth/provider.hpp"
#include "core/clock.hpp"
#include "pulsar/server/authentication_provider.hpp"

namespace mop::pulsar::server {

class CredentialsAuthentication final : public AuthenticationProvider {
public:
  CredentialsAuthentication(std::shared_ptr<const auth::Authenticator> authenticator, const Clock& clock)
      : authenticator_(std::move(authenticator)), clock_(clock) {}

  std::unique_ptr<Session> new_session() override;
  std::string method() const override;

  AuthOutcome check(const std::string& method, const std::string& data) const;

private:
  std::shared_ptr<const auth::Authenticator> authenticator_;
  const Clock& clock_;
};

}  // namespace mop::pulsar::server
