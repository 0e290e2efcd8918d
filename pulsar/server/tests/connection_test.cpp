// Drives Connection with encoded frames, over a real EmbeddedService, without a socket.
#include "pulsar/server/connection.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <limits>

#include "auth/key_source.hpp"
#include "auth/tls_provider.hpp"
#include "auth/token.hpp"
#include "pulsar/codec/batch.hpp"
#include "pulsar/server/credentials_authentication.hpp"
#include "pulsar/server/tests/support.hpp"
#include "service/embedded_service.hpp"
#include "storage/memory_store.hpp"
#include "storage/store_state.hpp"

namespace mop::pulsar::server {
namespace {

using Cmd = proto::BaseCommand;
using test::Received;

class ConnectionTest : public ::testing::Test {
protected:
  ConnectionTest() : service_(executor_, clock_), metadata_(state_, executor_), server_(service_, metadata_, clock_, options()) {}
  static ServerOptions options() {
    ServerOptions o;
    o.service_url = "pulsar://127.0.0.1:6650";
    o.keep_alive = std::chrono::seconds(30);
    return o;
  }
  std::unique_ptr<Connection> open() { return std::make_unique<Connection>(server_, stream_); }
  void feed(Connection& c, const std::string& bytes) {
    c.on_bytes({reinterpret_cast<const std::uint8_t*>(bytes.data()), bytes.size()});
    executor_.run_all();
  }
  void command(Connection& c, const Cmd& cmd) {
    std::string out;
    encode_command(cmd, out);
    feed(c, out);
  }
  // Everything the connection wrote, decoded.
  std::vector<Received> drain(Connection& c) {
    executor_.run_all();
    return test::decode_output(c);
  }
  void connect(Connection& c, int version = 17) {
    Cmd cmd;
    cmd.set_type(Cmd::CONNECT);
    cmd.mutable_connect()->set_client_version("test");
    cmd.mutable_connect()->set_protocol_version(version);
    command(c, cmd);
    auto got = drain(c);
    ASSERT_EQ(got.size(), 1u);
    ASSERT_EQ(got[0].command.type(), Cmd::CONNECTED);
  }
  void producer(Connection& c, std::uint64_t id, const std::string& topic) {
    Cmd cmd;
    cmd.set_type(Cmd::PRODUCER);
    cmd.mutable_producer()->set_topic(topic);
    cmd.mutable_producer()->set_producer_id(id);
    cmd.mutable_producer()->set_request_id(100 + id);
    command(c, cmd);
  }
  // A SEND carrying the property k=v; with `batch`, a batch of that many messages.
  std::string send_frame(std::uint64_t producer, std::uint64_t seq, const std::string& payload,
                         std::optional<int> batch = std::nullopt) {
    return test::send_frame(producer, seq, payload, {.batch = batch.value_or(0), .properties = {{"k", "v"}}});
  }
  void subscribe(Connection& c, std::uint64_t id, const std::string& topic, const std::string& sub,
                 proto::CommandSubscribe::SubType type = proto::CommandSubscribe::Shared) {
    Cmd cmd;
    cmd.set_type(Cmd::SUBSCRIBE);
    auto* s = cmd.mutable_subscribe();
    s->set_topic(topic);
    s->set_subscription(sub);
    s->set_subtype(type);
    s->set_consumer_id(id);
    s->set_request_id(200 + id);
    s->set_initialposition(proto::CommandSubscribe::Earliest);
    command(c, cmd);
  }
  void flow(Connection& c, std::uint64_t id, std::uint32_t permits) {
    Cmd cmd;
    cmd.set_type(Cmd::FLOW);
    cmd.mutable_flow()->set_consumer_id(id);
    cmd.mutable_flow()->set_messagepermits(permits);
    command(c, cmd);
  }

  ManualExecutor executor_;
  ManualClock clock_;
  service::EmbeddedService service_;
  // Partition counts and schemas: the standalone store in memory.
  storage::MemoryStore state_;
  storage::StoreMetadataStore metadata_;
  PulsarServer server_;
  test::FakeStream stream_;
};

const std::string kTopic = "persistent://public/default/t";

TEST_F(ConnectionTest, ConnectAnswersVersionAndLimits) {
  auto c = open();
  Cmd cmd;
  cmd.set_type(Cmd::CONNECT);
  cmd.mutable_connect()->set_client_version("test");
  cmd.mutable_connect()->set_protocol_version(21);
  command(*c, cmd);
  auto got = drain(*c);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].command.connected().server_version(), "mop/0.1.0");
  EXPECT_EQ(got[0].command.connected().protocol_version(), 20);
  EXPECT_EQ(got[0].command.connected().max_message_size(), 5 * 1024 * 1024);
}

TEST_F(ConnectionTest, CommandBeforeConnectCloses) {
  auto c = open();
  Cmd cmd;
  cmd.set_type(Cmd::PING);
  cmd.mutable_ping();
  command(*c, cmd);
  EXPECT_TRUE(c->closed());
  EXPECT_TRUE(stream_.closed);
}

TEST_F(ConnectionTest, PingPongAndKeepAlive) {
  auto c = open();
  connect(*c);
  Cmd ping;
  ping.set_type(Cmd::PING);
  ping.mutable_ping();
  command(*c, ping);
  auto got = drain(*c);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].command.type(), Cmd::PONG);
  clock_.advance(std::chrono::seconds(30));
  c->on_tick();
  got = drain(*c);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].command.type(), Cmd::PING);
  EXPECT_FALSE(c->closed());
  clock_.advance(std::chrono::seconds(30));
  c->on_tick();
  EXPECT_TRUE(c->closed());
}

// A peer trickling a CONNECT (or authenticating forever) is closed one keep-alive interval after
// it connected, as in Pulsar, although it was never silent for long.
TEST_F(ConnectionTest, HandshakeNotDoneWithinTheKeepAliveIntervalCloses) {
  auto c = open();
  Cmd cmd;
  cmd.set_type(Cmd::CONNECT);
  cmd.mutable_connect()->set_client_version("test");
  std::string frame;
  encode_command(cmd, frame);
  ASSERT_GT(frame.size(), 4u);
  for (int s = 0; s < 3; ++s) {
    feed(*c, frame.substr(s, 1));
    clock_.advance(std::chrono::seconds(9));
    c->on_tick();
    EXPECT_FALSE(c->closed()) << "at " << (s + 1) * 9 << " s";
  }
  feed(*c, frame.substr(3, 1));
  clock_.advance(std::chrono::seconds(3));  // 30 s after the connection opened, 3 s after a byte
  c->on_tick();
  EXPECT_TRUE(c->closed());
  EXPECT_TRUE(stream_.closed);
  EXPECT_TRUE(drain(*c).empty()) << "nothing to say to a peer that never connected";
}

TEST_F(ConnectionTest, LookupAndPartitionedMetadata) {
  auto c = open();
  connect(*c);
  Cmd pm;
  pm.set_type(Cmd::PARTITIONED_METADATA);
  pm.mutable_partitionmetadata()->set_topic(kTopic);
  pm.mutable_partitionmetadata()->set_request_id(1);
  command(*c, pm);
  Cmd lookup;
  lookup.set_type(Cmd::LOOKUP);
  lookup.mutable_lookuptopic()->set_topic("t");
  lookup.mutable_lookuptopic()->set_request_id(2);
  command(*c, lookup);
  auto got = drain(*c);
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(got[0].command.partitionmetadataresponse().partitions(), 0u);
  EXPECT_EQ(got[0].command.partitionmetadataresponse().request_id(), 1u);
  const auto& r = got[1].command.lookuptopicresponse();
  EXPECT_EQ(r.request_id(), 2u);
  EXPECT_EQ(r.response(), proto::CommandLookupTopicResponse::Connect);
  EXPECT_TRUE(r.authoritative());
  EXPECT_EQ(r.brokerserviceurl(), "pulsar://127.0.0.1:6650");
}

TEST_F(ConnectionTest, LookupOfMissingTopicFailsWithoutAutoCreation) {
  server_.options().allow_auto_topic_creation = false;
  auto c = open();
  connect(*c);
  Cmd lookup;
  lookup.set_type(Cmd::LOOKUP);
  lookup.mutable_lookuptopic()->set_topic(kTopic);
  lookup.mutable_lookuptopic()->set_request_id(2);
  command(*c, lookup);
  producer(*c, 1, kTopic);
  auto got = drain(*c);
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(got[0].command.lookuptopicresponse().error(), proto::TopicNotFound);
  EXPECT_EQ(got[1].command.error().error(), proto::TopicNotFound);
}

TEST_F(ConnectionTest, ProduceAndConsumeWithReceiptsInOrder) {
  auto c = open();
  connect(*c);
  subscribe(*c, 7, kTopic, "sub");
  producer(*c, 1, kTopic);
  auto got = drain(*c);
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(got[0].command.type(), Cmd::SUCCESS);
  EXPECT_EQ(got[1].command.type(), Cmd::PRODUCER_SUCCESS);
  EXPECT_EQ(got[1].command.producer_success().producer_name(), "mop-producer-0");
  EXPECT_EQ(got[1].command.producer_success().last_sequence_id(), -1);
  feed(*c, send_frame(1, 0, "hello") + send_frame(1, 1, "b", 3));
  got = drain(*c);
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(got[0].command.send_receipt().sequence_id(), 0u);
  EXPECT_EQ(got[0].command.send_receipt().message_id().entryid(), 0u);
  EXPECT_EQ(got[1].command.send_receipt().sequence_id(), 1u);
  EXPECT_EQ(got[1].command.send_receipt().message_id().entryid(), 1u);  // first of the batch
  flow(*c, 7, 10);
  got = drain(*c);
  ASSERT_EQ(got.size(), 2u);  // the batch is one entry, delivered as it was sent
  EXPECT_EQ(got[0].command.type(), Cmd::MESSAGE);
  EXPECT_EQ(got[0].payload, "hello");
  EXPECT_FALSE(got[0].metadata.has_num_messages_in_batch());
  EXPECT_EQ(got[0].metadata.producer_name(), "p");
  EXPECT_EQ(got[0].metadata.publish_time(), 1234u);
  ASSERT_EQ(got[0].metadata.properties_size(), 1);
  EXPECT_EQ(got[0].metadata.properties(0).key(), "k");
  EXPECT_EQ(got[1].command.message().message_id().entryid(), 1u);
  EXPECT_FALSE(got[1].command.message().message_id().has_batch_index());
  EXPECT_EQ(got[1].command.message().ack_set_size(), 0);
  ASSERT_EQ(got[1].metadata.num_messages_in_batch(), 3);
  std::vector<BatchMessage> inner;
  ASSERT_TRUE(parse_batch({reinterpret_cast<const std::uint8_t*>(got[1].payload.data()), got[1].payload.size()}, 3, inner).ok());
  ASSERT_EQ(inner.size(), 3u);
  EXPECT_EQ(std::string(inner[0].payload.begin(), inner[0].payload.end()), "b0");
  EXPECT_EQ(std::string(inner[2].payload.begin(), inner[2].payload.end()), "b2");
  const auto batch_id = got[1].command.message().message_id();

  // Cumulative ack of index 1 of the batch (ack_set: index 2 still pending), with a request id:
  // ACK_RESPONSE, and the redelivery is the batch with only index 2 left to deliver.
  Cmd ack;
  ack.set_type(Cmd::ACK);
  ack.mutable_ack()->set_consumer_id(7);
  ack.mutable_ack()->set_ack_type(proto::CommandAck::Cumulative);
  auto* acked = ack.mutable_ack()->add_message_id();
  *acked = batch_id;
  acked->set_batch_index(1);
  acked->add_ack_set(0b100);
  acked->set_batch_size(3);
  ack.mutable_ack()->set_request_id(55);
  command(*c, ack);
  Cmd redeliver;
  redeliver.set_type(Cmd::REDELIVER_UNACKNOWLEDGED_MESSAGES);
  redeliver.mutable_redeliverunacknowledgedmessages()->set_consumer_id(7);
  command(*c, redeliver);
  got = drain(*c);
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(got[0].command.type(), Cmd::ACK_RESPONSE);
  EXPECT_EQ(got[0].command.ackresponse().request_id(), 55u);
  EXPECT_EQ(got[1].command.type(), Cmd::MESSAGE);
  EXPECT_EQ(got[1].command.message().message_id().entryid(), 1u);
  EXPECT_EQ(got[1].metadata.num_messages_in_batch(), 3);
  ASSERT_EQ(got[1].command.message().ack_set_size(), 1);
  EXPECT_EQ(got[1].command.message().ack_set(0), 0b100);
  EXPECT_EQ(got[1].command.message().redelivery_count(), 1u);
}

TEST_F(ConnectionTest, BadChecksumIsASendErrorAndTheConnectionStays) {
  auto c = open();
  connect(*c);
  producer(*c, 1, kTopic);
  drain(*c);
  std::string frame = send_frame(1, 9, "payload");
  frame.back() ^= 0x55;
  feed(*c, frame);
  auto got = drain(*c);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].command.type(), Cmd::SEND_ERROR);
  EXPECT_EQ(got[0].command.send_error().error(), proto::ChecksumError);
  EXPECT_EQ(got[0].command.send_error().sequence_id(), 9u);
  EXPECT_FALSE(c->closed());
}

TEST_F(ConnectionTest, SecondExclusiveConsumerIsBusy) {
  auto c = open();
  connect(*c);
  subscribe(*c, 1, kTopic, "x", proto::CommandSubscribe::Exclusive);
  subscribe(*c, 2, kTopic, "x", proto::CommandSubscribe::Exclusive);
  auto got = drain(*c);
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(got[0].command.type(), Cmd::SUCCESS);
  EXPECT_EQ(got[1].command.error().error(), proto::ConsumerBusy);
  EXPECT_EQ(c->consumer_count(), 1u);
}

TEST_F(ConnectionTest, UnsupportedCommandCloses) {
  auto c = open();
  connect(*c);
  Cmd cmd;
  cmd.set_type(Cmd::CONSUMER_STATS);
  command(*c, cmd);
  EXPECT_TRUE(c->closed());
}

TEST_F(ConnectionTest, SeekClosesTheConsumersThenRedeliversFromTheNewPosition) {
  auto c = open();
  connect(*c);
  subscribe(*c, 3, kTopic, "seek", proto::CommandSubscribe::Exclusive);
  producer(*c, 1, kTopic);
  flow(*c, 3, 10);
  feed(*c, send_frame(1, 0, "a") + send_frame(1, 1, "b"));
  auto got = drain(*c);
  ASSERT_EQ(got.size(), 6u);  // SUCCESS, PRODUCER_SUCCESS, 2 receipts, 2 messages
  Cmd seek;
  seek.set_type(Cmd::SEEK);
  seek.mutable_seek()->set_consumer_id(3);
  seek.mutable_seek()->set_request_id(9);
  seek.mutable_seek()->mutable_message_id()->set_ledgerid(static_cast<std::uint64_t>(-1));
  seek.mutable_seek()->mutable_message_id()->set_entryid(static_cast<std::uint64_t>(-1));
  command(*c, seek);
  // As from Pulsar's broker: the consumer is closed, the seek succeeds, and nothing is delivered
  // until the client subscribes again (with fresh permits).
  got = drain(*c);
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(got[0].command.type(), Cmd::CLOSE_CONSUMER);
  EXPECT_EQ(got[0].command.close_consumer().consumer_id(), 3u);
  EXPECT_EQ(got[1].command.type(), Cmd::SUCCESS);
  EXPECT_EQ(got[1].command.success().request_id(), 9u);
  subscribe(*c, 3, kTopic, "seek", proto::CommandSubscribe::Exclusive);
  flow(*c, 3, 10);
  got = drain(*c);
  ASSERT_EQ(got.size(), 3u);
  EXPECT_EQ(got[0].command.type(), Cmd::SUCCESS);
  EXPECT_EQ(got[1].payload, "a");
  EXPECT_EQ(got[2].payload, "b");
}

// A reader is a non-durable Exclusive subscription with a start message id: (-1, -1) for
// earliest, (INT64_MAX, INT64_MAX) for latest, or a stored message's id, from which it reads on,
// the message itself included (the client drops it unless it asked for an inclusive start). What
// the official C++/Python client sends: initialPosition stays Latest. (A durable subscription holds
// the entries: without one they are trimmed as soon as they are stored.)
TEST_F(ConnectionTest, ReaderStartsAtItsStartMessageId) {
  auto c = open();
  connect(*c);
  subscribe(*c, 9, kTopic, "hold");
  producer(*c, 1, kTopic);
  feed(*c, send_frame(1, 0, "a") + send_frame(1, 1, "b") + send_frame(1, 2, "c"));
  ASSERT_EQ(drain(*c).size(), 5u);  // SUCCESS, PRODUCER_SUCCESS, 3 receipts
  auto reader = [&](std::uint64_t id, std::uint64_t ledger, std::uint64_t entry) {
    Cmd cmd;
    cmd.set_type(Cmd::SUBSCRIBE);
    auto* s = cmd.mutable_subscribe();
    s->set_topic(kTopic);
    s->set_subscription("reader-" + std::to_string(id));
    s->set_subtype(proto::CommandSubscribe::Exclusive);
    s->set_consumer_id(id);
    s->set_request_id(300 + id);
    s->set_durable(false);
    s->set_initialposition(proto::CommandSubscribe::Latest);
    s->mutable_start_message_id()->set_ledgerid(ledger);
    s->mutable_start_message_id()->set_entryid(entry);
    command(*c, cmd);
    flow(*c, id, 10);
    std::vector<std::string> payloads;
    for (const auto& r : drain(*c)) {
      if (r.command.type() == Cmd::MESSAGE) payloads.push_back(r.payload);
    }
    return payloads;
  };
  const auto max = std::numeric_limits<std::uint64_t>::max();
  const auto end = static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max());
  EXPECT_EQ(reader(1, max, max), (std::vector<std::string>{"a", "b", "c"}));
  EXPECT_EQ(reader(2, end, end), std::vector<std::string>{});
  // the ledger of the stored entries, from the receipts' ids: the reader of entry 1 gets b, c
  Cmd last;
  last.set_type(Cmd::GET_LAST_MESSAGE_ID);
  last.mutable_getlastmessageid()->set_consumer_id(1);
  last.mutable_getlastmessageid()->set_request_id(77);
  command(*c, last);
  const auto got = drain(*c);
  ASSERT_EQ(got.size(), 1u);
  const auto ledger = got[0].command.getlastmessageidresponse().last_message_id().ledgerid();
  EXPECT_EQ(got[0].command.getlastmessageidresponse().last_message_id().entryid(), 2u);
  EXPECT_EQ(reader(3, ledger, 1), (std::vector<std::string>{"b", "c"}));
}

TEST_F(ConnectionTest, SchemaIsStoredPerTopic) {
  auto c = open();
  connect(*c);
  Cmd create;
  create.set_type(Cmd::GET_OR_CREATE_SCHEMA);
  auto* q = create.mutable_getorcreateschema();
  q->set_request_id(1);
  q->set_topic(kTopic);
  q->mutable_schema()->set_name("s");
  q->mutable_schema()->set_schema_data("{}");
  q->mutable_schema()->set_type(proto::Schema::Json);
  command(*c, create);
  Cmd get;
  get.set_type(Cmd::GET_SCHEMA);
  get.mutable_getschema()->set_request_id(2);
  get.mutable_getschema()->set_topic(kTopic);
  command(*c, get);
  auto got = drain(*c);
  ASSERT_EQ(got.size(), 2u);
  EXPECT_FALSE(got[0].command.getorcreateschemaresponse().has_error_code());
  EXPECT_EQ(got[1].command.getschemaresponse().schema().schema_data(), "{}");
}

// Schemas are not kept in memory: each request reads its topic's from the store, so a server
// that has seen many topics' schemas holds none of them, and one written by another server over
// the same store (another process: no restore) is answered. Requests for one topic while its
// read or write is under way share it.
TEST_F(ConnectionTest, SchemasAreReadFromTheStoreAndNotKeptInMemory) {
  auto c = open();
  connect(*c);
  // Fed without running the executor: the store's answers wait until drain().
  auto push = [&](const Cmd& cmd) {
    std::string out;
    encode_command(cmd, out);
    c->on_bytes({reinterpret_cast<const std::uint8_t*>(out.data()), out.size()});
  };
  auto create = [&](std::uint64_t request_id, const std::string& topic, const std::string& data) {
    Cmd cmd;
    cmd.set_type(Cmd::GET_OR_CREATE_SCHEMA);
    auto* q = cmd.mutable_getorcreateschema();
    q->set_request_id(request_id);
    q->set_topic(topic);
    q->mutable_schema()->set_name("s");
    q->mutable_schema()->set_schema_data(data);
    q->mutable_schema()->set_type(proto::Schema::Json);
    push(cmd);
  };
  auto get = [&](std::uint64_t request_id, const std::string& topic) {
    Cmd cmd;
    cmd.set_type(Cmd::GET_SCHEMA);
    cmd.mutable_getschema()->set_request_id(request_id);
    cmd.mutable_getschema()->set_topic(topic);
    push(cmd);
  };
  constexpr int kTopics = 100;
  for (int i = 0; i < kTopics; ++i) create(i + 1, kTopic + "-" + std::to_string(i), "{\"n\":" + std::to_string(i) + "}");
  // Two more for one topic while the first is under way: one GET_SCHEMA, one with another schema.
  get(1000, kTopic + "-0");
  create(1001, kTopic + "-0", "{\"other\":1}");
  EXPECT_EQ(server_.schemas().pending(), static_cast<std::size_t>(kTopics));
  auto got = drain(*c);
  ASSERT_EQ(got.size(), static_cast<std::size_t>(kTopics + 2));
  for (const auto& f : got) {
    if (f.command.type() == Cmd::GET_OR_CREATE_SCHEMA_RESPONSE) {
      EXPECT_FALSE(f.command.getorcreateschemaresponse().has_error_code());
    } else {
      ASSERT_EQ(f.command.type(), Cmd::GET_SCHEMA_RESPONSE);
      EXPECT_EQ(f.command.getschemaresponse().schema().schema_data(), "{\"n\":0}");  // the first one stays
    }
  }
  EXPECT_EQ(server_.schemas().pending(), 0u);
  ASSERT_EQ(state_.schemas()->size(), static_cast<std::size_t>(kTopics));
  EXPECT_EQ(state_.schema(kTopic + "-0")->value().data, "{\"n\":0}");
  // Read back from the store, also one that only the store had (written there by another server).
  service::SchemaRecord elsewhere{kTopic + "-elsewhere", 0, static_cast<std::uint32_t>(proto::Schema::Avro), "e", "{}", {}};
  bool stored = false;
  metadata_.put_schema(elsewhere, [&](Result<void, Error> r) { stored = r.ok(); });
  executor_.run_all();
  ASSERT_TRUE(stored);
  get(2000, kTopic + "-99");
  get(2001, kTopic + "-elsewhere");
  get(2002, kTopic + "-none");
  got = drain(*c);
  ASSERT_EQ(got.size(), 3u);
  EXPECT_EQ(got[0].command.getschemaresponse().schema().schema_data(), "{\"n\":99}");
  EXPECT_EQ(got[1].command.getschemaresponse().schema().type(), proto::Schema::Avro);
  EXPECT_EQ(got[2].command.getschemaresponse().error_code(), proto::TopicNotFound);
  EXPECT_EQ(server_.schemas().pending(), 0u);
}

// Requests whose answers wait for the store are counted: once kMaxWaitingRequests wait, the
// connection holds its input (the transport stops reading) until one is answered.
TEST_F(ConnectionTest, InputIsHeldWhileTooManyRequestsWaitForTheStore) {
  auto c = open();
  connect(*c);
  producer(*c, 1, kTopic);
  ASSERT_EQ(drain(*c).size(), 1u);
  // Fed without running the executor: the store's completions (and so the answers) wait.
  auto bytes = [&](const std::string& s) {
    c->on_bytes({reinterpret_cast<const std::uint8_t*>(s.data()), s.size()});
  };
  const auto half = Connection::kMaxWaitingRequests / 2;
  for (std::size_t i = 0; i < half; ++i) {
    Cmd create;
    create.set_type(Cmd::GET_OR_CREATE_SCHEMA);
    auto* q = create.mutable_getorcreateschema();
    q->set_request_id(i + 1);
    q->set_topic(kTopic + "-" + std::to_string(i));
    q->mutable_schema()->set_name("s");
    q->mutable_schema()->set_schema_data("{}");
    q->mutable_schema()->set_type(proto::Schema::Json);
    std::string out;
    encode_command(create, out);
    bytes(out);
  }
  for (std::size_t i = 0; i + 1 < Connection::kMaxWaitingRequests - half; ++i) bytes(send_frame(1, i, "m"));
  EXPECT_FALSE(c->input_held());
  bytes(send_frame(1, Connection::kMaxWaitingRequests, "m"));
  EXPECT_TRUE(c->input_held());
  EXPECT_EQ(stream_.released, 0);
  // The store answers: every request gets its answer, and reading goes on (told once).
  const auto got = drain(*c);
  EXPECT_EQ(got.size(), Connection::kMaxWaitingRequests);
  EXPECT_FALSE(c->input_held());
  EXPECT_EQ(stream_.released, 1);
}

// Helpers for the acknowledgement tests.
Cmd ack_cmd(std::uint64_t consumer, const proto::MessageIdData& id, std::optional<std::uint64_t> request_id,
            std::vector<std::int64_t> ack_set = {}, std::optional<int> batch_size = std::nullopt) {
  Cmd cmd;
  cmd.set_type(Cmd::ACK);
  cmd.mutable_ack()->set_consumer_id(consumer);
  cmd.mutable_ack()->set_ack_type(proto::CommandAck::Individual);
  auto* m = cmd.mutable_ack()->add_message_id();
  *m = id;
  for (auto w : ack_set) m->add_ack_set(w);
  if (batch_size) m->set_batch_size(*batch_size);
  if (request_id) cmd.mutable_ack()->set_request_id(*request_id);
  return cmd;
}

Cmd redeliver_cmd(std::uint64_t consumer, std::vector<proto::MessageIdData> ids = {}) {
  Cmd cmd;
  cmd.set_type(Cmd::REDELIVER_UNACKNOWLEDGED_MESSAGES);
  cmd.mutable_redeliverunacknowledgedmessages()->set_consumer_id(consumer);
  for (auto& id : ids) *cmd.mutable_redeliverunacknowledgedmessages()->add_message_ids() = id;
  return cmd;
}

TEST_F(ConnectionTest, NegativeAckRedeliversOnlyTheListedMessages) {
  auto c = open();
  connect(*c);
  subscribe(*c, 4, kTopic, "nack", proto::CommandSubscribe::Shared);
  producer(*c, 1, kTopic);
  flow(*c, 4, 10);
  feed(*c, send_frame(1, 0, "a") + send_frame(1, 1, "b") + send_frame(1, 2, "c"));
  auto got = drain(*c);
  ASSERT_EQ(got.size(), 8u);  // SUCCESS, PRODUCER_SUCCESS, 3 receipts, 3 messages
  const auto it = std::find_if(got.begin(), got.end(), [](const Received& r) { return r.payload == "b"; });
  ASSERT_NE(it, got.end());
  const auto b = it->command.message().message_id();
  // As clients send a negative ack: the one id, after their nack delay.
  command(*c, redeliver_cmd(4, {b}));
  got = drain(*c);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].payload, "b");
  EXPECT_EQ(got[0].command.message().message_id().entryid(), b.entryid());
  EXPECT_EQ(got[0].command.message().redelivery_count(), 1u);
  // Nacked again: the count goes on; a and c were never sent again.
  command(*c, redeliver_cmd(4, {b}));
  got = drain(*c);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].command.message().redelivery_count(), 2u);
}

TEST_F(ConnectionTest, AckSetAcknowledgesAnEntryOnlyWhenEveryIndexIs) {
  auto c = open();
  connect(*c);
  subscribe(*c, 5, kTopic, "acks", proto::CommandSubscribe::Shared);
  producer(*c, 1, kTopic);
  flow(*c, 5, 10);
  feed(*c, send_frame(1, 0, "x", 2));
  auto got = drain(*c);
  ASSERT_EQ(got.size(), 4u);
  ASSERT_EQ(got[3].metadata.num_messages_in_batch(), 2);
  auto id = got[3].command.message().message_id();
  id.set_batch_index(0);
  // Index 0 of 2 acknowledged (bit 1 still set): the entry is not acknowledged, and comes again
  // with index 1 only to deliver.
  command(*c, ack_cmd(5, id, 1, {0b10}, 2));
  command(*c, redeliver_cmd(5));
  got = drain(*c);
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(got[0].command.type(), Cmd::ACK_RESPONSE);
  EXPECT_FALSE(got[0].command.ackresponse().has_error());
  EXPECT_EQ(got[1].metadata.num_messages_in_batch(), 2);
  EXPECT_EQ(got[1].command.message().redelivery_count(), 1u);
  ASSERT_EQ(got[1].command.message().ack_set_size(), 1);
  EXPECT_EQ(got[1].command.message().ack_set(0), 0b10);
  // Index 1 acknowledged too (nothing left): acknowledged; a redelivery sends nothing.
  id.set_batch_index(1);
  command(*c, ack_cmd(5, id, std::nullopt, {0b01}, 2));
  command(*c, redeliver_cmd(5));
  got = drain(*c);
  EXPECT_TRUE(got.empty()) << got.size();  // and no ACK_RESPONSE without a request id
  // A new consumer of the subscription gets nothing either.
  auto c2 = open();
  connect(*c2);
  command(*c, [] { Cmd x; x.set_type(Cmd::CLOSE_CONSUMER); x.mutable_close_consumer()->set_consumer_id(5);
                   x.mutable_close_consumer()->set_request_id(9); return x; }());
  subscribe(*c2, 6, kTopic, "acks", proto::CommandSubscribe::Shared);
  flow(*c2, 6, 10);
  got = drain(*c2);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].command.type(), Cmd::SUCCESS);
}

// The ids of a batch agree everywhere: the receipt names the entry, the consumer gets the same
// entry, GET_LAST_MESSAGE_ID names its last index, and a SEEK into it delivers the batch with
// the indexes before the target acknowledged.
TEST_F(ConnectionTest, BatchIdsAgreeInReceiptDeliveryLastIdAndSeek) {
  auto c = open();
  connect(*c);
  subscribe(*c, 8, kTopic, "ids", proto::CommandSubscribe::Exclusive);
  producer(*c, 1, kTopic);
  feed(*c, send_frame(1, 0, "one") + send_frame(1, 1, "b", 4));
  auto got = drain(*c);
  ASSERT_EQ(got.size(), 4u);
  const auto receipt = got[3].command.send_receipt().message_id();
  EXPECT_EQ(receipt.entryid(), 1u);
  EXPECT_FALSE(receipt.has_batch_index());
  flow(*c, 8, 10);
  got = drain(*c);
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(got[1].command.message().message_id().ledgerid(), receipt.ledgerid());
  EXPECT_EQ(got[1].command.message().message_id().entryid(), receipt.entryid());

  Cmd last;
  last.set_type(Cmd::GET_LAST_MESSAGE_ID);
  last.mutable_getlastmessageid()->set_consumer_id(8);
  last.mutable_getlastmessageid()->set_request_id(3);
  command(*c, last);
  got = drain(*c);
  ASSERT_EQ(got.size(), 1u);
  const auto& l = got[0].command.getlastmessageidresponse().last_message_id();
  EXPECT_EQ(l.ledgerid(), receipt.ledgerid());
  EXPECT_EQ(l.entryid(), receipt.entryid());
  EXPECT_EQ(l.batch_index(), 3);

  Cmd seek;
  seek.set_type(Cmd::SEEK);
  seek.mutable_seek()->set_consumer_id(8);
  seek.mutable_seek()->set_request_id(4);
  *seek.mutable_seek()->mutable_message_id() = receipt;
  seek.mutable_seek()->mutable_message_id()->set_batch_index(2);
  command(*c, seek);
  got = drain(*c);
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(got[0].command.type(), Cmd::CLOSE_CONSUMER);
  EXPECT_EQ(got[1].command.type(), Cmd::SUCCESS);
  subscribe(*c, 8, kTopic, "ids", proto::CommandSubscribe::Exclusive);
  flow(*c, 8, 10);
  got = drain(*c);
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(got[0].command.type(), Cmd::SUCCESS);
  EXPECT_EQ(got[1].command.message().message_id().entryid(), receipt.entryid());
  ASSERT_EQ(got[1].command.message().ack_set_size(), 1);
  EXPECT_EQ(got[1].command.message().ack_set(0), 0b1100);  // indexes 2 and 3 to deliver
}

TEST_F(ConnectionTest, TransactionalAckIsRefusedAndAcknowledgesNothing) {
  auto c = open();
  connect(*c);
  subscribe(*c, 5, kTopic, "txn", proto::CommandSubscribe::Shared);
  producer(*c, 1, kTopic);
  flow(*c, 5, 10);
  feed(*c, send_frame(1, 0, "x"));
  auto got = drain(*c);
  ASSERT_EQ(got.size(), 4u);
  auto cmd = ack_cmd(5, got[3].command.message().message_id(), 3);
  cmd.mutable_ack()->set_txnid_most_bits(7);
  cmd.mutable_ack()->set_txnid_least_bits(8);
  command(*c, cmd);
  command(*c, redeliver_cmd(5));
  got = drain(*c);
  ASSERT_EQ(got.size(), 2u);
  const auto& r = got[0].command.ackresponse();
  EXPECT_EQ(r.request_id(), 3u);
  EXPECT_EQ(r.txnid_most_bits(), 7u);
  EXPECT_EQ(r.txnid_least_bits(), 8u);
  EXPECT_EQ(r.error(), proto::NotAllowedError);
  EXPECT_EQ(got[1].payload, "x");  // still unacknowledged
}

TEST_F(ConnectionTest, AckOfAnUnknownConsumerAnswersConsumerNotFound) {
  auto c = open();
  connect(*c);
  proto::MessageIdData id;
  id.set_ledgerid(1);
  id.set_entryid(0);
  command(*c, ack_cmd(77, id, 4));
  auto got = drain(*c);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].command.ackresponse().error(), proto::ConsumerNotFound);
}

TEST_F(ConnectionTest, PartitionedTopicsAreCreatedOnTheirMetadataLookup) {
  server_.options().auto_create_partitioned = true;
  server_.options().default_num_partitions = 3;
  auto c = open();
  connect(*c);
  auto metadata = [&](const std::string& topic) {
    static std::uint64_t request = 100;
    Cmd pm;
    pm.set_type(Cmd::PARTITIONED_METADATA);
    pm.mutable_partitionmetadata()->set_topic(topic);
    pm.mutable_partitionmetadata()->set_request_id(++request);
    command(*c, pm);
    auto got = drain(*c);
    EXPECT_EQ(got.size(), 1u);
    EXPECT_EQ(got[0].command.partitionmetadataresponse().response(),
              proto::CommandPartitionedTopicMetadataResponse::Success);
    return got[0].command.partitionmetadataresponse().partitions();
  };
  EXPECT_EQ(metadata("pt"), 3u);  // short name, created partitioned
  EXPECT_EQ(metadata("persistent://public/default/pt"), 3u);
  EXPECT_EQ(metadata("persistent://public/default/pt-partition-1"), 0u);  // a partition is a plain topic
  // A topic that already exists (an MQTT publish made it) stays non-partitioned.
  producer(*c, 1, "persistent://public/default/plain");
  feed(*c, send_frame(1, 0, "x"));
  drain(*c);
  EXPECT_EQ(metadata("persistent://public/default/plain"), 0u);
  // Without auto-creation the partitions of a known partitioned topic exist; others do not.
  server_.options().allow_auto_topic_creation = false;
  EXPECT_EQ(metadata("persistent://public/default/new"), 0u);
  EXPECT_EQ(metadata("persistent://public/default/pt"), 3u);
  auto lookup = [&](const std::string& topic) {
    Cmd l;
    l.set_type(Cmd::LOOKUP);
    l.mutable_lookuptopic()->set_topic(topic);
    l.mutable_lookuptopic()->set_request_id(9);
    command(*c, l);
    auto got = drain(*c);
    EXPECT_EQ(got.size(), 1u);
    return got[0].command.lookuptopicresponse().response();
  };
  EXPECT_EQ(lookup("persistent://public/default/pt-partition-2"), proto::CommandLookupTopicResponse::Connect);
  EXPECT_EQ(lookup("persistent://public/default/pt-partition-3"), proto::CommandLookupTopicResponse::Failed);
  // A partition is produced to and consumed from like any topic.
  producer(*c, 2, "persistent://public/default/pt-partition-2");
  subscribe(*c, 3, "persistent://public/default/pt-partition-2", "s");
  flow(*c, 3, 5);
  feed(*c, send_frame(2, 0, "in-partition"));
  auto got = drain(*c);
  ASSERT_EQ(got.size(), 4u);
  EXPECT_TRUE(std::any_of(got.begin(), got.end(), [](const Received& r) { return r.payload == "in-partition"; }));
}

TEST(PartitionOf, ParsesOnlyANumericSuffix) {
  const auto p = partition_of(*service::TopicName::parse("persistent://a/b/x-partition-12"));
  ASSERT_TRUE(p);
  EXPECT_EQ(p->first, "persistent://a/b/x");
  EXPECT_EQ(p->second, 12u);
  EXPECT_FALSE(partition_of(*service::TopicName::parse("persistent://a/b/x-partition-")));
  EXPECT_FALSE(partition_of(*service::TopicName::parse("persistent://a/b/x-partition-1a")));
  EXPECT_FALSE(partition_of(*service::TopicName::parse("persistent://a/b/x")));
}

Cmd producer_cmd(std::uint64_t id, const std::string& topic, proto::ProducerAccessMode mode,
                 const std::string& name = "") {
  Cmd cmd;
  cmd.set_type(Cmd::PRODUCER);
  cmd.mutable_producer()->set_topic(topic);
  cmd.mutable_producer()->set_producer_id(id);
  cmd.mutable_producer()->set_request_id(300 + id);
  cmd.mutable_producer()->set_producer_access_mode(mode);
  if (!name.empty()) cmd.mutable_producer()->set_producer_name(name);
  return cmd;
}

TEST_F(ConnectionTest, ProducerAccessModesAndUniqueNames) {
  auto a = open();
  auto b = open();
  connect(*a);
  connect(*b);
  command(*a, producer_cmd(1, kTopic, proto::Shared, "alpha"));
  ASSERT_EQ(drain(*a).at(0).command.type(), Cmd::PRODUCER_SUCCESS);
  // The name is taken on this topic; an exclusive producer cannot join a shared one.
  command(*b, producer_cmd(1, kTopic, proto::Shared, "alpha"));
  command(*b, producer_cmd(2, kTopic, proto::Exclusive));
  auto got = drain(*b);
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(got[0].command.error().error(), proto::ProducerBusy);
  EXPECT_EQ(got[1].command.error().error(), proto::ProducerFenced);
  // WaitForExclusive: queued, then ready once alpha closes.
  command(*b, producer_cmd(3, kTopic, proto::WaitForExclusive, "waiter"));
  got = drain(*b);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].command.producer_success().producer_ready(), false);
  feed(*b, send_frame(3, 0, "too early"));
  got = drain(*b);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].command.send_error().error(), proto::NotAllowedError);
  Cmd close;
  close.set_type(Cmd::CLOSE_PRODUCER);
  close.mutable_close_producer()->set_producer_id(1);
  close.mutable_close_producer()->set_request_id(50);
  command(*a, close);
  got = drain(*b);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].command.type(), Cmd::PRODUCER_SUCCESS);
  EXPECT_TRUE(got[0].command.producer_success().producer_ready());
  EXPECT_EQ(got[0].command.producer_success().request_id(), 303u);
  EXPECT_GT(got[0].command.producer_success().topic_epoch(), 0u);
  drain(*a);
  // A shared producer is refused while the exclusive one is there; fencing takes the topic.
  command(*a, producer_cmd(4, kTopic, proto::Shared));
  command(*a, producer_cmd(5, kTopic, proto::ExclusiveWithFencing, "fencer"));
  got = drain(*a);
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(got[0].command.error().error(), proto::ProducerBusy);
  EXPECT_EQ(got[1].command.type(), Cmd::PRODUCER_SUCCESS);
  got = drain(*b);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].command.type(), Cmd::CLOSE_PRODUCER);
  EXPECT_EQ(got[0].command.close_producer().producer_id(), 3u);
  EXPECT_EQ(b->producer_count(), 0u);
  // When the fencing producer's connection goes, a shared producer may come again.
  a.reset();
  command(*b, producer_cmd(6, kTopic, proto::Shared));
  EXPECT_EQ(drain(*b).at(0).command.type(), Cmd::PRODUCER_SUCCESS);
}

// The registry keeps a topic only while it has a producer: an exclusive grant (epoch above 0)
// used to keep its topic for the life of the process, so memory grew with every topic ever
// produced to exclusively. Closed, fenced, queued, dropped with the connection or unloaded by a
// topic's deletion: each way a producer goes leaves nothing behind once it was the last.
TEST_F(ConnectionTest, ProducerRegistryForgetsATopicWithItsLastProducer) {
  auto a = open();
  auto b = open();
  connect(*a);
  connect(*b);
  const auto topic = [](int i) { return "persistent://public/default/epoch-" + std::to_string(i); };
  // Exclusive, then closed by the client.
  command(*a, producer_cmd(1, topic(1), proto::Exclusive));
  ASSERT_EQ(drain(*a).at(0).command.type(), Cmd::PRODUCER_SUCCESS);
  EXPECT_EQ(server_.producers().topics(), 1u);
  Cmd close;
  close.set_type(Cmd::CLOSE_PRODUCER);
  close.mutable_close_producer()->set_producer_id(1);
  close.mutable_close_producer()->set_request_id(50);
  command(*a, close);
  drain(*a);
  EXPECT_EQ(server_.producers().topics(), 0u);
  // A waiting exclusive producer given the topic, then fenced, then its fencer's connection gone.
  command(*a, producer_cmd(2, topic(2), proto::Exclusive));
  command(*b, producer_cmd(3, topic(2), proto::WaitForExclusive));
  close.mutable_close_producer()->set_producer_id(2);
  command(*a, close);
  command(*a, producer_cmd(4, topic(2), proto::ExclusiveWithFencing));
  drain(*a);
  drain(*b);
  EXPECT_EQ(b->producer_count(), 0u);  // fenced
  EXPECT_EQ(server_.producers().topics(), 1u);
  a.reset();
  EXPECT_EQ(server_.producers().topics(), 0u);
  // Unloaded (what the admin API's topic deletion does first).
  command(*b, producer_cmd(5, topic(3), proto::Exclusive));
  ASSERT_EQ(drain(*b).at(0).command.type(), Cmd::PRODUCER_SUCCESS);
  server_.unload(*service::TopicName::parse(topic(3)));
  drain(*b);
  EXPECT_EQ(server_.producers().topics(), 0u);
  // A topic without a producer takes a new exclusive one as any free topic does.
  command(*b, producer_cmd(6, topic(1), proto::Exclusive));
  auto got = drain(*b);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].command.type(), Cmd::PRODUCER_SUCCESS);
  EXPECT_EQ(server_.producers().topics(), 1u);
}

TEST_F(ConnectionTest, DeduplicationAnswersAResendWithoutStoringIt) {
  server_.options().deduplication = true;
  auto c = open();
  connect(*c);
  subscribe(*c, 9, kTopic, "dedup");
  command(*c, producer_cmd(1, kTopic, proto::Shared, "dp"));
  feed(*c, send_frame(1, 0, "m0") + send_frame(1, 1, "m1"));
  auto got = drain(*c);
  ASSERT_EQ(got.size(), 4u);
  EXPECT_EQ(got[1].command.producer_success().last_sequence_id(), -1);
  ASSERT_EQ(got[3].command.send_receipt().sequence_id(), 1u);
  // The resend of sequence id 1 (a reconnecting client does this): a receipt naming no entry,
  // (-1, -1), as Apache Pulsar answers a duplicate; nothing stored.
  feed(*c, send_frame(1, 1, "m1 again"));
  got = drain(*c);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].command.send_receipt().sequence_id(), 1u);
  EXPECT_EQ(got[0].command.send_receipt().message_id().entryid(), static_cast<std::uint64_t>(-1));
  EXPECT_EQ(got[0].command.send_receipt().message_id().ledgerid(), static_cast<std::uint64_t>(-1));
  flow(*c, 9, 10);
  got = drain(*c);
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(got[0].payload, "m0");
  EXPECT_EQ(got[1].payload, "m1");
  // The same producer name later resumes after sequence id 1.
  Cmd close;
  close.set_type(Cmd::CLOSE_PRODUCER);
  close.mutable_close_producer()->set_producer_id(1);
  close.mutable_close_producer()->set_request_id(50);
  command(*c, close);
  command(*c, producer_cmd(2, kTopic, proto::Shared, "dp"));
  got = drain(*c);
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(got[1].command.producer_success().last_sequence_id(), 1);
  feed(*c, send_frame(2, 2, "m2"));
  got = drain(*c);
  ASSERT_EQ(got.size(), 2u);  // receipt and the message
}

// A namespace's deduplication policy (ServerOptions::namespace_deduplication) overrides the
// server's setting for its topics, both ways, at each SEND; nullopt leaves the server's.
TEST_F(ConnectionTest, NamespaceDeduplicationPolicyOverridesTheServerSetting) {
  std::optional<bool> policy = true;
  server_.options().deduplication = false;
  server_.options().namespace_deduplication = [&policy](const service::NamespaceName&) { return policy; };
  auto c = open();
  connect(*c);
  subscribe(*c, 9, kTopic, "dedup");
  command(*c, producer_cmd(1, kTopic, proto::Shared, "dp"));
  feed(*c, send_frame(1, 0, "m0"));
  auto got = drain(*c);
  ASSERT_EQ(got.size(), 3u);  // SUCCESS, PRODUCER_SUCCESS, the receipt
  feed(*c, send_frame(1, 0, "m0 again"));
  got = drain(*c);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].command.send_receipt().message_id().entryid(), static_cast<std::uint64_t>(-1));
  // The policy off with the server's setting on: a resend is stored again.
  server_.options().deduplication = true;
  policy = false;
  feed(*c, send_frame(1, 0, "m0 third"));
  got = drain(*c);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_NE(got[0].command.send_receipt().message_id().entryid(), static_cast<std::uint64_t>(-1));
  // Unset: the server's setting (on) decides.
  policy.reset();
  feed(*c, send_frame(1, 0, "m0 fourth"));
  got = drain(*c);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].command.send_receipt().message_id().entryid(), static_cast<std::uint64_t>(-1));
  flow(*c, 9, 10);
  got = drain(*c);
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(got[0].payload, "m0");
  EXPECT_EQ(got[1].payload, "m0 third");
}

// Batches with highest_sequence_id, as the Java client sends them: by Apache Pulsar's rule a batch
// whose first sequence id was stored is a duplicate whole, even when it goes on past it.
TEST_F(ConnectionTest, DeduplicationJudgesABatchByItsFirstSequenceId) {
  server_.options().deduplication = true;
  auto c = open();
  connect(*c);
  subscribe(*c, 9, kTopic, "dedup");
  command(*c, producer_cmd(1, kTopic, proto::Shared, "dp"));
  const test::SendOptions batch3{.batch = 3, .highest_sequence_id = true};
  feed(*c, test::send_frame(1, 0, "a", batch3));  // sequence ids 0..2, one entry
  auto got = drain(*c);
  ASSERT_EQ(got.size(), 3u);
  EXPECT_EQ(got[2].command.send_receipt().highest_sequence_id(), 2u);
  // The same batch again, then 1..3 (1 and 2 stored, 3 new): both duplicates, (-1, -1).
  feed(*c, test::send_frame(1, 0, "a", batch3) + test::send_frame(1, 1, "b", batch3));
  got = drain(*c);
  ASSERT_EQ(got.size(), 2u);
  for (const auto& r : got) {
    ASSERT_EQ(r.command.type(), Cmd::SEND_RECEIPT);
    EXPECT_EQ(r.command.send_receipt().message_id().ledgerid(), static_cast<std::uint64_t>(-1));
    EXPECT_EQ(r.command.send_receipt().message_id().entryid(), static_cast<std::uint64_t>(-1));
  }
  EXPECT_EQ(got[1].command.send_receipt().sequence_id(), 1u);
  // A batch starting after the highest stored id is stored.
  feed(*c, test::send_frame(1, 3, "c", batch3));
  got = drain(*c);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].command.send_receipt().message_id().entryid(), 1u);
  // The consumer gets the two stored batches, nothing else.
  flow(*c, 9, 100);
  got = drain(*c);
  ASSERT_EQ(got.size(), 2u);
  for (std::size_t i = 0; i < got.size(); ++i) {
    EXPECT_EQ(got[i].command.type(), Cmd::MESSAGE);
    EXPECT_EQ(got[i].command.message().message_id().entryid(), i);
    EXPECT_EQ(got[i].metadata.num_messages_in_batch(), 3);
  }
}

TEST_F(ConnectionTest, ADeletedSubscriptionClosesItsConsumers) {
  auto c = open();
  connect(*c);
  subscribe(*c, 1, kTopic, "mqtt-session", proto::CommandSubscribe::Shared);
  subscribe(*c, 2, kTopic, "other", proto::CommandSubscribe::Shared);
  drain(*c);
  // As MQTT's UNSUBSCRIBE of the subscription does, through the service.
  service_.unsubscribe(*service::TopicName::parse(kTopic), "mqtt-session");
  auto got = drain(*c);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].command.type(), Cmd::CLOSE_CONSUMER);
  EXPECT_EQ(got[0].command.close_consumer().consumer_id(), 1u);
  EXPECT_EQ(c->consumer_count(), 1u);
  // The client resubscribes, as Pulsar clients do after CLOSE_CONSUMER: a new subscription.
  subscribe(*c, 1, kTopic, "mqtt-session", proto::CommandSubscribe::Shared);
  got = drain(*c);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].command.type(), Cmd::SUCCESS);
  EXPECT_EQ(c->consumer_count(), 2u);
}

// Challenges once with "nonce" and accepts the answer "signed:nonce" from method "test".
class ChallengeOnce final : public AuthenticationProvider {
public:
  class S final : public Session {
  public:
    AuthOutcome on_connect(const std::string& method, const std::string&) override {
      if (method != "test") return AuthOutcome::reject("unknown method " + method);
      return AuthOutcome::challenge("nonce");
    }
    AuthOutcome on_response(const std::string&, const std::string& data) override {
      return data == "signed:nonce" ? AuthOutcome::accept() : AuthOutcome::reject("bad signature");
    }
  };
  std::unique_ptr<Session> new_session(const std::optional<std::string>&) override { return std::make_unique<S>(); }
  std::string method() const override { return "test"; }
};

Cmd connect_cmd(const std::string& method) {
  Cmd cmd;
  cmd.set_type(Cmd::CONNECT);
  cmd.mutable_connect()->set_client_version("test");
  cmd.mutable_connect()->set_protocol_version(17);
  cmd.mutable_connect()->set_auth_method_name(method);
  cmd.mutable_connect()->set_auth_data("token");
  return cmd;
}

Cmd auth_response_cmd(const std::string& data) {
  Cmd cmd;
  cmd.set_type(Cmd::AUTH_RESPONSE);
  cmd.mutable_authresponse()->mutable_response()->set_auth_method_name("test");
  cmd.mutable_authresponse()->mutable_response()->set_auth_data(data);
  return cmd;
}

TEST_F(ConnectionTest, AuthenticationProviderChallengesThenAccepts) {
  ChallengeOnce auth;
  server_.options().authentication_provider = &auth;
  auto c = open();
  command(*c, connect_cmd("test"));
  auto got = drain(*c);
  ASSERT_EQ(got.size(), 1u);
  ASSERT_EQ(got[0].command.type(), Cmd::AUTH_CHALLENGE);
  EXPECT_EQ(got[0].command.authchallenge().challenge().auth_method_name(), "test");
  EXPECT_EQ(got[0].command.authchallenge().challenge().auth_data(), "nonce");
  command(*c, auth_response_cmd("signed:nonce"));
  got = drain(*c);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].command.type(), Cmd::CONNECTED);
  producer(*c, 1, kTopic);
  EXPECT_EQ(drain(*c).at(0).command.type(), Cmd::PRODUCER_SUCCESS);
}

TEST_F(ConnectionTest, AuthenticationProviderRejectionsClose) {
  ChallengeOnce auth;
  server_.options().authentication_provider = &auth;
  {
    auto c = open();
    command(*c, connect_cmd("test"));
    drain(*c);
    command(*c, auth_response_cmd("forged"));
    auto got = drain(*c);
    ASSERT_EQ(got.size(), 1u);
    EXPECT_EQ(got[0].command.error().error(), proto::AuthenticationError);
    EXPECT_EQ(got[0].command.error().message(), "bad signature");
    EXPECT_TRUE(c->closed());
  }
  {
    auto c = open();
    command(*c, connect_cmd("other"));
    auto got = drain(*c);
    ASSERT_EQ(got.size(), 1u);
    EXPECT_EQ(got[0].command.error().error(), proto::AuthenticationError);
    EXPECT_TRUE(c->closed());
  }
  {
    // Anything but AUTH_RESPONSE while challenged closes the connection.
    auto c = open();
    command(*c, connect_cmd("test"));
    drain(*c);
    producer(*c, 1, kTopic);
    EXPECT_TRUE(c->closed());
    EXPECT_EQ(c->producer_count(), 0u);
  }
}

TEST_F(ConnectionTest, ShutdownClosesEveryProducerAndConsumerBeforeTheSocket) {
  auto a = open();
  auto b = open();
  auto idle = open();  // never sent CONNECT: just closed
  connect(*a);
  connect(*b);
  producer(*a, 1, kTopic);
  subscribe(*a, 7, kTopic, "sub-a");
  subscribe(*b, 8, kTopic, "sub-b", proto::CommandSubscribe::Exclusive);
  command(*b, producer_cmd(2, kTopic, proto::Shared, "bp"));
  drain(*a);
  drain(*b);
  // A message delivered to b's consumer and not acknowledged goes back to its subscription.
  feed(*a, send_frame(1, 0, "m0"));
  flow(*b, 8, 10);
  ASSERT_EQ(drain(*b).size(), 1u);
  drain(*a);
  server_.shutdown();
  auto got = drain(*a);
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(got[0].command.type(), Cmd::CLOSE_PRODUCER);
  EXPECT_EQ(got[0].command.close_producer().producer_id(), 1u);
  EXPECT_EQ(got[1].command.type(), Cmd::CLOSE_CONSUMER);
  EXPECT_EQ(got[1].command.close_consumer().consumer_id(), 7u);
  got = drain(*b);
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(got[0].command.close_producer().producer_id(), 2u);
  EXPECT_EQ(got[1].command.close_consumer().consumer_id(), 8u);
  EXPECT_TRUE(a->closed());
  EXPECT_TRUE(b->closed());
  EXPECT_TRUE(idle->closed());
  EXPECT_TRUE(drain(*idle).empty());
  EXPECT_TRUE(stream_.closed);
  EXPECT_EQ(a->producer_count() + a->consumer_count() + b->producer_count() + b->consumer_count(), 0u);
  // The message b held is available again on its subscription (for the client's reconnect).
  auto c = open();
  connect(*c);
  subscribe(*c, 9, kTopic, "sub-b", proto::CommandSubscribe::Exclusive);
  flow(*c, 9, 10);
  got = drain(*c);
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(got[1].payload, "m0");
  EXPECT_EQ(got[1].command.message().redelivery_count(), 1u);
}

TEST_F(ConnectionTest, ShutdownDoesNotHandTheTopicToAWaitingExclusiveProducer) {
  auto a = open();
  auto b = open();
  connect(*a);
  connect(*b);
  command(*a, producer_cmd(1, kTopic, proto::Exclusive, "owner"));
  command(*b, producer_cmd(2, kTopic, proto::WaitForExclusive, "waiter"));
  drain(*a);
  ASSERT_FALSE(drain(*b).at(0).command.producer_success().producer_ready());
  server_.shutdown();
  drain(*a);
  const auto got = drain(*b);
  ASSERT_EQ(got.size(), 1u);  // its CLOSE_PRODUCER, no PRODUCER_SUCCESS ready=true first
  EXPECT_EQ(got[0].command.type(), Cmd::CLOSE_PRODUCER);
}

// Pulsar's AuthenticationProviderTls: the role is the verified certificate's common name from
// the transport; the client's auth_data is not looked at.
TEST_F(ConnectionTest, TlsMethodTakesTheVerifiedCertificateCommonName) {
  CredentialsAuthentication tls(std::make_shared<const auth::Authenticator>(
                                    std::vector<std::shared_ptr<const auth::Provider>>{
                                        std::make_shared<auth::TlsProvider>()}),
                                clock_);
  server_.options().authentication_provider = &tls;
  {
    stream_.certificate_cn = "alice";
    auto c = open();
    Cmd cmd = connect_cmd("tls");
    cmd.mutable_connect()->set_auth_data("mallory");  // ignored: the certificate names the client
    command(*c, cmd);
    auto got = drain(*c);
    ASSERT_EQ(got.size(), 1u);
    EXPECT_EQ(got[0].command.type(), Cmd::CONNECTED);
    EXPECT_EQ(c->role(), "alice");
  }
  {
    stream_.certificate_cn.reset();  // plain pulsar://, no certificate, or an unverified one
    auto c = open();
    Cmd cmd = connect_cmd("tls");
    cmd.mutable_connect()->set_auth_data("alice");
    command(*c, cmd);
    auto got = drain(*c);
    ASSERT_EQ(got.size(), 1u);
    ASSERT_EQ(got[0].command.type(), Cmd::ERROR);
    EXPECT_EQ(got[0].command.error().error(), proto::AuthenticationError);
    EXPECT_NE(got[0].command.error().message().find("no verified client certificate"), std::string::npos);
    EXPECT_TRUE(c->closed());
    EXPECT_EQ(c->role(), "");
  }
}

// The credentials refresh, with the real token provider (auth/) on the manual clock.
class TokenRefreshTest : public ConnectionTest {
protected:
  TokenRefreshTest() {
    auth::TokenSettings s;
    s.secret_key = "data:;base64," + auth::base64_encode(kSecret);
    provider_ = std::make_shared<CredentialsAuthentication>(
        std::make_shared<const auth::Authenticator>(
            std::vector<std::shared_ptr<const auth::Provider>>{auth::TokenProvider::create(s).value()}),
        clock_);
    server_.options().authentication_provider = provider_.get();
    server_.options().auth_refresh_check = std::chrono::seconds(2);
  }
  std::string token(const std::string& role, std::int64_t valid_for_s) {
    const auto now = static_cast<std::int64_t>(clock_.wall_ms() / 1000);
    return auth::sign_token("HS256", kSecret, {{"sub", role}, {"exp", now + valid_for_s}}).value();
  }
  Cmd connect_with(const std::string& tok) {
    Cmd cmd = connect_cmd("token");
    cmd.mutable_connect()->set_auth_data(tok);
    return cmd;
  }
  Cmd respond(const std::string& tok) {
    Cmd cmd = auth_response_cmd(tok);
    cmd.mutable_authresponse()->mutable_response()->set_auth_method_name("token");
    return cmd;
  }
  // Advances the clock by `s` seconds, one tick per second, as the listener's timer would.
  void pass(Connection& c, int s) {
    for (int i = 0; i < s; ++i) {
      clock_.advance(std::chrono::seconds(1));
      if (clock_.now() >= c.next_deadline()) c.on_tick();
    }
  }
  const std::string kSecret = std::string(32, 'r');
  std::shared_ptr<CredentialsAuthentication> provider_;
};

TEST_F(TokenRefreshTest, ExpiredTokenIsChallengedAndARefreshKeepsTheConnection) {
  auto c = open();
  command(*c, connect_with(token("app", 5)));
  auto got = drain(*c);
  ASSERT_EQ(got.size(), 1u);
  ASSERT_EQ(got[0].command.type(), Cmd::CONNECTED);
  EXPECT_EQ(c->role(), "app");
  pass(*c, 4);
  EXPECT_TRUE(drain(*c).empty());  // not expired yet
  pass(*c, 2);
  got = drain(*c);
  ASSERT_EQ(got.size(), 1u);
  ASSERT_EQ(got[0].command.type(), Cmd::AUTH_CHALLENGE);
  EXPECT_EQ(got[0].command.authchallenge().challenge().auth_method_name(), "token");
  EXPECT_EQ(got[0].command.authchallenge().challenge().auth_data(), kRefreshAuthData);
  command(*c, respond(token("app", 3600)));
  EXPECT_TRUE(drain(*c).empty());
  pass(*c, 10);
  EXPECT_TRUE(drain(*c).empty());
  EXPECT_FALSE(c->closed());
  producer(*c, 1, kTopic);
  EXPECT_EQ(drain(*c).at(0).command.type(), Cmd::PRODUCER_SUCCESS);
}

TEST_F(TokenRefreshTest, NoRefreshOrAnotherRoleCloses) {
  {
    auto c = open();
    command(*c, connect_with(token("app", 1)));
    drain(*c);
    pass(*c, 2);
    ASSERT_EQ(drain(*c).at(0).command.type(), Cmd::AUTH_CHALLENGE);
    pass(*c, 2);  // the next check: still not refreshed
    auto got = drain(*c);
    ASSERT_EQ(got.size(), 1u);
    EXPECT_EQ(got[0].command.error().error(), proto::AuthenticationError);
    EXPECT_TRUE(c->closed());
  }
  {
    auto c = open();
    command(*c, connect_with(token("app", 1)));
    drain(*c);
    pass(*c, 2);
    ASSERT_EQ(drain(*c).at(0).command.type(), Cmd::AUTH_CHALLENGE);
    command(*c, respond(token("admin", 3600)));
    auto got = drain(*c);
    ASSERT_EQ(got.size(), 1u);
    EXPECT_EQ(got[0].command.error().error(), proto::AuthenticationError);
    EXPECT_TRUE(c->closed());
  }
  {
    // An expired token is refused at CONNECT.
    auto c = open();
    command(*c, connect_with(token("app", -1)));
    auto got = drain(*c);
    ASSERT_EQ(got.size(), 1u);
    EXPECT_EQ(got[0].command.error().error(), proto::AuthenticationError);
    EXPECT_NE(got[0].command.error().message().find("expired"), std::string::npos);
  }
}

}  // namespace
}  // namespace mop::pulsar::server
