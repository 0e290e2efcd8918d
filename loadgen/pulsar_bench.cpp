#include "loadgen/pulsar_bench.hpp"

#include <unistd.h>

#include <algorithm>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <chrono>
#include <cstdio>
#include <memory>
#include <thread>

#include "loadgen/driver.hpp"
#include "loadgen/engine_base.hpp"
#include "loadgen/message_header.hpp"
#include "loadgen/pulsar_client.hpp"
#include "loadgen/sequence_checker.hpp"

namespace mop::loadgen {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;
namespace proto = pulsar::proto;

namespace {

constexpr int kMaxRedirects = 5;

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

struct PRun : RunBase {
  const std::atomic<bool>* interrupted = nullptr;
  std::string service_url;  // pulsar://host:port as given
  std::atomic<std::uint64_t> redirects{0};
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

class PConn final : public StreamConn<PConn>, public ClientListener {
public:
  enum class Role { producer, consumer };
  PConn(PWorker& w, Role role, std::uint32_t id, std::string topic, Group* group);

  void start_connect();
  void produce();

  Role role() const { return role_; }
  std::uint32_t id() const { return id_; }
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

  // StreamConn hooks.
  const std::string& label() const { return name_; }
  std::string closed_by_broker() const { return name_ + ": connection closed by the broker"; }
  void greet(std::string& out) { client_->start(out); }
  bool on_bytes(std::span<const std::uint8_t> bytes) { return client_->feed(bytes, out_, *this); }
  void after_read();
  bool wants_refill() const;
  void goodbye(std::string& out) {
    if (client_) client_->close(out);
  }
  void on_connect_resolved() {}

private:
  PulsarClientConfig config(bool lookup, bool authoritative) const;
  void connect_to(const tcp::endpoint& ep, const std::string& url, bool lookup, bool authoritative);
  bool rate_limited() const;

  PWorker& w_;
  Role role_;
  std::uint32_t id_;
  std::string topic_;
  std::string name_;
  std::unique_ptr<PulsarClient> client_;
  int redirects_ = 0;
  std::uint32_t next_seq_ = 0;
  std::string payload_;
};

class PWorker final : public WorkerBase<PConn> {
public:
  PWorker(PRun& r, std::size_t index) : WorkerBase(r, index), run(r) {}
  PRun& run;
};

// ---------------------------------------------------------------------------------------------
PConn::PConn(PWorker& w, Role role, std::uint32_t id, std::string topic, Group* g)
    : StreamConn(w.io, w.run, w.rbuf.get(), PWorker::kReadBuf),
      group(g),
      w_(w),
      role_(role),
      id_(id),
      topic_(std::move(topic)) {
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
  if (auto ec = open_socket(nullptr)) return fail("socket: " + ec.message());
  connect(ep);
}

void PConn::after_read() {
  if (role_ == Role::consumer) client_->flush_acks(out_);
  if (role_ == Role::producer && !rate_limited()) produce();
}

void PConn::on_ready() {
  if (ready_) return;
  if (group) group->members_ready.fetch_add(1, std::memory_order_relaxed);
  mark_ready();
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
  const std::uint64_t budget = w_.run.produce_budget(next_seq_);
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

bool PConn::wants_refill() const {
  // Room in the window: refill from the event loop, so other sockets get their turn.
  return role_ == Role::producer && ready_ && !rate_limited() && !done &&
         client_->pending_messages() < w_.run.opt.window;
}

// ---------------------------------------------------------------------------------------------
// The Pulsar modes for drive() (driver.hpp).
class PulsarBench {
public:
  PulsarBench(const Options& o, const std::atomic<bool>& interrupted) {
    run_.opt = o;
    run_.interrupted = &interrupted;
  }

  // drive() hooks.
  RunBase& run() { return run_; }
  std::vector<std::unique_ptr<PWorker>>& workers() { return workers_; }
  void build();
  std::uint64_t connections() const { return producers_.size() + consumers_.size(); }
  bool connect(double timeout_s) {
    // Consumers first, so that a subscription at "latest" exists before the first message.
    return connect_group(consumers_, timeout_s) && connect_group(producers_, timeout_s);
  }
  const char* conns_noun() const { return "producers/consumers"; }
  const char* conns_counted() const { return "producer(s)/consumer(s)"; }
  bool failed_conns_fatal() const { return true; }
  void report_ready(const Summary& s) const {
    std::fprintf(stderr, "mop bench: %zu producer(s)/consumer(s) ready in %.2f s\n",
                 static_cast<std::size_t>(s.conns_ready), s.connect_s);
  }
  Totals totals() const;
  void progress_inflight(std::string& line, const Totals& cur) const {
    if (!producers_.empty()) line += " | pending " + std::to_string(cur.inflight);
  }
  const char* ready_label() const { return "ready"; }
  bool consume_only() const { return run_.opt.mode == Mode::pulsar_consume; }
  bool can_stall() const { return true; }
  // Receipts still on their way, and the messages they stand for.
  bool wants_drain() const {
    return (!groups_.empty() || !producers_.empty()) && run_.opt.mode != Mode::pulsar_consume;
  }
  bool drained(const Totals& cur) const { return cur.inflight == 0 && (groups_.empty() || cur.unique >= cur.expected); }
  // Receipts and deliveries are counted to the end of the drain: with --count, "all receipted,
  // all received" is the answer.
  bool counts_include_drain() const { return true; }
  void compute_checks(Summary& s);
  void complete(Summary& s);

private:
  std::string topic_name(std::uint32_t t) const {
    return run_.opt.topics == 1 ? run_.opt.topic : run_.opt.topic + "-" + std::to_string(t);
  }
  bool connect_group(const std::vector<PConn*>& group, double timeout_s);

  PRun run_;
  std::vector<std::unique_ptr<PWorker>> workers_;
  std::vector<std::unique_ptr<Group>> groups_;
  std::vector<PConn*> producers_, consumers_;
};

void PulsarBench::build() {
  const auto& o = run_.opt;
  run_.service_url = "pulsar://" + o.host + ":" + std::to_string(o.port);
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

bool PulsarBench::connect_group(const std::vector<PConn*>& group, double timeout_s) {
  if (group.empty()) return true;
  const std::uint64_t target = run_.ready.load() + run_.failed.load() + group.size();
  for (PConn* c : group) {
    asio::post(workers_[c->worker_index]->io, [c] { c->start_connect(); });
  }
  return await_connections(run_, target, timeout_s, *run_.interrupted);
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
  t.inflight = t.sent - std::min(t.sent, t.acked);
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

void PulsarBench::complete(Summary& s) {
  const auto& o = run_.opt;
  s.redirects = run_.redirects.load();
  if (o.mode == Mode::pulsar_consume && o.count && !s.interrupted) {
    const Totals t = totals();
    if (!t.consumers_done) {
      s.failure = "--count " + std::to_string(o.count) + " not reached: " + std::to_string(t.unique) +
                  " distinct message(s) received in all";
    }
  }
}

}  // namespace

Summary run_pulsar(const Options& opt, bool progress, const std::atomic<bool>& interrupted) {
  PulsarBench b(opt, interrupted);
  return drive(b, progress, interrupted);
}

}  // namespace mop::loadgen
