#pragma once
// The load generator's machinery: one Worker (thread + io_context) owns a set of Conns (MQTT
// client connections acting as publisher, subscriber or idle connection). Internal to
// mop_loadgen; bench.cpp runs it through drive() (driver.hpp).
//
// Threading: a Conn and everything in it belongs to its Worker's thread. The orchestrating main
// thread only reads the relaxed atomic counters (each has one writer) and posts jobs to workers.
#include <cstdint>
#include <string>
#include <vector>

#include "loadgen/engine_base.hpp"
#include "loadgen/sequence_checker.hpp"
#include "mqtt/codec/codec.hpp"

namespace mop::loadgen {

// State shared by all workers of one MQTT run.
struct RunState : RunBase {
  mqtt::ProtocolVersion version = mqtt::ProtocolVersion::v311;
};

class Worker;

class Conn final : public StreamConn<Conn> {
public:
  enum class Role { publisher, subscriber, idle };
  Conn(Worker& w, Role role, std::uint32_t id, std::string client_id, std::string topic,
       const std::string* source_addr);

  void start_connect();
  void produce();          // publisher: queue what the rate and window allow, then write
  void keepalive_tick(std::uint64_t now);

  Role role() const { return role_; }
  std::uint32_t id() const { return id_; }
  std::uint32_t topic_index = 0;
  std::size_t worker_index = 0;
  bool rate_limited() const;

  // Publisher counters (read by main while running).
  Counter sent, acked, inflight;
  bool done = false;  // reached --count
  std::vector<std::uint32_t> inflight_seqs() const;
  // Subscriber counters and the full record of what arrived.
  Counter received, unique;
  SequenceChecker checker;

  // StreamConn hooks.
  const std::string& label() const { return client_id_; }
  std::string closed_by_broker() const { return "connection " + client_id_ + " closed by the broker"; }
  void greet(std::string& out);
  bool on_bytes(std::span<const std::uint8_t> bytes);
  void after_read();
  bool wants_refill() const;
  void goodbye(std::string& out);
  void on_connect_resolved();

private:
  bool handle(const mqtt::Frame& f);
  void on_publish(const mqtt::Frame& f);
  void complete(mqtt::PacketId pid);
  mqtt::PacketId alloc_packet_id();

  Worker& w_;
  Role role_;
  std::uint32_t id_;
  std::string client_id_;
  std::string topic_;
  const std::string* source_addr_;
  mqtt::FrameReader reader_;
  // Publisher: the PUBLISH template (topic, qos) reused for every message, the seq+1 of the
  // message in flight under each packet id (0 = free), the next id to try.
  mqtt::Publish tmpl_;
  std::vector<std::uint32_t> slot_seq_;
  mqtt::PacketId next_pid_ = 1;
  std::uint32_t next_seq_ = 0;
};

class Worker final : public WorkerBase<Conn> {
public:
  Worker(RunState& run, std::size_t index);

  // Connects these connections, at most --connect-concurrency at a time. Posted by main.
  void connect_all(std::vector<Conn*> conns);
  void connect_finished();  // one connect attempt resolved (ready or failed)

  RunState& run;
  std::string filler;  // payload bytes behind the header

private:
  void on_tick(std::uint64_t now) override;  // keepalives
  std::vector<Conn*> connect_queue_;
  std::size_t connect_next_ = 0;
  std::uint32_t connecting_ = 0;
  std::uint64_t last_keepalive_ns_ = 0;
};

}  // namespace mop::loadgen
