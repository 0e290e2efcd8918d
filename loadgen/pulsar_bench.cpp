#include "loadgen/pulsar_bench.hpp"

#include <unistd.h>

#include <algorithm>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <chrono>
#include <limits>
#include <cstdio>
#include <memory>
#include <thread>

#include "loadgen/driver.hpp"
#include "loadgen/engine_base.hpp"
#include "loadgen/message_header.hpp"
#include "loadgen/sequence_checker.hpp"
#include "pulsar/client/asio_client.hpp"

namespace mop::loadgen {

namespace asio = boost::asio;
namespace client = pulsar::client;
namespace proto = pulsar::proto;

namespace {

constexpr int kMaxRedirects = 5;

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

// One producer or consumer of pulsar/client, with a Client of its own on its worker's
// io_context, so that each has its own connection (what the bench measures, as before).
// Everything runs on the worker's thread; the library's callbacks are posted there.
class PConn {
public:
  enum class Role { producer, consumer };
  PConn(PWorker& w, Role role, std::uint32_t id, std::string topic, Group* group);

  void start_connect();
  void produce();
  // Orderly end (best effort: the worker's io_context stops right after).
  void disconnect();

  bool ready() const { return ready_; }
  Role role() const { return role_; }
  std::uint32_t id() const { return id_; }
  std::uint32_t topic_index = 0;
  std::size_t worker_index = 0;
  Group* group;
  Counter sent, acked;  // producer: messages handed to the client / receipted
  bool done = false;

private:
  client::ClientConfig client_config() const;
  void mark_ready();
  void fail(const std::string& why);
  void on_message(const client::Message& m);
  bool rate_limited() const { return role_ == Role::producer && run_.opt.rate > 0; }
  void count_redirects();

  PWorker& w_;
  PRun& run_;
  Role role_;
  std::uint32_t id_;
  std::string topic_;
  std::string name_;
  std::unique_ptr<client::AsioClient> client_;
  std::shared_ptr<client::Producer> producer_;
  std::shared_ptr<client::Consumer> consumer_;
  std::uint64_t redirects_counted_ = 0;
  std::uint32_t next_seq_ = 0;
  std::string payload_;
  bool ready_ = false, closed_ = false, counted_ = false, produce_posted_ = false;
};

class PWorker final : public WorkerBase<PConn> {
public:
  PWorker(PRun& r, std::size_t index) : WorkerBase(r, index), run(r) {}
  PRun& run;
};

// ---------------------------------------------------------------------------------------------
PConn::PConn(PWorker& w, Role role, std::uint32_t id, std::string topic, Group* g)
    : group(g), w_(w), run_(w.run), role_(role), id_(id), topic_(std::move(topic)) {
  name_ = (role_ == Role::producer ? "producer " : "consumer ") + std::to_string(id_) + " (" + topic_ + ")";
  if (role_ == Role::producer) payload_.assign(run_.opt.size, 'x');
}

client::ClientConfig PConn::client_config() const {
  client::ClientConfig c;
  c.service_url = run_.service_url;
  c.lookup = run_.opt.lookup;
  c.client_version = "mop-bench/0.1";
  c.max_lookup_redirects = kMaxRedirects;
  return c;
}

void PConn::start_connect() {
  auto made = client::make_asio_client(w_.io, client_config());
  if (!made.ok()) return fail(name_ + ": " + made.error().to_string());
  client_ = std::move(made).value();
  const auto& o = run_.opt;
  const std::string prefix = o.client_prefix.empty() ? "mb" + std::to_string(::getpid()) : o.client_prefix;
  if (role_ == Role::producer) {
    client::ProducerConfig p;
    p.topic = topic_;
    p.send_window = o.window;
    p.max_pending_messages = o.window;
    p.batching_max_messages = o.batch > 1 ? o.batch : 0;
    p.batching_max_bytes = std::numeric_limits<std::uint32_t>::max();  // --batch counts messages only
    p.compression = to_proto(o.compression);
    client_->client().create_producer(p, [this](Result<std::shared_ptr<client::Producer>, Error> r) {
      count_redirects();
      if (!r.ok()) return fail(name_ + ": " + r.error().to_string());
      producer_ = std::move(r).value();
      mark_ready();
      if (!rate_limited()) produce();
    });
    return;
  }
  client::ConsumerConfig c;
  c.topic = topic_;
  // Exclusive: every consumer its own subscription (each receives its topic's every message);
  // the other types: the consumers of a topic share one.
  c.subscription = o.subscription;
  if (o.sub_type == SubType::exclusive && o.subscribers > 1) c.subscription += "-" + std::to_string(id_);
  c.consumer_name = prefix + "-c" + std::to_string(id_);
  c.type = to_proto(o.sub_type);
  c.initial_position = o.initial_earliest ? proto::CommandSubscribe::Earliest : proto::CommandSubscribe::Latest;
  c.receiver_queue = o.receiver_queue;
  c.listener = [this](client::Consumer&, const client::Message& m) { on_message(m); };
  client_->client().subscribe(c, [this](Result<std::shared_ptr<client::Consumer>, Error> r) {
    count_redirects();
    if (!r.ok()) return fail(name_ + ": " + r.error().to_string());
    consumer_ = std::move(r).value();
    mark_ready();
  });
}

void PConn::count_redirects() {
  const auto n = client_->client().lookup_redirects();
  run_.redirects.fetch_add(n - redirects_counted_, std::memory_order_relaxed);
  redirects_counted_ = n;
}

void PConn::mark_ready() {
  if (ready_ || closed_) return;
  ready_ = true;
  counted_ = true;
  run_.count_ready();
  if (group) group->members_ready.fetch_add(1, std::memory_order_relaxed);
}

void PConn::fail(const std::string& why) {
  if (closed_) return;
  closed_ = true;
  // Errors after the run ended (the broker closing first, say) are not the broker's fault.
  if (run_.phase.load(std::memory_order_relaxed) != Phase::done) run_.error(why);
  if (!counted_) {
    counted_ = true;
    run_.failed.fetch_add(1, std::memory_order_relaxed);
  }
}

void PConn::on_message(const client::Message& m) {
  const std::uint64_t now = now_ns();
  group->received.add();
  const std::span<const std::uint8_t> payload(reinterpret_cast<const std::uint8_t*>(m.payload.data()), m.payload.size());
  if (auto h = read_header(payload)) {
    if (group->checker.record(h->publisher, h->seq) == SequenceChecker::Outcome::fresh) group->unique.add();
    const std::uint64_t lat = now > h->send_ns ? now - h->send_ns : 0;
    w_.interval.record(lat);
    w_.total.record(lat);
  }
  auto done = [this](Result<void, Error> r) {
    if (!r.ok() && run_.phase.load(std::memory_order_relaxed) == Phase::running) run_.error(name_ + ": ack: " + r.error().to_string());
  };
  if (run_.opt.ack == AckMode::cumulative) consumer_->acknowledge_cumulative(m.id, done);
  else consumer_->acknowledge(m.id, done);
}

void PConn::produce() {
  if (!ready_ || closed_ || done || role_ != Role::producer) return;
  if (run_.phase.load(std::memory_order_relaxed) != Phase::running) return;
  const auto& opt = run_.opt;
  const std::uint64_t budget = run_.produce_budget(next_seq_);
  std::uint64_t queued = 0;
  while (queued < budget) {
    if (opt.count && next_seq_ >= opt.count) {
      producer_->flush([](Result<void, Error>) {});  // the last, partial batch
      done = true;
      break;
    }
    if (producer_->pending_messages() >= opt.window) break;
    put_header(MessageHeader{now_ns(), next_seq_, id_}, reinterpret_cast<std::uint8_t*>(payload_.data()));
    producer_->send(client::OutgoingMessage{.payload = payload_}, [this](Result<client::MessageId, Error> r) {
      if (!r.ok()) {
        if (run_.phase.load(std::memory_order_relaxed) != Phase::done) run_.error(name_ + ": " + r.error().to_string());
        return;
      }
      acked.add();
      // Room in the window again: refill from the event loop, once per wakeup.
      if (!rate_limited() && !produce_posted_) {
        produce_posted_ = true;
        asio::post(w_.io, [this] {
          produce_posted_ = false;
          produce();
        });
      }
    });
    ++next_seq_;
    ++queued;
  }
  if (queued) sent.add(queued);
}

void PConn::disconnect() {
  if (closed_ || !client_) return;
  closed_ = true;
  client_->client().close([](Result<void, Error>) {});
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
