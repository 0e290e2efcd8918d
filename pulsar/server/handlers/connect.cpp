// CONNECT and AUTH_RESPONSE: the protocol version, authentication, CONNECTED; the refresh of
// expiring credentials (AUTH_CHALLENGE from on_tick, answered by AUTH_RESPONSE).
#include "pulsar/server/handlers/handler.hpp"

namespace mop::pulsar::server {

void Connection::on_connect(const Frame& f) {
  if (connected_ || auth_) {
    close("second CONNECT");
    return;
  }
  const auto& connect = f.command->connect();
  protocol_version_ = std::min(connect.protocol_version(), kMaxProtocolVersion);
  client_version_ = connect.client_version();
  auto* provider = server_.options().authentication_provider;
  if (provider == nullptr) return send_connected();
  auth_ = provider->new_session(stream_.peer_certificate_cn());
  auth_method_ = connect.auth_method_name();
  authenticated(auth_->on_connect(connect.auth_method_name(), connect.auth_data()));
}

void Connection::on_auth_response(const Frame& f) {
  if (!auth_) {
    close("AUTH_RESPONSE without a challenge");
    return;
  }
  const auto& r = f.command->authresponse();
  authenticated(auth_->on_response(r.response().auth_method_name(), r.response().auth_data()));
}

void Connection::authenticated(const AuthOutcome& outcome) {
  switch (outcome.kind) {
    case AuthOutcome::Kind::accept:
      auth_.reset();
      if (connected_) {  // a refresh
        if (outcome.role != role_) {
          logger()->warn("{}: refreshed credentials are for role {}, not {}: closing", peer_, outcome.role, role_);
          send_error(static_cast<std::uint64_t>(-1), proto::AuthenticationError, "the role changed on refresh");
          close("role changed on refresh");
          return;
        }
        refresh_pending_ = false;
        auth_expires_at_ = outcome.expires_at;
        logger()->debug("{}: credentials of role {} refreshed", peer_, role_);
        return;
      }
      role_ = outcome.role;
      auth_expires_at_ = outcome.expires_at;
      next_refresh_check_ = server_.clock().now() + server_.options().auth_refresh_check;
      if (auth_expires_at_) {
        next_check_ = std::min(next_check_, next_refresh_check_);
        stream_.deadline_changed();  // the authentication may have completed outside a read
      }
      logger()->info("{}: authenticated with {} as role {}", peer_, auth_method_.empty() ? "-" : auth_method_, role_);
      return send_connected();
    case AuthOutcome::Kind::challenge: {
      proto::BaseCommand c;
      c.set_type(proto::BaseCommand::AUTH_CHALLENGE);
      auto* ch = c.mutable_authchallenge();
      ch->set_server_version(server_.options().server_version);
      ch->set_protocol_version(protocol_version_);
      ch->mutable_challenge()->set_auth_method_name(
          auth_method_.empty() ? server_.options().authentication_provider->method() : auth_method_);
      ch->mutable_challenge()->set_auth_data(outcome.data);
      return send(c);
    }
    case AuthOutcome::Kind::reject:
      logger()->warn("{}: authentication refused: method={} reason={}", peer_, auth_method_.empty() ? "-" : auth_method_,
                     outcome.message);
      auth_.reset();
      send_error(static_cast<std::uint64_t>(-1), proto::AuthenticationError, outcome.message);
      close("authentication failed");
      return;
  }
}

void Connection::send_connected() {
  connected_ = true;
  proto::BaseCommand c;
  c.set_type(proto::BaseCommand::CONNECTED);
  auto* r = c.mutable_connected();
  r->set_server_version(server_.options().server_version);
  r->set_protocol_version(protocol_version_);
  r->set_max_message_size(static_cast<std::int32_t>(server_.options().max_message_size));
  send(c);
}

}  // namespace mop::pulsar::server

namespace mop::pulsar::server {

bool Connection::authorized(auth::Action action, const service::TopicName& topic) {
  const auto* permissions = server_.options().permissions;
  if (permissions == nullptr || permissions->can(role_, action, topic.tenant(), topic.ns(), topic.str())) return true;
  logger()->warn("{}: role {} may not {} {}", peer_, role_,
                 action == auth::Action::produce ? "produce to" : "consume from", topic.str());
  return false;
}

void Connection::check_credentials(TimePoint now) {
  if (!auth_expires_at_ || now < next_refresh_check_) return;
  next_refresh_check_ = now + server_.options().auth_refresh_check;
  if (refresh_pending_) {  // challenged at the last check and not answered with good credentials
    logger()->warn("{}: credentials of role {} expired and were not refreshed: closing", peer_, role_);
    send_error(static_cast<std::uint64_t>(-1), proto::AuthenticationError, "authentication expired");
    close("authentication expired");
    return;
  }
  if (static_cast<std::int64_t>(server_.clock().wall_ms() / 1000) < *auth_expires_at_) return;
  logger()->info("{}: credentials of role {} expired: AUTH_CHALLENGE", peer_, role_);
  refresh_pending_ = true;
  auth_ = server_.options().authentication_provider->new_session(stream_.peer_certificate_cn());
  proto::BaseCommand c;
  c.set_type(proto::BaseCommand::AUTH_CHALLENGE);
  auto* ch = c.mutable_authchallenge();
  ch->set_server_version(server_.options().server_version);
  ch->set_protocol_version(protocol_version_);
  ch->mutable_challenge()->set_auth_method_name(auth_method_);
  ch->mutable_challenge()->set_auth_data(kRefreshAuthData);
  send(c);
  stream_.output_ready();
}

}  // namespace mop::pulsar::server
