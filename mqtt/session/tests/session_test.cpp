#include "mqtt/session/session.hpp"

#include <gtest/gtest.h>

namespace mop::mqtt {
namespace {

// A delivery's source as the router makes one (the session only carries it back).
std::shared_ptr<const DeliverySource> source(std::string subscription) {
  return std::make_shared<const DeliverySource>(DeliverySource{
      service::TopicName(service::TopicDomain::persistent, "public", "default", "t"), std::move(subscription)});
}

Publish msg(std::uint8_t qos, std::string topic = "t") {
  return Publish{false, qos, false, std::move(topic), 0, Payload::copy_of("x")};
}

TEST(Session, PacketIdsAreNonZeroAndDistinct) {
  Session s("c", false);
  auto a = s.add_outbound(msg(1), {}, true);
  auto b = s.add_outbound(msg(1), {}, true);
  ASSERT_TRUE(a && b);
  EXPECT_NE(*a, 0);
  EXPECT_NE(*a, *b);
}

TEST(Session, PacketIdsWrapAroundSkippingIdsInUse) {
  Session s("c", false);
  auto first = s.add_outbound(msg(1), {}, true);
  for (int i = 0; i < 65533; ++i) ASSERT_TRUE(s.on_puback(*s.add_outbound(msg(1), {}, true)));
  // Every id but `first` is free again; the next ids wrap and must skip `first`.
  for (int i = 0; i < 5; ++i) {
    auto id = s.add_outbound(msg(1), {}, true);
    ASSERT_TRUE(id);
    EXPECT_NE(*id, *first);
    EXPECT_NE(*id, 0);
  }
}

TEST(Session, AllIdsInUseRefusesMore) {
  Session s("c", false);
  for (int i = 0; i < 65535; ++i) ASSERT_TRUE(s.add_outbound(msg(1), {}, true));
  EXPECT_FALSE(s.add_outbound(msg(1), {}, true));
}

TEST(Session, PubackOnlyForQos1AwaitingAck) {
  Session s("c", false);
  auto q1 = *s.add_outbound(msg(1), DeliveryOrigin{source("sub"), 1, 2, -1}, true);
  auto q2 = *s.add_outbound(msg(2), {}, true);
  EXPECT_FALSE(s.on_puback(q2));  // QoS 2 is not finished by PUBACK
  auto o = s.on_puback(q1);
  ASSERT_TRUE(o);
  EXPECT_EQ(o->entry, 2u);
  EXPECT_FALSE(s.on_puback(q1));  // a duplicate PUBACK acknowledges nothing
  EXPECT_EQ(s.outbound_count(), 1u);
}

TEST(Session, Qos2OutboundFlow) {
  Session s("c", false);
  auto id = *s.add_outbound(msg(2), DeliveryOrigin{source("sub"), 3, 4, -1}, true);
  EXPECT_FALSE(s.on_pubcomp(id));  // PUBCOMP before PUBREC is not accepted
  auto origin = s.on_pubrec(id);
  ASSERT_TRUE(origin);
  EXPECT_EQ(origin->ledger, 3u);
  EXPECT_FALSE(s.on_pubrec(id));  // second PUBREC: already released
  EXPECT_EQ(s.outbound_count(), 1u);
  EXPECT_TRUE(s.on_pubcomp(id));
  EXPECT_EQ(s.outbound_count(), 0u);
}

TEST(Session, UnsentMessagesAreNotAcknowledgeable) {
  Session s("c", false);
  auto id = *s.add_outbound(msg(1), {}, false);
  EXPECT_FALSE(s.on_puback(id));
}

TEST(Session, OutboundInOrderFollowsFirstSend) {
  Session s("c", false);
  std::vector<PacketId> ids;
  for (int i = 0; i < 5; ++i) ids.push_back(*s.add_outbound(msg(1, std::to_string(i)), {}, true));
  s.on_puback(ids[1]);
  auto order = s.outbound_in_order();
  ASSERT_EQ(order.size(), 4u);
  EXPECT_EQ(order[0]->publish.topic, "0");
  EXPECT_EQ(order[1]->publish.topic, "2");
  EXPECT_EQ(order[3]->publish.topic, "4");
}

TEST(Session, InboundQos2Ids) {
  Session s("c", false);
  EXPECT_FALSE(s.inbound_qos2_pending(7));
  s.add_inbound_qos2(7);
  EXPECT_TRUE(s.inbound_qos2_pending(7));
  EXPECT_TRUE(s.release_inbound_qos2(7));
  EXPECT_FALSE(s.release_inbound_qos2(7));
}

}  // namespace
}  // namespace mop::mqtt
