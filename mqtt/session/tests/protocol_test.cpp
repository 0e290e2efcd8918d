// Protocol state machine tests: bytes in through on_bytes, bytes out decoded from the OutBuffer,
// a fake handler standing in for the broker and a manual clock for keep alive.
#include "mqtt/session/protocol.hpp"

#include <gtest/gtest.h>

namespace mop::mqtt {
namespace {

// A delivery's source as the router makes one (the session only carries it back).
std::shared_ptr<const DeliverySource> source(std::string subscription) {
  return std::make_shared<const DeliverySource>(DeliverySource{
      service::TopicName(service::TopicDomain::persistent, "public", "default", "t"), std::move(subscription)});
}

struct FakeHandler : ProtocolHandler {
  void output_ready() override { ++output_ready_calls; }
  void close(CloseReason r, const std::string& d) override {
    closes.push_back(r);
    detail = d;
  }
  void on_connect(const Connect& c) override { connects.push_back(c); }
  void on_publish(const Publish& p, PublishDone done) override {
    publishes.push_back(p);
    dones.push_back(std::move(done));
  }
  void on_subscribe(const Subscribe& s, std::function<void(std::vector<std::uint8_t>)> done) override {
    std::vector<std::uint8_t> codes = suback_codes;
    if (codes.empty())
      for (auto& e : s.entries) codes.push_back(e.qos);
    if (hold_subacks) {
      subacks.push_back([done = std::move(done), codes] { done(codes); });
      return;
    }
    done(std::move(codes));
  }
  void on_subscribed(const Subscribe&, const std::vector<std::uint8_t>&) override { ++subscribed; }
  std::vector<ReasonCode> on_unsubscribe(const Unsubscribe& u) override {
    ++unsubscribed;
    return std::vector<ReasonCode>(u.filters.size(), ReasonCode::success);
  }
  void on_delivery_acked(const DeliveryOrigin& o) override { acked.push_back(o); }
  void on_inflight_freed(const DeliveryOrigin&) override { ++freed; }
  void deadline_changed() override { ++deadline_changes; }
  void input_released() override { ++input_releases; }

  int output_ready_calls = 0;
  int deadline_changes = 0, input_releases = 0;
  std::vector<CloseReason> closes;
  std::string detail;
  std::vector<Connect> connects;
  std::vector<Publish> publishes;
  std::vector<PublishDone> dones;
  int subscribed = 0, unsubscribed = 0, freed = 0;
  std::vector<std::uint8_t> suback_codes;  // when set, what on_subscribe answers
  bool hold_subacks = false;               // when set, on_subscribe answers when the test says
  std::vector<std::function<void()>> subacks;
  std::vector<DeliveryOrigin> acked;
};

class ProtocolTest : public ::testing::Test {
protected:
  void feed(const Packet& p, ProtocolVersion v = ProtocolVersion::v311) {
    std::string bytes;
    encode(p, v, bytes);
    proto->on_bytes({reinterpret_cast<const std::uint8_t*>(bytes.data()), bytes.size()});
  }
  void feed_raw(std::string_view bytes) {
    proto->on_bytes({reinterpret_cast<const std::uint8_t*>(bytes.data()), bytes.size()});
  }
  // Every packet written so far, decoded as a client would.
  std::vector<Packet> sent() {
    std::string all;
    for (auto& s : proto->output().take()) all.append(s.view());
    FrameReader reader(kMaxRemainingLength);
    reader.feed({reinterpret_cast<const std::uint8_t*>(all.data()), all.size()});
    std::vector<Packet> out;
    for (;;) {
      auto f = reader.next();
      EXPECT_TRUE(f.ok());
      if (!f.ok() || !f->has_value()) break;
      auto p = decode_server_packet(**f, proto->version());
      EXPECT_TRUE(p.ok()) << p.error().message();
      if (p.ok()) out.push_back(std::move(*p));
    }
    return out;
  }
  // The CONNECT of a client coming back to its persistent session "client".
  static std::string resume_connect_bytes() {
    Connect c;
    c.protocol_name = "MQTT";
    c.clean_session = false;
    c.client_id = "client";
    std::string bytes;
    encode(c, ProtocolVersion::v311, bytes);
    return bytes;
  }
  void connect(bool clean = true, std::uint16_t keep_alive = 0, std::string id = "client") {
    Connect c;
    c.protocol_name = "MQTT";
    c.clean_session = clean;
    c.keep_alive = keep_alive;
    c.client_id = std::move(id);
    feed(c);
    ASSERT_EQ(handler.connects.size(), 1u);
    proto->accept(session, false);
    auto out = sent();
    ASSERT_EQ(out.size(), 1u);
    ASSERT_TRUE(std::holds_alternative<Connack>(out[0]));
  }

  FakeHandler handler;
  ManualClock clock;
  std::shared_ptr<Session> session = std::make_shared<Session>("client", false);
  std::shared_ptr<Protocol> proto = std::make_shared<Protocol>(handler, clock, ProtocolLimits{1024, std::chrono::seconds(10)});
};

TEST_F(ProtocolTest, FirstPacketMustBeConnect) {  // [MQTT-3.1.0-1]
  feed(Pingreq{});
  ASSERT_EQ(handler.closes.size(), 1u);
  EXPECT_EQ(handler.closes[0], CloseReason::protocol_error);
}

TEST_F(ProtocolTest, SecondConnectIsAProtocolError) {  // [MQTT-3.1.0-2]
  connect();
  Connect c;
  c.protocol_name = "MQTT";
  c.client_id = "client";
  feed(c);
  ASSERT_EQ(handler.closes.size(), 1u);
  EXPECT_EQ(handler.closes[0], CloseReason::protocol_error);
}

TEST_F(ProtocolTest, UnsupportedLevelGetsConnack01) {  // [MQTT-3.1.2-2]
  // CONNECT "MQTT" level 9, clean session, keep alive 0, client id "a".
  feed_raw(std::string("\x10\x0d\x00\x04MQTT\x09\x02\x00\x00\x00\x01" "a", 15));
  auto out = sent();
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(std::get<Connack>(out[0]).return_code, ConnectReturnCode::unacceptable_protocol_version);
  ASSERT_EQ(handler.closes.size(), 1u);
  EXPECT_EQ(handler.closes[0], CloseReason::connect_rejected);
}

TEST_F(ProtocolTest, EmptyClientIdNeedsCleanSession) {  // [MQTT-3.1.3-8]
  Connect c;
  c.protocol_name = "MQTT";
  c.clean_session = false;
  feed(c);
  auto out = sent();
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(std::get<Connack>(out[0]).return_code, ConnectReturnCode::identifier_rejected);
  EXPECT_TRUE(handler.connects.empty());
}

TEST_F(ProtocolTest, EmptyClientIdWithCleanSessionIsAssignedOne) {  // [MQTT-3.1.3-6]
  Connect c;
  c.protocol_name = "MQTT";
  feed(c);
  ASSERT_EQ(handler.connects.size(), 1u);
  EXPECT_FALSE(proto->client_id().empty());
}

TEST_F(ProtocolTest, PingreqGetsPingresp) {
  connect();
  feed(Pingreq{});
  auto out = sent();
  ASSERT_EQ(out.size(), 1u);
  EXPECT_TRUE(std::holds_alternative<Pingresp>(out[0]));
}

TEST_F(ProtocolTest, TheTransportIsToldWhenAcceptStartsTheKeepAlive) {
  Connect c{"MQTT", ProtocolVersion::v311, true, 0, "client"};
  c.keep_alive = 10;
  feed(c);
  EXPECT_EQ(proto->next_deadline(), TimePoint::max());  // the broker decides first
  EXPECT_EQ(handler.deadline_changes, 0);
  proto->accept(session, false);  // as from a store completion, outside any read
  EXPECT_EQ(handler.deadline_changes, 1);  // the transport's timer follows
  EXPECT_EQ(proto->next_deadline(), clock.now() + std::chrono::seconds(15));
}

TEST_F(ProtocolTest, KeepAliveTimesOutAfterOneAndAHalfPeriods) {  // [MQTT-3.1.2-24]
  connect(true, 10);
  clock.advance(std::chrono::milliseconds(14'900));
  proto->on_tick();
  EXPECT_TRUE(handler.closes.empty());
  feed(Pingreq{});  // traffic moves the deadline
  clock.advance(std::chrono::milliseconds(14'900));
  proto->on_tick();
  EXPECT_TRUE(handler.closes.empty());
  clock.advance(std::chrono::milliseconds(200));
  proto->on_tick();
  ASSERT_EQ(handler.closes.size(), 1u);
  EXPECT_EQ(handler.closes[0], CloseReason::keep_alive_timeout);
  EXPECT_TRUE(publishes_will(handler.closes[0]));
}

TEST_F(ProtocolTest, ConnectTimeout) {
  clock.advance(std::chrono::seconds(11));
  proto->on_tick();
  ASSERT_EQ(handler.closes.size(), 1u);
  EXPECT_EQ(handler.closes[0], CloseReason::connect_timeout);
}

TEST_F(ProtocolTest, DisconnectIsNormalAndSendsNoWill) {  // [MQTT-3.14.4-3]
  connect();
  feed(Disconnect{});
  ASSERT_EQ(handler.closes.size(), 1u);
  EXPECT_EQ(handler.closes[0], CloseReason::client_disconnect);
  EXPECT_FALSE(publishes_will(handler.closes[0]));
}

TEST_F(ProtocolTest, MalformedPacketClosesWithProtocolError) {
  connect();
  feed_raw(std::string("\x62\x02\x00\x01", 4));  // PUBREL with flags 0010 is right...
  EXPECT_TRUE(handler.closes.empty());
  feed_raw(std::string("\x60\x02\x00\x01", 4));  // ...flags 0000 are not [MQTT-3.6.1-1]
  ASSERT_EQ(handler.closes.size(), 1u);
  EXPECT_EQ(handler.closes[0], CloseReason::protocol_error);
}

TEST_F(ProtocolTest, OversizedPacketIsRefused) {
  connect();
  feed_raw(std::string("\x30\xff\x7f", 3));  // PUBLISH claiming 16383 bytes, limit 1024
  ASSERT_EQ(handler.closes.size(), 1u);
  EXPECT_EQ(handler.closes[0], CloseReason::protocol_error);
}

TEST_F(ProtocolTest, Qos1PubacksLeaveInArrivalOrder) {  // [MQTT-4.6.0-2]
  connect();
  for (PacketId id : {1, 2, 3}) feed(Publish{false, 1, false, "t", id, Payload::copy_of("x")});
  ASSERT_EQ(handler.dones.size(), 3u);
  handler.dones[2](PublishResult{});
  handler.dones[1](PublishResult{});
  EXPECT_TRUE(sent().empty());  // the first is not stored yet, so nothing may leave
  handler.dones[0](PublishResult{});
  auto out = sent();
  ASSERT_EQ(out.size(), 3u);
  EXPECT_EQ(std::get<Puback>(out[0]).packet_id, 1);
  EXPECT_EQ(std::get<Puback>(out[1]).packet_id, 2);
  EXPECT_EQ(std::get<Puback>(out[2]).packet_id, 3);
}

TEST_F(ProtocolTest, FailedStoreClosesTheConnection) {
  connect();
  feed(Publish{false, 1, false, "t", 5, Payload::copy_of("x")});
  handler.dones[0](PublishResult{ReasonCode::unspecified_error, "disk failed"});
  EXPECT_TRUE(sent().empty());
  ASSERT_EQ(handler.closes.size(), 1u);
}

TEST_F(ProtocolTest, Qos2InboundIsPublishedOnceAcrossDuplicates) {  // [MQTT-4.3.3-2]
  connect(false);
  Publish p{false, 2, false, "t", 9, Payload::copy_of("once")};
  feed(p);
  handler.dones[0](PublishResult{});
  p.dup = true;
  feed(p);  // the client did not see our PUBREC and resends
  EXPECT_EQ(handler.publishes.size(), 1u);
  auto out = sent();
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(std::get<Pubrec>(out[0]).packet_id, 9);
  EXPECT_EQ(std::get<Pubrec>(out[1]).packet_id, 9);
  feed(Pubrel{9});
  out = sent();
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(std::get<Pubcomp>(out[0]).packet_id, 9);
  // After PUBREL the id is free: the same id now carries a new message.
  feed(Publish{false, 2, false, "t", 9, Payload::copy_of("new")});
  EXPECT_EQ(handler.publishes.size(), 2u);
}

TEST_F(ProtocolTest, Qos2InboundStateSurvivesReconnect) {
  connect(false);
  feed(Publish{false, 2, false, "t", 4, Payload::copy_of("m")});
  handler.dones[0](PublishResult{});
  proto->on_closed();
  // New connection, same session: the resent PUBLISH is not published again.
  FakeHandler h2;
  auto p2 = std::make_shared<Protocol>(h2, clock, ProtocolLimits{});
  std::string bytes = resume_connect_bytes();
  encode(Publish{true, 2, false, "t", 4, Payload::copy_of("m")}, ProtocolVersion::v311, bytes);
  p2->on_bytes({reinterpret_cast<const std::uint8_t*>(bytes.data()), 0});
  std::span<const std::uint8_t> all{reinterpret_cast<const std::uint8_t*>(bytes.data()), bytes.size()};
  p2->on_bytes(all.first(15));  // CONNECT only (2 + 10 + 2 + 6 - ... split anywhere is fine)
  p2->on_bytes(all.subspan(15));
  // The PUBLISH may arrive before accept(): the protocol must hold it until the session is known.
  p2->accept(session, true);
  EXPECT_TRUE(h2.publishes.empty());
}

TEST_F(ProtocolTest, DeliveryQos1AndResendWithDupAfterReconnect) {  // [MQTT-4.4.0-1]
  connect(false);
  ASSERT_TRUE(proto->deliver(Publish{false, 1, false, "t", 0, Payload::copy_of("a")}, DeliveryOrigin{source("s"), 1, 1}));
  auto out = sent();
  ASSERT_EQ(out.size(), 1u);
  const auto first = std::get<Publish>(out[0]);
  EXPECT_FALSE(first.dup);
  EXPECT_NE(first.packet_id, 0);
  proto->on_closed();

  FakeHandler h2;
  auto p2 = std::make_shared<Protocol>(h2, clock, ProtocolLimits{});
  std::string bytes = resume_connect_bytes();
  p2->on_bytes({reinterpret_cast<const std::uint8_t*>(bytes.data()), bytes.size()});
  p2->accept(session, true);
  std::string all;
  for (auto& s : p2->output().take()) all.append(s.view());
  FrameReader reader(kMaxRemainingLength);
  reader.feed({reinterpret_cast<const std::uint8_t*>(all.data()), all.size()});
  auto connack = decode_server_packet(**reader.next(), ProtocolVersion::v311);
  ASSERT_TRUE(connack.ok());
  EXPECT_TRUE(std::get<Connack>(*connack).session_present);
  auto again = decode_server_packet(**reader.next(), ProtocolVersion::v311);
  ASSERT_TRUE(again.ok());
  const auto& resent = std::get<Publish>(*again);
  EXPECT_TRUE(resent.dup);
  EXPECT_EQ(resent.packet_id, first.packet_id);
  EXPECT_EQ(resent.payload.view(), "a");
}

TEST_F(ProtocolTest, Qos2DeliveryFlow) {
  connect();
  ASSERT_TRUE(proto->deliver(Publish{false, 2, false, "t", 0, Payload::copy_of("a")}, DeliveryOrigin{source("s"), 1, 7}));
  auto id = std::get<Publish>(sent()[0]).packet_id;
  feed(Pubrec{id});
  ASSERT_EQ(handler.acked.size(), 1u);
  EXPECT_EQ(handler.acked[0].entry, 7u);
  auto out = sent();
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(std::get<Pubrel>(out[0]).packet_id, id);
  EXPECT_EQ(handler.freed, 0);
  feed(Pubcomp{id});
  EXPECT_EQ(handler.freed, 1);
}

// A handler that makes QoS 2 steps durable later (as the broker with persistent sessions does).
struct DeferringHandler : FakeHandler {
  void on_pubrec_received(PacketId id, const DeliveryOrigin& o, std::function<void()> done) override {
    pubrecs.push_back(id);
    acked.push_back(o);
    pending.push_back(std::move(done));
  }
  void on_inbound_released(PacketId id, std::function<void()> done) override {
    released.push_back(id);
    pending.push_back(std::move(done));
  }
  std::vector<PacketId> pubrecs, released;
  std::vector<std::function<void()>> pending;
};

TEST_F(ProtocolTest, PubrelWaitsUntilThePubrecIsDurable) {
  DeferringHandler h;
  proto = std::make_shared<Protocol>(h, clock, ProtocolLimits{1024, std::chrono::seconds(10)});
  feed(Connect{"MQTT", ProtocolVersion::v311, false, 0, "client"});
  proto->accept(session, false);
  sent();
  ASSERT_TRUE(proto->deliver(Publish{false, 2, false, "t", 0, Payload::copy_of("a")}, DeliveryOrigin{source("s"), 1, 7}));
  auto id = std::get<Publish>(sent()[0]).packet_id;
  feed(Pubrec{id});
  ASSERT_EQ(h.pubrecs, std::vector<PacketId>{id});
  EXPECT_TRUE(sent().empty());  // not before the handler says the state is durable
  h.pending[0]();
  auto out = sent();
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(std::get<Pubrel>(out[0]).packet_id, id);
}

TEST_F(ProtocolTest, PubcompWaitsUntilTheReleaseIsDurableAndKeepsAckOrder) {  // [MQTT-4.6.0-2]
  DeferringHandler h;
  proto = std::make_shared<Protocol>(h, clock, ProtocolLimits{1024, std::chrono::seconds(10)});
  feed(Connect{"MQTT", ProtocolVersion::v311, false, 0, "client"});
  proto->accept(session, false);
  sent();
  feed(Publish{false, 2, false, "t", 9, Payload::copy_of("m")});
  h.dones[0](PublishResult{});
  EXPECT_EQ(std::get<Pubrec>(sent()[0]).packet_id, 9);
  feed(Pubrel{9});
  feed(Publish{false, 1, false, "t", 10, Payload::copy_of("n")});
  h.dones[1](PublishResult{});
  EXPECT_EQ(h.released, std::vector<PacketId>{9});
  EXPECT_TRUE(sent().empty());  // the PUBACK waits behind the PUBCOMP, which waits for the store
  h.pending[0]();
  auto out = sent();
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(std::get<Pubcomp>(out[0]).packet_id, 9);
  EXPECT_EQ(std::get<Puback>(out[1]).packet_id, 10);
  // A PUBREL for an id already released is answered at once, with nothing to make durable.
  feed(Pubrel{9});
  EXPECT_EQ(h.released.size(), 1u);
  EXPECT_EQ(std::get<Pubcomp>(sent()[0]).packet_id, 9);
}

TEST_F(ProtocolTest, RestoredAwaitingPubcompResendsPubrel) {
  ASSERT_TRUE(session->restore_awaiting_pubcomp(42, DeliveryOrigin{source("s"), 3, 4}));
  EXPECT_FALSE(session->restore_awaiting_pubcomp(42, DeliveryOrigin{}));
  std::string bytes = resume_connect_bytes();
  proto->on_bytes({reinterpret_cast<const std::uint8_t*>(bytes.data()), bytes.size()});
  proto->accept(session, true);
  auto out = sent();
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(std::get<Pubrel>(out[1]).packet_id, 42);
  feed(Pubcomp{42});
  EXPECT_EQ(handler.freed, 1);
  EXPECT_EQ(session->outbound_count(), 0u);
}

TEST_F(ProtocolTest, SubscribeAnswersSubackThenRetained) {
  connect();
  feed(Subscribe{3, {{"a/+", 1}, {"b", 2}}});
  auto out = sent();
  ASSERT_EQ(out.size(), 1u);
  const auto& ack = std::get<Suback>(out[0]);
  EXPECT_EQ(ack.packet_id, 3);
  EXPECT_EQ(ack.return_codes, (std::vector<std::uint8_t>{1, 2}));
  EXPECT_EQ(handler.subscribed, 1);
}

TEST_F(ProtocolTest, SubackWaitsUntilTheHandlerSaysTheSubscriptionsExist) {
  connect();
  handler.hold_subacks = true;
  feed(Subscribe{5, {{"slow", 1}}});
  EXPECT_TRUE(sent().empty());  // nothing until the subscription exists
  EXPECT_EQ(handler.subscribed, 0);
  ASSERT_EQ(handler.subacks.size(), 1u);
  handler.subacks[0]();
  auto out = sent();
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(std::get<Suback>(out[0]).packet_id, 5);
  EXPECT_EQ(handler.subscribed, 1);
}

TEST_F(ProtocolTest, PacketsAfterASubscribeWaitForItsSuback) {
  connect();
  handler.hold_subacks = true;
  std::string bytes;
  encode(Packet{Subscribe{7, {{"t", 1}}}}, ProtocolVersion::v311, bytes);
  encode(Packet{Publish{false, 1, false, "t", 8, Payload::copy_of("after")}}, ProtocolVersion::v311, bytes);
  encode(Packet{Pingreq{}}, ProtocolVersion::v311, bytes);
  feed_raw(bytes);  // one read: SUBSCRIBE, PUBLISH, PINGREQ
  EXPECT_TRUE(handler.publishes.empty());  // not before the subscription exists
  EXPECT_TRUE(sent().empty());
  ASSERT_EQ(handler.subacks.size(), 1u);
  handler.subacks[0]();
  ASSERT_EQ(handler.publishes.size(), 1u);
  handler.dones[0](PublishResult{});
  auto out = sent();
  ASSERT_EQ(out.size(), 3u);  // in the order of the requests
  EXPECT_TRUE(std::holds_alternative<Suback>(out[0]));
  EXPECT_TRUE(std::holds_alternative<Pingresp>(out[1]) || std::holds_alternative<Puback>(out[1]));
  EXPECT_EQ(std::holds_alternative<Puback>(out[1]) + std::holds_alternative<Puback>(out[2]), 1);
}

TEST_F(ProtocolTest, InputIsHeldWhileASubscribeWaitsAndReleasedWithItsSuback) {
  connect();
  EXPECT_FALSE(proto->input_held());
  handler.input_releases = 0;  // the CONNACK's
  handler.hold_subacks = true;
  std::string bytes;
  encode(Packet{Subscribe{7, {{"a", 1}}}}, ProtocolVersion::v311, bytes);
  encode(Packet{Pingreq{}}, ProtocolVersion::v311, bytes);
  encode(Packet{Subscribe{8, {{"b", 1}}}}, ProtocolVersion::v311, bytes);
  encode(Packet{Pingreq{}}, ProtocolVersion::v311, bytes);
  feed_raw(bytes);
  EXPECT_TRUE(proto->input_held());  // the transport stops reading
  ASSERT_EQ(handler.subacks.size(), 1u);
  handler.subacks[0]();
  // The waiting PINGREQ is answered, then the second SUBSCRIBE holds the input again.
  EXPECT_TRUE(proto->input_held());
  EXPECT_EQ(handler.input_releases, 0);
  ASSERT_EQ(handler.subacks.size(), 2u);
  handler.subacks[1]();
  EXPECT_FALSE(proto->input_held());
  EXPECT_EQ(handler.input_releases, 1);  // now the transport reads on
  auto out = sent();
  ASSERT_EQ(out.size(), 4u);
  EXPECT_TRUE(std::holds_alternative<Suback>(out[0]));
  EXPECT_TRUE(std::holds_alternative<Pingresp>(out[1]));
  EXPECT_TRUE(std::holds_alternative<Suback>(out[2]));
  EXPECT_TRUE(std::holds_alternative<Pingresp>(out[3]));
}

TEST_F(ProtocolTest, InputIsHeldWhileTheConnectIsDecided) {
  feed(Connect{"MQTT", ProtocolVersion::v311, true, 0, "client"});
  EXPECT_TRUE(proto->input_held());
  proto->accept(session, false);
  EXPECT_FALSE(proto->input_held());
  EXPECT_EQ(handler.input_releases, 1);
}

TEST_F(ProtocolTest, SubackOfAClosedConnectionIsDropped) {
  connect();
  handler.hold_subacks = true;
  feed(Subscribe{6, {{"slow", 1}}});
  proto->on_closed();  // the peer went before the subscription was ready
  sent();
  ASSERT_EQ(handler.subacks.size(), 1u);
  handler.subacks[0]();
  EXPECT_TRUE(sent().empty());
  EXPECT_EQ(handler.subscribed, 0);
}

TEST_F(ProtocolTest, UnsubscribeAlwaysGetsUnsuback) {  // [MQTT-3.10.4-4]
  connect();
  feed(Unsubscribe{4, {"never/subscribed"}});
  auto out = sent();
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(std::get<Unsuback>(out[0]).packet_id, 4);
}

}  // namespace
}  // namespace mop::mqtt

namespace mop::mqtt {
namespace {

// MQTT 5 session behaviour. Each test names the statement of the MQTT 5.0 spec it checks.
class Protocol5Test : public ProtocolTest {
protected:
  void use_limits(ProtocolLimits l) { proto = std::make_shared<Protocol>(handler, clock, l); }
  Connack connect5(Properties props = {}, std::string id = "client", std::uint16_t keep_alive = 0) {
    Connect c;
    c.protocol_name = "MQTT";
    c.version = ProtocolVersion::v5;
    c.client_id = std::move(id);
    c.keep_alive = keep_alive;
    c.properties = std::move(props);
    feed(c, ProtocolVersion::v5);
    EXPECT_EQ(handler.connects.size(), 1u);
    proto->accept(session, false);
    auto out = sent();
    EXPECT_EQ(out.size(), 1u);
    return out.empty() ? Connack{} : std::get<Connack>(out[0]);
  }
  void feed5(const Packet& p) { feed(p, ProtocolVersion::v5); }
  Publish pub(std::string topic, std::uint8_t qos, PacketId id, std::string payload = "x") {
    Publish p;
    p.topic = std::move(topic);
    p.qos = qos;
    p.packet_id = id;
    p.payload = Payload::copy_of(std::string_view(payload));
    return p;
  }
  // The one packet sent, a DISCONNECT, and the close that followed.
  void expect_disconnect(ReasonCode rc) {
    auto out = sent();
    ASSERT_EQ(out.size(), 1u);
    ASSERT_TRUE(std::holds_alternative<Disconnect>(out[0]));
    EXPECT_EQ(std::get<Disconnect>(out[0]).reason_code, rc);
    EXPECT_EQ(handler.closes.size(), 1u);
  }
};

TEST_F(Protocol5Test, ConnackAdvertisesServerLimitsAndAssignsClientId) {  // [MQTT-3.2.2-16]
  Connect c;
  c.protocol_name = "MQTT";
  c.version = ProtocolVersion::v5;
  feed5(c);
  ASSERT_EQ(handler.connects.size(), 1u);
  proto->accept(session, false);
  auto out = sent();
  ASSERT_EQ(out.size(), 1u);
  const auto& ack = std::get<Connack>(out[0]);
  EXPECT_EQ(ack.reason_code, ReasonCode::success);
  EXPECT_EQ(ack.properties.assigned_client_identifier, proto->client_id());
  EXPECT_EQ(ack.properties.receive_maximum, 1000);
  EXPECT_EQ(ack.properties.maximum_packet_size, 1024u);
  EXPECT_EQ(ack.properties.topic_alias_maximum, 10);
  EXPECT_EQ(ack.properties.retain_available, true);
  EXPECT_EQ(ack.properties.wildcard_subscription_available, true);
  EXPECT_EQ(ack.properties.subscription_identifier_available, true);
  EXPECT_EQ(ack.properties.shared_subscription_available, true);
  EXPECT_FALSE(ack.properties.server_keep_alive);
}

TEST_F(Protocol5Test, ServerKeepAliveReplacesTheClients) {  // [MQTT-3.1.2-21]
  use_limits(ProtocolLimits{1024, std::chrono::seconds(10), 1000, 10, 5});
  auto ack = connect5({}, "client", 60);
  EXPECT_EQ(ack.properties.server_keep_alive, 5);
  clock.advance(std::chrono::milliseconds(7'600));
  proto->on_tick();
  expect_disconnect(ReasonCode::keep_alive_timeout);  // 0x8D
  EXPECT_EQ(handler.closes[0], CloseReason::keep_alive_timeout);
}

TEST_F(Protocol5Test, MalformedPacketGetsDisconnect81) {  // [MQTT-4.13.1-1]
  connect5();
  feed_raw(std::string("\x36\x03\x00\x01" "a", 5));  // PUBLISH with QoS 3
  expect_disconnect(ReasonCode::malformed_packet);
  EXPECT_EQ(handler.closes[0], CloseReason::protocol_error);
}

TEST_F(Protocol5Test, PacketTooLargeGetsDisconnect95) {  // [MQTT-3.2.2-15]
  connect5();
  feed5(pub("a", 0, 0, std::string(2000, 'x')));
  expect_disconnect(ReasonCode::packet_too_large);
}

TEST_F(Protocol5Test, SecondConnectIsAProtocolError82) {  // [MQTT-3.1.0-2]
  connect5();
  Connect c;
  c.protocol_name = "MQTT";
  c.version = ProtocolVersion::v5;
  c.client_id = "client";
  feed5(c);
  expect_disconnect(ReasonCode::protocol_error);
}

TEST_F(Protocol5Test, AuthenticationMethodWithoutAuthenticatorGets8C) {  // [MQTT-4.12.0-1]
  Connect c;
  c.protocol_name = "MQTT";
  c.version = ProtocolVersion::v5;
  c.client_id = "a";
  c.properties.authentication_method = "SCRAM-SHA-1";
  feed5(c);
  auto out = sent();
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(std::get<Connack>(out[0]).reason_code, ReasonCode::bad_authentication_method);
  EXPECT_TRUE(handler.connects.empty());
  ASSERT_EQ(handler.closes.size(), 1u);
  EXPECT_EQ(handler.closes[0], CloseReason::connect_rejected);
}

TEST_F(Protocol5Test, TerminateSaysWhy) {  // [MQTT-3.1.4-3] takeover 0x8E
  connect5();
  proto->terminate(CloseReason::session_taken_over);
  expect_disconnect(ReasonCode::session_taken_over);
}

TEST_F(Protocol5Test, AdministrativeActionSaysWhyAndPublishesTheWill) {  // the admin API's kick: 0x98
  connect5();
  proto->terminate(CloseReason::administrative_action);
  expect_disconnect(ReasonCode::administrative_action);
  EXPECT_TRUE(publishes_will(CloseReason::administrative_action));  // the server closed it, not the client
}

TEST_F(Protocol5Test, InboundTopicAliasIsResolved) {  // [MQTT-3.3.2-12]
  connect5();
  auto p = pub("a/b", 0, 0);
  p.properties.topic_alias = 3;
  feed5(p);
  p.topic.clear();
  feed5(p);
  ASSERT_EQ(handler.publishes.size(), 2u);
  EXPECT_EQ(handler.publishes[1].topic, "a/b");
  EXPECT_FALSE(handler.publishes[1].properties.topic_alias);
  EXPECT_TRUE(handler.closes.empty());
}

TEST_F(Protocol5Test, TopicAliasAboveMaximumGetsDisconnect94) {  // [MQTT-3.3.2-10]
  connect5();
  auto p = pub("a", 0, 0);
  p.properties.topic_alias = 11;
  feed5(p);
  expect_disconnect(ReasonCode::topic_alias_invalid);
  EXPECT_TRUE(handler.publishes.empty());
}

TEST_F(Protocol5Test, UnknownTopicAliasIsAProtocolError) {  // [MQTT-3.3.4-...]: alias never set
  connect5();
  auto p = pub("", 0, 0);
  p.properties.topic_alias = 2;
  feed5(p);
  expect_disconnect(ReasonCode::protocol_error);
}

TEST_F(Protocol5Test, ExceedingOurReceiveMaximumGetsDisconnect93) {  // [MQTT-3.3.4-9]
  use_limits(ProtocolLimits{1024, std::chrono::seconds(10), 2, 10, 0});
  connect5();
  feed5(pub("a", 1, 1));
  feed5(pub("a", 2, 2));
  EXPECT_TRUE(sent().empty());
  feed5(pub("a", 1, 3));
  expect_disconnect(ReasonCode::receive_maximum_exceeded);
}

TEST_F(Protocol5Test, AcknowledgedPublishesFreeTheReceiveMaximum) {
  use_limits(ProtocolLimits{1024, std::chrono::seconds(10), 1, 10, 0});
  connect5();
  for (PacketId id = 1; id <= 3; ++id) {
    feed5(pub("a", 1, id));
    handler.dones.back()(PublishResult{});
  }
  EXPECT_EQ(sent().size(), 3u);
  EXPECT_TRUE(handler.closes.empty());
}

TEST_F(Protocol5Test, InvalidUtf8WithPayloadFormat1GetsPuback99) {  // [MQTT-3.3.2-4]
  connect5();
  auto p = pub("a", 1, 7, "\xff\xfe");
  p.properties.payload_format_indicator = 1;
  feed5(p);
  auto out = sent();
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(std::get<Puback>(out[0]).reason_code, ReasonCode::payload_format_invalid);
  EXPECT_TRUE(handler.publishes.empty());
  p.qos = 0;
  feed5(p);
  expect_disconnect(ReasonCode::payload_format_invalid);
}

TEST_F(Protocol5Test, NoMatchingSubscribersIsPuback10OrPubrec10) {  // MQTT 5 3.4.2.1, 3.5.2.1
  connect5();
  feed5(pub("a", 1, 1));
  feed5(pub("a", 2, 2));
  handler.dones[0](PublishResult{ReasonCode::no_matching_subscribers, {}});
  handler.dones[1](PublishResult{ReasonCode::no_matching_subscribers, {}});
  auto out = sent();
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(std::get<Puback>(out[0]).reason_code, ReasonCode::no_matching_subscribers);
  EXPECT_FALSE(std::get<Puback>(out[0]).properties.reason_string);
  EXPECT_EQ(std::get<Pubrec>(out[1]).reason_code, ReasonCode::no_matching_subscribers);
  feed5(Pubrel{2});  // 0x10 is a success: the QoS 2 flow goes on
  out = sent();
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(std::get<Pubcomp>(out[0]).reason_code, ReasonCode::success);
  EXPECT_TRUE(handler.closes.empty());
}

TEST_F(ProtocolTest, NoMatchingSubscribersIsAPlainPubackIn311) {
  connect();
  feed(Publish{false, 1, false, "t", 5, Payload::copy_of("x")});
  handler.dones[0](PublishResult{ReasonCode::no_matching_subscribers, {}});
  auto out = sent();
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(std::get<Puback>(out[0]).packet_id, 5);
  EXPECT_TRUE(handler.closes.empty());
}

TEST_F(Protocol5Test, FailedStoreIsANegativeAckAndTheConnectionStays) {  // MQTT 5 3.4.2.1, 4.13.2
  connect5();
  feed5(pub("a", 1, 1));
  feed5(pub("a", 2, 2));
  feed5(pub("a", 1, 3));
  handler.dones[0](PublishResult{ReasonCode::unspecified_error, "message not stored: I/O error"});
  handler.dones[1](PublishResult{ReasonCode::quota_exceeded, "message not stored: no space left on device"});
  handler.dones[2](PublishResult{});
  auto out = sent();
  ASSERT_EQ(out.size(), 3u);
  const auto& a = std::get<Puback>(out[0]);
  EXPECT_EQ(a.reason_code, ReasonCode::unspecified_error);
  EXPECT_EQ(a.properties.reason_string, "message not stored: I/O error");
  const auto& r = std::get<Pubrec>(out[1]);
  EXPECT_EQ(r.reason_code, ReasonCode::quota_exceeded);
  EXPECT_EQ(r.properties.reason_string, "message not stored: no space left on device");
  EXPECT_EQ(std::get<Puback>(out[2]).reason_code, ReasonCode::success);
  EXPECT_TRUE(handler.closes.empty());
  // The refused QoS 2 id is free again: the client may send the message anew with it.
  EXPECT_FALSE(session->inbound_qos2_pending(2));
  feed5(pub("a", 2, 2));
  EXPECT_EQ(handler.publishes.size(), 4u);
}

TEST_F(Protocol5Test, ResponseInformationOnlyWhenRequested) {  // [MQTT-3.1.2-28], MQTT 5 3.2.2.3.15
  auto ack = connect5();
  EXPECT_FALSE(ack.properties.response_information);
}

TEST_F(Protocol5Test, ResponseInformationIsAPrefixOfTheClientsOwn) {  // MQTT 5 3.1.2.11.6, 3.2.2.3.15
  Properties props;
  props.request_response_information = true;
  auto ack = connect5(props, "a/b+c#%d");
  // One topic level per client, a valid topic name whatever the client id.
  EXPECT_EQ(ack.properties.response_information, "$response/a%2Fb%2Bc%23%25d");
  EXPECT_TRUE(proto->response_information_requested());
}

TEST_F(Protocol5Test, NegativeAcksSayWhy) {  // MQTT 5 3.9.2.1.2, 3.14.2.2.3
  connect5();
  handler.suback_codes = {0x01, 0x8F};
  feed5(Subscribe{1, {{"ok", 1}, {"bad/#/x", 1}}});
  auto out = sent();
  ASSERT_EQ(out.size(), 1u);
  const auto& sa = std::get<Suback>(out[0]);
  ASSERT_TRUE(sa.properties.reason_string);
  EXPECT_NE(sa.properties.reason_string->find("'bad/#/x'"), std::string::npos) << *sa.properties.reason_string;
  EXPECT_EQ(sa.properties.reason_string->find("'ok'"), std::string::npos);
  auto p = pub("a", 1, 7, "\xff");
  p.properties.payload_format_indicator = 1;
  feed5(p);
  out = sent();
  ASSERT_EQ(out.size(), 1u);
  EXPECT_TRUE(std::get<Puback>(out[0]).properties.reason_string);
  proto->terminate(CloseReason::session_taken_over);
  out = sent();
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(std::get<Disconnect>(out[0]).properties.reason_string, "session taken over");
}

TEST_F(Protocol5Test, NoProblemInformationKeepsAcksBare) {  // [MQTT-3.1.2-29]
  Properties props;
  props.request_problem_information = false;
  connect5(props);
  EXPECT_FALSE(proto->problem_information_requested());
  handler.suback_codes = {0x8F};
  feed5(Subscribe{1, {{"bad/#/x", 1}}});
  auto p = pub("a", 1, 7, "\xff");
  p.properties.payload_format_indicator = 1;
  feed5(p);
  auto out = sent();
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(std::get<Suback>(out[0]).return_codes, std::vector<std::uint8_t>{0x8F});
  EXPECT_EQ(std::get<Suback>(out[0]).properties, Properties{});
  EXPECT_EQ(std::get<Puback>(out[1]).reason_code, ReasonCode::payload_format_invalid);
  EXPECT_EQ(std::get<Puback>(out[1]).properties, Properties{});
  // DISCONNECT may still say why.
  proto->terminate(CloseReason::server_shutdown);
  out = sent();
  ASSERT_EQ(out.size(), 1u);
  EXPECT_TRUE(std::get<Disconnect>(out[0]).properties.reason_string);
}

// [MQTT-3.2.2-19/20], [MQTT-3.4.2-2/3], [MQTT-3.9.2-1/2], [MQTT-3.14.2-3/4]: the reason string is
// left out when it would make the packet larger than the client's maximum packet size.
TEST_F(Protocol5Test, DiagnosticsStayWithinTheClientsMaximumPacketSize) {
  Properties props;
  props.maximum_packet_size = 20;
  connect5(props);
  handler.suback_codes = {0x8F};
  feed5(Subscribe{1, {{"bad/#/x", 1}}});
  auto p = pub("a", 1, 7, "\xff");
  p.properties.payload_format_indicator = 1;
  feed5(p);
  proto->terminate(CloseReason::keep_alive_timeout);
  std::string all;
  for (auto& sl : proto->output().take()) all.append(sl.view());
  // SUBACK 0x90 0x03 id id 0x00 0x8F; PUBACK short form with reason; DISCONNECT 0x8D, no properties.
  EXPECT_EQ(all, std::string("\x90\x04\x00\x01\x00\x8f" "\x40\x03\x00\x07\x99" "\xe0\x01\x8d", 14));
}

TEST_F(Protocol5Test, RejectedConnectSaysWhy) {  // MQTT 5 3.2.2.3.9
  Connect c;
  c.protocol_name = "MQTT";
  c.version = ProtocolVersion::v5;
  c.client_id = "x";
  c.properties.authentication_method = "KERBEROS";
  feed5(c);
  auto out = sent();
  ASSERT_EQ(out.size(), 1u);
  const auto& ack = std::get<Connack>(out[0]);
  EXPECT_EQ(ack.reason_code, ReasonCode::bad_authentication_method);
  ASSERT_TRUE(ack.properties.reason_string);
  EXPECT_NE(ack.properties.reason_string->find("KERBEROS"), std::string::npos);
}

// [MQTT-3.3.2-5], [MQTT-3.3.2-6]: a message waiting in the session (receive maximum reached, or
// the client away) is sent with the interval left at that time, and not at all once expired.
TEST_F(Protocol5Test, QueuedMessagesRecountTheirExpiry) {
  Properties props;
  props.receive_maximum = 1;
  connect5(props);
  const std::uint64_t t0 = clock.wall_ms();
  auto msg = [&](const char* payload, std::uint32_t interval) {
    Publish p = pub("t", 1, 0, payload);
    p.properties.message_expiry_interval = interval;
    return p;
  };
  DeliveryOrigin oa{source("s"), 1, 1}, ob{source("s"), 1, 2},
      oc{source("s"), 1, 3};
  ASSERT_TRUE(proto->deliver(msg("a", 100), oa, t0 + 100'000));
  ASSERT_TRUE(proto->deliver(msg("b", 30), ob, t0 + 30'000));   // waits: receive maximum 1
  ASSERT_TRUE(proto->deliver(msg("c", 100), oc, t0 + 100'000)); // waits too
  auto out = sent();
  ASSERT_EQ(out.size(), 1u);
  const auto a = std::get<Publish>(out[0]);
  EXPECT_EQ(a.properties.message_expiry_interval, 100u);
  clock.advance(std::chrono::seconds(40));
  feed5(Puback{a.packet_id});
  out = sent();
  ASSERT_EQ(out.size(), 1u);  // b expired while it waited: never sent
  const auto c = std::get<Publish>(out[0]);
  EXPECT_EQ(c.payload.view(), "c");
  EXPECT_EQ(c.properties.message_expiry_interval, 60u);
  ASSERT_EQ(handler.acked.size(), 2u);  // a by its PUBACK, b dropped
  EXPECT_EQ(handler.acked[1].entry, 2u);
  EXPECT_EQ(handler.freed, 2);
  // c is unacknowledged when the connection drops; resent 25 s later with what is left.
  proto->on_closed();
  clock.advance(std::chrono::seconds(25));
  proto = std::make_shared<Protocol>(handler, clock, ProtocolLimits{1024, std::chrono::seconds(10)});
  Connect again;
  again.protocol_name = "MQTT";
  again.version = ProtocolVersion::v5;
  again.client_id = "client";
  again.clean_session = false;
  feed5(again);
  proto->accept(session, true);
  out = sent();
  ASSERT_EQ(out.size(), 2u);
  const auto resent = std::get<Publish>(out[1]);
  EXPECT_TRUE(resent.dup);
  EXPECT_EQ(resent.payload.view(), "c");
  EXPECT_EQ(resent.properties.message_expiry_interval, 35u);
  // Expired after its delivery started: the flow still completes (interval at least 1).
  proto->on_closed();
  clock.advance(std::chrono::seconds(100));
  proto = std::make_shared<Protocol>(handler, clock, ProtocolLimits{1024, std::chrono::seconds(10)});
  feed5(again);
  proto->accept(session, true);
  out = sent();
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(std::get<Publish>(out[1]).properties.message_expiry_interval, 1u);
}

TEST_F(Protocol5Test, PubrelForUnknownIdGetsPubcomp92) {  // MQTT 5 3.7.2.1
  connect5();
  feed5(Pubrel{9});
  auto out = sent();
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(std::get<Pubcomp>(out[0]).reason_code, ReasonCode::packet_identifier_not_found);
}

TEST_F(Protocol5Test, UnsubackCarriesOneReasonCodePerFilter) {  // [MQTT-3.11.3-1]
  connect5();
  Unsubscribe u;
  u.packet_id = 4;
  u.filters = {"a", "b"};
  feed5(u);
  auto out = sent();
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(std::get<Unsuback>(out[0]).reason_codes.size(), 2u);
}

TEST_F(Protocol5Test, DisconnectCannotExtendASessionThatEndsWithTheConnection) {  // [MQTT-3.14.2-2]
  session->set_expiry_interval(0);
  connect5();
  Disconnect d;
  d.properties.session_expiry_interval = 60;
  feed5(d);
  expect_disconnect(ReasonCode::protocol_error);
  EXPECT_EQ(session->expiry_interval(), 0u);
}

TEST_F(Protocol5Test, DisconnectMayChangeTheExpiryInterval) {
  session->set_expiry_interval(100);
  connect5();
  Disconnect d;
  d.properties.session_expiry_interval = 0;
  feed5(d);
  EXPECT_EQ(session->expiry_interval(), 0u);
  ASSERT_EQ(handler.closes.size(), 1u);
  EXPECT_EQ(handler.closes[0], CloseReason::client_disconnect);
  EXPECT_FALSE(publishes_will(handler.closes[0]));
}

TEST_F(Protocol5Test, DisconnectWithWillMessagePublishesTheWill) {  // MQTT 5 3.14.2.1, 0x04
  connect5();
  feed5(Disconnect{ReasonCode::disconnect_with_will_message, {}});
  ASSERT_EQ(handler.closes.size(), 1u);
  EXPECT_EQ(handler.closes[0], CloseReason::client_disconnect_with_will);
  EXPECT_TRUE(publishes_will(handler.closes[0]));
}

TEST_F(Protocol5Test, ClientReceiveMaximumBoundsInflight) {  // [MQTT-3.3.4-7]
  Properties props;
  props.receive_maximum = 1;
  connect5(props);
  EXPECT_TRUE(proto->deliver(pub("t", 1, 0), DeliveryOrigin{source("s"), 1, 1}));
  EXPECT_TRUE(proto->deliver(pub("t", 1, 0), DeliveryOrigin{source("s"), 1, 2}));
  auto out = sent();
  ASSERT_EQ(out.size(), 1u);
  const PacketId first = std::get<Publish>(out[0]).packet_id;
  feed5(Puback{first});
  out = sent();
  ASSERT_EQ(out.size(), 1u);
  EXPECT_NE(std::get<Publish>(out[0]).packet_id, first);
  EXPECT_EQ(handler.freed, 1);
}

TEST_F(Protocol5Test, MessageLargerThanClientMaximumPacketSizeIsDropped) {  // [MQTT-3.1.2-25]
  Properties props;
  props.maximum_packet_size = 50;
  connect5(props);
  EXPECT_TRUE(proto->deliver(pub("t", 1, 0, std::string(100, 'x')), DeliveryOrigin{source("s"), 1, 1}));
  EXPECT_TRUE(sent().empty());
  EXPECT_EQ(handler.acked.size(), 1u);  // discarded as if delivered: the cursor moves on
  EXPECT_EQ(handler.freed, 1);
  EXPECT_TRUE(proto->deliver(pub("t", 0, 0, "small"), {}));
  EXPECT_EQ(sent().size(), 1u);
}

TEST_F(Protocol5Test, OutboundTopicAliasesStayWithinTheClientsMaximum) {  // [MQTT-3.3.2-9]
  Properties props;
  props.topic_alias_maximum = 1;
  connect5(props);
  proto->deliver(pub("a", 0, 0), {});
  proto->deliver(pub("a", 0, 0), {});
  proto->deliver(pub("b", 0, 0), {});
  auto out = sent();
  ASSERT_EQ(out.size(), 3u);
  EXPECT_EQ(std::get<Publish>(out[0]).topic, "a");
  EXPECT_EQ(std::get<Publish>(out[0]).properties.topic_alias, 1);
  EXPECT_EQ(std::get<Publish>(out[1]).topic, "");
  EXPECT_EQ(std::get<Publish>(out[1]).properties.topic_alias, 1);
  EXPECT_EQ(std::get<Publish>(out[2]).topic, "b");  // LRU: alias 1 now means b
  EXPECT_EQ(std::get<Publish>(out[2]).properties.topic_alias, 1);
}

TEST_F(Protocol5Test, OutboundTopicAliasEvictsTheLeastRecentlyUsed) {
  Properties props;
  props.topic_alias_maximum = 2;
  connect5(props);
  for (const char* t : {"a", "b", "a", "c", "a"}) proto->deliver(pub(t, 0, 0), {});
  auto out = sent();
  ASSERT_EQ(out.size(), 5u);
  auto alias = [&](int i) { return *std::get<Publish>(out[i]).properties.topic_alias; };
  EXPECT_EQ(alias(0), 1);
  EXPECT_EQ(alias(1), 2);
  EXPECT_EQ(alias(3), 2);  // c takes b's alias: a was used more recently
  EXPECT_EQ(std::get<Publish>(out[4]).topic, "");  // a still aliased
  EXPECT_EQ(alias(4), 1);
}

TEST_F(Protocol5Test, NoTopicAliasesWhenTheClientAllowsNone) {  // [MQTT-3.3.2-9]
  connect5();
  proto->deliver(pub("a", 0, 0), {});
  auto out = sent();
  ASSERT_EQ(out.size(), 1u);
  EXPECT_FALSE(std::get<Publish>(out[0]).properties.topic_alias);
}

}  // namespace
}  // namespace mop::mqtt
