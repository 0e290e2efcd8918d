#include "net/secure_listener.hpp"

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <optional>
#include <span>
#include <string_view>
#include <type_traits>
#include <utility>

#include <boost/asio/post.hpp>
#include <boost/asio/append.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/ssl/error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/websocket.hpp>
#include <fmt/format.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "core/log.hpp"

namespace mop::net {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace websocket = beast::websocket;
using asio::ip::tcp;
using error_code = boost::system::error_code;

namespace {

// A WebSocket connection's read buffer: small while reads are small (an idle connection waits
// with this much), large once a read fills it (a busy one reads in large pieces).
constexpr std::size_t kSmallReadBuffer = 2 * 1024;
constexpr std::size_t kReadBuffer = 16 * 1024;

// Errors that mean the peer sent something wrong (a bad TLS record or handshake, a bad or
// oversized WebSocket frame), as opposed to a peer that just went away.
bool is_bad_input(const error_code& ec) {
  // A TLS peer that closes its socket without close_notify (most MQTT clients after DISCONNECT)
  // just went away.
  if (ec == asio::ssl::error::stream_truncated) return false;
  return ec.category() == asio::error::get_ssl_category() || ec.category() == asio::ssl::error::get_stream_category() ||
         ec.category() == websocket::make_error_code(websocket::error::closed).category() ||
         ec.category() == http::make_error_code(http::error::end_of_stream).category();
}

// RFC 6455 4.2.1: the key must be 16 bytes in base64, which is 22 characters of the alphabet
// and "==" (Beast itself only refuses a missing key or one longer than 24 characters).
bool is_websocket_key(std::string_view key) {
  if (key.size() != 24 || key.substr(22) != "==") return false;
  return std::all_of(key.begin(), key.begin() + 22, [](char c) {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '+' || c == '/';
  });
}

// Where a TLS connection's reads land: one buffer per thread, as for plain TCP (an idle connection
// holds none; the handler copies what it keeps).
std::span<std::uint8_t> thread_read_buffer() {
  thread_local std::array<std::uint8_t, 64 * 1024> buffer;
  return buffer;
}

// Where a TLS write gathers small segments into one SSL_write (one TLS record per 16 KiB rather
// than one per segment); segments this large or larger are written from where they are.
constexpr std::size_t kWriteChunk = 16 * 1024;
std::span<std::uint8_t> thread_write_buffer() {
  thread_local std::array<std::uint8_t, kWriteChunk> buffer;
  return buffer;
}

struct SslFree {
  void operator()(SSL* ssl) const { SSL_free(ssl); }
};

// OpenSSL driven on the non-blocking socket itself (SSL_set_fd), Asio only waiting for readiness:
// the session, its handshake and what OpenSSL's answers ask for. TlsLayer reads and writes it its
// own way (below); for ws+ssl it is the Asio AsyncStream under Beast's websocket::stream, in place
// of Asio's ssl::stream and its buffers. A read or write here is tried at once and waits for the
// socket only when OpenSSL asks (WANT_READ after the socket said EAGAIN, so an edge-triggered
// wait cannot miss bytes); completions are posted, never run inside the call that started them.
class TlsSocket {
public:
  using executor_type = tcp::socket::executor_type;

  TlsSocket(tcp::socket socket, std::shared_ptr<asio::ssl::context> ctx)
      : ctx_(std::move(ctx)), socket_(std::move(socket)), ssl_(SSL_new(ctx_->native_handle())) {
    error_code ec;
    socket_.non_blocking(true, ec);
    if (ssl_ && (ec || SSL_set_fd(ssl_.get(), socket_.native_handle()) != 1)) ssl_.reset();
    if (!ssl_) return;
    SSL_set_accept_state(ssl_.get());
    // A write that OpenSSL could not finish is retried with the same bytes rebuilt in the thread's
    // buffer, so the address may move; partial writes let each record count as written.
    SSL_set_mode(ssl_.get(), SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
  }
  executor_type get_executor() { return socket_.get_executor(); }
  tcp::socket& socket() { return socket_; }
  SSL* ssl() { return ssl_.get(); }

  // h(error)
  template <typename H>
  void async_handshake(H h) {
    if (!ssl_) return complete(std::move(h), error_code(asio::error::no_memory));
    if (!socket_.is_open()) return complete(std::move(h), error_code(asio::error::operation_aborted));
    ERR_clear_error();
    const int r = SSL_do_handshake(ssl_.get());
    if (r == 1) return complete(std::move(h), error_code());
    error_code ec;
    const auto want = wants(r, ec);
    if (ec) return complete(std::move(h), ec);
    socket_.async_wait(want, [this, h = std::move(h)](error_code wec) mutable {
      if (wec) return h(wec);
      async_handshake(std::move(h));
    });
  }

  template <typename Buffers, typename Token>
  auto async_read_some(const Buffers& buffers, Token&& token) {
    return asio::async_initiate<Token, void(error_code, std::size_t)>(
        [this](auto handler, const Buffers& b) { this->read_now(std::move(handler), b); }, token, buffers);
  }

  template <typename Buffers, typename Token>
  auto async_write_some(const Buffers& buffers, Token&& token) {
    return asio::async_initiate<Token, void(error_code, std::size_t)>(
        [this](auto handler, const Buffers& b) { this->write_now(std::move(handler), b); }, token, buffers);
  }

  // Beast's teardown: close_notify if the socket takes it now, then the socket closes.
  void close() {
    if (ssl_ && socket_.is_open()) {
      ERR_clear_error();
      SSL_shutdown(ssl_.get());
      ERR_clear_error();
    }
    error_code ec;
    socket_.shutdown(tcp::socket::shutdown_both, ec);
    socket_.close(ec);
  }

  // What OpenSSL's answer r (<= 0) asks for: a wait for the socket, or an error in `ec`.
  tcp::socket::wait_type wants(int r, error_code& ec) {
    const int err = SSL_get_error(ssl_.get(), r);
    if (err == SSL_ERROR_WANT_READ) return tcp::socket::wait_read;
    if (err == SSL_ERROR_WANT_WRITE) return tcp::socket::wait_write;
    const unsigned long e = ERR_get_error();
    if (err == SSL_ERROR_ZERO_RETURN) {
      ec = asio::error::eof;
    } else if (e != 0 && ERR_GET_REASON(e) == SSL_R_UNEXPECTED_EOF_WHILE_READING) {
      ec = asio::ssl::error::stream_truncated;
    } else if (e != 0) {
      ec = error_code(static_cast<int>(e), asio::error::get_ssl_category());
    } else if (err == SSL_ERROR_SYSCALL && errno != 0) {
      ec = error_code(errno, asio::error::get_system_category());
    } else {
      ec = asio::ssl::error::stream_truncated;
    }
    ERR_clear_error();
    return tcp::socket::wait_read;
  }

private:
  template <typename H, typename... Args>
  void complete(H h, Args... args) {
    asio::post(socket_.get_executor(), asio::append(std::move(h), args...));
  }

  template <typename H, typename Buffers>
  void read_now(H h, const Buffers& buffers) {
    if (!socket_.is_open()) return complete(std::move(h), error_code(asio::error::operation_aborted), std::size_t{0});
    asio::mutable_buffer into;
    for (auto it = asio::buffer_sequence_begin(buffers); it != asio::buffer_sequence_end(buffers); ++it) {
      const asio::mutable_buffer b = *it;
      if (b.size() > 0) {
        into = b;
        break;
      }
    }
    if (into.size() == 0) return complete(std::move(h), error_code(), std::size_t{0});
    ERR_clear_error();
    const int r = SSL_read(ssl_.get(), into.data(), static_cast<int>(std::min<std::size_t>(into.size(), 1 << 30)));
    if (r > 0) return complete(std::move(h), error_code(), static_cast<std::size_t>(r));
    error_code ec;
    const auto want = wants(r, ec);
    if (ec) return complete(std::move(h), ec, std::size_t{0});
    socket_.async_wait(want, [this, h = std::move(h), buffers](error_code wec) mutable {
      if (wec) return h(wec, std::size_t{0});
      read_now(std::move(h), buffers);
    });
  }

  // The first bytes of `buffers`: the first buffer as it is when it is large, else small ones
  // gathered into the thread's buffer (one TLS record for a frame header and its payload). The
  // same buffers give the same bytes, as OpenSSL needs when a write is retried.
  template <typename H, typename Buffers>
  void write_now(H h, const Buffers& buffers) {
    if (!socket_.is_open()) return complete(std::move(h), error_code(asio::error::operation_aborted), std::size_t{0});
    const auto chunk = thread_write_buffer();
    const std::uint8_t* data = nullptr;
    std::size_t len = 0;
    for (auto it = asio::buffer_sequence_begin(buffers); it != asio::buffer_sequence_end(buffers); ++it) {
      const asio::const_buffer b = *it;
      if (b.size() == 0) continue;
      if (len == 0 && b.size() >= kWriteChunk) {
        data = static_cast<const std::uint8_t*>(b.data());
        len = b.size();
        break;
      }
      const std::size_t take = std::min(b.size(), chunk.size() - len);
      std::memcpy(chunk.data() + len, b.data(), take);
      len += take;
      data = chunk.data();
      if (len == chunk.size()) break;
    }
    if (len == 0) return complete(std::move(h), error_code(), std::size_t{0});
    ERR_clear_error();
    const int r = SSL_write(ssl_.get(), data, static_cast<int>(std::min<std::size_t>(len, 1 << 30)));
    if (r > 0) return complete(std::move(h), error_code(), static_cast<std::size_t>(r));
    error_code ec;
    const auto want = wants(r, ec);
    if (ec) return complete(std::move(h), ec, std::size_t{0});
    socket_.async_wait(want, [this, h = std::move(h), buffers](error_code wec) mutable {
      if (wec) return h(wec, std::size_t{0});
      write_now(std::move(h), buffers);
    });
  }

  std::shared_ptr<asio::ssl::context> ctx_;  // the SSL_CTX ssl_ was made from
  tcp::socket socket_;
  std::unique_ptr<SSL, SslFree> ssl_;
};

// TLS over TCP on TlsSocket, reading into the thread's buffer. Asio's ssl::stream would keep two 17 KiB buffers and a BIO pair of two more per
// connection; here an idle connection holds only OpenSSL's SSL (its record buffers released while
// idle, SSL_MODE_RELEASE_BUFFERS) and reads land in the thread's buffer.
class TlsLayer {
public:
  TlsLayer(tcp::socket socket, std::shared_ptr<asio::ssl::context> ctx, const WebSocketOptions&)
      : tls_(std::move(socket), std::move(ctx)) {}
  tcp::socket& socket() { return tls_.socket(); }
  SSL* ssl() { return tls_.ssl(); }

  template <typename H>
  void handshake(H h) {
    if (!tls_.ssl()) {
      return asio::post(socket_.get_executor(), [h = std::move(h)]() mutable {
        h(error_code(asio::error::no_memory), std::string("cannot make an OpenSSL session"));
      });
    }
    tls_.async_handshake([h = std::move(h)](error_code ec) mutable { h(ec, std::string()); });
  }

  // h(error, bytes): the bytes are the thread's buffer, valid until h returns.
  template <typename H>
  void read_some(H h) {
    // Asio's epoll registration is edge-triggered: only a read that ended at EAGAIN may wait for
    // the socket. Bytes left in the socket (after the handshake, or a full buffer) or held by
    // OpenSSL (decrypted, or a record read in part) are read now.
    if (!drained_ || SSL_has_pending(tls_.ssl()) == 1)
      return asio::post(socket_.get_executor(), [this, h = std::move(h)]() mutable { read_now(std::move(h)); });
    socket_.async_wait(tcp::socket::wait_read, [this, h = std::move(h)](error_code ec) mutable {
      if (ec) return h(ec, std::span<const std::uint8_t>());
      read_now(std::move(h));
    });
  }

  template <typename B, typename H>
  void write(const B& buffers, H h) {
    write_buffers_ = &buffers;  // the connection keeps them until h runs
    write_index_ = 0;
    write_offset_ = 0;
    written_ = 0;
    write_more(std::move(h));
  }

  template <typename H>
  void goodbye(H h) {
    h();
  }

private:
  template <typename H>
  void read_now(H h) {
    if (!socket_.is_open()) return h(error_code(asio::error::operation_aborted), std::span<const std::uint8_t>());
    const auto buffer = thread_read_buffer();
    std::size_t n = 0;
    error_code ec;
    auto want = tcp::socket::wait_read;
    // As many records as the buffer takes and the socket has.
    drained_ = false;
    while (n < buffer.size()) {
      ERR_clear_error();
      const int r = SSL_read(tls_.ssl(), buffer.data() + n, static_cast<int>(buffer.size() - n));
      if (r <= 0) {
        want = tls_.wants(r, ec);
        drained_ = !ec && want == tcp::socket::wait_read;
        break;
      }
      n += static_cast<std::size_t>(r);
    }
    // Bytes first; an error is reported by the next read (OpenSSL answers the same again).
    if (n > 0) return h(error_code(), std::span<const std::uint8_t>(buffer.data(), n));
    if (ec) return h(ec, std::span<const std::uint8_t>());
    socket_.async_wait(want, [this, h = std::move(h)](error_code wec) mutable {
      if (wec) return h(wec, std::span<const std::uint8_t>());
      read_now(std::move(h));
    });
  }

  template <typename H>
  void write_more(H h) {
    const auto& bufs = *write_buffers_;
    while (true) {
      while (write_index_ < bufs.size() && write_offset_ == bufs[write_index_].size()) {
        ++write_index_;
        write_offset_ = 0;
      }
      if (write_index_ == bufs.size() || !socket_.is_open()) {
        const error_code ec = socket_.is_open() ? error_code() : error_code(asio::error::operation_aborted);
        return asio::post(socket_.get_executor(),
                          [h = std::move(h), ec, n = written_]() mutable { h(ec, n); });
      }
      // The next chunk, from the current position: a large segment as it is, small ones gathered.
      // The same position gives the same bytes, as OpenSSL needs when a write is retried.
      const auto* first = static_cast<const std::uint8_t*>(bufs[write_index_].data()) + write_offset_;
      const std::size_t first_left = bufs[write_index_].size() - write_offset_;
      const std::uint8_t* data = first;
      std::size_t len = first_left;
      if (first_left < kWriteChunk) {
        const auto chunk = thread_write_buffer();
        len = 0;
        std::size_t i = write_index_, off = write_offset_;
        while (i < bufs.size() && len < chunk.size()) {
          const std::size_t take = std::min(bufs[i].size() - off, chunk.size() - len);
          std::memcpy(chunk.data() + len, static_cast<const std::uint8_t*>(bufs[i].data()) + off, take);
          len += take;
          off = 0;
          ++i;
        }
        data = chunk.data();
      }
      ERR_clear_error();
      const int r = SSL_write(tls_.ssl(), data, static_cast<int>(std::min<std::size_t>(len, 1 << 30)));
      if (r <= 0) {
        error_code ec;
        const auto want = tls_.wants(r, ec);
        if (ec) return asio::post(socket_.get_executor(), [h = std::move(h), ec, n = written_]() mutable { h(ec, n); });
        return socket_.async_wait(want, [this, h = std::move(h)](error_code wec) mutable {
          if (wec) return h(wec, written_);
          write_more(std::move(h));
        });
      }
      // Advance over what was taken.
      std::size_t left = static_cast<std::size_t>(r);
      written_ += left;
      while (left > 0) {
        const std::size_t take = std::min(left, bufs[write_index_].size() - write_offset_);
        write_offset_ += take;
        left -= take;
        if (write_offset_ == bufs[write_index_].size() && left > 0) {
          ++write_index_;
          write_offset_ = 0;
        }
      }
    }
  }

  TlsSocket tls_;
  tcp::socket& socket_ = tls_.socket();
  const std::vector<asio::const_buffer>* write_buffers_ = nullptr;
  std::size_t write_index_ = 0;
  std::size_t write_offset_ = 0;
  std::size_t written_ = 0;
  bool drained_ = false;  // the last read ended at EAGAIN: the next one waits for the socket
};

// Found by Beast (argument-dependent lookup) to end a ws+ssl connection, and to close its socket
// on errors and timeouts.
void beast_close_socket(TlsSocket& stream) { stream.close(); }
template <typename H>
void async_teardown(beast::role_type, TlsSocket& stream, H&& handler) {
  stream.close();
  asio::post(stream.get_executor(), asio::append(std::forward<H>(handler), error_code()));
}

// WebSocket over TCP (Next = tcp::socket) or over TLS (Next = TlsSocket): the HTTP upgrade is
// read and checked here (path, subprotocol), Beast accepts it and frames the binary messages.
template <typename Next>
class WsLayer {
public:
  static constexpr bool secure = std::is_same_v<Next, TlsSocket>;

  WsLayer(tcp::socket socket, std::shared_ptr<asio::ssl::context> ctx, const WebSocketOptions& options)
    requires secure
      : ws_(std::move(socket), std::move(ctx)), options_(options) {
    // Beast reads a frame header and payload in pieces of 1.5 KiB and up: OpenSSL reading ahead
    // takes what the socket has in one read(2) instead of two per record.
    if (SSL* s = ws_.next_layer().ssl()) SSL_set_read_ahead(s, 1);
  }
  WsLayer(tcp::socket socket, std::shared_ptr<asio::ssl::context>, const WebSocketOptions& options)
    requires(!secure)
      : ws_(std::move(socket)), options_(options) {}

  tcp::socket& socket() {
    if constexpr (secure)
      return ws_.next_layer().socket();
    else
      return ws_.next_layer();
  }
  SSL* ssl() {
    if constexpr (secure)
      return ws_.next_layer().ssl();
    else
      return nullptr;
  }

  template <typename H>
  void handshake(H h) {
    if constexpr (secure) {
      ws_.next_layer().async_handshake([this, h = std::move(h)](error_code ec) mutable {
        if (ec) return h(ec, std::string());
        upgrade(std::move(h));
      });
    } else {
      upgrade(std::move(h));
    }
  }
  // h(error, bytes): the bytes are this layer's buffer, valid until h returns. Beast needs a
  // buffer of the connection's own while the read waits: 2 KiB, or 16 KiB after a read that
  // filled the buffer, until one that did not.
  template <typename H>
  void read_some(H h) {
    const std::size_t size = last_read_full_ ? kReadBuffer : kSmallReadBuffer;
    if (read_size_ != size) {
      read_buffer_.reset(new std::uint8_t[size]);
      read_size_ = size;
    }
    ws_.async_read_some(asio::buffer(read_buffer_.get(), read_size_),
                        [this, h = std::move(h)](error_code ec, std::size_t n) mutable {
                          last_read_full_ = !ec && n == read_size_;
                          h(ec, std::span<const std::uint8_t>(read_buffer_.get(), n));
                        });
  }
  template <typename B, typename H>
  void write(const B& buffers, H h) {
    ws_.async_write(buffers, std::move(h));
  }
  // A close frame (1000), then the socket closes.
  template <typename H>
  void goodbye(H h) {
    if (!ws_.is_open()) return h();
    ws_.async_close(websocket::close_code::normal, [h = std::move(h)](error_code) mutable { h(); });
  }

private:
  template <typename H>
  void upgrade(H h) {
    parser_.emplace();
    parser_->header_limit(8 * 1024);
    http::async_read(ws_.next_layer(), buffer_, *parser_, [this, h = std::move(h)](error_code ec, std::size_t) mutable {
      if (ec) return h(ec, std::string());
      const auto& req = parser_->get();
      if (!websocket::is_upgrade(req))
        return refuse(http::status::upgrade_required, "not a WebSocket upgrade request", std::move(h));
      std::string_view target = req.target();
      target = target.substr(0, target.find('?'));
      if (target != options_.path)
        return refuse(http::status::not_found,
                      fmt::format("path \"{}\" is not the WebSocket path \"{}\"", target, options_.path), std::move(h));
      if (const std::string_view key = req[http::field::sec_websocket_key]; !is_websocket_key(key))
        return refuse(http::status::bad_request,
                      key.empty() ? std::string("no Sec-WebSocket-Key")
                                  : fmt::format("Sec-WebSocket-Key \"{}\" is not 16 bytes in base64", key.substr(0, 64)),
                      std::move(h));
      std::string chosen;
      const std::string_view asked = req[http::field::sec_websocket_protocol];
      std::size_t start = 0;
      while (chosen.empty() && start < asked.size()) {
        auto end = std::min(asked.find(',', start), asked.size());
        auto item = asked.substr(start, end - start);
        while (!item.empty() && item.front() == ' ') item.remove_prefix(1);
        while (!item.empty() && item.back() == ' ') item.remove_suffix(1);
        for (const auto& offered : options_.subprotocols)
          if (item == offered) chosen = offered;
        start = end + 1;
      }
      if (!asked.empty() && chosen.empty())
        return refuse(http::status::bad_request,
                      fmt::format("none of the subprotocols \"{}\" is served (mqtt, mqttv3.1, mqttv3.1.1, mqttv5.0)",
                                  asked),
                      std::move(h));
      ws_.set_option(websocket::stream_base::decorator([chosen](websocket::response_type& res) {
        res.set(http::field::server, "mop");
        if (!chosen.empty()) res.set(http::field::sec_websocket_protocol, chosen);
      }));
      ws_.binary(true);
      ws_.auto_fragment(false);
      ws_.read_message_max(options_.max_message_size);
      ws_.async_accept(req, [this, h = std::move(h)](error_code ec) mutable {
        // The request and its buffer are not needed again: an idle connection does not keep them.
        parser_.reset();
        buffer_ = beast::flat_buffer();
        h(ec, std::string());
      });
    });
  }

  // Answers the upgrade request with `status` and the reason, then the handshake fails with it.
  template <typename H>
  void refuse(http::status status, std::string why, H h) {
    refusal_.result(status);
    refusal_.version(11);
    refusal_.set(http::field::server, "mop");
    refusal_.set(http::field::content_type, "text/plain");
    refusal_.keep_alive(false);
    refusal_.body() = why + "\n";
    refusal_.prepare_payload();
    http::async_write(ws_.next_layer(), refusal_, [h = std::move(h), why](error_code, std::size_t) mutable {
      h(error_code(), why);
    });
  }

  std::shared_ptr<asio::ssl::context> ctx_;
  websocket::stream<Next> ws_;
  WebSocketOptions options_;
  std::unique_ptr<std::uint8_t[]> read_buffer_;  // WebSocket messages' bytes
  std::size_t read_size_ = 0;
  bool last_read_full_ = false;
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::empty_body>> parser_;
  http::response<http::string_body> refusal_;
};

}  // namespace

// What the listener's registry holds, whatever the layer.
class SecureConnectionBase : public Stream, public GateWaiter {
public:
  virtual void shutdown() = 0;
  // Closes the connection if its handshake is not done yet (the listener stops accepting).
  virtual void abort_handshake() = 0;
};

template <typename Layer>
class SecureConnection final : public SecureConnectionBase,
                               public std::enable_shared_from_this<SecureConnection<Layer>> {
public:
  SecureConnection(SecureListener& listener, tcp::socket socket, std::string peer,
                   std::shared_ptr<asio::ssl::context> ctx)
      : layer_(std::move(socket), std::move(ctx), listener.ws_), timer_(listener.io_), listener_(&listener),
        listener_alive_(listener.alive_), log_module_(listener.log_module_), scheme_(listener.scheme_),
        gate_(listener.gate_), pause_(listener.high_water_mark_, listener.low_water_mark_),
        close_timeout_(listener.close_timeout_), peer_(std::move(peer)) {}

  void start(std::list<std::weak_ptr<SecureConnectionBase>>::iterator pos, std::chrono::milliseconds handshake_timeout) {
    registry_pos_ = pos;
    timer_.expires_after(handshake_timeout);
    timer_.async_wait([self = this->shared_from_this(), handshake_timeout](error_code ec) {
      if (ec || self->shut_ || self->handler_) return;
      log::get(self->log_module_)
          ->warn("{} handshake with {} not done after {} ms: closed", self->scheme_, self->peer_,
                 handshake_timeout.count());
      self->shutdown_socket();
    });
    layer_.handshake([self = this->shared_from_this()](error_code ec, std::string refusal) {
      self->on_handshake(ec, refusal);
    });
  }

  // Stream
  void deadline_changed() override {
    if (!closing_ && handler_ && !shut_ && handler_->next_deadline() < timer_.expiry()) arm_timer();
  }

  void input_released() override {
    if (!shut_ && handler_ && pause_.after_release(queued_bytes()) && !handler_->closed()) read_on();
  }

  void output_ready() override {
    if (writing_ || flush_posted_ || shut_) return;
    flush_posted_ = true;
    asio::post(timer_.get_executor(), [self = this->shared_from_this()] {
      self->flush_posted_ = false;
      self->flush();
    });
  }

  void close_after_flush() override {
    if (!closing_) {
      timer_.expires_after(close_timeout_);
      timer_.async_wait([self = this->shared_from_this()](error_code ec) {
        if (!ec && !self->shut_) self->lost();
      });
    }
    closing_ = true;
    if (!writing_ && !flush_posted_ && !shut_)
      asio::post(timer_.get_executor(), [self = this->shared_from_this()] { self->flush(); });
  }

  const std::string& peer() const override { return peer_; }
  std::size_t queued_bytes() const override { return writing_bytes_ + (handler_ ? handler_->output().bytes() : 0); }
  std::optional<std::string> peer_certificate_cn() const override { return peer_cn_; }

  void shutdown() override { lost(); }
  void abort_handshake() override {
    if (!handler_) shutdown_socket();
  }
  void resume() override {
    if (!shut_ && handler_ && !handler_->closed()) read();
  }

private:
  void on_handshake(const error_code& ec, const std::string& refusal) {
    if (shut_) return;
    if (ec || !refusal.empty()) {
      const std::string why = refusal.empty() ? ec.message() : refusal;
      if (refusal.empty() && !is_bad_input(ec))
        log::get(log_module_)->debug("{} handshake with {} ended: {}", scheme_, peer_, why);
      else
        log::get(log_module_)->warn("{} handshake with {} refused: {}", scheme_, peer_, why);
      return shutdown_socket();
    }
    if (SSL* ssl = layer_.ssl()) peer_cn_ = verified_certificate_cn(ssl);
    handler_ = listener_alive_.expired() ? nullptr : listener_->factory_(*this);
    if (!handler_) return shutdown_socket();
    read();
    arm_timer();
  }

  void read() {
    if (reading_ || shut_) return;
    reading_ = true;
    layer_.read_some([self = this->shared_from_this()](error_code ec, std::span<const std::uint8_t> bytes) {
      self->reading_ = false;
      self->on_read(ec, bytes);
    });
  }

  void on_read(const error_code& ec, std::span<const std::uint8_t> bytes) {
    if (shut_) return;
    if (ec) {
      if (is_bad_input(ec) && ec != websocket::error::closed)
        log::get(log_module_)->warn("{} connection from {} closed: {}", scheme_, peer_, ec.message());
      return lost();
    }
    handler_->on_bytes(bytes);
    if (shut_ || handler_->closed()) return;
    if (pause_.after_read(*handler_, queued_bytes())) read_on();
    if (!closing_ && handler_->next_deadline() < timer_.expiry()) arm_timer();
  }

  void read_on() {
    if (gate_ != nullptr && gate_->closed())
      gate_->wait(this->weak_from_this());
    else
      read();
  }

  void read_on_if_drained() {
    if (!shut_ && pause_.after_write([this] { return queued_bytes(); }) && !handler_->closed()) read_on();
  }

  void lost() {
    if (shut_) return;
    if (handler_) handler_->on_closed();
    shutdown_socket();
  }

  void arm_timer() {
    if (closing_) return;
    timer_.expires_at(handler_->next_deadline());
    timer_.async_wait([self = this->shared_from_this()](error_code ec) {
      if (ec || self->shut_ || self->closing_) return;
      self->handler_->on_tick();
      if (!self->handler_->closed()) self->arm_timer();
    });
  }

  void flush() {
    if (shut_ || writing_ || !handler_) return;
    auto& out = handler_->output();
    if (out.empty()) {
      if (closing_) {
        writing_ = true;  // nothing else is written after the goodbye
        layer_.goodbye([self = this->shared_from_this()] { self->shutdown_socket(); });
      } else {
        handler_->on_output_drained();
      }
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
    layer_.write(buffers_, [self = this->shared_from_this()](error_code ec, std::size_t) {
      self->writing_ = false;
      self->writing_bytes_ = 0;
      // Capacity too: an idle connection keeps nothing from its last write.
      self->segments_ = {};
      self->buffers_ = {};
      if (self->shut_) return;
      if (ec) return self->lost();
      self->read_on_if_drained();
      self->flush();
    });
  }

  void shutdown_socket() {
    if (shut_) return;
    shut_ = true;
    error_code ec;
    layer_.socket().shutdown(tcp::socket::shutdown_both, ec);
    layer_.socket().close(ec);
    timer_.cancel();
    if (!listener_alive_.expired()) listener_->connections_.erase(registry_pos_);
  }

  Layer layer_;
  asio::steady_timer timer_;
  SecureListener* listener_;
  std::weak_ptr<bool> listener_alive_;
  std::string log_module_;
  std::string scheme_;
  ReadGate* gate_;
  ReadPause pause_;
  std::chrono::milliseconds close_timeout_;
  std::string peer_;
  std::optional<std::string> peer_cn_;
  std::list<std::weak_ptr<SecureConnectionBase>>::iterator registry_pos_;
  std::vector<OutBuffer::Segment> segments_;
  std::vector<asio::const_buffer> buffers_;
  std::size_t writing_bytes_ = 0;
  bool reading_ = false;
  bool writing_ = false;
  bool flush_posted_ = false;
  bool closing_ = false;
  bool shut_ = false;
  // Last, so destroyed first, as in TcpConnection: a handler destroyed without having been closed
  // may still use its Stream (this) from its destructor.
  std::unique_ptr<StreamHandler> handler_;
};

SecureListener::SecureListener(asio::io_context& io, HandlerFactory factory, std::string log_module, std::string scheme,
                               Transport transport, std::shared_ptr<TlsContext> tls, WebSocketOptions ws)
    : io_(io), factory_(std::move(factory)), log_module_(std::move(log_module)), scheme_(std::move(scheme)),
      transport_(transport), tls_(std::move(tls)), ws_(std::move(ws)) {}

SecureListener::~SecureListener() {
  stop_accepting();
  *alive_ = false;
  alive_.reset();
}

Result<tcp::endpoint> SecureListener::listen(const std::string& host, std::uint16_t port) {
  auto bound = open_acceptor(io_, host, port, acceptors_);
  if (bound.ok()) accept(*acceptors_.back());
  return bound;
}

void SecureListener::accept(tcp::acceptor& acceptor) {
  acceptor.async_accept([this, &acceptor, alive = std::weak_ptr<bool>(alive_)](error_code ec, tcp::socket socket) {
    if (alive.expired() || ec == asio::error::operation_aborted || !acceptor.is_open()) return;
    if (ec) {
      log::get(log_module_)->warn("{} accept failed: {}", scheme_, ec.message());
      auto timer = std::make_shared<asio::steady_timer>(io_, std::chrono::milliseconds(100));
      timer->async_wait([this, &acceptor, timer, alive](error_code) {
        if (!alive.expired() && acceptor.is_open()) accept(acceptor);
      });
      return;
    }
    error_code pec;
    const auto ep = socket.remote_endpoint(pec);
    std::string peer = pec ? "?" : fmt::format("{}:{}", ep.address().to_string(), ep.port());
    socket.set_option(tcp::no_delay(true), pec);
    std::shared_ptr<asio::ssl::context> ctx = tls_ ? tls_->current() : nullptr;
    auto pos = connections_.emplace(connections_.end());  // filled in once the connection exists
    auto start = [&](auto conn) {
      *pos = conn;
      conn->start(pos, handshake_timeout_);
    };
    switch (transport_) {
      case Transport::tls:
        start(std::make_shared<SecureConnection<TlsLayer>>(*this, std::move(socket), std::move(peer), ctx));
        break;
      case Transport::ws:
        start(std::make_shared<SecureConnection<WsLayer<tcp::socket>>>(*this, std::move(socket), std::move(peer), ctx));
        break;
      case Transport::wss:
        start(std::make_shared<SecureConnection<WsLayer<TlsSocket>>>(*this, std::move(socket), std::move(peer), ctx));
        break;
    }
    accept(acceptor);
  });
}

void SecureListener::stop_accepting() {
  for (auto& a : acceptors_) {
    error_code ec;
    a->close(ec);
  }
  // Connections still in their handshake have no protocol to close them: they go now.
  std::vector<std::shared_ptr<SecureConnectionBase>> open;
  for (const auto& w : connections_)
    if (auto c = w.lock()) open.push_back(std::move(c));
  for (auto& c : open) c->abort_handshake();
}

void SecureListener::shutdown() {
  stop_accepting();
  std::vector<std::shared_ptr<SecureConnectionBase>> open;
  for (const auto& w : connections_)
    if (auto c = w.lock()) open.push_back(std::move(c));
  for (auto& c : open) c->shutdown();
  connections_.clear();
}

}  // namespace mop::net
