#pragma once
// The run driver both families of modes share (drive()): resolve the broker, connect, produce
// for --warmup + --duration or up to --count, a progress line a second, stall detection, the
// drain of what is still in flight, and the Summary with the broker's CPU and RSS. The MQTT
// bench (bench.cpp) and the Pulsar one (pulsar_bench.cpp) supply the connections and answer a
// few questions through hooks; the driver calls them from the main thread every 5 ms at most,
// never per message.
#include <algorithm>
#include <atomic>
#include <boost/asio/post.hpp>
#include <chrono>
#include <cstdio>
#include <latch>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "loadgen/bench.hpp"
#include "loadgen/engine_base.hpp"
#include "loadgen/proc_sampler.hpp"
#include "loadgen/report.hpp"

namespace mop::loadgen {

// What the producers and consumers of a run have done so far, from their counters.
struct Totals {
  std::uint64_t sent = 0, acked = 0, received = 0, unique = 0;
  std::uint64_t inflight = 0;  // sent, not yet acknowledged (MQTT) or receipted (Pulsar)
  std::uint64_t expected = 0;  // deliveries owed to the consumers that are ready
  bool producers_done = true, consumers_done = true;  // every one reached --count
};

inline double seconds_since(std::uint64_t t0) { return static_cast<double>(now_ns() - t0) / 1e9; }

// The broker's CPU and RSS from /proc (--broker-pid; 0: not sampled).
class BrokerSampler {
public:
  explicit BrokerSampler(int pid);
  bool enabled() const { return first_.has_value(); }
  // A sample (nullopt when disabled or unreadable); keeps the peak RSS.
  std::optional<ProcSample> sample();
  // Usage over [from, to], when both samples exist.
  std::optional<BrokerUsage> usage(const std::optional<ProcSample>& from, const std::optional<ProcSample>& to,
                                   double elapsed_s, std::uint64_t conns_ready) const;

private:
  int pid_;
  std::optional<ProcSample> first_;
  std::uint64_t rss_peak_ = 0;
};

// The broker's address (IPv4). false: `failure` says why.
bool resolve_broker(const Options& o, boost::asio::ip::tcp::endpoint& ep, std::string& failure);
// The TLS client context of a run with --tls / --cafile / --cert, or false and why.
bool make_tls_context(const Options& o, std::shared_ptr<SSL_CTX>& ctx, std::string& failure);

// Waits until `target` connections are ready or failed. false: interrupted or out of time.
bool await_connections(const RunBase& run, std::uint64_t target, double timeout_s, const std::atomic<bool>& interrupted);

// Runs f(worker) on each worker's own thread and waits for all of them.
template <class W, class F>
void on_each_worker(std::vector<std::unique_ptr<W>>& workers, F f) {
  std::latch done(static_cast<std::ptrdiff_t>(workers.size()));
  for (auto& w : workers) {
    W* wp = w.get();
    boost::asio::post(wp->io, [wp, &f, &done] {
      f(*wp);
      done.count_down();
    });
  }
  done.wait();
}

// B, the bench of one family of modes, provides:
//   RunBase& run();  std::vector<std::unique_ptr<Worker>>& workers();
//   void build();                             // the connections (broker resolved)
//   std::uint64_t connections() const;
//   bool connect(double timeout_s);           // all groups, in order (see await_connections)
//   const char* conns_noun() const;           // "connections": "... not ready in time"
//   const char* conns_counted() const;        // "connection(s)": "N ... failed"
//   bool failed_conns_fatal() const;
//   void report_ready(const Summary&) const;  // the "ready in" line on stderr
//   Totals totals() const;
//   void progress_inflight(std::string& line, const Totals&) const;
//   const char* ready_label() const;          // "conns" / "ready" on the progress line
//   bool consume_only() const;                // --count counts consumers, not producers
//   bool can_stall() const;
//   bool wants_drain() const;  bool drained(const Totals&) const;
//   bool counts_include_drain() const;        // acked/received counted to the end of the drain
//   void compute_checks(Summary&);  void complete(Summary&);  // loss etc.; mode-specific rest
template <class B>
Summary drive(B& b, bool progress, const std::atomic<bool>& interrupted) {
  namespace asio = boost::asio;
  Summary s;
  RunBase& run = b.run();
  s.opt = run.opt;
  const Options& o = run.opt;
  auto& workers = b.workers();
  if (!resolve_broker(o, run.broker, s.failure)) return s;
  if (o.tls && !make_tls_context(o, run.tls, s.failure)) return s;
  b.build();
  s.conns = b.connections();

  BrokerSampler broker(o.broker_pid);
  for (auto& w : workers) w->start();
  auto finish = [&]() {
    run.phase.store(Phase::done);
    for (auto& w : workers) {
      auto* wp = w.get();
      asio::post(wp->io, [wp] {
        for (auto& c : wp->conns) c->disconnect();
        wp->io.stop();
      });
    }
    for (auto& w : workers) w->join();
  };

  const double connect_timeout = 30 + static_cast<double>(s.conns) / 500.0;
  const std::uint64_t connect_t0 = now_ns();
  const bool connected = b.connect(connect_timeout);
  s.conns_ready = run.ready.load();
  s.conns_failed = run.failed.load();
  if (s.conns_ready > 0) {
    s.connect_s = static_cast<double>(run.last_ready_ns.load() - connect_t0) / 1e9;
    if (s.connect_s > 0) s.connect_rate = static_cast<double>(s.conns_ready) / s.connect_s;
  }
  if (interrupted.load()) s.interrupted = true;
  if (!connected || (b.failed_conns_fatal() && s.conns_failed > 0)) {
    if (!s.interrupted) {
      s.failure = !connected ? std::string(b.conns_noun()) + " not ready in time (" + std::to_string(s.conns_ready) +
                                   " of " + std::to_string(s.conns) + ")"
                             : std::to_string(s.conns_failed) + " " + b.conns_counted() + " failed";
    }
    finish();
    s.errors = run.errors.load();
    return s;
  }
  if (progress) b.report_ready(s);

  // Producing (or holding, for conn) starts now.
  const std::uint64_t t_start = now_ns();
  run.publish_start_ns.store(t_start);
  run.phase.store(Phase::running);
  on_each_worker(workers, [](auto& w) {
    for (auto& c : w.conns) c->produce();
  });

  bool measuring = o.warmup <= 0;
  std::uint64_t t_measure = t_start;
  Totals base{};
  std::optional<ProcSample> broker_m = broker.sample();
  Totals prev{};
  std::uint64_t prev_ns = t_start, last_progress_ns = t_start, last_moved = 0;
  const bool bounded_by_time = o.duration_given || o.count == 0;
  std::uint64_t next_report = t_start + 1'000'000'000ull;

  for (;;) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
    const std::uint64_t now = now_ns();
    const double t = static_cast<double>(now - t_start) / 1e9;
    Totals cur = b.totals();
    if (!measuring && t >= o.warmup) {
      measuring = true;
      t_measure = now;
      base = cur;
      on_each_worker(workers, [](auto& w) { w.total.reset(); });
      broker_m = broker.sample();
    }
    const std::uint64_t moved = cur.sent + cur.received + cur.acked;
    if (moved != last_moved) last_moved = moved, last_progress_ns = now;

    if (now >= next_report) {
      next_report += 1'000'000'000ull;
      LatencyHistogram h;
      std::mutex m;  // workers merge from their own threads
      on_each_worker(workers, [&h, &m](auto& w) {
        std::lock_guard lock(m);
        w.take_interval(h);
      });
      auto bs = broker.sample();
      if (progress) {
        const double dt = static_cast<double>(now - prev_ns) / 1e9;
        char buf[256];
        std::snprintf(buf, sizeof buf, "[%5.1fs]%s out %s/s in %s/s", t, measuring ? "" : " (warmup)",
                      fmt_count((cur.sent - prev.sent) / dt).c_str(), fmt_count((cur.received - prev.received) / dt).c_str());
        std::string line = buf;
        if (h.count()) line += " | p50 " + fmt_ns(h.percentile(50)) + " p99 " + fmt_ns(h.percentile(99));
        b.progress_inflight(line, cur);
        std::snprintf(buf, sizeof buf, " | %s %llu err %llu", b.ready_label(), static_cast<unsigned long long>(run.ready.load()),
                      static_cast<unsigned long long>(run.errors.load()));
        line += buf;
        if (bs && broker_m) {
          std::snprintf(buf, sizeof buf, " | broker rss %.1f MiB", static_cast<double>(bs->rss_kib) / 1024.0);
          line += buf;
        }
        std::fprintf(stderr, "%s\n", line.c_str());
      }
      prev = cur;
      prev_ns = now;
    }

    if (interrupted.load()) {
      s.interrupted = true;
      break;
    }
    if (bounded_by_time && t >= o.warmup + o.duration) break;
    // At --count the producers stop; what is still in flight is waited for below.
    if (o.count && (b.consume_only() ? cur.consumers_done : cur.producers_done)) break;
    if (b.can_stall() && seconds_since(last_progress_ns) > 10) {
      s.stalled = true;
      break;
    }
  }

  // The measured interval ends here; what arrives during the drain still counts for loss.
  const std::uint64_t t_end = now_ns();
  const Totals at_end = b.totals();
  if (!measuring) base = Totals{}, t_measure = t_start;
  auto broker_end = broker.sample();
  run.phase.store(Phase::stopping);

  if (!s.interrupted && b.wants_drain()) {
    const std::uint64_t drain_start = now_ns();
    std::uint64_t last_change = drain_start, last_seen = ~0ull;
    for (;;) {
      const Totals cur = b.totals();
      if (b.drained(cur)) break;
      const std::uint64_t seen = cur.received + cur.acked;
      if (seen != last_seen) last_seen = seen, last_change = now_ns();
      if (seconds_since(last_change) > std::min(1.0, o.drain_timeout) || seconds_since(drain_start) > o.drain_timeout) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
  }
  const Totals drained = b.totals();
  finish();

  s.elapsed_s = static_cast<double>(t_end - t_measure) / 1e9;
  s.sent = at_end.sent - base.sent;
  const Totals& counted = b.counts_include_drain() ? drained : at_end;
  s.acked = counted.acked - base.acked;
  s.received = counted.received - base.received;
  if (s.elapsed_s > 0) {
    // Rates over the measured interval only, whatever the counts include.
    s.out_rate = static_cast<double>(s.sent) / s.elapsed_s;
    s.in_rate = static_cast<double>(at_end.received - base.received) / s.elapsed_s;
  }
  for (auto& w : workers) s.latency.merge(w->total);
  b.compute_checks(s);
  s.errors = run.errors.load();
  b.complete(s);
  if (broker.enabled()) s.broker = broker.usage(broker_m, broker_end, s.elapsed_s, s.conns_ready);
  return s;
}

}  // namespace mop::loadgen
