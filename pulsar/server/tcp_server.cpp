#include "pulsar/server/tcp_server.hpp"

#include <boost/asio/post.hpp>

namespace mop::pulsar::server {

namespace {

// One Pulsar connection on a net::Stream: the Connection sees it as its Transport, the stream
// sees the Connection as its handler.
class PulsarStream final : public net::StreamHandler, public Transport {
public:
  PulsarStream(PulsarServer& server, net::Stream& stream) : stream_(stream), conn_(server, *this, stream.peer()) {}

  // net::StreamHandler
  void on_bytes(std::span<const std::uint8_t> bytes) override { conn_.on_bytes(bytes); }
  void on_closed() override { conn_.on_closed(); }
  void on_tick() override { conn_.on_tick(); }
  TimePoint next_deadline() const override { return conn_.next_deadline(); }
  bool closed() const override { return conn_.closed(); }
  OutBuffer& output() override { return conn_.output(); }

  // Transport
  void output_ready() override { stream_.output_ready(); }
  void close_after_flush() override { stream_.close_after_flush(); }

private:
  net::Stream& stream_;
  Connection conn_;
};

}  // namespace

TcpServer::TcpServer(boost::asio::io_context& io, PulsarServer& server)
    : io_(io),
      server_(server),
      listener_(io, [&server](net::Stream& s) { return std::make_unique<PulsarStream>(server, s); }, "pulsar") {}

Result<boost::asio::ip::tcp::endpoint> TcpServer::listen(const std::string& host, std::uint16_t port) {
  return listener_.listen(host, port);
}

void TcpServer::stop_accepting() { listener_.stop_accepting(); }

void TcpServer::shutdown() {
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
