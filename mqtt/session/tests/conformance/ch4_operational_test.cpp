// MQTT 5.0 chapter 4: operational behaviour (ordering, resend, flow control), byte level.
#include "mqtt/session/tests/conformance/harness.hpp"

namespace mop::mqtt::conformance {
namespace {

// A broker that completes publishes only when the test says, out of order.
struct DeferringHandler : ConformanceHandler {
  void on_publish(const Publish&, PublishDone done) override {
    ++published;
    if (done) pending.push_back(std::move(done));
  }
  std::vector<PublishDone> pending;
};

class Ch4 : public Conformance {
protected:
  Ch4() {
    proto = std::make_shared<Protocol>(deferring, clock, ProtocolLimits{1024, std::chrono::seconds(10)});
    deferring.proto = proto.get();
  }
  DeferringHandler deferring;
};

// [MQTT-4.6.0-2]: PUBACKs leave in the order the PUBLISHes arrived, even when the store
// completes them in another order.
TEST_F(Ch4, PubacksInArrivalOrder) {
  connect();
  in(b({0x32, 0x06, 0, 1, 't', 0, 1, 0}) + b({0x32, 0x06, 0, 1, 't', 0, 2, 0}));
  ASSERT_EQ(deferring.pending.size(), 2u);
  deferring.pending[1](PublishResult{});
  EXPECT_EQ(out(), "");
  deferring.pending[0](PublishResult{});
  EXPECT_EQ(out(), b({0x40, 0x02, 0, 1, 0x40, 0x02, 0, 2}));
}

// [MQTT-4.4.0-1] (resend unacknowledged PUBLISH with DUP on session resumption) and
// [MQTT-3.3.4-7] (never more in flight than the client's Receive Maximum, here 1).
TEST_F(Ch4, ReceiveMaximumThenResendWithDup) {
  auto session = std::make_shared<Session>("c", false);
  ConformanceHandler h;
  h.accept = false;
  proto = std::make_shared<Protocol>(h, clock, ProtocolLimits{1024, std::chrono::seconds(10)});
  h.proto = proto.get();
  connect(b({0x21, 0, 1}));  // Receive Maximum 1
  proto->accept(session, false);
  out();
  Publish p{false, 1, false, "t", 0, Payload::copy_of("m")};
  proto->deliver(p, {});
  proto->deliver(p, {});
  EXPECT_EQ(out(), b({0x32, 0x07, 0, 1, 't', 0, 1, 0, 'm'}));  // only the first
  proto->on_closed();
  ConformanceHandler h2;
  h2.accept = false;
  proto = std::make_shared<Protocol>(h2, clock, ProtocolLimits{1024, std::chrono::seconds(10)});
  h2.proto = proto.get();
  const std::string connack = connect(b({0x21, 0, 1}));
  EXPECT_EQ(connack, "");  // CONNACK waits for accept
  proto->accept(session, true);
  const std::string bytes = out();
  const std::string resend = b({0x3A, 0x07, 0, 1, 't', 0, 1, 0, 'm'});  // DUP, same id
  ASSERT_GE(bytes.size(), resend.size());
  EXPECT_EQ(bytes.substr(bytes.size() - resend.size()), resend);
  in(b({0x40, 0x02, 0, 1}));  // PUBACK frees the slot: the second goes out
  EXPECT_EQ(out(), b({0x32, 0x07, 0, 1, 't', 0, 2, 0, 'm'}));
}

// [MQTT-4.13.1-1]: a malformed packet (QoS 3 PUBLISH) is answered with DISCONNECT 0x81
// before the connection closes.
TEST_F(Ch4, MalformedPacketDisconnect81) {
  connect();
  in(b({0x36, 0x03, 0, 1, 'a'}));
  EXPECT_EQ(disconnect_reason(out()), 0x81);
  EXPECT_TRUE(deferring.closed);
}

}  // namespace
}  // namespace mop::mqtt::conformance
