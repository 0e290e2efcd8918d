// libFuzzer target: the Pulsar server with several connections on shared topics. Up to six
// pulsar::server::Connection objects over one PulsarServer over an EmbeddedService on a
// MemoryStore (StoreLedger, StorePersistence), with a ManualExecutor and a ManualClock.
//
// pulsar_server_fuzz feeds raw bytes to two connected connections (depth in the frame and
// command decoding); this target is a program of ops instead, so that producers and consumers of
// different connections meet on the same few topics and subscriptions: well-formed commands
// (CONNECT, PRODUCER with access modes, SEND and batched SEND, SUBSCRIBE of every type, FLOW,
// ACK of message ids the consumers were sent, REDELIVER, SEEK, UNSUBSCRIBE, CLOSE_*), raw bytes,
// a command cut in two reads with the connection closed or dropped in between, executor steps
// (store completions early or late), failing store writes, clock advance with keep-alive ticks,
// and, rarely, a restart on the same store. See fuzz/README.md.
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
#include "pulsar/codec/batch.hpp"
#include "pulsar/server/connection.hpp"
#include "service/embedded_service.hpp"
#include "storage/memory_store.hpp"
#include "storage/store_ledger.hpp"
#include "storage/store_persistence.hpp"
#include "storage/store_state.hpp"

namespace {

using namespace mop;
using namespace mop::pulsar;
using Cmd = proto::BaseCommand;

using fuzz::Input;

const std::vector<std::string> kTopics = {"a", "b", "persistent://public/default/a", "non-persistent://public/default/n",
                                          "p", "p-partition-1", "persistent://other/ns/x"};
const std::vector<std::string> kSubscriptions = {"s1", "s2", "s1"};

struct NullStream final : net::Stream {
  void output_ready() override {}
  void close_after_flush() override { closed = true; }
  const std::string& peer() const override { return name; }
  std::size_t queued_bytes() const override { return 0; }
  std::string name = "fuzz";
  bool closed = false;
};

struct Conn {
  explicit Conn(server::PulsarServer& s) : connection(std::make_unique<server::Connection>(s, transport)) {}
  NullStream transport;
  std::unique_ptr<server::Connection> connection;
};

void run_tasks(ManualExecutor& exec, std::size_t most = 100'000) {
  for (std::size_t i = 0; i < most && exec.run_one(); ++i) {
  }
}

class World {
public:
  explicit World(std::uint8_t config) {
    options_.service_url = "pulsar://127.0.0.1:6650";
    options_.max_message_size = 64 * 1024;
    options_.auto_create_partitioned = (config & 1) != 0;
    options_.default_num_partitions = 2;
    options_.deduplication = (config & 2) != 0;
    options_.keep_alive = std::chrono::seconds(30);
    policies_.ttl_ms = (config & 4) ? 30'000 : 0;
    policies_.backlog_quota_bytes = (config & 8) ? 1000 : -1;
    policies_.backlog_policy = (config & 16) ? broker::TopicPolicies::BacklogPolicy::consumer_backlog_eviction
                                             : broker::TopicPolicies::BacklogPolicy::producer_exception;
    policies_.retention_time_ms = (config & 32) ? -1 : 0;
    start();
  }
  ~World() {
    conns_.clear();
    run_tasks(exec_);
    server_.reset();
    run_tasks(exec_);
    service_.reset();
    run_tasks(exec_);
    persistence_.reset();
  }

  void run(Input& in) {
    while (!in.done()) step(in);
  }

private:
  void start() {
    persistence_ = std::make_unique<storage::StorePersistence>(store_, exec_);
    service_ = std::make_unique<service::EmbeddedService>(exec_, clock_, storage::ledger_factory(store_, exec_),
                                                          persistence_.get());
    service_->set_policies(policies_);
    if (auto e = service_->restore(); !e.ok()) {
      std::fprintf(stderr, "restore failed: %s\n", e.error().message.c_str());
      std::abort();
    }
    server_ = std::make_unique<server::PulsarServer>(*service_, metadata_, clock_, options_);
    auto metadata = metadata_.read();
    if (!metadata.ok()) {
      std::fprintf(stderr, "reading the metadata failed: %s\n", metadata.error().message.c_str());
      std::abort();
    }
    server_->restore(*metadata);
    run_tasks(exec_);
  }
  void restart(bool graceful) {
    if (graceful) {
      server_->shutdown();
      run_tasks(exec_);
    }
    conns_.clear();
    server_.reset();
    service_.reset();
    run_tasks(exec_);
    persistence_.reset();
    store_.fail_next_writes(0);
    ids_.clear();
    start();
  }

  Conn* conn(Input& in) { return conns_.empty() ? nullptr : conns_[in.byte() % conns_.size()].get(); }
  void feed(Conn& c, const std::string& bytes) {
    c.connection->on_bytes({reinterpret_cast<const std::uint8_t*>(bytes.data()), bytes.size()});
  }
  // What the socket writes: decoded, message ids kept for ACK, SEEK and REDELIVER. The server
  // never writes a frame that does not decode.
  void drain(Conn& c) {
    std::string bytes;
    for (const auto& s : c.connection->output().take()) bytes.append(s.view());
    FrameReader reader;
    reader.feed({reinterpret_cast<const std::uint8_t*>(bytes.data()), bytes.size()});
    for (;;) {
      auto f = reader.next();
      if (!f.ok()) {
        std::fprintf(stderr, "the server wrote a frame that does not decode: %s\n", f.error().message().c_str());
        std::abort();
      }
      if (!f->has_value()) break;
      const Cmd& cmd = *(*f)->command;
      if (cmd.type() == Cmd::MESSAGE && ids_.size() < 32) ids_.push_back(cmd.message().message_id());
    }
  }

  void message_id(Input& in, proto::MessageIdData& out) {
    const std::uint8_t f = in.byte();
    if (!ids_.empty() && (f & 1)) {
      out = ids_[in.byte() % ids_.size()];
    } else {
      out.set_ledgerid(f >> 4);
      out.set_entryid(in.byte() % 8);
    }
    if (f & 2) {
      out.set_batch_index(f & 4 ? 0 : 1);
      out.set_batch_size(2);
      out.add_ack_set(f & 8 ? 1 : 2);
    }
  }

  std::string command(Input& in) {
    Cmd cmd;
    const std::uint8_t kind = in.byte() % 16;
    const std::uint64_t request = ++request_id_;
    const auto small = [&in]() -> std::uint64_t { return in.byte() % 3; };
    switch (kind) {
      case 0: {
        cmd.set_type(Cmd::CONNECT);
        cmd.mutable_connect()->set_client_version("fuzz");
        cmd.mutable_connect()->set_protocol_version(in.byte() & 1 ? 20 : 5);
        break;
      }
      case 1: {
        cmd.set_type(Cmd::PRODUCER);
        auto* p = cmd.mutable_producer();
        p->set_topic(in.pick(kTopics));
        p->set_producer_id(small());
        p->set_request_id(request);
        const std::uint8_t f = in.byte();
        if (f & 4) p->set_producer_name(f & 8 ? "n1" : "n2");
        p->set_producer_access_mode(static_cast<proto::ProducerAccessMode>(f & 3));
        break;
      }
      case 2:
      case 3:
      case 4: {
        cmd.set_type(Cmd::SEND);
        const std::uint8_t f = in.byte();
        const std::uint64_t seq = in.byte() % 8;
        cmd.mutable_send()->set_producer_id((f & 3) % 3);
        cmd.mutable_send()->set_sequence_id(seq);
        proto::MessageMetadata meta;
        meta.set_producer_name(f & 8 ? "n1" : "n2");
        meta.set_sequence_id(seq);
        meta.set_publish_time(clock_.wall_ms());
        if (f & 16) meta.set_partition_key("k");
        std::string body(f & 32 ? 200 : 3, 'm');
        if (f & 64) {
          body.clear();
          meta.set_num_messages_in_batch(2);
          cmd.mutable_send()->set_num_messages(2);
          for (int i = 0; i < 2; ++i) {
            proto::SingleMessageMetadata s;
            const std::string p = "b" + std::to_string(i);
            append_batch_message(s, {reinterpret_cast<const std::uint8_t*>(p.data()), p.size()}, body);
          }
        }
        std::string out;
        encode_payload_command(cmd, meta, {reinterpret_cast<const std::uint8_t*>(body.data()), body.size()}, out);
        return out;
      }
      case 5:
      case 6: {
        cmd.set_type(Cmd::SUBSCRIBE);
        auto* s = cmd.mutable_subscribe();
        s->set_topic(in.pick(kTopics));
        s->set_subscription(in.pick(kSubscriptions));
        const std::uint8_t f = in.byte();
        s->set_subtype(static_cast<proto::CommandSubscribe::SubType>(f & 3));
        s->set_consumer_id(small());
        s->set_request_id(request);
        s->set_initialposition(f & 4 ? proto::CommandSubscribe::Earliest : proto::CommandSubscribe::Latest);
        if (f & 8) s->set_durable(false);
        if (f & 16) s->set_consumer_name("c");
        break;
      }
      case 7:
      case 8: {
        cmd.set_type(Cmd::FLOW);
        cmd.mutable_flow()->set_consumer_id(small());
        cmd.mutable_flow()->set_messagepermits(in.byte() % 6);
        break;
      }
      case 9:
      case 10: {
        cmd.set_type(Cmd::ACK);
        auto* a = cmd.mutable_ack();
        a->set_consumer_id(small());
        const std::uint8_t f = in.byte();
        a->set_ack_type(f & 1 ? proto::CommandAck::Cumulative : proto::CommandAck::Individual);
        for (int i = 0; i <= ((f >> 1) & 1); ++i) message_id(in, *a->add_message_id());
        if (f & 4) a->set_request_id(request);
        break;
      }
      case 11: {
        cmd.set_type(Cmd::REDELIVER_UNACKNOWLEDGED_MESSAGES);
        auto* r = cmd.mutable_redeliverunacknowledgedmessages();
        r->set_consumer_id(small());
        if (in.byte() & 1) message_id(in, *r->add_message_ids());
        break;
      }
      case 12: {
        cmd.set_type(Cmd::SEEK);
        auto* s = cmd.mutable_seek();
        s->set_consumer_id(small());
        s->set_request_id(request);
        if (in.byte() & 1)
          message_id(in, *s->mutable_message_id());
        else
          s->set_message_publish_time(clock_.wall_ms() - 1000 * (in.byte() % 4));
        break;
      }
      case 13: {
        const std::uint8_t f = in.byte();
        if (f & 1) {
          cmd.set_type(Cmd::UNSUBSCRIBE);
          cmd.mutable_unsubscribe()->set_consumer_id(small());
          cmd.mutable_unsubscribe()->set_request_id(request);
        } else if (f & 2) {
          cmd.set_type(Cmd::CLOSE_CONSUMER);
          cmd.mutable_close_consumer()->set_consumer_id(small());
          cmd.mutable_close_consumer()->set_request_id(request);
        } else {
          cmd.set_type(Cmd::CLOSE_PRODUCER);
          cmd.mutable_close_producer()->set_producer_id(small());
          cmd.mutable_close_producer()->set_request_id(request);
        }
        break;
      }
      case 14: {
        const std::uint8_t f = in.byte();
        if (f & 1) {
          cmd.set_type(Cmd::GET_LAST_MESSAGE_ID);
          cmd.mutable_getlastmessageid()->set_consumer_id(small());
          cmd.mutable_getlastmessageid()->set_request_id(request);
        } else if (f & 2) {
          cmd.set_type(Cmd::PARTITIONED_METADATA);
          cmd.mutable_partitionmetadata()->set_topic(in.pick(kTopics));
          cmd.mutable_partitionmetadata()->set_request_id(request);
        } else {
          cmd.set_type(Cmd::LOOKUP);
          cmd.mutable_lookuptopic()->set_topic(in.pick(kTopics));
          cmd.mutable_lookuptopic()->set_request_id(request);
        }
        break;
      }
      default:
        cmd.set_type(in.byte() & 1 ? Cmd::PING : Cmd::PONG);
        if (cmd.type() == Cmd::PING)
          cmd.mutable_ping();
        else
          cmd.mutable_pong();
        break;
    }
    std::string out;
    encode_command(cmd, out);
    return out;
  }

  void step(Input& in) {
    const std::uint8_t op = in.byte();
    switch (op % 14) {
      case 0: {  // raw bytes
        const std::size_t n = in.byte();
        auto* c = conn(in);
        const std::string bytes = in.bytes(n);
        if (c) feed(*c, bytes);
        break;
      }
      case 1:
      case 2:
      case 3:
      case 4: {  // one to four commands in one read
        auto* c = conn(in);
        if (!c) break;
        const std::uint8_t f = in.byte();
        std::string bytes;
        for (int i = 0; i <= (f & 3); ++i) bytes += command(in);
        feed(*c, bytes);
        if (f & 4) run_tasks(exec_);
        if (f & 8) drain(*c);
        break;
      }
      case 5: {  // a command cut in two reads; between them the connection may close or go
        if (conns_.empty()) break;
        const std::size_t i = in.byte() % conns_.size();
        auto& c = *conns_[i];
        const std::string bytes = command(in);
        const std::uint8_t f = in.byte();
        const std::size_t cut = 1 + f % bytes.size();
        feed(c, bytes.substr(0, cut));
        if (f & 0x40) run_tasks(exec_, 3);
        if ((f & 0x80) && (f & 0x20)) {
          conns_.erase(conns_.begin() + static_cast<std::ptrdiff_t>(i));
        } else if (f & 0x80) {
          c.connection->on_closed();
        } else if (cut < bytes.size()) {
          feed(c, bytes.substr(cut));
        }
        break;
      }
      case 6:  // a new connection, CONNECT sent
        if (conns_.size() < 6) {
          conns_.push_back(std::make_unique<Conn>(*server_));
          Cmd cmd;
          cmd.set_type(Cmd::CONNECT);
          cmd.mutable_connect()->set_client_version("fuzz");
          cmd.mutable_connect()->set_protocol_version(20);
          std::string bytes;
          encode_command(cmd, bytes);
          feed(*conns_.back(), bytes);
        }
        break;
      case 7: {  // the socket ends
        if (auto* c = conn(in)) c->connection->on_closed();
        break;
      }
      case 8: {  // a connection object goes (its socket is gone)
        if (conns_.empty()) break;
        conns_.erase(conns_.begin() + static_cast<std::ptrdiff_t>(in.byte() % conns_.size()));
        break;
      }
      case 9: {  // time passes: keep-alive ticks, TTL
        const std::uint8_t f = in.byte();
        clock_.advance(std::chrono::milliseconds((f & 0x7f) * ((f & 0x80) ? 1000 : 50)));
        for (auto& c : conns_) c->connection->on_tick();
        if (f & 1) service_->expire();
        std::erase_if(conns_, [](const auto& c) { return c->transport.closed && c->connection->closed(); });
        break;
      }
      case 10: {  // store completions: a few, or all
        const std::uint8_t f = in.byte();
        if (f & 0x80)
          run_tasks(exec_);
        else
          run_tasks(exec_, f & 7);
        break;
      }
      case 11: {
        const std::uint8_t f = in.byte();
        store_.fail_next_writes(f & 7, (f & 8) ? storage::StorageErrc::no_space : storage::StorageErrc::io_error);
        break;
      }
      case 12: {  // the socket writes what is queued
        for (auto& c : conns_) drain(*c);
        break;
      }
      default: {
        const std::uint8_t f = in.byte();
        if (f < 16)
          restart(f & 1);
        else
          run_tasks(exec_);
        break;
      }
    }
  }

  ManualExecutor exec_;
  ManualClock clock_;
  storage::MemoryStore store_;
  storage::StoreMetadataStore metadata_{store_, exec_};
  broker::TopicPolicies policies_;
  server::ServerOptions options_;
  std::unique_ptr<storage::StorePersistence> persistence_;
  std::unique_ptr<service::EmbeddedService> service_;
  std::unique_ptr<server::PulsarServer> server_;
  std::vector<std::unique_ptr<Conn>> conns_;
  std::vector<proto::MessageIdData> ids_;  // ids of MESSAGEs sent, for ACK, SEEK, REDELIVER
  std::uint64_t request_id_ = 0;
};

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  mop::log::set_level("off");
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  Input in(data + 1, size - 1);
  World world(data[0]);
  world.run(in);
  return 0;
}
