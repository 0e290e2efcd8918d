#include "mqtt/server/token_authenticator.hpp"

namespace mop::mqtt {

EnhancedAuthenticator::Step TokenAuthenticator::start(const std::string&, const std::string& data,
                                                      std::unique_ptr<State>&) {
  auto who = token_->authenticate(data, static_cast<std::int64_t>(clock_.wall_ms() / 1000));
  Step step;
  if (who.ok()) {
    step.kind = Step::Kind::success;
    step.role = std::move(who->role);
  } else {
    step.kind = Step::Kind::failure;
    step.reason = std::move(who).error().reason;
  }
  return step;
}

EnhancedAuthenticator::Step TokenAuthenticator::next(const std::string& data, std::unique_ptr<State>& state) {
  // One step is the whole exchange; a client that sends AUTH 0x18 anyway is heard as a new start.
  return start({}, data, state);
}

}  // namespace mop::mqtt
