// Value encodings of formats 1 and 2: round trips, and every truncation / extension of a valid value
// is rejected with a reason (never a crash, never a silent misread).
#include <functional>
#include <random>

#include <gtest/gtest.h>

#include "storage/encoding.hpp"

namespace mop::storage {
namespace {

Message sample_message() {
  Message m;
  m.payload = Payload::copy_of("hello");
  m.properties = {{"a", "1"}, {"a", "2"}};
  m.publish_time_ms = 123456789;
  m.producer_name = "p";
  m.ordering_key = "k";
  m.mqtt_qos = 2;
  return m;
}

SessionRecord sample_session() {
  SessionRecord s;
  s.client_id = "c";
  s.clean_start = true;
  s.protocol_version = 5;
  s.expiry_interval_s = 0xFFFFFFFF;
  s.disconnected_at_ms = 99;
  s.subscriptions = {{"a/#", 2, 4, 9}};
  s.inbound_qos2 = {1, 65535};
  s.outbound = {{7, "t", "s", {3, 4, -1}, 2, OutboundState::pubrel_sent}};
  return s;
}

TEST(Encoding, LogKeysSortByTopicLedgerEntry) {
  EXPECT_LT(key::log(1, {0, 255, -1}), key::log(1, {0, 256, -1}));
  EXPECT_LT(key::log(1, {1, 0, -1}), key::log(2, {0, 0, -1}));
  EXPECT_LT(key::log(1, {0, UINT64_MAX, -1}), key::log(1, {1, 0, -1}));
  const auto parsed = key::parse_log(key::log(7, {8, 9, -1}));
  ASSERT_TRUE(parsed);
  EXPECT_EQ(parsed->first, 7u);
  EXPECT_EQ(parsed->second, (MessageId{8, 9, -1}));
  EXPECT_FALSE(key::parse_log("short"));
}

TEST(Encoding, LogKeyAndPositionBytes) {
  // The stored layout, byte for byte: three big-endian 64-bit integers; positions as varints.
  const std::string expected("\x01\x02\x03\x04\x05\x06\x07\x08"
                             "\x00\x00\x00\x00\x00\x00\x01\x00"
                             "\xff\xff\xff\xff\xff\xff\xff\xfe", 24);
  EXPECT_EQ(key::log(0x0102030405060708u, {256, UINT64_MAX - 1, -1}), expected);
  EXPECT_EQ(key::topic_prefix(0x0102030405060708u), expected.substr(0, 8));
  EXPECT_EQ(encode_position({300, 127, -1}), std::string("\x01\xac\x02\x7f", 4));
}

TEST(Encoding, MessageRoundTrip) {
  Message out;
  const auto v = encode_message(sample_message());
  EXPECT_EQ(v[0], 1);
  ASSERT_TRUE(decode_message(v, out).ok());
  EXPECT_TRUE(out == sample_message());
  Message empty;
  ASSERT_TRUE(decode_message(encode_message(Message{}), out).ok());
  EXPECT_TRUE(out == empty);
}

Message sample_batch() {
  Message m = sample_message();
  m.batch = service::BatchInfo{100, 4, 70000};
  return m;
}

// Format 2: a batch entry, a cursor with partly acknowledged batches and a session with batch
// indexes are version 2 values; without them the values stay version 1, as format 1 wrote them.
TEST(Encoding, Format2ValuesRoundTripAndOthersStayVersion1) {
  Message out;
  const auto v = encode_message(sample_batch());
  EXPECT_EQ(v[0], 2);
  ASSERT_TRUE(decode_message(v, out).ok());
  EXPECT_TRUE(out == sample_batch());
  EXPECT_FALSE(out == sample_message());
  EXPECT_EQ(encode_message(sample_message())[0], 1);

  CursorRecord c{{1, 5, -1}, {{1, 7, 9}}, {{6, {0b1011}}, {10, {~std::uint64_t{0}, 3}}}}, c2;
  const auto cv = encode_cursor(c);
  EXPECT_EQ(cv[0], 2);
  ASSERT_TRUE(decode_cursor(cv, c2).ok());
  EXPECT_EQ(c, c2);
  EXPECT_EQ(encode_cursor({{1, 5, -1}, {{1, 7, 9}}, {}})[0], 1);

  SessionRecord s = sample_session(), s2;
  s.outbound.push_back({8, "t", "s", {3, 5, 42}, 1, OutboundState::publish_sent});
  s2.client_id = "c";
  const auto sv = encode_session(s);
  EXPECT_EQ(sv[0], 2);
  ASSERT_TRUE(decode_session(sv, s2).ok());
  EXPECT_EQ(s, s2);
  EXPECT_EQ(encode_session(sample_session())[0], 1);

  // Every truncation and extension of these is rejected too.
  const std::string values[] = {v, cv, sv};
  for (const auto& value : values) {
    auto rejected = [&](std::string_view x) {
      if (&value == &values[0]) { Message m; return !decode_message(x, m).ok(); }
      if (&value == &values[1]) { CursorRecord r; return !decode_cursor(x, r).ok(); }
      SessionRecord r;
      return !decode_session(x, r).ok();
    };
    EXPECT_FALSE(rejected(value));
    for (std::size_t n = 0; n < value.size(); ++n) EXPECT_TRUE(rejected(std::string_view(value).substr(0, n))) << n;
    EXPECT_TRUE(rejected(value + "x"));
  }
}

TEST(Encoding, SessionCursorWillRoundTrip) {
  SessionRecord s;
  s.client_id = "c";
  ASSERT_TRUE(decode_session(encode_session(sample_session()), s).ok());
  EXPECT_EQ(s, sample_session());
  CursorRecord c{{1, 5, -1}, {{1, 7, 9}, {2, 0, 0}}}, c2;
  ASSERT_TRUE(decode_cursor(encode_cursor(c), c2).ok());
  EXPECT_EQ(c, c2);
  WillRecord w{"c", "t", sample_message(), 1, true, 5, 77}, w2;
  w2.client_id = "c";
  ASSERT_TRUE(decode_will(encode_will(w), w2).ok());
  EXPECT_TRUE(w == w2);
  SubscriptionRecord sub{"", service::SubscriptionType::key_shared, false}, sub2;
  ASSERT_TRUE(decode_subscription(encode_subscription(sub), sub2).ok());
  EXPECT_EQ(sub, sub2);
}

SchemaRecord sample_schema() {
  SchemaRecord s;
  s.topic = "persistent://t/n/s";
  s.version = 3;
  s.type = 2;
  s.name = "json";
  s.data = std::string("{\"type\":\"record\"}\0\xff", 20);
  s.properties = {{"k", "v"}, {"k", "w"}};
  return s;
}

TEST(Encoding, PulsarMetadataRoundTrip) {
  PartitionedTopicRecord p{"persistent://t/n/x", 7}, p2;
  p2.topic = p.topic;
  ASSERT_TRUE(decode_partitioned(encode_partitioned(p), p2).ok());
  EXPECT_EQ(p, p2);
  SchemaRecord s;
  s.topic = "persistent://t/n/s";  // the key's part is kept
  ASSERT_TRUE(decode_schema(encode_schema(sample_schema()), s).ok());
  EXPECT_EQ(s, sample_schema());
  ProducerSequence q{"prod", INT64_MAX}, q2;
  q2.producer = "prod";
  ASSERT_TRUE(decode_producer_sequence(encode_producer_sequence(q), q2).ok());
  EXPECT_EQ(q, q2);
  PermissionRecord g{"t/n", "alice", 3}, g2;
  ASSERT_TRUE(decode_permission(permission_key(g.resource, g.role), encode_permission(g), g2).ok());
  EXPECT_EQ(g, g2);
  EXPECT_FALSE(decode_permission(permission_key("t/n", "alice"), encode_permission({"t/n", "alice", 0}), g2).ok());
  EXPECT_FALSE(decode_permission("no-separator", encode_permission(g), g2).ok());
  TenantRecord tenant{"", R"({"adminRoles":[]})"}, tenant2;
  ASSERT_TRUE(decode_tenant(encode_tenant(tenant), tenant2).ok());
  EXPECT_EQ(tenant, tenant2);
  // Every combination of policies, with Pulsar's -1 and large values.
  for (int has = 0; has < 16; ++has) {
    NamespaceRecord ns, ns2;
    if (has & 1) ns.policies.retention = service::RetentionPolicy{-1, INT64_MAX};
    if (has & 2) ns.policies.message_ttl_seconds = 86'400;
    if (has & 4) ns.policies.backlog_quota = service::BacklogQuotaPolicy{-1, INT64_MIN, "consumer_backlog_eviction"};
    if (has & 8) ns.policies.deduplication = true;
    const auto bytes = encode_namespace(ns);
    ASSERT_TRUE(decode_namespace(bytes, ns2).ok()) << has;
    EXPECT_EQ(ns, ns2) << has;
    for (std::size_t cut = 0; cut < bytes.size(); ++cut) EXPECT_FALSE(decode_namespace(bytes.substr(0, cut), ns2).ok());
    EXPECT_FALSE(decode_namespace(bytes + "x", ns2).ok());
  }
  NamespaceRecord bad;
  EXPECT_FALSE(decode_namespace(std::string("\x01\x10", 2), bad).ok());  // an unknown policy bit
  EXPECT_FALSE(decode_namespace(std::string("\x01\x02\x01", 3), bad).ok());  // TTL -1
  EXPECT_FALSE(decode_namespace(std::string("\x02\x00", 2), bad).ok());  // value version 2
  // Values that encode but mean nothing are refused, with a reason.
  PartitionedTopicRecord zero;
  const auto why = decode_partitioned(encode_partitioned({"x", 0}), zero);
  ASSERT_FALSE(why.ok());
  EXPECT_NE(why.error().find("partition count 0"), std::string::npos) << why.error();
  std::string huge = "\x01";
  for (int i = 0; i < 9; ++i) huge.push_back('\xff');
  huge.push_back('\x01');  // 2^64 - 1: not a sequence id
  EXPECT_FALSE(decode_producer_sequence(huge, q2).ok());
}

TEST(Encoding, EveryTruncationAndExtensionIsRejected) {
  using Decoder = std::function<bool(std::string_view)>;  // true: rejected
  const std::pair<std::string, Decoder> cases[] = {
      {encode_message(sample_message()), [](std::string_view v) { Message m; return !decode_message(v, m).ok(); }},
      {encode_session(sample_session()), [](std::string_view v) { SessionRecord s; return !decode_session(v, s).ok(); }},
      {encode_cursor({{1, 5, -1}, {{1, 7, 9}}}), [](std::string_view v) { CursorRecord c; return !decode_cursor(v, c).ok(); }},
      {encode_will({"c", "t", sample_message(), 1, true, 5, 77}), [](std::string_view v) { WillRecord w; return !decode_will(v, w).ok(); }},
      {encode_partitioned({"x", 300}), [](std::string_view v) { PartitionedTopicRecord p; return !decode_partitioned(v, p).ok(); }},
      {encode_schema(sample_schema()), [](std::string_view v) { SchemaRecord s; return !decode_schema(v, s).ok(); }},
      {encode_producer_sequence({"p", 1u << 20}), [](std::string_view v) { ProducerSequence p; return !decode_producer_sequence(v, p).ok(); }},
      {encode_entry_ref({7, 1u << 28, 65600, 0xdeadbeef}), [](std::string_view v) { EntryRef r; return !decode_entry_ref(v, r).ok(); }},
  };
  for (const auto& [v, rejected] : cases) {
    EXPECT_FALSE(rejected(v));
    for (std::size_t n = 0; n < v.size(); ++n) EXPECT_TRUE(rejected(std::string_view(v).substr(0, n))) << n;
    EXPECT_TRUE(rejected(v + "x"));
  }
}

// Format 3: a log value that refers to the entry log. Its first byte is no message version, so
// a message decoder refuses it (as a format 2 mop would) and a reference is told from a message.
TEST(Encoding, EntryLogReferenceRoundTrip) {
  const EntryRef ref{12, 3u << 30, 65600, 0x89abcdef};
  const auto v = encode_entry_ref(ref);
  EXPECT_TRUE(is_entry_ref(v));
  EXPECT_FALSE(is_entry_ref(encode_message(sample_message())));
  EntryRef back;
  ASSERT_TRUE(decode_entry_ref(v, back).ok());
  EXPECT_EQ(back, ref);
  Message m;
  EXPECT_FALSE(decode_message(v, m).ok());
  EXPECT_FALSE(decode_entry_ref(encode_entry_ref({0, 0, 1, 1}), back).ok());  // file numbers start at 1
}

TEST(Encoding, NewerValueVersionIsRefused) {
  auto v = encode_message(sample_message());
  v[0] = 3;
  Message m;
  const auto why = decode_message(v, m);
  ASSERT_FALSE(why.ok());
  EXPECT_NE(why.error().find("unsupported value version 3"), std::string::npos) << why.error();
  // Values that only have version 1 still refuse 2.
  auto t = encode_topic_value(5);
  t[0] = 2;
  std::uint64_t id = 0;
  EXPECT_FALSE(decode_topic_value(t, id).ok());
}

TEST(Encoding, GarbageNeverCrashes) {
  std::mt19937 rng(42);
  for (int i = 0; i < 20000; ++i) {
    std::string v(rng() % 40, '\0');
    for (auto& ch : v) ch = static_cast<char>(rng());
    if (!v.empty()) v[0] = 1;
    Message m;
    SessionRecord s;
    CursorRecord c;
    WillRecord w;
    (void)decode_message(v, m);
    (void)decode_session(v, s);
    (void)decode_cursor(v, c);
    (void)decode_will(v, w);
    PartitionedTopicRecord p;
    SchemaRecord sc;
    ProducerSequence q;
    (void)decode_partitioned(v, p);
    (void)decode_schema(v, sc);
    (void)decode_producer_sequence(v, q);
  }
}

}  // namespace
}  // namespace mop::storage
