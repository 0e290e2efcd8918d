// GET_SCHEMA and GET_OR_CREATE_SCHEMA (a PRODUCER's schema goes through producer.cpp).
#include "pulsar/server/handlers/handler.hpp"

namespace mop::pulsar::server {

void Connection::on_get_schema(const Frame& f) {
  const auto& q = f.command->getschema();
  const auto topic = resolve(q.topic());
  // Read from the store; a schema still being stored is answered once it is (or as missing, if
  // that failed).
  auto answer = [this, alive = std::weak_ptr<bool>(alive_), request_id = q.request_id()](
                    std::error_code ec, const SchemaRegistry::StoredSchema* schema) {
    const auto a = alive.lock();
    if (!a || !*a) return;
    request_answered();
    proto::BaseCommand c;
    c.set_type(proto::BaseCommand::GET_SCHEMA_RESPONSE);
    auto* r = c.mutable_getschemaresponse();
    r->set_request_id(request_id);
    if (ec) {
      r->set_error_code(proto::PersistenceError);
      r->set_error_message("Cannot read the schema: " + ec.message());
    } else if (schema == nullptr) {
      r->set_error_code(proto::TopicNotFound);
      r->set_error_message("Topic not found or no-schema");
    } else {
      *r->mutable_schema() = schema->schema;
      r->set_schema_version(schema_version_bytes(schema->version));
    }
    send(c);
    stream_.output_ready();
  };
  request_waits();
  if (!topic) return answer({}, nullptr);
  server_.schemas().find(*topic, std::move(answer));
}

void Connection::on_get_or_create_schema(const Frame& f) {
  const auto& q = f.command->getorcreateschema();
  proto::BaseCommand c;
  c.set_type(proto::BaseCommand::GET_OR_CREATE_SCHEMA_RESPONSE);
  auto* r = c.mutable_getorcreateschemaresponse();
  r->set_request_id(q.request_id());
  const auto topic = resolve(q.topic());
  if (!topic) {
    r->set_error_code(proto::InvalidTopicName);
    r->set_error_message("Invalid topic name: " + q.topic());
  } else {
    request_waits();
    server_.schemas().get_or_create(*topic, q.schema(),
                                 [this, alive = std::weak_ptr<bool>(alive_), c](
                                     std::error_code ec, const SchemaRegistry::StoredSchema* schema) mutable {
                                   const auto a = alive.lock();
                                   if (!a || !*a) return;
                                   request_answered();
                                   auto* r = c.mutable_getorcreateschemaresponse();
                                   if (ec) {
                                     r->set_error_code(proto::PersistenceError);
                                     r->set_error_message("Cannot store the schema: " + ec.message());
                                   } else {
                                     r->set_schema_version(schema_version_bytes(schema->version));
                                   }
                                   send(c);
                                   stream_.output_ready();
                                 });
    return;
  }
  send(c);
}

}  // namespace mop::pulsar::server
