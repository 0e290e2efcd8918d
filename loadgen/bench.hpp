#pragma once
// `mop bench`: the load generator (MQTT modes here, Pulsar modes in pulsar_bench.cpp). run_bench() is the subcommand (parses, runs, prints);
// run() is the same without the command line, for tests and other tools.
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "loadgen/histogram.hpp"
#include "loadgen/options.hpp"

namespace mop::loadgen {

struct BrokerUsage {
  double cpu_pct = 0;               // of one core, over the measured interval
  std::uint64_t rss_before_kib = 0; // before the first connection
  std::uint64_t rss_kib = 0;        // at the end of the measured interval
  std::uint64_t rss_peak_kib = 0;
  double rss_per_conn_kib = 0;      // (rss - rss_before) / connections ready
};

struct Summary {
  Options opt;
  std::string failure;          // non-empty: the run could not be carried out as asked
  bool interrupted = false;     // ^C
  bool stalled = false;         // nothing moved for 10 s
  double elapsed_s = 0;         // measured interval (after warmup)
  std::uint64_t sent = 0, acked = 0, received = 0;  // in the measured interval
  double out_rate = 0, in_rate = 0;                 // msgs/s published by us / delivered to us
  LatencyHistogram latency;     // ns, end to end, messages received after warmup
  std::uint64_t lost = 0, duplicates = 0, reordered = 0, misrouted = 0, invalid = 0;
  std::uint64_t errors = 0;
  std::uint64_t redirects = 0;  // Pulsar: LOOKUP answers that sent a producer/consumer to another URL
  std::uint64_t conns = 0, conns_ready = 0, conns_failed = 0;
  double connect_s = 0, connect_rate = 0;
  std::optional<BrokerUsage> broker;

  // QoS 1 and 2 promise no loss, QoS 2 no duplicates. Pulsar: a receipted message must reach
  // every subscription of its topic, once (the run has no reconnects that could redeliver).
  bool guarantees_broken() const {
    if (is_pulsar(opt.mode)) return lost > 0 || duplicates > 0;
    return (opt.qos >= 1 && lost > 0) || (opt.qos == 2 && duplicates > 0);
  }
};

Summary run(const Options& opt, bool progress);
std::string summary_text(const Summary& s);
std::string summary_json(const Summary& s);

// The subcommand: args are what follows `mop bench`. Exit status: 0 ok, 1 the run failed or
// broke a QoS guarantee, 2 bad usage.
int run_bench(const std::vector<std::string>& args);

}  // namespace mop::loadgen
