// The Pulsar server's state across a restart: a "process" is a StorePersistence, an
// EmbeddedService over StoreLedgers and a PulsarServer, all over one MemoryStore that outlives
// it. Partition counts, schemas and producer sequence ids written by one process are what the
// next one serves; a failed append does not leave a sequence id ahead of the stored entries.
#include <gtest/gtest.h>

#include "pulsar/codec/batch.hpp"
#include "pulsar/server/tests/support.hpp"
#include "pulsar/server/connection.hpp"
#include "service/embedded_service.hpp"
#include "storage/memory_store.hpp"
#include "storage/store_ledger.hpp"
#include "storage/store_persistence.hpp"
#include "storage/store_state.hpp"

namespace mop::pulsar::server {
namespace {

using Cmd = proto::BaseCommand;
using test::Received;
const std::string kTopic = "persistent://public/default/t";

// One broker process over `store`, restored at construction.
struct Process {
  Process(storage::MemoryStore& store, ManualExecutor& executor, ManualClock& clock, ServerOptions options)
      : persistence(store, executor),
        metadata(store, executor),
        service(executor, clock, storage::ledger_factory(store, executor), &persistence),
        restored(service.restore()),
        server(service, metadata, clock, std::move(options)),
        executor(executor) {
    auto stored = metadata.read();
    if (!stored.ok()) {
      restored = stored.error();
      return;
    }
    server.restore(*stored);
  }
  std::unique_ptr<Connection> open() {
    auto c = std::make_unique<Connection>(server, stream);
    Cmd cmd;
    cmd.set_type(Cmd::CONNECT);
    cmd.mutable_connect()->set_client_version("test");
    cmd.mutable_connect()->set_protocol_version(17);
    command(*c, cmd);
    EXPECT_EQ(drain(*c).at(0).command.type(), Cmd::CONNECTED);
    return c;
  }
  void feed(Connection& c, const std::string& bytes) {
    c.on_bytes({reinterpret_cast<const std::uint8_t*>(bytes.data()), bytes.size()});
    executor.run_all();
  }
  void command(Connection& c, const Cmd& cmd) {
    push(c, cmd);
    executor.run_all();
  }
  // The command is handled, but nothing posted runs yet (the store's completions wait).
  void push(Connection& c, const Cmd& cmd) {
    std::string out;
    encode_command(cmd, out);
    c.on_bytes({reinterpret_cast<const std::uint8_t*>(out.data()), out.size()});
  }
  std::vector<Received> drain(Connection& c) {
    executor.run_all();
    return test::decode_output(c);
  }

  storage::StorePersistence persistence;
  storage::StoreMetadataStore metadata;
  service::EmbeddedService service;
  Result<void, Error> restored;
  PulsarServer server;
  ManualExecutor& executor;
  test::FakeStream stream;
};

Cmd partitioned_metadata(const std::string& topic, std::uint64_t request_id) {
  Cmd cmd;
  cmd.set_type(Cmd::PARTITIONED_METADATA);
  cmd.mutable_partitionmetadata()->set_topic(topic);
  cmd.mutable_partitionmetadata()->set_request_id(request_id);
  return cmd;
}

Cmd producer_cmd(std::uint64_t id, const std::string& name) {
  Cmd cmd;
  cmd.set_type(Cmd::PRODUCER);
  cmd.mutable_producer()->set_topic(kTopic);
  cmd.mutable_producer()->set_producer_id(id);
  cmd.mutable_producer()->set_request_id(300 + id);
  cmd.mutable_producer()->set_producer_name(name);
  return cmd;
}

// A SEND of one message, or of a batch of `batch` messages with sequence ids seq .. seq+batch-1.
std::string send_frame(std::uint64_t producer, std::uint64_t seq, const std::string& payload, int batch = 0) {
  return test::send_frame(producer, seq, payload, {.batch = batch, .highest_sequence_id = true});
}

class PulsarRestart : public ::testing::Test {
protected:
  ServerOptions options(std::uint32_t partitions) {
    ServerOptions o;
    o.service_url = "pulsar://127.0.0.1:6650";
    o.auto_create_partitioned = true;
    o.default_num_partitions = partitions;
    o.deduplication = true;
    return o;
  }
  std::unique_ptr<Process> start(std::uint32_t partitions = 3) {
    auto p = std::make_unique<Process>(store_, executor_, clock_, options(partitions));
    EXPECT_TRUE(p->restored.ok()) << p->restored.error().message;
    return p;
  }
  // The durable subscription "reader" (messages of a topic without subscriptions are not kept).
  void subscribe_reader(Process& p, Connection& c) {
    Cmd cmd;
    cmd.set_type(Cmd::SUBSCRIBE);
    auto* s = cmd.mutable_subscribe();
    s->set_topic(kTopic);
    s->set_subscription("reader");
    s->set_subtype(proto::CommandSubscribe::Exclusive);
    s->set_consumer_id(90);
    s->set_request_id(91);
    s->set_initialposition(proto::CommandSubscribe::Earliest);
    p.command(c, cmd);
  }
  // Every payload the reader has not acknowledged, from the start.
  std::vector<std::string> read_all(Process& p, Connection& c) {
    subscribe_reader(p, c);
    Cmd flow;
    flow.set_type(Cmd::FLOW);
    flow.mutable_flow()->set_consumer_id(90);
    flow.mutable_flow()->set_messagepermits(100);
    p.command(c, flow);
    std::vector<std::string> out;
    for (const auto& r : p.drain(c)) {
      if (r.command.type() != Cmd::MESSAGE) continue;
      if (!r.metadata.has_num_messages_in_batch()) {
        out.push_back(r.payload);
        continue;
      }
      // A batch is one entry: its messages, as a client unpacks them.
      std::vector<BatchMessage> batch;
      EXPECT_TRUE(parse_batch({reinterpret_cast<const std::uint8_t*>(r.payload.data()), r.payload.size()},
                              r.metadata.num_messages_in_batch(), batch)
                      .ok());
      for (const auto& m : batch) out.emplace_back(m.payload.begin(), m.payload.end());
    }
    return out;
  }

  storage::MemoryStore store_;
  ManualExecutor executor_;
  ManualClock clock_;
};

TEST_F(PulsarRestart, PartitionCountsSchemasAndSequenceIdsSurvive) {
  {
    auto p = start(3);
    auto c = p->open();
    subscribe_reader(*p, *c);
    p->drain(*c);
    p->command(*c, partitioned_metadata("persistent://public/default/parts", 1));
    Cmd schema;
    schema.set_type(Cmd::GET_OR_CREATE_SCHEMA);
    auto* q = schema.mutable_getorcreateschema();
    q->set_request_id(2);
    q->set_topic(kTopic);
    q->mutable_schema()->set_name("s");
    q->mutable_schema()->set_schema_data("{\"type\":\"record\"}");
    q->mutable_schema()->set_type(proto::Schema::Avro);
    auto* kv = q->mutable_schema()->add_properties();
    kv->set_key("k");
    kv->set_value("v");
    p->command(*c, schema);
    p->command(*c, producer_cmd(1, "dp"));
    // Sequence ids 0, then 1..3 as one batch (highest 3).
    p->feed(*c, send_frame(1, 0, "m") + send_frame(1, 1, "b", 3));
    const auto got = p->drain(*c);
    ASSERT_EQ(got.size(), 5u);
    EXPECT_EQ(got[0].command.partitionmetadataresponse().partitions(), 3u);
    EXPECT_FALSE(got[1].command.getorcreateschemaresponse().has_error_code());
    EXPECT_EQ(got[2].command.producer_success().last_sequence_id(), -1);
    EXPECT_EQ(got[3].command.type(), Cmd::SEND_RECEIPT);
    EXPECT_EQ(got[4].command.send_receipt().highest_sequence_id(), 3u);
  }
  // The next process has another default: the stored count wins, a new topic gets the new one.
  auto p = start(5);
  auto c = p->open();
  p->command(*c, partitioned_metadata("persistent://public/default/parts", 1));
  p->command(*c, partitioned_metadata("persistent://public/default/other", 2));
  Cmd get;
  get.set_type(Cmd::GET_SCHEMA);
  get.mutable_getschema()->set_request_id(3);
  get.mutable_getschema()->set_topic(kTopic);
  p->command(*c, get);
  p->command(*c, producer_cmd(1, "dp"));
  auto got = p->drain(*c);
  ASSERT_EQ(got.size(), 4u);
  EXPECT_EQ(got[0].command.partitionmetadataresponse().partitions(), 3u);
  EXPECT_EQ(got[1].command.partitionmetadataresponse().partitions(), 5u);
  const auto& schema = got[2].command.getschemaresponse();
  ASSERT_FALSE(schema.has_error_code()) << schema.error_message();
  EXPECT_EQ(schema.schema().name(), "s");
  EXPECT_EQ(schema.schema().type(), proto::Schema::Avro);
  EXPECT_EQ(schema.schema().schema_data(), "{\"type\":\"record\"}");
  ASSERT_EQ(schema.schema().properties_size(), 1);
  EXPECT_EQ(schema.schema().properties(0).value(), "v");
  EXPECT_EQ(got[3].command.producer_success().last_sequence_id(), 3);
  // The client resends what it had sent before the restart: receipts, nothing stored again.
  p->feed(*c, send_frame(1, 0, "m") + send_frame(1, 1, "b", 3) + send_frame(1, 4, "new"));
  got = p->drain(*c);
  ASSERT_EQ(got.size(), 3u);
  for (const auto& r : got) EXPECT_EQ(r.command.type(), Cmd::SEND_RECEIPT);
  EXPECT_EQ(got[2].command.send_receipt().sequence_id(), 4u);
  EXPECT_EQ(read_all(*p, *c), (std::vector<std::string>{"m", "b0", "b1", "b2", "new"}));
}

TEST_F(PulsarRestart, AFailedAppendDoesNotLeaveASequenceIdAheadOfTheLog) {
  {
    auto p = start();
    auto c = p->open();
    subscribe_reader(*p, *c);
    p->command(*c, producer_cmd(1, "dp"));
    p->command(*c, producer_cmd(2, "other"));
    p->feed(*c, send_frame(1, 0, "m0"));
    p->drain(*c);
    // Sequence id 1 fails to be stored; 2, queued behind it, reaches the store but is failed
    // with it (and truncated with the next append) so the log stays contiguous.
    store_.fail_next_writes(1);
    p->feed(*c, send_frame(1, 1, "m1") + send_frame(1, 2, "m2"));
    auto got = p->drain(*c);
    ASSERT_EQ(got.size(), 2u);
    EXPECT_EQ(got[0].command.type(), Cmd::SEND_ERROR);
    EXPECT_EQ(got[1].command.type(), Cmd::SEND_ERROR);
    // Another producer's append carries the truncate.
    p->feed(*c, send_frame(2, 0, "o0"));
    got = p->drain(*c);
    ASSERT_EQ(got.size(), 1u);
    EXPECT_EQ(got[0].command.type(), Cmd::SEND_RECEIPT);
  }
  auto p = start();
  auto c = p->open();
  p->command(*c, producer_cmd(1, "dp"));
  auto got = p->drain(*c);
  ASSERT_EQ(got.size(), 1u);
  // Only sequence id 0 is stored: the client's resend of 1 and 2 is stored, not dropped.
  EXPECT_EQ(got[0].command.producer_success().last_sequence_id(), 0);
  p->feed(*c, send_frame(1, 1, "m1") + send_frame(1, 2, "m2"));
  got = p->drain(*c);
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(read_all(*p, *c), (std::vector<std::string>{"m0", "o0", "m1", "m2"}));
}

// Nobody is told of a partition count or a schema before it is stored: a request that finds one
// still being written waits for that write, and learns of its failure.
TEST_F(PulsarRestart, NothingIsAnsweredBeforeItIsStored) {
  const std::string base = "persistent://public/default/parts";
  {
    auto p = start(3);
    auto a = p->open();
    auto b = p->open();
    store_.fail_next_writes(1);
    p->push(*a, partitioned_metadata(base, 1));
    p->push(*b, partitioned_metadata(base, 2));
    Cmd schema;
    schema.set_type(Cmd::GET_OR_CREATE_SCHEMA);
    schema.mutable_getorcreateschema()->set_request_id(3);
    schema.mutable_getorcreateschema()->set_topic(kTopic);
    schema.mutable_getorcreateschema()->mutable_schema()->set_name("s");
    schema.mutable_getorcreateschema()->mutable_schema()->set_schema_data("{}");
    schema.mutable_getorcreateschema()->mutable_schema()->set_type(proto::Schema::Json);
    Cmd get;
    get.set_type(Cmd::GET_SCHEMA);
    get.mutable_getschema()->set_request_id(4);
    get.mutable_getschema()->set_topic(kTopic);
    p->push(*a, schema);  // stored
    p->push(*b, get);     // waits for it
    auto got_a = p->drain(*a);
    auto got_b = p->drain(*b);
    ASSERT_EQ(got_a.size(), 2u);
    ASSERT_EQ(got_b.size(), 2u);
    for (const auto* r : {&got_a[0], &got_b[0]}) {
      EXPECT_EQ(r->command.partitionmetadataresponse().response(), proto::CommandPartitionedTopicMetadataResponse::Failed);
      EXPECT_EQ(r->command.partitionmetadataresponse().error(), proto::PersistenceError);
    }
    EXPECT_FALSE(got_a[1].command.getorcreateschemaresponse().has_error_code());
    EXPECT_EQ(got_b[1].command.getschemaresponse().schema().schema_data(), "{}");
    // The failed creation left nothing behind: the next request creates the topic.
    p->command(*b, partitioned_metadata(base, 5));
    got_b = p->drain(*b);
    ASSERT_EQ(got_b.size(), 1u);
    EXPECT_EQ(got_b[0].command.partitionmetadataresponse().partitions(), 3u);
    // A schema whose write fails is not shown to anyone.
    store_.fail_next_writes(1);
    schema.mutable_getorcreateschema()->set_topic("persistent://public/default/other");
    get.mutable_getschema()->set_topic("persistent://public/default/other");
    p->push(*a, schema);
    p->push(*b, get);
    got_a = p->drain(*a);
    got_b = p->drain(*b);
    ASSERT_EQ(got_a.size(), 1u);
    ASSERT_EQ(got_b.size(), 1u);
    EXPECT_EQ(got_a[0].command.getorcreateschemaresponse().error_code(), proto::PersistenceError);
    EXPECT_EQ(got_b[0].command.getschemaresponse().error_code(), proto::TopicNotFound);
  }
  auto p = start(5);
  auto c = p->open();
  p->command(*c, partitioned_metadata(base, 1));
  EXPECT_EQ(p->drain(*c).at(0).command.partitionmetadataresponse().partitions(), 3u);
}

}  // namespace
}  // namespace mop::pulsar::server
