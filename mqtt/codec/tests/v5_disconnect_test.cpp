// MQTT 5 DISCONNECT (MQTT 5.0 section 3.14): sent by either side, with a reason code and
// properties; remaining length 0 means Normal disconnection, 1 means no properties.
#include <algorithm>

#include "mqtt/codec/tests/v5_helpers.hpp"

namespace mop::mqtt::test {
namespace {

TEST(V5Disconnect, ShortForms_3_14_2_1) {
  auto r = decode(bytes({0xE0, 0x00}), v5);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(std::get<Disconnect>(*r).reason_code, ReasonCode::normal_disconnection);
  r = decode(bytes({0xE0, 0x01, 0x04}), v5);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(std::get<Disconnect>(*r).reason_code, ReasonCode::disconnect_with_will_message);
  EXPECT_EQ(encode_bytes(*r, v5), bytes({0xE0, 0x01, 0x04}));
  EXPECT_EQ(encode_bytes(Disconnect{}, v5), bytes({0xE0, 0x00}));
}

TEST(V5Disconnect, ServerMaySendItInMqtt5Only) {
  Disconnect d{ReasonCode::session_taken_over};
  d.properties.reason_string = "another connection";
  d.properties.server_reference = "b:1883";
  expect_round_trip(d, v5, Side::server);
  EXPECT_EQ(decode_error(bytes({0xE0, 0x00}), ProtocolVersion::v311, Side::server), CodecError::unexpected_packet);
  // 3.1.1 DISCONNECT stays empty whatever the struct says.
  EXPECT_EQ(encode_bytes(d, ProtocolVersion::v311), bytes({0xE0, 0x00}));
}

TEST(V5Disconnect, LiteralBytesWithSessionExpiry_3_14_2_2) {
  const Bytes wire{0xE0, 0x07, 0x00, 0x05, 0x11, 0x00, 0x00, 0x00, 0x00};
  auto r = decode(wire, v5, Side::client);
  ASSERT_TRUE(r.ok()) << r.error().message();
  EXPECT_EQ(std::get<Disconnect>(*r).properties.session_expiry_interval, 0u);
  EXPECT_EQ(encode_bytes(*r, v5), wire);
  // The server never sends Session Expiry Interval in DISCONNECT [MQTT-3.14.2-2].
  EXPECT_EQ(decode_error(wire, v5, Side::server), CodecError::invalid_property);
}

TEST(V5Disconnect, ReasonCodesAndWhoMaySendThem_Table3_10) {
  const std::vector<int> either{0x00, 0x80, 0x81, 0x82, 0x83, 0x90, 0x93, 0x94, 0x95, 0x96, 0x97, 0x98, 0x99};
  const std::vector<int> server_only{0x87, 0x89, 0x8B, 0x8D, 0x8E, 0x8F, 0x9A, 0x9B, 0x9C, 0x9D, 0x9E, 0x9F, 0xA0, 0xA1, 0xA2};
  auto in = [](const std::vector<int>& v, int x) { return std::find(v.begin(), v.end(), x) != v.end(); };
  for (int rc = 0; rc < 256; ++rc) {
    const bool from_client = in(either, rc) || rc == 0x04;
    const bool from_server = in(either, rc) || in(server_only, rc);
    auto c = decode(bytes({0xE0, 0x01, rc}), v5, Side::client);
    auto s = decode(bytes({0xE0, 0x01, rc}), v5, Side::server);
    EXPECT_EQ(c.ok(), from_client) << rc;
    EXPECT_EQ(s.ok(), from_server) << rc;
    if (!c.ok()) {
      EXPECT_EQ(c.error(), CodecError::invalid_reason_code);
    }
  }
}

TEST(V5Disconnect, MalformedForms) {
  EXPECT_EQ(decode_error(bytes({0xE0, 0x02, 0x00, 0x05}), v5), CodecError::truncated);
  EXPECT_EQ(decode_error(bytes({0xE0, 0x03, 0x00, 0x00, 0x00}), v5), CodecError::trailing_bytes);
  EXPECT_EQ(decode_error(bytes({0xE1, 0x00}), v5), CodecError::invalid_fixed_header_flags);
}

}  // namespace
}  // namespace mop::mqtt::test
