#include "pulsar/client/errors.hpp"

namespace mop::pulsar::client {

namespace {

class ClientCategory final : public std::error_category {
public:
  const char* name() const noexcept override { return "pulsar_client"; }
  std::string message(int v) const override {
    switch (static_cast<ClientErrc>(v)) {
      case ClientErrc::timeout: return "operation timed out";
      case ClientErrc::disconnected: return "connection to the broker lost";
      case ClientErrc::closed: return "closed";
      case ClientErrc::connect_failed: return "cannot connect to the broker";
      case ClientErrc::too_many_redirects: return "too many lookup redirects";
      case ClientErrc::protocol_error: return "protocol error";
      case ClientErrc::producer_queue_full: return "producer queue is full";
      case ClientErrc::invalid_argument: return "invalid argument";
      case ClientErrc::message_too_large: return "message too large";
      case ClientErrc::unsupported: return "not supported by the broker";
    }
    return "unknown pulsar client error";
  }
};

class ServerCategory final : public std::error_category {
public:
  const char* name() const noexcept override { return "pulsar_server"; }
  std::string message(int v) const override {
    const int e = v - 1;
    if (!proto::ServerError_IsValid(e)) return "ServerError " + std::to_string(e);
    return proto::ServerError_Name(static_cast<proto::ServerError>(e));
  }
};

}  // namespace

const std::error_category& client_category() noexcept {
  static const ClientCategory c;
  return c;
}

const std::error_category& server_category() noexcept {
  static const ServerCategory c;
  return c;
}

std::error_code server_error(proto::ServerError e) noexcept { return {static_cast<int>(e) + 1, server_category()}; }

std::optional<proto::ServerError> server_error_of(const std::error_code& code) noexcept {
  if (code.category() != server_category()) return std::nullopt;
  return static_cast<proto::ServerError>(code.value() - 1);
}

bool is_retriable(const std::error_code& code) noexcept {
  if (code.category() == client_category()) {
    switch (static_cast<ClientErrc>(code.value())) {
      case ClientErrc::timeout:
      case ClientErrc::disconnected:
      case ClientErrc::connect_failed:
      case ClientErrc::too_many_redirects:
      case ClientErrc::protocol_error:
        return true;
      default:
        return false;
    }
  }
  if (auto e = server_error_of(code)) {
    switch (*e) {
      case proto::ServiceNotReady:
      case proto::TooManyRequests:
      case proto::MetadataError:
      case proto::PersistenceError:
      case proto::UnknownError:
      case proto::ConsumerBusy:       // a previous consumer of ours the broker has not dropped yet
      case proto::ProducerBusy:       // same for producers (after a reconnect)
        return true;
      default:
        return false;
    }
  }
  return false;
}

}  // namespace mop::pulsar::client
