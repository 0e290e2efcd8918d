#include "loadgen/options.hpp"

#include <gtest/gtest.h>

namespace mop::loadgen {
namespace {

Options ok(std::vector<std::string> args) {
  auto r = parse_options(args);
  if (!r.ok()) ADD_FAILURE() << r.error();
  return r.ok() ? r.value() : Options{};
}

std::string bad(std::vector<std::string> args) {
  auto r = parse_options(args);
  EXPECT_FALSE(r.ok());
  return r.ok() ? "" : r.error();
}

TEST(Options, Defaults) {
  auto o = ok({"pubsub"});
  EXPECT_EQ(o.mode, Mode::pubsub);
  EXPECT_EQ(o.host, "127.0.0.1");
  EXPECT_EQ(o.port, 1883);
  EXPECT_EQ(o.version, 4);
  EXPECT_EQ(o.qos, 0);
  EXPECT_EQ(o.size, 64u);
  EXPECT_EQ(o.publishers, 1u);
  EXPECT_EQ(o.subscribers, 1u);
  EXPECT_EQ(o.threads, 1u);
  EXPECT_TRUE(o.clean);
  EXPECT_FALSE(o.json);
  EXPECT_FALSE(o.duration_given);
}

TEST(Options, Tls) {
  EXPECT_FALSE(ok({"pubsub"}).tls);
  EXPECT_TRUE(ok({"pubsub", "--tls"}).tls);
  auto o = ok({"pulsar-pubsub", "--cafile", "ca.pem", "--cert", "c.pem", "--key", "c.key"});
  EXPECT_TRUE(o.tls);
  EXPECT_EQ(o.cafile, "ca.pem");
  EXPECT_EQ(o.cert, "c.pem");
  EXPECT_EQ(o.key, "c.key");
  EXPECT_NE(bad({"pubsub", "--cafile="}).find("--cafile"), std::string::npos);
}

TEST(Options, WebSocket) {
  EXPECT_FALSE(ok({"pubsub"}).ws);
  auto o = ok({"pubsub", "--ws"});
  EXPECT_TRUE(o.ws);
  EXPECT_FALSE(o.tls);
  EXPECT_EQ(o.ws_path, "/mqtt");
  o = ok({"conn", "--ws-path", "/ws", "--cafile", "ca.pem"});  // wss
  EXPECT_TRUE(o.ws);
  EXPECT_TRUE(o.tls);
  EXPECT_EQ(o.ws_path, "/ws");
  EXPECT_EQ(o.ws_max_message, 32u * 1024);
  EXPECT_EQ(ok({"pubsub", "--ws", "--ws-max-message", "4096"}).ws_max_message, 4096u);
  EXPECT_NE(bad({"pubsub", "--ws", "--ws-max-message", "8"}).find("--ws-max-message"), std::string::npos);
  EXPECT_NE(bad({"pubsub", "--ws-path", "mqtt"}).find("--ws-path"), std::string::npos);
  EXPECT_NE(bad({"pulsar-pubsub", "--ws"}).find("MQTT modes only"), std::string::npos);
}

TEST(Options, EverythingParses) {
  auto o = ok({"pubsub", "--host", "localhost", "--port=1884", "-V", "3", "--qos", "2", "--size", "1024",
               "--rate", "10000", "--window", "50", "--duration", "5", "--count", "1000", "-P", "16", "-S", "32",
               "-T", "8", "--topic", "t/x", "--keepalive", "30", "--clean=false", "--broker-pid", "123",
               "--json", "--warmup", "1.5", "--threads", "2"});
  EXPECT_EQ(o.host, "localhost");
  EXPECT_EQ(o.port, 1884);
  EXPECT_EQ(o.version, 3);
  EXPECT_EQ(o.qos, 2);
  EXPECT_EQ(o.size, 1024u);
  EXPECT_DOUBLE_EQ(o.rate, 10000);
  EXPECT_EQ(o.window, 50u);
  EXPECT_DOUBLE_EQ(o.duration, 5);
  EXPECT_TRUE(o.duration_given);
  EXPECT_EQ(o.count, 1000u);
  EXPECT_EQ(o.publishers, 16u);
  EXPECT_EQ(o.subscribers, 32u);
  EXPECT_EQ(o.topics, 8u);
  EXPECT_EQ(o.topic, "t/x");
  EXPECT_EQ(o.keepalive, 30);
  EXPECT_FALSE(o.clean);
  EXPECT_EQ(o.broker_pid, 123);
  EXPECT_TRUE(o.json);
  EXPECT_DOUBLE_EQ(o.warmup, 1.5);
  EXPECT_EQ(o.threads, 2u);
}

TEST(Options, ModesSetTheirShape) {
  EXPECT_EQ(ok({"pub", "-S", "5"}).subscribers, 0u);
  EXPECT_EQ(ok({"sub", "-P", "5"}).publishers, 0u);
  auto c = ok({"conn", "--conns", "19000"});
  EXPECT_EQ(c.conns, 19000u);
  EXPECT_EQ(c.publishers + c.subscribers, 0u);
  EXPECT_TRUE(ok({"help"}).help);
  EXPECT_TRUE(ok({"pub", "--help"}).help);
}

TEST(Options, RejectsBadInput) {
  bad({});
  bad({"storm"});
  bad({"pub", "--qos", "3"});
  bad({"pub", "--size", "15"});
  bad({"pub", "--port", "70000"});
  bad({"pub", "--port"});
  bad({"pub", "--bogus", "1"});
  bad({"pub", "--rate", "fast"});
  bad({"pub", "--clean=maybe"});
  bad({"pubsub", "-S", "0"});
  EXPECT_NE(bad({"pub", "-V", "5"}).find("not supported yet"), std::string::npos);
}

TEST(Options, SourceAddressLists) {
  auto o = ok({"conn", "--source-addrs", "127.0.0.1,127.0.0.5"});
  EXPECT_EQ(o.source_addrs, (std::vector<std::string>{"127.0.0.1", "127.0.0.5"}));
  auto r = parse_source_addrs("127.0.0.1-127.0.0.4");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r.value(),
            (std::vector<std::string>{"127.0.0.1", "127.0.0.2", "127.0.0.3", "127.0.0.4"}));
  auto short_form = parse_source_addrs("127.0.0.7-8,10.0.0.1");
  EXPECT_EQ(short_form.value(),
            (std::vector<std::string>{"127.0.0.7", "127.0.0.8", "10.0.0.1"}));
  auto wraps = parse_source_addrs("127.0.0.255-127.0.1.0");
  EXPECT_EQ(wraps.value().size(), 2u);
  EXPECT_FALSE(parse_source_addrs("127.0.0.9-127.0.0.1").ok());
  EXPECT_FALSE(parse_source_addrs("localhost").ok());
  EXPECT_FALSE(parse_source_addrs("").ok());
}

TEST(Options, PulsarModesHaveTheirOwnDefaults) {
  auto o = ok({"pulsar-pubsub"});
  EXPECT_EQ(o.mode, Mode::pulsar_pubsub);
  EXPECT_TRUE(is_pulsar(o.mode));
  EXPECT_EQ(o.port, 6650);
  EXPECT_EQ(o.window, 1000u);
  EXPECT_EQ(o.topic, "persistent://public/default/mop-bench");
  EXPECT_EQ(o.batch, 0u);
  EXPECT_EQ(o.compression, Compression::none);
  EXPECT_EQ(o.sub_type, SubType::exclusive);
  EXPECT_EQ(o.ack, AckMode::individual);
  EXPECT_FALSE(o.initial_earliest);
  EXPECT_TRUE(o.lookup);
  EXPECT_EQ(o.receiver_queue, 1000u);
  EXPECT_EQ(ok({"pulsar-produce"}).subscribers, 0u);
  EXPECT_EQ(ok({"pulsar-consume"}).publishers, 0u);
  // An MQTT mode keeps the MQTT defaults.
  EXPECT_EQ(ok({"pub"}).port, 1883);
  EXPECT_EQ(ok({"pub"}).window, 100u);
}

TEST(Options, PulsarOptionsParse) {
  auto o = ok({"pulsar-pubsub", "--port", "6651", "-P", "4", "-C", "8", "-T", "2", "--topic", "persistent://t/n/x",
               "--window", "500", "--batch", "100", "--compression", "zstd", "--subscription", "s",
               "--sub-type", "failover", "--initial-position", "earliest", "--ack", "cumulative",
               "--receiver-queue", "200", "--lookup=false", "--rate", "1000", "--count", "50", "--json"});
  EXPECT_EQ(o.port, 6651);
  EXPECT_EQ(o.publishers, 4u);
  EXPECT_EQ(o.subscribers, 8u);
  EXPECT_EQ(o.topic, "persistent://t/n/x");
  EXPECT_EQ(o.window, 500u);
  EXPECT_EQ(o.batch, 100u);
  EXPECT_EQ(o.compression, Compression::zstd);
  EXPECT_EQ(o.subscription, "s");
  EXPECT_EQ(o.sub_type, SubType::failover);
  EXPECT_TRUE(o.initial_earliest);
  EXPECT_EQ(o.ack, AckMode::cumulative);
  EXPECT_EQ(o.receiver_queue, 200u);
  EXPECT_FALSE(o.lookup);
  EXPECT_EQ(ok({"pulsar-consume", "-S", "3"}).subscribers, 3u);  // -S works for consumers too
  for (const char* c : {"none", "lz4", "zlib", "zstd", "snappy"}) {
    EXPECT_STREQ(to_string(ok({"pulsar-produce", "--compression", c}).compression), c);
  }
  for (const char* t : {"exclusive", "shared", "failover", "key_shared"}) {
    EXPECT_STREQ(to_string(ok({"pulsar-consume", "--sub-type", t}).sub_type), t);
  }
}

TEST(Options, PulsarMistakesAreRefused) {
  EXPECT_NE(bad({"pulsar-produce", "--compression", "gzip"}).find("none, lz4, zlib, zstd, snappy"), std::string::npos);
  EXPECT_NE(bad({"pulsar-consume", "--sub-type", "fanout"}).find("not one of"), std::string::npos);
  EXPECT_NE(bad({"pulsar-pubsub", "--qos", "1"}).find("MQTT modes only"), std::string::npos);
  EXPECT_NE(bad({"pub", "--batch", "10"}).find("Pulsar modes only"), std::string::npos);
  EXPECT_NE(bad({"pulsar-pubsub", "--batch", "2000"}).find("--window"), std::string::npos);
  EXPECT_NE(bad({"pulsar-consume", "--sub-type", "shared", "--ack", "cumulative"}).find("not allowed"), std::string::npos);
  bad({"pulsar-pubsub", "-C", "0"});
  bad({"pulsar-produce", "-P", "0"});
  bad({"pulsar-consume", "--initial-position", "middle"});
  bad({"pulsar-consume", "--receiver-queue", "1"});
}

}  // namespace
}  // namespace mop::loadgen
