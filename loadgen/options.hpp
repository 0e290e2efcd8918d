#pragma once
// Command line of `mop bench`: what to run, parsed into plain values. Parsing is separate from
// running so that it is unit-tested without sockets.
#include <cstdint>
#include <string>
#include <vector>

#include "core/result.hpp"

namespace mop::loadgen {

enum class Mode { pub, sub, conn, pubsub, pulsar_produce, pulsar_consume, pulsar_pubsub };

inline bool is_pulsar(Mode m) { return m == Mode::pulsar_produce || m == Mode::pulsar_consume || m == Mode::pulsar_pubsub; }

// Pulsar modes: how consumers subscribe and acknowledge, how producers batch and compress.
enum class SubType { exclusive, shared, failover, key_shared };
enum class AckMode { individual, cumulative };
enum class Compression { none, lz4, zlib, zstd, snappy };

struct Options {
  Mode mode = Mode::pubsub;
  std::string host = "127.0.0.1";
  std::uint16_t port = 1883;
  int version = 4;                 // MQTT protocol level: 3 = 3.1, 4 = 3.1.1, 5 = 5.0
  int qos = 0;
  std::uint32_t size = 64;         // payload bytes, >= 16 (the message header)
  double rate = 0;                 // messages/s per publisher; 0 = as fast as the window allows
  std::uint32_t window = 100;      // QoS 1/2 messages in flight per publisher
  double duration = 10;            // seconds of measurement (after warmup)
  bool duration_given = false;
  std::uint64_t count = 0;         // messages per publisher (pub/pubsub) or subscriber (sub); 0 = no limit
  std::uint32_t publishers = 1;
  std::uint32_t subscribers = 1;
  std::uint32_t topics = 1;
  std::string topic = "mop-bench";  // topics are <topic>/<n>
  std::uint32_t conns = 100;       // `conn`
  std::vector<std::string> source_addrs;
  std::uint16_t keepalive = 60;
  bool clean = true;
  int broker_pid = 0;
  bool json = false;
  double warmup = 0;
  std::uint32_t threads = 1;
  std::uint32_t connect_concurrency = 200;  // connects in progress at once
  double drain_timeout = 5;        // seconds to wait for the last messages after publishing stops
  std::string client_prefix;       // default: mb<pid>
  bool help = false;
  // Payload bytes behind the header: 'x' repeated (compresses to almost nothing), or with
  // --random-payload pseudo-random bytes (as compressed or encrypted payloads: a store that
  // compresses gains nothing). The same bytes in every message of a run.
  bool random_payload = false;
  // TLS towards the broker (mqtt+ssl, pulsar+ssl): with --cafile the server certificate is
  // verified against it (not the host name); --tls alone does not verify. --cert/--key: a client
  // certificate (mTLS).
  bool tls = false;
  // MQTT over WebSocket (MQTT modes): the HTTP upgrade to `ws_path` with subprotocol "mqtt", then
  // binary messages; with --tls (or --cafile, ...) WebSocket over TLS (wss).
  bool ws = false;
  std::string ws_path = "/mqtt";
  // The largest WebSocket message written: brokers cap a message's size (mop at
  // webSocketMaxFrameSize, 65535 by default); MQTT packets may span messages.
  std::uint32_t ws_max_message = 32 * 1024;
  std::string cafile;
  std::string cert;
  std::string key;
  // Pulsar modes only (pulsar-produce, pulsar-consume, pulsar-pubsub). `publishers` are producers
  // (-P), `subscribers` consumers (-C or -S); port defaults to 6650, window to 1000 pending
  // messages, topic to persistent://public/default/mop-bench.
  std::uint32_t batch = 0;         // messages per SEND (a Pulsar batch); 0 = one message per SEND
  Compression compression = Compression::none;
  std::string subscription = "mop-bench";
  SubType sub_type = SubType::exclusive;
  bool initial_earliest = false;   // --initial-position earliest|latest
  AckMode ack = AckMode::individual;
  std::uint32_t receiver_queue = 1000;  // FLOW permits; refilled when half are used
  bool lookup = true;              // PARTITIONED_METADATA + LOOKUP before each producer/consumer
};

// The options, or a message for the user.
Result<Options, std::string> parse_options(const std::vector<std::string>& args);

// "127.0.0.1,127.0.0.2" or "127.0.0.1-127.0.0.8" (or "127.0.0.1-8"), possibly mixed.
Result<std::vector<std::string>, std::string> parse_source_addrs(const std::string& spec);

std::string usage_text();
const char* to_string(Mode m);
const char* to_string(SubType t);
const char* to_string(AckMode a);
const char* to_string(Compression c);

}  // namespace mop::loadgen
