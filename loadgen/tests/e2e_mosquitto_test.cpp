// The load generator against a real mosquitto started here: proves it speaks MQTT to a broker
// that is not ours, and that its loss/duplicate accounting reads zero where the QoS promises it.
// Asserts counts only, never timings.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <thread>

#include "loadgen/bench.hpp"

namespace mop::loadgen {
namespace {

namespace fs = std::filesystem;

std::uint16_t free_port() {
  // Port 0 trick: let the kernel pick, close, use. Racy in theory, fine for one test.
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
  socklen_t len = sizeof a;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  ::close(fd);
  return ntohs(a.sin_port);
}

bool accepts(std::uint16_t port) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  const bool ok = ::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
  ::close(fd);
  return ok;
}

const char* mosquitto_path() {
  for (const char* p : {"/usr/sbin/mosquitto", "/usr/bin/mosquitto"}) {
    if (::access(p, X_OK) == 0) return p;
  }
  return nullptr;
}

class Mosquitto : public ::testing::Test {
protected:
  void SetUp() override {
    const char* bin = mosquitto_path();
    if (!bin) GTEST_SKIP() << "mosquitto is not installed";
    dir_ = fs::temp_directory_path() / ("mop-loadgen-e2e-" + std::to_string(::getpid()));
    fs::create_directories(dir_);
    port_ = free_port();
    ws_port_ = free_port();
    const auto conf = dir_ / "mosquitto.conf";
    // Unbounded queue: with mosquitto's default (1000) a subscriber that falls behind loses
    // QoS 1/2 messages by design, and this test checks our accounting, not that policy.
    std::ofstream(conf) << "listener " << port_ << " 127.0.0.1\nallow_anonymous true\npersistence false\n"
                        << "max_queued_messages 0\nmax_inflight_messages 1000\nset_tcp_nodelay true\n"
                        // MQTT over WebSocket (Debian's mosquitto has libwebsockets built in).
                        << "listener " << ws_port_ << " 127.0.0.1\nprotocol websockets\n";
    pid_ = ::fork();
    if (pid_ == 0) {
      ::execl(bin, bin, "-c", conf.c_str(), static_cast<char*>(nullptr));
      ::_exit(127);
    }
    for (int i = 0; i < 500 && !accepts(port_); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(10));
    ASSERT_TRUE(accepts(port_)) << "mosquitto did not start on port " << port_;
    for (int i = 0; i < 500 && !accepts(ws_port_); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(10));
    ASSERT_TRUE(accepts(ws_port_)) << "mosquitto's websockets listener did not start on port " << ws_port_;
  }
  void TearDown() override {
    if (pid_ > 0) {
      ::kill(pid_, SIGTERM);
      int st = 0;
      ::waitpid(pid_, &st, 0);
    }
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }
  // A timed run of `mode` against this mosquitto.
  Options timed(Mode mode, double duration) const {
    Options o;
    o.mode = mode;
    o.port = port_;
    o.duration = duration;
    o.duration_given = true;
    return o;
  }
  Options options(int qos) {
    Options o = timed(Mode::pubsub, 1);
    o.qos = qos;
    o.publishers = 2;
    o.subscribers = 2;
    o.topics = 1;
    o.window = 50;
    o.broker_pid = pid_;
    o.topic = "e2e/" + std::to_string(::getpid());
    return o;
  }
  // `conns` idle connections held for 0.2 s.
  Options idle(std::uint32_t conns) const {
    Options o = timed(Mode::conn, 0.2);
    o.conns = conns;
    return o;
  }
  // Every connection ready, none failed.
  static void expect_all_ready(const Options& o) {
    const Summary s = run(o, false);
    EXPECT_TRUE(s.failure.empty()) << s.failure;
    EXPECT_EQ(s.conns_ready, o.conns);
    EXPECT_EQ(s.conns_failed, 0u);
  }
  fs::path dir_;
  std::uint16_t port_ = 0;
  std::uint16_t ws_port_ = 0;
  pid_t pid_ = -1;
};

TEST_F(Mosquitto, OverWebSocketQos1LosesNothingAndIdleConnectionsConnect) {
  Options o = options(1);
  o.ws = true;
  o.port = ws_port_;
  const Summary s = run(o, false);
  EXPECT_TRUE(s.failure.empty()) << s.failure;
  EXPECT_EQ(s.errors, 0u);
  EXPECT_EQ(s.conns_ready, 4u);
  EXPECT_GT(s.acked, 0u);
  EXPECT_GT(s.received, 0u);
  EXPECT_EQ(s.lost, 0u);
  EXPECT_EQ(s.misrouted, 0u);
  EXPECT_EQ(s.invalid, 0u);
  EXPECT_FALSE(s.guarantees_broken());
  Options idle_ws = idle(50);
  idle_ws.ws = true;
  idle_ws.port = ws_port_;
  expect_all_ready(idle_ws);
  // A WebSocket upgrade sent to the plain MQTT listener must fail the handshake, and the run
  // say so, rather than count the connections as ready.
  Options plain_port = idle(2);
  plain_port.ws = true;  // WebSocket towards the plain MQTT listener
  const Summary bad = run(plain_port, false);
  EXPECT_EQ(bad.conns_ready, 0u);
  EXPECT_EQ(bad.conns_failed, 2u);
}

TEST_F(Mosquitto, Qos1PubSubLosesNothing) {
  const Summary s = run(options(1), false);
  EXPECT_TRUE(s.failure.empty()) << s.failure;
  EXPECT_EQ(s.errors, 0u);
  EXPECT_EQ(s.conns_ready, 4u);
  EXPECT_GT(s.sent, 0u);
  EXPECT_GT(s.received, 0u);
  EXPECT_EQ(s.lost, 0u);
  EXPECT_EQ(s.misrouted, 0u);
  EXPECT_EQ(s.invalid, 0u);
  EXPECT_FALSE(s.guarantees_broken());
  EXPECT_GT(s.latency.count(), 0u);
  ASSERT_TRUE(s.broker.has_value());
  EXPECT_GT(s.broker->rss_kib, 0u);
  auto j = nlohmann::json::parse(summary_json(s));
  EXPECT_EQ(j["lost"], 0);
  EXPECT_EQ(j["qos"], 1);
}

TEST_F(Mosquitto, Qos2CountedRunDeliversEachMessageOnce) {
  Options o = options(2);
  o.duration_given = false;
  o.count = 2000;
  const Summary s = run(o, false);
  EXPECT_TRUE(s.failure.empty()) << s.failure;
  EXPECT_EQ(s.sent, 2u * 2000u);
  // Loss is counted after the drain: each subscriber must have every one of both publishers'
  // 2000 messages (none is excused: all were acknowledged by then).
  EXPECT_EQ(s.lost, 0u);
  EXPECT_EQ(s.misrouted, 0u);
  EXPECT_EQ(s.duplicates, 0u);
}

TEST_F(Mosquitto, IdleConnectionsFromSeveralSourceAddresses) {
  Options o = idle(50);
  o.source_addrs = {"127.0.0.1", "127.0.0.2"};
  expect_all_ready(o);
}

TEST_F(Mosquitto, ConnectsOnEveryThreadUnderAConcurrencyLimit) {
  // Each worker must connect its own connections and count their completions: with a few
  // connects in flight at a time, completions counted on another thread would leave the limit
  // used up and the run waiting for connections that are never started.
  Options o = idle(60);
  o.threads = 3;
  o.connect_concurrency = 2;
  expect_all_ready(o);
}

}  // namespace
}  // namespace mop::loadgen
