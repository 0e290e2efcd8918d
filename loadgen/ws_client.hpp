#pragma once
// The client side of MQTT over WebSocket (`mop bench --ws`): Boost.Beast's websocket::stream on
// the connection's own TCP socket (ws://), or over Asio's ssl::stream on it (wss://). The socket
// stays the connection's (StreamConn's), so closing it ends every operation here.
//
// Unlike the plain and TLS paths of StreamConn, which wait for readiness and read into the
// thread's buffer, Beast's operations are asynchronous reads and writes: each connection reads
// message bytes into a 16 KiB buffer of its own and writes binary messages (engine_base.hpp).
// Beast is compiled in ws_client.cpp only; StreamConn sees this interface (one virtual call per
// read or write, not per message).
#include <openssl/ssl.h>

#include <boost/asio/ip/tcp.hpp>
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <string_view>

namespace mop::loadgen {

class WsClient {
public:
  using Done = std::function<void(const boost::system::error_code&)>;
  using Bytes = std::function<void(const boost::system::error_code&, std::span<const std::uint8_t>)>;
  virtual ~WsClient() = default;
  // wss: the TLS handshake first; then the HTTP upgrade to `host` `path`, asking for the
  // subprotocol "mqtt". `done` gets an error naming what failed (an upgrade refused with its
  // HTTP status).
  virtual void handshake(const std::string& host, const std::string& path, Done done) = 0;
  // Bytes of the next message(s), valid until `done` returns.
  virtual void read_some(Bytes done) = 0;
  // `data` as one binary message; it must stay valid and unchanged until `done` runs.
  virtual void write(std::string_view data, Done done) = 0;
  // A best-effort message written now, without waiting (the MQTT DISCONNECT at the end of a run);
  // only when no write() is in progress.
  virtual void write_now(std::string_view data) = 0;
};

// `tls`: null for ws://, the client context (its certificate checks included) for wss://.
std::unique_ptr<WsClient> make_ws_client(boost::asio::ip::tcp::socket& socket, SSL_CTX* tls);

}  // namespace mop::loadgen
