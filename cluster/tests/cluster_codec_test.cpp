// The values ClusterSessionStore and the retained table write to Pulsar read back as written.
#include <gtest/gtest.h>

#include "cluster/cluster_session_store.hpp"

namespace mop::cluster {
namespace {

using service::Message;
using service::SessionRecord;
using service::WillRecord;

TEST(ClusterCodec, SessionRoundTrips) {
  SessionRecord s;
  s.client_id = "dev-1 \xc3\xa9";
  s.clean_start = false;
  s.protocol_version = 5;
  s.expiry_interval_s = 0xFFFFFFFF;
  s.disconnected_at_ms = 1'700'000'000'123;
  s.subscriptions = {{"a/+/c", 1, 0x04, 7}, {"$share/g/x/#", 2, 0, 0}};
  s.inbound_qos2 = {1, 65535};
  s.outbound = {{12, "persistent://public/default/a%2Fb", "dev-1", {5, 9, -1}, 2, service::OutboundState::pubrel_sent},
                {13, "persistent://public/default/x", "g", {5, 10, 3}, 1, service::OutboundState::publish_sent}};
  const auto value = ClusterSessionStore::encode_session(s);
  ASSERT_FALSE(value.empty());  // empty would delete the key
  const auto back = ClusterSessionStore::decode_session(value);
  ASSERT_TRUE(back.has_value());
  EXPECT_EQ(*back, s);
  // With deduplication sequence ids (RouterOptions::qos2_deduplication) too.
  s.inbound_sequences = {{7, 1'700'000'000'123'000}, {65535, 1'700'000'000'123'001}};
  s.last_sequence_id = 1'700'000'000'123'001;
  const auto with_sequences = ClusterSessionStore::decode_session(ClusterSessionStore::encode_session(s));
  ASSERT_TRUE(with_sequences.has_value());
  EXPECT_EQ(*with_sequences, s);
  // The owner (the writing proxy's instance id) and, written without one, none.
  std::string owner = "stale";
  const auto owned = ClusterSessionStore::decode_session(ClusterSessionStore::encode_session(s, "77-1700-ab"), &owner);
  ASSERT_TRUE(owned.has_value());
  EXPECT_EQ(*owned, s);
  EXPECT_EQ(owner, "77-1700-ab");
  ASSERT_TRUE(ClusterSessionStore::decode_session(ClusterSessionStore::encode_session(s), &owner).has_value());
  EXPECT_EQ(owner, "");
}

TEST(ClusterCodec, WillRoundTripsWithBinaryAndEmptyPayloads) {
  for (const std::string& payload : {std::string("\0\xff\x01 will", 8), std::string()}) {
    WillRecord w;
    w.client_id = "c";
    w.topic = "persistent://public/default/status%2Fc";
    w.message.payload = Payload::copy_of(std::string_view(payload));
    w.message.properties = {{"k", "v1"}, {"k", "v2"}, {"__mqtt_retain", "1"}};
    w.message.publish_time_ms = 42;
    w.message.producer_name = "c";
    w.message.ordering_key = "key";
    w.message.mqtt_qos = 2;
    w.qos = 2;
    w.retain = true;
    w.delay_s = 30;
    w.due_at_ms = 99;
    const auto value = ClusterSessionStore::encode_will(w);
    ASSERT_FALSE(value.empty());
    const auto back = ClusterSessionStore::decode_will(value);
    ASSERT_TRUE(back.has_value());
    EXPECT_EQ(*back, w);
    EXPECT_EQ(back->message.properties, w.message.properties);  // repeated names kept, in order
    EXPECT_EQ(back->message.ordering_key, w.message.ordering_key);
    EXPECT_EQ(back->message.mqtt_qos, 2);
  }
}

TEST(ClusterCodec, WillNamesItsOwnerOrNone) {
  WillRecord w;
  w.client_id = "c";
  w.topic = "persistent://public/default/status%2Fc";
  w.delay_s = 5;
  std::string owner = "stale";
  auto back = ClusterSessionStore::decode_will(ClusterSessionStore::encode_will(w, "1234-1700000000000-abc"), &owner);
  ASSERT_TRUE(back.has_value());
  EXPECT_EQ(*back, w);
  EXPECT_EQ(owner, "1234-1700000000000-abc");
  // Written without one (as before owners existed): read as naming none.
  back = ClusterSessionStore::decode_will(ClusterSessionStore::encode_will(w), &owner);
  ASSERT_TRUE(back.has_value());
  EXPECT_EQ(*back, w);
  EXPECT_EQ(owner, "");
}

TEST(ClusterCodec, DamagedValuesAreRefusedNotThrown) {
  SessionRecord s;
  s.client_id = "c";
  const auto good = ClusterSessionStore::encode_session(s);
  for (const std::string& bad : {std::string(), std::string("\x02junk"), good.substr(0, good.size() / 2),
                                std::string("\x01\xc1"), ClusterSessionStore::encode_message(Message{}, {})}) {
    EXPECT_FALSE(ClusterSessionStore::decode_session(bad).has_value());
  }
  EXPECT_FALSE(ClusterSessionStore::decode_will(good).has_value());  // a session is no will
  EXPECT_FALSE(ClusterSessionStore::decode_message("", nullptr).has_value());
}

}  // namespace
}  // namespace mop::cluster
