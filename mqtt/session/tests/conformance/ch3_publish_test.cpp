// MQTT 5.0 chapters 3.3 - 3.7 and 4.3: PUBLISH and its acknowledgements, byte level.
#include "mqtt/session/tests/conformance/harness.hpp"

namespace mop::mqtt::conformance {
namespace {

// PUBLISH QoS 1, topic "t", packet id 7, no properties, payload "x".
const std::string kQos1 = b({0x32, 0x07, 0, 1, 't', 0, 7, 0, 'x'});

// [MQTT-3.4.2-1]: PUBACK with a PUBACK reason code; success in its short form (3.4.2.1).
TEST_F(Conformance, Ch3_PubackSuccessShortForm) {
  connect();
  in(kQos1);
  EXPECT_EQ(out(), b({0x40, 0x02, 0, 7}));
}

// MQTT 5 3.4.2.1: 0x10 No matching subscribers; the message was accepted.
TEST_F(Conformance, Ch3_PubackNoMatchingSubscribers) {
  connect();
  handler.publish_result = PublishResult{ReasonCode::no_matching_subscribers, {}};
  in(kQos1);
  EXPECT_EQ(out(), b({0x40, 0x03, 0, 7, 0x10}));
  EXPECT_EQ(handler.published, 1);
}

// [MQTT-3.3.2-4] (payload format 1 with invalid UTF-8 may be refused: PUBACK 0x99) and
// [MQTT-3.1.2-29] (request problem information 0: no reason string on the PUBACK).
TEST_F(Conformance, Ch3_PayloadFormatInvalidPubackWithoutProblemInformation) {
  connect(b({0x17, 0x00}));
  in(b({0x32, 0x09, 0, 1, 't', 0, 7, 2, 0x01, 0x01, 0xff}));
  EXPECT_EQ(out(), b({0x40, 0x03, 0, 7, 0x99}));
  EXPECT_EQ(handler.published, 0);
  EXPECT_FALSE(handler.closed);
}

// [MQTT-3.4.2-2]: a refusal's reason string is sent when it fits the client's maximum.
TEST_F(Conformance, Ch3_RefusedPublishCarriesItsReasonString) {
  connect();
  handler.publish_result = PublishResult{ReasonCode::quota_exceeded, "full"};
  in(kQos1);
  EXPECT_EQ(out(), b({0x40, 0x0b, 0, 7, 0x97, 0x07, 0x1F, 0, 4, 'f', 'u', 'l', 'l'}));
  EXPECT_FALSE(handler.closed);
}

// [MQTT-4.3.3-2] QoS 2: PUBREC, then PUBCOMP for the PUBREL; a resend before PUBREL is not
// published again [MQTT-4.3.3-3 .. -5 receiver side].
TEST_F(Conformance, Ch4_Qos2ExactlyOnceReceiverFlow) {
  connect();
  const std::string qos2 = b({0x34, 0x07, 0, 1, 't', 0, 5, 0, 'x'});
  in(qos2);
  EXPECT_EQ(out(), b({0x50, 0x02, 0, 5}));
  in(b({0x3C, 0x07, 0, 1, 't', 0, 5, 0, 'x'}));  // DUP resend
  EXPECT_EQ(out(), b({0x50, 0x02, 0, 5}));
  EXPECT_EQ(handler.published, 1);
  in(b({0x62, 0x02, 0, 5}));
  EXPECT_EQ(out(), b({0x70, 0x02, 0, 5}));
}

// MQTT 5 3.7.2.1: PUBREL for an unknown packet id gets PUBCOMP 0x92.
TEST_F(Conformance, Ch3_PubrelUnknownIdIsPubcomp92) {
  connect(b({0x17, 0x00}));
  in(b({0x62, 0x02, 0, 9}));
  EXPECT_EQ(out(), b({0x70, 0x03, 0, 9, 0x92}));
}

// [MQTT-3.6.1-1]: PUBREL flags must be 0010; otherwise malformed: DISCONNECT 0x81 [MQTT-4.13.1-1].
TEST_F(Conformance, Ch3_PubrelReservedFlagsIsDisconnect81) {
  connect(b({0x17, 0x00}));
  in(b({0x60, 0x02, 0, 9}));
  const std::string d = out();
  EXPECT_EQ(disconnect_reason(d), 0x81);
  EXPECT_TRUE(handler.closed);
}

// [MQTT-3.3.2-10]: a topic alias above our Topic Alias Maximum (10) is DISCONNECT 0x94;
// [MQTT-3.3.2-12]: within it, the alias stands for the topic on later PUBLISHes.
TEST_F(Conformance, Ch3_TopicAliasesFromTheClient) {
  connect();
  in(b({0x30, 0x07, 0, 1, 't', 3, 0x23, 0, 1}));  // QoS 0, "t", alias 1, empty payload
  in(b({0x30, 0x06, 0, 0, 3, 0x23, 0, 1}));       // alias 1 alone
  EXPECT_EQ(handler.published, 2);
  EXPECT_EQ(handler.last_topic, "t");
  in(b({0x30, 0x07, 0, 1, 't', 3, 0x23, 0, 11}));
  const std::string d = out();
  EXPECT_EQ(disconnect_reason(d), 0x94);
}

// [MQTT-3.3.4-9]: more unacknowledged QoS 1/2 PUBLISHes than our Receive Maximum is
// DISCONNECT 0x93.
TEST_F(Conformance, Ch3_ReceiveMaximumExceededIsDisconnect93) {
  ProtocolLimits l{1024, std::chrono::seconds(10)};
  l.receive_maximum = 1;
  proto = std::make_shared<Protocol>(handler, clock, l);
  handler.proto = proto.get();
  connect();
  in(b({0x34, 0x07, 0, 1, 't', 0, 1, 0, 'x'}));  // QoS 2, PUBREL not sent: still counted
  EXPECT_EQ(out(), b({0x50, 0x02, 0, 1}));
  in(b({0x34, 0x07, 0, 1, 't', 0, 2, 0, 'x'}));
  const std::string d = out();
  EXPECT_EQ(disconnect_reason(d), 0x93);
}

}  // namespace
}  // namespace mop::mqtt::conformance
