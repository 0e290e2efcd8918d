// ACK: individual and cumulative, whole entries or batch indexes (ack_set), ACK_RESPONSE.
#include "pulsar/server/handlers/handler.hpp"

namespace mop::pulsar::server {

void Connection::on_ack(const Frame& f) {
  const auto& q = f.command->ack();
  const auto it = consumers_.find(q.consumer_id());
  auto respond = [&](std::optional<proto::ServerError> error, const std::string& message) {
    if (!q.has_request_id()) return;
    proto::BaseCommand r;
    r.set_type(proto::BaseCommand::ACK_RESPONSE);
    auto* a = r.mutable_ackresponse();
    a->set_consumer_id(q.consumer_id());
    a->set_request_id(q.request_id());
    if (q.has_txnid_least_bits()) a->set_txnid_least_bits(q.txnid_least_bits());
    if (q.has_txnid_most_bits()) a->set_txnid_most_bits(q.txnid_most_bits());
    if (error) {
      a->set_error(*error);
      a->set_message(message);
    }
    send(r);
  };
  if (it == consumers_.end()) return respond(proto::ConsumerNotFound, "Consumer not found");
  if (q.has_txnid_least_bits() || q.has_txnid_most_bits()) {
    // Transactions are not supported: nothing is acknowledged, and the client is told so.
    logger()->info("{}: transactional ACK refused (transactions are not supported)", peer_);
    return respond(proto::NotAllowedError, "Transactions are not supported by this broker");
  }
  const bool cumulative = q.ack_type() == proto::CommandAck::Cumulative;
  for (const auto& id : q.message_id()) ack_one(*it->second, id, cumulative);
  respond(std::nullopt, {});
}

void Connection::ack_one(const Consumer& c, const proto::MessageIdData& d, bool cumulative) {
  const auto id = to_service(d);
  if (d.ack_set_size() == 0) {
    if (cumulative) {
      server_.partial_acks().forget_upto(c.topic, c.subscription, id);
      service_.ack_cumulative(c.topic, c.subscription, id);
    } else {
      server_.partial_acks().forget(c.topic, c.subscription, id);
      service_.ack(c.topic, c.subscription, id);
    }
    return;
  }
  // Batch-index acknowledgement: a set bit in ack_set is an index not yet acknowledged. The
  // sets received for one entry are merged (bitwise AND, as Pulsar's broker does), and the entry
  // is acknowledged once no index is left. Cumulative: everything before the entry is acked.
  if (cumulative && id.entry > 0) {
    const service::MessageId before{id.ledger, id.entry - 1, -1};
    server_.partial_acks().forget_upto(c.topic, c.subscription, before);
    service_.ack_cumulative(c.topic, c.subscription, before);
  }
  const auto batch_size = d.has_batch_size() ? std::optional{d.batch_size()} : std::nullopt;
  if (server_.partial_acks().merge(c.topic, c.subscription, id, words_of(d.ack_set()), batch_size)) {
    service_.ack(c.topic, c.subscription, id);
  }
}

}  // namespace mop::pulsar::server
