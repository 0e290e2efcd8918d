#pragma once
// The Pulsar protocol's listeners: TCP on brokerServicePort and TLS on brokerServicePortTls; one
// Connection per socket, on the io_context the service runs on. The socket work is
// net::TcpListener's and net::SecureListener's.
#include <cstdint>
#include <memory>
#include <string>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>

#include "core/result.hpp"
#include "net/secure_listener.hpp"
#include "net/tcp.hpp"
#include "pulsar/server/connection.hpp"

namespace mop::pulsar::server {

class PulsarListener {
public:
  PulsarListener(boost::asio::io_context& io, PulsarServer& server);
  // Binds and starts accepting. Port 0 picks a free port: the bound endpoint is returned.
  Result<boost::asio::ip::tcp::endpoint> listen(const std::string& host, std::uint16_t port);
  // The same over TLS (pulsar+ssl://); one TLS listener at most.
  Result<boost::asio::ip::tcp::endpoint> listen_tls(const std::string& host, std::uint16_t port,
                                                    std::shared_ptr<net::TlsContext> tls);
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
  // Open connections now (metrics), TLS ones included.
  std::size_t connection_count() const {
    return listener_.connection_count() + (tls_listener_ ? tls_listener_->connection_count() : 0);
  }
  // Stops accepting, sends every client CLOSE_PRODUCER / CLOSE_CONSUMER for each of its
  // producers and consumers (PulsarServer::shutdown) and closes every connection once that is
  // written (their consumers' unacknowledged messages go back to their subscriptions); a
  // connection whose peer does not read is closed without waiting, so that the io_context can
  // run out of work.
  void shutdown();

private:
  boost::asio::io_context& io_;
  PulsarServer& server_;
  net::TcpListener listener_;
  std::unique_ptr<net::SecureListener> tls_listener_;
  net::ReadGate* gate_ = nullptr;
  std::size_t high_ = 0;
  std::size_t low_ = 0;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

}  // namespace mop::pulsar::server
