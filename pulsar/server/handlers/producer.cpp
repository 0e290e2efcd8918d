// PRODUCER and CLOSE_PRODUCER, and what the server tells a producer unasked: it is ready
// (WaitForExclusive), it is closed (fenced).
#include "pulsar/server/handlers/handler.hpp"

namespace mop::pulsar::server {

void Connection::on_producer(const Frame& f) {
  const auto& q = f.command->producer();
  if (const auto it = producers_.find(q.producer_id()); it != producers_.end()) {
    // A retried PRODUCER for a producer that already exists: same answer again.
    return producer_success(q, it->second, it->second.ready,
                            q.has_schema() ? it->second.schema_version : std::nullopt);
  }
  const auto topic = resolve(q.topic());
  if (!topic) return send_error(q.request_id(), proto::InvalidTopicName, "Invalid topic name: " + q.topic());
  if (!authorized(auth::Action::produce, *topic))
    return send_error(q.request_id(), proto::AuthorizationError,
                      "Role " + role_ + " is not authorized to produce to " + topic->str());
  if (!usable(*topic)) return send_error(q.request_id(), proto::TopicNotFound, "Topic not found: " + q.topic());
  std::string name = q.has_producer_name() && !q.producer_name().empty() ? q.producer_name() : server_.next_producer_name();
  const auto added =
      server_.producers().add(*topic, name, q.producer_access_mode(), *this, q.producer_id(), q.request_id());
  if (!added.ok()) return send_error(q.request_id(), added.error().error, added.error().why);
  const bool ready = *added == ProducerRegistry::Added::ready;
  const auto& p = producers_
                      .emplace(q.producer_id(), Producer{*topic, std::move(name), ready, q.producer_access_mode(),
                                                         std::chrono::system_clock::now()})
                      .first->second;
  if (!q.has_schema()) return producer_success(q, p, ready, std::nullopt);
  // The producer's schema becomes the topic's first one (stored before PRODUCER_SUCCESS), or the
  // topic's schema is named.
  request_waits();
  server_.schemas().get_or_create(
      *topic, q.schema(),
      [this, alive = std::weak_ptr<bool>(alive_), q, ready](std::error_code ec,
                                                             const SchemaRegistry::StoredSchema* schema) {
        const auto a = alive.lock();
        if (!a || !*a) return;
        request_answered();
        const auto it = producers_.find(q.producer_id());
        if (it == producers_.end()) return;  // closed meanwhile
        if (ec) {
          const auto topic = it->second.topic;
          producers_.erase(it);
          server_.producers().remove(topic, *this, q.producer_id());
          send_error(q.request_id(), proto::PersistenceError, "Cannot store the schema: " + ec.message());
        } else {
          it->second.schema_version = schema->version;
          producer_success(q, it->second, ready, schema->version);
        }
        stream_.output_ready();
      });
}

void Connection::producer_success(const proto::CommandProducer& q, const Producer& p, bool ready,
                                  std::optional<std::uint64_t> schema_version) {
  proto::BaseCommand c;
  c.set_type(proto::BaseCommand::PRODUCER_SUCCESS);
  auto* r = c.mutable_producer_success();
  r->set_request_id(q.request_id());
  r->set_producer_name(p.name);
  // With deduplication the client resumes its numbering after what we stored.
  r->set_last_sequence_id(server_.deduplicates(p.topic) ? server_.deduplication().producer(p.topic, p.name)->persisted
                                                        : -1);
  if (!ready) r->set_producer_ready(false);
  if (q.producer_access_mode() != proto::Shared && ready) r->set_topic_epoch(server_.producers().epoch(p.topic));
  if (schema_version) r->set_schema_version(schema_version_bytes(*schema_version));
  send(c);
}

void Connection::producer_now_ready(std::uint64_t producer_id, std::uint64_t request_id, std::uint64_t epoch) {
  const auto it = producers_.find(producer_id);
  if (it == producers_.end() || closed_) return;
  it->second.ready = true;
  proto::BaseCommand c;
  c.set_type(proto::BaseCommand::PRODUCER_SUCCESS);
  auto* r = c.mutable_producer_success();
  r->set_request_id(request_id);
  r->set_producer_name(it->second.name);
  const auto& p = it->second;
  r->set_last_sequence_id(server_.deduplicates(p.topic) ? server_.deduplication().producer(p.topic, p.name)->persisted
                                                        : -1);
  r->set_topic_epoch(epoch);
  r->set_producer_ready(true);
  send(c);
  stream_.output_ready();
}

void Connection::close_producer_from_server(std::uint64_t producer_id) {
  if (producers_.erase(producer_id) == 0 || closed_) return;
  proto::BaseCommand c;
  c.set_type(proto::BaseCommand::CLOSE_PRODUCER);
  c.mutable_close_producer()->set_producer_id(producer_id);
  c.mutable_close_producer()->set_request_id(static_cast<std::uint64_t>(-1));  // no answer expected
  send(c);
  stream_.output_ready();
}

void Connection::on_close_producer(const Frame& f) {
  const auto& q = f.command->close_producer();
  if (const auto it = producers_.find(q.producer_id()); it != producers_.end()) {
    const auto topic = it->second.topic;
    producers_.erase(it);
    server_.producers().remove(topic, *this, q.producer_id());
  }
  send_success(q.request_id());
}

void Connection::for_each_producer(const std::function<void(const ProducerInfo&)>& fn) const {
  for (const auto& [id, p] : producers_) {
    fn(ProducerInfo{&p.topic, &p.name, id, p.access_mode, &peer_, &client_version_, p.since, p.msg_in, p.bytes_in});
  }
}

}  // namespace mop::pulsar::server
