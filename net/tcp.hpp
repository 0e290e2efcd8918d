#pragma once
// The TCP transport shared by mop's protocol listeners (MQTT on mqttListeners, Pulsar on
// brokerServicePort): accept, then per connection poll for readability, read into a buffer
// shared by every connection of the thread (an idle connection holds no read buffer), hand the
// bytes to the protocol, and write everything the protocol queued in one gather write per
// wakeup. Protocols plug in through StreamHandler; they talk back through Stream (stream.hpp).
//
// Thread: everything runs on the io_context's thread, which is also the protocol's.
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <list>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>

#include "core/result.hpp"
#include "net/stream.hpp"

namespace mop::net {

class TcpConnection;

// A connection that stopped reading at a ReadGate and reads again when it opens.
class GateWaiter {
public:
  virtual ~GateWaiter() = default;
  virtual void resume() = 0;
};

// Read back-pressure shared by listeners: while the gate is closed, a connection finishes the
// read in hand and then stops reading until the gate opens (the kernel's socket buffers fill and
// TCP flow control holds the peer back). Closed and opened by whoever knows the pressure, e.g.
// the messaging service when publishes outrun the storage. Must outlive the connections.
class ReadGate {
public:
  bool closed() const { return closed_; }
  void close() { closed_ = true; }
  // Every connection that stopped at the gate reads again.
  void open();
  std::size_t waiting() const { return waiting_.size(); }
  // `w` reads again once the gate opens (if it is still alive then).
  void wait(std::weak_ptr<GateWaiter> w) { waiting_.push_back(std::move(w)); }

private:
  bool closed_ = false;
  std::vector<std::weak_ptr<GateWaiter>> waiting_;
};

// When a connection stops reading on its own and when it reads again, the same for every
// transport: while more than the high water mark of its output is unwritten (until it is down to
// the low mark), and while its handler holds its input (StreamHandler::input_held, until
// Stream::input_released). A connection keeps one; each call says whether to read on now.
class ReadPause {
public:
  ReadPause(std::size_t high_water_mark, std::size_t low_water_mark) : high_(high_water_mark), low_(low_water_mark) {}
  // A read was handed to the handler, which is still open.
  bool after_read(const StreamHandler& handler, std::size_t queued) {
    if (handler.input_held())
      for_input_ = true;
    else if (high_ > 0 && queued > high_)
      for_output_ = true;
    return !for_input_ && !for_output_;
  }
  // The handler released its input.
  bool after_release(std::size_t queued) {
    if (!for_input_) return false;
    for_input_ = false;
    if (high_ > 0 && queued > high_) for_output_ = true;
    return !for_output_;
  }
  // Some output was written; `queued` is asked for only while paused for output.
  template <typename Queued>
  bool after_write(const Queued& queued) {
    if (!for_output_ || queued() > low_) return false;
    for_output_ = false;
    return true;
  }

private:
  std::size_t high_;
  std::size_t low_;
  bool for_output_ = false;
  bool for_input_ = false;
};

// Binds host:port (a literal address, else the first address the name resolves to; port 0 picks a
// free one; SO_REUSEADDR, and v6-only for IPv6) and listens; the acceptor joins `acceptors`.
// Returns the bound endpoint. TcpListener's and SecureListener's listen() start accepting on it.
Result<boost::asio::ip::tcp::endpoint> open_acceptor(
    boost::asio::io_context& io, const std::string& host, std::uint16_t port,
    std::vector<std::unique_ptr<boost::asio::ip::tcp::acceptor>>& acceptors);

class TcpListener {
public:
  using HandlerFactory = std::function<std::unique_ptr<StreamHandler>(Stream&)>;

  // `log_module` names the logger that accept failures go to.
  TcpListener(boost::asio::io_context& io, HandlerFactory factory, std::string log_module);
  ~TcpListener();
  TcpListener(const TcpListener&) = delete;
  TcpListener& operator=(const TcpListener&) = delete;

  // Binds host:port (a name is resolved; port 0 picks a free port), IPv6 sockets v6-only, and
  // starts accepting. Several calls listen on several endpoints. Returns the bound endpoint.
  Result<boost::asio::ip::tcp::endpoint> listen(const std::string& host, std::uint16_t port);
  // Closes every acceptor; open connections carry on.
  void stop_accepting();
  // Stops accepting and closes every open connection (each handler sees on_closed()).
  void shutdown();
  std::size_t connection_count() const { return connections_.size(); }
  // Connections accepted from now on respect `gate` (nullptr: none).
  void set_read_gate(ReadGate* gate) { gate_ = gate; }
  // Read back-pressure per connection, for a peer that sends requests and does not read the
  // answers: once more than `high` bytes queued for a connection are unwritten, it finishes the
  // read in hand and stops reading until no more than `low` are left (TCP then holds the peer
  // back, and its keep-alive runs out if it never reads). high 0 = no limit (the default).
  // Applies to connections accepted from now on.
  void set_write_buffer_water_marks(std::size_t high, std::size_t low) {
    high_water_mark_ = high;
    low_water_mark_ = low;
  }
  // How long a connection closing after a flush (close_after_flush) waits for its peer to take
  // the output before the socket closes anyway. Applies to connections accepted from now on.
  void set_close_timeout(std::chrono::milliseconds timeout) { close_timeout_ = timeout; }

private:
  friend class TcpConnection;
  void accept(boost::asio::ip::tcp::acceptor& acceptor);
  // The deadlines of every open connection (its handler's next_deadline(), or its close timeout)
  // under one timer: a binary min-heap by time, each connection knowing its slot. An Asio timer
  // per connection cost an idle one about 300 bytes (the timer object and its pending wait);
  // an entry here costs 24. An entry owns its connection, as the pending wait did.
  struct Deadline {
    std::chrono::steady_clock::time_point at;
    std::shared_ptr<TcpConnection> conn;
  };
  // Puts `conn` in the heap at `at`, or moves it there; re-arms the timer when it comes first.
  void schedule(const std::shared_ptr<TcpConnection>& conn, std::chrono::steady_clock::time_point at);
  void unschedule(TcpConnection& conn);
  void sift_up(std::size_t i);
  void sift_down(std::size_t i);
  void place(std::size_t i, Deadline d);
  void arm_deadlines();
  void on_deadlines();

  boost::asio::io_context& io_;
  HandlerFactory factory_;
  std::string log_module_;
  std::vector<std::unique_ptr<boost::asio::ip::tcp::acceptor>> acceptors_;
  // Open connections; each removes itself in O(1) when its socket closes.
  std::list<std::weak_ptr<TcpConnection>> connections_;
  ReadGate* gate_ = nullptr;
  std::size_t high_water_mark_ = 0;
  std::size_t low_water_mark_ = 0;
  std::chrono::milliseconds close_timeout_{5000};
  std::vector<Deadline> deadlines_;
  boost::asio::steady_timer deadline_timer_;
  // When the timer is set to fire (max: not waiting).
  std::chrono::steady_clock::time_point armed_for_ = std::chrono::steady_clock::time_point::max();
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

}  // namespace mop::net
