// The Prometheus text writer, and render_metrics over a real EmbeddedService: every family has
// one HELP and one TYPE line, its samples together, counters agree with what was published.
#include <limits>
#include <map>
#include <set>
#include <sstream>

#include <gtest/gtest.h>

#include "mqtt/codec/buffer_pool.hpp"

#include "core/clock.hpp"
#include "core/executor.hpp"
#include "http/metrics.hpp"
#include "http/prometheus.hpp"
#include "service/embedded_service.hpp"
#include "storage/commit_stats.hpp"

namespace mop::http {
namespace {

TEST(PrometheusWriter, WritesHelpTypeAndSamples) {
  PrometheusWriter w;
  w.family("a_total", MetricType::counter, "Things counted");
  w.sample(std::uint64_t{3}, {{"x", "1"}, {"y", "two"}});
  w.sample(std::uint64_t{4}, {{"x", "2"}, {"y", "three"}});
  w.family("b", MetricType::gauge, "A level");
  w.sample(2.5);
  EXPECT_EQ(w.text(),
            "# HELP a_total Things counted\n# TYPE a_total counter\n"
            "a_total{x=\"1\",y=\"two\"} 3\na_total{x=\"2\",y=\"three\"} 4\n"
            "# HELP b A level\n# TYPE b gauge\nb 2.5\n");
}

TEST(PrometheusWriter, EscapesLabelValuesAndHelp) {
  EXPECT_EQ(escape_label_value("a\\b\"c\nd"), "a\\\\b\\\"c\\nd");
  EXPECT_EQ(escape_help("x\\y\nz \"q\""), "x\\\\y\\nz \"q\"");
  PrometheusWriter w;
  w.family("m", MetricType::gauge, "line one\nline two");
  w.sample(std::uint64_t{1}, {{"topic", "persistent://t/n/a\"b"}});
  EXPECT_EQ(w.text(), "# HELP m line one\\nline two\n# TYPE m gauge\nm{topic=\"persistent://t/n/a\\\"b\"} 1\n");
}

TEST(PrometheusWriter, FormatsValues) {
  EXPECT_EQ(format_value(0), "0");
  EXPECT_EQ(format_value(12), "12");
  EXPECT_EQ(format_value(-3), "-3");
  EXPECT_EQ(format_value(0.25), "0.25");
  EXPECT_EQ(format_value(1e300), "1e+300");
  EXPECT_EQ(format_value(std::numeric_limits<double>::infinity()), "+Inf");
  EXPECT_EQ(format_value(-std::numeric_limits<double>::infinity()), "-Inf");
  EXPECT_EQ(format_value(std::numeric_limits<double>::quiet_NaN()), "NaN");
}

TEST(PrometheusWriter, WritesAHistogramWithCumulativeBucketsSumAndCount) {
  storage::AtomicHistogram<3> h({1, 2, 4});
  for (const double v : {0.5, 1.0, 3.0, 3.0, 9.0}) h.observe(v);
  const auto s = h.snapshot();
  EXPECT_EQ(s.cumulative, (std::vector<std::uint64_t>{2, 2, 4, 5}));  // <=1, <=2, <=4, +Inf
  EXPECT_EQ(s.count(), 5u);
  EXPECT_DOUBLE_EQ(s.sum, 16.5);
  PrometheusWriter w;
  w.family("lat_seconds", MetricType::histogram, "Latency");
  w.histogram(s.bounds, s.cumulative, s.sum);
  EXPECT_EQ(w.text(),
            "# HELP lat_seconds Latency\n# TYPE lat_seconds histogram\n"
            "lat_seconds_bucket{le=\"1\"} 2\nlat_seconds_bucket{le=\"2\"} 2\nlat_seconds_bucket{le=\"4\"} 4\n"
            "lat_seconds_bucket{le=\"+Inf\"} 5\nlat_seconds_sum 16.5\nlat_seconds_count 5\n");
}

TEST(RenderMetrics, GroupCommitHistogramsAreRenderedWhenGiven) {
  storage::CommitStats commits;
  commits.entries.observe(3);
  commits.entries.observe(0);
  commits.sync_seconds.observe(0.002);
  MetricsSources sources;
  sources.process = false;
  sources.commits = &commits;
  const std::string text = render_metrics(sources);
  EXPECT_NE(text.find("# TYPE mop_storage_group_commit_entries histogram\n"), std::string::npos) << text;
  EXPECT_NE(text.find("mop_storage_group_commit_entries_bucket{le=\"0\"} 1\n"), std::string::npos) << text;
  EXPECT_NE(text.find("mop_storage_group_commit_entries_bucket{le=\"4\"} 2\n"), std::string::npos) << text;
  EXPECT_NE(text.find("mop_storage_group_commit_entries_sum 3\nmop_storage_group_commit_entries_count 2\n"),
            std::string::npos) << text;
  EXPECT_NE(text.find("mop_storage_group_commit_sync_seconds_bucket{le=\"0.001\"} 0\n"), std::string::npos) << text;
  EXPECT_NE(text.find("mop_storage_group_commit_sync_seconds_bucket{le=\"0.0025\"} 1\n"), std::string::npos)
      << text;
  EXPECT_NE(text.find("mop_storage_group_commit_sync_seconds_count 1\n"), std::string::npos) << text;
  commits.session_writes_stored = 5;
  commits.session_writes_superseded = 7;
  const std::string again = render_metrics(sources);
  EXPECT_NE(again.find("# TYPE mop_storage_session_writes_total counter\n"), std::string::npos) << again;
  EXPECT_NE(again.find("mop_storage_session_writes_total{outcome=\"stored\"} 5\n"
                       "mop_storage_session_writes_total{outcome=\"superseded\"} 7\n"),
            std::string::npos) << again;
}

TEST(RenderMetrics, WalZeroingCountersAreRenderedWhenGiven) {
  storage::WalZeroStats wal;
  MetricsSources sources;
  sources.process = false;
  EXPECT_EQ(render_metrics(sources).find("mop_storage_wal_"), std::string::npos);  // off: not there
  wal.zeroed_bytes = 4u << 20;
  wal.unzeroed_bytes = 12;
  wal.waits = 3;
  sources.wal = &wal;
  const std::string text = render_metrics(sources);
  EXPECT_NE(text.find("# TYPE mop_storage_wal_zeroed_bytes_total counter\nmop_storage_wal_zeroed_bytes_total 4194304\n"),
            std::string::npos) << text;
  EXPECT_NE(text.find("mop_storage_wal_unzeroed_bytes_total 12\n"), std::string::npos) << text;
  EXPECT_NE(text.find("mop_storage_wal_zero_waits_total 3\n"), std::string::npos) << text;
}

// The large frames' buffer pool (mqtt/codec/buffer_pool.hpp) is process-wide, with the process_*
// metrics: what it keeps is shown.
TEST(RenderMetrics, LargeFrameBuffersKeptForReuseAreShown) {
  mqtt::BufferPool::large_frames().take(200 * 1024).reset();  // let go at once: kept
  const auto kept = mqtt::BufferPool::large_frames().pooled_bytes();
  ASSERT_GE(kept, 200 * 1024u);
  MetricsSources sources;
  const std::string text = render_metrics(sources);
  EXPECT_NE(text.find("mop_large_frame_buffers_pooled_bytes " + std::to_string(kept) + "\n"), std::string::npos) << text;
}

// A receiver that takes what it is given and remembers it.
struct Collector : service::ReceiverListener {
  std::vector<service::MessageId> ids;
  void on_message(const service::TopicName&, const std::string&, service::MessageId id, const service::MessagePtr&,
                  std::uint32_t) override {
    ids.push_back(id);
  }
};

service::MessagePtr message(std::string payload) {
  auto m = std::make_shared<service::Message>();
  m->payload = Payload::adopt(std::move(payload));
  return m;
}

// The exposition parsed back: family -> type, and "name{labels}" -> value; fails the test on a
// family whose samples are not together or a sample without its family's TYPE.
struct Parsed {
  std::map<std::string, std::string> types;
  std::map<std::string, std::string> samples;
};

Parsed parse(const std::string& text) {
  Parsed p;
  std::istringstream in(text);
  std::string line, current;
  std::set<std::string> closed;
  while (std::getline(in, line)) {
    if (line.rfind("# HELP ", 0) == 0) continue;
    if (line.rfind("# TYPE ", 0) == 0) {
      std::istringstream t(line.substr(7));
      std::string name, type;
      t >> name >> type;
      EXPECT_FALSE(p.types.contains(name)) << "family written twice: " << name;
      if (!current.empty()) closed.insert(current);
      current = name;
      p.types[name] = type;
      continue;
    }
    const auto space = line.rfind(' ');
    const std::string key = line.substr(0, space);
    const std::string name = key.substr(0, key.find('{'));
    EXPECT_EQ(name, current) << "sample outside its family: " << line;
    EXPECT_FALSE(closed.contains(name));
    p.samples[key] = line.substr(space + 1);
  }
  return p;
}

TEST(RenderMetrics, TopicAndSubscriptionCountersAgreeWithWhatWasPublished) {
  ManualExecutor executor;
  ManualClock clock;
  service::EmbeddedService service(executor, clock);
  const auto topic = *service::TopicName::parse("persistent://public/default/t%2F1");
  Collector collector;
  const auto receiver = service.open_receiver(collector);
  ASSERT_TRUE(service.subscribe(topic, "sub", {}, receiver).ok());
  service.flow(receiver, 2);
  for (const char* payload : {"ab", "cde", "fghi"}) service.publish(topic, message(payload), {});
  executor.run_all();
  ASSERT_EQ(collector.ids.size(), 2u);
  service.ack(topic, "sub", collector.ids[0]);
  executor.run_all();

  MetricsSources sources;
  sources.broker = &service.broker();
  sources.listeners.push_back({"mqtt", [] { return std::size_t{7}; }});
  const Parsed p = parse(render_metrics(sources));
  const std::string labels = "{cluster=\"standalone\",namespace=\"public/default\",topic=\"persistent://public/default/t%2F1\"";
  EXPECT_EQ(p.types.at("pulsar_in_messages_total"), "counter");
  EXPECT_EQ(p.samples.at("pulsar_in_messages_total" + labels + "}"), "3");
  EXPECT_EQ(p.samples.at("pulsar_in_bytes_total" + labels + "}"), "9");
  EXPECT_EQ(p.types.at("pulsar_msg_backlog"), "gauge");
  EXPECT_EQ(p.samples.at("pulsar_msg_backlog" + labels + "}"), "2");
  EXPECT_EQ(p.samples.at("pulsar_out_messages_total" + labels + "}"), "2");
  EXPECT_EQ(p.samples.at("pulsar_out_bytes_total" + labels + "}"), "5");
  // The first message is acknowledged by the only subscription: trimmed, 7 bytes left.
  EXPECT_EQ(p.samples.at("pulsar_storage_size" + labels + "}"), "7");
  EXPECT_EQ(p.samples.at("pulsar_subscription_back_log" + labels + ",subscription=\"sub\"}"), "2");
  EXPECT_EQ(p.samples.at("pulsar_subscription_unacked_messages" + labels + ",subscription=\"sub\"}"), "1");
  EXPECT_EQ(p.samples.at("pulsar_subscription_consumers_count" + labels + ",subscription=\"sub\"}"), "1");
  EXPECT_EQ(p.samples.at("mop_connections{protocol=\"mqtt\"}"), "7");
  EXPECT_EQ(p.types.at("process_cpu_seconds_total"), "counter");
  EXPECT_EQ(p.types.at("process_resident_memory_bytes"), "gauge");
  EXPECT_GT(std::stod(p.samples.at("process_resident_memory_bytes")), 0);
  EXPECT_GT(std::stod(p.samples.at("process_open_fds")), 0);
  EXPECT_EQ(p.types.at("mop_large_frame_buffers_pooled_bytes"), "gauge");
  service.close_receiver(receiver);
  executor.run_all();
}

}  // namespace
}  // namespace mop::http
