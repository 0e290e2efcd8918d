#pragma once
// MqttListener: MQTT on every mqttListeners entry: plain TCP (net::TcpListener), TLS, TLS-PSK,
// WebSocket and WebSocket over TLS (net::SecureListener). It binds each connection to a
// ClientConnection of the SessionRouter and drives the router's once-a-second tick.
//
// Thread: the io_context's thread, which is the router's.
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>

#include "core/result.hpp"
#include "mqtt/server/session_router.hpp"
#include "net/secure_listener.hpp"
#include "net/tcp.hpp"

namespace mop::mqtt {

class MqttListener {
public:
  MqttListener(boost::asio::io_context& io, SessionRouter& router);
  ~MqttListener();

  // Binds and starts accepting on host:port (port 0 picks a free one). Returns the bound
  // endpoint. Throws nothing: bind errors come back as the error code.
  Result<boost::asio::ip::tcp::endpoint> listen(const std::string& host, std::uint16_t port);
  // The same over another transport: `scheme` ("mqtt+ssl", "mqtt+ssl+psk", "ws", "ws+ssl") names
  // it in logs; `tls` is needed for every transport but ws. Set the read gate and water marks first.
  Result<boost::asio::ip::tcp::endpoint> listen(const std::string& scheme, net::Transport transport,
                                                std::shared_ptr<net::TlsContext> tls, net::WebSocketOptions ws,
                                                const std::string& host, std::uint16_t port);
  // Closes every acceptor; open connections carry on.
  void stop_accepting();
  // Connections stop reading while `gate` is closed (publish back-pressure).
  void set_read_gate(net::ReadGate* gate) {
    gate_ = gate;
    listener_.set_read_gate(gate);
  }
  // Per-connection read back-pressure on unwritten output (net::TcpListener's).
  void set_write_buffer_water_marks(std::size_t high, std::size_t low) {
    high_ = high;
    low_ = low;
    listener_.set_write_buffer_water_marks(high, low);
  }
  // Open connections now, on every transport (metrics).
  std::size_t connection_count() const {
    std::size_t n = listener_.connection_count();
    for (const auto& l : secure_) n += l->connection_count();
    return n;
  }

private:
  // Drives SessionRouter::tick (session expiry, delayed wills) once a second while listening.
  void arm_tick();
  void start_ticking();

  boost::asio::io_context& io_;
  SessionRouter& router_;
  net::TcpListener listener_;
  std::vector<std::unique_ptr<net::SecureListener>> secure_;
  net::ReadGate* gate_ = nullptr;
  std::size_t high_ = 0;
  std::size_t low_ = 0;
  std::shared_ptr<boost::asio::steady_timer> tick_timer_;
  std::shared_ptr<bool> ticking_;  // false once stopped: a handler already queued must not rearm
};

}  // namespace mop::mqtt
