#include "storage/store_persistence.hpp"

#include "core/log.hpp"

namespace mop::storage {

void StorePersistence::write(Batch batch, const char* what, broker::PersistCallback done) {
  store_.write(std::move(batch), executor_, [what, done = std::move(done)](const Result<void, Error>& r) {
    if (!r.ok()) log::get("storage")->error("{} failed: {}", what, r.error().to_string());
    if (done) done(r.ok() ? std::error_code{} : r.error().code);
  });
}

Result<std::uint64_t, Error> StorePersistence::topic_id(const service::TopicName& topic) {
  const std::string name = topic.str();
  if (const auto it = topic_ids_.find(name); it != topic_ids_.end()) return it->second;
  auto id = store_.ensure_topic(name);
  if (id.ok()) topic_ids_.emplace(name, *id);
  return id;
}

CursorRecord StorePersistence::to_record(const broker::CursorState& cursor) {
  CursorRecord r;
  r.ack_floor = {cursor.ack_floor.ledger, cursor.ack_floor.entry, -1};
  r.acked.reserve(cursor.acked.size());
  for (const auto& [first, last] : cursor.acked) r.acked.push_back({cursor.ack_floor.ledger, first, last});
  for (const auto& [entry, bits] : cursor.batch_acked) r.batch_acked.push_back({entry, bits});
  return r;
}

std::optional<std::uint64_t> StorePersistence::id_or_fail(const service::TopicName& topic, const char* what,
                                                          broker::PersistCallback& done) {
  auto id = topic_id(topic);
  if (id.ok()) return *id;
  // Not even queued: the completion still comes later, on the executor, with the error.
  log::get("storage")->error("{} failed: {}", what, id.error().to_string());
  executor_.post([done = std::move(done), ec = id.error().code] {
    if (done) done(ec);
  });
  return std::nullopt;
}

void StorePersistence::put_subscription(const service::TopicName& topic, const std::string& name,
                                        service::SubscriptionType type, broker::CursorState cursor,
                                        broker::PersistCallback done) {
  const auto id = id_or_fail(topic, "storing a subscription", done);
  if (!id) return;
  Batch b;
  b.put_subscription(*id, SubscriptionRecord{name, type, true});
  b.put_cursor(*id, name, to_record(cursor));
  write(std::move(b), "storing a subscription", std::move(done));
}

void StorePersistence::delete_subscription(const service::TopicName& topic, const std::string& name,
                                           broker::PersistCallback done) {
  const auto id = id_or_fail(topic, "deleting a subscription", done);
  if (!id) return;
  Batch b;
  b.delete_subscription(*id, name);
  write(std::move(b), "deleting a subscription", std::move(done));
}

void StorePersistence::put_cursor(const service::TopicName& topic, const std::string& subscription,
                                  broker::CursorState cursor, broker::PersistCallback done) {
  const auto id = id_or_fail(topic, "storing a cursor", done);
  if (!id) return;
  Batch b;
  // The broker acts on nothing when a cursor is stored (broker::Topic::write_cursor: it writes the
  // next position, if any), so it need not wait for a sync; the next synced group makes it durable.
  b.put_cursor(*id, subscription, to_record(cursor)).no_wait_for_sync();
  write(std::move(b), "storing a cursor", std::move(done));
}

void StorePersistence::put_retained(const service::TopicName& topic, const service::Message& message,
                                    broker::PersistCallback done) {
  Batch b;
  b.put_retained(RetainedRecord{topic.str(), message});
  write(std::move(b), "storing a retained message", std::move(done));
}

void StorePersistence::delete_retained(const service::TopicName& topic, broker::PersistCallback done) {
  Batch b;
  b.delete_retained(topic.str());
  write(std::move(b), "deleting a retained message", std::move(done));
}

void StorePersistence::delete_topic(const service::TopicName& topic, broker::PersistCallback done) {
  Batch b;
  b.delete_retained(topic.str());
  // The topic's Pulsar schema (service::MetadataStore's, kept under the topic's name) goes with
  // it, as on Apache Pulsar: the same name used again is a new topic that takes the next
  // producer's schema rather than inheriting the deleted one's.
  b.delete_schema(topic.str());
  auto id = store_.find_topic(topic.str());
  if (!id.ok()) {
    log::get("storage")->error("deleting topic {} failed: {}", topic.str(), id.error().to_string());
    executor_.post([done = std::move(done), ec = id.error().code] {
      if (done) done(ec);
    });
    return;
  }
  if (*id) b.delete_topic(**id);  // none: nothing of it was ever stored but its retained message
  topic_ids_.erase(topic.str());
  write(std::move(b), "deleting a topic", std::move(done));
}

Result<void, Error> StorePersistence::load(Restored& out) {
  auto topics = store_.topics();
  if (!topics.ok()) return topics.error();
  for (const auto& t : *topics) {
    auto name = service::TopicName::parse(t.name);
    if (!name) {
      return Error(StorageErrc::corruption,
                   "topic record " + std::to_string(t.id) + " has an invalid name '" + t.name + "' in store " + store_.describe());
    }
    // The ledger reads its bounds again when the broker opens it; reading them here makes a
    // damaged log record stop the start instead of failing that topic's publishes later.
    if (auto bounds = store_.log_bounds(t.id); !bounds.ok()) return bounds.error();
    auto subs = store_.subscriptions(t.id);
    if (!subs.ok()) return subs.error();
    broker::Persistence::RestoredTopic restored{*name, {}};
    for (const auto& sub : *subs) {
      if (!sub.durable) continue;
      auto cursor = store_.cursor(t.id, sub.name);
      if (!cursor.ok()) return cursor.error();
      broker::Persistence::RestoredSubscription rs{sub.name, sub.type, {}};
      // No cursor (never written): from the start of what is stored, i.e. nothing is lost.
      if (*cursor) {
        rs.cursor.ack_floor = (*cursor)->ack_floor;
        for (const auto& r : (*cursor)->acked) rs.cursor.acked.emplace_back(r.first, r.last);
        for (const auto& b : (*cursor)->batch_acked) rs.cursor.batch_acked.emplace_back(b.entry, b.acked);
      }
      restored.subscriptions.push_back(std::move(rs));
    }
    auto sequences = store_.producer_sequences(t.id);
    if (!sequences.ok()) return sequences.error();
    for (auto& p : *sequences) out.producer_sequences.push_back({t.name, std::move(p.producer), p.sequence_id});
    topic_ids_.emplace(t.name, t.id);
    out.topics.push_back(std::move(restored));
  }
  auto retained = store_.retained();
  if (!retained.ok()) return retained.error();
  for (auto& r : *retained) {
    auto name = service::TopicName::parse(r.topic);
    if (!name) {
      return Error(StorageErrc::corruption,
                   "retained message of an invalid topic name '" + r.topic + "' in store " + store_.describe());
    }
    out.retained.emplace_back(std::move(*name), std::make_shared<const service::Message>(std::move(r.message)));
  }
  return {};
}

}  // namespace mop::storage
