#pragma once
// The load generator's machinery: one Worker (thread + io_context) owns a set of Conns (MQTT
// client connections acting as publisher, subscriber or idle connection). Internal to
// mop_loadgen; bench.cpp drives it.
//
// Threading: a Conn and everything in it belongs to its Worker's thread. The orchestrating main
// thread only reads the relaxed atomic counters (each has one writer) and posts jobs to workers.
#include <atomic>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "loadgen/histogram.hpp"
#include "loadgen/options.hpp"
#include "loadgen/sequence_checker.hpp"
#include "mqtt/codec/codec.hpp"

namespace mop::loadgen {

inline std::uint64_t now_ns() {
  return static_cast<std::uint64_t>(
      std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch()).count());
}

// A counter with one writing thread: a plain load and store instead of a locked add, since
// other threads only need an approximately current value.
class Counter {
public:
  void add(std::uint64_t n = 1) { v_.store(v_.load(std::memory_order_relaxed) + n, std::memory_order_relaxed); }
  void set(std::uint64_t n) { v_.store(n, std::memory_order_relaxed); }
  std::uint64_t get() const { return v_.load(std::memory_order_relaxed); }

private:
  std::atomic<std::uint64_t> v_{0};
};

enum class Phase : int { connecting, running, stopping, done };

// State shared by all workers of one run.
struct RunState {
  Options opt;
  mqtt::ProtocolVersion version = mqtt::ProtocolVersion::v311;
  boost::asio::ip::tcp::endpoint broker;
  std::atomic<Phase> phase{Phase::connecting};
  std::atomic<std::uint64_t> publish_start_ns{0};
  std::atomic<std::uint64_t> ready{0};        // publishers after CONNACK, subscribers after SUBACK, idle after CONNACK
  std::atomic<std::uint64_t> failed{0};       // connections that never became ready
  std::atomic<std::uint64_t> errors{0};       // everything that went wrong, ready or not
  std::atomic<std::uint64_t> last_ready_ns{0};
  std::atomic<int> errors_printed{0};
  void error(const std::string& what);
};

class Worker;

class Conn {
public:
  enum class Role { publisher, subscriber, idle };
  Conn(Worker& w, Role role, std::uint32_t id, std::string client_id, std::string topic,
       const std::string* source_addr);

  void start_connect();
  void produce();          // publisher: queue what the rate and window allow, then write
  void disconnect();       // orderly end: DISCONNECT, close
  void keepalive_tick(std::uint64_t now);

  Role role() const { return role_; }
  std::uint32_t id() const { return id_; }
  std::uint32_t topic_index = 0;
  std::size_t worker_index = 0;
  bool ready() const { return ready_; }
  bool closed() const { return closed_; }
  bool rate_limited() const;

  // Publisher counters (read by main while running).
  Counter sent, acked, inflight;
  bool done = false;  // reached --count
  std::vector<std::uint32_t> inflight_seqs() const;
  // Subscriber counters and the full record of what arrived.
  Counter received, unique;
  SequenceChecker checker;

private:
  void on_connected();
  void wait_read();
  void on_readable();
  bool handle(const mqtt::Frame& f);
  void on_publish(const mqtt::Frame& f);
  void complete(mqtt::PacketId pid);
  void flush();
  void fail(const std::string& why);
  void became_ready();
  mqtt::PacketId alloc_packet_id();

  Worker& w_;
  Role role_;
  std::uint32_t id_;
  std::string client_id_;
  std::string topic_;
  const std::string* source_addr_;
  boost::asio::ip::tcp::socket sock_;
  mqtt::FrameReader reader_;
  std::string out_;
  std::size_t out_off_ = 0;
  bool write_waiting_ = false;
  bool produce_posted_ = false;
  bool connected_ = false, ready_ = false, closed_ = false, counted_connect_ = false;
  std::uint64_t last_write_ns_ = 0;
  // Publisher: the PUBLISH template (topic, qos) reused for every message, the seq+1 of the
  // message in flight under each packet id (0 = free), the next id to try.
  mqtt::Publish tmpl_;
  std::vector<std::uint32_t> slot_seq_;
  mqtt::PacketId next_pid_ = 1;
  std::uint32_t next_seq_ = 0;
};

class Worker {
public:
  Worker(RunState& run, std::size_t index);
  ~Worker();
  void start();   // the thread
  void join();

  // Connects these connections, at most --connect-concurrency at a time. Posted by main.
  void connect_all(std::vector<Conn*> conns);
  void connect_finished();  // one connect attempt resolved (ready or failed)

  // Moves this second's latencies into `out` (main thread, posted).
  void take_interval(LatencyHistogram& out);

  RunState& run;
  boost::asio::io_context io{1};
  std::vector<std::unique_ptr<Conn>> conns;  // after io: destroyed first
  std::string filler;                        // payload bytes behind the header
  std::unique_ptr<std::uint8_t[]> rbuf;      // one read buffer for all of this thread's sockets
  static constexpr std::size_t kReadBuf = 256 * 1024;
  LatencyHistogram interval, total;
  std::vector<Conn*> rate_publishers;

private:
  void tick();
  std::size_t index_;
  std::thread thread_;
  boost::asio::steady_timer ticker_;
  std::vector<Conn*> connect_queue_;
  std::size_t connect_next_ = 0;
  std::uint32_t connecting_ = 0;
  std::uint64_t last_keepalive_ns_ = 0;
};

}  // namespace mop::loadgen
