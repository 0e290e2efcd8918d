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

void PulsarListener::stop_accepting() { listener_.stop_accepting(); }

void PulsarListener::shutdown() {
  listener_.stop_accepting();
  server_.shutdown();
  // Each connection has just posted the flush of its CLOSE_* frames, after which it closes
  // itself; this runs after those flushes and closes whatever is still open (a peer whose socket
  // buffer is full), so shutdown never waits on a client.
  boost::asio::post(io_, [this, alive = std::weak_ptr<bool>(alive_)] {
    if (!alive.expired()) listener_.shutdown();
  });
}

}  // namespace mop::pulsar::server
