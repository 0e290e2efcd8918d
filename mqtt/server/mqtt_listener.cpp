#include "mqtt/server/mqtt_listener.hpp"

namespace mop::mqtt {

namespace asio = boost::asio;
using asio::ip::tcp;

MqttListener::MqttListener(asio::io_context& io, SessionRouter& router)
    : io_(io),
      router_(router),
      listener_(io, [&router](net::Stream& s) { return std::make_unique<ClientConnection>(router, s); }, "mqtt") {}

MqttListener::~MqttListener() { stop_accepting(); }

Result<tcp::endpoint> MqttListener::listen(const std::string& host, std::uint16_t port) {
  auto bound = listener_.listen(host, port);
  if (bound.ok()) start_ticking();
  return bound;
}

Result<tcp::endpoint> MqttListener::listen(const std::string& scheme, net::Transport transport,
                                           std::shared_ptr<net::TlsContext> tls, net::WebSocketOptions ws,
                                           const std::string& host, std::uint16_t port) {
  auto listener = std::make_unique<net::SecureListener>(
      io_, [this](net::Stream& s) { return std::make_unique<ClientConnection>(router_, s); }, "mqtt", scheme,
      transport, std::move(tls), std::move(ws));
  listener->set_read_gate(gate_);
  listener->set_write_buffer_water_marks(high_, low_);
  auto bound = listener->listen(host, port);
  if (!bound.ok()) return bound;
  secure_.push_back(std::move(listener));
  start_ticking();
  return bound;
}

void MqttListener::start_ticking() {
  if (tick_timer_) return;
  tick_timer_ = std::make_shared<asio::steady_timer>(io_);
  ticking_ = std::make_shared<bool>(true);
  arm_tick();
}

void MqttListener::arm_tick() {
  tick_timer_->expires_after(std::chrono::seconds(1));
  tick_timer_->async_wait([this, timer = tick_timer_, ticking = ticking_](boost::system::error_code ec) {
    if (ec || !*ticking) return;  // stopped: `this` may be gone
    router_.tick();
    arm_tick();
  });
}

void MqttListener::stop_accepting() {
  if (tick_timer_) {
    *ticking_ = false;
    tick_timer_->cancel();
  }
  listener_.stop_accepting();
  for (auto& l : secure_) l->stop_accepting();
}

}  // namespace mop::mqtt
