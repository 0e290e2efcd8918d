#include "loadgen/bench.hpp"

#include <unistd.h>

#include <algorithm>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <csignal>
#include <cstdio>
#include <functional>
#include <nlohmann/json.hpp>

#include "loadgen/driver.hpp"
#include "loadgen/engine.hpp"
#include "loadgen/pulsar_bench.hpp"
#include "loadgen/report.hpp"

namespace mop::loadgen {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;

namespace {

std::atomic<bool> g_interrupted{false};
extern "C" void on_sigint(int) { g_interrupted.store(true); }

// The MQTT modes for drive() (driver.hpp).
class Bench {
public:
  explicit Bench(const Options& o) { run_.opt = o; }

  // drive() hooks.
  RunBase& run() { return run_; }
  std::vector<std::unique_ptr<Worker>>& workers() { return workers_; }
  void build();
  std::uint64_t connections() const { return subs_.size() + pubs_.size() + idle_.size(); }
  bool connect(double timeout_s) {
    // Subscribers first, so that no message is published before every subscription exists.
    return connect_group(subs_, timeout_s) && connect_group(pubs_, timeout_s) && connect_group(idle_, timeout_s);
  }
  const char* conns_noun() const { return "connections"; }
  const char* conns_counted() const { return "connection(s)"; }
  bool failed_conns_fatal() const { return run_.opt.mode != Mode::conn; }
  void report_ready(const Summary& s) const {
    std::fprintf(stderr, "mop bench: %zu connection(s) ready in %.2f s (%s connects/s)\n",
                 static_cast<std::size_t>(s.conns_ready), s.connect_s, fmt_count(s.connect_rate).c_str());
  }
  Totals totals() const;
  void progress_inflight(std::string& line, const Totals& cur) const {
    if (run_.opt.qos > 0 && !pubs_.empty()) line += " | inflight " + std::to_string(cur.inflight);
  }
  const char* ready_label() const { return "conns"; }
  bool consume_only() const { return run_.opt.mode == Mode::sub; }
  bool can_stall() const { return run_.opt.mode != Mode::conn; }
  bool wants_drain() const { return !subs_.empty(); }
  bool drained(const Totals& cur) const {
    return cur.inflight == 0 && cur.unique >= cur.expected && run_.opt.mode != Mode::sub;
  }
  bool counts_include_drain() const { return false; }
  void compute_checks(Summary& s);
  void complete(Summary&) {}

private:
  bool connect_group(const std::vector<Conn*>& group, double timeout_s);

  RunState run_;
  std::vector<std::unique_ptr<Worker>> workers_;
  std::vector<Conn*> pubs_, subs_, idle_;
};

void Bench::build() {
  const auto& o = run_.opt;
  run_.version = o.version == 3 ? mqtt::ProtocolVersion::v31 : mqtt::ProtocolVersion::v311;
  for (std::uint32_t i = 0; i < o.threads; ++i) workers_.push_back(std::make_unique<Worker>(run_, i));
  const std::string prefix = o.client_prefix.empty() ? "mb" + std::to_string(::getpid()) : o.client_prefix;
  std::size_t n = 0;  // all connections, for spreading over threads and source addresses
  auto add = [&](Conn::Role role, std::uint32_t id, const char* tag, std::uint32_t topic_index) {
    const std::size_t wi = n % workers_.size();
    Worker& w = *workers_[wi];
    const std::string* src = o.source_addrs.empty() ? nullptr : &o.source_addrs[n % o.source_addrs.size()];
    ++n;
    w.conns.push_back(std::make_unique<Conn>(w, role, id, prefix + tag + std::to_string(id),
                                             o.topic + "/" + std::to_string(topic_index), src));
    Conn* c = w.conns.back().get();
    c->topic_index = topic_index;
    c->worker_index = wi;  // connect_group hands each connection to its own worker's thread
    if (role == Conn::Role::publisher && o.rate > 0) w.rate_producers.push_back(c);
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

bool Bench::connect_group(const std::vector<Conn*>& group, double timeout_s) {
  if (group.empty()) return true;
  const std::uint64_t target = run_.ready.load() + run_.failed.load() + group.size();
  std::vector<std::vector<Conn*>> per(workers_.size());
  for (Conn* c : group) per[c->worker_index].push_back(c);
  for (std::size_t i = 0; i < workers_.size(); ++i) {
    Worker* w = workers_[i].get();
    asio::post(w->io, [w, list = std::move(per[i])]() mutable { w->connect_all(std::move(list)); });
  }
  return await_connections(run_, target, timeout_s, g_interrupted);
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
    if (!(o.count && p->sent.get() >= o.count)) t.producers_done = false;
  }
  for (Conn* s : subs_) {
    t.received += s->received.get();
    t.unique += s->unique.get();
    if (s->ready() && !s->closed()) t.expected += per_topic[s->topic_index];
    if (!(o.count && s->received.get() >= o.count)) t.consumers_done = false;
  }
  if (pubs_.empty()) t.producers_done = false;
  if (subs_.empty()) t.consumers_done = false;
  return t;
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

}  // namespace

Summary run(const Options& opt, bool progress) {
  if (is_pulsar(opt.mode)) return run_pulsar(opt, progress, g_interrupted);
  Bench b(opt);
  return drive(b, progress, g_interrupted);
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
  if (!parsed.ok()) {
    const auto* err = &parsed.error();
    std::fprintf(stderr, "mop bench: %s\n\n%s", err->c_str(), usage_text().c_str());
    return 2;
  }
  const auto& opt = parsed.value();
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
