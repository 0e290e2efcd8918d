// Every command kind issue 5 needs survives encode -> FrameReader unchanged, and the three payload
// command encoders (whole frame, header + separate payload, prefix + stored entry) agree.
#include <functional>
#include <vector>

#include "pulsar/codec/crc32c.hpp"
#include "pulsar/codec/message_id.hpp"
#include "pulsar/codec/tests/helpers.hpp"

namespace mop::pulsar::test {
namespace {

using proto::BaseCommand;

void set_id(proto::MessageIdData* id, std::uint64_t ledger, std::uint64_t entry, std::int32_t batch = -1) {
  to_proto(MessageId{ledger, entry, batch, -1}, *id);
}

proto::Schema schema() {
  proto::Schema s;
  s.set_name("sensor");
  s.set_type(proto::Schema::Json);
  s.set_schema_data(R"({"type":"record","name":"r","fields":[]})");
  auto* p = s.add_properties();
  p->set_key("k");
  p->set_value("v");
  return s;
}

// One filled-in example per command type, required fields and a few optional ones each.
std::vector<BaseCommand> examples() {
  std::vector<BaseCommand> all;
  auto add = [&](BaseCommand::Type type, const std::function<void(BaseCommand&)>& fill) {
    BaseCommand c;
    c.set_type(type);
    fill(c);
    all.push_back(std::move(c));
  };
  add(BaseCommand::CONNECT, [](BaseCommand& c) {
    auto* b = c.mutable_connect();
    b->set_client_version("Pulsar-CPP-v4.2.0");
    b->set_protocol_version(20);
    b->set_auth_method_name("token");
    b->set_auth_data("secret");
    b->mutable_feature_flags()->set_supports_auth_refresh(true);
  });
  add(BaseCommand::CONNECTED, [](BaseCommand& c) {
    c.mutable_connected()->set_server_version("mop");
    c.mutable_connected()->set_protocol_version(20);
    c.mutable_connected()->set_max_message_size(5 << 20);
  });
  add(BaseCommand::PING, [](BaseCommand& c) { c.mutable_ping(); });
  add(BaseCommand::PONG, [](BaseCommand& c) { c.mutable_pong(); });
  add(BaseCommand::AUTH_CHALLENGE, [](BaseCommand& c) {
    c.mutable_authchallenge()->set_server_version("mop");
    c.mutable_authchallenge()->mutable_challenge()->set_auth_method_name("token");
    c.mutable_authchallenge()->mutable_challenge()->set_auth_data("refresh");
  });
  add(BaseCommand::AUTH_RESPONSE, [](BaseCommand& c) {
    c.mutable_authresponse()->set_client_version("x");
    c.mutable_authresponse()->mutable_response()->set_auth_data("new-token");
  });
  add(BaseCommand::PARTITIONED_METADATA, [](BaseCommand& c) {
    c.mutable_partitionmetadata()->set_topic("persistent://public/default/t");
    c.mutable_partitionmetadata()->set_request_id(1);
  });
  add(BaseCommand::PARTITIONED_METADATA_RESPONSE, [](BaseCommand& c) {
    c.mutable_partitionmetadataresponse()->set_request_id(1);
    c.mutable_partitionmetadataresponse()->set_partitions(0);
    c.mutable_partitionmetadataresponse()->set_response(proto::CommandPartitionedTopicMetadataResponse::Success);
  });
  add(BaseCommand::LOOKUP, [](BaseCommand& c) {
    c.mutable_lookuptopic()->set_topic("persistent://public/default/t");
    c.mutable_lookuptopic()->set_request_id(2);
    c.mutable_lookuptopic()->set_authoritative(false);
  });
  add(BaseCommand::LOOKUP_RESPONSE, [](BaseCommand& c) {
    auto* b = c.mutable_lookuptopicresponse();
    b->set_request_id(2);
    b->set_brokerserviceurl("pulsar://127.0.0.1:6650");
    b->set_response(proto::CommandLookupTopicResponse::Connect);
    b->set_authoritative(true);
  });
  add(BaseCommand::PRODUCER, [](BaseCommand& c) {
    auto* b = c.mutable_producer();
    b->set_topic("persistent://public/default/t");
    b->set_producer_id(1);
    b->set_request_id(3);
    b->set_producer_access_mode(proto::Exclusive);
    *b->mutable_schema() = schema();
  });
  add(BaseCommand::PRODUCER_SUCCESS, [](BaseCommand& c) {
    c.mutable_producer_success()->set_request_id(3);
    c.mutable_producer_success()->set_producer_name("standalone-0-1");
    c.mutable_producer_success()->set_last_sequence_id(-1);
  });
  add(BaseCommand::SEND_RECEIPT, [](BaseCommand& c) {
    c.mutable_send_receipt()->set_producer_id(1);
    c.mutable_send_receipt()->set_sequence_id(7);
    set_id(c.mutable_send_receipt()->mutable_message_id(), 12, 34);
  });
  add(BaseCommand::SEND_ERROR, [](BaseCommand& c) {
    c.mutable_send_error()->set_producer_id(1);
    c.mutable_send_error()->set_sequence_id(8);
    c.mutable_send_error()->set_error(proto::ChecksumError);
    c.mutable_send_error()->set_message("checksum mismatch");
  });
  add(BaseCommand::SUBSCRIBE, [](BaseCommand& c) {
    auto* b = c.mutable_subscribe();
    b->set_topic("persistent://public/default/t");
    b->set_subscription("sub");
    b->set_subtype(proto::CommandSubscribe::Key_Shared);
    b->set_consumer_id(4);
    b->set_request_id(5);
    b->set_durable(false);
    b->set_initialposition(proto::CommandSubscribe::Earliest);
    set_id(b->mutable_start_message_id(), kEarliest.ledger, kEarliest.entry);
    b->mutable_keysharedmeta()->set_keysharedmode(proto::STICKY);
    auto* range = b->mutable_keysharedmeta()->add_hashranges();
    range->set_start(0);
    range->set_end(65535);
  });
  add(BaseCommand::FLOW, [](BaseCommand& c) {
    c.mutable_flow()->set_consumer_id(4);
    c.mutable_flow()->set_messagepermits(1000);
  });
  add(BaseCommand::ACK, [](BaseCommand& c) {
    auto* b = c.mutable_ack();
    b->set_consumer_id(4);
    b->set_ack_type(proto::CommandAck::Individual);
    auto* id = b->add_message_id();
    set_id(id, 12, 34, 1);
    for (auto w : ack_set_all_unacked(3)) id->add_ack_set(w);
    id->set_batch_size(3);
    b->set_request_id(6);
  });
  add(BaseCommand::ACK_RESPONSE, [](BaseCommand& c) {
    c.mutable_ackresponse()->set_consumer_id(4);
    c.mutable_ackresponse()->set_request_id(6);
  });
  add(BaseCommand::REDELIVER_UNACKNOWLEDGED_MESSAGES, [](BaseCommand& c) {
    c.mutable_redeliverunacknowledgedmessages()->set_consumer_id(4);
    set_id(c.mutable_redeliverunacknowledgedmessages()->add_message_ids(), 12, 35);
  });
  add(BaseCommand::SEEK, [](BaseCommand& c) {
    c.mutable_seek()->set_consumer_id(4);
    c.mutable_seek()->set_request_id(7);
    c.mutable_seek()->set_message_publish_time(1'700'000'000'000);
  });
  add(BaseCommand::GET_LAST_MESSAGE_ID, [](BaseCommand& c) {
    c.mutable_getlastmessageid()->set_consumer_id(4);
    c.mutable_getlastmessageid()->set_request_id(8);
  });
  add(BaseCommand::GET_LAST_MESSAGE_ID_RESPONSE, [](BaseCommand& c) {
    c.mutable_getlastmessageidresponse()->set_request_id(8);
    set_id(c.mutable_getlastmessageidresponse()->mutable_last_message_id(), 12, 40, 2);
    set_id(c.mutable_getlastmessageidresponse()->mutable_consumer_mark_delete_position(), 12, 30);
  });
  add(BaseCommand::UNSUBSCRIBE, [](BaseCommand& c) {
    c.mutable_unsubscribe()->set_consumer_id(4);
    c.mutable_unsubscribe()->set_request_id(9);
  });
  add(BaseCommand::CLOSE_PRODUCER, [](BaseCommand& c) {
    c.mutable_close_producer()->set_producer_id(1);
    c.mutable_close_producer()->set_request_id(10);
  });
  add(BaseCommand::CLOSE_CONSUMER, [](BaseCommand& c) {
    c.mutable_close_consumer()->set_consumer_id(4);
    c.mutable_close_consumer()->set_request_id(11);
  });
  add(BaseCommand::SUCCESS, [](BaseCommand& c) { c.mutable_success()->set_request_id(11); });
  add(BaseCommand::ERROR, [](BaseCommand& c) {
    c.mutable_error()->set_request_id(5);
    c.mutable_error()->set_error(proto::ConsumerBusy);
    c.mutable_error()->set_message("Exclusive consumer is already connected");
  });
  add(BaseCommand::GET_SCHEMA, [](BaseCommand& c) {
    c.mutable_getschema()->set_request_id(12);
    c.mutable_getschema()->set_topic("persistent://public/default/t");
  });
  add(BaseCommand::GET_SCHEMA_RESPONSE, [](BaseCommand& c) {
    c.mutable_getschemaresponse()->set_request_id(12);
    *c.mutable_getschemaresponse()->mutable_schema() = schema();
    c.mutable_getschemaresponse()->set_schema_version(std::string("\0\0\0\0\0\0\0\1", 8));
  });
  add(BaseCommand::GET_OR_CREATE_SCHEMA, [](BaseCommand& c) {
    c.mutable_getorcreateschema()->set_request_id(13);
    c.mutable_getorcreateschema()->set_topic("persistent://public/default/t");
    *c.mutable_getorcreateschema()->mutable_schema() = schema();
  });
  add(BaseCommand::GET_OR_CREATE_SCHEMA_RESPONSE, [](BaseCommand& c) {
    c.mutable_getorcreateschemaresponse()->set_request_id(13);
    c.mutable_getorcreateschemaresponse()->set_schema_version(std::string("\0\0\0\0\0\0\0\1", 8));
  });
  add(BaseCommand::GET_TOPICS_OF_NAMESPACE, [](BaseCommand& c) {
    c.mutable_gettopicsofnamespace()->set_request_id(14);
    c.mutable_gettopicsofnamespace()->set_namespace_("public/default");
    c.mutable_gettopicsofnamespace()->set_mode(proto::CommandGetTopicsOfNamespace::ALL);
  });
  add(BaseCommand::GET_TOPICS_OF_NAMESPACE_RESPONSE, [](BaseCommand& c) {
    c.mutable_gettopicsofnamespaceresponse()->set_request_id(14);
    c.mutable_gettopicsofnamespaceresponse()->add_topics("persistent://public/default/a");
    c.mutable_gettopicsofnamespaceresponse()->add_topics("persistent://public/default/b");
  });
  add(BaseCommand::ACTIVE_CONSUMER_CHANGE, [](BaseCommand& c) {
    c.mutable_active_consumer_change()->set_consumer_id(4);
    c.mutable_active_consumer_change()->set_is_active(true);
  });
  add(BaseCommand::REACHED_END_OF_TOPIC, [](BaseCommand& c) { c.mutable_reachedendoftopic()->set_consumer_id(4); });
  return all;
}

TEST(RoundTrip, EverySimpleCommand) {
  const auto all = examples();
  ASSERT_EQ(all.size(), 35u);  // + SEND and MESSAGE below
  std::string stream;
  for (const auto& c : all) {
    ASSERT_TRUE(c.IsInitialized()) << proto::BaseCommand::Type_Name(c.type());
    encode_command(c, stream);
  }
  FrameReader r;
  r.feed(span_of(stream));
  for (const auto& c : all) {
    auto f = r.next();
    ASSERT_TRUE(f.ok()) << proto::BaseCommand::Type_Name(c.type()) << ": " << f.error().message();
    ASSERT_TRUE(*f);
    EXPECT_EQ((*f)->command->type(), c.type());
    EXPECT_EQ((*f)->command->SerializeAsString(), c.SerializeAsString()) << proto::BaseCommand::Type_Name(c.type());
    EXPECT_FALSE((*f)->has_payload());
  }
  EXPECT_EQ(r.buffered(), 0u);
}

BaseCommand message_command() {
  BaseCommand c;
  c.set_type(BaseCommand::MESSAGE);
  c.mutable_message()->set_consumer_id(4);
  set_id(c.mutable_message()->mutable_message_id(), 12, 34);
  c.mutable_message()->set_redelivery_count(2);
  return c;
}

proto::MessageMetadata metadata() {
  proto::MessageMetadata m;
  m.set_producer_name("standalone-0-1");
  m.set_sequence_id(77);
  m.set_publish_time(1'700'000'000'123);
  m.set_partition_key("device-1");
  m.set_ordering_key("device-1");
  auto* p = m.add_properties();
  p->set_key("mqtt.content-type");
  p->set_value("text/plain");
  return m;
}

TEST(RoundTrip, SendAndMessageWithPayload) {
  const std::string payload = "temperature=21.5";
  for (auto type : {BaseCommand::SEND, BaseCommand::MESSAGE}) {
    BaseCommand c = message_command();
    if (type == BaseCommand::SEND) {
      c.Clear();
      c.set_type(BaseCommand::SEND);
      c.mutable_send()->set_producer_id(1);
      c.mutable_send()->set_sequence_id(77);
      c.mutable_send()->set_num_messages(1);
    }
    for (auto checksum : {Checksum::crc32c, Checksum::none}) {
      std::string out;
      encode_payload_command(c, metadata(), span_of(payload), out, checksum);
      OneFrame r;
      read_one(r, out);
      ASSERT_TRUE(r.frame) << r.error.message();
      EXPECT_EQ(r.frame->command->SerializeAsString(), c.SerializeAsString());
      EXPECT_EQ(r.frame->metadata->SerializeAsString(), metadata().SerializeAsString());
      EXPECT_EQ(view_of(r.frame->payload), payload);
      EXPECT_EQ(r.frame->has_checksum, checksum == Checksum::crc32c);
      // The payload span points into the reader's buffer: no copy was made.
      EXPECT_EQ(r.frame->payload.data() + r.frame->payload.size(),
                r.frame->metadata_and_payload.data() + r.frame->metadata_and_payload.size());
    }
  }
}

TEST(RoundTrip, HeaderEncoderPlusPayloadEqualsWholeFrame) {
  const std::string payload(1000, 'p');
  std::string whole, header;
  encode_payload_command(message_command(), metadata(), span_of(payload), whole);
  encode_payload_command_header(message_command(), metadata(), span_of(payload), header);
  EXPECT_EQ(header + payload, whole);
}

// The broker's dispatch path: a stored entry ([metadata size][metadata][payload], as a SEND frame
// carried it) is re-sent under a MESSAGE command with its original checksum.
TEST(RoundTrip, PrefixEncoderResendsAStoredEntry) {
  const std::string payload = "stored";
  std::string send_frame;
  BaseCommand send;
  send.set_type(BaseCommand::SEND);
  send.mutable_send()->set_producer_id(1);
  send.mutable_send()->set_sequence_id(77);
  encode_payload_command(send, metadata(), span_of(payload), send_frame);
  OneFrame in;
  read_one(in, send_frame);
  ASSERT_TRUE(in.frame) << in.error.message();
  const std::string entry(view_of(in.frame->metadata_and_payload));
  const std::uint32_t stored_crc = in.frame->checksum;
  EXPECT_EQ(stored_crc, crc32c(span_of(entry)));

  std::string resent;
  encode_payload_command_prefix(message_command(), entry.size(), stored_crc, resent);
  resent += entry;
  std::string direct;
  encode_payload_command(message_command(), metadata(), span_of(payload), direct);
  EXPECT_EQ(to_hex(resent), to_hex(direct));

  std::string unchecked;
  encode_payload_command_prefix(message_command(), entry.size(), std::nullopt, unchecked);
  unchecked += entry;
  OneFrame out;
  read_one(out, unchecked);
  ASSERT_TRUE(out.frame) << out.error.message();
  EXPECT_FALSE(out.frame->has_checksum);
  EXPECT_EQ(view_of(out.frame->payload), payload);
}

TEST(RoundTrip, DecodeMetadataAndPayloadOfAStoredEntry) {
  std::string frame;
  encode_payload_command(message_command(), metadata(), span_of("abc"), frame);
  OneFrame r;
  read_one(r, frame);
  ASSERT_TRUE(r.frame);
  proto::MessageMetadata m;
  std::span<const std::uint8_t> payload;
  ASSERT_TRUE(decode_metadata_and_payload(r.frame->metadata_and_payload, m, payload).ok());
  EXPECT_EQ(m.sequence_id(), 77u);
  EXPECT_EQ(view_of(payload), "abc");
  EXPECT_EQ(decode_metadata_and_payload(r.frame->metadata_and_payload.first(3), m, payload), CodecError::truncated);
}

}  // namespace
}  // namespace mop::pulsar::test
