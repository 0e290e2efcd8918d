// SEND: deduplication, decompression, batches unpacked into one stored message each, and
// SEND_RECEIPT / SEND_ERROR once the service has stored them.
#include "pulsar/server/handlers/handler.hpp"

#include <algorithm>
#include <cassert>

#include "pulsar/codec/batch.hpp"
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
  // Deduplication (brokerDeduplicationEnabled): a batch counts by its highest sequence id.
  const auto seq = static_cast<std::int64_t>(s.sequence_id());
  const auto last_seq = s.has_highest_sequence_id() && static_cast<std::int64_t>(s.highest_sequence_id()) > seq
                            ? static_cast<std::int64_t>(s.highest_sequence_id())
                            : seq;
  std::shared_ptr<Deduplication::Producer> dedup;
  if (server_.options().deduplication) {
    dedup = server_.deduplication().producer(it->second.topic, it->second.name);
    if (last_seq <= dedup->persisted) {
      // Stored before: the receipt again, with the id it got if we still know it (the last
      // kDedupRecent sequence ids), else (-1, -1) as Pulsar answers every duplicate.
      proto::BaseCommand c;
      c.set_type(proto::BaseCommand::SEND_RECEIPT);
      auto* r = c.mutable_send_receipt();
      r->set_producer_id(s.producer_id());
      r->set_sequence_id(s.sequence_id());
      if (s.has_highest_sequence_id()) r->set_highest_sequence_id(s.highest_sequence_id());
      if (const auto known = dedup->recent.find(seq); known != dedup->recent.end()) {
        to_wire(known->second, *r->mutable_message_id());
      } else {
        r->mutable_message_id()->set_ledgerid(static_cast<std::uint64_t>(-1));
        r->mutable_message_id()->set_entryid(static_cast<std::uint64_t>(-1));
      }
      logger()->debug("{}: duplicate sequence id {} from {} not stored again", peer_, seq, it->second.name);
      send(c);
      return;
    }
    if (last_seq <= dedup->pushed) {
      // A resend of a message still being stored: whether it will be stored is not known yet.
      return send_error(proto::PersistenceError, "A message with this sequence id is still being stored; retry");
    }
  }
  const auto& meta = *f.metadata;
  if (meta.has_chunk_id() || meta.encryption_keys_size() > 0) {
    return send_error(proto::NotAllowedError, "chunked and encrypted messages are not supported");
  }
  auto payload = uncompressed_payload(meta, f.payload, server_.options().max_message_size, scratch_);
  if (!payload.ok()) return send_error(proto::UnknownError, payload.error().message());

  // A batch is unpacked into one stored message per batch entry, so that MQTT subscribers and
  // Pulsar consumers alike see individual messages with their own properties; the receipt names
  // the first entry, from which the client numbers the rest of its batch.
  std::vector<std::shared_ptr<service::Message>> messages;
  auto base = [&] {
    auto m = std::make_shared<service::Message>();
    m->producer_name = meta.producer_name();
    m->publish_time_ms = meta.publish_time();
    m->mqtt_qos = 1;
    return m;
  };
  if (meta.has_num_messages_in_batch()) {
    BatchReader batch(*payload, meta.num_messages_in_batch());
    proto::SingleMessageMetadata single;
    std::span<const std::uint8_t> bytes;
    while (true) {
      auto more = batch.next(single, bytes);
      if (!more.ok()) return send_error(proto::UnknownError, more.error().message());
      if (!*more) break;
      auto m = base();
      m->payload = Payload::copy_of(bytes);
      for (const auto& kv : single.properties()) m->properties.emplace_back(kv.key(), kv.value());
      if (single.has_ordering_key()) m->ordering_key = single.ordering_key();
      else if (single.has_partition_key()) m->ordering_key = single.partition_key();
      messages.push_back(std::move(m));
    }
  } else {
    auto m = base();
    m->payload = Payload::copy_of(*payload);
    for (const auto& kv : meta.properties()) m->properties.emplace_back(kv.key(), kv.value());
    if (meta.has_ordering_key()) m->ordering_key = meta.ordering_key();
    else if (meta.has_partition_key()) m->ordering_key = meta.partition_key();
    messages.push_back(std::move(m));
  }
  if (messages.empty()) return send_error(proto::UnknownError, "empty batch");
  // The store records the producer's sequence id with the last entry, in the same write, so the
  // state survives a restart exactly as far as the entries do.
  if (dedup) messages.back()->dedup = service::DedupMark{it->second.name, last_seq};

  // Callbacks of one topic run in publish order, so receipts leave in SEND order per producer.
  struct Pending {
    std::size_t left;
    std::error_code error;
    std::optional<service::MessageId> first;
  };
  auto pending = std::make_shared<Pending>(Pending{messages.size(), {}, std::nullopt});
  if (dedup) dedup->pushed = last_seq;
  const auto producer_id = s.producer_id();
  const auto sequence_id = s.sequence_id();
  const auto highest = s.highest_sequence_id();
  for (auto& m : messages) {
    service_.publish(it->second.topic, std::move(m),
                     [this, alive = std::weak_ptr<bool>(alive_), pending, producer_id, sequence_id, highest,
                      dedup, seq, last_seq](std::error_code ec, service::MessageId id) {
                       if (ec && !pending->error) pending->error = ec;
                       if (!ec && !pending->first) pending->first = id;
                       assert(pending->left > 0 && "a publish completion ran twice");
                       if (--pending->left != 0) return;
                       if (dedup) {
                         if (pending->error) {
                           dedup->failed();  // a resend may store it
                         } else {
                           dedup->stored(seq, last_seq, *pending->first);
                         }
                       }
                       const auto a = alive.lock();
                       if (!a || !*a) return;
                       proto::BaseCommand c;
                       if (pending->error) {
                         c.set_type(proto::BaseCommand::SEND_ERROR);
                         auto* e = c.mutable_send_error();
                         e->set_producer_id(producer_id);
                         e->set_sequence_id(sequence_id);
                         e->set_error(to_server_error(pending->error));
                         e->set_message(pending->error.message());
                       } else {
                         c.set_type(proto::BaseCommand::SEND_RECEIPT);
                         auto* r = c.mutable_send_receipt();
                         r->set_producer_id(producer_id);
                         r->set_sequence_id(sequence_id);
                         if (highest != 0) r->set_highest_sequence_id(highest);
                         to_wire(*pending->first, *r->mutable_message_id());
                       }
                       send(c);
                       stream_.output_ready();
                     });
  }
}

}  // namespace mop::pulsar::server
