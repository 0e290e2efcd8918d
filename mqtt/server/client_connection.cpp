#include "mqtt/server/client_connection.hpp"

#include "mqtt/server/session_router.hpp"

namespace mop::mqtt {

ClientConnection::ClientConnection(SessionRouter& router, net::Stream& stream)
    : router_(router),
      stream_(stream),
      protocol_(std::make_shared<Protocol>(*this, router.clock(), router.options().limits)) {
  router_.connection_opened(*this);
}

ClientConnection::~ClientConnection() {
  if (!closed_) {
    // The stream is going away without having reported it; the session must not keep a
    // pointer to this connection. The stream cannot be called back at this point.
    closed_ = true;
    router_.handle_close(*this, CloseReason::network_error, "connection destroyed");
  }
  router_.connection_destroyed(*this);
}

bool ClientConnection::congested() {
  const std::size_t limit = router_.options().max_queued_bytes;
  if (stream_.queued_bytes() <= limit) return false;
  // Over the limit within one wakeup (a subscriber fed by many publishers, whose messages all
  // arrive between two flushes): the socket may well take it all at once, in one large write.
  // Only what it does not take means the client is behind.
  stream_.write_now();
  return stream_.queued_bytes() > limit;
}

void ClientConnection::on_output_drained() { router_.handle_output_drained(*this); }

void ClientConnection::output_ready() { stream_.output_ready(); }

void ClientConnection::close(CloseReason reason, const std::string& detail) {
  if (closed_) return;
  closed_ = true;
  router_.handle_close(*this, reason, detail);
  stream_.close_after_flush();
}

void ClientConnection::on_connect(const Connect& connect) { router_.handle_connect(*this, connect); }

void ClientConnection::on_publish(const Publish& publish, PublishDone done) {
  router_.handle_publish(*this, publish, std::move(done));
}

void ClientConnection::on_subscribe(const Subscribe& subscribe, std::function<void(std::vector<std::uint8_t>)> done) {
  router_.handle_subscribe(*this, subscribe, std::move(done));
}

void ClientConnection::on_subscribed(const Subscribe& subscribe, const std::vector<std::uint8_t>& codes) {
  router_.send_retained(*this, subscribe, codes);
}

std::vector<ReasonCode> ClientConnection::on_unsubscribe(const Unsubscribe& unsubscribe) {
  return router_.handle_unsubscribe(*this, unsubscribe);
}

void ClientConnection::on_delivery_acked(const DeliveryOrigin& origin) { router_.handle_delivery_acked(origin); }

void ClientConnection::on_inflight_freed(const DeliveryOrigin& origin) { router_.handle_inflight_freed(*this, origin); }

void ClientConnection::on_pubrec_received(PacketId /*id*/, const DeliveryOrigin& origin, std::function<void()> done) {
  router_.handle_pubrec(*this, origin, std::move(done));
}

void ClientConnection::on_pubcomp_received(const DeliveryOrigin& origin) { router_.handle_pubcomp(*this, origin); }

void ClientConnection::on_inbound_released(PacketId id, std::function<void()> done) {
  router_.handle_pubrel(*this, id, std::move(done));
}

bool ClientConnection::supports_auth_method(const std::string& method) const {
  return router_.supports_auth_method(method);
}

void ClientConnection::on_auth(const Auth& auth) { router_.handle_auth(*this, auth); }

}  // namespace mop::mqtt
