#include "http/server.hpp"

#include <list>
#include <optional>
#include <type_traits>

#include <boost/asio/ip/v6_only.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <boost/beast/version.hpp>

#include "core/log.hpp"

namespace mop::http {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
using tcp = asio::ip::tcp;

// What HttpServer::shutdown sees of a connection, plain or TLS.
class HttpSessionBase {
public:
  virtual ~HttpSessionBase() = default;
  virtual void close() = 0;
};

struct HttpServer::Shared {
  const Router& router;
  ServerOptions options;
  std::list<std::weak_ptr<HttpSessionBase>> sessions;
  bool stopped = false;
};

namespace {

using TlsStream = beast::ssl_stream<beast::tcp_stream>;

// One connection: requests read and answered one after another. `S` is beast::tcp_stream (http)
// or TlsStream (https).
template <typename S>
class HttpSession final : public HttpSessionBase, public std::enable_shared_from_this<HttpSession<S>> {
public:
  static constexpr bool kTls = std::is_same_v<S, TlsStream>;

  HttpSession(tcp::socket socket, std::shared_ptr<HttpServer::Shared> shared,
              std::shared_ptr<asio::ssl::context> ctx)
      : ctx_(std::move(ctx)), stream_(make_stream(std::move(socket), ctx_.get())), shared_(std::move(shared)) {
    boost::system::error_code ec;
    const auto remote = beast::get_lowest_layer(stream_).socket().remote_endpoint(ec);
    if (!ec) peer_ = remote.address().to_string() + ":" + std::to_string(remote.port());
  }
  ~HttpSession() override {
    if (registered_) shared_->sessions.erase(pos_);
  }

  void start(std::list<std::weak_ptr<HttpSessionBase>>::iterator pos) {
    pos_ = pos;
    registered_ = true;
    if constexpr (kTls) {
      // The handshake has the idle timeout: a client that stops half way is closed.
      beast::get_lowest_layer(stream_).expires_after(shared_->options.idle_timeout);
      stream_.async_handshake(asio::ssl::stream_base::server,
                              [self = this->shared_from_this()](beast::error_code ec) { self->on_handshake(ec); });
    } else {
      read();
    }
  }

  void close() override {
    auto& lowest = beast::get_lowest_layer(stream_);
    beast::error_code ec;
    lowest.socket().shutdown(tcp::socket::shutdown_both, ec);
    lowest.close();
  }

private:
  static S make_stream(tcp::socket socket, asio::ssl::context* ctx) {
    if constexpr (kTls) {
      return S(beast::tcp_stream(std::move(socket)), *ctx);
    } else {
      return S(std::move(socket));
    }
  }

  void on_handshake(beast::error_code ec) {
    if (ec) {
      const std::string why = ec == beast::error::timeout ? "not done within the idle timeout" : ec.message();
      log::get("http")->warn("https handshake with {} refused: {}", peer_, why);
      return close();
    }
    if constexpr (kTls) certificate_cn_ = net::verified_certificate_cn(stream_.native_handle());
    read();
  }

  void read() {
    parser_.emplace();
    parser_->body_limit(shared_->options.body_limit);
    parser_->header_limit(shared_->options.header_limit);
    beast::get_lowest_layer(stream_).expires_after(shared_->options.idle_timeout);
    bhttp::async_read(stream_, buffer_, *parser_,
                      [self = this->shared_from_this()](beast::error_code ec, std::size_t) { self->on_read(ec); });
  }

  void on_read(beast::error_code ec) {
    if (ec == bhttp::error::body_limit) {
      return reply(error_response(413, "request body too large"), 11, false);
    }
    if (ec == bhttp::error::header_limit) {
      return reply(error_response(431, "request header too large"), 11, false);
    }
    if (ec && ec.category() == bhttp::make_error_code(bhttp::error::bad_target).category() &&
        ec != bhttp::error::end_of_stream && ec != bhttp::error::partial_message) {
      // Bytes that are no HTTP request: say so, then close (the rest of the stream cannot be
      // framed).
      log::get("http")->warn("request from {} refused: {}", peer_, ec.message());
      return reply(error_response(400, "bad request: " + ec.message()), 11, false);
    }
    if (ec) return close();  // end of stream, a peer gone mid-request, idle timeout, reset
    auto req = parser_->release();
    Request request{std::string(req.method_string()), std::string(req.target()), std::move(req.body()),
                    std::string(req[bhttp::field::authorization]), certificate_cn_};
    const unsigned version = req.version();
    const bool keep_alive = req.keep_alive();
    // No timeout while the handler works (the health check waits for its own message, with its
    // own timeout); the answer keeps the connection alive until it is written.
    beast::get_lowest_layer(stream_).expires_never();
    shared_->router.handle(request, [self = this->shared_from_this(), version, keep_alive](Response response) {
      self->reply(std::move(response), version, keep_alive);
    });
  }

  void reply(Response response, unsigned version, bool keep_alive) {
    auto res = std::make_shared<bhttp::response<bhttp::string_body>>(static_cast<bhttp::status>(response.status),
                                                                      version);
    // 204 and 304 have no body, and no Content-Length either (RFC 9110 8.6).
    const bool no_body = response.status == 204 || response.status == 304;
    res->set(bhttp::field::server, "mop");
    if (!no_body) res->set(bhttp::field::content_type, response.content_type);
    // insert, not set: a header may repeat (WWW-Authenticate with a challenge per scheme).
    for (auto& [name, value] : response.headers) res->insert(name, value);
    if (!no_body) res->body() = std::move(response.body);
    res->keep_alive(keep_alive && !shared_->stopped);
    res->prepare_payload();
    if (no_body) res->erase(bhttp::field::content_length);
    beast::get_lowest_layer(stream_).expires_after(shared_->options.idle_timeout);
    bhttp::async_write(stream_, *res, [self = this->shared_from_this(), res](beast::error_code ec, std::size_t) {
      if (ec) return self->close();
      if (!res->keep_alive()) return self->finish();
      self->read();
    });
  }

  // The last answer is written: TLS says close_notify first (within the timeout), then the socket
  // closes.
  void finish() {
    if constexpr (kTls) {
      beast::get_lowest_layer(stream_).expires_after(shared_->options.idle_timeout);
      stream_.async_shutdown([self = this->shared_from_this()](beast::error_code) { self->close(); });
    } else {
      close();
    }
  }

  std::shared_ptr<asio::ssl::context> ctx_;  // before stream_, which uses it (null for http)
  S stream_;
  beast::flat_buffer buffer_;
  std::optional<bhttp::request_parser<bhttp::string_body>> parser_;
  std::shared_ptr<HttpServer::Shared> shared_;
  std::list<std::weak_ptr<HttpSessionBase>>::iterator pos_;
  bool registered_ = false;
  std::string peer_ = "?";
  std::optional<std::string> certificate_cn_;
};

}  // namespace

HttpServer::HttpServer(asio::io_context& io, const Router& router, ServerOptions options)
    : io_(io), shared_(std::make_shared<Shared>(Shared{router, options, {}, false})) {}

HttpServer::~HttpServer() { shutdown(); }

Result<tcp::endpoint> HttpServer::listen(const std::string& host, std::uint16_t port) {
  return bind(host, port, nullptr);
}

Result<tcp::endpoint> HttpServer::listen_tls(const std::string& host, std::uint16_t port,
                                             std::shared_ptr<net::TlsContext> tls) {
  return bind(host, port, std::move(tls));
}

Result<tcp::endpoint> HttpServer::bind(const std::string& host, std::uint16_t port,
                                       std::shared_ptr<net::TlsContext> tls) {
  boost::system::error_code ec;
  tcp::resolver resolver(io_);
  const auto results = resolver.resolve(host, std::to_string(port), tcp::resolver::numeric_service, ec);
  if (ec) return std::error_code(ec.value(), std::system_category());
  if (results.empty()) return std::make_error_code(std::errc::address_not_available);
  const tcp::endpoint endpoint = results.begin()->endpoint();
  auto entry = std::make_unique<Acceptor>(Acceptor{tcp::acceptor(io_), std::move(tls)});
  auto& acceptor = entry->acceptor;
  const auto fail = [](const boost::system::error_code& e) -> Result<tcp::endpoint> {
    return std::error_code(e.value(), std::system_category());
  };
  if (acceptor.open(endpoint.protocol(), ec)) return fail(ec);
  if (endpoint.protocol() == tcp::v6() && acceptor.set_option(asio::ip::v6_only(true), ec)) return fail(ec);
  if (acceptor.set_option(tcp::acceptor::reuse_address(true), ec)) return fail(ec);
  if (acceptor.bind(endpoint, ec)) return fail(ec);
  if (acceptor.listen(asio::socket_base::max_listen_connections, ec)) return fail(ec);
  const auto bound = acceptor.local_endpoint(ec);
  if (ec) return fail(ec);
  shared_->stopped = false;
  acceptors_.push_back(std::move(entry));
  accept(*acceptors_.back());
  return bound;
}

void HttpServer::accept(Acceptor& entry) {
  entry.acceptor.async_accept([this, &entry, shared = shared_](boost::system::error_code ec, tcp::socket socket) {
    if (shared->stopped || ec == asio::error::operation_aborted) return;
    if (ec) {
      // Out of descriptors and the like: try again shortly rather than spin.
      log::get("http")->warn("accept failed: {}", ec.message());
      auto timer = std::make_shared<asio::steady_timer>(io_, std::chrono::milliseconds(100));
      timer->async_wait([this, &entry, shared, timer](boost::system::error_code e) {
        if (!e && !shared->stopped) accept(entry);
      });
      return;
    }
    if (shared->sessions.size() >= shared->options.max_connections) {
      boost::system::error_code ignored;
      socket.close(ignored);
    } else if (entry.tls) {
      auto session = std::make_shared<HttpSession<TlsStream>>(std::move(socket), shared, entry.tls->current());
      shared->sessions.push_front(session);
      session->start(shared->sessions.begin());
    } else {
      auto session = std::make_shared<HttpSession<beast::tcp_stream>>(std::move(socket), shared, nullptr);
      shared->sessions.push_front(session);
      session->start(shared->sessions.begin());
    }
    accept(entry);
  });
}

void HttpServer::shutdown() {
  shared_->stopped = true;
  for (auto& a : acceptors_) {
    boost::system::error_code ec;
    a->acceptor.close(ec);
  }
  acceptors_.clear();
  // Closing cancels each connection's pending read or write; its handler then ends it.
  // (Locked first: a connection may end, and leave the list, as it is closed.)
  std::vector<std::shared_ptr<HttpSessionBase>> open;
  for (const auto& weak : shared_->sessions) {
    if (auto s = weak.lock()) open.push_back(std::move(s));
  }
  for (const auto& s : open) s->close();
}

std::size_t HttpServer::connection_count() const { return shared_->sessions.size(); }

}  // namespace mop::http
