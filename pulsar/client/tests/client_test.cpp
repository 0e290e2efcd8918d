// The sans-I/O client against a fake broker: frames are encoded with the codec, fed to the client
// byte by byte where it matters, and what the client writes is decoded and checked command by
// command. Time is a ManualClock, callbacks run from a ManualExecutor.
#include <gtest/gtest.h>

#include <deque>
#include <map>
#include <set>

#include "pulsar/client/client.hpp"
#include "pulsar/client/client_impl.hpp"
#include "pulsar/codec/batch.hpp"
#include "pulsar/codec/codec.hpp"
#include "pulsar/codec/compression.hpp"

namespace mop::pulsar::client {
namespace {

using T = proto::BaseCommand;

struct Sent {
  bool has_checksum = false;
  proto::BaseCommand command;
  proto::MessageMetadata metadata;
  std::string payload;
};

class FakeLink final : public Link {
public:
  FakeLink(std::string key, LinkHandler& h) : key(std::move(key)), handler(&h) {}
  void write(std::string bytes) override {
    reader.feed({reinterpret_cast<const std::uint8_t*>(bytes.data()), bytes.size()});
    for (;;) {
      auto r = reader.next();
      ASSERT_TRUE(r.ok());
      if (!*r) break;
      Sent s;
      s.command = *(*r)->command;
      s.has_checksum = (*r)->has_checksum;
      if ((*r)->metadata) {
        s.metadata = *(*r)->metadata;
        s.payload.assign(reinterpret_cast<const char*>((*r)->payload.data()), (*r)->payload.size());
      }
      out.push_back(std::move(s));
    }
  }
  void close() override { closed = true; }

  std::string key;
  LinkHandler* handler;
  FrameReader reader;
  std::deque<Sent> out;
  bool closed = false;
};

// What the client owns: a handle to a FakeLink the transport keeps, so that a test can look at
// a link after the client dropped it.
class LinkHandle final : public Link {
public:
  explicit LinkHandle(FakeLink& l) : link_(l) {}
  ~LinkHandle() override { link_.closed = true; }
  void write(std::string bytes) override { link_.write(std::move(bytes)); }
  void close() override { link_.close(); }

private:
  FakeLink& link_;
};

class FakeTransport final : public Transport {
public:
  std::unique_ptr<Link> open(const std::string& host, std::uint16_t port, LinkHandler& handler) override {
    owned_.push_back(std::make_unique<FakeLink>(host + ":" + std::to_string(port), handler));
    links.push_back(owned_.back().get());
    tls.push_back(false);
    return std::make_unique<LinkHandle>(*owned_.back());
  }
  std::unique_ptr<Link> open_tls(const std::string& host, std::uint16_t port, LinkHandler& handler) override {
    if (!tls_supported) return nullptr;
    auto link = open(host, port, handler);
    tls.back() = true;
    return link;
  }
  std::vector<FakeLink*> links;  // every link ever opened, in order
  std::vector<bool> tls;         // whether each of them was opened with open_tls
  bool tls_supported = true;

private:
  std::vector<std::unique_ptr<FakeLink>> owned_;
};

class ClientTest : public ::testing::Test {
protected:
  void make(ClientConfig cfg = {}) {
    if (cfg.service_url.empty()) cfg.service_url = "pulsar://b1:6650";
    cfg.seed = 1;
    client = std::make_unique<Client>(exec, clock, transport, std::move(cfg));
    ASSERT_TRUE(client->start().ok());
  }
  void run() { exec.run_all(); }
  void advance(std::chrono::milliseconds d) {
    clock.advance(d);
    client->on_tick();
    run();
  }
  static void feed(FakeLink& l, const proto::BaseCommand& c, bool byte_by_byte = false) {
    std::string bytes;
    encode_command(c, bytes);
    if (!byte_by_byte) return l.handler->on_bytes({reinterpret_cast<const std::uint8_t*>(bytes.data()), bytes.size()});
    for (char ch : bytes) l.handler->on_bytes({reinterpret_cast<const std::uint8_t*>(&ch), 1});
  }
  // Accepts the TCP connection and answers CONNECT with CONNECTED.
  // The first command of `type` written, wherever it is among the others (which stay).
  Sent take_any(FakeLink& l, proto::BaseCommand::Type type) {
    run();
    for (auto it = l.out.begin(); it != l.out.end(); ++it) {
      if (it->command.type() == type) {
        Sent s = std::move(*it);
        l.out.erase(it);
        return s;
      }
    }
    ADD_FAILURE() << "no " << T::Type_Name(type) << " written";
    return {};
  }
  void handshake(FakeLink& l, std::int32_t protocol_version = 20, bool topic_watchers = false) {
    l.handler->on_connected("");
    ASSERT_FALSE(l.out.empty());
    ASSERT_EQ(l.out.front().command.type(), T::CONNECT);
    l.out.pop_front();
    proto::BaseCommand c;
    c.set_type(T::CONNECTED);
    c.mutable_connected()->set_server_version("fake");
    c.mutable_connected()->set_protocol_version(protocol_version);
    if (topic_watchers) c.mutable_connected()->mutable_feature_flags()->set_supports_topic_watchers(true);
    feed(l, c, true);
    run();
  }
  Sent take(FakeLink& l, proto::BaseCommand::Type type) {
    run();
    EXPECT_FALSE(l.out.empty()) << "expected " << T::Type_Name(type);
    if (l.out.empty()) return {};
    Sent s = std::move(l.out.front());
    l.out.pop_front();
    EXPECT_EQ(s.command.type(), type) << T::Type_Name(s.command.type());
    return s;
  }
  void answer_partitions(FakeLink& l, std::uint32_t n) {
    auto q = take(l, T::PARTITIONED_METADATA);
    proto::BaseCommand c;
    c.set_type(T::PARTITIONED_METADATA_RESPONSE);
    c.mutable_partitionmetadataresponse()->set_request_id(q.command.partitionmetadata().request_id());
    c.mutable_partitionmetadataresponse()->set_partitions(n);
    feed(l, c);
    run();
  }
  void answer_lookup_here(FakeLink& l, const std::string& url = "pulsar://b1:6650") {
    auto q = take_any(l, T::LOOKUP);
    proto::BaseCommand c;
    c.set_type(T::LOOKUP_RESPONSE);
    auto* r = c.mutable_lookuptopicresponse();
    r->set_request_id(q.command.lookuptopic().request_id());
    r->set_response(proto::CommandLookupTopicResponse::Connect);
    r->set_brokerserviceurl(url);
    feed(l, c);
    run();
  }
  // Answers a GET_TOPICS_OF_NAMESPACE taken from `l` with `topics`.
  void answer_topics(FakeLink& l, const Sent& q, const std::vector<std::string>& topics) {
    proto::BaseCommand a;
    a.set_type(T::GET_TOPICS_OF_NAMESPACE_RESPONSE);
    a.mutable_gettopicsofnamespaceresponse()->set_request_id(q.command.gettopicsofnamespace().request_id());
    for (const auto& t : topics) a.mutable_gettopicsofnamespaceresponse()->add_topics(t);
    feed(l, a);
    run();
  }
  // Answers a WATCH_TOPIC_LIST taken from `l`: the watcher is up, these topics match.
  void answer_watch(FakeLink& l, const Sent& w, const std::vector<std::string>& topics) {
    proto::BaseCommand ok;
    ok.set_type(T::WATCH_TOPIC_LIST_SUCCESS);
    ok.mutable_watchtopiclistsuccess()->set_request_id(w.command.watchtopiclist().request_id());
    ok.mutable_watchtopiclistsuccess()->set_watcher_id(w.command.watchtopiclist().watcher_id());
    for (const auto& t : topics) ok.mutable_watchtopiclistsuccess()->add_topic(t);
    ok.mutable_watchtopiclistsuccess()->set_topics_hash("h1");
    feed(l, ok);
    run();
  }
  void success(FakeLink& l, std::uint64_t request_id) {
    proto::BaseCommand c;
    c.set_type(T::SUCCESS);
    c.mutable_success()->set_request_id(request_id);
    feed(l, c);
    run();
  }
  void producer_success(FakeLink& l, const Sent& q, std::int64_t last_seq = -1) {
    proto::BaseCommand c;
    c.set_type(T::PRODUCER_SUCCESS);
    if (q.command.producer().producer_access_mode() != proto::Shared) c.mutable_producer_success()->set_topic_epoch(4);
    c.mutable_producer_success()->set_request_id(q.command.producer().request_id());
    c.mutable_producer_success()->set_producer_name("p-1");
    c.mutable_producer_success()->set_last_sequence_id(last_seq);
    feed(l, c);
    run();
  }
  void receipt(FakeLink& l, std::uint64_t producer_id, std::uint64_t seq, std::uint64_t entry) {
    proto::BaseCommand c;
    c.set_type(T::SEND_RECEIPT);
    auto* r = c.mutable_send_receipt();
    r->set_producer_id(producer_id);
    r->set_sequence_id(seq);
    r->mutable_message_id()->set_ledgerid(7);
    r->mutable_message_id()->set_entryid(entry);
    feed(l, c);
    run();
  }

  // A ready producer on b1 (non-partitioned topic "t").
  std::shared_ptr<Producer> ready_producer(ProducerConfig cfg, std::uint64_t& producer_id) {
    if (cfg.topic.empty()) cfg.topic = "t";
    std::shared_ptr<Producer> p;
    client->create_producer(cfg, [&](Result<std::shared_ptr<Producer>, Error> r) {
      ASSERT_TRUE(r.ok()) << r.error().to_string();
      p = *r;
    });
    run();
    EXPECT_EQ(transport.links.size(), 1u);
    auto& l = *transport.links[0];
    handshake(l);
    answer_partitions(l, 0);
    answer_lookup_here(l);
    auto q = take(l, T::PRODUCER);
    producer_id = q.command.producer().producer_id();
    producer_success(l, q);
    EXPECT_TRUE(p);
    return p;
  }

  FakeTransport transport;  // first: tasks left in `exec` may still hold connections using it
  ManualExecutor exec;
  ManualClock clock;
  std::unique_ptr<Client> client;
};

TEST(ServiceUrl, ParsesSeveralHostsAndRefusesBadOnes) {
  auto r = parse_service_url("pulsar://a:1,b,c:6651/");
  ASSERT_TRUE(r.ok());
  ASSERT_EQ(r->size(), 3u);
  EXPECT_EQ((*r)[0].key(), "a:1");
  EXPECT_EQ((*r)[1].key(), "b:6650");
  EXPECT_EQ((*r)[2].key(), "c:6651");
  EXPECT_FALSE(parse_service_url("http://a:1").ok());
  EXPECT_FALSE(parse_service_url("pulsar://a:x").ok());
  EXPECT_FALSE(parse_service_url("pulsar://a:1,,b").ok());
  EXPECT_FALSE(parse_service_url("pulsar://a:70000").ok());
}

TEST(ServiceUrl, TlsSchemeMarksEveryHostAndDefaultsTo6651) {
  auto r = parse_service_url("pulsar+ssl://a,b:7000");
  ASSERT_TRUE(r.ok());
  ASSERT_EQ(r->size(), 2u);
  EXPECT_TRUE((*r)[0].tls);
  EXPECT_EQ((*r)[0].key(), "a:6651");
  EXPECT_EQ(endpoint_url((*r)[1]), "pulsar+ssl://b:7000");
  EXPECT_FALSE((*parse_service_url("pulsar://a"))[0].tls);
  EXPECT_FALSE(parse_service_url("pulsar+tls://a").ok());
}

TEST(TopicName, CompletesShortNames) {
  EXPECT_EQ(*full_topic_name("x"), "persistent://public/default/x");
  EXPECT_EQ(*full_topic_name("t/ns/x"), "persistent://t/ns/x");
  EXPECT_EQ(*full_topic_name("persistent://t/ns/x"), "persistent://t/ns/x");
  EXPECT_FALSE(full_topic_name("a/b").ok());
  EXPECT_FALSE(full_topic_name("").ok());
}

TEST(Errors, ServerErrorsStayVisible) {
  const auto code = server_error(proto::ProducerFenced);
  ASSERT_TRUE(code);
  EXPECT_EQ(server_error_of(code), proto::ProducerFenced);
  EXPECT_EQ(code.message(), "ProducerFenced");
  EXPECT_TRUE(server_error(proto::UnknownError));  // value 0 on the wire is still an error
  EXPECT_FALSE(server_error_of(make_error_code(ClientErrc::timeout)));
  EXPECT_TRUE(is_retriable(server_error(proto::ServiceNotReady)));
  EXPECT_FALSE(is_retriable(server_error(proto::ProducerFenced)));
}

TEST_F(ClientTest, TlsClientFollowsTheBrokersTlsUrlOverTls) {
  make({.service_url = "pulsar+ssl://b1:6651"});
  Result<std::string, Error> got = Error(ClientErrc::timeout, "not yet");
  client->lookup("t", [&](Result<std::string, Error> r) { got = std::move(r); });
  run();
  ASSERT_EQ(transport.links.size(), 1u);
  EXPECT_TRUE(transport.tls[0]);
  EXPECT_EQ(transport.links[0]->key, "b1:6651");
  auto& l = *transport.links[0];
  handshake(l);
  auto q = take_any(l, T::LOOKUP);
  proto::BaseCommand c;
  c.set_type(T::LOOKUP_RESPONSE);
  auto* a = c.mutable_lookuptopicresponse();
  a->set_request_id(q.command.lookuptopic().request_id());
  a->set_response(proto::CommandLookupTopicResponse::Connect);
  a->set_brokerserviceurl("pulsar://b2:6650");
  a->set_brokerserviceurltls("pulsar+ssl://b2:6651");
  feed(l, c);
  run();
  ASSERT_EQ(transport.links.size(), 2u);
  EXPECT_TRUE(transport.tls[1]);
  EXPECT_EQ(transport.links[1]->key, "b2:6651");
  handshake(*transport.links[1]);
  ASSERT_TRUE(got.ok()) << got.error().to_string();
  EXPECT_EQ(*got, "pulsar+ssl://b2:6651");
}

TEST_F(ClientTest, TlsLookupWithoutATlsUrlFails) {
  make({.service_url = "pulsar+ssl://b1:6651"});
  Result<std::string, Error> got = std::string("none");
  client->lookup("t", [&](Result<std::string, Error> r) { got = std::move(r); });
  run();
  auto& l = *transport.links[0];
  handshake(l);
  answer_lookup_here(l, "pulsar://b2:6650");  // only the plain URL
  ASSERT_FALSE(got.ok());
  EXPECT_EQ(got.error().code, make_error_code(ClientErrc::protocol_error));
  EXPECT_NE(got.error().message.find("no TLS URL"), std::string::npos) << got.error().message;
  EXPECT_EQ(transport.links.size(), 1u);  // never fell back to plain TCP
}

TEST_F(ClientTest, TlsOnATransportWithoutTlsFailsTheConnect) {
  transport.tls_supported = false;
  make({.service_url = "pulsar+ssl://b1:6651"});
  Result<std::string, Error> got = std::string("none");
  client->lookup("t", [&](Result<std::string, Error> r) { got = std::move(r); });
  run();
  run();
  ASSERT_FALSE(got.ok());
  EXPECT_EQ(got.error().code, make_error_code(ClientErrc::connect_failed));
  EXPECT_NE(got.error().message.find("TLS"), std::string::npos) << got.error().message;
}

TEST_F(ClientTest, ConnectSendsAuthAndAnswersChallengeWithAFreshToken) {
  int asked = 0;
  ClientConfig cfg;
  cfg.auth_method = "token";
  cfg.auth_data = [&] { return "tok-" + std::to_string(++asked); };
  make(cfg);
  client->lookup("t", [](Result<std::string, Error>) {});
  run();
  ASSERT_EQ(transport.links.size(), 1u);
  auto& l = *transport.links[0];
  l.handler->on_connected("");
  auto c = take(l, T::CONNECT);
  EXPECT_EQ(c.command.connect().auth_method_name(), "token");
  EXPECT_EQ(c.command.connect().auth_data(), "tok-1");
  EXPECT_TRUE(c.command.connect().feature_flags().supports_auth_refresh());
  proto::BaseCommand ch;
  ch.set_type(T::AUTH_CHALLENGE);
  ch.mutable_authchallenge()->mutable_challenge()->set_auth_method_name("token");
  feed(l, ch);
  auto resp = take(l, T::AUTH_RESPONSE);
  EXPECT_EQ(resp.command.authresponse().response().auth_data(), "tok-2");
}

TEST_F(ClientTest, CallbacksAreNeverInline) {
  make();
  bool called = false;
  client->create_producer(ProducerConfig{.topic = "a/b/c/d"}, [&](auto r) {
    called = true;
    EXPECT_EQ(r.error().code, make_error_code(ClientErrc::invalid_argument));
  });
  EXPECT_FALSE(called);
  run();
  EXPECT_TRUE(called);
}

TEST_F(ClientTest, LookupFollowsRedirectsWithTheAuthoritativeFlag) {
  make();
  std::string found;
  client->lookup("t", [&](Result<std::string, Error> r) {
    ASSERT_TRUE(r.ok()) << r.error().to_string();
    found = *r;
  });
  run();
  auto& l1 = *transport.links[0];
  handshake(l1);
  auto q = take(l1, T::LOOKUP);
  EXPECT_FALSE(q.command.lookuptopic().authoritative());
  proto::BaseCommand c;
  c.set_type(T::LOOKUP_RESPONSE);
  auto* r = c.mutable_lookuptopicresponse();
  r->set_request_id(q.command.lookuptopic().request_id());
  r->set_response(proto::CommandLookupTopicResponse::Redirect);
  r->set_brokerserviceurl("pulsar://b2:6650");
  r->set_authoritative(true);
  feed(l1, c);
  run();
  ASSERT_EQ(transport.links.size(), 2u);
  auto& l2 = *transport.links[1];
  EXPECT_EQ(l2.key, "b2:6650");
  handshake(l2);
  run();
  ASSERT_FALSE(l2.out.empty());
  EXPECT_TRUE(l2.out.front().command.lookuptopic().authoritative());
  answer_lookup_here(l2, "pulsar://b2:6650");  // Connect to itself
  // The looked-up broker's URL was answered: no third connection.
  EXPECT_EQ(transport.links.size(), 2u);
  EXPECT_EQ(found, "pulsar://b2:6650");
}

TEST_F(ClientTest, LookupFailureCarriesTheServerError) {
  make();
  std::optional<Error> err;
  client->lookup("t", [&](Result<std::string, Error> r) { err = r.error(); });
  run();
  auto& l = *transport.links[0];
  handshake(l);
  auto q = take(l, T::LOOKUP);
  proto::BaseCommand c;
  c.set_type(T::LOOKUP_RESPONSE);
  auto* r = c.mutable_lookuptopicresponse();
  r->set_request_id(q.command.lookuptopic().request_id());
  r->set_response(proto::CommandLookupTopicResponse::Failed);
  r->set_error(proto::TopicNotFound);
  r->set_message("no such topic");
  feed(l, c);
  run();
  ASSERT_TRUE(err);
  EXPECT_EQ(server_error_of(err->code), proto::TopicNotFound);
  EXPECT_NE(err->message.find("no such topic"), std::string::npos);
}

TEST_F(ClientTest, SecondHostIsTriedWhenTheFirstRefuses) {
  make(ClientConfig{.service_url = "pulsar://b1:6650,b2:6650"});
  bool ok = false;
  client->get_partitioned_topic_metadata("t", [&](Result<std::uint32_t, Error> r) {
    ASSERT_TRUE(r.ok()) << r.error().to_string();
    EXPECT_EQ(*r, 3u);
    ok = true;
  });
  run();
  transport.links[0]->handler->on_connected("connection refused");
  run();
  ASSERT_EQ(transport.links.size(), 2u);
  EXPECT_EQ(transport.links[1]->key, "b2:6650");
  handshake(*transport.links[1]);
  answer_partitions(*transport.links[1], 3);
  EXPECT_TRUE(ok);
}

TEST_F(ClientTest, RequestsTimeOutAndKeepAlivePingsThenCloses) {
  make(ClientConfig{.operation_timeout = Millis(1000), .keep_alive = Millis(5000)});
  std::optional<Error> err;
  client->lookup("t", [&](Result<std::string, Error> r) { err = r.error(); });
  run();
  auto& l = *transport.links[0];
  handshake(l);
  take(l, T::LOOKUP);
  advance(Millis(999));
  EXPECT_FALSE(err);
  advance(Millis(1));
  ASSERT_TRUE(err);
  EXPECT_EQ(err->code, make_error_code(ClientErrc::timeout));
  EXPECT_LE(client->next_deadline(), clock.now() + Millis(5000));
  advance(Millis(4000));
  take(l, T::PING);
  EXPECT_FALSE(l.closed);
  advance(Millis(5000));
  EXPECT_TRUE(l.closed);
}

TEST_F(ClientTest, BrokerPingIsAnswered) {
  make();
  client->lookup("t", [](Result<std::string, Error>) {});
  run();
  auto& l = *transport.links[0];
  handshake(l);
  take(l, T::LOOKUP);
  proto::BaseCommand ping;
  ping.set_type(T::PING);
  ping.mutable_ping();
  feed(l, ping);
  take(l, T::PONG);
}

TEST_F(ClientTest, ProducerAndConsumerShareOneConnection) {
  make();
  std::uint64_t pid = 0;
  auto p = ready_producer({}, pid);
  std::shared_ptr<Consumer> c;
  client->subscribe(ConsumerConfig{.topic = "t", .subscription = "s", .listener = [](Consumer&, const Message&) {}},
                    [&](auto r) { c = r.value(); });
  auto& l = *transport.links[0];
  answer_partitions(l, 0);
  answer_lookup_here(l);
  auto sub = take(l, T::SUBSCRIBE);
  success(l, sub.command.subscribe().request_id());
  EXPECT_TRUE(c);
  EXPECT_EQ(transport.links.size(), 1u);
}

TEST_F(ClientTest, ProducerSendsInOrderAndCompletesWithMessageIds) {
  make();
  std::uint64_t pid = 0;
  auto p = ready_producer({}, pid);
  auto& l = *transport.links[0];
  std::vector<MessageId> ids;
  for (int i = 0; i < 3; ++i) {
    p->send(OutgoingMessage{.payload = "m" + std::to_string(i), .key = "k"}, [&](Result<MessageId, Error> r) {
      ASSERT_TRUE(r.ok());
      ids.push_back(*r);
    });
  }
  for (std::uint64_t i = 0; i < 3; ++i) {
    auto s = take(l, T::SEND);
    EXPECT_EQ(s.command.send().sequence_id(), i);
    EXPECT_EQ(s.metadata.sequence_id(), i);
    EXPECT_EQ(s.metadata.producer_name(), "p-1");
    EXPECT_EQ(s.metadata.partition_key(), "k");
    EXPECT_EQ(s.payload, "m" + std::to_string(i));
  }
  receipt(l, pid, 0, 10);
  receipt(l, pid, 0, 10);  // a duplicate receipt is ignored
  receipt(l, pid, 1, 11);
  receipt(l, pid, 2, 12);
  ASSERT_EQ(ids.size(), 3u);
  EXPECT_EQ(ids[2].entry, 12u);
  EXPECT_EQ(ids[2].batch_index, -1);
  EXPECT_EQ(p->last_sequence_id(), 2);
  EXPECT_EQ(p->pending_messages(), 0u);
}

TEST_F(ClientTest, SendWindowHoldsBackAndQueueFullFails) {
  make();
  std::uint64_t pid = 0;
  auto p = ready_producer(ProducerConfig{.send_window = 2, .max_pending_messages = 3}, pid);
  auto& l = *transport.links[0];
  std::optional<Error> full;
  for (int i = 0; i < 4; ++i) {
    p->send(OutgoingMessage{.payload = "x"}, [&](Result<MessageId, Error> r) {
      if (!r.ok()) full = r.error();
    });
  }
  run();
  EXPECT_EQ(l.out.size(), 2u);
  ASSERT_TRUE(full);
  EXPECT_EQ(full->code, make_error_code(ClientErrc::producer_queue_full));
  l.out.clear();
  receipt(l, pid, 0, 1);
  EXPECT_EQ(take(l, T::SEND).command.send().sequence_id(), 2u);
}

TEST_F(ClientTest, ProducerResendsUnacknowledgedAfterCloseProducerWithSameSequenceIds) {
  make(ClientConfig{.backoff_initial = Millis(100)});
  std::uint64_t pid = 0;
  auto p = ready_producer({}, pid);
  auto& l = *transport.links[0];
  std::vector<std::int64_t> done;
  for (int i = 0; i < 3; ++i) {
    p->send(OutgoingMessage{.payload = "m" + std::to_string(i)},
            [&, i](Result<MessageId, Error> r) { if (r.ok()) done.push_back(i); });
  }
  run();
  l.out.clear();
  receipt(l, pid, 0, 1);
  proto::BaseCommand close;
  close.set_type(T::CLOSE_PRODUCER);
  close.mutable_close_producer()->set_producer_id(pid);
  close.mutable_close_producer()->set_request_id(99);
  feed(l, close);
  run();
  EXPECT_FALSE(p->connected());
  p->send(OutgoingMessage{.payload = "m3"}, [&](Result<MessageId, Error> r) { if (r.ok()) done.push_back(3); });
  advance(Millis(200));  // the backoff (100 ms +-20%)
  answer_lookup_here(l);
  auto q = take(l, T::PRODUCER);
  EXPECT_EQ(q.command.producer().producer_name(), "p-1");
  EXPECT_FALSE(q.command.producer().user_provided_producer_name());
  EXPECT_GT(q.command.producer().epoch(), 0u);
  producer_success(l, q, 0);
  for (std::uint64_t seq = 1; seq <= 3; ++seq) EXPECT_EQ(take(l, T::SEND).command.send().sequence_id(), seq);
  for (std::uint64_t seq = 1; seq <= 3; ++seq) receipt(l, pid, seq, 10 + seq);
  EXPECT_EQ(done, (std::vector<std::int64_t>{0, 1, 2, 3}));
}

TEST_F(ClientTest, ProducerReconnectsToANewConnectionAfterBrokerLoss) {
  make();
  std::uint64_t pid = 0;
  auto p = ready_producer({}, pid);
  auto& l = *transport.links[0];
  int ok = 0;
  p->send(OutgoingMessage{.payload = "a"}, [&](Result<MessageId, Error> r) { ok += r.ok(); });
  run();
  l.handler->on_closed("reset by peer");
  run();
  advance(Millis(200));
  ASSERT_EQ(transport.links.size(), 2u);
  auto& l2 = *transport.links[1];
  handshake(l2);
  answer_lookup_here(l2);
  auto q = take(l2, T::PRODUCER);
  producer_success(l2, q, -1);
  auto s = take(l2, T::SEND);
  EXPECT_EQ(s.command.send().sequence_id(), 0u);
  EXPECT_EQ(s.payload, "a");
  receipt(l2, pid, 0, 5);
  EXPECT_EQ(ok, 1);
}

TEST_F(ClientTest, FencedProducerFailsPendingForGood) {
  make();
  std::uint64_t pid = 0;
  std::optional<Error> gone;
  auto p = ready_producer(ProducerConfig{.access_mode = AccessMode::exclusive_with_fencing,
                                         .on_closed = [&](const Error& e) { gone = e; }},
                          pid);
  auto& l = *transport.links[0];
  std::optional<Error> err;
  p->send(OutgoingMessage{.payload = "a"}, [&](Result<MessageId, Error> r) { if (!r.ok()) err = r.error(); });
  take(l, T::SEND);
  proto::BaseCommand close;
  close.set_type(T::CLOSE_PRODUCER);
  close.mutable_close_producer()->set_producer_id(pid);
  close.mutable_close_producer()->set_request_id(1);
  feed(l, close);
  advance(Millis(200));
  answer_lookup_here(l);
  auto q = take(l, T::PRODUCER);
  EXPECT_EQ(q.command.producer().producer_access_mode(), proto::ExclusiveWithFencing);
  EXPECT_EQ(q.command.producer().topic_epoch(), 4u);  // the epoch of the first PRODUCER_SUCCESS
  proto::BaseCommand e;
  e.set_type(T::ERROR);
  e.mutable_error()->set_request_id(q.command.producer().request_id());
  e.mutable_error()->set_error(proto::ProducerFenced);
  e.mutable_error()->set_message("fenced");
  feed(l, e);
  run();
  ASSERT_TRUE(err);
  EXPECT_EQ(server_error_of(err->code), proto::ProducerFenced);
  ASSERT_TRUE(gone);  // told even without a pending send
  EXPECT_EQ(server_error_of(gone->code), proto::ProducerFenced);
  EXPECT_FALSE(p->connected());
}

TEST_F(ClientTest, BatchesAreCompressedAndAcknowledgedPerMessage) {
  make();
  std::uint64_t pid = 0;
  auto p = ready_producer(ProducerConfig{.batching_max_messages = 3, .compression = proto::ZSTD}, pid);
  auto& l = *transport.links[0];
  std::vector<MessageId> ids;
  for (int i = 0; i < 3; ++i) {
    p->send(OutgoingMessage{.payload = std::string(100, 'a' + i)}, [&](Result<MessageId, Error> r) { ids.push_back(*r); });
  }
  auto s = take(l, T::SEND);
  EXPECT_EQ(s.command.send().num_messages(), 3);
  EXPECT_EQ(s.command.send().highest_sequence_id(), 2u);
  EXPECT_EQ(s.metadata.compression(), proto::ZSTD);
  std::string plain;
  ASSERT_TRUE(decompress(proto::ZSTD, {reinterpret_cast<const std::uint8_t*>(s.payload.data()), s.payload.size()},
                         s.metadata.uncompressed_size(), 1 << 20, plain).ok());
  std::vector<BatchMessage> msgs;
  ASSERT_TRUE(parse_batch({reinterpret_cast<const std::uint8_t*>(plain.data()), plain.size()}, 3, msgs).ok());
  EXPECT_EQ(msgs[2].metadata.sequence_id(), 2u);
  receipt(l, pid, 0, 4);
  ASSERT_EQ(ids.size(), 3u);
  EXPECT_EQ(ids[1].batch_index, 1);
  EXPECT_EQ(ids[1].entry, 4u);
}

TEST_F(ClientTest, PartialBatchLeavesAfterTheDelay) {
  make();
  std::uint64_t pid = 0;
  auto p = ready_producer(ProducerConfig{.batching_max_messages = 10, .batching_max_delay = Millis(10)}, pid);
  auto& l = *transport.links[0];
  p->send(OutgoingMessage{.payload = "x"}, [](auto) {});
  run();
  EXPECT_TRUE(l.out.empty());
  advance(Millis(10));
  EXPECT_EQ(take(l, T::SEND).command.send().num_messages(), 1);
}

TEST_F(ClientTest, NoChecksumForBrokersBelowV6) {
  make();
  std::shared_ptr<Producer> p;
  client->create_producer(ProducerConfig{.topic = "t"}, [&](auto r) { p = r.value(); });
  run();
  auto& l = *transport.links[0];
  handshake(l, 5);
  answer_partitions(l, 0);
  answer_lookup_here(l);
  producer_success(l, take(l, T::PRODUCER));
  ASSERT_TRUE(p);
  p->send(OutgoingMessage{.payload = "x"}, [](auto) {});
  EXPECT_FALSE(take(l, T::SEND).has_checksum);
}

TEST_F(ClientTest, ReceiptFromTheFutureDropsTheConnectionAndEverythingIsResent) {
  make();
  std::uint64_t pid = 0;
  auto p = ready_producer({}, pid);
  auto& l = *transport.links[0];
  std::vector<int> ok;
  for (int i = 0; i < 2; ++i) p->send(OutgoingMessage{.payload = "x"}, [&, i](auto r) { if (r.ok()) ok.push_back(i); });
  run();
  l.out.clear();
  receipt(l, pid, 1, 9);  // sequence id 0 is still owed
  EXPECT_TRUE(l.closed);
  EXPECT_TRUE(ok.empty());
  advance(Millis(200));
  auto& l2 = *transport.links[1];
  handshake(l2);
  answer_lookup_here(l2);
  producer_success(l2, take(l2, T::PRODUCER));
  EXPECT_EQ(take(l2, T::SEND).command.send().sequence_id(), 0u);
  EXPECT_EQ(take(l2, T::SEND).command.send().sequence_id(), 1u);
  receipt(l2, pid, 0, 1);
  receipt(l2, pid, 1, 2);
  EXPECT_EQ(ok, (std::vector<int>{0, 1}));
}

TEST_F(ClientTest, WaitForExclusiveWaitsPastTheOperationTimeout) {
  make(ClientConfig{.operation_timeout = Millis(1000)});
  std::shared_ptr<Producer> p;
  client->create_producer(ProducerConfig{.topic = "t", .access_mode = AccessMode::wait_for_exclusive},
                          [&](auto r) { p = r.value(); });
  run();
  auto& l = *transport.links[0];
  handshake(l);
  answer_partitions(l, 0);
  answer_lookup_here(l);
  auto q = take(l, T::PRODUCER);
  EXPECT_EQ(q.command.producer().producer_access_mode(), proto::WaitForExclusive);
  proto::BaseCommand c;
  c.set_type(T::PRODUCER_SUCCESS);
  c.mutable_producer_success()->set_request_id(q.command.producer().request_id());
  c.mutable_producer_success()->set_producer_name("p-1");
  c.mutable_producer_success()->set_producer_ready(false);
  feed(l, c);
  advance(Millis(5000));  // PINGs answered below keep the connection; the request waits
  proto::BaseCommand pong;
  pong.set_type(T::PONG);
  pong.mutable_pong();
  feed(l, pong);
  advance(Millis(5000));
  EXPECT_FALSE(p);
  producer_success(l, q);
  EXPECT_TRUE(p);
}

// A first creation whose connection is lost before the broker answers its PRODUCER: tried again
// on the next connection by default; failed at once with retry_first_creation = false, and
// nothing asked again.
TEST_F(ClientTest, FirstCreationIsTriedAgainAfterALostConnectionUnlessToldNot) {
  for (const bool retry : {true, false}) {
    SCOPED_TRACE(retry ? "default" : "retry_first_creation = false");
    transport.links.clear();
    make();
    std::optional<Result<std::shared_ptr<Producer>, Error>> got;
    client->create_producer(
        ProducerConfig{.topic = "t", .access_mode = AccessMode::exclusive, .retry_first_creation = retry},
        [&](Result<std::shared_ptr<Producer>, Error> r) { got = std::move(r); });
    run();
    auto& l = *transport.links[0];
    handshake(l);
    answer_partitions(l, 0);
    answer_lookup_here(l);
    take(l, T::PRODUCER);
    l.handler->on_closed("reset by peer");
    run();
    advance(Millis(200));
    if (retry) {
      EXPECT_FALSE(got);
      ASSERT_EQ(transport.links.size(), 2u);
      auto& l2 = *transport.links[1];
      handshake(l2);
      answer_lookup_here(l2);
      producer_success(l2, take(l2, T::PRODUCER));
      ASSERT_TRUE(got);
      EXPECT_TRUE(got->ok());
    } else {
      ASSERT_TRUE(got);
      ASSERT_FALSE(got->ok());
      EXPECT_EQ(got->error().code, make_error_code(ClientErrc::disconnected));
      advance(Millis(5000));
      EXPECT_EQ(transport.links.size(), 1u) << "asked again on a new connection";
    }
    client.reset();
    run();
  }
}

TEST_F(ClientTest, ConnectTimesOutWithoutConnected) {
  make(ClientConfig{.connect_timeout = Millis(500)});
  std::optional<Error> err;
  client->lookup("t", [&](Result<std::string, Error> r) { err = r.error(); });
  run();
  transport.links[0]->handler->on_connected("");
  advance(Millis(500));
  ASSERT_TRUE(err);
  EXPECT_EQ(err->code, make_error_code(ClientErrc::timeout));
  EXPECT_TRUE(transport.links[0]->closed);
}

class ConsumerTest : public ClientTest {
protected:
  std::shared_ptr<Consumer> ready_consumer(ConsumerConfig cfg) {
    if (cfg.topic.empty()) cfg.topic = "t";
    if (cfg.subscription.empty()) cfg.subscription = "s";
    cfg.listener = [this](Consumer&, const Message& m) { got.push_back(m); };
    std::shared_ptr<Consumer> c;
    client->subscribe(cfg, [&](auto r) {
      ASSERT_TRUE(r.ok()) << r.error().to_string();
      c = r.value();
    });
    run();
    auto& l = *transport.links[0];
    handshake(l);
    answer_partitions(l, 0);
    answer_lookup_here(l);
    sub = take(l, T::SUBSCRIBE);
    consumer_id = sub.command.subscribe().consumer_id();
    success(l, sub.command.subscribe().request_id());
    return c;
  }
  void message(FakeLink& l, std::uint64_t entry, const std::string& payload, std::uint32_t redeliveries = 0) {
    proto::BaseCommand c;
    c.set_type(T::MESSAGE);
    c.mutable_message()->set_consumer_id(consumer_id);
    c.mutable_message()->mutable_message_id()->set_ledgerid(3);
    c.mutable_message()->mutable_message_id()->set_entryid(entry);
    c.mutable_message()->set_redelivery_count(redeliveries);
    proto::MessageMetadata m;
    m.set_producer_name("p");
    m.set_sequence_id(entry);
    m.set_publish_time(1);
    std::string bytes;
    encode_payload_command(c, m, {reinterpret_cast<const std::uint8_t*>(payload.data()), payload.size()}, bytes);
    l.handler->on_bytes({reinterpret_cast<const std::uint8_t*>(bytes.data()), bytes.size()});
  }
  void batch_message(FakeLink& l, std::uint64_t entry, int n) {
    proto::BaseCommand c;
    c.set_type(T::MESSAGE);
    c.mutable_message()->set_consumer_id(consumer_id);
    c.mutable_message()->mutable_message_id()->set_ledgerid(3);
    c.mutable_message()->mutable_message_id()->set_entryid(entry);
    std::string batch;
    for (int i = 0; i < n; ++i) {
      proto::SingleMessageMetadata s;
      s.set_partition_key("k" + std::to_string(i));
      const std::string payload = "b" + std::to_string(i);
      append_batch_message(s, {reinterpret_cast<const std::uint8_t*>(payload.data()), payload.size()}, batch);
    }
    std::string compressed;
    ASSERT_TRUE(compress(proto::LZ4, {reinterpret_cast<const std::uint8_t*>(batch.data()), batch.size()}, compressed).ok());
    proto::MessageMetadata m;
    m.set_producer_name("p");
    m.set_sequence_id(0);
    m.set_publish_time(1);
    m.set_num_messages_in_batch(n);
    m.set_compression(proto::LZ4);
    m.set_uncompressed_size(static_cast<std::uint32_t>(batch.size()));
    std::string bytes;
    encode_payload_command(c, m, {reinterpret_cast<const std::uint8_t*>(compressed.data()), compressed.size()}, bytes);
    l.handler->on_bytes({reinterpret_cast<const std::uint8_t*>(bytes.data()), bytes.size()});
  }

  std::vector<Message> got;
  Sent sub;
  std::uint64_t consumer_id = 0;
};

TEST_F(ConsumerTest, SubscribeAsksForPermitsAndRefillsAtHalfTheQueue) {
  make();
  auto c = ready_consumer(ConsumerConfig{.type = proto::CommandSubscribe::Failover,
                                         .initial_position = proto::CommandSubscribe::Earliest, .receiver_queue = 4});
  auto& l = *transport.links[0];
  EXPECT_EQ(sub.command.subscribe().subtype(), proto::CommandSubscribe::Failover);
  EXPECT_EQ(sub.command.subscribe().initialposition(), proto::CommandSubscribe::Earliest);
  EXPECT_EQ(take(l, T::FLOW).command.flow().messagepermits(), 4u);
  message(l, 0, "a");
  message(l, 1, "b", 2);
  run();
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(got[1].payload, "b");
  EXPECT_EQ(got[1].redelivery_count, 2u);
  EXPECT_EQ(got[1].id.entry, 1u);
  EXPECT_EQ(take(l, T::FLOW).command.flow().messagepermits(), 2u);
}

TEST_F(ConsumerTest, PausedConsumerHoldsMessagesAndPermits) {
  make();
  auto c = ready_consumer(ConsumerConfig{.receiver_queue = 2});
  auto& l = *transport.links[0];
  take(l, T::FLOW);
  c->pause();
  message(l, 0, "a");
  run();
  EXPECT_TRUE(got.empty());
  EXPECT_TRUE(l.out.empty());
  c->resume();
  run();
  ASSERT_EQ(got.size(), 1u);
  take(l, T::FLOW);
}

TEST_F(ConsumerTest, BatchIsUnpackedAndAckedWhenAllOfItIs) {
  make();
  auto c = ready_consumer(ConsumerConfig{.type = proto::CommandSubscribe::Shared});
  auto& l = *transport.links[0];
  take(l, T::FLOW);
  batch_message(l, 5, 3);
  run();
  ASSERT_EQ(got.size(), 3u);
  EXPECT_EQ(got[2].payload, "b2");
  EXPECT_EQ(got[2].key, "k2");
  EXPECT_EQ(got[2].id.batch_index, 2);
  int acked = 0;
  c->acknowledge(got[0].id, [&](auto r) { acked += r.ok(); });
  c->acknowledge(got[2].id, [&](auto r) { acked += r.ok(); });
  run();
  EXPECT_TRUE(l.out.empty());  // not all of the batch yet
  c->acknowledge(got[1].id, [&](auto r) { acked += r.ok(); });
  auto ack = take(l, T::ACK);
  EXPECT_EQ(ack.command.ack().ack_type(), proto::CommandAck::Individual);
  ASSERT_EQ(ack.command.ack().message_id_size(), 1);
  EXPECT_EQ(ack.command.ack().message_id(0).entryid(), 5u);
  EXPECT_EQ(ack.command.ack().message_id(0).ack_set_size(), 0);
  EXPECT_EQ(acked, 3);
}

TEST_F(ConsumerTest, BatchIndexAcksCarryTheAckSetAtOnce) {
  make();
  auto c = ready_consumer(ConsumerConfig{.type = proto::CommandSubscribe::Shared, .batch_index_ack = true});
  auto& l = *transport.links[0];
  take(l, T::FLOW);
  batch_message(l, 5, 3);
  run();
  ASSERT_EQ(got.size(), 3u);
  c->acknowledge(got[1].id, [](auto) {});
  auto ack = take(l, T::ACK);
  ASSERT_EQ(ack.command.ack().message_id_size(), 1);
  auto id = ack.command.ack().message_id(0);
  EXPECT_EQ(id.entryid(), 5u);
  ASSERT_EQ(id.ack_set_size(), 1);
  EXPECT_EQ(id.ack_set(0), 0b101);  // indexes 0 and 2 still to acknowledge
  EXPECT_EQ(id.batch_size(), 3);
  c->acknowledge(got[0].id, [](auto) {});
  ack = take(l, T::ACK);
  ASSERT_EQ(ack.command.ack().message_id(0).ack_set_size(), 1);
  EXPECT_EQ(ack.command.ack().message_id(0).ack_set(0), 0b100);
  c->acknowledge(got[2].id, [](auto) {});
  ack = take(l, T::ACK);  // the last one: the whole entry, no ack_set
  EXPECT_EQ(ack.command.ack().message_id(0).entryid(), 5u);
  EXPECT_EQ(ack.command.ack().message_id(0).ack_set_size(), 0);
  EXPECT_TRUE(l.out.empty());
}

TEST_F(ConsumerTest, CumulativeBatchIndexAckNamesTheEntryWithItsAckSet) {
  make();
  auto c = ready_consumer(ConsumerConfig{.batch_index_ack = true});
  auto& l = *transport.links[0];
  take(l, T::FLOW);
  batch_message(l, 5, 4);
  run();
  ASSERT_EQ(got.size(), 4u);
  c->acknowledge_cumulative(got[1].id, [](auto) {});
  auto ack = take(l, T::ACK);
  EXPECT_EQ(ack.command.ack().ack_type(), proto::CommandAck::Cumulative);
  auto id = ack.command.ack().message_id(0);
  EXPECT_EQ(id.entryid(), 5u);
  ASSERT_EQ(id.ack_set_size(), 1);
  EXPECT_EQ(id.ack_set(0), 0b1100);
  c->acknowledge_cumulative(got[3].id, [](auto) {});
  ack = take(l, T::ACK);  // the end of the batch: the entry itself
  EXPECT_EQ(ack.command.ack().message_id(0).entryid(), 5u);
  EXPECT_EQ(ack.command.ack().message_id(0).ack_set_size(), 0);
}

TEST_F(ConsumerTest, AcksMadeJustBeforeCloseLeaveBeforeCloseConsumer) {
  make();
  auto c = ready_consumer({});
  auto& l = *transport.links[0];
  take(l, T::FLOW);
  message(l, 0, "a");
  run();
  ASSERT_EQ(got.size(), 1u);
  bool acked = false;
  c->acknowledge(got[0].id, [&](auto r) { acked = r.ok(); });
  c->close([](auto) {});
  auto ack = take(l, T::ACK);
  EXPECT_EQ(ack.command.ack().message_id(0).entryid(), 0u);
  take(l, T::CLOSE_CONSUMER);
  run();
  EXPECT_TRUE(acked);
}

TEST_F(ConsumerTest, AcksMadeJustBeforeRedeliverLeaveBeforeIt) {
  make();
  auto c = ready_consumer({});
  auto& l = *transport.links[0];
  take(l, T::FLOW);
  message(l, 0, "a");
  message(l, 1, "b");
  run();
  ASSERT_EQ(got.size(), 2u);
  c->acknowledge(got[1].id, [](auto) {});
  c->redeliver_unacknowledged();
  // Without the ack first, the broker would send the acknowledged entry 1 again.
  auto ack = take(l, T::ACK);
  EXPECT_EQ(ack.command.ack().message_id(0).entryid(), 1u);
  take(l, T::REDELIVER_UNACKNOWLEDGED_MESSAGES);
}

TEST_F(ConsumerTest, AckReceiptsWaitForAckResponse) {
  make();
  auto c = ready_consumer(ConsumerConfig{.ack_receipts = true});
  auto& l = *transport.links[0];
  take(l, T::FLOW);
  message(l, 0, "a");
  run();
  bool done = false;
  c->acknowledge_cumulative(got[0].id, [&](auto r) { done = r.ok(); });
  auto ack = take(l, T::ACK);
  EXPECT_EQ(ack.command.ack().ack_type(), proto::CommandAck::Cumulative);
  ASSERT_TRUE(ack.command.ack().has_request_id());
  run();
  EXPECT_FALSE(done);
  proto::BaseCommand r;
  r.set_type(T::ACK_RESPONSE);
  r.mutable_ackresponse()->set_consumer_id(consumer_id);
  r.mutable_ackresponse()->set_request_id(ack.command.ack().request_id());
  feed(l, r);
  run();
  EXPECT_TRUE(done);
}

TEST_F(ConsumerTest, CumulativeAckIsRefusedOnShared) {
  make();
  auto c = ready_consumer(ConsumerConfig{.type = proto::CommandSubscribe::Key_Shared});
  EXPECT_TRUE(sub.command.subscribe().has_keysharedmeta());
  std::optional<Error> err;
  c->acknowledge_cumulative(MessageId{3, 0}, [&](auto r) { err = r.error(); });
  run();
  ASSERT_TRUE(err);
  EXPECT_EQ(err->code, make_error_code(ClientErrc::invalid_argument));
}

TEST_F(ConsumerTest, NegativeAckRedeliversAfterTheDelay) {
  make();
  auto c = ready_consumer(ConsumerConfig{.type = proto::CommandSubscribe::Shared, .negative_ack_delay = Millis(500)});
  auto& l = *transport.links[0];
  take(l, T::FLOW);
  message(l, 4, "a");
  run();
  c->negative_acknowledge(got[0].id);
  advance(Millis(499));
  EXPECT_TRUE(l.out.empty());
  advance(Millis(1));
  auto r = take(l, T::REDELIVER_UNACKNOWLEDGED_MESSAGES);
  ASSERT_EQ(r.command.redeliverunacknowledgedmessages().message_ids_size(), 1);
  EXPECT_EQ(r.command.redeliverunacknowledgedmessages().message_ids(0).entryid(), 4u);
}

TEST_F(ConsumerTest, ResubscribesAfterCloseConsumer) {
  make();
  auto c = ready_consumer({});
  auto& l = *transport.links[0];
  take(l, T::FLOW);
  proto::BaseCommand close;
  close.set_type(T::CLOSE_CONSUMER);
  close.mutable_close_consumer()->set_consumer_id(consumer_id);
  close.mutable_close_consumer()->set_request_id(5);
  feed(l, close);
  run();
  EXPECT_FALSE(c->connected());
  advance(Millis(200));
  answer_lookup_here(l);
  auto again = take(l, T::SUBSCRIBE);
  EXPECT_EQ(again.command.subscribe().consumer_id(), consumer_id);
  EXPECT_EQ(again.command.subscribe().subscription(), "s");
  success(l, again.command.subscribe().request_id());
  EXPECT_TRUE(c->connected());
  EXPECT_EQ(take(l, T::FLOW).command.flow().messagepermits(), 1000u);
}

TEST_F(ConsumerTest, PausedAcrossAResubscribeAsksForTheWholeQueueOnResume) {
  make();
  auto c = ready_consumer(ConsumerConfig{.receiver_queue = 10});
  auto& l = *transport.links[0];
  EXPECT_EQ(take(l, T::FLOW).command.flow().messagepermits(), 10u);
  c->pause();
  proto::BaseCommand close;
  close.set_type(T::CLOSE_CONSUMER);
  close.mutable_close_consumer()->set_consumer_id(consumer_id);
  close.mutable_close_consumer()->set_request_id(5);
  feed(l, close);
  run();
  advance(Millis(200));
  answer_lookup_here(l);
  auto again = take(l, T::SUBSCRIBE);
  success(l, again.command.subscribe().request_id());
  EXPECT_TRUE(c->connected());
  run();
  for (const auto& frame : l.out) EXPECT_NE(frame.command.type(), T::FLOW) << "a FLOW while paused";
  c->resume();
  run();
  EXPECT_EQ(take(l, T::FLOW).command.flow().messagepermits(), 10u);
}

TEST_F(ConsumerTest, ReaderSkipsItsStartAndResumesAfterTheLastDelivered) {
  make();
  std::shared_ptr<Consumer> r;
  client->create_reader(ReaderConfig{.topic = "t", .start_message_id = MessageId{3, 1},
                                     .listener = [this](Consumer&, const Message& m) { got.push_back(m); }},
                        [&](auto x) { r = x.value(); });
  run();
  auto& l = *transport.links[0];
  handshake(l);
  answer_partitions(l, 0);
  answer_lookup_here(l);
  auto s = take(l, T::SUBSCRIBE);
  consumer_id = s.command.subscribe().consumer_id();
  EXPECT_FALSE(s.command.subscribe().durable());
  EXPECT_EQ(s.command.subscribe().start_message_id().entryid(), 1u);
  success(l, s.command.subscribe().request_id());
  take(l, T::FLOW);
  message(l, 1, "start");  // the broker sends the start message; the reader drops it
  message(l, 2, "next");
  run();
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].payload, "next");
  l.handler->on_closed("gone");
  advance(Millis(200));
  auto& l2 = *transport.links[1];
  handshake(l2);
  answer_lookup_here(l2);
  auto s2 = take(l2, T::SUBSCRIBE);
  EXPECT_EQ(s2.command.subscribe().start_message_id().entryid(), 2u);
}

TEST_F(ConsumerTest, ReaderFromEarliestKeepsEverything) {
  make();
  client->create_reader(ReaderConfig{.topic = "t", .start_message_id = kEarliest,
                                     .listener = [this](Consumer&, const Message& m) { got.push_back(m); }},
                        [](auto) {});
  run();
  auto& l = *transport.links[0];
  handshake(l);
  answer_partitions(l, 0);
  answer_lookup_here(l);
  auto s = take(l, T::SUBSCRIBE);
  consumer_id = s.command.subscribe().consumer_id();
  EXPECT_TRUE(is_earliest(from_proto(s.command.subscribe().start_message_id())));
  success(l, s.command.subscribe().request_id());
  message(l, 0, "first");
  run();
  ASSERT_EQ(got.size(), 1u);
}

TEST_F(ConsumerTest, SecondExclusiveConsumerGetsConsumerBusy) {
  make();
  std::optional<Error> err;
  client->subscribe(ConsumerConfig{.topic = "t", .subscription = "s", .listener = [](Consumer&, const Message&) {}},
                    [&](auto r) { err = r.error(); });
  run();
  auto& l = *transport.links[0];
  handshake(l);
  answer_partitions(l, 0);
  answer_lookup_here(l);
  auto s = take(l, T::SUBSCRIBE);
  proto::BaseCommand e;
  e.set_type(T::ERROR);
  e.mutable_error()->set_request_id(s.command.subscribe().request_id());
  e.mutable_error()->set_error(proto::ConsumerBusy);
  e.mutable_error()->set_message("Exclusive consumer is already connected");
  feed(l, e);
  run();
  ASSERT_TRUE(err);
  EXPECT_EQ(server_error_of(err->code), proto::ConsumerBusy);
}

TEST_F(ConsumerTest, AcksOfOneRoundLeaveAsOneCommand) {
  make();
  auto c = ready_consumer({});
  auto& l = *transport.links[0];
  take(l, T::FLOW);
  message(l, 0, "a");
  message(l, 1, "b");
  run();
  ASSERT_EQ(got.size(), 2u);
  c->acknowledge(got[0].id, [](auto) {});
  c->acknowledge(got[1].id, [](auto) {});
  auto ack = take(l, T::ACK);
  EXPECT_EQ(ack.command.ack().message_id_size(), 2);
  EXPECT_TRUE(l.out.empty());
}

TEST_F(ConsumerTest, AckSetAndStartSkipMessagesAndReturnTheirPermits) {
  make();
  auto c = ready_consumer(ConsumerConfig{.receiver_queue = 4});
  auto& l = *transport.links[0];
  take(l, T::FLOW);
  // A batch of 3 whose message 1 the broker knows as acknowledged.
  proto::BaseCommand m;
  m.set_type(T::MESSAGE);
  m.mutable_message()->set_consumer_id(consumer_id);
  m.mutable_message()->mutable_message_id()->set_ledgerid(3);
  m.mutable_message()->mutable_message_id()->set_entryid(0);
  auto set = ack_set_all_unacked(3);
  ack_set_mark_acked(set, 1);
  for (auto w : set) m.mutable_message()->add_ack_set(w);
  std::string batch;
  for (int i = 0; i < 3; ++i) {
    proto::SingleMessageMetadata s;
    const std::string payload = "b" + std::to_string(i);
    append_batch_message(s, {reinterpret_cast<const std::uint8_t*>(payload.data()), payload.size()}, batch);
  }
  proto::MessageMetadata meta;
  meta.set_producer_name("p");
  meta.set_sequence_id(0);
  meta.set_publish_time(1);
  meta.set_num_messages_in_batch(3);
  std::string bytes;
  encode_payload_command(m, meta, {reinterpret_cast<const std::uint8_t*>(batch.data()), batch.size()}, bytes);
  l.handler->on_bytes({reinterpret_cast<const std::uint8_t*>(bytes.data()), bytes.size()});
  run();
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(got[0].payload, "b0");
  EXPECT_EQ(got[1].payload, "b2");
  // The skipped message counts at once: with the first one handed out, half the queue (2) is used.
  EXPECT_EQ(take(l, T::FLOW).command.flow().messagepermits(), 2u);
}

TEST_F(ConsumerTest, GetLastMessageIdAndSeek) {
  make();
  auto c = ready_consumer({});
  auto& l = *transport.links[0];
  take(l, T::FLOW);
  std::optional<MessageId> last;
  c->get_last_message_id([&](auto r) { last = *r; });
  auto q = take(l, T::GET_LAST_MESSAGE_ID);
  proto::BaseCommand a;
  a.set_type(T::GET_LAST_MESSAGE_ID_RESPONSE);
  a.mutable_getlastmessageidresponse()->set_request_id(q.command.getlastmessageid().request_id());
  a.mutable_getlastmessageidresponse()->mutable_last_message_id()->set_ledgerid(3);
  a.mutable_getlastmessageidresponse()->mutable_last_message_id()->set_entryid(9);
  feed(l, a);
  run();
  ASSERT_TRUE(last);
  EXPECT_EQ(last->entry, 9u);
  bool sought = false;
  c->seek(kEarliest, [&](auto r) { sought = r.ok(); });
  auto sk = take(l, T::SEEK);
  success(l, sk.command.seek().request_id());
  EXPECT_TRUE(sought);
}

TEST_F(ConsumerTest, PartitionsAddedLaterAreSubscribedTo) {
  make();
  std::shared_ptr<Consumer> c;
  client->subscribe(ConsumerConfig{.topic = "pt", .subscription = "s",
                                   .listener = [this](Consumer&, const Message& m) { got.push_back(m); },
                                   .partitions_update_interval = Millis(5'000)},
                    [&](auto r) { c = r.value(); });
  run();
  auto& l = *transport.links[0];
  handshake(l);
  answer_partitions(l, 1);
  answer_lookup_here(l);
  success(l, take(l, T::SUBSCRIBE).command.subscribe().request_id());
  take(l, T::FLOW);
  ASSERT_TRUE(c);
  EXPECT_EQ(c->topics().size(), 1u);
  advance(Millis(4'000));
  EXPECT_TRUE(l.out.empty());
  advance(Millis(1'000));
  answer_partitions(l, 1);  // unchanged
  EXPECT_TRUE(l.out.empty());
  advance(Millis(5'000));
  answer_partitions(l, 3);
  answer_lookup_here(l);
  answer_lookup_here(l);
  auto s1 = take(l, T::SUBSCRIBE);
  auto s2 = take(l, T::SUBSCRIBE);
  EXPECT_EQ(s1.command.subscribe().topic(), "persistent://public/default/pt-partition-1");
  EXPECT_EQ(s2.command.subscribe().topic(), "persistent://public/default/pt-partition-2");
  success(l, s1.command.subscribe().request_id());
  success(l, s2.command.subscribe().request_id());
  EXPECT_EQ(c->topics().size(), 3u);
  consumer_id = s2.command.subscribe().consumer_id();
  message(l, 0, "new");
  run();
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].id.partition, 2);
  c->close([](auto) {});
  run();
  l.out.clear();
  advance(Millis(10'000));
  EXPECT_TRUE(l.out.empty());  // no more checks once closed
}

TEST_F(ClientTest, PartitionedProducerPicksUpNewPartitions) {
  make();
  std::shared_ptr<Producer> p;
  client->create_producer({.topic = "pt", .partitions_update_interval = Millis(5'000)},
                          [&](auto r) { p = r.value(); });
  run();
  auto& l = *transport.links[0];
  handshake(l);
  answer_partitions(l, 1);
  answer_lookup_here(l);
  producer_success(l, take(l, T::PRODUCER));
  ASSERT_TRUE(p);
  advance(Millis(5'000));
  answer_partitions(l, 2);
  answer_lookup_here(l);
  auto q = take(l, T::PRODUCER);
  EXPECT_EQ(q.command.producer().topic(), "persistent://public/default/pt-partition-1");
  const auto id1 = q.command.producer().producer_id();
  producer_success(l, q);
  // Round-robin now reaches the new partition.
  std::set<std::uint64_t> producers;
  for (int i = 0; i < 2; ++i) p->send({.payload = "x"}, [](auto) {});
  run();
  while (!l.out.empty()) {
    auto s = take(l, T::SEND);
    producers.insert(s.command.send().producer_id());
  }
  EXPECT_EQ(producers.size(), 2u);
  EXPECT_TRUE(producers.count(id1));
}

TEST_F(ConsumerTest, PartitionedTopicSubscribesEveryPartition) {
  make();
  std::shared_ptr<Consumer> c;
  client->subscribe(ConsumerConfig{.topic = "pt", .subscription = "s",
                                   .listener = [this](Consumer&, const Message& m) { got.push_back(m); }},
                    [&](auto r) { c = r.value(); });
  run();
  auto& l = *transport.links[0];
  handshake(l);
  answer_partitions(l, 2);
  answer_lookup_here(l);
  answer_lookup_here(l);
  auto s0 = take(l, T::SUBSCRIBE);
  auto s1 = take(l, T::SUBSCRIBE);
  EXPECT_EQ(s0.command.subscribe().topic(), "persistent://public/default/pt-partition-0");
  EXPECT_EQ(s1.command.subscribe().topic(), "persistent://public/default/pt-partition-1");
  success(l, s0.command.subscribe().request_id());
  success(l, s1.command.subscribe().request_id());
  ASSERT_TRUE(c);
  EXPECT_EQ(c->topics().size(), 2u);
  consumer_id = s1.command.subscribe().consumer_id();
  message(l, 0, "x");
  run();
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].id.partition, 1);
  EXPECT_EQ(got[0].topic, "persistent://public/default/pt-partition-1");
  l.out.clear();
  c->acknowledge(got[0].id, [](auto) {});
  auto ack = take(l, T::ACK);
  EXPECT_EQ(ack.command.ack().consumer_id(), consumer_id);
}

TEST_F(ConsumerTest, PatternPicksUpNewTopicsByPolling) {
  make();
  std::shared_ptr<Consumer> c;
  client->subscribe(ConsumerConfig{.topics_pattern = "persistent://public/default/p-.*",
                                   .pattern_poll_interval = Millis(1000), .subscription = "s",
                                   .listener = [](Consumer&, const Message&) {}},
                    [&](auto r) { c = r.value(); });
  run();
  auto& l = *transport.links[0];
  handshake(l);
  auto list = [&](std::vector<std::string> topics) {
    auto q = take(l, T::GET_TOPICS_OF_NAMESPACE);
    EXPECT_EQ(q.command.gettopicsofnamespace().namespace_(), "public/default");
    answer_topics(l, q, topics);
  };
  list({"persistent://public/default/p-1", "persistent://public/default/other"});
  answer_lookup_here(l);
  auto s = take(l, T::SUBSCRIBE);
  EXPECT_EQ(s.command.subscribe().topic(), "persistent://public/default/p-1");
  success(l, s.command.subscribe().request_id());
  ASSERT_TRUE(c);
  take(l, T::FLOW);
  advance(Millis(1000));
  list({"persistent://public/default/p-1", "persistent://public/default/p-2"});
  answer_lookup_here(l);
  auto s2 = take(l, T::SUBSCRIBE);
  EXPECT_EQ(s2.command.subscribe().topic(), "persistent://public/default/p-2");
  success(l, s2.command.subscribe().request_id());
  EXPECT_EQ(c->topics().size(), 2u);
}

TEST_F(ConsumerTest, PatternWatchesTheTopicListWhereTheBrokerCan) {
  make();
  std::shared_ptr<Consumer> c;
  client->subscribe(ConsumerConfig{.topics_pattern = "persistent://public/default/p-.*", .subscription = "s",
                                   .listener = [](Consumer&, const Message&) {}},
                    [&](auto r) { c = r.value(); });
  run();
  auto& l = *transport.links[0];
  handshake(l, 20, true);
  answer_topics(l, take_any(l, T::GET_TOPICS_OF_NAMESPACE), {"persistent://public/default/p-1"});
  answer_lookup_here(l);
  auto s1 = take_any(l, T::SUBSCRIBE);
  success(l, s1.command.subscribe().request_id());
  take_any(l, T::FLOW);
  ASSERT_TRUE(c);
  auto w = take_any(l, T::WATCH_TOPIC_LIST);
  EXPECT_EQ(w.command.watchtopiclist().namespace_(), "public/default");
  EXPECT_EQ(w.command.watchtopiclist().topics_pattern(), "persistent://public/default/p-.*");
  answer_watch(l, w, {"persistent://public/default/p-1"});
  // Listed once more now that the watcher is up (nothing new here; the next test has a topic
  // that only this listing finds), and p-1 is consumed already: nothing else is asked.
  answer_topics(l, take_any(l, T::GET_TOPICS_OF_NAMESPACE), {"persistent://public/default/p-1"});
  EXPECT_TRUE(l.out.empty());
  proto::BaseCommand up;
  up.set_type(T::WATCH_TOPIC_UPDATE);
  up.mutable_watchtopicupdate()->set_watcher_id(w.command.watchtopiclist().watcher_id());
  up.mutable_watchtopicupdate()->add_new_topics("persistent://public/default/p-2");
  up.mutable_watchtopicupdate()->add_new_topics("persistent://public/default/other");
  up.mutable_watchtopicupdate()->set_topics_hash("h2");
  feed(l, up);
  run();
  answer_lookup_here(l);  // no poll needed: the update alone subscribes
  auto s2 = take_any(l, T::SUBSCRIBE);
  EXPECT_EQ(s2.command.subscribe().topic(), "persistent://public/default/p-2");
  success(l, s2.command.subscribe().request_id());
  EXPECT_EQ(c->topics().size(), 2u);
  bool closed = false;
  c->close([&](auto r) { closed = r.ok(); });
  auto wc = take_any(l, T::WATCH_TOPIC_LIST_CLOSE);
  EXPECT_EQ(wc.command.watchtopiclistclose().watcher_id(), w.command.watchtopiclist().watcher_id());
}

// A topic created while the watcher was being registered: the broker's WATCH_TOPIC_LIST_SUCCESS
// lists only p-1 and no WATCH_TOPIC_UPDATE ever names p-2 (Apache Pulsar listed before its
// watcher listened); the listing made once the watcher is up finds it.
TEST_F(ConsumerTest, PatternListsAgainOnceTheWatcherIsUp) {
  make();
  std::shared_ptr<Consumer> c;
  client->subscribe(ConsumerConfig{.topics_pattern = "persistent://public/default/p-.*", .subscription = "s",
                                   .listener = [](Consumer&, const Message&) {}},
                    [&](auto r) { c = r.value(); });
  run();
  auto& l = *transport.links[0];
  handshake(l, 20, true);
  auto answer_list = [&](const std::vector<std::string>& topics) {
    answer_topics(l, take_any(l, T::GET_TOPICS_OF_NAMESPACE), topics);
  };
  answer_list({"persistent://public/default/p-1"});
  answer_lookup_here(l);
  auto s1 = take_any(l, T::SUBSCRIBE);
  success(l, s1.command.subscribe().request_id());
  take_any(l, T::FLOW);
  ASSERT_TRUE(c);
  auto w = take_any(l, T::WATCH_TOPIC_LIST);
  answer_watch(l, w, {"persistent://public/default/p-1"});
  answer_list({"persistent://public/default/p-1", "persistent://public/default/p-2"});
  answer_lookup_here(l);
  auto s2 = take_any(l, T::SUBSCRIBE);
  EXPECT_EQ(s2.command.subscribe().topic(), "persistent://public/default/p-2");
  success(l, s2.command.subscribe().request_id());
  EXPECT_EQ(c->topics().size(), 2u);
}

// The watcher's success while a periodic listing is under way: that listing may have been made
// before the watcher listened, so one more follows its answer.
TEST_F(ConsumerTest, PatternListsAgainAfterAListingUnderWayWhenTheWatcherIsUp) {
  make();
  std::shared_ptr<Consumer> c;
  client->subscribe(ConsumerConfig{.topics_pattern = "persistent://public/default/p-.*",
                                   .pattern_poll_interval = Millis(1000), .subscription = "s",
                                   .listener = [](Consumer&, const Message&) {}},
                    [&](auto r) { c = r.value(); });
  run();
  auto& l = *transport.links[0];
  handshake(l, 20, true);
  answer_topics(l, take_any(l, T::GET_TOPICS_OF_NAMESPACE), {"persistent://public/default/p-1"});
  answer_lookup_here(l);
  auto s1 = take_any(l, T::SUBSCRIBE);
  success(l, s1.command.subscribe().request_id());
  take_any(l, T::FLOW);
  ASSERT_TRUE(c);
  auto w = take_any(l, T::WATCH_TOPIC_LIST);
  advance(Millis(1000));  // the periodic listing starts before the watcher is answered
  auto periodic = take_any(l, T::GET_TOPICS_OF_NAMESPACE);
  answer_watch(l, w, {"persistent://public/default/p-1"});
  EXPECT_TRUE(l.out.empty());  // one listing at a time
  answer_topics(l, periodic, {"persistent://public/default/p-1"});
  answer_topics(l, take_any(l, T::GET_TOPICS_OF_NAMESPACE),
              {"persistent://public/default/p-1", "persistent://public/default/p-2"});
  answer_lookup_here(l);
  auto s2 = take_any(l, T::SUBSCRIBE);
  EXPECT_EQ(s2.command.subscribe().topic(), "persistent://public/default/p-2");
  success(l, s2.command.subscribe().request_id());
  EXPECT_EQ(c->topics().size(), 2u);
}

TEST_F(ClientTest, CloseCompletesPendingSendsWithClosed) {
  make();
  std::uint64_t pid = 0;
  auto p = ready_producer({}, pid);
  auto& l = *transport.links[0];
  std::optional<Error> err;
  p->send(OutgoingMessage{.payload = "a"}, [&](auto r) { if (!r.ok()) err = r.error(); });
  bool closed = false;
  client->close([&](auto r) { closed = r.ok(); });
  run();
  ASSERT_TRUE(err);
  EXPECT_EQ(err->code, make_error_code(ClientErrc::closed));
  take(l, T::SEND);
  auto cp = take(l, T::CLOSE_PRODUCER);
  success(l, cp.command.close_producer().request_id());
  EXPECT_TRUE(closed);
  EXPECT_TRUE(l.closed);
}

}  // namespace
}  // namespace mop::pulsar::client
