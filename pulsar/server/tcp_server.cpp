#include "pulsar/server/tcp_server.hpp"

#include <array>

#include <boost/asio/ip/v6_only.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>
#include <fmt/format.h>

#include "core/log.hpp"

namespace mop::pulsar::server {

namespace asio = boost::asio;
using asio::ip::tcp;

namespace {

// One socket and its protocol Connection. Same shape as mqtt/server's: poll for readability,
// read into a per-thread buffer, one write per wakeup for everything the protocol queued.
class TcpConnection final : public Transport, public std::enable_shared_from_this<TcpConnection> {
public:
  TcpConnection(tcp::socket socket, PulsarServer& server)
      : socket_(std::move(socket)), timer_(socket_.get_executor()), conn_(server, *this, peer_of(socket_)) {
    boost::system::error_code ec;
    socket_.set_option(tcp::no_delay(true), ec);
    socket_.non_blocking(true, ec);
  }

  void start() {
    wait_readable();
    arm_timer();
  }

  void output_ready() override {
    if (writing_ || flush_posted_ || shut_) return;
    flush_posted_ = true;
    asio::post(socket_.get_executor(), [self = shared_from_this()] {
      self->flush_posted_ = false;
      self->flush();
    });
  }

  void shutdown() override {
    conn_.on_closed();
    shutdown_socket();
  }

  void close_after_flush() override {
    closing_ = true;
    if (!writing_ && !flush_posted_) asio::post(socket_.get_executor(), [self = shared_from_this()] { self->flush(); });
  }

private:
  static std::string peer_of(const tcp::socket& s) {
    boost::system::error_code ec;
    auto ep = s.remote_endpoint(ec);
    return ec ? "?" : fmt::format("{}:{}", ep.address().to_string(), ep.port());
  }

  void wait_readable() {
    socket_.async_wait(tcp::socket::wait_read,
                       [self = shared_from_this()](boost::system::error_code ec) { self->on_readable(ec); });
  }

  void on_readable(boost::system::error_code ec) {
    if (shut_) return;
    if (ec) return lost();
    thread_local std::array<std::uint8_t, 64 * 1024> buffer;
    const std::size_t n = socket_.read_some(asio::buffer(buffer), ec);
    if (ec == asio::error::would_block || ec == asio::error::try_again) return wait_readable();
    if (ec || n == 0) return lost();
    conn_.on_bytes({buffer.data(), n});
    if (!conn_.closed()) wait_readable();
  }

  void lost() {
    conn_.on_closed();
    shutdown_socket();
  }

  void arm_timer() {
    timer_.expires_at(conn_.next_deadline());
    timer_.async_wait([self = shared_from_this()](boost::system::error_code ec) {
      if (ec || self->shut_) return;
      self->conn_.on_tick();
      if (!self->conn_.closed()) self->arm_timer();
    });
  }

  void flush() {
    if (shut_ || writing_) return;
    auto& out = conn_.output();
    if (out.empty()) {
      if (closing_) shutdown_socket();
      return;
    }
    segments_ = out.take();
    buffers_.clear();
    for (const auto& s : segments_) buffers_.emplace_back(s.view().data(), s.view().size());
    writing_ = true;
    asio::async_write(socket_, buffers_, [self = shared_from_this()](boost::system::error_code ec, std::size_t) {
      self->writing_ = false;
      self->segments_.clear();
      if (ec) return self->lost();
      self->flush();
    });
  }

  void shutdown_socket() {
    if (shut_) return;
    shut_ = true;
    boost::system::error_code ec;
    socket_.shutdown(tcp::socket::shutdown_both, ec);
    socket_.close(ec);
    timer_.cancel();
  }

  tcp::socket socket_;
  asio::steady_timer timer_;
  Connection conn_;
  std::vector<OutBuffer::Segment> segments_;
  std::vector<asio::const_buffer> buffers_;
  bool writing_ = false;
  bool flush_posted_ = false;
  bool closing_ = false;
  bool shut_ = false;
};

}  // namespace

TcpServer::TcpServer(asio::io_context& io, PulsarServer& server) : io_(io), server_(server) {}

TcpServer::~TcpServer() { stop_accepting(); }

Result<tcp::endpoint> TcpServer::listen(const std::string& host, std::uint16_t port) {
  boost::system::error_code ec;
  auto address = asio::ip::make_address(host, ec);
  if (ec) {
    tcp::resolver resolver(io_);
    auto results = resolver.resolve(host, std::to_string(port), ec);
    if (ec || results.empty()) return std::error_code(ec ? ec : asio::error::host_not_found);
    address = results.begin()->endpoint().address();
  }
  tcp::endpoint ep(address, port);
  auto acceptor = std::make_unique<tcp::acceptor>(io_);
  acceptor->open(ep.protocol(), ec);
  if (!ec) acceptor->set_option(asio::socket_base::reuse_address(true), ec);
  if (!ec && ep.address().is_v6()) acceptor->set_option(asio::ip::v6_only(true), ec);
  if (!ec) acceptor->bind(ep, ec);
  if (!ec) acceptor->listen(asio::socket_base::max_listen_connections, ec);
  if (ec) return std::error_code(ec);
  auto bound = acceptor->local_endpoint(ec);
  accept(*acceptor);
  acceptors_.push_back(std::move(acceptor));
  return bound;
}

void TcpServer::accept(tcp::acceptor& acceptor) {
  acceptor.async_accept([this, &acceptor](boost::system::error_code ec, tcp::socket socket) {
    if (ec == asio::error::operation_aborted || !acceptor.is_open()) return;
    if (ec) {
      // Out of file descriptors, typically: retry a little later rather than spin.
      log::get("pulsar")->warn("accept failed: {}", ec.message());
      auto timer = std::make_shared<asio::steady_timer>(io_, std::chrono::milliseconds(100));
      timer->async_wait([this, &acceptor, timer](boost::system::error_code) {
        if (acceptor.is_open()) accept(acceptor);
      });
      return;
    }
    auto conn = std::make_shared<TcpConnection>(std::move(socket), server_);
    conn->start();
    std::erase_if(connections_, [](const auto& w) { return w.expired(); });
    connections_.push_back(conn);
    accept(acceptor);
  });
}

void TcpServer::stop_accepting() {
  for (auto& a : acceptors_) {
    boost::system::error_code ec;
    a->close(ec);
  }
}

void TcpServer::shutdown() {
  stop_accepting();
  for (auto& w : connections_) {
    if (auto c = w.lock()) c->shutdown();
  }
  connections_.clear();
}

}  // namespace mop::pulsar::server
