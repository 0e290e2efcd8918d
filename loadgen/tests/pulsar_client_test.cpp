// PulsarClient, the client side of the Pulsar protocol used by `mop bench pulsar-*`, without a
// socket: the broker's side is played with the codec's encoders, and what the client writes is
// read back with the codec's FrameReader.
#include "loadgen/pulsar_client.hpp"

#include <gtest/gtest.h>

#include <optional>

#include "pulsar/codec/batch.hpp"
#include "pulsar/codec/compression.hpp"

namespace mop::loadgen {
namespace {

namespace proto = pulsar::proto;
using Cmd = proto::BaseCommand;

struct Sent {
  proto::BaseCommand command;
  bool has_payload = false;
  bool has_checksum = false;
  proto::MessageMetadata metadata;
  std::string payload;
};

// Every frame in `out` (which is then cleared).
std::vector<Sent> frames(std::string& out) {
  pulsar::FrameReader r;
  r.feed({reinterpret_cast<const std::uint8_t*>(out.data()), out.size()});
  out.clear();
  std::vector<Sent> v;
  for (;;) {
    auto f = r.next();
    EXPECT_TRUE(f.ok()) << f.error().message();
    if (!f.ok() || !*f) break;
    Sent s;
    s.command = *(*f)->command;
    if ((*f)->has_payload()) {
      s.has_payload = true;
      s.has_checksum = (*f)->has_checksum;
      s.metadata = *(*f)->metadata;
      s.payload.assign(reinterpret_cast<const char*>((*f)->payload.data()), (*f)->payload.size());
    }
    v.push_back(std::move(s));
  }
  EXPECT_EQ(r.buffered(), 0u);
  return v;
}

struct Recorder : ClientListener {
  int ready = 0;
  std::vector<std::uint32_t> receipts;
  std::vector<std::string> messages;
  std::string redirect_url;
  bool lookup_again = false, authoritative = false;
  std::string failure;
  void on_ready() override { ++ready; }
  void on_receipt(std::uint32_t n) override { receipts.push_back(n); }
  void on_message(std::span<const std::uint8_t> p) override { messages.emplace_back(reinterpret_cast<const char*>(p.data()), p.size()); }
  void on_redirect(const std::string& url, bool again, bool auth) override {
    redirect_url = url;
    lookup_again = again;
    authoritative = auth;
  }
  void on_failed(const std::string& why) override { failure = why; }
};

// The broker's side: encodes one command and feeds it to the client.
struct Harness {
  explicit Harness(PulsarClientConfig cfg) : client(std::move(cfg)) { client.start(out); }
  PulsarClient client;
  Recorder rec;
  std::string out;

  bool feed(const proto::BaseCommand& c) {
    std::string bytes;
    pulsar::encode_command(c, bytes);
    return client.feed({reinterpret_cast<const std::uint8_t*>(bytes.data()), bytes.size()}, out, rec);
  }
  bool feed_payload(const proto::BaseCommand& c, const proto::MessageMetadata& m, const std::string& payload) {
    std::string bytes;
    pulsar::encode_payload_command(c, m, {reinterpret_cast<const std::uint8_t*>(payload.data()), payload.size()}, bytes);
    return client.feed({reinterpret_cast<const std::uint8_t*>(bytes.data()), bytes.size()}, out, rec);
  }
  void connected(int protocol_version = 20) {
    Cmd c;
    c.set_type(Cmd::CONNECTED);
    c.mutable_connected()->set_server_version("test");
    c.mutable_connected()->set_protocol_version(protocol_version);
    ASSERT_TRUE(feed(c));
  }
  // With lookup configured: CONNECTED, then the answer to PARTITIONED_METADATA (request 1);
  // nullopt leaves the partition count out, as a broker may for a non-partitioned topic.
  bool partitions(std::optional<std::uint32_t> n) {
    connected();
    frames(out);
    Cmd c;
    c.set_type(Cmd::PARTITIONED_METADATA_RESPONSE);
    c.mutable_partitionmetadataresponse()->set_request_id(1);
    if (n) c.mutable_partitionmetadataresponse()->set_partitions(*n);
    return feed(c);
  }
  // The answer to LOOKUP (request 2), after partitions().
  bool lookup(proto::CommandLookupTopicResponse::LookupType type, bool authoritative = false) {
    frames(out);
    Cmd c;
    c.set_type(Cmd::LOOKUP_RESPONSE);
    auto* r = c.mutable_lookuptopicresponse();
    r->set_request_id(2);
    r->set_response(type);
    if (type == proto::CommandLookupTopicResponse::Failed) {
      r->set_error(proto::TopicNotFound);
      r->set_message("no such topic");
    } else {
      r->set_brokerserviceurl("pulsar://localhost:6650");
      r->set_authoritative(authoritative);
    }
    return feed(c);
  }
  // Answers the PRODUCER or SUBSCRIBE in `out` (no lookup configured).
  void create_ok(std::int64_t last_sequence_id = -1) {
    auto f = frames(out);
    ASSERT_EQ(f.size(), 1u);
    Cmd c;
    if (f[0].command.type() == Cmd::PRODUCER) {
      c.set_type(Cmd::PRODUCER_SUCCESS);
      c.mutable_producer_success()->set_request_id(f[0].command.producer().request_id());
      c.mutable_producer_success()->set_producer_name("standalone-0-1");
      c.mutable_producer_success()->set_last_sequence_id(last_sequence_id);
    } else {
      ASSERT_EQ(f[0].command.type(), Cmd::SUBSCRIBE);
      c.set_type(Cmd::SUCCESS);
      c.mutable_success()->set_request_id(f[0].command.subscribe().request_id());
    }
    ASSERT_TRUE(feed(c));
    ASSERT_EQ(rec.ready, 1);
  }
  void receipt(std::uint64_t seq) {
    Cmd c;
    c.set_type(Cmd::SEND_RECEIPT);
    c.mutable_send_receipt()->set_producer_id(1);
    c.mutable_send_receipt()->set_sequence_id(seq);
    c.mutable_send_receipt()->mutable_message_id()->set_ledgerid(1);
    c.mutable_send_receipt()->mutable_message_id()->set_entryid(seq);
    feed(c);
  }
  bool message(std::uint64_t entry, const std::string& payload, proto::MessageMetadata m = {}) {
    Cmd c;
    c.set_type(Cmd::MESSAGE);
    c.mutable_message()->set_consumer_id(1);
    c.mutable_message()->mutable_message_id()->set_ledgerid(7);
    c.mutable_message()->mutable_message_id()->set_entryid(entry);
    if (!m.has_producer_name()) m.set_producer_name("p");
    if (!m.has_sequence_id()) m.set_sequence_id(entry);
    if (!m.has_publish_time()) m.set_publish_time(1);
    return feed_payload(c, m, payload);
  }
};

PulsarClientConfig producer_cfg(std::uint32_t batch = 0, proto::CompressionType comp = proto::NONE) {
  PulsarClientConfig c;
  c.role = PulsarClientConfig::Role::producer;
  c.topic = "persistent://public/default/t";
  c.service_url = "pulsar://127.0.0.1:6650";
  c.lookup = false;
  c.batch = batch;
  c.compression = comp;
  return c;
}

PulsarClientConfig consumer_cfg(proto::CommandSubscribe::SubType type = proto::CommandSubscribe::Exclusive,
                                proto::CommandAck::AckType ack = proto::CommandAck::Individual) {
  PulsarClientConfig c;
  c.role = PulsarClientConfig::Role::consumer;
  c.topic = "persistent://public/default/t";
  c.service_url = "pulsar://127.0.0.1:6650";
  c.lookup = false;
  c.subscription = "sub";
  c.consumer_name = "c0";
  c.sub_type = type;
  c.initial_position = proto::CommandSubscribe::Earliest;
  c.receiver_queue = 10;
  c.ack_type = ack;
  return c;
}

std::span<const std::uint8_t> bytes(const std::string& s) { return {reinterpret_cast<const std::uint8_t*>(s.data()), s.size()}; }

TEST(PulsarClient, ConnectThenLookupThenProducer) {
  auto cfg = producer_cfg();
  cfg.lookup = true;
  Harness h(cfg);
  auto f = frames(h.out);
  ASSERT_EQ(f.size(), 1u);
  EXPECT_EQ(f[0].command.type(), Cmd::CONNECT);
  EXPECT_EQ(f[0].command.connect().protocol_version(), 20);
  EXPECT_FALSE(f[0].command.connect().client_version().empty());

  h.connected();
  f = frames(h.out);
  ASSERT_EQ(f.size(), 1u);
  ASSERT_EQ(f[0].command.type(), Cmd::PARTITIONED_METADATA);
  EXPECT_EQ(f[0].command.partitionmetadata().topic(), "persistent://public/default/t");
  Cmd c;
  c.set_type(Cmd::PARTITIONED_METADATA_RESPONSE);
  c.mutable_partitionmetadataresponse()->set_request_id(f[0].command.partitionmetadata().request_id());
  c.mutable_partitionmetadataresponse()->set_partitions(0);
  ASSERT_TRUE(h.feed(c));

  f = frames(h.out);
  ASSERT_EQ(f.size(), 1u);
  ASSERT_EQ(f[0].command.type(), Cmd::LOOKUP);
  EXPECT_FALSE(f[0].command.lookuptopic().authoritative());
  c.Clear();
  c.set_type(Cmd::LOOKUP_RESPONSE);
  c.mutable_lookuptopicresponse()->set_request_id(f[0].command.lookuptopic().request_id());
  c.mutable_lookuptopicresponse()->set_response(proto::CommandLookupTopicResponse::Connect);
  c.mutable_lookuptopicresponse()->set_brokerserviceurl("pulsar://127.0.0.1:6650");
  ASSERT_TRUE(h.feed(c));

  f = frames(h.out);
  ASSERT_EQ(f.size(), 1u);
  ASSERT_EQ(f[0].command.type(), Cmd::PRODUCER);
  EXPECT_EQ(f[0].command.producer().topic(), "persistent://public/default/t");
  EXPECT_FALSE(f[0].command.producer().has_producer_name());  // the broker names it
  EXPECT_EQ(h.rec.ready, 0);
  c.Clear();
  c.set_type(Cmd::PRODUCER_SUCCESS);
  c.mutable_producer_success()->set_request_id(f[0].command.producer().request_id());
  c.mutable_producer_success()->set_producer_name("standalone-0-7");
  ASSERT_TRUE(h.feed(c));
  EXPECT_EQ(h.rec.ready, 1);
  EXPECT_TRUE(h.client.ready());
  EXPECT_EQ(h.client.producer_name(), "standalone-0-7");
  EXPECT_EQ(h.client.next_sequence_id(), 0u);
}

TEST(PulsarClient, LookupNamingAnotherBrokerIsARedirect) {
  for (const bool redirect : {false, true}) {
    auto cfg = producer_cfg();
    cfg.lookup = true;
    Harness h(cfg);
    ASSERT_TRUE(h.partitions(std::nullopt));
    EXPECT_FALSE(h.lookup(redirect ? proto::CommandLookupTopicResponse::Redirect : proto::CommandLookupTopicResponse::Connect,
                          /*authoritative=*/true));
    EXPECT_EQ(h.rec.redirect_url, "pulsar://localhost:6650");
    EXPECT_EQ(h.rec.lookup_again, redirect);
    EXPECT_EQ(h.rec.authoritative, redirect);
    EXPECT_EQ(h.client.state(), PulsarClient::State::redirected);
    EXPECT_TRUE(h.out.empty());  // no PRODUCER on this connection
  }
}

TEST(PulsarClient, PartitionedTopicAndFailedLookupAreErrors) {
  auto cfg = producer_cfg();
  cfg.lookup = true;
  Harness h(cfg);
  EXPECT_FALSE(h.partitions(3));
  EXPECT_NE(h.rec.failure.find("partitioned (3 partitions)"), std::string::npos) << h.rec.failure;

  Harness g(cfg);
  ASSERT_TRUE(g.partitions(0));
  EXPECT_FALSE(g.lookup(proto::CommandLookupTopicResponse::Failed));
  EXPECT_NE(g.rec.failure.find("TopicNotFound"), std::string::npos) << g.rec.failure;
  EXPECT_NE(g.rec.failure.find("no such topic"), std::string::npos) << g.rec.failure;
}

TEST(PulsarClient, SendsCarrySequenceIdsAndReceiptsComeInOrder) {
  Harness h(producer_cfg());
  frames(h.out);
  h.connected();
  h.create_ok(41);  // a producer name with history: go on after the broker's last id
  for (int i = 0; i < 3; ++i) h.client.send(bytes("m" + std::to_string(i)), 1234, h.out);
  EXPECT_EQ(h.client.pending_messages(), 3u);
  auto f = frames(h.out);
  ASSERT_EQ(f.size(), 3u);
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(f[i].command.type(), Cmd::SEND);
    EXPECT_EQ(f[i].command.send().producer_id(), 1u);
    EXPECT_EQ(f[i].command.send().sequence_id(), 42u + i);
    EXPECT_FALSE(f[i].command.send().has_num_messages());
    EXPECT_TRUE(f[i].has_checksum);
    EXPECT_EQ(f[i].metadata.producer_name(), "standalone-0-1");
    EXPECT_EQ(f[i].metadata.sequence_id(), 42u + i);
    EXPECT_EQ(f[i].metadata.publish_time(), 1234u);
    EXPECT_FALSE(f[i].metadata.has_num_messages_in_batch());  // not a batch
    EXPECT_EQ(f[i].payload, "m" + std::to_string(i));
  }
  h.receipt(42);
  h.receipt(42);  // a duplicate receipt: ignored
  h.receipt(43);
  EXPECT_EQ(h.rec.receipts, (std::vector<std::uint32_t>{1, 1}));
  EXPECT_EQ(h.client.pending_messages(), 1u);
  EXPECT_TRUE(h.rec.failure.empty());
  h.client.send(bytes("m3"), 1234, h.out);
  h.receipt(45);  // skips 44
  EXPECT_NE(h.rec.failure.find("out of order"), std::string::npos) << h.rec.failure;
}

TEST(PulsarClient, BatchesAreCompressedWholeWithPerMessageMetadata) {
  for (auto comp : {proto::NONE, proto::LZ4, proto::ZLIB, proto::ZSTD, proto::SNAPPY}) {
    Harness h(producer_cfg(3, comp));
    frames(h.out);
    h.connected();
    h.create_ok();
    h.client.send(bytes("a"), 5, h.out);
    h.client.send(bytes("bb"), 5, h.out);
    EXPECT_TRUE(h.out.empty());  // the batch is not full yet
    EXPECT_EQ(h.client.pending_messages(), 2u);
    h.client.send(bytes("ccc"), 5, h.out);
    h.client.send(bytes("dddd"), 6, h.out);
    h.client.flush_batch(6, h.out);  // the partial batch of one
    auto f = frames(h.out);
    ASSERT_EQ(f.size(), 2u);
    const std::vector<std::vector<std::string>> want = {{"a", "bb", "ccc"}, {"dddd"}};
    std::uint64_t seq = 0;
    for (std::size_t k = 0; k < 2; ++k) {
      const auto& s = f[k];
      const auto n = static_cast<std::int32_t>(want[k].size());
      EXPECT_EQ(s.command.send().sequence_id(), seq);
      EXPECT_EQ(s.command.send().num_messages(), n);
      EXPECT_EQ(s.command.send().highest_sequence_id(), seq + n - 1);
      EXPECT_EQ(s.metadata.num_messages_in_batch(), n);
      EXPECT_TRUE(s.metadata.has_num_messages_in_batch());
      EXPECT_EQ(s.metadata.compression(), comp);
      std::string scratch;
      auto body = pulsar::uncompressed_payload(s.metadata, bytes(s.payload), 1 << 20, scratch);
      ASSERT_TRUE(body.ok()) << body.error().message();
      std::vector<pulsar::BatchMessage> msgs;
      ASSERT_TRUE(pulsar::parse_batch(*body, n, msgs).ok());
      ASSERT_EQ(msgs.size(), want[k].size());
      for (std::size_t i = 0; i < msgs.size(); ++i) {
        EXPECT_EQ(std::string(reinterpret_cast<const char*>(msgs[i].payload.data()), msgs[i].payload.size()), want[k][i]);
        EXPECT_EQ(msgs[i].metadata.sequence_id(), seq + i);
      }
      seq += n;
    }
    h.receipt(0);
    h.receipt(3);
    EXPECT_EQ(h.rec.receipts, (std::vector<std::uint32_t>{3, 1}));
    EXPECT_EQ(h.client.pending_messages(), 0u);
  }
}

TEST(PulsarClient, NoChecksumForBrokersBelowV6) {
  Harness h(producer_cfg());
  frames(h.out);
  h.connected(5);
  h.create_ok();
  h.client.send(bytes("x"), 1, h.out);
  auto f = frames(h.out);
  ASSERT_EQ(f.size(), 1u);
  EXPECT_FALSE(f[0].has_checksum);
}

TEST(PulsarClient, SubscribeThenFlowRefilledAtHalf) {
  Harness h(consumer_cfg(proto::CommandSubscribe::Key_Shared));
  frames(h.out);
  h.connected();
  auto f = frames(h.out);
  ASSERT_EQ(f.size(), 1u);
  ASSERT_EQ(f[0].command.type(), Cmd::SUBSCRIBE);
  const auto& s = f[0].command.subscribe();
  EXPECT_EQ(s.subscription(), "sub");
  EXPECT_EQ(s.subtype(), proto::CommandSubscribe::Key_Shared);
  EXPECT_TRUE(s.has_keysharedmeta());
  EXPECT_EQ(s.initialposition(), proto::CommandSubscribe::Earliest);
  EXPECT_EQ(s.consumer_name(), "c0");
  Cmd c;
  c.set_type(Cmd::SUCCESS);
  c.mutable_success()->set_request_id(s.request_id());
  ASSERT_TRUE(h.feed(c));
  EXPECT_EQ(h.rec.ready, 1);
  f = frames(h.out);
  ASSERT_EQ(f.size(), 1u);
  ASSERT_EQ(f[0].command.type(), Cmd::FLOW);
  EXPECT_EQ(f[0].command.flow().messagepermits(), 10u);

  for (int i = 0; i < 4; ++i) ASSERT_TRUE(h.message(i, "p" + std::to_string(i)));
  EXPECT_TRUE(h.out.empty());  // 4 of 10 permits used: no FLOW yet
  ASSERT_TRUE(h.message(4, "p4"));
  f = frames(h.out);
  ASSERT_EQ(f.size(), 1u);
  EXPECT_EQ(f[0].command.type(), Cmd::FLOW);
  EXPECT_EQ(f[0].command.flow().messagepermits(), 5u);
  EXPECT_EQ(h.rec.messages, (std::vector<std::string>{"p0", "p1", "p2", "p3", "p4"}));
}

TEST(PulsarClient, BatchedCompressedMessagesAreSplitAndAckedAsOneEntry) {
  Harness h(consumer_cfg());
  frames(h.out);
  h.connected();
  h.create_ok();
  frames(h.out);  // FLOW
  std::string batch;
  for (const char* p : {"one", "two", "three"}) {
    proto::SingleMessageMetadata sm;
    pulsar::append_batch_message(sm, bytes(p), batch);
  }
  std::string z;
  ASSERT_TRUE(pulsar::compress(proto::ZSTD, bytes(batch), z).ok());
  proto::MessageMetadata m;
  m.set_num_messages_in_batch(3);
  m.set_compression(proto::ZSTD);
  m.set_uncompressed_size(static_cast<std::uint32_t>(batch.size()));
  ASSERT_TRUE(h.message(9, z, m));
  ASSERT_TRUE(h.message(10, "four"));
  EXPECT_EQ(h.rec.messages, (std::vector<std::string>{"one", "two", "three", "four"}));
  auto f = frames(h.out);  // 4 of 10 permits: no FLOW
  EXPECT_TRUE(f.empty());
  h.client.flush_acks(h.out);
  f = frames(h.out);
  ASSERT_EQ(f.size(), 1u);
  ASSERT_EQ(f[0].command.type(), Cmd::ACK);
  const auto& a = f[0].command.ack();
  EXPECT_EQ(a.ack_type(), proto::CommandAck::Individual);
  ASSERT_EQ(a.message_id_size(), 2);
  EXPECT_EQ(a.message_id(0).entryid(), 9u);
  EXPECT_FALSE(a.message_id(0).has_batch_index());  // the whole batch at once
  EXPECT_EQ(a.message_id(1).entryid(), 10u);
  h.client.flush_acks(h.out);
  EXPECT_TRUE(h.out.empty());  // nothing new to acknowledge
}

TEST(PulsarClient, CumulativeAckNamesTheLastMessageOnly) {
  Harness h(consumer_cfg(proto::CommandSubscribe::Failover, proto::CommandAck::Cumulative));
  frames(h.out);
  h.connected();
  h.create_ok();
  frames(h.out);
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(h.message(20 + i, "x"));
  h.client.flush_acks(h.out);
  auto f = frames(h.out);
  ASSERT_EQ(f.size(), 1u);
  EXPECT_EQ(f[0].command.ack().ack_type(), proto::CommandAck::Cumulative);
  ASSERT_EQ(f[0].command.ack().message_id_size(), 1);
  EXPECT_EQ(f[0].command.ack().message_id(0).entryid(), 22u);
}

TEST(PulsarClient, PingIsAnsweredAndBrokerRefusalsFail) {
  Harness h(consumer_cfg());
  frames(h.out);
  Cmd ping;
  ping.set_type(Cmd::PING);
  ping.mutable_ping();
  h.connected();
  frames(h.out);
  ASSERT_TRUE(h.feed(ping));
  auto f = frames(h.out);
  ASSERT_EQ(f.size(), 1u);
  EXPECT_EQ(f[0].command.type(), Cmd::PONG);

  Cmd e;
  e.set_type(Cmd::ERROR);
  e.mutable_error()->set_request_id(1);
  e.mutable_error()->set_error(proto::ConsumerBusy);
  e.mutable_error()->set_message("Exclusive consumer is already connected");
  EXPECT_FALSE(h.feed(e));
  EXPECT_NE(h.rec.failure.find("SUBSCRIBE refused: ConsumerBusy"), std::string::npos) << h.rec.failure;
  EXPECT_FALSE(h.feed(ping));  // nothing more after a failure

  Harness p(producer_cfg());
  frames(p.out);
  p.connected();
  p.create_ok();
  p.client.send(bytes("x"), 1, p.out);
  Cmd se;
  se.set_type(Cmd::SEND_ERROR);
  se.mutable_send_error()->set_producer_id(1);
  se.mutable_send_error()->set_sequence_id(0);
  se.mutable_send_error()->set_error(proto::PersistenceError);
  se.mutable_send_error()->set_message("disk full");
  EXPECT_FALSE(p.feed(se));
  EXPECT_NE(p.rec.failure.find("PersistenceError"), std::string::npos) << p.rec.failure;

  Harness k(consumer_cfg());
  frames(k.out);
  k.connected();
  k.create_ok();
  Cmd cc;
  cc.set_type(Cmd::CLOSE_CONSUMER);
  cc.mutable_close_consumer()->set_consumer_id(1);
  cc.mutable_close_consumer()->set_request_id(5);
  EXPECT_FALSE(k.feed(cc));
  EXPECT_NE(k.rec.failure.find("CLOSE_CONSUMER"), std::string::npos);
}

TEST(PulsarClient, CloseSendsCloseProducer) {
  Harness h(producer_cfg());
  frames(h.out);
  h.connected();
  h.create_ok();
  h.client.close(h.out);
  auto f = frames(h.out);
  ASSERT_EQ(f.size(), 1u);
  EXPECT_EQ(f[0].command.type(), Cmd::CLOSE_PRODUCER);
  EXPECT_EQ(f[0].command.close_producer().producer_id(), 1u);
}

}  // namespace
}  // namespace mop::loadgen
