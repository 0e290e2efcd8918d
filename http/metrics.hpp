#pragma once
// /metrics: everything mop counts, in Prometheus' text format, gathered when asked from where it
// lives (no registry, nothing per message beyond the counters' own increments):
//   - Pulsar's topic and subscription metrics, with Pulsar's names and labels (cluster,
//     namespace, topic, subscription), from broker::Broker's topics and subscriptions, and the
//     rates MessageRates computed at its last sample;
//   - MoP's MQTT metrics (mop_*), from the MQTT session router (its clients, sessions and PUBLISH counts);
//   - open connections per listener (mop_connections{protocol=...});
//   - the store's group commits: entries per commit and write/sync time (histograms the storage
//     thread fills with relaxed atomics, storage/commit_stats.hpp), and whether the zeroing of
//     its write-ahead log keeps ahead of it (journalPreAllocSizeMB);
//   - the process's CPU, memory and descriptors (process_*), from /proc.
#include <cstddef>
#include <functional>
#include <string>
#include <vector>

namespace mop::broker {
class Broker;
}
namespace mop::mqtt {
class SessionRouter;
}
namespace mop::storage {
struct CommitStats;
struct WalZeroStats;
}

namespace mop::http {

class MessageRates;

struct ListenerConnections {
  std::string protocol;                     // "mqtt", "pulsar", "http"
  std::function<std::size_t()> connections;  // open connections now
};

struct MetricsSources {
  const broker::Broker* broker = nullptr;    // Pulsar metrics; none when null
  const mqtt::SessionRouter* mqtt = nullptr; // MoP's MQTT metrics; none when null
  const MessageRates* rates = nullptr;       // pulsar_rate_* / pulsar_throughput_*; none when null
  std::vector<ListenerConnections> listeners;
  std::string cluster = "standalone";        // the `cluster` label (Pulsar standalone's name)
  bool process = true;                       // process_* metrics
  std::string data_dir;                      // mop_storage_disk_bytes: the store's files; none when empty
  const storage::CommitStats* commits = nullptr;  // the group-commit histograms; none when null
  const storage::WalZeroStats* wal = nullptr;      // the WAL's zeroing (journalPreAllocSizeMB); none when null
};

std::string render_metrics(const MetricsSources& sources);

}  // namespace mop::http
