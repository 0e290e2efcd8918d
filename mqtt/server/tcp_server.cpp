#include "mqtt/server/tcp_server.hpp"

#include <array>

#include <boost/asio/ip/v6_only.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>
#include <fmt/format.h>

#include "core/log.hpp"

namespace mop::mqtt {

namespace asio = boost::asio;
using asio::ip::tcp;

namespace {

const std::shared_ptr<spdlog::logger>& logger() {
  static const auto l = log::get("mqtt");
  return l;
}

// One connection's socket. Idle connections hold no read buffer: the socket is polled for
// readability and then read into a buffer shared by every connection of the thread, so memory
// per idle connection stays small.
class TcpConnection final : public Transport, public std::enable_shared_from_this<TcpConnection> {
public:
  TcpConnection(tcp::socket socket, MqttBroker& broker)
      : socket_(std::move(socket)), timer_(socket_.get_executor()), client_(broker, *this) {
    boost::system::error_code ec;
    auto ep = socket_.remote_endpoint(ec);
    peer_ = ec ? "?" : fmt::format("{}:{}", ep.address().to_string(), ep.port());
    socket_.set_option(tcp::no_delay(true), ec);
    socket_.non_blocking(true, ec);
  }

  void start() {
    wait_readable();
    arm_timer();
  }

  void output_ready() override {
    if (writing_ || flush_posted_) return;
    // Deferred so that everything produced in this wakeup leaves in one write.
    flush_posted_ = true;
    asio::post(socket_.get_executor(), [self = shared_from_this()] {
      self->flush_posted_ = false;
      self->flush();
    });
  }

  void close_after_flush() override {
    closing_ = true;
    if (!writing_ && !flush_posted_) {
      asio::post(socket_.get_executor(), [self = shared_from_this()] { self->flush(); });
    }
  }

  std::string peer() const override { return peer_; }
  std::size_t queued_bytes() const override { return writing_bytes_ + client_.protocol().output().bytes(); }

private:
  void wait_readable() {
    socket_.async_wait(tcp::socket::wait_read, [self = shared_from_this()](boost::system::error_code ec) {
      self->on_readable(ec);
    });
  }

  void on_readable(boost::system::error_code ec) {
    if (shut_) return;
    if (ec) {
      lost();
      return;
    }
    thread_local std::array<std::uint8_t, 64 * 1024> buffer;
    std::size_t n = socket_.read_some(asio::buffer(buffer), ec);
    if (ec == asio::error::would_block || ec == asio::error::try_again) {
      wait_readable();
      return;
    }
    if (ec || n == 0) {
      lost();
      return;
    }
    client_.protocol().on_bytes({buffer.data(), n});
    if (client_.protocol().state() != Protocol::State::closed) {
      wait_readable();
      if (client_.protocol().next_deadline() < timer_.expiry()) arm_timer();
    }
  }

  void lost() {
    client_.protocol().on_closed();
    shutdown_socket();
  }

  // The keep-alive timer is re-armed lazily: it fires at the old deadline and moves to the new
  // one, so traffic does not cost a timer operation per packet.
  void arm_timer() {
    timer_.expires_at(client_.protocol().next_deadline());
    timer_.async_wait([self = shared_from_this()](boost::system::error_code ec) {
      if (ec || self->shut_) return;
      auto& proto = self->client_.protocol();
      proto.on_tick();
      if (proto.state() != Protocol::State::closed) self->arm_timer();
    });
  }

  void flush() {
    if (shut_ || writing_) return;
    auto& out = client_.protocol().output();
    if (out.empty()) {
      if (closing_) shutdown_socket();
      return;
    }
    segments_ = out.take();
    buffers_.clear();
    writing_bytes_ = 0;
    for (const auto& s : segments_) {
      buffers_.emplace_back(s.view().data(), s.view().size());
      writing_bytes_ += s.view().size();
    }
    writing_ = true;
    asio::async_write(socket_, buffers_, [self = shared_from_this()](boost::system::error_code ec, std::size_t) {
      self->writing_ = false;
      self->writing_bytes_ = 0;
      self->segments_.clear();
      if (ec) {
        self->lost();
        return;
      }
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
  ClientConnection client_;
  std::string peer_;
  std::vector<OutBuffer::Segment> segments_;  // what the write in progress points into
  std::vector<asio::const_buffer> buffers_;
  std::size_t writing_bytes_ = 0;
  bool writing_ = false;
  bool flush_posted_ = false;
  bool closing_ = false;
  bool shut_ = false;
};

}  // namespace

TcpServer::TcpServer(asio::io_context& io, MqttBroker& broker) : io_(io), broker_(broker) {}

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
  if (!tick_timer_) {
    tick_timer_ = std::make_shared<asio::steady_timer>(io_);
    ticking_ = std::make_shared<bool>(true);
    arm_tick();
  }
  return bound;
}

void TcpServer::arm_tick() {
  tick_timer_->expires_after(std::chrono::seconds(1));
  tick_timer_->async_wait([this, timer = tick_timer_, ticking = ticking_](boost::system::error_code ec) {
    if (ec || !*ticking) return;  // stopped: `this` may be gone
    broker_.tick();
    arm_tick();
  });
}

void TcpServer::accept(tcp::acceptor& acceptor) {
  acceptor.async_accept([this, &acceptor](boost::system::error_code ec, tcp::socket socket) {
    if (ec == asio::error::operation_aborted || !acceptor.is_open()) return;
    if (ec) {
      // Out of file descriptors, typically: say so and retry a little later rather than spin.
      logger()->warn("accept failed: {}", ec.message());
      auto timer = std::make_shared<asio::steady_timer>(io_, std::chrono::milliseconds(100));
      timer->async_wait([this, &acceptor, timer](boost::system::error_code) {
        if (acceptor.is_open()) accept(acceptor);
      });
      return;
    }
    std::make_shared<TcpConnection>(std::move(socket), broker_)->start();
    accept(acceptor);
  });
}

void TcpServer::stop_accepting() {
  if (tick_timer_) {
    *ticking_ = false;
    tick_timer_->cancel();
  }
  for (auto& a : acceptors_) {
    boost::system::error_code ec;
    a->close(ec);
  }
}

}  // namespace mop::mqtt
