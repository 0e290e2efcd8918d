#include "net/tcp.hpp"

#include <array>
#include <utility>

#include <boost/asio/ip/v6_only.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <fmt/format.h>

#include "core/log.hpp"

namespace mop::net {

namespace asio = boost::asio;
using asio::ip::tcp;

class TcpConnection final : public Stream, public GateWaiter, public std::enable_shared_from_this<TcpConnection> {
public:
  TcpConnection(tcp::socket socket, TcpListener& listener)
      : socket_(std::move(socket)), listener_(&listener),
        listener_alive_(listener.alive_), gate_(listener.gate_),
        pause_(listener.high_water_mark_, listener.low_water_mark_), close_timeout_(listener.close_timeout_) {
    boost::system::error_code ec;
    const auto ep = socket_.remote_endpoint(ec);
    peer_ = ec ? "?" : fmt::format("{}:{}", ep.address().to_string(), ep.port());
    socket_.set_option(tcp::no_delay(true), ec);
    socket_.non_blocking(true, ec);
  }

  // Registers with the listener and starts reading. The handler is created here, once the
  // connection is owned by a shared_ptr, since it may call back into the stream at once.
  void start(const TcpListener::HandlerFactory& factory, std::list<std::weak_ptr<TcpConnection>>::iterator pos) {
    registry_pos_ = pos;
    handler_ = factory(*this);
    wait_readable();
    arm_timer();
  }

  // Stream
  void output_ready() override {
    if (writing_ || flush_posted_ || shut_) return;
    // Deferred so that everything produced in this wakeup leaves in one write.
    flush_posted_ = true;
    asio::post(socket_.get_executor(), [self = shared_from_this()] {
      self->flush_posted_ = false;
      self->flush();
    });
  }

  void close_after_flush() override {
    if (!closing_ && !shut_ && !listener_alive_.expired()) {
      // A peer that never reads would keep the flush, the socket and its output (and mop's
      // SIGTERM, which waits for every flush) forever: past close_timeout the socket just closes.
      // The deadline is the close's from now on (on_deadline).
      listener_->schedule(shared_from_this(), std::chrono::steady_clock::now() + close_timeout_);
    }
    closing_ = true;
    if (!writing_ && !flush_posted_ && !shut_)
      asio::post(socket_.get_executor(), [self = shared_from_this()] { self->flush(); });
  }

  const std::string& peer() const override { return peer_; }

  void deadline_changed() override {
    if (!closing_ && !shut_ && handler_ && handler_->next_deadline() < scheduled_at_) arm_timer();
  }

  void input_released() override {
    if (!shut_ && pause_.after_release(queued_bytes()) && !handler_->closed()) read_on();
  }

  std::size_t queued_bytes() const override { return writing_bytes_ + (handler_ ? handler_->output().bytes() : 0); }

  void write_now() override {
    // A write waiting for writability owns buffers_; a closing connection writes in flush().
    if (shut_ || writing_ || closing_ || handler_->output().empty()) return;
    take_output();
    while (!buffers_.empty()) {
      boost::system::error_code ec;
      const std::size_t n = socket_.write_some(buffers_, ec);
      if (ec == asio::error::would_block || ec == asio::error::try_again) {
        wait_writable();
        return;
      }
      if (ec) {
        // Reported from a turn of its own: the caller is in the middle of producing output.
        writing_ = true;
        asio::post(socket_.get_executor(), [self = shared_from_this()] { self->lost(); });
        return;
      }
      consume(n);
    }
    release_write();
  }

  // The listener is shutting down.
  void shutdown() { lost(); }

  // The deadline this connection was scheduled for has come (TcpListener::on_deadlines; it was
  // taken out of the heap first): the handler's tick, or the end of a close that waited too long.
  void on_deadline() {
    scheduled_at_ = TimePoint::max();
    if (shut_) return;
    if (closing_) return lost();
    handler_->on_tick();
    if (!shut_ && !handler_->closed()) arm_timer();
  }

  // Where this connection is in its listener's deadline heap (npos: not there).
  static constexpr std::size_t kNotScheduled = static_cast<std::size_t>(-1);
  std::size_t deadline_slot_ = kNotScheduled;
  TimePoint scheduled_at_ = TimePoint::max();

  // The read gate opened again.
  void resume() override {
    if (!shut_ && !handler_->closed()) wait_readable();
  }

private:
  void wait_readable() {
    socket_.async_wait(tcp::socket::wait_read,
                       [self = shared_from_this()](boost::system::error_code ec) { self->on_readable(ec); });
  }

  void on_readable(boost::system::error_code ec) {
    if (shut_) return;
    if (ec) return lost();
    thread_local std::array<std::uint8_t, 64 * 1024> buffer;
    const std::size_t n = socket_.read_some(asio::buffer(buffer), ec);
    if (ec == asio::error::would_block || ec == asio::error::try_again) return wait_readable();
    if (ec || n == 0) return lost();
    handler_->on_bytes({buffer.data(), n});
    if (shut_ || handler_->closed()) return;
    // Else input_released() or the writes (once the peer has taken enough) read on.
    if (pause_.after_read(*handler_, queued_bytes())) read_on();
    if (handler_->next_deadline() < scheduled_at_) arm_timer();
  }

  // Waits for the next read, unless the read gate is closed.
  void read_on() {
    if (gate_ != nullptr && gate_->closed())
      gate_->wait(weak_from_this());  // resume() reads on when it opens
    else
      wait_readable();
  }

  // Called as writes progress: a connection paused for its unwritten output reads again once
  // no more than the low water mark is left.
  void read_on_if_drained() {
    if (!shut_ && pause_.after_write([this] { return queued_bytes(); }) && !handler_->closed()) read_on();
  }

  void lost() {
    if (shut_) return;
    handler_->on_closed();
    shutdown_socket();
  }

  // Re-armed lazily: the deadline fires at the old time and moves to the new one, so traffic
  // does not cost a heap operation per packet.
  void arm_timer() {
    if (closing_ || listener_alive_.expired()) return;  // the close deadline is the one now
    listener_->schedule(shared_from_this(), handler_->next_deadline());
  }

  // Writes directly from the non-blocking socket as far as the kernel takes it, and waits for
  // writability only when it is full. (asio::async_write would cap each write at 64 KiB and
  // resume only on the next turn of the event loop: behind a round of reads from every other
  // connection, which starved a subscriber fed by many publishers.)
  void flush() {
    if (shut_ || writing_) return;
    auto& out = handler_->output();
    if (out.empty()) {
      if (closing_)
        shutdown_socket();
      else
        handler_->on_output_drained();
      return;
    }
    take_output();
    write_some();
  }

  // The handler's output becomes the write in hand (buffers_ over segments_).
  void take_output() {
    segments_ = handler_->output().take();
    buffers_.clear();
    writing_bytes_ = 0;
    for (const auto& s : segments_) {
      buffers_.emplace_back(s.view().data(), s.view().size());
      writing_bytes_ += s.view().size();
    }
  }

  void wait_writable() {
    writing_ = true;
    socket_.async_wait(tcp::socket::wait_write, [self = shared_from_this()](boost::system::error_code ec) {
      self->writing_ = false;
      if (self->shut_) return;
      if (ec) return self->lost();
      self->write_some();
    });
  }

  void write_some() {
    while (!buffers_.empty()) {
      boost::system::error_code ec;
      const std::size_t n = socket_.write_some(buffers_, ec);
      if (ec == asio::error::would_block || ec == asio::error::try_again) {
        read_on_if_drained();
        wait_writable();
        return;
      }
      if (ec) return lost();
      consume(n);
    }
    release_write();
    read_on_if_drained();
    flush();  // what was queued meanwhile, or the close that waited for the output
  }

  // The write in hand is done: its segments and their iovecs go, capacity too, so that an idle
  // connection keeps no buffer from its last write (the next take_output() allocates anew).
  void release_write() {
    segments_ = {};
    buffers_ = {};
  }

  // Drops `n` written bytes from the front of buffers_.
  void consume(std::size_t n) {
    writing_bytes_ -= n;
    std::size_t done = 0;
    while (done < buffers_.size() && n >= buffers_[done].size()) n -= buffers_[done++].size();
    buffers_.erase(buffers_.begin(), buffers_.begin() + static_cast<std::ptrdiff_t>(done));
    if (n > 0) buffers_.front() += n;
  }

  void shutdown_socket() {
    if (shut_) return;
    shut_ = true;
    boost::system::error_code ec;
    socket_.shutdown(tcp::socket::shutdown_both, ec);
    socket_.close(ec);
    if (!listener_alive_.expired()) {
      listener_->connections_.erase(registry_pos_);
      // The heap's entry may be the last reference: this one lasts until the function returns.
      const auto self = shared_from_this();
      listener_->unschedule(*this);
    }
  }

  tcp::socket socket_;
  TcpListener* listener_;
  std::weak_ptr<bool> listener_alive_;
  ReadGate* gate_;
  ReadPause pause_;
  std::chrono::milliseconds close_timeout_;
  std::list<std::weak_ptr<TcpConnection>>::iterator registry_pos_;
  std::string peer_;
  std::vector<OutBuffer::Segment> segments_;  // what the write in progress points into
  std::vector<asio::const_buffer> buffers_;
  std::size_t writing_bytes_ = 0;
  bool writing_ = false;
  bool flush_posted_ = false;
  bool closing_ = false;
  bool shut_ = false;
  // Last, so destroyed first: the handler holds this connection as its Stream, and one destroyed
  // without having been closed (its connection dropped with the io_context, say) may still ask it
  // for peer() or queued_bytes() from its destructor; every member it can reach is alive then.
  std::unique_ptr<StreamHandler> handler_;
};

void TcpListener::schedule(const std::shared_ptr<TcpConnection>& conn, std::chrono::steady_clock::time_point at) {
  conn->scheduled_at_ = at;
  std::size_t i = conn->deadline_slot_;
  if (i == TcpConnection::kNotScheduled) {
    i = deadlines_.size();
    deadlines_.push_back(Deadline{at, conn});
    conn->deadline_slot_ = i;
    sift_up(i);
  } else {
    const bool earlier = at < deadlines_[i].at;
    deadlines_[i].at = at;
    if (earlier)
      sift_up(i);
    else
      sift_down(i);
  }
  if (deadlines_.front().at < armed_for_) arm_deadlines();
}

void TcpListener::unschedule(TcpConnection& conn) {
  const std::size_t i = conn.deadline_slot_;
  if (i == TcpConnection::kNotScheduled) return;
  conn.deadline_slot_ = TcpConnection::kNotScheduled;
  conn.scheduled_at_ = TimePoint::max();
  Deadline removed = std::move(deadlines_[i]);  // destroyed last: it may own `conn`
  Deadline last = std::move(deadlines_.back());
  deadlines_.pop_back();
  if (i < deadlines_.size()) {
    const bool earlier = last.at < removed.at;
    place(i, std::move(last));
    if (earlier)
      sift_up(i);
    else
      sift_down(i);
  }
  if (deadlines_.empty()) {
    // No wait is left behind: mop's shutdown waits for the io_context to run out of work.
    armed_for_ = TimePoint::max();
    deadline_timer_.cancel();
  }
  // Otherwise the timer may stay armed for an earlier time than the heap needs: it then finds
  // nothing due and re-arms for the first entry.
}

void TcpListener::place(std::size_t i, Deadline d) {
  d.conn->deadline_slot_ = i;
  deadlines_[i] = std::move(d);
}

void TcpListener::sift_up(std::size_t i) {
  while (i > 0) {
    const std::size_t parent = (i - 1) / 2;
    if (!(deadlines_[i].at < deadlines_[parent].at)) break;
    Deadline d = std::move(deadlines_[i]);
    place(i, std::move(deadlines_[parent]));
    place(parent, std::move(d));
    i = parent;
  }
}

void TcpListener::sift_down(std::size_t i) {
  for (;;) {
    const std::size_t l = 2 * i + 1, r = l + 1;
    std::size_t least = i;
    if (l < deadlines_.size() && deadlines_[l].at < deadlines_[least].at) least = l;
    if (r < deadlines_.size() && deadlines_[r].at < deadlines_[least].at) least = r;
    if (least == i) break;
    Deadline d = std::move(deadlines_[i]);
    place(i, std::move(deadlines_[least]));
    place(least, std::move(d));
    i = least;
  }
}

void TcpListener::arm_deadlines() {
  armed_for_ = deadlines_.front().at;
  deadline_timer_.expires_at(armed_for_);  // cancels a wait for a later time
  deadline_timer_.async_wait([this, alive = std::weak_ptr<bool>(alive_)](boost::system::error_code ec) {
    if (ec || alive.expired()) return;  // re-armed meanwhile, or the listener is gone
    armed_for_ = TimePoint::max();
    on_deadlines();
  });
}

void TcpListener::on_deadlines() {
  // The connections due now come out of the heap first, then hear of it: one that re-arms for a
  // time already past is called again on the next turn, not in this loop.
  const auto now = std::chrono::steady_clock::now();
  std::vector<std::shared_ptr<TcpConnection>> due;
  while (!deadlines_.empty() && deadlines_.front().at <= now) {
    std::shared_ptr<TcpConnection> c = deadlines_.front().conn;
    unschedule(*c);
    due.push_back(std::move(c));
  }
  for (auto& c : due) c->on_deadline();
  if (!deadlines_.empty() && deadlines_.front().at < armed_for_) arm_deadlines();
}

void ReadGate::open() {
  closed_ = false;
  auto waiting = std::exchange(waiting_, {});
  for (auto& w : waiting)
    if (auto c = w.lock()) c->resume();
}

TcpListener::TcpListener(asio::io_context& io, HandlerFactory factory, std::string log_module)
    : io_(io), factory_(std::move(factory)), log_module_(std::move(log_module)), deadline_timer_(io) {}

TcpListener::~TcpListener() {
  stop_accepting();
  *alive_ = false;
  alive_.reset();  // connections still alive stop touching the registry
}

Result<tcp::endpoint> open_acceptor(asio::io_context& io, const std::string& host, std::uint16_t port,
                                    std::vector<std::unique_ptr<tcp::acceptor>>& acceptors) {
  boost::system::error_code ec;
  auto address = asio::ip::make_address(host, ec);
  if (ec) {
    tcp::resolver resolver(io);
    auto results = resolver.resolve(host, std::to_string(port), ec);
    if (ec || results.empty()) return std::error_code(ec ? ec : asio::error::host_not_found);
    address = results.begin()->endpoint().address();
  }
  const tcp::endpoint ep(address, port);
  auto acceptor = std::make_unique<tcp::acceptor>(io);
  acceptor->open(ep.protocol(), ec);
  if (!ec) acceptor->set_option(asio::socket_base::reuse_address(true), ec);
  if (!ec && ep.address().is_v6()) acceptor->set_option(asio::ip::v6_only(true), ec);
  if (!ec) acceptor->bind(ep, ec);
  if (!ec) acceptor->listen(asio::socket_base::max_listen_connections, ec);
  if (ec) return std::error_code(ec);
  auto bound = acceptor->local_endpoint(ec);
  acceptors.push_back(std::move(acceptor));
  return bound;
}

Result<tcp::endpoint> TcpListener::listen(const std::string& host, std::uint16_t port) {
  auto bound = open_acceptor(io_, host, port, acceptors_);
  if (bound.ok()) accept(*acceptors_.back());
  return bound;
}

void TcpListener::accept(tcp::acceptor& acceptor) {
  acceptor.async_accept([this, &acceptor, alive = std::weak_ptr<bool>(alive_)](boost::system::error_code ec,
                                                                               tcp::socket socket) {
    if (alive.expired() || ec == asio::error::operation_aborted || !acceptor.is_open()) return;
    if (ec) {
      // Out of file descriptors, typically: say so and retry a little later rather than spin.
      log::get(log_module_)->warn("accept failed: {}", ec.message());
      auto timer = std::make_shared<asio::steady_timer>(io_, std::chrono::milliseconds(100));
      timer->async_wait([this, &acceptor, timer, alive](boost::system::error_code) {
        if (!alive.expired() && acceptor.is_open()) accept(acceptor);
      });
      return;
    }
    auto conn = std::make_shared<TcpConnection>(std::move(socket), *this);
    conn->start(factory_, connections_.insert(connections_.end(), conn));
    accept(acceptor);
  });
}

void TcpListener::stop_accepting() {
  for (auto& a : acceptors_) {
    boost::system::error_code ec;
    a->close(ec);
  }
}

void TcpListener::shutdown() {
  stop_accepting();
  std::vector<std::shared_ptr<TcpConnection>> open;  // each one unregisters itself as it closes
  open.reserve(connections_.size());
  for (const auto& w : connections_)
    if (auto c = w.lock()) open.push_back(std::move(c));
  for (auto& c : open) c->shutdown();
  connections_.clear();
}

}  // namespace mop::net
