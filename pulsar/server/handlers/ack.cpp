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
  service::MessageId id = to_service(d);
  id.batch = -1;  // without ack_set, an id acknowledges its whole entry (as Pulsar's broker reads it)
  if (d.ack_set_size() == 0) {
    if (cumulative) {
      service_.ack_cumulative(c.topic, c.subscription, id);
    } else {
      service_.ack(c.topic, c.subscription, id);
    }
    return;
  }
  // Batch-index acknowledgement: a set bit in ack_set is an index not yet acknowledged; every
  // clear bit below the batch size is acknowledged in the subscription's cursor, which counts
  // the entry acknowledged once all its indexes are. Cumulative: everything before the entry too.
  if (cumulative && id.entry > 0) {
    service_.ack_cumulative(c.topic, c.subscription, service::MessageId{id.ledger, id.entry - 1, -1});
  }
  const auto words = words_of(d.ack_set());
  const std::int32_t size = d.has_batch_size() && d.batch_size() > 0
                                ? d.batch_size()
                                : static_cast<std::int32_t>(words.size() * 64);
  for (std::int32_t i = 0; i < size; ++i) {
    const auto w = static_cast<std::size_t>(i / 64);
    const bool pending = w < words.size() && ((static_cast<std::uint64_t>(words[w]) >> (i % 64)) & 1);
    if (!pending) service_.ack(c.topic, c.subscription, service::MessageId{id.ledger, id.entry, i});
  }
}

}  // namespace mop::pulsar::server
