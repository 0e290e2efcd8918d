#include "loadgen/pulsar_client.hpp"

#include "pulsar/codec/batch.hpp"
#include "pulsar/codec/compression.hpp"

namespace mop::loadgen {

namespace proto = pulsar::proto;

namespace {

std::string error_text(const std::string& what, proto::ServerError e, const std::string& message) {
  return what + ": " + proto::ServerError_Name(e) + (message.empty() ? "" : " (" + message + ")");
}

}  // namespace

PulsarClient::PulsarClient(PulsarClientConfig config) : cfg_(std::move(config)), reader_(cfg_.max_frame_size) {
  if (cfg_.receiver_queue < 2) cfg_.receiver_queue = 2;
}

void PulsarClient::start(std::string& out) {
  cmd_.Clear();
  cmd_.set_type(proto::BaseCommand::CONNECT);
  auto* c = cmd_.mutable_connect();
  c->set_client_version(cfg_.client_version);
  c->set_protocol_version(pulsar::kMaxProtocolVersion);
  pulsar::encode_command(cmd_, out);
  state_ = State::connecting;
}

bool PulsarClient::feed(std::span<const std::uint8_t> bytes, std::string& out, ClientListener& l) {
  if (state_ == State::failed || state_ == State::redirected) return false;
  reader_.feed(bytes);
  for (;;) {
    auto r = reader_.next();
    if (!r.ok()) {
      fail(l, "bad frame from the broker: " + r.error().message());
      return false;
    }
    if (!*r) return true;
    if (!handle(**r, out, l)) return false;
  }
}

void PulsarClient::fail(ClientListener& l, const std::string& why) {
  if (state_ == State::failed) return;
  state_ = State::failed;
  l.on_failed(why);
}

void PulsarClient::after_connected(std::string& out) {
  if (!cfg_.lookup) return create(out);
  // As the official clients do before every producer and consumer: is the topic partitioned?
  cmd_.Clear();
  cmd_.set_type(proto::BaseCommand::PARTITIONED_METADATA);
  auto* m = cmd_.mutable_partitionmetadata();
  m->set_topic(cfg_.topic);
  m->set_request_id(next_request_id_++);
  pulsar::encode_command(cmd_, out);
  state_ = State::metadata;
}

void PulsarClient::send_lookup(std::string& out) {
  cmd_.Clear();
  cmd_.set_type(proto::BaseCommand::LOOKUP);
  auto* q = cmd_.mutable_lookuptopic();
  q->set_topic(cfg_.topic);
  q->set_request_id(next_request_id_++);
  q->set_authoritative(cfg_.authoritative);
  pulsar::encode_command(cmd_, out);
  state_ = State::lookup;
}

void PulsarClient::create(std::string& out) {
  cmd_.Clear();
  create_request_id_ = next_request_id_++;
  if (cfg_.role == PulsarClientConfig::Role::producer) {
    cmd_.set_type(proto::BaseCommand::PRODUCER);
    auto* p = cmd_.mutable_producer();
    p->set_topic(cfg_.topic);
    p->set_producer_id(kProducerId);
    p->set_request_id(create_request_id_);
    if (!cfg_.producer_name.empty()) p->set_producer_name(cfg_.producer_name);
    p->set_user_provided_producer_name(!cfg_.producer_name.empty());
  } else {
    cmd_.set_type(proto::BaseCommand::SUBSCRIBE);
    auto* s = cmd_.mutable_subscribe();
    s->set_topic(cfg_.topic);
    s->set_subscription(cfg_.subscription);
    s->set_subtype(cfg_.sub_type);
    s->set_consumer_id(kConsumerId);
    s->set_request_id(create_request_id_);
    if (!cfg_.consumer_name.empty()) s->set_consumer_name(cfg_.consumer_name);
    s->set_durable(true);
    s->set_initialposition(cfg_.initial_position);
    if (cfg_.sub_type == proto::CommandSubscribe::Key_Shared) {
      s->mutable_keysharedmeta()->set_keysharedmode(proto::AUTO_SPLIT);
    }
  }
  pulsar::encode_command(cmd_, out);
  state_ = State::creating;
}

bool PulsarClient::handle(const pulsar::Frame& f, std::string& out, ClientListener& l) {
  const auto& c = *f.command;
  switch (c.type()) {
    case proto::BaseCommand::CONNECTED:
      if (state_ != State::connecting) return fail(l, "unexpected CONNECTED"), false;
      // Below protocol v6 a broker neither sends nor expects checksums.
      checksum_ = c.connected().protocol_version() >= proto::v6 ? pulsar::Checksum::crc32c : pulsar::Checksum::none;
      after_connected(out);
      return true;
    case proto::BaseCommand::PING:
      cmd_.Clear();
      cmd_.set_type(proto::BaseCommand::PONG);
      cmd_.mutable_pong();
      pulsar::encode_command(cmd_, out);
      return true;
    case proto::BaseCommand::PONG:
      return true;
    case proto::BaseCommand::PARTITIONED_METADATA_RESPONSE: {
      if (state_ != State::metadata) return fail(l, "unexpected PARTITIONED_METADATA_RESPONSE"), false;
      const auto& r = c.partitionmetadataresponse();
      if (r.response() == proto::CommandPartitionedTopicMetadataResponse::Failed) {
        return fail(l, error_text("partitioned metadata of " + cfg_.topic, r.error(), r.message())), false;
      }
      if (r.partitions() > 0) {
        return fail(l, cfg_.topic + " is partitioned (" + std::to_string(r.partitions()) +
                           " partitions): name one partition, e.g. " + cfg_.topic + "-partition-0"),
               false;
      }
      send_lookup(out);
      return true;
    }
    case proto::BaseCommand::LOOKUP_RESPONSE: {
      if (state_ != State::lookup) return fail(l, "unexpected LOOKUP_RESPONSE"), false;
      const auto& r = c.lookuptopicresponse();
      if (r.response() == proto::CommandLookupTopicResponse::Failed || !r.has_brokerserviceurl()) {
        return fail(l, error_text("lookup of " + cfg_.topic, r.error(), r.message())), false;
      }
      const bool redirect = r.response() == proto::CommandLookupTopicResponse::Redirect;
      if (!redirect && (r.brokerserviceurl() == cfg_.service_url || r.proxy_through_service_url())) {
        create(out);
        return true;
      }
      state_ = State::redirected;
      l.on_redirect(r.brokerserviceurl(), redirect, redirect && r.authoritative());
      return false;
    }
    case proto::BaseCommand::PRODUCER_SUCCESS: {
      const auto& r = c.producer_success();
      if (state_ != State::creating || r.request_id() != create_request_id_) {
        return fail(l, "unexpected PRODUCER_SUCCESS"), false;
      }
      if (!r.producer_ready()) return true;  // waiting for exclusive access; a second one follows
      producer_name_ = r.producer_name();
      next_sequence_id_ = r.last_sequence_id() >= 0 ? static_cast<std::uint64_t>(r.last_sequence_id()) + 1 : 0;
      state_ = State::ready;
      l.on_ready();
      return true;
    }
    case proto::BaseCommand::SUCCESS: {
      if (state_ == State::creating && c.success().request_id() == create_request_id_ &&
          cfg_.role == PulsarClientConfig::Role::consumer) {
        cmd_.Clear();
        cmd_.set_type(proto::BaseCommand::FLOW);
        cmd_.mutable_flow()->set_consumer_id(kConsumerId);
        cmd_.mutable_flow()->set_messagepermits(cfg_.receiver_queue);
        pulsar::encode_command(cmd_, out);
        state_ = State::ready;
        l.on_ready();
      }
      return true;  // also the answer to our CLOSE_*
    }
    case proto::BaseCommand::ERROR:
      return fail(l, error_text(state_ == State::creating
                                    ? (cfg_.role == PulsarClientConfig::Role::producer ? "PRODUCER refused" : "SUBSCRIBE refused")
                                    : "ERROR from the broker",
                                c.error().error(), c.error().message())),
             false;
    case proto::BaseCommand::SEND_RECEIPT: {
      const auto& r = c.send_receipt();
      if (r.producer_id() != kProducerId) return fail(l, "SEND_RECEIPT for unknown producer"), false;
      if (pending_.empty() || r.sequence_id() < pending_.front().sequence_id) return true;  // a duplicate
      if (r.sequence_id() != pending_.front().sequence_id) {
        return fail(l, "SEND_RECEIPT out of order: sequence id " + std::to_string(r.sequence_id()) + ", expected " +
                           std::to_string(pending_.front().sequence_id)),
               false;
      }
      const auto n = pending_.front().messages;
      pending_.pop_front();
      pending_messages_ -= n;
      l.on_receipt(n);
      return true;
    }
    case proto::BaseCommand::SEND_ERROR:
      return fail(l, error_text("SEND_ERROR for sequence id " + std::to_string(c.send_error().sequence_id()),
                                c.send_error().error(), c.send_error().message())),
             false;
    case proto::BaseCommand::MESSAGE:
      return on_message(f, out, l);
    case proto::BaseCommand::CLOSE_PRODUCER:
      return fail(l, "the broker closed the producer (CLOSE_PRODUCER)"), false;
    case proto::BaseCommand::CLOSE_CONSUMER:
      return fail(l, "the broker closed the consumer (CLOSE_CONSUMER)"), false;
    case proto::BaseCommand::ACK_RESPONSE:
    case proto::BaseCommand::ACTIVE_CONSUMER_CHANGE:
    case proto::BaseCommand::REACHED_END_OF_TOPIC:
      return true;
    default:
      return fail(l, "unexpected command " + proto::BaseCommand::Type_Name(c.type()) + " from the broker"), false;
  }
}

bool PulsarClient::on_message(const pulsar::Frame& f, std::string& out, ClientListener& l) {
  if (cfg_.role != PulsarClientConfig::Role::consumer || state_ != State::ready) {
    return fail(l, "MESSAGE for no consumer"), false;
  }
  const auto& m = f.command->message();
  if (m.consumer_id() != kConsumerId) return fail(l, "MESSAGE for unknown consumer"), false;
  const auto& meta = *f.metadata;
  auto body = pulsar::uncompressed_payload(meta, f.payload, cfg_.max_frame_size, scratch_);
  if (!body.ok()) return fail(l, "undecodable MESSAGE payload: " + body.error().message()), false;
  std::uint32_t n = 1;
  if (meta.has_num_messages_in_batch()) {
    // Only a present num_messages_in_batch makes an entry a batch (messages from MQTT have none).
    pulsar::BatchReader batch(*body, meta.num_messages_in_batch());
    n = 0;
    for (;;) {
      std::span<const std::uint8_t> payload;
      auto more = batch.next(rx_single_, payload);
      if (!more.ok()) return fail(l, "bad batch in MESSAGE: " + more.error().message()), false;
      if (!*more) break;
      ++n;
      l.on_message(payload);
    }
  } else {
    l.on_message(*body);
  }
  // The whole entry is acknowledged by its id (without a batch index): every message of it has
  // been handed out above.
  auto& id = cfg_.ack_type == proto::CommandAck::Cumulative && !acks_.empty() ? acks_.back() : acks_.emplace_back();
  id.set_ledgerid(m.message_id().ledgerid());
  id.set_entryid(m.message_id().entryid());
  if (m.message_id().has_partition()) id.set_partition(m.message_id().partition());
  consumed_ += n;
  if (consumed_ >= cfg_.receiver_queue / 2) {
    cmd_.Clear();
    cmd_.set_type(proto::BaseCommand::FLOW);
    cmd_.mutable_flow()->set_consumer_id(kConsumerId);
    cmd_.mutable_flow()->set_messagepermits(consumed_);
    pulsar::encode_command(cmd_, out);
    consumed_ = 0;
  }
  return true;
}

void PulsarClient::flush_acks(std::string& out) {
  if (acks_.empty() || state_ != State::ready) return;
  cmd_.Clear();
  cmd_.set_type(proto::BaseCommand::ACK);
  auto* a = cmd_.mutable_ack();
  a->set_consumer_id(kConsumerId);
  a->set_ack_type(cfg_.ack_type);
  for (auto& id : acks_) a->add_message_id()->Swap(&id);
  acks_.clear();
  pulsar::encode_command(cmd_, out);
}

void PulsarClient::send(std::span<const std::uint8_t> payload, std::uint64_t publish_time_ms, std::string& out) {
  if (cfg_.batch <= 1) {
    batch_.assign(reinterpret_cast<const char*>(payload.data()), payload.size());
    batch_first_seq_ = next_sequence_id_++;
    batch_count_ = 1;
    encode_send(publish_time_ms, out);
    return;
  }
  if (batch_count_ == 0) {
    batch_.clear();
    batch_first_seq_ = next_sequence_id_;
  }
  single_.Clear();
  single_.set_sequence_id(next_sequence_id_++);
  pulsar::append_batch_message(single_, payload, batch_);
  if (++batch_count_ >= cfg_.batch) encode_send(publish_time_ms, out);
}

void PulsarClient::flush_batch(std::uint64_t publish_time_ms, std::string& out) {
  if (batch_count_ > 0) encode_send(publish_time_ms, out);
}

void PulsarClient::encode_send(std::uint64_t publish_time_ms, std::string& out) {
  const bool batched = cfg_.batch > 1;
  const std::uint64_t last_seq = batch_first_seq_ + batch_count_ - 1;
  metadata_.Clear();
  metadata_.set_producer_name(producer_name_);
  metadata_.set_sequence_id(batch_first_seq_);
  metadata_.set_publish_time(publish_time_ms);
  if (batched) {
    metadata_.set_num_messages_in_batch(static_cast<std::int32_t>(batch_count_));
    metadata_.set_highest_sequence_id(last_seq);
  }
  std::span<const std::uint8_t> body(reinterpret_cast<const std::uint8_t*>(batch_.data()), batch_.size());
  if (cfg_.compression != proto::NONE) {
    compressed_.clear();
    // The codec compresses every type it names; our options name no other.
    (void)pulsar::compress(cfg_.compression, body, compressed_);
    metadata_.set_compression(cfg_.compression);
    metadata_.set_uncompressed_size(static_cast<std::uint32_t>(batch_.size()));
    body = {reinterpret_cast<const std::uint8_t*>(compressed_.data()), compressed_.size()};
  }
  cmd_.Clear();
  cmd_.set_type(proto::BaseCommand::SEND);
  auto* s = cmd_.mutable_send();
  s->set_producer_id(kProducerId);
  s->set_sequence_id(batch_first_seq_);
  if (batched) {
    s->set_num_messages(static_cast<std::int32_t>(batch_count_));
    s->set_highest_sequence_id(last_seq);
  }
  pulsar::encode_payload_command(cmd_, metadata_, body, out, checksum_);
  pending_.push_back({batch_first_seq_, batch_count_});
  pending_messages_ += batch_count_;
  batch_count_ = 0;
}

void PulsarClient::close(std::string& out) {
  if (state_ != State::ready) return;
  cmd_.Clear();
  if (cfg_.role == PulsarClientConfig::Role::producer) {
    cmd_.set_type(proto::BaseCommand::CLOSE_PRODUCER);
    cmd_.mutable_close_producer()->set_producer_id(kProducerId);
    cmd_.mutable_close_producer()->set_request_id(next_request_id_++);
  } else {
    cmd_.set_type(proto::BaseCommand::CLOSE_CONSUMER);
    cmd_.mutable_close_consumer()->set_consumer_id(kConsumerId);
    cmd_.mutable_close_consumer()->set_request_id(next_request_id_++);
  }
  pulsar::encode_command(cmd_, out);
  state_ = State::idle;
}

}  // namespace mop::loadgen
