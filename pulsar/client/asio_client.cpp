// The Boost.Asio driver: TCP links for the Transport, the io_context as the Executor, and a
// steady_timer that calls Client::on_tick() at its next deadline (at least once a second).
#include "pulsar/client/asio_client.hpp"

#include <deque>

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>

namespace mop::pulsar::client {

namespace {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;

class AsioLink final : public Link, public std::enable_shared_from_this<AsioLink> {
public:
  AsioLink(asio::io_context& io, LinkHandler& handler) : socket_(io), resolver_(io), handler_(&handler) {}

  void start(const std::string& host, std::uint16_t port) {
    auto self = shared_from_this();
    resolver_.async_resolve(host, std::to_string(port), [self](const boost::system::error_code& ec, tcp::resolver::results_type r) {
      if (!self->handler_) return;
      if (ec) return self->connected(ec);
      asio::async_connect(self->socket_, r, [self](const boost::system::error_code& e, const tcp::endpoint&) { self->connected(e); });
    });
  }

  void write(std::string bytes) override {
    if (!handler_ || !open_) {
      if (handler_) pending_.push_back(std::move(bytes));  // before the connect finished
      return;
    }
    pending_.push_back(std::move(bytes));
    if (!writing_) write_next();
  }

  void close() override {
    handler_ = nullptr;
    boost::system::error_code ignored;
    resolver_.cancel();
    socket_.shutdown(tcp::socket::shutdown_both, ignored);
    socket_.close(ignored);
  }

private:
  void connected(const boost::system::error_code& ec) {
    if (!handler_) return;
    if (ec) {
      auto* h = handler_;
      handler_ = nullptr;
      h->on_connected(ec.message());
      return;
    }
    open_ = true;
    socket_.set_option(tcp::no_delay(true));
    handler_->on_connected("");
    if (!handler_) return;
    read();
    if (!pending_.empty() && !writing_) write_next();
  }

  void read() {
    auto self = shared_from_this();
    socket_.async_read_some(asio::buffer(buf_), [self](const boost::system::error_code& ec, std::size_t n) {
      if (!self->handler_) return;
      if (ec) return self->lost(ec.message());
      self->handler_->on_bytes({self->buf_.data(), n});
      if (self->handler_) self->read();
    });
  }

  void write_next() {
    // Everything queued goes in one gather write.
    writing_ = true;
    batch_.clear();
    batch_.swap(pending_);
    std::vector<asio::const_buffer> bufs;
    bufs.reserve(batch_.size());
    for (auto& b : batch_) bufs.emplace_back(b.data(), b.size());
    auto self = shared_from_this();
    asio::async_write(socket_, bufs, [self](const boost::system::error_code& ec, std::size_t) {
      self->writing_ = false;
      if (!self->handler_) return;
      if (ec) return self->lost(ec.message());
      if (!self->pending_.empty()) self->write_next();
    });
  }

  void lost(const std::string& why) {
    auto* h = handler_;
    handler_ = nullptr;
    boost::system::error_code ignored;
    socket_.close(ignored);
    h->on_closed(why);
  }

  tcp::socket socket_;
  tcp::resolver resolver_;
  LinkHandler* handler_;
  bool open_ = false;
  bool writing_ = false;
  std::vector<std::string> pending_, batch_;
  std::array<std::uint8_t, 64 * 1024> buf_{};
};

// The Link handed to the client: closing it detaches the socket, which lives on until its
// outstanding operations complete.
class LinkHandle final : public Link {
public:
  explicit LinkHandle(std::shared_ptr<AsioLink> link) : link_(std::move(link)) {}
  ~LinkHandle() override { link_->close(); }
  void write(std::string bytes) override { link_->write(std::move(bytes)); }
  void close() override { link_->close(); }

private:
  std::shared_ptr<AsioLink> link_;
};

class AsioTransport final : public Transport {
public:
  explicit AsioTransport(asio::io_context& io) : io_(io) {}
  std::unique_ptr<Link> open(const std::string& host, std::uint16_t port, LinkHandler& handler) override {
    auto link = std::make_shared<AsioLink>(io_, handler);
    link->start(host, port);
    return std::make_unique<LinkHandle>(link);
  }

private:
  asio::io_context& io_;
};

class IoExecutor final : public Executor {
public:
  explicit IoExecutor(asio::io_context& io) : io_(io) {}
  void post(Task task) override { asio::post(io_, std::move(task)); }

private:
  asio::io_context& io_;
};

class AsioClientImpl final : public AsioClient {
public:
  AsioClientImpl(asio::io_context& io, ClientConfig config)
      : executor_(io), transport_(io), client_(executor_, clock_, transport_, std::move(config)), timer_(io),
        alive_(std::make_shared<bool>(true)) {
    client_.set_wakeup([this] { rearm(); });
  }
  ~AsioClientImpl() override {
    client_.set_wakeup(nullptr);  // the timer goes before the client
    *alive_ = false;
    timer_.cancel();
  }
  Client& client() override { return client_; }

  void rearm() {
    const auto now = clock_.now();
    auto at = std::min(client_.next_deadline(), now + std::chrono::seconds(1));
    if (armed_ && at >= armed_at_) return;
    armed_ = true;
    armed_at_ = at;
    timer_.expires_at(at);
    timer_.async_wait([this, alive = std::weak_ptr<bool>(alive_)](const boost::system::error_code& ec) {
      if (ec || !alive.lock()) return;
      armed_ = false;
      client_.on_tick();
      rearm();
    });
  }

private:
  IoExecutor executor_;
  SystemClock clock_;
  AsioTransport transport_;
  Client client_;
  asio::steady_timer timer_;
  std::shared_ptr<bool> alive_;
  bool armed_ = false;
  TimePoint armed_at_{};
};

}  // namespace

Result<std::unique_ptr<AsioClient>, Error> make_asio_client(boost::asio::io_context& io, ClientConfig config) {
  auto c = std::make_unique<AsioClientImpl>(io, std::move(config));
  if (auto r = c->client().start(); !r.ok()) return std::move(r).error();
  c->rearm();
  return std::unique_ptr<AsioClient>(std::move(c));
}

}  // namespace mop::pulsar::client
