// Consumers: SUBSCRIBE, FLOW, MESSAGE delivery, REDELIVER_UNACKNOWLEDGED_MESSAGES, UNSUBSCRIBE,
// CLOSE_CONSUMER, and CLOSE_CONSUMER sent when the subscription is deleted elsewhere.
#include "pulsar/server/handlers/handler.hpp"

#include <vector>

namespace mop::pulsar::server {

namespace {

service::SubscriptionType to_service(proto::CommandSubscribe::SubType t) {
  switch (t) {
    case proto::CommandSubscribe::Exclusive: return service::SubscriptionType::exclusive;
    case proto::CommandSubscribe::Failover: return service::SubscriptionType::failover;
    case proto::CommandSubscribe::Key_Shared: return service::SubscriptionType::key_shared;
    case proto::CommandSubscribe::Shared: break;
  }
  return service::SubscriptionType::shared;
}

}  // namespace

void Connection::on_subscribe(const Frame& f) {
  const auto& q = f.command->subscribe();
  if (consumers_.contains(q.consumer_id())) return send_success(q.request_id());  // a retry
  const auto topic = resolve(q.topic());
  if (!topic) return send_error(q.request_id(), proto::InvalidTopicName, "Invalid topic name: " + q.topic());
  if (!authorized(auth::Action::consume, *topic))
    return send_error(q.request_id(), proto::AuthorizationError,
                      "Role " + role_ + " is not authorized to consume from " + topic->str());
  if (!usable(*topic)) return send_error(q.request_id(), proto::TopicNotFound, "Topic not found: " + q.topic());
  service::SubscriptionOptions opts;
  opts.type = to_service(q.subtype());
  opts.durable = q.durable();
  opts.initial_position = q.initialposition() == proto::CommandSubscribe::Earliest
                              ? service::InitialPosition::earliest
                              : service::InitialPosition::latest;
  // A reader (a non-durable subscription) starts where its start id says: at either end, or at a
  // stored message, which it gets too (Pulsar's broker does the same; clients drop that message
  // unless their start is inclusive). A durable subscription's position is its own.
  std::optional<service::MessageId> start_at;
  if (q.has_start_message_id()) {
    const auto start = from_proto(q.start_message_id());
    if (is_earliest(start)) {
      opts.initial_position = service::InitialPosition::earliest;
    } else if (is_latest(start)) {
      opts.initial_position = service::InitialPosition::latest;
    } else if (!q.durable()) {
      opts.initial_position = service::InitialPosition::earliest;
      start_at = to_service(q.start_message_id());
    }
  }
  auto consumer = std::make_unique<Consumer>(*this, q.consumer_id(), *topic, q.subscription());
  consumer->receiver = service_.open_receiver(*consumer);
  if (const auto r = service_.subscribe(*topic, q.subscription(), opts, consumer->receiver); !r.ok()) {
    service_.close_receiver(consumer->receiver);
    const auto error = to_server_error(r.error());
    return send_error(q.request_id(), error,
                      error == proto::ConsumerBusy ? "Exclusive consumer is already connected" : r.error().message());
  }
  if (start_at) service_.seek(*topic, q.subscription(), *start_at);
  consumers_.emplace(q.consumer_id(), std::move(consumer));
  send_success(q.request_id());
}

void Connection::on_flow(const Frame& f) {
  const auto& q = f.command->flow();
  if (const auto it = consumers_.find(q.consumer_id()); it != consumers_.end()) {
    service_.flow(it->second->receiver, q.messagepermits());
  }
}

void Connection::deliver(Consumer& consumer, service::MessageId id, const service::MessagePtr& message,
                         std::uint32_t redelivery_count) {
  if (closed_) return;
  proto::BaseCommand c;
  c.set_type(proto::BaseCommand::MESSAGE);
  auto* m = c.mutable_message();
  m->set_consumer_id(consumer.consumer_id);
  to_wire(id, *m->mutable_message_id());
  if (redelivery_count != 0) m->set_redelivery_count(redelivery_count);
  proto::MessageMetadata meta;
  meta.set_producer_name(message->producer_name);
  // We do not keep producers' sequence ids; the entry id is unique and increasing per topic.
  meta.set_sequence_id(id.entry);
  meta.set_publish_time(message->publish_time_ms);
  for (const auto& [k, v] : message->properties) {
    auto* kv = meta.add_properties();
    kv->set_key(k);
    kv->set_value(v);
  }
  if (message->ordering_key) {
    meta.set_partition_key(*message->ordering_key);
    meta.set_ordering_key(*message->ordering_key);
  }
  if (message->batch) {
    // The batch as the producer sent it; the client unpacks it. Indexes the subscription has
    // acknowledged already (a partly acknowledged batch delivered again) are cleared in ack_set,
    // where a set bit is a message still to deliver, so the client skips them.
    meta.set_num_messages_in_batch(static_cast<std::int32_t>(message->batch->count));
    if (message->batch->compression != 0) {
      meta.set_compression(static_cast<proto::CompressionType>(message->batch->compression));
      meta.set_uncompressed_size(message->batch->uncompressed_size);
    }
    const auto acked = service_.acked_batch_indexes(consumer.topic, consumer.subscription, id);
    if (!acked.empty()) {
      const auto count = message->batch->count;
      for (std::uint32_t w = 0; w < (count + 63) / 64; ++w) {
        std::uint64_t pending = w < acked.size() ? ~acked[w] : ~std::uint64_t{0};
        if (w == (count - 1) / 64 && count % 64 != 0) pending &= (std::uint64_t{1} << (count % 64)) - 1;
        m->add_ack_set(static_cast<std::int64_t>(pending));
      }
    }
  }
  encode_payload_command_header(c, meta, message->payload.bytes(), out_.text(),
                                protocol_version_ >= proto::v6 ? Checksum::crc32c : Checksum::none);
  out_.append_payload(message->payload);
  stream_.output_ready();
}

void Connection::on_redeliver(const Frame& f) {
  const auto& q = f.command->redeliverunacknowledgedmessages();
  const auto it = consumers_.find(q.consumer_id());
  if (it == consumers_.end()) return;
  const Consumer& c = *it->second;
  if (q.message_ids_size() == 0) {
    service_.redeliver_unacked(c.topic, c.subscription, c.receiver);
    return;
  }
  // A negative ack (clients send it after their nack delay) or an ack timeout: only the listed
  // messages, whatever the subscription type, as Pulsar's broker does.
  std::vector<service::MessageId> ids;
  ids.reserve(static_cast<std::size_t>(q.message_ids_size()));
  for (const auto& d : q.message_ids()) ids.push_back(to_service(d));
  service_.redeliver(c.topic, c.subscription, c.receiver, ids);
}

void Connection::on_unsubscribe(const Frame& f) {
  const auto& q = f.command->unsubscribe();
  const auto it = consumers_.find(q.consumer_id());
  if (it == consumers_.end()) return send_error(q.request_id(), proto::ConsumerNotFound, "Consumer not found");
  service_.close_receiver(it->second->receiver);
  service_.unsubscribe(it->second->topic, it->second->subscription);
  consumers_.erase(it);
  send_success(q.request_id());
}

void Connection::on_close_consumer(const Frame& f) {
  const auto& q = f.command->close_consumer();
  if (const auto it = consumers_.find(q.consumer_id()); it != consumers_.end()) {
    service_.close_receiver(it->second->receiver);
    consumers_.erase(it);
  }
  send_success(q.request_id());
}

void Connection::close_consumers_of(const service::TopicName& topic, const std::string& subscription,
                                    std::string_view why) {
  std::vector<std::uint64_t> ids;
  for (const auto& [id, consumer] : consumers_) {
    if (consumer->topic == topic && consumer->subscription == subscription) ids.push_back(id);
  }
  for (const auto id : ids) close_consumer_from_server(id, why);
}

std::size_t Connection::unload(const service::TopicName& topic) {
  std::vector<std::uint64_t> producers, consumers;
  for (const auto& [id, p] : producers_) {
    if (p.topic == topic) producers.push_back(id);
  }
  for (const auto& [id, consumer] : consumers_) {
    if (consumer->topic == topic) consumers.push_back(id);
  }
  for (const auto id : producers) {
    server_.producers().remove(topic, *this, id);
    close_producer_from_server(id);
  }
  for (const auto id : consumers) close_consumer_from_server(id, "topic unloaded");
  return producers.size() + consumers.size();
}

void Connection::close_consumer_from_server(std::uint64_t consumer_id, std::string_view why) {
  const auto it = consumers_.find(consumer_id);
  if (it == consumers_.end()) return;
  auto consumer = std::move(it->second);
  consumers_.erase(it);
  service_.close_receiver(consumer->receiver);
  if (closed_) return;
  logger()->info("{}: subscription {} of {} {}: closing consumer {}", peer_, consumer->subscription,
                 consumer->topic.str(), why, consumer_id);
  proto::BaseCommand c;
  c.set_type(proto::BaseCommand::CLOSE_CONSUMER);
  c.mutable_close_consumer()->set_consumer_id(consumer_id);
  c.mutable_close_consumer()->set_request_id(static_cast<std::uint64_t>(-1));  // no answer expected
  send(c);
  stream_.output_ready();
}

}  // namespace mop::pulsar::server
