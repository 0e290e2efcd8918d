// MQTT 5.0 chapter 3.1 / 3.2: CONNECT and CONNACK, byte level.
#include "mqtt/session/tests/conformance/harness.hpp"

namespace mop::mqtt::conformance {
namespace {

// [MQTT-3.2.0-1] CONNACK is the first packet from the server; [MQTT-3.2.2-2] clean start
// gives session present 0; [MQTT-3.2.2-6] reason code 0x00 on success.
TEST_F(Conformance, Ch3_ConnackFirstSessionPresent0Success) {
  const std::string ack = connect();
  ASSERT_GE(ack.size(), 4u);
  EXPECT_EQ(static_cast<std::uint8_t>(ack[0]), 0x20);
  EXPECT_EQ(ack[2], 0x00);  // acknowledge flags
  EXPECT_EQ(ack[3], 0x00);  // reason code
}

// [MQTT-3.1.0-2] a second CONNECT is a protocol error: DISCONNECT 0x82 [MQTT-4.13.1-1].
TEST_F(Conformance, Ch3_SecondConnectIsDisconnect82) {
  connect();
  in(b({0x10, 0x0e, 0, 4, 'M', 'Q', 'T', 'T', 5, 2, 0, 60, 0, 0, 1, 'c'}));
  const std::string d = out();
  EXPECT_EQ(disconnect_reason(d), 0x82);
  EXPECT_TRUE(handler.closed);
}

// [MQTT-3.1.3-6], [MQTT-3.2.2-16]: an empty client id is assigned one, named in CONNACK (0x12).
TEST_F(Conformance, Ch3_EmptyClientIdGetsAssignedClientIdentifier) {
  in(b({0x10, 0x0d, 0, 4, 'M', 'Q', 'T', 'T', 5, 2, 0, 60, 0, 0, 0}));
  const std::string ack = out();
  const std::string id = proto->client_id();
  ASSERT_FALSE(id.empty());
  std::string prop = b({0x12, 0, static_cast<int>(id.size())}) + id;
  EXPECT_NE(ack.find(prop), std::string::npos);
}

// [MQTT-3.1.2-28]: no Response Information (0x1A) unless requested; with 0x19 = 1 it is given.
TEST_F(Conformance, Ch3_ResponseInformationOnlyWhenRequested) {
  EXPECT_EQ(connect().find('\x1a'), std::string::npos);
  ConformanceHandler h2;
  auto p2 = std::make_shared<Protocol>(h2, clock, ProtocolLimits{1024, std::chrono::seconds(10)});
  h2.proto = p2.get();
  proto = p2;
  const std::string ack = connect(b({0x19, 0x01}));
  EXPECT_NE(ack.find(b({0x1A, 0x00, 11}) + "$response/c"), std::string::npos);
}

// [MQTT-4.12.0-1], [MQTT-3.2.2-8]: an unsupported authentication method gets CONNACK 0x8C,
// then the connection closes.
TEST_F(Conformance, Ch3_UnknownAuthenticationMethodIsConnack8C) {
  const std::string ack = connect(b({0x15, 0x00, 0x02, 'X', 'Y'}));
  ASSERT_GE(ack.size(), 4u);
  EXPECT_EQ(static_cast<std::uint8_t>(ack[0]), 0x20);
  EXPECT_EQ(static_cast<std::uint8_t>(ack[3]), 0x8C);
  EXPECT_TRUE(handler.closed);
}

// [MQTT-3.2.2-19]: the CONNACK reason string is left out when it would exceed the client's
// Maximum Packet Size: here 0x8C with maximum packet size 8 is exactly 20 03 00 8C 00.
TEST_F(Conformance, Ch3_ConnackReasonStringWithinMaximumPacketSize) {
  const std::string ack = connect(b({0x27, 0, 0, 0, 8, 0x15, 0x00, 0x02, 'X', 'Y'}));
  EXPECT_EQ(ack, b({0x20, 0x03, 0x00, 0x8C, 0x00}));
}

// [MQTT-3.1.2-24]-style keep alive in MQTT 5 (3.1.2.10): nothing for 1.5 x keep alive gets
// DISCONNECT 0x8D, which never carries a Session Expiry Interval [MQTT-3.14.2-2].
TEST_F(Conformance, Ch3_KeepAliveTimeoutIsDisconnect8D) {
  connect();
  clock.advance(std::chrono::seconds(91));
  proto->on_tick();
  const std::string d = out();
  EXPECT_EQ(disconnect_reason(d), 0x8D);
  FrameReader reader(kMaxRemainingLength);
  reader.feed({reinterpret_cast<const std::uint8_t*>(d.data()), d.size()});
  auto f = reader.next();
  ASSERT_TRUE(f.ok() && f->has_value());
  auto pkt = decode_server_packet(**f, ProtocolVersion::v5);
  ASSERT_TRUE(pkt.ok());
  EXPECT_FALSE(std::get<Disconnect>(*pkt).properties.session_expiry_interval);
}

}  // namespace
}  // namespace mop::mqtt::conformance
