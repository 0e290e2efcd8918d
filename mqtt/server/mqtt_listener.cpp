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
  if (bound.ok() && !tick_timer_) {
    tick_timer_ = std::make_shared<asio::steady_timer>(io_);
    ticking_ = std::make_shared<bool>(true);
    arm_tick();
  }
  return bound;
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
}

}  // namespace mop::mqtt
