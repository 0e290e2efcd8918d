#include "loadgen/engine.hpp"

#include <netinet/in.h>
#include <sys/socket.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/post.hpp>
#include <cstdio>

#include "loadgen/message_header.hpp"

namespace mop::loadgen {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;

namespace {
constexpr int kMaxErrorsPrinted = 10;
// How much a QoS 0 publisher without a rate queues per wakeup: enough to amortize the write,
// small enough that subscribers sharing the thread are not starved.
constexpr std::size_t kBatchBytes = 64 * 1024;
constexpr std::uint32_t kBatchMessages = 256;
}  // namespace

void RunState::error(const std::string& what) {
  errors.fetch_add(1, std::memory_order_relaxed);
  if (errors_printed.fetch_add(1, std::memory_order_relaxed) < kMaxErrorsPrinted) {
    std::fprintf(stderr, "mop bench: %s\n", what.c_str());
  }
}

// ---------------------------------------------------------------------------------------------
Conn::Conn(Worker& w, Role role, std::uint32_t id, std::string client_id, std::string topic,
           const std::string* source_addr)
    : w_(w),
      role_(role),
      id_(id),
      client_id_(std::move(client_id)),
      topic_(std::move(topic)),
      source_addr_(source_addr),
      sock_(w.io),
      reader_(mqtt::kMaxRemainingLength + 5) {
  if (role_ == Role::publisher) {
    tmpl_.topic = topic_;
    tmpl_.qos = static_cast<std::uint8_t>(w.run.opt.qos);
    // The header encoder needs the payload's length only; the bytes are written by produce().
    tmpl_.payload = Payload::adopt(std::string(w.run.opt.size, '\0'));
    if (tmpl_.qos > 0) slot_seq_.assign(65536, 0);
  }
}

bool Conn::rate_limited() const { return role_ == Role::publisher && w_.run.opt.rate > 0; }

void Conn::start_connect() {
  boost::system::error_code ec;
  sock_.open(tcp::v4(), ec);
  if (!ec && source_addr_) {
    // Bind only the address: the port is chosen at connect time, for the (source, destination)
    // pair, so that each source address has its own ~28k ephemeral ports.
    int one = 1;
    ::setsockopt(sock_.native_handle(), IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one);
    sock_.bind(tcp::endpoint(asio::ip::make_address_v4(*source_addr_), 0), ec);
  }
  if (ec) {
    fail("socket/bind: " + ec.message());
    return;
  }
  sock_.async_connect(w_.run.broker, [this](const boost::system::error_code& e) {
    if (e) {
      fail("connect " + client_id_ + ": " + e.message());
      return;
    }
    on_connected();
  });
}

void Conn::on_connected() {
  boost::system::error_code ec;
  sock_.set_option(tcp::no_delay(true), ec);
  sock_.non_blocking(true, ec);
  connected_ = true;
  mqtt::Connect c;
  c.version = w_.run.version;
  c.protocol_name = c.version == mqtt::ProtocolVersion::v31 ? "MQIsdp" : "MQTT";
  c.clean_session = w_.run.opt.clean;
  c.keep_alive = w_.run.opt.keepalive;
  c.client_id = client_id_;
  mqtt::encode(mqtt::Packet{std::move(c)}, w_.run.version, out_);
  flush();
  wait_read();
}

void Conn::wait_read() {
  sock_.async_wait(tcp::socket::wait_read, [this](const boost::system::error_code& ec) {
    if (closed_) return;
    if (ec) {
      fail("read " + client_id_ + ": " + ec.message());
      return;
    }
    on_readable();
  });
}

void Conn::on_readable() {
  // A few reads per wakeup, then back to the event loop so that one busy socket does not
  // starve the others of this thread.
  for (int i = 0; i < 4; ++i) {
    boost::system::error_code ec;
    const std::size_t n = sock_.read_some(asio::buffer(w_.rbuf.get(), Worker::kReadBuf), ec);
    if (ec == asio::error::would_block || ec == asio::error::try_again) break;
    if (ec) {
      fail(ec == asio::error::eof ? "connection " + client_id_ + " closed by the broker"
                                  : "read " + client_id_ + ": " + ec.message());
      return;
    }
    reader_.feed(std::span<const std::uint8_t>(w_.rbuf.get(), n));
    for (;;) {
      auto r = reader_.next();
      if (!r) {
        fail("bad frame from the broker on " + client_id_ + ": " + r.error().message());
        return;
      }
      if (!*r) break;
      if (!handle(**r)) return;
    }
    if (n < Worker::kReadBuf) break;
  }
  if (role_ == Role::publisher && !rate_limited()) produce();
  flush();
  if (!closed_) wait_read();
}

bool Conn::handle(const mqtt::Frame& f) {
  if (f.type() == mqtt::PacketType::publish) {
    on_publish(f);
    return !closed_;
  }
  auto r = mqtt::decode_server_packet(f, w_.run.version);
  if (!r) {
    fail("undecodable packet from the broker on " + client_id_ + ": " + r.error().message());
    return false;
  }
  auto& p = *r;
  if (auto* ack = std::get_if<mqtt::Connack>(&p)) {
    if (ack->return_code != mqtt::ConnectReturnCode::accepted) {
      fail("CONNACK refused " + client_id_ + " with code " + std::to_string(static_cast<int>(ack->return_code)));
      return false;
    }
    if (role_ == Role::subscriber) {
      mqtt::Subscribe s;
      s.packet_id = 1;
      s.entries.push_back({topic_, static_cast<std::uint8_t>(w_.run.opt.qos)});
      mqtt::encode(mqtt::Packet{std::move(s)}, w_.run.version, out_);
    } else {
      became_ready();
    }
  } else if (auto* sa = std::get_if<mqtt::Suback>(&p)) {
    if (sa->return_codes.empty() || sa->return_codes[0] == mqtt::kSubackFailure) {
      fail("SUBSCRIBE to " + topic_ + " refused");
      return false;
    }
    became_ready();
  } else if (auto* pa = std::get_if<mqtt::Puback>(&p)) {
    complete(pa->packet_id);
  } else if (auto* rec = std::get_if<mqtt::Pubrec>(&p)) {
    mqtt::encode(mqtt::Packet{mqtt::Pubrel{rec->packet_id}}, w_.run.version, out_);
  } else if (auto* pc = std::get_if<mqtt::Pubcomp>(&p)) {
    complete(pc->packet_id);
  } else if (auto* rel = std::get_if<mqtt::Pubrel>(&p)) {
    mqtt::encode(mqtt::Packet{mqtt::Pubcomp{rel->packet_id}}, w_.run.version, out_);
  }
  return true;
}

void Conn::on_publish(const mqtt::Frame& f) {
  // Parsed here rather than with decode_server_packet: that copies the payload into a new
  // shared buffer, one allocation per message, and the load generator needs only 16 bytes of it.
  const std::uint8_t qos = (f.flags() >> 1) & 3;
  const auto body = f.body;
  if (body.size() < 2) return fail("truncated PUBLISH on " + client_id_);
  std::size_t pos = 2 + ((std::size_t{body[0]} << 8) | body[1]);
  mqtt::PacketId pid = 0;
  if (qos > 0) {
    if (pos + 2 > body.size()) return fail("truncated PUBLISH on " + client_id_);
    pid = static_cast<mqtt::PacketId>((body[pos] << 8) | body[pos + 1]);
    pos += 2;
  }
  if (pos > body.size() || qos == 3) return fail("malformed PUBLISH on " + client_id_);
  const std::uint64_t now = now_ns();
  received.add();
  if (auto h = read_header(body.subspan(pos))) {
    if (checker.record(h->publisher, h->seq) == SequenceChecker::Outcome::fresh) unique.add();
    const std::uint64_t lat = now > h->send_ns ? now - h->send_ns : 0;
    w_.interval.record(lat);
    w_.total.record(lat);
  }
  if (qos == 1) mqtt::encode(mqtt::Packet{mqtt::Puback{pid}}, w_.run.version, out_);
  if (qos == 2) mqtt::encode(mqtt::Packet{mqtt::Pubrec{pid}}, w_.run.version, out_);
}

void Conn::complete(mqtt::PacketId pid) {
  if (slot_seq_.empty() || slot_seq_[pid] == 0) {
    w_.run.error("acknowledgement for unknown packet id " + std::to_string(pid) + " on " + client_id_);
    return;
  }
  slot_seq_[pid] = 0;
  inflight.set(inflight.get() - 1);
  acked.add();
}

mqtt::PacketId Conn::alloc_packet_id() {
  // Ids are handed out in order and freed roughly in order, so the next one is almost always
  // free; the window (<= 65535) guarantees that some id is.
  for (;;) {
    const mqtt::PacketId pid = next_pid_;
    next_pid_ = next_pid_ == 65535 ? 1 : next_pid_ + 1;
    if (slot_seq_[pid] == 0) return pid;
  }
}

void Conn::produce() {
  if (!ready_ || closed_ || done) return;
  const auto phase = w_.run.phase.load(std::memory_order_relaxed);
  if (phase != Phase::running) return;
  const auto& opt = w_.run.opt;
  std::uint64_t budget = kBatchMessages;
  if (opt.rate > 0) {
    const std::uint64_t start = w_.run.publish_start_ns.load(std::memory_order_relaxed);
    const double elapsed = static_cast<double>(now_ns() - start) / 1e9;
    const auto due = static_cast<std::uint64_t>(elapsed * opt.rate) + 1;
    budget = due > next_seq_ ? due - next_seq_ : 0;
  } else if (opt.qos == 0 && out_off_ != out_.size()) {
    return;  // unlimited QoS 0: the socket's backlog is our flow control
  }
  std::uint64_t queued = 0;
  while (queued < budget) {
    if (opt.count && next_seq_ >= opt.count) {
      done = true;
      break;
    }
    if (opt.qos > 0 && inflight.get() >= opt.window) break;
    if (opt.rate <= 0 && opt.qos == 0 && out_.size() - out_off_ >= kBatchBytes) break;
    mqtt::PacketId pid = 0;
    if (opt.qos > 0) {
      pid = alloc_packet_id();
      slot_seq_[pid] = next_seq_ + 1;
      inflight.set(inflight.get() + 1);
    }
    tmpl_.packet_id = pid;
    mqtt::encode_publish_header(tmpl_, w_.run.version, out_);
    const std::size_t at = out_.size();
    out_.append(w_.filler);
    put_header(MessageHeader{now_ns(), next_seq_, id_}, reinterpret_cast<std::uint8_t*>(out_.data() + at));
    ++next_seq_;
    ++queued;
  }
  if (queued) sent.add(queued);
  flush();
}

std::vector<std::uint32_t> Conn::inflight_seqs() const {
  std::vector<std::uint32_t> out;
  for (auto s : slot_seq_) {
    if (s) out.push_back(s - 1);
  }
  return out;
}

void Conn::flush() {
  if (write_waiting_ || closed_ || !connected_) return;
  while (out_off_ < out_.size()) {
    boost::system::error_code ec;
    const std::size_t n = sock_.write_some(asio::buffer(out_.data() + out_off_, out_.size() - out_off_), ec);
    if (ec == asio::error::would_block || ec == asio::error::try_again) break;
    if (ec) {
      fail("write " + client_id_ + ": " + ec.message());
      return;
    }
    out_off_ += n;
    last_write_ns_ = now_ns();
  }
  if (out_off_ == out_.size()) {
    out_.clear();  // keeps its capacity: no allocation on the next batch
    out_off_ = 0;
    if (role_ == Role::publisher && ready_ && !rate_limited() && w_.run.opt.qos == 0 && !produce_posted_) {
      // Refill from the event loop, not from here: reads of this thread's other sockets get
      // their turn between two batches.
      produce_posted_ = true;
      asio::post(w_.io, [this] {
        produce_posted_ = false;
        produce();
      });
    }
    return;
  }
  write_waiting_ = true;
  sock_.async_wait(tcp::socket::wait_write, [this](const boost::system::error_code& ec) {
    write_waiting_ = false;
    if (closed_) return;
    if (ec) {
      fail("write " + client_id_ + ": " + ec.message());
      return;
    }
    flush();
  });
}

void Conn::became_ready() {
  if (ready_) return;
  ready_ = true;
  w_.run.ready.fetch_add(1, std::memory_order_relaxed);
  const auto now = now_ns();
  auto prev = w_.run.last_ready_ns.load(std::memory_order_relaxed);
  while (prev < now && !w_.run.last_ready_ns.compare_exchange_weak(prev, now, std::memory_order_relaxed)) {
  }
  counted_connect_ = true;
  w_.connect_finished();
}

void Conn::fail(const std::string& why) {
  if (closed_) return;
  closed_ = true;
  // Errors after the run ended (the broker closing first, say) are not the broker's fault.
  if (w_.run.phase.load(std::memory_order_relaxed) != Phase::done) w_.run.error(why);
  boost::system::error_code ec;
  sock_.close(ec);
  if (!counted_connect_) {
    counted_connect_ = true;
    w_.run.failed.fetch_add(1, std::memory_order_relaxed);
    w_.connect_finished();
  }
}

void Conn::disconnect() {
  if (closed_) return;
  if (connected_) {
    mqtt::encode(mqtt::Packet{mqtt::Disconnect{}}, w_.run.version, out_);
    // Best effort: one non-blocking write of whatever is left, then close.
    boost::system::error_code ec;
    sock_.write_some(asio::buffer(out_.data() + out_off_, out_.size() - out_off_), ec);
  }
  closed_ = true;
  boost::system::error_code ec;
  sock_.shutdown(tcp::socket::shutdown_both, ec);
  sock_.close(ec);
}

void Conn::keepalive_tick(std::uint64_t now) {
  const auto ka = w_.run.opt.keepalive;
  if (ka == 0 || !connected_ || closed_) return;
  if (now - last_write_ns_ > static_cast<std::uint64_t>(ka) * 500'000'000ull) {
    mqtt::encode(mqtt::Packet{mqtt::Pingreq{}}, w_.run.version, out_);
    flush();
  }
}

// ---------------------------------------------------------------------------------------------
Worker::Worker(RunState& r, std::size_t index)
    : run(r), filler(r.opt.size, 'x'), rbuf(new std::uint8_t[kReadBuf]), index_(index), ticker_(io) {}

Worker::~Worker() { join(); }

void Worker::start() {
  tick();
  thread_ = std::thread([this] {
    try {
      io.run();
    } catch (const std::exception& e) {
      std::fprintf(stderr, "mop bench: worker %zu: %s\n", index_, e.what());
    }
  });
}

void Worker::join() {
  if (thread_.joinable()) thread_.join();
}

void Worker::connect_all(std::vector<Conn*> list) {
  connect_queue_.insert(connect_queue_.end(), list.begin(), list.end());
  while (connecting_ < run.opt.connect_concurrency && connect_next_ < connect_queue_.size()) {
    ++connecting_;
    connect_queue_[connect_next_++]->start_connect();
  }
}

void Worker::connect_finished() {
  if (connecting_ > 0) --connecting_;
  while (connecting_ < run.opt.connect_concurrency && connect_next_ < connect_queue_.size()) {
    ++connecting_;
    connect_queue_[connect_next_++]->start_connect();
  }
}

void Worker::take_interval(LatencyHistogram& out) {
  out.merge(interval);
  interval.reset();
}

void Worker::tick() {
  // One timer per thread drives every rate-limited publisher (1 ms resolution) and keepalives,
  // instead of one timer per connection.
  const auto now = now_ns();
  if (run.phase.load(std::memory_order_relaxed) == Phase::running) {
    for (Conn* c : rate_publishers) c->produce();
  }
  if (now - last_keepalive_ns_ > 1'000'000'000ull) {
    last_keepalive_ns_ = now;
    for (auto& c : conns) c->keepalive_tick(now);
  }
  if (run.phase.load(std::memory_order_relaxed) == Phase::done) return;
  ticker_.expires_after(std::chrono::milliseconds(rate_publishers.empty() ? 100 : 1));
  ticker_.async_wait([this](const boost::system::error_code& ec) {
    if (!ec) tick();
  });
}

}  // namespace mop::loadgen
