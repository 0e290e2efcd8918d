#include "loadgen/ws_client.hpp"

#include <array>
#include <boost/asio/buffer.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/websocket.hpp>
#include <boost/beast/websocket/ssl.hpp>
#include <optional>
#include <type_traits>

namespace mop::loadgen {

namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace websocket = beast::websocket;
using boost::asio::ip::tcp;
using error_code = boost::system::error_code;

constexpr std::size_t kReadBuffer = 16 * 1024;

// The broker's close frame and a plain EOF read the same to the caller: the broker closed.
error_code plain(const error_code& ec) {
  if (ec == websocket::error::closed || ec == asio::ssl::error::stream_truncated) return asio::error::eof;
  return ec;
}

// Next: tcp::socket& (ws) or asio::ssl::stream<tcp::socket&> (wss).
template <typename Next>
class WsOver final : public WsClient {
public:
  static constexpr bool secure = !std::is_reference_v<Next>;

  explicit WsOver(tcp::socket& socket) requires(!secure) : ws_(std::in_place, socket) {}
  WsOver(tcp::socket& socket, SSL_CTX* tls) requires(secure) : ctx_(std::in_place, (SSL_CTX_up_ref(tls), tls)) {
    ws_.emplace(socket, *ctx_);
  }

  void handshake(const std::string& host, const std::string& path, Done done) override {
    if constexpr (secure) {
      ws_->next_layer().async_handshake(asio::ssl::stream_base::client,
                                        [this, host, path, done = std::move(done)](const error_code& ec) mutable {
                                          if (ec) return done(ec);
                                          upgrade(host, path, std::move(done));
                                        });
    } else {
      upgrade(host, path, std::move(done));
    }
  }

  void read_some(Bytes done) override {
    ws_->async_read_some(asio::buffer(buffer_), [this, done = std::move(done)](const error_code& ec, std::size_t n) {
      done(plain(ec), std::span<const std::uint8_t>(buffer_.data(), ec ? 0 : n));
    });
  }

  void write(std::string_view data, Done done) override {
    ws_->async_write(asio::buffer(data.data(), data.size()),
                     [done = std::move(done)](const error_code& ec, std::size_t) { done(plain(ec)); });
  }

  void write_now(std::string_view data) override {
    error_code ec;
    ws_->write(asio::buffer(data.data(), data.size()), ec);
  }

private:
  void upgrade(const std::string& host, const std::string& path, Done done) {
    ws_->set_option(websocket::stream_base::decorator(
        [](websocket::request_type& req) { req.set(beast::http::field::sec_websocket_protocol, "mqtt"); }));
    ws_->binary(true);
    ws_->auto_fragment(false);  // one frame per message, as the broker's
    ws_->async_handshake(host, path, [done = std::move(done)](const error_code& ec) { done(ec); });
  }

  std::optional<asio::ssl::context> ctx_;  // wss: owns a reference to the run's SSL_CTX
  std::optional<websocket::stream<Next>> ws_;
  std::array<std::uint8_t, kReadBuffer> buffer_;
};

}  // namespace

std::unique_ptr<WsClient> make_ws_client(tcp::socket& socket, SSL_CTX* tls) {
  if (tls == nullptr) return std::make_unique<WsOver<tcp::socket&>>(socket);
  return std::make_unique<WsOver<asio::ssl::stream<tcp::socket&>>>(socket, tls);
}

}  // namespace mop::loadgen
