// Frames written out byte by byte from the protocol's documented layout and protobuf's encoding
// rules (tag = field number << 3 | wire type; varints little-endian base 128), in the forms the
// official clients send them. Each test both decodes the hand-written bytes and checks that our
// encoder produces exactly them.
#include "pulsar/codec/tests/helpers.hpp"

namespace mop::pulsar::test {
namespace {

using proto::BaseCommand;

std::string encoded(const BaseCommand& cmd) {
  std::string out;
  encode_command(cmd, out);
  return out;
}

// PING as the Java and C++ clients send it: type and an empty `ping` body.
//   total size 9 | command size 5 | 08 12 (type = 18) | 92 01 00 (field 18, length 0)
TEST(WireBytes, Ping) {
  const std::string bytes = hex("00 00 00 09  00 00 00 05  08 12  92 01 00");
  OneFrame r;
  read_one(r, bytes);
  ASSERT_FALSE(r.error) << r.error.message();
  ASSERT_TRUE(r.frame);
  EXPECT_EQ(r.frame->size, 13u);
  EXPECT_EQ(r.frame->command->type(), BaseCommand::PING);
  EXPECT_TRUE(r.frame->command->has_ping());
  EXPECT_FALSE(r.frame->has_payload());

  BaseCommand ping;
  ping.set_type(BaseCommand::PING);
  ping.mutable_ping();
  EXPECT_EQ(to_hex(encoded(ping)), to_hex(bytes));
}

// Some third-party clients send PONG with the type only; the body is empty anyway.
TEST(WireBytes, PongWithoutBodyIsAccepted) {
  OneFrame r;
  read_one(r, hex("00 00 00 06  00 00 00 02  08 13"));
  ASSERT_FALSE(r.error) << r.error.message();
  ASSERT_TRUE(r.frame);
  EXPECT_EQ(r.frame->command->type(), BaseCommand::PONG);
}

// CONNECT as the C++ client v4.2.0 sends it without authentication:
//   CommandConnect = 0a 11 "Pulsar-CPP-v4.2.0"  (1: client_version, 17 bytes)
//                    20 14                      (4: protocol_version = 20)
//                    2a 04 "none"               (5: auth_method_name)
//                    52 02 08 01                (10: feature_flags { supports_auth_refresh = true })
//   = 31 bytes; BaseCommand = 08 02 (type CONNECT) 12 1f (field 2, 31 bytes) ... = 35 bytes.
TEST(WireBytes, ConnectFromCppClient) {
  const std::string bytes = hex("00 00 00 27  00 00 00 23  08 02  12 1f") +
                            hex("0a 11") + "Pulsar-CPP-v4.2.0" + hex("20 14") + hex("2a 04") + "none" +
                            hex("52 02 08 01");
  OneFrame r;
  read_one(r, bytes);
  ASSERT_FALSE(r.error) << r.error.message();
  ASSERT_TRUE(r.frame);
  const auto& c = *r.frame->command;
  ASSERT_EQ(c.type(), BaseCommand::CONNECT);
  EXPECT_EQ(c.connect().client_version(), "Pulsar-CPP-v4.2.0");
  EXPECT_EQ(c.connect().protocol_version(), 20);
  EXPECT_EQ(c.connect().auth_method_name(), "none");
  EXPECT_TRUE(c.connect().feature_flags().supports_auth_refresh());
  EXPECT_FALSE(c.connect().has_auth_data());

  BaseCommand connect;
  connect.set_type(BaseCommand::CONNECT);
  connect.mutable_connect()->set_client_version("Pulsar-CPP-v4.2.0");
  connect.mutable_connect()->set_protocol_version(20);
  connect.mutable_connect()->set_auth_method_name("none");
  connect.mutable_connect()->mutable_feature_flags()->set_supports_auth_refresh(true);
  EXPECT_EQ(to_hex(encoded(connect)), to_hex(bytes));
}

// Our CONNECTED: max_message_size 5 MiB = 0x500000, varint 80 80 c0 02.
//   CommandConnected = 0a 09 "mop-0.1.0" 10 14 18 80 80 c0 02 = 18 bytes
//   BaseCommand = 08 03 1a 12 ... = 22 bytes
TEST(WireBytes, Connected) {
  const std::string bytes =
      hex("00 00 00 1a  00 00 00 16  08 03  1a 12  0a 09") + "mop-0.1.0" + hex("10 14  18 80 80 c0 02");
  BaseCommand connected;
  connected.set_type(BaseCommand::CONNECTED);
  connected.mutable_connected()->set_server_version("mop-0.1.0");
  connected.mutable_connected()->set_protocol_version(20);
  connected.mutable_connected()->set_max_message_size(static_cast<std::int32_t>(kDefaultMaxMessageSize));
  EXPECT_EQ(to_hex(encoded(connected)), to_hex(bytes));

  OneFrame r;
  read_one(r, bytes);
  ASSERT_TRUE(r.frame) << r.error.message();
  EXPECT_EQ(r.frame->command->connected().max_message_size(), 5 * 1024 * 1024);
}

// SEND of "hi" with checksum:
//   command   = 08 06 32 04 (type SEND, field 6, 4 bytes) 08 01 10 00 (producer 1, sequence 0)
//   metadata  = 0a 01 70 ("p") 10 00 (sequence 0) 18 01 (publish_time 1) = 7 bytes
//   checksum  = CRC32C(00 00 00 07 | metadata | "hi") = 0x7ed8df46 (computed independently)
//   total     = 4 + 8 + 2 + 4 + 4 + 7 + 2 = 31
const std::string kSendCommand = hex("08 06 32 04 08 01 10 00");
const std::string kSendMetadata = hex("0a 01 70 10 00 18 01");

TEST(WireBytes, SendWithChecksum) {
  const std::string bytes = hex("00 00 00 1f  00 00 00 08") + kSendCommand + hex("0e 01  7e d8 df 46") +
                            hex("00 00 00 07") + kSendMetadata + "hi";
  OneFrame r;
  read_one(r, bytes);
  ASSERT_FALSE(r.error) << r.error.message();
  ASSERT_TRUE(r.frame);
  const Frame& f = *r.frame;
  ASSERT_EQ(f.command->type(), BaseCommand::SEND);
  EXPECT_EQ(f.command->send().producer_id(), 1u);
  EXPECT_EQ(f.command->send().sequence_id(), 0u);
  EXPECT_TRUE(f.has_checksum);
  EXPECT_EQ(f.checksum, 0x7ed8df46u);
  ASSERT_TRUE(f.has_payload());
  EXPECT_EQ(f.metadata->producer_name(), "p");
  EXPECT_EQ(f.metadata->publish_time(), 1u);
  EXPECT_EQ(view_of(f.payload), "hi");
  EXPECT_EQ(to_hex(view_of(f.metadata_and_payload)), to_hex(hex("00 00 00 07") + kSendMetadata + "hi"));

  BaseCommand send;
  send.set_type(BaseCommand::SEND);
  send.mutable_send()->set_producer_id(1);
  send.mutable_send()->set_sequence_id(0);
  proto::MessageMetadata meta;
  meta.set_producer_name("p");
  meta.set_sequence_id(0);
  meta.set_publish_time(1);
  std::string out;
  encode_payload_command(send, meta, span_of("hi"), out);
  EXPECT_EQ(to_hex(out), to_hex(bytes));
}

// Clients below protocol v6 send no magic and no checksum: the metadata size follows the command.
TEST(WireBytes, SendWithoutChecksumFromOldClient) {
  const std::string bytes = hex("00 00 00 19  00 00 00 08") + kSendCommand + hex("00 00 00 07") + kSendMetadata + "hi";
  OneFrame r;
  read_one(r, bytes);
  ASSERT_FALSE(r.error) << r.error.message();
  ASSERT_TRUE(r.frame);
  EXPECT_FALSE(r.frame->has_checksum);
  EXPECT_EQ(view_of(r.frame->payload), "hi");

  BaseCommand send;
  ASSERT_TRUE(send.ParseFromString(kSendCommand));
  proto::MessageMetadata meta;
  ASSERT_TRUE(meta.ParseFromString(kSendMetadata));
  std::string out;
  encode_payload_command(send, meta, span_of("hi"), out, Checksum::none);
  EXPECT_EQ(to_hex(out), to_hex(bytes));
}

// MESSAGE with broker entry metadata in front of the checksum (magic 0x0e02, u32 size,
// BrokerEntryMetadata), as brokers send it to clients that set supports_broker_entry_metadata:
//   command = 08 09 4a 08 (type MESSAGE, field 9, 8 bytes)
//             08 07 (consumer 7) 12 04 08 03 10 04 (message_id {ledgerId 3, entryId 4})
//   broker entry metadata = 08 05 10 06 (broker_timestamp 5, index 6)
// and the same frame with a message_id lacking its required entryId, which must be refused.
TEST(WireBytes, MessageWithBrokerEntryMetadata) {
  const std::string command = hex("08 09 4a 08 08 07 12 04 08 03 10 04");
  const std::string entry = hex("00 00 00 07") + kSendMetadata + "hi";
  const std::string bytes = hex("00 00 00 2d  00 00 00 0c") + command + hex("0e 02  00 00 00 04  08 05 10 06") +
                            hex("0e 01  7e d8 df 46") + entry;
  OneFrame r;
  read_one(r, bytes);
  ASSERT_FALSE(r.error) << r.error.message();
  ASSERT_TRUE(r.frame);
  const Frame& f = *r.frame;
  EXPECT_EQ(f.command->message().consumer_id(), 7u);
  EXPECT_EQ(f.command->message().message_id().entryid(), 4u);
  ASSERT_NE(f.broker_entry_metadata, nullptr);
  EXPECT_EQ(f.broker_entry_metadata->broker_timestamp(), 5u);
  EXPECT_EQ(f.broker_entry_metadata->index(), 6u);
  EXPECT_TRUE(f.has_checksum);
  EXPECT_EQ(view_of(f.payload), "hi");

  OneFrame bad;  // same frame, but message_id without entryId (required)
  read_one(bad, hex("00 00 00 2b  00 00 00 0a") + hex("08 09 4a 06 08 07 12 02 08 03") +
                    hex("0e 02  00 00 00 04  08 05 10 06") + hex("0e 01  7e d8 df 46") + entry);
  EXPECT_EQ(bad.error, CodecError::bad_command);
}

}  // namespace
}  // namespace mop::pulsar::test
