#include "loadgen/bench.hpp"

#include <unistd.h>

#include <algorithm>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <csignal>
#include <cstdio>
#include <functional>
#include <latch>
#include <mutex>
#include <nlohmann/json.hpp>
#include <thread>

#include "loadgen/engine.hpp"
#include "loadgen/proc_sampler.hpp"
#include "loadgen/pulsar_bench.hpp"
#include "loadgen/report.hpp"

namespace mop::loadgen {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;

namespace {

std::atomic<bool> g_interrupted{false};
extern "C" void on_sigint(int) { g_interrupted.store(true); }

double seconds_since(std::uint64_t t0) { return static_cast<double>(now_ns() - t0) / 1e9; }

struct Totals {
  std::uint64_t sent = 0, acked = 0, received = 0, unique = 0, inflight = 0, expected = 0;
  bool publishers_done = true;
  bool subscribers_done = true;  // sub --count
};

class Bench {
public:
  explicit Bench(const Options& o) { run_.opt = o; }
  Summary go(bool progress);

private:
  bool resolve(Summary& s);
  void build();
  bool connect_group(const std::vector<Conn*>& group, double timeout_s);
  Totals totals() const;
  LatencyHistogram take_intervals();
  template <typename F> void on_each_worker(F f);
  void compute_checks(Summary& s);

  RunState run_;
  std::vector<std::unique_ptr<Worker>> workers_;
  std::vector<Conn*> pubs_, subs_, idle_;
  std::uint64_t connect_t0_ = 0;
};

bool Bench::resolve(Summary& s) {
  try {
    asio::io_context io;
    tcp::resolver r(io);
    auto results = r.resolve(tcp::v4(), run_.opt.host, std::to_string(run_.opt.port));
    run_.broker = results.begin()->endpoint();
    return true;
  } catch (const std::exception& e) {
    s.failure = "cannot resolve " + run_.opt.host + ": " + e.what();
    return false;
  }
}

void Bench::build() {
  const auto& o = run_.opt;
  run_.version = o.version == 3 ? mqtt::ProtocolVersion::v31 : mqtt::ProtocolVersion::v311;
  for (std::uint32_t i = 0; i < o.threads; ++i) workers_.push_back(std::make_unique<Worker>(run_, i));
  const std::string prefix = o.client_prefix.empty() ? "mb" + std::to_string(::getpid()) : o.client_prefix;
  std::size_t n = 0;  // all connections, for spreading over threads and source addresses
  auto add = [&](Conn::Role role, std::uint32_t id, const char* tag, std::uint32_t topic_index) {
    Worker& w = *workers_[n % workers_.size()];
    const std::string* src = o.source_addrs.empty() ? nullptr : &o.source_addrs[n % o.source_addrs.size()];
    ++n;
    w.conns.push_back(std::make_unique<Conn>(w, role, id, prefix + tag + std::to_string(id),
                                             o.topic + "/" + std::to_string(topic_index), src));
    Conn* c = w.conns.back().get();
    c->topic_index = topic_index;
    if (role == Conn::Role::publisher && o.rate > 0) w.rate_publishers.push_back(c);
    return c;
  };
  const bool subs = o.mode == Mode::sub || o.mode == Mode::pubsub;
  const bool pubs = o.mode == Mode::pub || o.mode == Mode::pubsub;
  for (std::uint32_t j = 0; subs && j < o.subscribers; ++j) subs_.push_back(add(Conn::Role::subscriber, j, "-s", j % o.topics));
  for (std::uint32_t i = 0; pubs && i < o.publishers; ++i) pubs_.push_back(add(Conn::Role::publisher, i, "-p", i % o.topics));
  if (o.mode == Mode::conn) {
    for (std::uint32_t k = 0; k < o.conns; ++k) idle_.push_back(add(Conn::Role::idle, k, "-c", 0));
  }
}

template <typename F>
void Bench::on_each_worker(F f) {
  // Runs f(worker) on each worker's own thread and waits for all of them.
  std::latch done(static_cast<std::ptrdiff_t>(workers_.size()));
  for (auto& w : workers_) {
    Worker* wp = w.get();
    asio::post(wp->io, [wp, &f, &done] {
      f(*wp);
      done.count_down();
    });
  }
  done.wait();
}

bool Bench::connect_group(const std::vector<Conn*>& group, double timeout_s) {
  if (group.empty()) return true;
  const std::uint64_t target = run_.ready.load() + run_.failed.load() + group.size();
  std::vector<std::vector<Conn*>> per(workers_.size());
  for (Conn* c : group) per[c->worker_index].push_back(c);
  if (connect_t0_ == 0) connect_t0_ = now_ns();
  for (std::size_t i = 0; i < workers_.size(); ++i) {
    Worker* w = workers_[i].get();
    asio::post(w->io, [w, list = std::move(per[i])]() mutable { w->connect_all(std::move(list)); });
  }
  const std::uint64_t t0 = now_ns();
  while (run_.ready.load() + run_.failed.load() < target) {
    if (g_interrupted.load() || seconds_since(t0) > timeout_s) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  return true;
}

Totals Bench::totals() const {
  Totals t;
  const auto& o = run_.opt;
  // Expected deliveries per topic: what its publishers got accepted (QoS 0: wrote).
  std::vector<std::uint64_t> per_topic(o.topics, 0);
  for (Conn* p : pubs_) {
    t.sent += p->sent.get();
    t.acked += p->acked.get();
    t.inflight += p->inflight.get();
    per_topic[p->topic_index] += o.qos == 0 ? p->sent.get() : p->acked.get();
    if (!(o.count && p->sent.get() >= o.count)) t.publishers_done = false;
  }
  for (Conn* s : subs_) {
    t.received += s->received.get();
    t.unique += s->unique.get();
    if (s->ready() && !s->closed()) t.expected += per_topic[s->topic_index];
    if (!(o.count && s->received.get() >= o.count)) t.subscribers_done = false;
  }
  if (pubs_.empty()) t.publishers_done = false;
  if (subs_.empty()) t.subscribers_done = false;
  return t;
}

LatencyHistogram Bench::take_intervals() {
  LatencyHistogram h;
  std::mutex m;  // workers merge from their own threads
  on_each_worker([&h, &m](Worker& w) {
    std::lock_guard lock(m);
    w.take_interval(h);
  });
  return h;
}

void Bench::compute_checks(Summary& s) {
  const auto& o = run_.opt;
  for (Conn* sub : subs_) {
    const auto& ch = sub->checker;
    s.duplicates += ch.duplicates();
    s.reordered += ch.reordered();
    s.invalid += ch.invalid();
    if (o.mode == Mode::sub) {
      for (auto p : ch.publishers()) s.lost += ch.holes(p);
      continue;
    }
    if (!sub->ready()) continue;  // never subscribed: counted as an error, not as loss
    std::vector<bool> expected_from(pubs_.size(), false);
    for (Conn* p : pubs_) {
      if (p->topic_index != sub->topic_index) continue;
      expected_from[p->id()] = true;
      // A QoS 1/2 message still unacknowledged when publishing stopped may or may not have
      // been taken by the broker: it is neither owed nor lost.
      std::vector<std::uint32_t> open = o.qos > 0 ? p->inflight_seqs() : std::vector<std::uint32_t>{};
      std::function<bool(std::uint32_t)> excused;
      if (!open.empty()) {
        excused = [&open](std::uint32_t seq) { return std::binary_search(open.begin(), open.end(), seq); };
      }
      s.lost += ch.missing(p->id(), static_cast<std::uint32_t>(p->sent.get()), excused);
    }
    for (auto pid : ch.publishers()) {
      if (pid >= expected_from.size() || !expected_from[pid]) s.misrouted += ch.received_from(pid);
    }
  }
}

Summary Bench::go(bool progress) {
  Summary s;
  s.opt = run_.opt;
  const auto& o = run_.opt;
  if (!resolve(s)) return s;
  build();
  s.conns = subs_.size() + pubs_.size() + idle_.size();

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
      Worker* wp = w.get();
      asio::post(wp->io, [wp] {
        for (auto& c : wp->conns) c->disconnect();
        wp->io.stop();
      });
    }
    for (auto& w : workers_) w->join();
  };

  // Subscribers first, so that no message is published before every subscription exists.
  const double connect_timeout = 30 + static_cast<double>(s.conns) / 500.0;
  bool connected = connect_group(subs_, connect_timeout) && connect_group(pubs_, connect_timeout) &&
                   connect_group(idle_, connect_timeout);
  s.conns_ready = run_.ready.load();
  s.conns_failed = run_.failed.load();
  if (s.conns_ready > 0) {
    s.connect_s = static_cast<double>(run_.last_ready_ns.load() - connect_t0_) / 1e9;
    if (s.connect_s > 0) s.connect_rate = static_cast<double>(s.conns_ready) / s.connect_s;
  }
  if (g_interrupted.load()) s.interrupted = true;
  if (!connected || (o.mode != Mode::conn && s.conns_failed > 0)) {
    if (!s.interrupted) {
      s.failure = !connected ? "connections not ready in time (" + std::to_string(s.conns_ready) + " of " +
                                   std::to_string(s.conns) + ")"
                             : std::to_string(s.conns_failed) + " connection(s) failed";
    }
    finish();
    s.errors = run_.errors.load();
    return s;
  }
  if (progress) {
    std::fprintf(stderr, "mop bench: %zu connection(s) ready in %.2f s (%s connects/s)\n",
                 static_cast<std::size_t>(s.conns_ready), s.connect_s, fmt_count(s.connect_rate).c_str());
  }

  // Publishing (or holding, for conn) starts now.
  const std::uint64_t t_start = now_ns();
  run_.publish_start_ns.store(t_start);
  run_.phase.store(Phase::running);
  on_each_worker([this](Worker& w) {
    for (auto& c : w.conns) {
      if (c->role() == Conn::Role::publisher) c->produce();
    }
  });

  const bool has_warmup = o.warmup > 0;
  bool measuring = !has_warmup;
  std::uint64_t t_measure = t_start;
  Totals base{};
  std::optional<ProcSample> broker_m = broker0 ? sample_broker() : std::nullopt;
  Totals prev{};
  std::uint64_t prev_ns = t_start;
  std::uint64_t last_progress_ns = t_start;
  std::uint64_t last_moved = 0;
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
      on_each_worker([](Worker& w) { w.total.reset(); });
      broker_m = sample_broker();
    }
    const std::uint64_t moved = cur.sent + cur.received + cur.acked;
    if (moved != last_moved) last_moved = moved, last_progress_ns = now;

    if (now >= next_report) {
      next_report += 1'000'000'000ull;
      LatencyHistogram h = take_intervals();
      auto b = sample_broker();
      if (progress) {
        const double dt = static_cast<double>(now - prev_ns) / 1e9;
        std::string line;
        char buf[256];
        std::snprintf(buf, sizeof buf, "[%5.1fs]%s out %s/s in %s/s", t, measuring ? "" : " (warmup)",
                      fmt_count((cur.sent - prev.sent) / dt).c_str(),
                      fmt_count((cur.received - prev.received) / dt).c_str());
        line += buf;
        if (h.count()) line += " | p50 " + fmt_ns(h.percentile(50)) + " p99 " + fmt_ns(h.percentile(99));
        if (o.qos > 0 && !pubs_.empty()) line += " | inflight " + std::to_string(cur.inflight);
        std::snprintf(buf, sizeof buf, " | conns %llu err %llu",
                      static_cast<unsigned long long>(run_.ready.load()),
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

    if (g_interrupted.load()) {
      s.interrupted = true;
      break;
    }
    if (bounded_by_time && t >= o.warmup + o.duration) break;
    if (o.count && (o.mode == Mode::sub ? cur.subscribers_done : cur.publishers_done)) break;
    if (o.mode != Mode::conn && seconds_since(last_progress_ns) > 10) {
      s.stalled = true;
      break;
    }
  }

  // The measured interval ends here; what arrives during the drain still counts for loss.
  const std::uint64_t t_end = now_ns();
  Totals at_end = totals();
  if (!measuring) base = Totals{}, t_measure = t_start;
  auto broker_end = sample_broker();
  run_.phase.store(Phase::stopping);

  if (!subs_.empty() && !s.interrupted) {
    const std::uint64_t drain_start = now_ns();
    std::uint64_t last_change = drain_start, last_seen = ~0ull;
    for (;;) {
      Totals cur = totals();
      if (cur.inflight == 0 && cur.unique >= cur.expected && o.mode != Mode::sub) break;
      const std::uint64_t seen = cur.received + cur.acked;
      if (seen != last_seen) last_seen = seen, last_change = now_ns();
      if (seconds_since(last_change) > std::min(1.0, o.drain_timeout) || seconds_since(drain_start) > o.drain_timeout) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
  }
  finish();

  s.elapsed_s = static_cast<double>(t_end - t_measure) / 1e9;
  s.sent = at_end.sent - base.sent;
  s.acked = at_end.acked - base.acked;
  s.received = at_end.received - base.received;
  if (s.elapsed_s > 0) {
    s.out_rate = static_cast<double>(s.sent) / s.elapsed_s;
    s.in_rate = static_cast<double>(s.received) / s.elapsed_s;
  }
  for (auto& w : workers_) s.latency.merge(w->total);
  compute_checks(s);
  s.errors = run_.errors.load();
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

Summary run(const Options& opt, bool progress) {
  if (is_pulsar(opt.mode)) return run_pulsar(opt, progress, g_interrupted);
  Bench b(opt);
  return b.go(progress);
}

std::string summary_text(const Summary& s) {
  const auto& o = s.opt;
  std::string out;
  char b[512];
  const bool pulsar = is_pulsar(o.mode);
  if (pulsar) {
    out += std::string("mop bench ") + to_string(o.mode) + ":";
    if (o.publishers) out += " " + std::to_string(o.publishers) + " producer(s)";
    if (o.subscribers) {
      out += std::string(o.publishers ? "," : "") + " " + std::to_string(o.subscribers) + " consumer(s) (" +
             to_string(o.sub_type) + ", ack " + to_string(o.ack) + ")";
    }
    std::snprintf(b, sizeof b, ", %u topic(s), %u B", o.topics, o.size);
    out += b;
    if (o.rate > 0) out += ", rate " + fmt_count(o.rate) + "/s per producer";
    if (o.publishers) {
      out += ", window " + std::to_string(o.window);
      if (o.batch > 1) out += ", batch " + std::to_string(o.batch);
      if (o.compression != Compression::none) out += std::string(", ") + to_string(o.compression);
    }
  } else {
    std::snprintf(b, sizeof b, "mop bench %s: %u pub, %u sub, %u topic(s), QoS %d, %u B", to_string(o.mode),
                  o.publishers, o.subscribers, o.topics, o.qos, o.size);
    out += b;
    if (o.rate > 0) out += ", rate " + fmt_count(o.rate) + "/s per publisher";
    if (o.qos > 0) out += ", window " + std::to_string(o.window);
  }
  std::snprintf(b, sizeof b, ", %.1f s measured\n", s.elapsed_s);
  out += b;
  if (!s.failure.empty()) out += "  FAILED: " + s.failure + "\n";
  if (s.interrupted) out += "  interrupted (^C)\n";
  if (s.stalled) out += "  STALLED: nothing sent or received for 10 s\n";
  if (o.mode != Mode::conn) {
    // A Pulsar run without producers (or consumers) has nothing to say about them.
    if (!pulsar || o.publishers) {
      out += "  out " + fmt_count(s.out_rate) + " msg/s (" + fmt_count(static_cast<double>(s.sent)) + " published";
      if (pulsar) out += ", " + fmt_count(static_cast<double>(s.acked)) + " receipted";
      else if (o.qos > 0) out += ", " + fmt_count(static_cast<double>(s.acked)) + " acknowledged";
      out += ")\n";
    }
    if (!pulsar || o.subscribers) {
      out += "  in  " + fmt_count(s.in_rate) + " msg/s (" + fmt_count(static_cast<double>(s.received)) + " received)\n";
    }
    if (s.latency.count()) {
      out += "  latency p50 " + fmt_ns(s.latency.percentile(50)) + "  p99 " + fmt_ns(s.latency.percentile(99)) +
             "  p99.9 " + fmt_ns(s.latency.percentile(99.9)) + "  max " + fmt_ns(s.latency.max()) + "\n";
    }
    std::snprintf(b, sizeof b, "  lost %llu  duplicated %llu  reordered %llu  misrouted %llu  foreign %llu%s\n",
                  static_cast<unsigned long long>(s.lost), static_cast<unsigned long long>(s.duplicates),
                  static_cast<unsigned long long>(s.reordered), static_cast<unsigned long long>(s.misrouted),
                  static_cast<unsigned long long>(s.invalid),
                  s.guarantees_broken() ? (pulsar ? "  <-- RECEIPTED MESSAGES LOST OR DUPLICATED" : "  <-- QoS GUARANTEE BROKEN")
                                        : (!pulsar && o.qos == 0 && s.lost ? "  (QoS 0 allows loss)" : ""));
    out += b;
  }
  std::snprintf(b, sizeof b, "  connections %llu ready, %llu failed, %s connects/s (%.2f s)  errors %llu\n",
                static_cast<unsigned long long>(s.conns_ready), static_cast<unsigned long long>(s.conns_failed),
                fmt_count(s.connect_rate).c_str(), s.connect_s, static_cast<unsigned long long>(s.errors));
  out += b;
  if (s.redirects) out += "  lookup redirects " + std::to_string(s.redirects) + " (LOOKUP named another broker URL)\n";
  if (s.broker) {
    std::snprintf(b, sizeof b, "  broker cpu %.1f %%  rss %.1f MiB (peak %.1f MiB, before %.1f MiB, %.2f KiB per connection)\n",
                  s.broker->cpu_pct, s.broker->rss_kib / 1024.0, s.broker->rss_peak_kib / 1024.0,
                  s.broker->rss_before_kib / 1024.0, s.broker->rss_per_conn_kib);
    out += b;
  }
  return out;
}

std::string summary_json(const Summary& s) {
  const auto& o = s.opt;
  nlohmann::json j;
  j["mode"] = to_string(o.mode);
  if (!is_pulsar(o.mode)) j["qos"] = o.qos;
  j["size"] = o.size;
  j["publishers"] = o.publishers;
  j["subscribers"] = o.subscribers;
  j["topics"] = o.topics;
  j["rate"] = o.rate;
  j["window"] = o.window;
  if (is_pulsar(o.mode)) {
    j["batch"] = o.batch;
    j["compression"] = to_string(o.compression);
    j["sub_type"] = to_string(o.sub_type);
    j["ack"] = to_string(o.ack);
    j["topic"] = o.topic;
    j["lookup_redirects"] = s.redirects;
  }
  j["elapsed_s"] = s.elapsed_s;
  j["sent"] = s.sent;
  j["acked"] = s.acked;
  j["received"] = s.received;
  j["msgs_per_s_out"] = s.out_rate;
  j["msgs_per_s_in"] = s.in_rate;
  j["latency_us"] = {{"count", s.latency.count()},
                     {"p50", s.latency.percentile(50) / 1e3},
                     {"p99", s.latency.percentile(99) / 1e3},
                     {"p999", s.latency.percentile(99.9) / 1e3},
                     {"max", s.latency.max() / 1e3}};
  j["lost"] = s.lost;
  j["duplicates"] = s.duplicates;
  j["reordered"] = s.reordered;
  j["misrouted"] = s.misrouted;
  j["foreign"] = s.invalid;
  j["guarantees_broken"] = s.guarantees_broken();
  j["errors"] = s.errors;
  j["connections"] = {{"requested", s.conns},
                      {"ready", s.conns_ready},
                      {"failed", s.conns_failed},
                      {"connect_s", s.connect_s},
                      {"connects_per_s", s.connect_rate}};
  if (s.broker) {
    j["broker"] = {{"cpu_pct", s.broker->cpu_pct},
                   {"rss_kib", s.broker->rss_kib},
                   {"rss_peak_kib", s.broker->rss_peak_kib},
                   {"rss_before_kib", s.broker->rss_before_kib},
                   {"rss_per_conn_kib", s.broker->rss_per_conn_kib}};
  }
  j["interrupted"] = s.interrupted;
  j["stalled"] = s.stalled;
  j["failure"] = s.failure;
  return j.dump();
}

int run_bench(const std::vector<std::string>& args) {
  auto parsed = parse_options(args);
  if (auto* err = std::get_if<std::string>(&parsed)) {
    std::fprintf(stderr, "mop bench: %s\n\n%s", err->c_str(), usage_text().c_str());
    return 2;
  }
  const auto& opt = std::get<Options>(parsed);
  if (opt.help) {
    std::fputs(usage_text().c_str(), stdout);
    return 0;
  }
  g_interrupted.store(false);
  auto old_int = std::signal(SIGINT, on_sigint);
  auto old_term = std::signal(SIGTERM, on_sigint);
  std::signal(SIGPIPE, SIG_IGN);  // a broker closing on us is an error to report, not a death
  Summary s = run(opt, true);
  std::signal(SIGINT, old_int);
  std::signal(SIGTERM, old_term);
  if (opt.json) {
    std::printf("%s\n", summary_json(s).c_str());
  } else {
    std::fputs(summary_text(s).c_str(), stdout);
  }
  std::fflush(stdout);
  return (!s.failure.empty() || s.guarantees_broken()) ? 1 : 0;
}

}  // namespace mop::loadgen
