// SEND: deduplication, one stored entry per SEND (a batch stays one entry, as the producer
// compressed it; a single message is stored decompressed), and SEND_RECEIPT / SEND_ERROR once the
// service has stored it.
#include "pulsar/server/handlers/handler.hpp"

#include "pulsar/codec/compression.hpp"

namespace mop::pulsar::server {

void Connection::on_send(const Frame& f) {
  const auto& s = f.command->send();
  const auto it = producers_.find(s.producer_id());
  auto send_error = [&](proto::ServerError error, const std::string& why) {
    proto::BaseCommand c;
    c.set_type(proto::BaseCommand::SEND_ERROR);
    auto* e = c.mutable_send_error();
    e->set_producer_id(s.producer_id());
    e->set_sequence_id(s.sequence_id());
    e->set_error(error);
    e->set_message(why);
    send(c);
  };
  if (it == producers_.end()) {
    // Pulsar closes the connection here: a SEND for an unknown producer means the client's state
    // and ours disagree.
    close("SEND for an unknown producer");
    return;
  }
  if (!it->second.ready) return send_error(proto::NotAllowedError, "Producer is waiting for exclusive access");
  // Deduplication (brokerDeduplicationEnabled), by Pulsar's rule: a SEND whose (first) sequence
  // id is not above the highest one accepted is a duplicate, whole, even a batch that goes on
  // past it (one entry cannot be stored in part; the Java client never mixes resent and new ids
  // in one batch). What it accepts counts by its highest sequence id (a batch's last message).
  const auto seq = static_cast<std::int64_t>(s.sequence_id());
  const auto last_seq = s.has_highest_sequence_id() && static_cast<std::int64_t>(s.highest_sequence_id()) > seq
                            ? static_cast<std::int64_t>(s.highest_sequence_id())
                            : seq;
  std::shared_ptr<Deduplication::Producer> dedup;
  if (server_.deduplicates(it->second.topic)) {
    dedup = server_.deduplication().producer(it->second.topic, it->second.name);
    if (seq <= dedup->persisted) {
      // Stored before: a receipt naming no entry, (-1, -1), as Pulsar answers every duplicate.
      proto::BaseCommand c;
      c.set_type(proto::BaseCommand::SEND_RECEIPT);
      auto* r = c.mutable_send_receipt();
      r->set_producer_id(s.producer_id());
      r->set_sequence_id(s.sequence_id());
      if (s.has_highest_sequence_id()) r->set_highest_sequence_id(s.highest_sequence_id());
      r->mutable_message_id()->set_ledgerid(static_cast<std::uint64_t>(-1));
      r->mutable_message_id()->set_entryid(static_cast<std::uint64_t>(-1));
      logger()->debug("{}: duplicate sequence id {} from {} not stored again", peer_, seq, it->second.name);
      send(c);
      return;
    }
    if (seq <= dedup->pushed) {
      // A resend of a message still being stored: whether it will be stored is not known yet.
      return send_error(proto::PersistenceError, "A message with this sequence id is still being stored; retry");
    }
  }
  const auto& meta = *f.metadata;
  if (meta.has_chunk_id() || meta.encryption_keys_size() > 0) {
    return send_error(proto::NotAllowedError, "chunked and encrypted messages are not supported");
  }
  auto m = std::make_shared<service::Message>();
  m->producer_name = meta.producer_name();
  m->publish_time_ms = meta.publish_time();
  m->mqtt_qos = 1;
  for (const auto& kv : meta.properties()) m->properties.emplace_back(kv.key(), kv.value());
  if (meta.has_ordering_key()) m->ordering_key = meta.ordering_key();
  else if (meta.has_partition_key()) m->ordering_key = meta.partition_key();
  if (meta.has_num_messages_in_batch()) {
    // A batch is stored as Pulsar stores it: one entry, the payload as the producer compressed
    // it. Its messages are (ledger, entry, 0..n-1), which is how the client numbers them from
    // the receipt. Checked here: the counts and the size it will decompress to (a batch that
    // does not unpack is refused when it is unpacked for an MQTT subscriber, see unpack_batch).
    if (meta.num_messages_in_batch() <= 0) return send_error(proto::UnknownError, "empty batch");
    const bool compressed = meta.compression() != proto::NONE;
    const std::size_t size = compressed ? meta.uncompressed_size() : f.payload.size();
    if (size > server_.options().max_message_size) {
      return send_error(proto::UnknownError, make_error_code(CodecError::uncompressed_too_large).message());
    }
    if (compressed && !proto::CompressionType_IsValid(meta.compression())) {
      return send_error(proto::UnknownError, make_error_code(CodecError::unsupported_compression).message());
    }
    m->batch = service::BatchInfo{static_cast<std::uint32_t>(meta.num_messages_in_batch()),
                                  static_cast<std::uint8_t>(meta.compression()), meta.uncompressed_size()};
    m->payload = Payload::copy_of(f.payload);
  } else {
    auto payload = uncompressed_payload(meta, f.payload, server_.options().max_message_size, scratch_);
    if (!payload.ok()) return send_error(proto::UnknownError, payload.error().message());
    m->payload = Payload::copy_of(*payload);
  }
  // The store records the producer's sequence id with the entry, in the same write, so the
  // state survives a restart exactly as far as the entry does.
  if (dedup) {
    m->dedup = service::DedupMark{it->second.name, last_seq};
    dedup->pushed = last_seq;
  }

  // The producer's own counters (its msgRateIn in the admin API's stats): what it sent that is
  // handed over for storing, each message of a batch, and the bytes as they came.
  it->second.msg_in += meta.has_num_messages_in_batch() ? static_cast<std::uint64_t>(meta.num_messages_in_batch()) : 1;
  it->second.bytes_in += f.payload.size();

  // Callbacks of one topic run in publish order, so receipts leave in SEND order per producer.
  const auto producer_id = s.producer_id();
  const auto sequence_id = s.sequence_id();
  const auto highest = s.highest_sequence_id();
  request_waits();
  service_.publish(it->second.topic, std::move(m),
                   [this, alive = std::weak_ptr<bool>(alive_), producer_id, sequence_id, highest, dedup,
                    last_seq](std::error_code ec, service::MessageId id) {
                     if (dedup) {
                       if (ec) {
                         dedup->failed();  // a resend may store it
                       } else {
                         dedup->stored(last_seq);
                       }
                     }
                     const auto a = alive.lock();
                     if (!a || !*a) return;
                     request_answered();
                     proto::BaseCommand c;
                     if (ec) {
                       c.set_type(proto::BaseCommand::SEND_ERROR);
                       auto* e = c.mutable_send_error();
                       e->set_producer_id(producer_id);
                       e->set_sequence_id(sequence_id);
                       e->set_error(to_server_error(ec));
                       e->set_message(ec.message());
                     } else {
                       c.set_type(proto::BaseCommand::SEND_RECEIPT);
                       auto* r = c.mutable_send_receipt();
                       r->set_producer_id(producer_id);
                       r->set_sequence_id(sequence_id);
                       if (highest != 0) r->set_highest_sequence_id(highest);
                       to_wire(id, *r->mutable_message_id());
                     }
                     send(c);
                     stream_.output_ready();
                   });
}

}  // namespace mop::pulsar::server
