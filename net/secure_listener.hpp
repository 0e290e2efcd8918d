#pragma once
// The listeners for the transports layered on TCP: TLS (OpenSSL 3 on the socket, Asio waiting),
// WebSocket (Boost.Beast, binary messages) and WebSocket over TLS. Each connection is a
// net::Stream like TcpListener's, so the protocols do not know which transport carries them.
//
// Unlike TcpListener's connections, these read through their layer (TLS records and WebSocket
// frames are decoded by it, not by the socket: TLS into the thread's buffer, WebSocket into a
// buffer of the connection's own, 2 or 16 KiB), and write each wakeup's output with one write of
// the layer. A connection's handler is created
// once the handshake (TLS, then for WebSocket the HTTP upgrade) is done; a handshake that fails
// or does not finish within the handshake timeout is logged and the socket closed, and it holds
// no other connection up: everything is asynchronous on the io_context.
//
// Thread: everything runs on the io_context's thread, which is also the protocol's.
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <list>
#include <memory>
#include <string>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>

#include "core/result.hpp"
#include "net/tcp.hpp"
#include "net/tls_context.hpp"

namespace mop::net {

enum class Transport { tls, ws, wss };

struct WebSocketOptions {
  std::string path = "/mqtt";  // the upgrade request's path (a query string is ignored)
  // Subprotocols offered; a client asking for others only is refused. A client asking for none
  // is accepted (browsers' MQTT clients always ask).
  std::vector<std::string> subprotocols{"mqtt", "mqttv3.1", "mqttv3.1.1", "mqttv5.0"};
  std::size_t max_message_size = 65535;  // bytes in one WebSocket message; larger: closed (1009)
};

class SecureConnectionBase;

class SecureListener {
public:
  using HandlerFactory = TcpListener::HandlerFactory;

  // `tls` is required for Transport::tls and ::wss and ignored for ::ws. `scheme` names the
  // listener in logs ("mqtt+ssl", "pulsar+ssl").
  SecureListener(boost::asio::io_context& io, HandlerFactory factory, std::string log_module, std::string scheme,
                 Transport transport, std::shared_ptr<TlsContext> tls, WebSocketOptions ws = {});
  ~SecureListener();
  SecureListener(const SecureListener&) = delete;
  SecureListener& operator=(const SecureListener&) = delete;

  // Binds host:port (port 0 picks a free one) and starts accepting; returns the bound endpoint.
  Result<boost::asio::ip::tcp::endpoint> listen(const std::string& host, std::uint16_t port);
  // Closes every acceptor and every connection still in its handshake; the others carry on.
  void stop_accepting();
  // Stops accepting and closes every connection (each handler sees on_closed()).
  void shutdown();
  std::size_t connection_count() const { return connections_.size(); }
  void set_read_gate(ReadGate* gate) { gate_ = gate; }
  void set_write_buffer_water_marks(std::size_t high, std::size_t low) {
    high_water_mark_ = high;
    low_water_mark_ = low;
  }
  void set_close_timeout(std::chrono::milliseconds timeout) { close_timeout_ = timeout; }
  // How long a TLS handshake and WebSocket upgrade may take before the socket is closed.
  void set_handshake_timeout(std::chrono::milliseconds timeout) { handshake_timeout_ = timeout; }
  const std::string& scheme() const { return scheme_; }

private:
  friend class SecureConnectionBase;
  template <typename Layer>
  friend class SecureConnection;
  void accept(boost::asio::ip::tcp::acceptor& acceptor);

  boost::asio::io_context& io_;
  HandlerFactory factory_;
  std::string log_module_;
  std::string scheme_;
  Transport transport_;
  std::shared_ptr<TlsContext> tls_;
  WebSocketOptions ws_;
  std::vector<std::unique_ptr<boost::asio::ip::tcp::acceptor>> acceptors_;
  std::list<std::weak_ptr<SecureConnectionBase>> connections_;
  ReadGate* gate_ = nullptr;
  std::size_t high_water_mark_ = 0;
  std::size_t low_water_mark_ = 0;
  std::chrono::milliseconds close_timeout_{5000};
  std::chrono::milliseconds handshake_timeout_{10000};
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

}  // namespace mop::net
