#pragma once
// How the sans-I/O client reaches brokers: it asks a Transport for a connection to host:port and
// talks to it through Link; the transport hands bytes and the outcome of the connect back through
// LinkHandler. asio_transport.hpp is the real one (Boost.Asio TCP); tests use a fake that records
// what the client wrote and feeds it broker frames.
//
// Threading: the transport calls the handler on the client's executor thread only, and never
// inline from open()/write()/close() (the client may hold state it is changing).
#include <cstdint>
#include <memory>
#include <span>
#include <string>

namespace mop::pulsar::client {

class LinkHandler {
public:
  virtual ~LinkHandler() = default;
  // The TCP connection is up (or failed: `error` is non-empty, and on_closed follows no more).
  virtual void on_connected(const std::string& error) = 0;
  virtual void on_bytes(std::span<const std::uint8_t> bytes) = 0;
  // The peer closed or the socket failed after on_connected(""). Called at most once.
  virtual void on_closed(const std::string& why) = 0;
};

class Link {
public:
  virtual ~Link() = default;
  // Queues bytes for the socket (written in order).
  virtual void write(std::string bytes) = 0;
  // Closes the socket now; no handler call follows.
  virtual void close() = 0;
};

class Transport {
public:
  virtual ~Transport() = default;
  // Starts connecting; the handler must outlive the returned Link (or the Link's close()).
  virtual std::unique_ptr<Link> open(const std::string& host, std::uint16_t port, LinkHandler& handler) = 0;
};

}  // namespace mop::pulsar::client
