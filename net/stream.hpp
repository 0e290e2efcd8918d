#pragma once
// How a protocol and its connection's socket see each other: the protocol implements
// StreamHandler, the transport (net::TcpListener's connections, a test's fake) implements Stream.
// No Asio here, so that protocol code and its tests need none.
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>

#include "core/clock.hpp"
#include "core/out_buffer.hpp"

namespace mop::net {

// The socket side, as a protocol handler sees it.
class Stream {
public:
  virtual ~Stream() = default;
  // Output is waiting in the handler's OutBuffer: it leaves with everything else queued during
  // this wakeup, in one write.
  virtual void output_ready() = 0;
  // Writes what is queued, then closes the socket.
  virtual void close_after_flush() = 0;
  // "address:port" of the peer ("?" if unknown).
  virtual const std::string& peer() const = 0;
  // Bytes queued for this connection and not yet written to the socket.
  virtual std::size_t queued_bytes() const = 0;
  // Writes what the handler has queued now, as far as the socket takes it without waiting,
  // instead of at the end of this wakeup; what the socket does not take leaves when it is
  // writable, as usual. Calls none of the handler's callbacks before it returns. For a producer
  // that has queued a lot within one wakeup and must know whether the peer is really behind.
  // Transports that cannot write outside their flush do nothing (the default).
  virtual void write_now() {}
  // The common name of the client certificate the peer presented and that was verified against
  // the listener's trusted CAs (mTLS); empty on plain TCP and WebSocket, on TLS without a client
  // certificate, and when an untrusted certificate was let in by tlsAllowInsecureConnection.
  // Authentication may take it as the client's role.
  virtual std::optional<std::string> peer_certificate_cn() const { return std::nullopt; }
  // The handler's next_deadline() may have come closer outside on_bytes() and on_tick() (an MQTT
  // CONNACK sent from a store completion starts the keep alive): the keep-alive timer follows it.
  // Reads and ticks re-arm by themselves, so a handler calls this only where its deadline moves
  // outside them, and the write path never asks for the deadline.
  virtual void deadline_changed() {}
  // The handler holds its input no more (StreamHandler::input_held): reading goes on.
  virtual void input_released() {}
};

// The protocol side of one connection.
class StreamHandler {
public:
  virtual ~StreamHandler() = default;
  virtual void on_bytes(std::span<const std::uint8_t> bytes) = 0;
  // The connection is gone (peer closed, error, or listener shutdown). Called at most once.
  virtual void on_closed() = 0;
  // Called at or after next_deadline() (keep-alive checks).
  virtual void on_tick() = 0;
  virtual TimePoint next_deadline() const = 0;
  // Asked after each on_bytes(): true while the handler cannot act on more input (an MQTT
  // CONNECT or SUBSCRIBE waiting for the store). The transport then stops reading the socket,
  // so TCP holds the peer back, until the handler calls Stream::input_released().
  virtual bool input_held() const { return false; }
  // The protocol closed the connection itself (after queuing its last words).
  virtual bool closed() const = 0;
  virtual OutBuffer& output() = 0;
  // Everything the handler queued has been written to the socket (called each time a write
  // leaves nothing behind): a handler that stopped producing for a slow peer may go on.
  virtual void on_output_drained() {}
};

}  // namespace mop::net
