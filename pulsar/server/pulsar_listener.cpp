#include "pulsar/server/pulsar_listener.hpp"

#include <boost/asio/post.hpp>

namespace mop::pulsar::server {

PulsarListener::PulsarListener(boost::asio::io_context& io, PulsarServer& server)
    : io_(io),
      server_(server),
      listener_(io, [&server](net::Stream& s) { return std::make_unique<Connection>(server, s); }, "pulsar") {}

Result<boost::asio::ip::tcp::endpoint> PulsarListener::listen(const std::string& host, std::uint16_t port) {
  return listener_.listen(host, port);
}

Result<boost::asio::ip::tcp::endpoint> PulsarListener::listen_tls(const std::string& host, std::uint16_t port,
                                                                  std::shared_ptr<net::TlsContext> tls) {
  if (!tls_listener_) {
    tls_listener_ = std::make_unique<net::SecureListener>(
        io_, [this](net::Stream& s) { return std::make_unique<Connection>(server_, s); }, "pulsar", "pulsar+ssl",
        net::Transport::tls, std::move(tls));
    tls_listener_->set_read_gate(gate_);
    tls_listener_->set_write_buffer_water_marks(high_, low_);
  }
  return tls_listener_->listen(host, port);
}

void PulsarListener::stop_accepting() {
  listener_.stop_accepting();
  if (tls_listener_) tls_listener_->stop_accepting();
}

void PulsarListener::shutdown() {
  stop_accepting();
  server_.shutdown();
  // Each connection has just posted the flush of its CLOSE_* frames, after which it closes
  // itself; this runs after those flushes and closes whatever is still open (a peer whose socket
  // buffer is full), so shutdown never waits on a client.
  boost::asio::post(io_, [this, alive = std::weak_ptr<bool>(alive_)] {
    if (alive.expired()) return;
    listener_.shutdown();
    if (tls_listener_) tls_listener_->shutdown();
  });
}

}  // namespace mop::pulsar::server
