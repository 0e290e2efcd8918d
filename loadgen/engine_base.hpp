#pragma once
// What the MQTT engine (engine.hpp) and the Pulsar connections (pulsar_bench.cpp) share: the
// clock, single-writer counters, the run's phase and shared counters (RunBase), a worker thread
// with its io_context and ticker (WorkerBase); and, for the MQTT connections (the Pulsar ones
// use pulsar/client's own I/O), the socket I/O of one connection (StreamConn):
// non-blocking socket, everything to say after a wakeup in one buffered write, a few reads per
// wakeup into the thread's read buffer. The protocols plug in through CRTP hooks, resolved at
// compile time: nothing here costs a virtual call or an allocation per message.
//
// Threading: a connection and everything in it belongs to its worker's thread. The orchestrating
// main thread only reads the relaxed atomic counters (each has one writer) and posts jobs.
#include <netinet/in.h>
#include <sys/socket.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

#include <algorithm>
#include <atomic>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "loadgen/histogram.hpp"
#include "loadgen/options.hpp"
#include "loadgen/ws_client.hpp"

namespace mop::loadgen {

inline std::uint64_t now_ns() {
  return static_cast<std::uint64_t>(
      std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch()).count());
}

// A counter with one writing thread: a plain load and store instead of a locked add, since
// other threads only need an approximately current value.
class Counter {
public:
  void add(std::uint64_t n = 1) { v_.store(v_.load(std::memory_order_relaxed) + n, std::memory_order_relaxed); }
  void set(std::uint64_t n) { v_.store(n, std::memory_order_relaxed); }
  std::uint64_t get() const { return v_.load(std::memory_order_relaxed); }

private:
  std::atomic<std::uint64_t> v_{0};
};

enum class Phase : int { connecting, running, stopping, done };

// How much a producer without --rate queues per wakeup: enough to amortize the write, small
// enough that consumers sharing the thread are not starved.
constexpr std::size_t kBatchBytes = 64 * 1024;
constexpr std::uint32_t kBatchMessages = 256;

// State shared by all workers of one run, MQTT or Pulsar.
struct RunBase {
  static constexpr int kMaxErrorsPrinted = 10;
  Options opt;
  boost::asio::ip::tcp::endpoint broker;
  std::shared_ptr<SSL_CTX> tls;  // set when opt.tls: every connection's TLS client context
  std::atomic<Phase> phase{Phase::connecting};
  std::atomic<std::uint64_t> publish_start_ns{0};
  std::atomic<std::uint64_t> ready{0};   // connections ready to produce or consume
  std::atomic<std::uint64_t> failed{0};  // connections that never became ready
  std::atomic<std::uint64_t> errors{0};  // everything that went wrong, ready or not
  std::atomic<std::uint64_t> last_ready_ns{0};
  std::atomic<int> errors_printed{0};

  void error(const std::string& what) {
    errors.fetch_add(1, std::memory_order_relaxed);
    if (errors_printed.fetch_add(1, std::memory_order_relaxed) < kMaxErrorsPrinted) {
      std::fprintf(stderr, "mop bench: %s\n", what.c_str());
    }
  }
  // How many messages a producer whose next sequence is `next_seq` may queue now: what --rate
  // has made due since producing started, or one batch without a rate.
  std::uint64_t produce_budget(std::uint64_t next_seq) const {
    if (opt.rate <= 0) return kBatchMessages;
    const std::uint64_t start = publish_start_ns.load(std::memory_order_relaxed);
    const double elapsed = static_cast<double>(now_ns() - start) / 1e9;
    const auto due = static_cast<std::uint64_t>(elapsed * opt.rate) + 1;
    return due > next_seq ? due - next_seq : 0;
  }
  // One more connection ready, now (the connect rate runs to the last one).
  void count_ready() {
    ready.fetch_add(1, std::memory_order_relaxed);
    const auto now = now_ns();
    auto prev = last_ready_ns.load(std::memory_order_relaxed);
    while (prev < now && !last_ready_ns.compare_exchange_weak(prev, now, std::memory_order_relaxed)) {
    }
  }
};

// A thread with its io_context, the connections it owns and one timer that drives every
// rate-limited producer of the thread (1 ms resolution) instead of a timer per connection.
// C: the connection type (with produce() and disconnect()).
template <class C>
class WorkerBase {
public:
  static constexpr std::size_t kReadBuf = 256 * 1024;
  WorkerBase(RunBase& r, std::size_t index)
      : rbuf(new std::uint8_t[kReadBuf]), run_base_(r), index_(index), ticker_(io) {}
  virtual ~WorkerBase() { join(); }
  WorkerBase(const WorkerBase&) = delete;
  WorkerBase& operator=(const WorkerBase&) = delete;

  void start() {
    tick();
    thread_ = std::thread([this] {
      try {
        io.run();
      } catch (const std::exception& e) {
        std::fprintf(stderr, "mop bench: worker %zu: %s\n", index_, e.what());
      }
    });
  }
  void join() {
    if (thread_.joinable()) thread_.join();
  }
  // Moves this second's latencies into `out` (main thread, posted).
  void take_interval(LatencyHistogram& out) {
    out.merge(interval);
    interval.reset();
  }

  boost::asio::io_context io{1};
  std::vector<std::unique_ptr<C>> conns;  // after io: destroyed first
  std::unique_ptr<std::uint8_t[]> rbuf;   // one read buffer for all of this thread's sockets
  LatencyHistogram interval, total;
  std::vector<C*> rate_producers;

protected:
  // Called on every tick after the rate-limited producers had their turn (MQTT: keepalives).
  virtual void on_tick(std::uint64_t /*now*/) {}

private:
  void tick() {
    const auto now = now_ns();
    if (run_base_.phase.load(std::memory_order_relaxed) == Phase::running) {
      for (C* c : rate_producers) c->produce();
    }
    on_tick(now);
    if (run_base_.phase.load(std::memory_order_relaxed) == Phase::done) return;
    ticker_.expires_after(std::chrono::milliseconds(rate_producers.empty() ? 100 : 1));
    ticker_.async_wait([this](const boost::system::error_code& ec) {
      if (!ec) tick();
    });
  }
  RunBase& run_base_;
  std::size_t index_;
  std::thread thread_;
  boost::asio::steady_timer ticker_;
};

// The socket side of one connection: plain TCP, TLS (OpenSSL on the same non-blocking socket) or,
// with --ws, WebSocket (Beast's asynchronous reads and writes, ws_client.hpp) over either.
// D (the protocol's connection class) provides:
//   const std::string& label() const;            // names the connection in error messages
//   std::string closed_by_broker() const;        // the error when the broker closes the socket
//   void greet(std::string& out);                // first bytes after the TCP connect
//   bool on_bytes(std::span<const std::uint8_t>);// feed the protocol; false: stop reading
//   void after_read();                           // after a read wakeup, before the flush
//   bool wants_refill() const;                   // output drained: post a produce()?
//   void produce();
//   void goodbye(std::string& out);              // last words before an orderly close
//   void on_connect_resolved();                  // ready or failed (MQTT: connect concurrency)
template <class D>
class StreamConn {
public:
  bool ready() const { return ready_; }
  bool closed() const { return closed_; }

protected:
  StreamConn(boost::asio::io_context& io, RunBase& run, std::uint8_t* rbuf, std::size_t rbuf_size)
      : sock_(io), io_(io), run_(run), rbuf_(rbuf), rbuf_size_(rbuf_size) {}
  ~StreamConn() {
    ws_.reset();
    free_ssl();
  }
  StreamConn(const StreamConn&) = delete;
  StreamConn& operator=(const StreamConn&) = delete;

  void free_ssl() {
    if (ssl_ != nullptr) SSL_free(ssl_);
    ssl_ = nullptr;
  }

  D& self() { return static_cast<D&>(*this); }

  // A fresh socket (closing a previous one; callbacks of the old one are then ignored), bound
  // to `source_addr` when given.
  boost::system::error_code open_socket(const std::string* source_addr) {
    boost::system::error_code ec;
    if (sock_.is_open()) sock_.close(ec);
    ws_.reset();
    free_ssl();
    ++gen_;
    out_.clear();
    out_off_ = 0;
    connected_ = false;
    write_waiting_ = false;
    ws_writing_ = false;
    ec.clear();
    sock_.open(boost::asio::ip::tcp::v4(), ec);
    if (!ec && source_addr) {
      // Bind only the address: the port is chosen at connect time, for the (source, destination)
      // pair, so that each source address has its own ~28k ephemeral ports.
      int one = 1;
      ::setsockopt(sock_.native_handle(), IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one);
      sock_.bind(boost::asio::ip::tcp::endpoint(boost::asio::ip::make_address_v4(*source_addr), 0), ec);
    }
    return ec;
  }

  void connect(const boost::asio::ip::tcp::endpoint& ep) {
    const auto gen = gen_;
    sock_.async_connect(ep, [this, gen](const boost::system::error_code& e) {
      if (gen != gen_ || closed_) return;
      if (e) return fail("connect " + self().label() + ": " + e.message());
      boost::system::error_code ec;
      sock_.set_option(boost::asio::ip::tcp::no_delay(true), ec);
      sock_.non_blocking(true, ec);
      if (run_.opt.ws) {
        // TLS (wss) and the HTTP upgrade by Beast, then MQTT in binary messages.
        ws_ = make_ws_client(sock_, run_.tls.get());
        const std::string host = run_.opt.host + ":" + std::to_string(run_.opt.port);
        return ws_->handshake(host, run_.opt.ws_path, [this, gen](const boost::system::error_code& hec) {
          if (gen != gen_ || closed_) return;
          if (hec) return fail("WebSocket handshake " + self().label() + ": " + hec.message());
          on_connected();
        });
      }
      if (run_.tls) {
        // OpenSSL on the non-blocking socket: the handshake, then SSL_read / SSL_write in
        // place of read_some / write_some, each retried on WANT_READ / WANT_WRITE.
        ssl_ = SSL_new(run_.tls.get());
        SSL_set_fd(ssl_, sock_.native_handle());
        SSL_set_connect_state(ssl_);
        SSL_set_mode(ssl_, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
        return handshake();
      }
      on_connected();
    });
  }

  void on_connected() {
    connected_ = true;
    self().greet(out_);
    flush();
    wait_read();
  }

  void handshake() {
    const int r = SSL_do_handshake(ssl_);
    if (r == 1) return on_connected();
    const int err = SSL_get_error(ssl_, r);
    if (err != SSL_ERROR_WANT_READ && err != SSL_ERROR_WANT_WRITE) {
      char buf[256];
      ERR_error_string_n(ERR_get_error(), buf, sizeof buf);
      return fail("TLS handshake " + self().label() + ": " + buf);
    }
    const auto gen = gen_;
    sock_.async_wait(err == SSL_ERROR_WANT_READ ? boost::asio::ip::tcp::socket::wait_read
                                                : boost::asio::ip::tcp::socket::wait_write,
                     [this, gen](const boost::system::error_code& ec) {
                       if (gen != gen_ || closed_) return;
                       if (ec) return fail("TLS handshake " + self().label() + ": " + ec.message());
                       handshake();
                     });
  }

  // read_some / write_some, or their TLS versions; would_block when OpenSSL wants the socket.
  std::size_t io_read(boost::system::error_code& ec) {
    if (ssl_ == nullptr) return sock_.read_some(boost::asio::buffer(rbuf_, rbuf_size_), ec);
    const int r = SSL_read(ssl_, rbuf_, static_cast<int>(rbuf_size_));
    if (r > 0) return static_cast<std::size_t>(r);
    const int err = SSL_get_error(ssl_, r);
    if (err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE)
      ec = boost::asio::error::would_block;
    else if (err == SSL_ERROR_ZERO_RETURN || (err == SSL_ERROR_SYSCALL && ERR_peek_error() == 0))
      ec = boost::asio::error::eof;
    else
      ec = boost::asio::error::connection_reset;
    return 0;
  }
  std::size_t io_write(const char* data, std::size_t n, boost::system::error_code& ec) {
    if (ssl_ == nullptr) return sock_.write_some(boost::asio::buffer(data, n), ec);
    const int r = SSL_write(ssl_, data, static_cast<int>(std::min<std::size_t>(n, 1 << 30)));
    if (r > 0) return static_cast<std::size_t>(r);
    const int err = SSL_get_error(ssl_, r);
    ec = err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE ? boost::asio::error::would_block
                                                                   : boost::asio::error::connection_reset;
    return 0;
  }

  void wait_read() {
    if (ws_) return ws_read();
    const auto gen = gen_;
    sock_.async_wait(boost::asio::ip::tcp::socket::wait_read, [this, gen](const boost::system::error_code& ec) {
      if (gen != gen_ || closed_) return;
      if (ec) return fail("read " + self().label() + ": " + ec.message());
      on_readable();
    });
  }

  void on_readable() {
    namespace asio = boost::asio;
    // A few reads per wakeup, then back to the event loop so that one busy socket does not
    // starve the others of this thread.
    const auto gen = gen_;
    for (int i = 0; i < 4; ++i) {
      boost::system::error_code ec;
      const std::size_t n = io_read(ec);
      if (ec == asio::error::would_block || ec == asio::error::try_again) break;
      if (ec) return fail(ec == asio::error::eof ? self().closed_by_broker() : "read " + self().label() + ": " + ec.message());
      if (!self().on_bytes(std::span<const std::uint8_t>(rbuf_, n))) return;  // failed or replaced
      if (gen != gen_ || closed_) return;
      // OpenSSL may hold decrypted bytes the socket no longer signals: read them now.
      if (n < rbuf_size_ && (ssl_ == nullptr || SSL_pending(ssl_) == 0)) break;
    }
    self().after_read();
    flush();
    if (!closed_) wait_read();
  }

  // WebSocket: the bytes of whatever messages arrived; then as on_readable.
  void ws_read() {
    const auto gen = gen_;
    ws_->read_some([this, gen](const boost::system::error_code& ec, std::span<const std::uint8_t> bytes) {
      if (gen != gen_ || closed_) return;
      if (ec) return fail(ec == boost::asio::error::eof ? self().closed_by_broker() : "read " + self().label() + ": " + ec.message());
      if (!self().on_bytes(bytes)) return;
      if (gen != gen_ || closed_) return;
      self().after_read();
      flush();
      if (!closed_) ws_read();
    });
  }

  // WebSocket: everything queued goes out in binary messages of at most --ws-max-message bytes
  // (MQTT packets may span messages; brokers limit a message's size: mop's webSocketMaxFrameSize
  // is 65535 by default); what is queued meanwhile waits for the next flush.
  void ws_flush() {
    if (ws_writing_) return;
    if (out_.empty()) return drained();
    ws_out_.swap(out_);
    out_.clear();
    out_off_ = 0;
    ws_out_off_ = 0;
    ws_write_next();
  }
  void ws_write_next() {
    ws_writing_ = true;
    const auto gen = gen_;
    const std::size_t n = std::min<std::size_t>(run_.opt.ws_max_message, ws_out_.size() - ws_out_off_);
    ws_->write(std::string_view(ws_out_).substr(ws_out_off_, n), [this, gen, n](const boost::system::error_code& ec) {
      if (gen != gen_) return;
      ws_writing_ = false;
      if (closed_) return;
      if (ec) return fail("write " + self().label() + ": " + ec.message());
      last_write_ns_ = now_ns();
      ws_out_off_ += n;
      if (ws_out_off_ < ws_out_.size()) return ws_write_next();
      ws_out_.clear();
      flush();
    });
  }

  // All output written: ask the producer for more (from the event loop, not from here: reads of
  // this thread's other sockets get their turn between two batches).
  void drained() {
    out_.clear();  // keeps its capacity: no allocation on the next batch
    out_off_ = 0;
    if (!produce_posted_ && self().wants_refill()) {
      produce_posted_ = true;
      boost::asio::post(io_, [this] {
        produce_posted_ = false;
        self().produce();
      });
    }
  }

  // Writes what the socket takes; the rest when it is writable again.
  void flush() {
    namespace asio = boost::asio;
    if (write_waiting_ || closed_ || !connected_) return;
    if (ws_) return ws_flush();
    while (out_off_ < out_.size()) {
      boost::system::error_code ec;
      const std::size_t n = io_write(out_.data() + out_off_, out_.size() - out_off_, ec);
      if (ec == asio::error::would_block || ec == asio::error::try_again) break;
      if (ec) return fail("write " + self().label() + ": " + ec.message());
      out_off_ += n;
      last_write_ns_ = now_ns();
    }
    if (out_off_ == out_.size()) return drained();
    write_waiting_ = true;
    const auto gen = gen_;
    sock_.async_wait(asio::ip::tcp::socket::wait_write, [this, gen](const boost::system::error_code& ec) {
      if (gen != gen_) return;
      write_waiting_ = false;
      if (closed_) return;
      if (ec) return fail("write " + self().label() + ": " + ec.message());
      flush();
    });
  }

  // Ready to produce or consume: counted once.
  void mark_ready() {
    if (ready_) return;
    ready_ = true;
    run_.count_ready();
    counted_ = true;
    self().on_connect_resolved();
  }

  void fail(const std::string& why) {
    if (closed_) return;
    closed_ = true;
    // Errors after the run ended (the broker closing first, say) are not the broker's fault.
    if (run_.phase.load(std::memory_order_relaxed) != Phase::done) run_.error(why);
    boost::system::error_code ec;
    sock_.close(ec);
    if (!counted_) {
      counted_ = true;
      run_.failed.fetch_add(1, std::memory_order_relaxed);
      self().on_connect_resolved();
    }
  }

public:
  // Orderly end: the protocol's goodbye, one best-effort non-blocking write, close.
  void disconnect() {
    if (closed_) return;
    boost::system::error_code ec;
    if (connected_ && ws_) {
      if (!ws_writing_) {
        self().goodbye(out_);
        ws_->write_now(std::string_view(out_).substr(out_off_));
      }
    } else if (connected_) {
      self().goodbye(out_);
      io_write(out_.data() + out_off_, out_.size() - out_off_, ec);
    }
    closed_ = true;
    sock_.shutdown(boost::asio::ip::tcp::socket::shutdown_both, ec);
    sock_.close(ec);
  }

protected:
  boost::asio::ip::tcp::socket sock_;
  SSL* ssl_ = nullptr;  // with --tls (not --ws), once the TCP connect is done
  std::unique_ptr<WsClient> ws_;  // with --ws, once the TCP connect is done
  std::string ws_out_;            // --ws: the bytes being written (out_ collects the next)
  std::size_t ws_out_off_ = 0;    // how much of ws_out_ is written
  boost::asio::io_context& io_;
  RunBase& run_;
  std::uint8_t* rbuf_;
  std::size_t rbuf_size_;
  std::string out_;
  std::size_t out_off_ = 0;
  std::uint64_t last_write_ns_ = 0;
  std::uint64_t gen_ = 0;  // bumped per socket, so callbacks of a replaced socket are ignored
  bool write_waiting_ = false, produce_posted_ = false, ws_writing_ = false;
  bool connected_ = false, ready_ = false, closed_ = false, counted_ = false;
};

}  // namespace mop::loadgen
