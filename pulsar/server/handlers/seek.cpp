// Positions in a subscription: SEEK (by message id or publish time) and GET_LAST_MESSAGE_ID.
#include "pulsar/server/handlers/handler.hpp"

namespace mop::pulsar::server {

void Connection::on_seek(const Frame& f) {
  const auto& q = f.command->seek();
  const auto it = consumers_.find(q.consumer_id());
  if (it == consumers_.end()) return send_error(q.request_id(), proto::ConsumerNotFound, "Consumer not found");
  if (!q.has_message_id() && !q.has_message_publish_time()) {
    return send_error(q.request_id(), proto::MetadataError, "SEEK needs a message id or a publish time");
  }
  const service::TopicName topic = it->second->topic;  // copies: the consumer is closed below
  const std::string subscription = it->second->subscription;
  // As Pulsar's broker does, the subscription's consumers are disconnected first (CLOSE_CONSUMER)
  // and come back with SUBSCRIBE and fresh FLOW permits: a client that kept its consumer would
  // drop what we redeliver before it handles the SUCCESS (it clears its queue then), and with it
  // the permits those messages took, and stall.
  server_.close_consumers_of(topic, subscription, "was reset by a seek");
  if (q.has_message_id()) {
    const auto id = from_proto(q.message_id());
    // "Earliest" is (-1, -1) on the wire, numerically past everything: seek to the oldest entry.
    if (is_earliest(id)) {
      service_.seek_time(topic, subscription, 0);
    } else {
      // Into a batch: the messages before the index count as acknowledged (from ack_set when the
      // client sends one, a set bit being a message to deliver, else from the batch index).
      auto target = to_service(q.message_id());
      const auto& ack_set = q.message_id().ack_set();
      if (ack_set.size() > 0) {
        target.batch = 0;
        for (std::int32_t i = 0; i < ack_set.size() * 64; ++i) {
          if ((static_cast<std::uint64_t>(ack_set[i / 64]) >> (i % 64)) & 1) break;
          target.batch = i + 1;
        }
      }
      service_.seek(topic, subscription, target);
    }
  } else {
    service_.seek_time(topic, subscription, q.message_publish_time());
  }
  send_success(q.request_id());
}

void Connection::on_get_last_message_id(const Frame& f) {
  const auto& q = f.command->getlastmessageid();
  const auto it = consumers_.find(q.consumer_id());
  if (it == consumers_.end()) return send_error(q.request_id(), proto::ConsumerNotFound, "Consumer not found");
  proto::BaseCommand c;
  c.set_type(proto::BaseCommand::GET_LAST_MESSAGE_ID_RESPONSE);
  auto* r = c.mutable_getlastmessageidresponse();
  r->set_request_id(q.request_id());
  if (const auto last = service_.last_message_id(it->second->topic)) {
    to_wire(*last, *r->mutable_last_message_id());
  } else {
    // An empty topic: Pulsar answers (ledger, -1), i.e. "before the first entry".
    r->mutable_last_message_id()->set_ledgerid(0);
    r->mutable_last_message_id()->set_entryid(static_cast<std::uint64_t>(-1));
  }
  send(c);
}

}  // namespace mop::pulsar::server
