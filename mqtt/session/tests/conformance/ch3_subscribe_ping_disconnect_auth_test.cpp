// MQTT 5.0 chapters 3.8 - 3.15: SUBSCRIBE/SUBACK, UNSUBSCRIBE/UNSUBACK, PINGREQ/PINGRESP,
// DISCONNECT and AUTH, byte level.
#include "mqtt/session/tests/conformance/harness.hpp"

namespace mop::mqtt::conformance {
namespace {

// [MQTT-3.8.4-1] SUBACK with the same packet id; [MQTT-3.9.3-1] one reason code per filter,
// in order.
TEST_F(Conformance, Ch3_SubackOneCodePerFilterInOrder) {
  connect();
  in(b({0x82, 0x0b, 0, 3, 0, 0, 1, 'a', 0x01, 0, 1, 'b', 0x02}));
  EXPECT_EQ(out(), b({0x90, 0x05, 0, 3, 0, 0x01, 0x02}));
}

// [MQTT-3.10.4-4], [MQTT-3.10.4-5], [MQTT-3.11.3-1]: UNSUBACK, same packet id, a code per filter.
TEST_F(Conformance, Ch3_UnsubackOneCodePerFilter) {
  connect();
  in(b({0xA2, 0x09, 0, 4, 0, 0, 1, 'a', 0, 1, 'b'}));
  EXPECT_EQ(out(), b({0xB0, 0x05, 0, 4, 0, 0x00, 0x00}));
}

// [MQTT-3.12.4-1]: PINGREQ is answered with PINGRESP.
TEST_F(Conformance, Ch3_PingreqGetsPingresp) {
  connect();
  in(b({0xC0, 0x00}));
  EXPECT_EQ(out(), b({0xD0, 0x00}));
}

// [MQTT-3.14.4-1], [MQTT-3.14.4-3]: after the client's DISCONNECT (0x00) the server sends
// nothing and closes, without the will.
TEST_F(Conformance, Ch3_ClientDisconnectClosesQuietly) {
  connect();
  in(b({0xE0, 0x00}));
  EXPECT_EQ(out(), "");
  EXPECT_TRUE(handler.closed);
  EXPECT_EQ(handler.reason, CloseReason::client_disconnect);
  EXPECT_FALSE(publishes_will(handler.reason));
}

// MQTT 5 3.14.2.1: reason 0x04 Disconnect with Will Message publishes the will.
TEST_F(Conformance, Ch3_DisconnectWithWillMessage) {
  connect();
  in(b({0xE0, 0x01, 0x04}));
  EXPECT_TRUE(handler.closed);
  EXPECT_TRUE(publishes_will(handler.reason));
}

// MQTT 5 3.14.2.2.2: a DISCONNECT may not set a non-zero Session Expiry Interval when CONNECT
// had 0: DISCONNECT 0x82 from the server, whose DISCONNECT has no Session Expiry Interval
// [MQTT-3.14.2-2].
TEST_F(Conformance, Ch3_DisconnectCannotRaiseSessionExpiryFromZero) {
  connect(b({0x17, 0x00}));
  in(b({0xE0, 0x07, 0x00, 0x05, 0x11, 0, 0, 0, 60}));
  const std::string d = out();
  EXPECT_EQ(disconnect_reason(d), 0x82);
  EXPECT_TRUE(handler.closed);
}

// [MQTT-3.14.2-3]: the server's DISCONNECT leaves its reason string out when it would exceed the
// client's Maximum Packet Size: takeover 0x8E in its short form, exactly E0 01 8E.
TEST_F(Conformance, Ch3_ServerDisconnectWithinMaximumPacketSize) {
  connect(b({0x27, 0, 0, 0, 4}));
  proto->terminate(CloseReason::session_taken_over);
  EXPECT_EQ(out(), b({0xE0, 0x01, 0x8E}));
}

// MQTT 5 4.12: AUTH without an authentication method in CONNECT is a protocol error
// ([MQTT-4.12.0-2]: AUTH 0x00 is not a re-authentication): DISCONNECT 0x82.
TEST_F(Conformance, Ch4_UnexpectedAuthIsDisconnect82) {
  connect();
  in(b({0xF0, 0x00}));
  const std::string d = out();
  EXPECT_EQ(disconnect_reason(d), 0x82);
}

// [MQTT-4.7.1-1]-style filter rules are the broker's; [MQTT-3.8.3-4]: No Local on a shared
// subscription is a protocol error, and [MQTT-3.8.1-1]: SUBSCRIBE reserved flags 0010.
TEST_F(Conformance, Ch3_SubscribeReservedFlagsIsDisconnect81) {
  connect();
  in(b({0x80, 0x06, 0, 3, 0, 0, 1, 'a'}));
  const std::string d = out();
  EXPECT_EQ(disconnect_reason(d), 0x81);
}

}  // namespace
}  // namespace mop::mqtt::conformance
