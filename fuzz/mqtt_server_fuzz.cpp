// libFuzzer target: the whole MQTT server. Several connections (a ClientConnection and its
// Protocol on a fake transport each, as mqtt/server/tests/test_client.hpp has them) over one
// SessionRouter over an EmbeddedService on a MemoryStore, through StoreLedger, StorePersistence and StoreSessionStore,
// with a ManualExecutor and a ManualClock. Nothing runs unless the input says so.
//
// The input is a little program: each op (one byte, then its operands) sends a chunk of raw input
// bytes or well-formed encoded packets to one connection, opens, closes or drops a connection,
// advances the clock, ticks the broker or a connection, runs one or all pending executor tasks
// (store completions arriving early or late), makes the store fail its next writes, congests or
// drains a connection's socket, or restarts the broker on the same store (sessions and wills
// come back). The encoded packets draw from small alphabets (client ids, topics, filters,
// packet ids), so connections meet on the same sessions and topics. See fuzz/README.md.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "core/executor.hpp"
#include "fuzz/fuzz_input.hpp"
#include "core/log.hpp"
#include "mqtt/server/client_connection.hpp"
#include "mqtt/server/session_router.hpp"
#include "service/embedded_service.hpp"
#include "storage/memory_store.hpp"
#include "storage/store_ledger.hpp"
#include "storage/store_persistence.hpp"
#include "storage/store_state.hpp"

namespace {

using namespace mop;
using namespace mop::mqtt;

using fuzz::Input;

const std::vector<std::string> kClientIds = {"a", "b", "c", "", "a"};
const std::vector<std::string> kTopics = {"t", "t/a", "t/b", "s/a", "persistent://public/default/p",
                                          "non-persistent://public/default/n", "$SYS/x", "t/a"};
const std::vector<std::string> kFilters = {"t",     "t/+",          "#",   "+/a", "$share/g/t/#", "t/a",
                                           "s/#",   "$share/g/+/a", "t/b", "persistent://public/default/p",
                                           "non-persistent://public/default/n"};

class FakeTransport final : public net::Stream {
public:
  void output_ready() override {}
  void close_after_flush() override { closed = true; }
  const std::string& peer() const override { return name; }
  std::size_t queued_bytes() const override { return queued; }
  std::string name = "fuzz";
  bool closed = false;
  std::size_t queued = 0;
};

// One client connection; the transport outlives the ClientConnection that points at it.
struct Conn {
  explicit Conn(SessionRouter& broker) : client(std::make_unique<ClientConnection>(broker, transport)) {}
  FakeTransport transport;
  std::unique_ptr<ClientConnection> client;
  ProtocolVersion version = ProtocolVersion::v311;  // of the last CONNECT sent, for encoding
};

Payload payload_of(Input& in) {
  static const std::vector<std::string> payloads = {"", "x", "hello", std::string(300, 'p')};
  return Payload::copy_of(in.pick(payloads));
}

Properties publish_properties(Input& in) {
  Properties p;
  const std::uint8_t f = in.byte();
  if (f & 1) p.message_expiry_interval = f & 2 ? 1 : 100;
  if (f & 4) p.topic_alias = 1 + (f >> 6);
  if (f & 8) p.user_properties.emplace_back("k", "v");
  if (f & 16) p.response_topic = "t/r";
  return p;
}

Connect connect_of(Input& in) {
  Connect c;
  const std::uint8_t f = in.byte();
  static const std::vector<ProtocolVersion> versions = {ProtocolVersion::v311, ProtocolVersion::v5,
                                                        ProtocolVersion::v31, ProtocolVersion::v311};
  c.version = versions[f & 3];
  c.protocol_name = c.version == ProtocolVersion::v31 ? "MQIsdp" : "MQTT";
  c.clean_session = (f & 4) != 0;
  c.client_id = in.pick(kClientIds);
  static const std::vector<std::uint16_t> keep_alives = {0, 1, 5, 60};
  c.keep_alive = keep_alives[(f >> 3) & 3];
  if (f & 0x20) {
    Will w;
    w.topic = in.pick(kTopics);
    w.payload = payload_of(in);
    const std::uint8_t g = in.byte();
    w.qos = g % 3;
    w.retain = (g & 4) != 0;
    if (c.version == ProtocolVersion::v5 && (g & 8)) w.properties.will_delay_interval = (g & 16) ? 2 : 30;
    c.will = std::move(w);
  }
  if (c.version == ProtocolVersion::v5) {
    const std::uint8_t g = in.byte();
    static const std::vector<std::uint32_t> expiries = {0, 10, 0xFFFFFFFF, 1};
    if (g & 1) c.properties.session_expiry_interval = expiries[(g >> 1) & 3];
    if (g & 8) c.properties.receive_maximum = 1 + ((g >> 4) & 1);
    if (g & 32) c.properties.topic_alias_maximum = 2;
    if (g & 64) c.properties.maximum_packet_size = 64;
    if (g & 128) c.properties.authentication_method = "none";
  }
  if (f & 0x40) c.username = "u";
  if (f & 0x80) c.password = "p";
  return c;
}

// One well-formed packet, encoded for `conn`'s protocol version (a CONNECT sets it).
std::string encoded_packet(Input& in, Conn& conn) {
  Packet p;
  const std::uint8_t kind = in.byte() % 13;
  const auto id = [&in]() -> PacketId { return 1 + in.byte() % 4; };
  switch (kind) {
    case 0: {
      Connect c = connect_of(in);
      conn.version = c.version;
      p = std::move(c);
      break;
    }
    case 1:
    case 2: {
      Publish pub;
      const std::uint8_t f = in.byte();
      pub.qos = f % 3;
      pub.retain = (f & 4) != 0;
      pub.dup = (f & 8) != 0;
      pub.topic = in.pick(kTopics);
      if (pub.qos > 0) pub.packet_id = id();
      pub.payload = payload_of(in);
      if (conn.version == ProtocolVersion::v5 && (f & 16)) {
        pub.properties = publish_properties(in);
        if (pub.properties.topic_alias && (f & 32)) pub.topic.clear();  // the alias names it
      }
      p = std::move(pub);
      break;
    }
    case 3: {
      Subscribe s;
      s.packet_id = id();
      const std::uint8_t n = 1 + in.byte() % 3;
      for (std::uint8_t i = 0; i < n; ++i) {
        SubscribeEntry e;
        e.filter = in.pick(kFilters);
        const std::uint8_t f = in.byte();
        e.qos = f % 3;
        if (conn.version == ProtocolVersion::v5) {
          e.no_local = (f & 4) != 0;
          e.retain_as_published = (f & 8) != 0;
          e.retain_handling = (f >> 4) % 3;
        }
        s.entries.push_back(std::move(e));
      }
      if (conn.version == ProtocolVersion::v5 && (n & 1)) s.properties.subscription_identifiers.push_back(n);
      p = std::move(s);
      break;
    }
    case 4: {
      Unsubscribe u;
      u.packet_id = id();
      u.filters.push_back(in.pick(kFilters));
      p = std::move(u);
      break;
    }
    case 5: p = Puback{id()}; break;
    case 6: p = Pubrec{id()}; break;
    case 7: p = Pubrel{id()}; break;
    case 8: p = Pubcomp{id()}; break;
    case 9: p = Pingreq{}; break;
    case 10: {
      Disconnect d;
      if (conn.version == ProtocolVersion::v5) {
        const std::uint8_t f = in.byte();
        if (f & 1) d.reason_code = ReasonCode::disconnect_with_will_message;
        if (f & 2) d.properties.session_expiry_interval = (f & 4) ? 0 : 20;
      }
      p = d;
      break;
    }
    case 11: {
      Auth a;
      a.reason_code = (in.byte() & 1) ? ReasonCode::re_authenticate : ReasonCode::continue_authentication;
      a.properties.authentication_method = "none";
      p = a;
      break;
    }
    default: {  // a publish to a topic every wildcard filter matches, QoS 1
      p = Publish{false, 1, false, "t/a", id(), payload_of(in)};
      break;
    }
  }
  std::string out;
  encode(p, conn.version, out);
  return out;
}

// Runs posted work; bounded, in case something keeps posting.
void run_tasks(ManualExecutor& exec, std::size_t most = 100'000) {
  for (std::size_t i = 0; i < most && exec.run_one(); ++i) {
  }
}

class World {
public:
  explicit World(std::uint8_t config) {
    policies_.ttl_ms = (config & 1) ? 30'000 : 0;
    policies_.backlog_quota_bytes = (config & 2) ? 2000 : -1;
    policies_.backlog_policy = (config & 4) ? broker::TopicPolicies::BacklogPolicy::consumer_backlog_eviction
                                            : broker::TopicPolicies::BacklogPolicy::producer_exception;
    options_.receive_maximum = (config & 8) ? 2 : 1000;
    options_.max_connections = (config & 16) ? 2 : 0;
    options_.max_queued_bytes = 1000;
    start();
  }

  ~World() {
    // A sane order, as after io.run() returns: connections first (as their sockets go away), then
    // the broker, its completions, the service and the persistence under it.
    conns_.clear();
    run_tasks(exec_);
    broker_.reset();
    run_tasks(exec_);
    service_.reset();
    run_tasks(exec_);
    persistence_.reset();
  }

  void run(Input& in) {
    while (!in.done()) {
      step(in);
      check();
    }
  }

private:
  void start() {
    persistence_ = std::make_unique<storage::StorePersistence>(store_, exec_);
    service_ = std::make_unique<service::EmbeddedService>(exec_, clock_, storage::ledger_factory(store_, exec_),
                                                          persistence_.get());
    service_->set_policies(policies_);
    if (auto e = service_->restore(); !e.ok()) {
      // Only this program wrote the store, through the real persistence: it must read back.
      std::fprintf(stderr, "restore failed: %s\n", e.error().message.c_str());
      std::abort();
    }
    broker_ = std::make_unique<SessionRouter>(*service_, sessions_, clock_, options_);
    auto sessions = sessions_.read();
    if (!sessions.ok()) {
      std::fprintf(stderr, "reading the sessions failed: %s\n", sessions.error().message.c_str());
      std::abort();
    }
    broker_->restore(std::move(*sessions));
    run_tasks(exec_);
  }

  void restart(bool graceful) {
    if (graceful) {
      broker_->shutdown();
      run_tasks(exec_);
    }
    conns_.clear();
    broker_.reset();
    service_.reset();
    run_tasks(exec_);
    persistence_.reset();
    store_.fail_next_writes(0);
    start();
  }

  Conn* conn(Input& in) {
    if (conns_.empty()) return nullptr;
    return conns_[in.byte() % conns_.size()].get();
  }
  void feed(Conn& c, const std::string& bytes) {
    c.client->protocol().on_bytes({reinterpret_cast<const std::uint8_t*>(bytes.data()), bytes.size()});
  }

  void step(Input& in) {
    const std::uint8_t op = in.byte();
    switch (op % 16) {
      case 0:
      case 1: {  // raw bytes, one read
        const std::size_t n = in.byte();
        auto* c = conn(in);
        const std::string bytes = in.bytes(n);
        if (c) feed(*c, bytes);
        break;
      }
      case 2:
      case 3:
      case 4:
      case 5: {  // one to four well-formed packets in one read, maybe split in two reads
        auto* c = conn(in);
        if (!c) break;
        const std::uint8_t f = in.byte();
        std::string bytes;
        for (int i = 0; i <= (f & 3); ++i) bytes += encoded_packet(in, *c);
        if ((f & 4) && bytes.size() > 1) {
          const std::size_t cut = 1 + in.byte() % (bytes.size() - 1);
          feed(*c, bytes.substr(0, cut));
          if (f & 8) run_tasks(exec_);
          feed(*c, bytes.substr(cut));
        } else {
          feed(*c, bytes);
        }
        if (f & 16) run_tasks(exec_);
        break;
      }
      case 6:  // a new connection
        if (conns_.size() < 8) conns_.push_back(std::make_unique<Conn>(*broker_));
        break;
      case 7: {  // the socket ends (error or EOF)
        if (auto* c = conn(in)) c->client->protocol().on_closed();
        break;
      }
      case 8: {  // the connection object goes: its socket is gone (closed or not)
        if (conns_.empty()) break;
        const std::size_t i = in.byte() % conns_.size();
        conns_.erase(conns_.begin() + static_cast<std::ptrdiff_t>(i));
        break;
      }
      case 9: {  // the transports whose close completed go
        std::erase_if(conns_, [](const auto& c) { return c->transport.closed; });
        break;
      }
      case 10: {  // time passes; keep-alive ticks of every connection, broker timers, TTL
        const std::uint8_t f = in.byte();
        clock_.advance(std::chrono::milliseconds((f & 0x7f) * ((f & 0x80) ? 1000 : 50)));
        for (auto& c : conns_) c->client->protocol().on_tick();
        if (f & 1) broker_->tick();
        if (f & 2) service_->expire();
        break;
      }
      case 11:
        broker_->tick();
        break;
      case 12: {  // store completions: one, a few, or all
        const std::uint8_t f = in.byte();
        if (f & 0x80)
          run_tasks(exec_);
        else
          run_tasks(exec_, f & 7);
        break;
      }
      case 13: {  // the store fails its next writes
        const std::uint8_t f = in.byte();
        store_.fail_next_writes(f & 7, (f & 8) ? storage::StorageErrc::no_space : storage::StorageErrc::io_error);
        break;
      }
      case 14: {  // the socket congests, or drains
        auto* c = conn(in);
        if (!c) break;
        const std::uint8_t f = in.byte();
        if (f & 1) {
          c->transport.queued = 5000;
        } else {
          c->transport.queued = 0;
          if (!c->transport.closed) c->client->on_output_drained();
        }
        (void)c->client->protocol().output().take();  // what the socket wrote
        break;
      }
      default: {  // rarely, a restart on the same store; else run everything
        const std::uint8_t f = in.byte();
        if (f < 24)
          restart(f & 1);
        else
          run_tasks(exec_);
        break;
      }
    }
  }

  // What must hold between any two events.
  void check() const {
    // A connection is live from its admission: connected, or bound to its session and waiting
    // for the records its CONNACK waits for.
    std::size_t connected = 0;
    for (const auto& c : conns_) {
      const auto state = c->client->protocol().state();
      if (state == Protocol::State::connected || state == Protocol::State::connecting) ++connected;
    }
    if (broker_->live_connection_count() > connected) {
      std::fprintf(stderr, "%zu live connections, %zu connected\n", broker_->live_connection_count(), connected);
      std::abort();
    }
    if (broker_->connection_count() != conns_.size()) {
      std::fprintf(stderr, "broker knows %zu connections, %zu exist\n", broker_->connection_count(), conns_.size());
      std::abort();
    }
  }

  ManualExecutor exec_;
  ManualClock clock_;
  storage::MemoryStore store_;
  storage::StoreSessionStore sessions_{store_, exec_};
  broker::TopicPolicies policies_;
  RouterOptions options_;
  std::unique_ptr<storage::StorePersistence> persistence_;
  std::unique_ptr<service::EmbeddedService> service_;
  std::unique_ptr<SessionRouter> broker_;
  std::vector<std::unique_ptr<Conn>> conns_;
};

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  mop::log::set_level("off");  // a log line per connection would drown the fuzzer's output
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  Input in(data + 1, size - 1);
  World world(data[0]);
  world.run(in);
  return 0;
}
