#pragma once
// The Pulsar protocol's TCP listener (brokerServicePort): one Connection per socket, on the
// io_context the service runs on. The socket work is net::TcpListener's.
#include <cstdint>
#include <string>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>

#include "core/result.hpp"
#include "net/tcp.hpp"
#include "pulsar/server/connection.hpp"

namespace mop::pulsar::server {

class TcpServer {
public:
  TcpServer(boost::asio::io_context& io, PulsarServer& server);
  // Binds and starts accepting. Port 0 picks a free port: the bound endpoint is returned.
  Result<boost::asio::ip::tcp::endpoint> listen(const std::string& host, std::uint16_t port);
  void stop_accepting();
  // Connections stop reading while `gate` is closed (publish back-pressure).
  void set_read_gate(net::ReadGate* gate) { listener_.set_read_gate(gate); }
  // Stops accepting and closes every connection (their consumers' unacknowledged messages go
  // back to their subscriptions), so that the io_context can run out of work.
  void shutdown();

private:
  net::TcpListener listener_;
};

}  // namespace mop::pulsar::server
