// CONNECT and AUTH_RESPONSE: the protocol version, authentication, CONNECTED.
#include "pulsar/server/handlers/handler.hpp"

namespace mop::pulsar::server {

void Connection::on_connect(const Frame& f) {
  if (connected_ || auth_) {
    close("second CONNECT");
    return;
  }
  const auto& connect = f.command->connect();
  protocol_version_ = std::min(connect.protocol_version(), kMaxProtocolVersion);
  auto* provider = server_.options().authentication_provider;
  if (provider == nullptr) return send_connected();
  auth_ = provider->new_session();
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
      return send_connected();
    case AuthOutcome::Kind::challenge: {
      proto::BaseCommand c;
      c.set_type(proto::BaseCommand::AUTH_CHALLENGE);
      auto* ch = c.mutable_authchallenge();
      ch->set_server_version(server_.options().server_version);
      ch->set_protocol_version(protocol_version_);
      ch->mutable_challenge()->set_auth_method_name(server_.options().authentication_provider->method());
      ch->mutable_challenge()->set_auth_data(outcome.data);
      return send(c);
    }
    case AuthOutcome::Kind::reject:
      logger()->info("{}: authentication failed: {}", peer_, outcome.message);
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
