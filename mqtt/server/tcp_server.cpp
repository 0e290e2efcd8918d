#include "mqtt/server/tcp_server.hpp"

namespace mop::mqtt {

namespace asio = boost::asio;
using asio::ip::tcp;

namespace {

// One MQTT connection on a net::Stream: the router's ClientConnection sees it as its Transport,
// the stream sees the connection's Protocol as its handler.
class MqttStream final : public net::StreamHandler, public Transport {
public:
  MqttStream(SessionRouter& router, net::Stream& stream) : stream_(stream), client_(router, *this) {}

  // net::StreamHandler
  void on_bytes(std::span<const std::uint8_t> bytes) override { client_.protocol().on_bytes(bytes); }
  void on_closed() override { client_.protocol().on_closed(); }
  void on_tick() override { client_.protocol().on_tick(); }
  TimePoint next_deadline() const override { return client_.protocol().next_deadline(); }
  bool closed() const override { return client_.protocol().state() == Protocol::State::closed; }
  OutBuffer& output() override { return client_.protocol().output(); }
  void on_output_drained() override { client_.on_output_drained(); }

  // Transport
  void output_ready() override { stream_.output_ready(); }
  void close_after_flush() override { stream_.close_after_flush(); }
  std::string peer() const override { return stream_.peer(); }
  std::size_t queued_bytes() const override { return stream_.queued_bytes(); }

private:
  net::Stream& stream_;
  ClientConnection client_;
};

}  // namespace

TcpServer::TcpServer(asio::io_context& io, SessionRouter& router)
    : io_(io), router_(router),
      listener_(io, [&router](net::Stream& s) { return std::make_unique<MqttStream>(router, s); }, "mqtt") {}

TcpServer::~TcpServer() { stop_accepting(); }

Result<tcp::endpoint> TcpServer::listen(const std::string& host, std::uint16_t port) {
  auto bound = listener_.listen(host, port);
  if (bound && !tick_timer_) {
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
    router_.tick();
    arm_tick();
  });
}

void TcpServer::stop_accepting() {
  if (tick_timer_) {
    *ticking_ = false;
    tick_timer_->cancel();
  }
  listener_.stop_accepting();
}

}  // namespace mop::mqtt
