#pragma once
// The Pulsar protocol's TCP listener (brokerServicePort): one Connection per socket, on the
// io_context the service runs on.
#include <memory>
#include <string>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>

#include "core/result.hpp"
#include "pulsar/server/connection.hpp"

namespace mop::pulsar::server {

class TcpServer {
public:
  TcpServer(boost::asio::io_context& io, PulsarServer& server);
  ~TcpServer();
  // Binds and starts accepting. Port 0 picks a free port: the bound endpoint is returned.
  Result<boost::asio::ip::tcp::endpoint> listen(const std::string& host, std::uint16_t port);
  void stop_accepting();
  // Stops accepting and closes every connection (their consumers' unacknowledged messages go
  // back to their subscriptions), so that the io_context can run out of work.
  void shutdown();

private:
  void accept(boost::asio::ip::tcp::acceptor& acceptor);

  boost::asio::io_context& io_;
  PulsarServer& server_;
  std::vector<std::unique_ptr<boost::asio::ip::tcp::acceptor>> acceptors_;
  std::vector<std::weak_ptr<Transport>> connections_;
};

}  // namespace mop::pulsar::server
