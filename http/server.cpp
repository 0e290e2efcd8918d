#include "http/server.hpp"

#include <list>
#include <optional>

#include <boost/asio/ip/v6_only.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/version.hpp>

#include "core/log.hpp"

namespace mop::http {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
using tcp = asio::ip::tcp;

class HttpSession;

struct HttpServer::Shared {
  const Router& router;
  ServerOptions options;
  std::list<std::weak_ptr<HttpSession>> sessions;
  bool stopped = false;
};

class HttpSession : public std::enable_shared_from_this<HttpSession> {
public:
  HttpSession(tcp::socket socket, std::shared_ptr<HttpServer::Shared> shared)
      : stream_(std::move(socket)), shared_(std::move(shared)) {
    beast::error_code ec;
    const auto endpoint = stream_.socket().remote_endpoint(ec);
    if (!ec) peer_ = endpoint.address().to_string() + ":" + std::to_string(endpoint.port());
  }
  ~HttpSession() {
    if (registered_) shared_->sessions.erase(pos_);
  }

  void start(std::list<std::weak_ptr<HttpSession>>::iterator pos) {
    pos_ = pos;
    registered_ = true;
    read();
  }

  void close() {
    beast::error_code ec;
    stream_.socket().shutdown(tcp::socket::shutdown_both, ec);
    stream_.close();
  }

private:
  void read() {
    parser_.emplace();
    parser_->body_limit(shared_->options.body_limit);
    parser_->header_limit(shared_->options.header_limit);
    stream_.expires_after(shared_->options.idle_timeout);
    bhttp::async_read(stream_, buffer_, *parser_,
                      [self = shared_from_this()](beast::error_code ec, std::size_t) { self->on_read(ec); });
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
                    std::string(req[bhttp::field::authorization])};
    const unsigned version = req.version();
    const bool keep_alive = req.keep_alive();
    // No timeout while the handler works (the health check waits for its own message, with its
    // own timeout); the answer keeps the connection alive until it is written.
    stream_.expires_never();
    shared_->router.handle(request, [self = shared_from_this(), version, keep_alive](Response response) {
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
    stream_.expires_after(shared_->options.idle_timeout);
    bhttp::async_write(stream_, *res, [self = shared_from_this(), res](beast::error_code ec, std::size_t) {
      if (ec || !res->keep_alive()) return self->close();
      self->read();
    });
  }

  beast::tcp_stream stream_;
  beast::flat_buffer buffer_;
  std::optional<bhttp::request_parser<bhttp::string_body>> parser_;
  std::shared_ptr<HttpServer::Shared> shared_;
  std::list<std::weak_ptr<HttpSession>>::iterator pos_;
  bool registered_ = false;
  std::string peer_ = "?";  // address:port, for the log
};

HttpServer::HttpServer(asio::io_context& io, const Router& router, ServerOptions options)
    : io_(io), shared_(std::make_shared<Shared>(Shared{router, options, {}, false})) {}

HttpServer::~HttpServer() { shutdown(); }

Result<tcp::endpoint> HttpServer::listen(const std::string& host, std::uint16_t port) {
  boost::system::error_code ec;
  tcp::resolver resolver(io_);
  const auto results = resolver.resolve(host, std::to_string(port), tcp::resolver::numeric_service, ec);
  if (ec) return std::error_code(ec.value(), std::system_category());
  if (results.empty()) return std::make_error_code(std::errc::address_not_available);
  const tcp::endpoint endpoint = results.begin()->endpoint();
  auto acceptor = std::make_unique<tcp::acceptor>(io_);
  const auto fail = [](const boost::system::error_code& e) -> Result<tcp::endpoint> {
    return std::error_code(e.value(), std::system_category());
  };
  if (acceptor->open(endpoint.protocol(), ec)) return fail(ec);
  if (endpoint.protocol() == tcp::v6() && acceptor->set_option(asio::ip::v6_only(true), ec)) return fail(ec);
  if (acceptor->set_option(tcp::acceptor::reuse_address(true), ec)) return fail(ec);
  if (acceptor->bind(endpoint, ec)) return fail(ec);
  if (acceptor->listen(asio::socket_base::max_listen_connections, ec)) return fail(ec);
  const auto bound = acceptor->local_endpoint(ec);
  if (ec) return fail(ec);
  shared_->stopped = false;
  acceptors_.push_back(std::move(acceptor));
  accept(*acceptors_.back());
  return bound;
}

void HttpServer::accept(tcp::acceptor& acceptor) {
  acceptor.async_accept([this, &acceptor, shared = shared_](boost::system::error_code ec, tcp::socket socket) {
    if (shared->stopped || ec == asio::error::operation_aborted) return;
    if (ec) {
      // Out of descriptors and the like: try again shortly rather than spin.
      log::get("http")->warn("accept failed: {}", ec.message());
      auto timer = std::make_shared<asio::steady_timer>(io_, std::chrono::milliseconds(100));
      timer->async_wait([this, &acceptor, shared, timer](boost::system::error_code e) {
        if (!e && !shared->stopped) accept(acceptor);
      });
      return;
    }
    if (shared->sessions.size() >= shared->options.max_connections) {
      boost::system::error_code ignored;
      socket.close(ignored);
    } else {
      auto session = std::make_shared<HttpSession>(std::move(socket), shared);
      shared->sessions.push_front(session);
      session->start(shared->sessions.begin());
    }
    accept(acceptor);
  });
}

void HttpServer::shutdown() {
  shared_->stopped = true;
  for (auto& a : acceptors_) {
    boost::system::error_code ec;
    a->close(ec);
  }
  acceptors_.clear();
  // Closing cancels each connection's pending read or write; its handler then ends it.
  // (Locked first: a connection may end, and leave the list, as it is closed.)
  std::vector<std::shared_ptr<HttpSession>> open;
  for (const auto& weak : shared_->sessions) {
    if (auto s = weak.lock()) open.push_back(std::move(s));
  }
  for (const auto& s : open) s->close();
}

std::size_t HttpServer::connection_count() const { return shared_->sessions.size(); }

}  // namespace mop::http
