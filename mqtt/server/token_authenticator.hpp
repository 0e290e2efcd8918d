#pragma once
// TokenAuthenticator: MQTT 5 enhanced authentication with method `token` (MoP's name). The
// CONNECT's (or a re-authentication AUTH 0x19's) authentication data is a JWT, checked by the
// shared token provider (auth/token.hpp) in one step: success with the token's role, or failure
// with the reason (CONNACK 0x87; a failed re-authentication ends the connection with DISCONNECT
// 0x87).
#include <memory>
#include <string>

#include "auth/provider.hpp"
#include "core/clock.hpp"
#include "mqtt/server/enhanced_authenticator.hpp"

namespace mop::mqtt {

class TokenAuthenticator final : public EnhancedAuthenticator {
public:
  TokenAuthenticator(std::shared_ptr<const auth::Provider> token, const Clock& clock)
      : token_(std::move(token)), clock_(clock) {}

  const std::string& method() const override { return token_->method(); }
  Step start(const std::string& client_id, const std::string& data, std::unique_ptr<State>& state) override;
  Step next(const std::string& data, std::unique_ptr<State>& state) override;

private:
  std::shared_ptr<const auth::Provider> token_;
  const Clock& clock_;
};

}  // namespace mop::mqtt
