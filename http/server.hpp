#pragma once
// HttpServer: the web service's HTTP/1.1 listener (webServicePort) on Boost.Beast, on the
// io_context that runs everything else (so handlers read the broker's state directly, on its
// thread). Beast parses every request; nothing here reads HTTP by hand.
//
// Bounded: a request's header and body have size limits (431 / 413, then the connection is
// closed), a connection idle longer than the timeout (no request, or a request not read or a
// response not written in time) is closed, at most max_connections are open (more are closed at
// accept). Keep-alive as HTTP/1.1 says: a connection serves requests one after another until
// either side says `Connection: close`.
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>

#include "core/result.hpp"
#include "http/router.hpp"
#include "net/tls_context.hpp"

namespace mop::http {

struct ServerOptions {
  std::size_t body_limit = 64 * 1024;
  std::uint32_t header_limit = 16 * 1024;
  std::chrono::milliseconds idle_timeout{30'000};
  std::size_t max_connections = 256;
};

class HttpServer {
public:
  // `router` must outlive the server and every connection (it is used until io.run() returns).
  HttpServer(boost::asio::io_context& io, const Router& router, ServerOptions options = {});
  ~HttpServer();
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // Binds host:port (port 0 picks a free one; IPv6 v6-only) and starts accepting. Returns the
  // bound endpoint; bind errors come back as the error code.
  Result<boost::asio::ip::tcp::endpoint> listen(const std::string& host, std::uint16_t port);
  // The same over TLS with `tls`'s context (asked again for each connection, so a renewed
  // certificate serves new connections).
  Result<boost::asio::ip::tcp::endpoint> listen_tls(const std::string& host, std::uint16_t port,
                                                    std::shared_ptr<net::TlsContext> tls);
  // Stops accepting and closes every connection (a response still being prepared is dropped).
  void shutdown();
  std::size_t connection_count() const;

  struct Shared;  // state shared with the connections (they may outlive the server by a turn)

private:
  struct Acceptor {
    boost::asio::ip::tcp::acceptor acceptor;
    std::shared_ptr<net::TlsContext> tls;  // null: plain HTTP
  };
  Result<boost::asio::ip::tcp::endpoint> bind(const std::string& host, std::uint16_t port,
                                              std::shared_ptr<net::TlsContext> tls);
  void accept(Acceptor& acceptor);

  boost::asio::io_context& io_;
  std::shared_ptr<Shared> shared_;
  std::vector<std::unique_ptr<Acceptor>> acceptors_;
};

}  // namespace mop::http
