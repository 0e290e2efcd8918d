#include "http/metrics.hpp"

#include <algorithm>
#include <filesystem>
#include <string_view>

#include "broker/broker.hpp"
#include "http/process_stats.hpp"
#include "mqtt/codec/buffer_pool.hpp"
#include "http/rates.hpp"
#include "http/prometheus.hpp"
#include "mqtt/server/session_router.hpp"
#include "storage/commit_stats.hpp"

namespace mop::http {

namespace {

struct SubscriptionRow {
  std::string name;
  std::uint64_t backlog = 0;
  std::uint64_t unacked = 0;
  std::uint64_t msg_out = 0;
  std::uint64_t bytes_out = 0;
  std::uint64_t consumers = 0;
  Rates rates;
};

struct TopicRow {
  std::string ns;
  std::string topic;
  std::uint64_t msg_in = 0;
  std::uint64_t bytes_in = 0;
  std::uint64_t msg_out = 0;
  std::uint64_t bytes_out = 0;
  std::uint64_t backlog = 0;
  std::uint64_t storage = 0;
  Rates rates;
  std::vector<SubscriptionRow> subscriptions;
};

// One pass over the broker; the families are then written from the rows (a family's samples
// must be together).
std::vector<TopicRow> topic_rows(const broker::Broker& b, const MessageRates* rates) {
  std::vector<TopicRow> rows;
  rows.reserve(b.topic_count());
  b.for_each_topic([&](const broker::Topic& t) {
    TopicRow row;
    row.ns = t.name().namespace_name().to_string();
    row.topic = t.name().str();
    row.msg_in = t.msg_in_counter();
    row.bytes_in = t.bytes_in_counter();
    row.storage = t.stored_bytes();
    row.msg_out = t.msg_out_counter();
    row.bytes_out = t.bytes_out_counter();
    if (rates != nullptr) row.rates = rates->topic(row.topic);
    t.for_each_subscription([&](const broker::Subscription& s) {
      SubscriptionRow sr{s.name(), s.backlog(), s.unacked_count(), s.msg_out_counter(), s.bytes_out_counter(),
                         s.receiver_count(), {}};
      if (rates != nullptr) sr.rates = rates->subscription(row.topic, sr.name);
      row.backlog += sr.backlog;
      row.subscriptions.push_back(std::move(sr));
    });
    std::sort(row.subscriptions.begin(), row.subscriptions.end(),
              [](const auto& a, const auto& b) { return a.name < b.name; });
    rows.push_back(std::move(row));
  });
  std::sort(rows.begin(), rows.end(), [](const auto& a, const auto& b) { return a.topic < b.topic; });
  return rows;
}

void write_pulsar(PrometheusWriter& w, const std::vector<TopicRow>& rows, std::string_view cluster, bool rates) {
  struct TopicFamily {
    std::string_view name;
    MetricType type;
    std::string_view help;
    std::uint64_t TopicRow::*field;
  };
  static const TopicFamily topic_families[] = {
      {"pulsar_in_messages_total", MetricType::counter, "Messages stored in the topic since mop started",
       &TopicRow::msg_in},
      {"pulsar_in_bytes_total", MetricType::counter, "Payload bytes stored in the topic since mop started",
       &TopicRow::bytes_in},
      {"pulsar_out_messages_total", MetricType::counter,
       "Messages delivered from the topic to consumers since mop started, redeliveries included", &TopicRow::msg_out},
      {"pulsar_out_bytes_total", MetricType::counter,
       "Payload bytes delivered from the topic to consumers since mop started, redeliveries included",
       &TopicRow::bytes_out},
      {"pulsar_msg_backlog", MetricType::gauge, "Messages not yet acknowledged, summed over the topic's subscriptions",
       &TopicRow::backlog},
      {"pulsar_storage_size", MetricType::gauge, "Payload bytes stored in the topic's log", &TopicRow::storage},
  };
  for (const auto& f : topic_families) {
    w.family(f.name, f.type, f.help);
    for (const auto& r : rows) w.sample(r.*(f.field), {{"cluster", cluster}, {"namespace", r.ns}, {"topic", r.topic}});
  }
  if (rates) {
    struct RateFamily {
      std::string_view name;
      std::string_view help;
      double Rates::*field;
    };
    static const RateFamily rate_families[] = {
        {"pulsar_rate_in", "Messages/s stored in the topic, over the last statistics interval", &Rates::msg_in},
        {"pulsar_rate_out", "Messages/s delivered from the topic, over the last statistics interval", &Rates::msg_out},
        {"pulsar_throughput_in", "Payload bytes/s stored in the topic, over the last statistics interval",
         &Rates::bytes_in},
        {"pulsar_throughput_out", "Payload bytes/s delivered from the topic, over the last statistics interval",
         &Rates::bytes_out},
    };
    for (const auto& f : rate_families) {
      w.family(f.name, MetricType::gauge, f.help);
      for (const auto& r : rows) {
        w.sample(r.rates.*(f.field), {{"cluster", cluster}, {"namespace", r.ns}, {"topic", r.topic}});
      }
    }
    w.family("pulsar_subscription_msg_rate_out", MetricType::gauge,
             "Messages/s delivered on the subscription, over the last statistics interval");
    for (const auto& r : rows) {
      for (const auto& s : r.subscriptions) {
        w.sample(s.rates.msg_out,
                 {{"cluster", cluster}, {"namespace", r.ns}, {"topic", r.topic}, {"subscription", s.name}});
      }
    }
  }
  w.family("pulsar_subscriptions_count", MetricType::gauge, "Subscriptions of the topic");
  for (const auto& r : rows) {
    w.sample(std::uint64_t{r.subscriptions.size()}, {{"cluster", cluster}, {"namespace", r.ns}, {"topic", r.topic}});
  }

  struct SubscriptionFamily {
    std::string_view name;
    MetricType type;
    std::string_view help;
    std::uint64_t SubscriptionRow::*field;
  };
  static const SubscriptionFamily subscription_families[] = {
      {"pulsar_subscription_back_log", MetricType::gauge, "Messages of the subscription not yet acknowledged",
       &SubscriptionRow::backlog},
      {"pulsar_subscription_unacked_messages", MetricType::gauge,
       "Messages delivered to the subscription's consumers and not yet acknowledged", &SubscriptionRow::unacked},
      {"pulsar_subscription_msg_out_total", MetricType::counter,
       "Messages delivered on the subscription since mop started, redeliveries included", &SubscriptionRow::msg_out},
      {"pulsar_subscription_consumers_count", MetricType::gauge, "Consumers attached to the subscription",
       &SubscriptionRow::consumers},
  };
  for (const auto& f : subscription_families) {
    w.family(f.name, f.type, f.help);
    for (const auto& r : rows) {
      for (const auto& s : r.subscriptions) {
        w.sample(s.*(f.field),
                 {{"cluster", cluster}, {"namespace", r.ns}, {"topic", r.topic}, {"subscription", s.name}});
      }
    }
  }
}

// The `reason` label of mop_disconnects_total.
const char* close_reason_label(mqtt::CloseReason r) {
  switch (r) {
    case mqtt::CloseReason::client_disconnect: return "client_disconnect";
    case mqtt::CloseReason::client_disconnect_with_will: return "client_disconnect_with_will";
    case mqtt::CloseReason::network_error: return "network_error";
    case mqtt::CloseReason::protocol_error: return "protocol_error";
    case mqtt::CloseReason::keep_alive_timeout: return "keep_alive_timeout";
    case mqtt::CloseReason::connect_timeout: return "connect_timeout";
    case mqtt::CloseReason::connect_rejected: return "connect_rejected";
    case mqtt::CloseReason::session_taken_over: return "session_taken_over";
    case mqtt::CloseReason::server_shutdown: return "server_shutdown";
    case mqtt::CloseReason::administrative_action: return "administrative_action";
    case mqtt::CloseReason::not_authorized: return "not_authorized";
  }
  return "unknown";
}

void write_mqtt(PrometheusWriter& w, const mqtt::SessionRouter& m) {
  const auto& c = m.publish_counters();
  w.family("mop_active_client_count", MetricType::gauge, "MQTT clients connected now");
  w.sample(std::uint64_t{m.live_connection_count()});
  w.family("mop_total_client_count", MetricType::counter, "MQTT clients admitted (CONNECT accepted) since mop started");
  w.sample(m.total_client_count());
  w.family("mop_maximum_client_count", MetricType::gauge, "Most MQTT clients connected at once since mop started");
  w.sample(std::uint64_t{m.maximum_client_count()});
  w.family("mop_sub_count", MetricType::gauge, "MQTT topic filters subscribed, over every session");
  w.sample(std::uint64_t{m.subscription_count()});
  w.family("mop_send_count", MetricType::counter, "MQTT PUBLISH packets sent to clients, resends included");
  w.sample(c.sent);
  w.family("mop_send_bytes", MetricType::counter, "Payload bytes of the MQTT PUBLISH packets sent to clients");
  w.sample(c.sent_bytes);
  w.family("mop_received_count", MetricType::counter, "MQTT PUBLISH packets received from clients");
  w.sample(c.received);
  w.family("mop_received_bytes", MetricType::counter, "Payload bytes of the MQTT PUBLISH packets received");
  w.sample(c.received_bytes);
  const auto by_type = [&w](const std::array<std::uint64_t, 16>& counts) {
    for (std::size_t t = 1; t < counts.size(); ++t) {
      w.sample(counts[t], {{"type", mqtt::to_string(static_cast<mqtt::PacketType>(t))}});
    }
  };
  w.family("mop_packets_received_total", MetricType::counter, "MQTT packets received from clients, by type");
  by_type(c.packets_in);
  w.family("mop_packets_sent_total", MetricType::counter, "MQTT packets sent to clients, by type");
  by_type(c.packets_out);
  w.family("mop_disconnects_total", MetricType::counter, "MQTT connections ended, by reason");
  const auto& closes = m.close_counts();
  for (std::size_t r = 0; r < closes.size(); ++r) {
    w.sample(closes[r], {{"reason", close_reason_label(static_cast<mqtt::CloseReason>(r))}});
  }
}

// Bytes of the regular files under `dir` (the store: RocksDB's tables, write-ahead logs, manifest).
// A file removed during the walk (a compaction finishing) is skipped.
std::uint64_t disk_bytes(const std::string& dir) {
  namespace fs = std::filesystem;
  std::uint64_t total = 0;
  std::error_code ec;
  for (fs::recursive_directory_iterator it(dir, fs::directory_options::skip_permission_denied, ec), end;
       !ec && it != end; it.increment(ec)) {
    std::error_code size_ec;
    if (it->is_regular_file(size_ec)) {
      const auto size = it->file_size(size_ec);
      if (!size_ec) total += size;
    }
  }
  return total;
}

void write_process(PrometheusWriter& w) {
  const auto s = read_process_stats();
  if (!s) return;
  w.family("process_cpu_seconds_total", MetricType::counter, "User and system CPU time spent in seconds");
  w.sample(s->cpu_seconds);
  w.family("process_resident_memory_bytes", MetricType::gauge, "Resident memory size in bytes");
  w.sample(s->resident_bytes);
  w.family("process_virtual_memory_bytes", MetricType::gauge, "Virtual memory size in bytes");
  w.sample(s->virtual_bytes);
  w.family("process_open_fds", MetricType::gauge, "Open file descriptors");
  w.sample(s->open_fds);
  w.family("process_max_fds", MetricType::gauge, "Most open file descriptors allowed (soft limit)");
  w.sample(s->max_fds);
  w.family("process_start_time_seconds", MetricType::gauge, "Start time of the process since the Unix epoch in seconds");
  w.sample(s->start_time_seconds);
  w.family("mop_large_frame_buffers_pooled_bytes", MetricType::gauge,
           "Bytes of large MQTT frames' buffers kept for reuse (at most 32 MiB; unused ones freed within 10 s)");
  w.sample(std::uint64_t{mqtt::BufferPool::large_frames().pooled_bytes()});
}

}  // namespace

std::string render_metrics(const MetricsSources& sources) {
  PrometheusWriter w;
  if (sources.broker != nullptr) {
    write_pulsar(w, topic_rows(*sources.broker, sources.rates), sources.cluster, sources.rates != nullptr);
  }
  if (sources.mqtt != nullptr) write_mqtt(w, *sources.mqtt);
  if (!sources.listeners.empty()) {
    w.family("mop_connections", MetricType::gauge, "Open connections per listener protocol");
    for (const auto& l : sources.listeners) w.sample(std::uint64_t{l.connections()}, {{"protocol", l.protocol}});
  }
  if (!sources.data_dir.empty()) {
    w.family("mop_storage_disk_bytes", MetricType::gauge,
             "Bytes of the store's files in dataDir (RocksDB tables, write-ahead log, manifest)");
    w.sample(disk_bytes(sources.data_dir));
  }
  if (sources.commits != nullptr) {
    const auto entries = sources.commits->entries.snapshot();
    w.family("mop_storage_group_commit_entries", MetricType::histogram,
             "Log entries (stored messages) per group commit of the store, one observation per group commit");
    w.histogram(entries.bounds, entries.cumulative, entries.sum);
    const auto sync = sources.commits->sync_seconds.snapshot();
    w.family("mop_storage_group_commit_sync_seconds", MetricType::histogram,
             "Seconds each group commit's write took, its fsync included when journalSyncData");
    w.histogram(sync.bounds, sync.cumulative, sync.sum);
    w.family("mop_storage_session_writes_total", MetricType::counter,
             "MQTT session record writes of the store's group commits: stored, or superseded by a later write "
             "of the same session in the same group commit");
    w.sample(sources.commits->session_writes_stored.load(std::memory_order_relaxed), {{"outcome", "stored"}});
    w.sample(sources.commits->session_writes_superseded.load(std::memory_order_relaxed), {{"outcome", "superseded"}});
  }
  if (sources.wal != nullptr) {
    const auto& z = *sources.wal;
    w.family("mop_storage_wal_zeroed_bytes_total", MetricType::counter,
             "Bytes of zeros written ahead of the store's write-ahead log (journalPreAllocSizeMB)");
    w.sample(z.zeroed_bytes.load(std::memory_order_relaxed));
    w.family("mop_storage_wal_unzeroed_bytes_total", MetricType::counter,
             "Bytes appended to the write-ahead log past its zeroed space (the zeroing fell behind, or stopped: "
             "under 256 MiB free on the disk, or an error it logged)");
    w.sample(z.unzeroed_bytes.load(std::memory_order_relaxed));
    w.family("mop_storage_wal_zero_waits_total", MetricType::counter,
             "Appends to the write-ahead log that waited for zeros being written where they go");
    w.sample(z.waits.load(std::memory_order_relaxed));
  }
  if (sources.process) write_process(w);
  return w.take();
}

}  // namespace mop::http
