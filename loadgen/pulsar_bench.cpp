#include "loadgen/pulsar_bench.hpp"

#include <unistd.h>

#include <algorithm>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <cstdio>
#include <latch>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>

#include "loadgen/engine.hpp"
#include "loadgen/message_header.hpp"
#include "loadgen/proc_sampler.hpp"
#include "loadgen/pulsar_client.hpp"
#include "loadgen/report.hpp"

namespace mop::loadgen {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;
namespace proto = pulsar::proto;

namespace {

// How much an unlimited producer queues per wakeup (as the MQTT engine): enough to amortize the
// write, small enough that consumers on the same thread get their turn.
constexpr std::size_t kBatchBytes = 64 * 1024;
constexpr std::uint32_t kBatchMessages = 256;
constexpr int kMaxRedirects = 5;

double seconds_since(std::uint64_t t0) { return static_cast<double>(now_ns() - t0) / 1e9; }

std::uint64_t wall_ms() {
  return static_cast<std::uint64_t>(
      std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch()).count());
}

proto::CommandSubscribe::SubType to_proto(SubType t) {
  switch (t) {
    case SubType::exclusive: return proto::CommandSubscribe::Exclusive;
    case SubType::shared: return proto::CommandSubscribe::Shared;
    case SubType::failover: return proto::CommandSubscribe::Failover;
    case SubType::key_shared: return proto::CommandSubscribe::Key_Shared;
  }
  return proto::CommandSubscribe::Exclusive;
}

proto::CompressionType to_proto(Compression c) {
  switch (c) {
    case Compression::none: return proto::NONE;
    case Compression::lz4: return proto::LZ4;
    case Compression::zlib: return proto::ZLIB;
    case Compression::zstd: return proto::ZSTD;
    case Compression::snappy: return proto::SNAPPY;
  }
  return proto::NONE;
}

struct PRun {
  Options opt;
  const std::atomic<bool>* interrupted = nullptr;
  std::string service_url;  // pulsar://host:port as given
  tcp::endpoint broker;
  std::atomic<Phase> phase{Phase::connecting};
  std::atomic<std::uint64_t> publish_start_ns{0};
  std::atomic<std::uint64_t> ready{0}, failed{0}, errors{0}, last_ready_ns{0}, redirects{0};
  std::atomic<int> errors_printed{0};
  void error(const std::string& what) {
    errors.fetch_add(1, std::memory_order_relaxed);
    if (errors_printed.fetch_add(1, std::memory_order_relaxed) < 10) std::fprintf(stderr, "mop bench: %s\n", what.c_str());
  }
};

class PWorker;

// The consumers that share one subscription on one topic (one consumer alone for exclusive):
// together they must receive every message of the topic once. All members live on one worker
// thread, which owns the group.
struct Group {
  std::uint32_t index = 0;
  std::uint32_t topic_index = 0;
  SequenceChecker checker;
  Counter received, unique;
  std::uint32_t members = 0;
  std::atomic<std::uint32_t> members_ready{0};
};

class PConn final : public ClientListener {
public:
  enum class Role { producer, consumer };
  PConn(PWorker& w, Role role, std::uint32_t id, std::string topic, Group* group);

  void start_connect();
  void produce();
  void disconnect();

  Role role() const { return role_; }
  std::uint32_t id() const { return id_; }
  bool ready() const { return ready_; }
  bool closed() const { return closed_; }
  std::uint32_t topic_index = 0;
  std::size_t worker_index = 0;
  Group* group;
  Counter sent, acked;  // producer: messages handed to the client / receipted
  bool done = false;

  // ClientListener
  void on_ready() override;
  void on_receipt(std::uint32_t messages) override;
  void on_message(std::span<const std::uint8_t> payload) override;
  void on_redirect(const std::string& url, bool lookup_again, bool authoritative) override;
  void on_failed(const std::string& why) override;

private:
  PulsarClientConfig config(bool lookup, bool authoritative) const;
  void connect_to(const tcp::endpoint& ep, const std::string& url, bool lookup, bool authoritative);
  void wait_read();
  void on_readable();
  void flush();
  void fail(const std::string& why);
  bool rate_limited() const;

  PWorker& w_;
  Role role_;
  std::uint32_t id_;
  std::string topic_;
  std::string name_;
  tcp::socket sock_;
  std::unique_ptr<PulsarClient> client_;
  std::string out_;
  std::size_t out_off_ = 0;
  bool write_waiting_ = false, produce_posted_ = false;
  bool connected_ = false, ready_ = false, closed_ = false, counted_ = false;
  int redirects_ = 0;
  std::uint64_t gen_ = 0;  // bumped per socket, so callbacks of a replaced socket are ignored
  std::uint32_t next_seq_ = 0;
  std::string payload_;
};

class PWorker {
public:
  PWorker(PRun& r, std::size_t index) : run(r), rbuf(new std::uint8_t[kReadBuf]), index_(index), ticker_(io) {}
  ~PWorker() { join(); }
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
  void take_interval(LatencyHistogram& out) {
    out.merge(interval);
    interval.reset();
  }

  PRun& run;
  asio::io_context io{1};
  std::vector<std::unique_ptr<PConn>> conns;  // after io: destroyed first
  std::unique_ptr<std::uint8_t[]> rbuf;
  static constexpr std::size_t kReadBuf = 256 * 1024;
  LatencyHistogram interval, total;
  std::vector<PConn*> rate_producers;

private:
  void tick() {
    if (run.phase.load(std::memory_order_relaxed) == Phase::running) {
      for (PConn* c : rate_producers) c->produce();
    }
    if (run.phase.load(std::memory_order_relaxed) == Phase::done) return;
    ticker_.expires_after(std::chrono::milliseconds(rate_producers.empty() ? 100 : 1));
    ticker_.async_wait([this](const boost::system::error_code& ec) {
      if (!ec) tick();
    });
  }
  std::size_t index_;
  std::thread thread_;
  asio::steady_timer ticker_;
};

// ---------------------------------------------------------------------------------------------
PConn::PConn(PWorker& w, Role role, std::uint32_t id, std::string topic, Group* g)
    : group(g), w_(w), role_(role), id_(id), topic_(std::move(topic)), sock_(w.io) {
  name_ = (role_ == Role::producer ? "producer " : "consumer ") + std::to_string(id_) + " (" + topic_ + ")";
  if (role_ == Role::producer) payload_.assign(w.run.opt.size, 'x');
}

bool PConn::rate_limited() const { return role_ == Role::producer && w_.run.opt.rate > 0; }

PulsarClientConfig PConn::config(bool lookup, bool authoritative) const {
  const auto& o = w_.run.opt;
  PulsarClientConfig c;
  c.role = role_ == Role::producer ? PulsarClientConfig::Role::producer : PulsarClientConfig::Role::consumer;
  c.topic = topic_;
  c.lookup = lookup;
  c.authoritative = authoritative;
  c.batch = o.batch;
  c.compression = to_proto(o.compression);
  const std::string prefix = o.client_prefix.empty() ? "mb" + std::to_string(::getpid()) : o.client_prefix;
  if (role_ == Role::consumer) {
    // Exclusive: every consumer its own subscription (each receives its topic's every message);
    // the other types: the consumers of a topic share one.
    c.subscription = o.subscription;
    if (o.sub_type == SubType::exclusive && o.subscribers > 1) c.subscription += "-" + std::to_string(id_);
    c.consumer_name = prefix + "-c" + std::to_string(id_);
    c.sub_type = to_proto(o.sub_type);
    c.initial_position = o.initial_earliest ? proto::CommandSubscribe::Earliest : proto::CommandSubscribe::Latest;
    c.receiver_queue = o.receiver_queue;
    c.ack_type = o.ack == AckMode::cumulative ? proto::CommandAck::Cumulative : proto::CommandAck::Individual;
  }
  return c;
}

void PConn::start_connect() { connect_to(w_.run.broker, w_.run.service_url, w_.run.opt.lookup, false); }

void PConn::connect_to(const tcp::endpoint& ep, const std::string& url, bool lookup, bool authoritative) {
  auto cfg = config(lookup, authoritative);
  cfg.service_url = url;
  client_ = std::make_unique<PulsarClient>(std::move(cfg));
  boost::system::error_code ec;
  if (sock_.is_open()) sock_.close(ec);
  const auto gen = ++gen_;
  out_.clear();
  out_off_ = 0;
  connected_ = false;
  write_waiting_ = false;
  sock_.open(tcp::v4(), ec);
  if (ec) return fail("socket: " + ec.message());
  sock_.async_connect(ep, [this, gen](const boost::system::error_code& e) {
    if (gen != gen_ || closed_) return;
    if (e) return fail("connect " + name_ + ": " + e.message());
    boost::system::error_code ec2;
    sock_.set_option(tcp::no_delay(true), ec2);
    sock_.non_blocking(true, ec2);
    connected_ = true;
    client_->start(out_);
    flush();
    wait_read();
  });
}

void PConn::wait_read() {
  const auto gen = gen_;
  sock_.async_wait(tcp::socket::wait_read, [this, gen](const boost::system::error_code& ec) {
    if (gen != gen_ || closed_) return;
    if (ec) return fail("read " + name_ + ": " + ec.message());
    on_readable();
  });
}

void PConn::on_readable() {
  const auto gen = gen_;
  for (int i = 0; i < 4; ++i) {
    boost::system::error_code ec;
    const std::size_t n = sock_.read_some(asio::buffer(w_.rbuf.get(), PWorker::kReadBuf), ec);
    if (ec == asio::error::would_block || ec == asio::error::try_again) break;
    if (ec) {
      return fail(ec == asio::error::eof ? name_ + ": connection closed by the broker" : "read " + name_ + ": " + ec.message());
    }
    if (!client_->feed(std::span<const std::uint8_t>(w_.rbuf.get(), n), out_, *this)) return;  // failed or redirected
    if (gen != gen_ || closed_) return;
    if (n < PWorker::kReadBuf) break;
  }
  if (role_ == Role::consumer) client_->flush_acks(out_);
  if (role_ == Role::producer && !rate_limited()) produce();
  flush();
  if (!closed_) wait_read();
}

void PConn::on_ready() {
  if (ready_) return;
  ready_ = true;
  if (group) group->members_ready.fetch_add(1, std::memory_order_relaxed);
  w_.run.ready.fetch_add(1, std::memory_order_relaxed);
  const auto now = now_ns();
  auto prev = w_.run.last_ready_ns.load(std::memory_order_relaxed);
  while (prev < now && !w_.run.last_ready_ns.compare_exchange_weak(prev, now, std::memory_order_relaxed)) {
  }
  counted_ = true;
}

void PConn::on_receipt(std::uint32_t messages) { acked.add(messages); }

void PConn::on_message(std::span<const std::uint8_t> payload) {
  const std::uint64_t now = now_ns();
  group->received.add();
  if (auto h = read_header(payload)) {
    if (group->checker.record(h->publisher, h->seq) == SequenceChecker::Outcome::fresh) group->unique.add();
    const std::uint64_t lat = now > h->send_ns ? now - h->send_ns : 0;
    w_.interval.record(lat);
    w_.total.record(lat);
  }
}

void PConn::on_redirect(const std::string& url, bool lookup_again, bool authoritative) {
  // The official clients open a connection to the broker the lookup named; so do we.
  if (++redirects_ > kMaxRedirects) return fail(name_ + ": more than 5 lookup redirects (last: " + url + ")");
  w_.run.redirects.fetch_add(1, std::memory_order_relaxed);
  const std::string scheme = "pulsar://";
  const auto colon = url.rfind(':');
  if (!url.starts_with(scheme) || colon == std::string::npos || colon < scheme.size()) {
    return fail(name_ + ": lookup answered with an unusable URL '" + url + "'");
  }
  const std::string host = url.substr(scheme.size(), colon - scheme.size());
  const std::string port = url.substr(colon + 1);
  tcp::endpoint ep;
  try {
    tcp::resolver r(w_.io);
    ep = r.resolve(tcp::v4(), host, port).begin()->endpoint();
  } catch (const std::exception& e) {
    return fail(name_ + ": cannot resolve " + url + " from the lookup: " + e.what());
  }
  // Not from inside the client's feed(): the client is replaced.
  asio::post(w_.io, [this, ep, url, lookup_again, authoritative] {
    if (!closed_) connect_to(ep, url, lookup_again, authoritative);
  });
}

void PConn::on_failed(const std::string& why) { fail(name_ + ": " + why); }

void PConn::produce() {
  if (!ready_ || closed_ || done || role_ != Role::producer) return;
  if (w_.run.phase.load(std::memory_order_relaxed) != Phase::running) return;
  const auto& opt = w_.run.opt;
  std::uint64_t budget = kBatchMessages;
  if (opt.rate > 0) {
    const std::uint64_t start = w_.run.publish_start_ns.load(std::memory_order_relaxed);
    const double elapsed = static_cast<double>(now_ns() - start) / 1e9;
    const auto due = static_cast<std::uint64_t>(elapsed * opt.rate) + 1;
    budget = due > next_seq_ ? due - next_seq_ : 0;
  }
  std::uint64_t queued = 0;
  const std::uint64_t ms = wall_ms();
  while (queued < budget) {
    if (opt.count && next_seq_ >= opt.count) {
      client_->flush_batch(ms, out_);  // the last, partial batch
      done = true;
      break;
    }
    if (client_->pending_messages() >= opt.window) break;
    if (opt.rate <= 0 && out_.size() - out_off_ >= kBatchBytes) break;
    put_header(MessageHeader{now_ns(), next_seq_, id_}, reinterpret_cast<std::uint8_t*>(payload_.data()));
    client_->send({reinterpret_cast<const std::uint8_t*>(payload_.data()), payload_.size()}, ms, out_);
    ++next_seq_;
    ++queued;
  }
  if (queued) sent.add(queued);
  flush();
}

void PConn::flush() {
  if (write_waiting_ || closed_ || !connected_) return;
  while (out_off_ < out_.size()) {
    boost::system::error_code ec;
    const std::size_t n = sock_.write_some(asio::buffer(out_.data() + out_off_, out_.size() - out_off_), ec);
    if (ec == asio::error::would_block || ec == asio::error::try_again) break;
    if (ec) return fail("write " + name_ + ": " + ec.message());
    out_off_ += n;
  }
  if (out_off_ == out_.size()) {
    out_.clear();
    out_off_ = 0;
    if (role_ == Role::producer && ready_ && !rate_limited() && !produce_posted_ && !done &&
        client_->pending_messages() < w_.run.opt.window) {
      // Room in the window: refill from the event loop, so other sockets get their turn.
      produce_posted_ = true;
      asio::post(w_.io, [this] {
        produce_posted_ = false;
        produce();
      });
    }
    return;
  }
  write_waiting_ = true;
  const auto gen = gen_;
  sock_.async_wait(tcp::socket::wait_write, [this, gen](const boost::system::error_code& ec) {
    if (gen != gen_) return;
    write_waiting_ = false;
    if (closed_) return;
    if (ec) return fail("write " + name_ + ": " + ec.message());
    flush();
  });
}

void PConn::fail(const std::string& why) {
  if (closed_) return;
  closed_ = true;
  if (w_.run.phase.load(std::memory_order_relaxed) != Phase::done) w_.run.error(why);
  boost::system::error_code ec;
  sock_.close(ec);
  if (!counted_) {
    counted_ = true;
    w_.run.failed.fetch_add(1, std::memory_order_relaxed);
  }
}

void PConn::disconnect() {
  if (closed_) return;
  if (connected_ && client_) {
    client_->close(out_);
    boost::system::error_code ec;
    sock_.write_some(asio::buffer(out_.data() + out_off_, out_.size() - out_off_), ec);
  }
  closed_ = true;
  boost::system::error_code ec;
  sock_.shutdown(tcp::socket::shutdown_both, ec);
  sock_.close(ec);
}

// ---------------------------------------------------------------------------------------------
struct Totals {
  std::uint64_t sent = 0, acked = 0, received = 0, unique = 0, pending = 0, expected = 0;
  bool producers_done = true, consumers_done = true;
};

class PulsarBench {
public:
  PulsarBench(const Options& o, const std::atomic<bool>& interrupted) {
    run_.opt = o;
    run_.interrupted = &interrupted;
  }
  Summary go(bool progress);

private:
  bool interrupted() const { return run_.interrupted->load(); }
  std::string topic_name(std::uint32_t t) const {
    return run_.opt.topics == 1 ? run_.opt.topic : run_.opt.topic + "-" + std::to_string(t);
  }
  void build();
  bool connect_group(const std::vector<PConn*>& group, double timeout_s);
  Totals totals() const;
  template <typename F> void on_each_worker(F f);
  void compute_checks(Summary& s);

  PRun run_;
  std::vector<std::unique_ptr<PWorker>> workers_;
  std::vector<std::unique_ptr<Group>> groups_;
  std::vector<PConn*> producers_, consumers_;
  std::uint64_t connect_t0_ = 0;
};

void PulsarBench::build() {
  const auto& o = run_.opt;
  for (std::uint32_t i = 0; i < o.threads; ++i) workers_.push_back(std::make_unique<PWorker>(run_, i));
  // Consumer groups: one per consumer (exclusive), or one per topic (the shared types), each on
  // one worker.
  const bool per_consumer = o.sub_type == SubType::exclusive;
  const std::uint32_t ngroups = per_consumer ? o.subscribers : std::min(o.subscribers, o.topics);
  for (std::uint32_t g = 0; g < ngroups; ++g) {
    auto grp = std::make_unique<Group>();
    grp->index = g;
    grp->topic_index = g % o.topics;
    groups_.push_back(std::move(grp));
  }
  std::size_t n = 0;
  auto add = [&](PConn::Role role, std::uint32_t id, std::uint32_t topic_index, Group* g, std::size_t wi) {
    PWorker& w = *workers_[wi];
    ++n;
    w.conns.push_back(std::make_unique<PConn>(w, role, id, topic_name(topic_index), g));
    PConn* c = w.conns.back().get();
    c->topic_index = topic_index;
    c->worker_index = wi;
    if (role == PConn::Role::producer && o.rate > 0) w.rate_producers.push_back(c);
    return c;
  };
  for (std::uint32_t j = 0; j < o.subscribers; ++j) {
    Group* g = groups_[per_consumer ? j : j % o.topics].get();
    ++g->members;
    consumers_.push_back(add(PConn::Role::consumer, j, j % o.topics, g, g->index % workers_.size()));
  }
  for (std::uint32_t i = 0; i < o.publishers; ++i) {
    producers_.push_back(add(PConn::Role::producer, i, i % o.topics, nullptr, n % workers_.size()));
  }
}

template <typename F>
void PulsarBench::on_each_worker(F f) {
  std::latch done(static_cast<std::ptrdiff_t>(workers_.size()));
  for (auto& w : workers_) {
    PWorker* wp = w.get();
    asio::post(wp->io, [wp, &f, &done] {
      f(*wp);
      done.count_down();
    });
  }
  done.wait();
}

bool PulsarBench::connect_group(const std::vector<PConn*>& group, double timeout_s) {
  if (group.empty()) return true;
  const std::uint64_t target = run_.ready.load() + run_.failed.load() + group.size();
  if (connect_t0_ == 0) connect_t0_ = now_ns();
  for (PConn* c : group) {
    asio::post(workers_[c->worker_index]->io, [c] { c->start_connect(); });
  }
  const std::uint64_t t0 = now_ns();
  while (run_.ready.load() + run_.failed.load() < target) {
    if (interrupted() || seconds_since(t0) > timeout_s) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  return true;
}

Totals PulsarBench::totals() const {
  Totals t;
  const auto& o = run_.opt;
  std::vector<std::uint64_t> per_topic(o.topics, 0);
  for (PConn* p : producers_) {
    t.sent += p->sent.get();
    t.acked += p->acked.get();
    per_topic[p->topic_index] += p->acked.get();
    if (!(o.count && p->sent.get() >= o.count)) t.producers_done = false;
  }
  t.pending = t.sent - std::min(t.sent, t.acked);
  for (const auto& g : groups_) {
    t.received += g->received.get();
    t.unique += g->unique.get();
    if (g->members_ready.load(std::memory_order_relaxed) > 0) t.expected += per_topic[g->topic_index];
    if (!(o.count && g->unique.get() >= o.count)) t.consumers_done = false;
  }
  if (producers_.empty()) t.producers_done = false;
  if (groups_.empty()) t.consumers_done = false;
  return t;
}

void PulsarBench::compute_checks(Summary& s) {
  for (const auto& g : groups_) {
    const auto& ch = g->checker;
    s.duplicates += ch.duplicates();
    s.reordered += ch.reordered();
    s.invalid += ch.invalid();
    if (run_.opt.mode == Mode::pulsar_consume) {
      for (auto p : ch.publishers()) s.lost += ch.holes(p);
      continue;
    }
    if (g->members_ready.load() == 0) continue;  // never subscribed: an error, not loss
    std::vector<bool> expected_from(producers_.size(), false);
    for (PConn* p : producers_) {
      if (p->topic_index != g->topic_index) continue;
      expected_from[p->id()] = true;
      // Receipts come in order: messages from `acked` on had none when the run ended, so the
      // broker may or may not have them; they are neither owed nor lost.
      const std::uint64_t receipted = p->acked.get();
      s.lost += ch.missing(p->id(), static_cast<std::uint32_t>(p->sent.get()),
                           [receipted](std::uint32_t seq) { return seq >= receipted; });
    }
    for (auto pid : ch.publishers()) {
      if (pid >= expected_from.size() || !expected_from[pid]) s.misrouted += ch.received_from(pid);
    }
  }
}

Summary PulsarBench::go(bool progress) {
  Summary s;
  s.opt = run_.opt;
  const auto& o = run_.opt;
  try {
    asio::io_context io;
    tcp::resolver r(io);
    run_.broker = r.resolve(tcp::v4(), o.host, std::to_string(o.port)).begin()->endpoint();
  } catch (const std::exception& e) {
    s.failure = "cannot resolve " + o.host + ": " + e.what();
    return s;
  }
  run_.service_url = "pulsar://" + o.host + ":" + std::to_string(o.port);
  build();
  s.conns = producers_.size() + consumers_.size();

  std::optional<ProcSample> broker0;
  std::uint64_t rss_peak = 0;
  if (o.broker_pid) {
    broker0 = sample_process(o.broker_pid);
    if (!broker0) std::fprintf(stderr, "mop bench: cannot read /proc/%d; broker usage not reported\n", o.broker_pid);
  }
  auto sample_broker = [&]() -> std::optional<ProcSample> {
    if (!broker0) return std::nullopt;
    auto p = sample_process(o.broker_pid);
    if (p) rss_peak = std::max(rss_peak, p->rss_kib);
    return p;
  };

  for (auto& w : workers_) w->start();
  auto finish = [&]() {
    run_.phase.store(Phase::done);
    for (auto& w : workers_) {
      PWorker* wp = w.get();
      asio::post(wp->io, [wp] {
        for (auto& c : wp->conns) c->disconnect();
        wp->io.stop();
      });
    }
    for (auto& w : workers_) w->join();
  };

  // Consumers first, so that a subscription at "latest" exists before the first message.
  const double connect_timeout = 30 + static_cast<double>(s.conns) / 500.0;
  const bool connected = connect_group(consumers_, connect_timeout) && connect_group(producers_, connect_timeout);
  s.conns_ready = run_.ready.load();
  s.conns_failed = run_.failed.load();
  if (s.conns_ready > 0) {
    s.connect_s = static_cast<double>(run_.last_ready_ns.load() - connect_t0_) / 1e9;
    if (s.connect_s > 0) s.connect_rate = static_cast<double>(s.conns_ready) / s.connect_s;
  }
  if (interrupted()) s.interrupted = true;
  if (!connected || s.conns_failed > 0) {
    if (!s.interrupted) {
      s.failure = !connected ? "producers/consumers not ready in time (" + std::to_string(s.conns_ready) + " of " +
                                   std::to_string(s.conns) + ")"
                             : std::to_string(s.conns_failed) + " producer(s)/consumer(s) failed";
    }
    finish();
    s.errors = run_.errors.load();
    return s;
  }
  if (progress) {
    std::fprintf(stderr, "mop bench: %zu producer(s)/consumer(s) ready in %.2f s\n",
                 static_cast<std::size_t>(s.conns_ready), s.connect_s);
  }

  const std::uint64_t t_start = now_ns();
  run_.publish_start_ns.store(t_start);
  run_.phase.store(Phase::running);
  on_each_worker([](PWorker& w) {
    for (auto& c : w.conns) c->produce();
  });

  bool measuring = o.warmup <= 0;
  std::uint64_t t_measure = t_start;
  Totals base{};
  std::optional<ProcSample> broker_m = broker0 ? sample_broker() : std::nullopt;
  Totals prev{};
  std::uint64_t prev_ns = t_start, last_progress_ns = t_start, last_moved = 0;
  const bool bounded_by_time = o.duration_given || o.count == 0;
  std::uint64_t next_report = t_start + 1'000'000'000ull;

  for (;;) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
    const std::uint64_t now = now_ns();
    const double t = static_cast<double>(now - t_start) / 1e9;
    Totals cur = totals();
    if (!measuring && t >= o.warmup) {
      measuring = true;
      t_measure = now;
      base = cur;
      on_each_worker([](PWorker& w) { w.total.reset(); });
      broker_m = sample_broker();
    }
    const std::uint64_t moved = cur.sent + cur.received + cur.acked;
    if (moved != last_moved) last_moved = moved, last_progress_ns = now;
    if (now >= next_report) {
      next_report += 1'000'000'000ull;
      LatencyHistogram h;
      std::mutex m;
      on_each_worker([&h, &m](PWorker& w) {
        std::lock_guard lock(m);
        w.take_interval(h);
      });
      auto b = sample_broker();
      if (progress) {
        const double dt = static_cast<double>(now - prev_ns) / 1e9;
        char buf[256];
        std::snprintf(buf, sizeof buf, "[%5.1fs]%s out %s/s in %s/s", t, measuring ? "" : " (warmup)",
                      fmt_count((cur.sent - prev.sent) / dt).c_str(), fmt_count((cur.received - prev.received) / dt).c_str());
        std::string line = buf;
        if (h.count()) line += " | p50 " + fmt_ns(h.percentile(50)) + " p99 " + fmt_ns(h.percentile(99));
        if (!producers_.empty()) line += " | pending " + std::to_string(cur.pending);
        std::snprintf(buf, sizeof buf, " | ready %llu err %llu", static_cast<unsigned long long>(run_.ready.load()),
                      static_cast<unsigned long long>(run_.errors.load()));
        line += buf;
        if (b && broker_m) {
          std::snprintf(buf, sizeof buf, " | broker rss %.1f MiB", static_cast<double>(b->rss_kib) / 1024.0);
          line += buf;
        }
        std::fprintf(stderr, "%s\n", line.c_str());
      }
      prev = cur;
      prev_ns = now;
    }
    if (interrupted()) {
      s.interrupted = true;
      break;
    }
    if (bounded_by_time && t >= o.warmup + o.duration) break;
    // At --count the producers stop; what is still pending is waited for below.
    if (o.count && (o.mode == Mode::pulsar_consume ? cur.consumers_done : cur.producers_done)) break;
    if (seconds_since(last_progress_ns) > 10) {
      s.stalled = true;
      break;
    }
  }

  const std::uint64_t t_end = now_ns();
  Totals at_end = totals();
  if (!measuring) base = Totals{}, t_measure = t_start;
  auto broker_end = sample_broker();
  run_.phase.store(Phase::stopping);

  // Receipts still on their way, and the messages they stand for.
  if (!s.interrupted && (!groups_.empty() || !producers_.empty()) && o.mode != Mode::pulsar_consume) {
    const std::uint64_t drain_start = now_ns();
    std::uint64_t last_change = drain_start, last_seen = ~0ull;
    for (;;) {
      Totals cur = totals();
      if (cur.pending == 0 && (groups_.empty() || cur.unique >= cur.expected)) break;
      const std::uint64_t seen = cur.received + cur.acked;
      if (seen != last_seen) last_seen = seen, last_change = now_ns();
      if (seconds_since(last_change) > std::min(1.0, o.drain_timeout) || seconds_since(drain_start) > o.drain_timeout) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
  }
  const Totals drained = totals();
  finish();

  s.elapsed_s = static_cast<double>(t_end - t_measure) / 1e9;
  s.sent = at_end.sent - base.sent;
  // Receipts and deliveries are counted to the end of the drain: with --count, "all receipted,
  // all received" is the answer.
  s.acked = drained.acked - base.acked;
  s.received = drained.received - base.received;
  if (s.elapsed_s > 0) {
    // Rates over the measured interval only; the counts above include the drain.
    s.out_rate = static_cast<double>(s.sent) / s.elapsed_s;
    s.in_rate = static_cast<double>(at_end.received - base.received) / s.elapsed_s;
  }
  for (auto& w : workers_) s.latency.merge(w->total);
  compute_checks(s);
  s.errors = run_.errors.load();
  s.redirects = run_.redirects.load();
  if (o.mode == Mode::pulsar_consume && o.count && !s.interrupted) {
    const Totals t = totals();
    if (!t.consumers_done) {
      s.failure = "--count " + std::to_string(o.count) + " not reached: " + std::to_string(t.unique) +
                  " distinct message(s) received in all";
    }
  }
  if (broker0 && broker_m && broker_end) {
    BrokerUsage u;
    u.cpu_pct = s.elapsed_s > 0 ? 100.0 * (broker_end->cpu_seconds - broker_m->cpu_seconds) / s.elapsed_s : 0;
    u.rss_before_kib = broker0->rss_kib;
    u.rss_kib = broker_end->rss_kib;
    u.rss_peak_kib = rss_peak;
    if (s.conns_ready > 0 && u.rss_kib > u.rss_before_kib) {
      u.rss_per_conn_kib = static_cast<double>(u.rss_kib - u.rss_before_kib) / static_cast<double>(s.conns_ready);
    }
    s.broker = u;
  }
  return s;
}

}  // namespace

Summary run_pulsar(const Options& opt, bool progress, const std::atomic<bool>& interrupted) {
  PulsarBench b(opt, interrupted);
  return b.go(progress);
}

}  // namespace mop::loadgen
