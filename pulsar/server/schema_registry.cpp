#include "pulsar/server/schema_registry.hpp"

#include <utility>

#include "pulsar/server/log.hpp"

namespace mop::pulsar::server {

void SchemaRegistry::find(const service::TopicName& topic, Answer done) {
  const auto [it, added] = pending_.try_emplace(topic.str());
  it->second.waiters.push_back({std::nullopt, std::move(done)});
  if (added) read(topic.str());
}

void SchemaRegistry::get_or_create(const service::TopicName& topic, const proto::Schema& schema, Answer done) {
  const auto [it, added] = pending_.try_emplace(topic.str());
  it->second.waiters.push_back({schema, std::move(done)});
  if (added) read(topic.str());
}

void SchemaRegistry::read(const std::string& name) {
  store_.get_schema(name, [this, alive = std::weak_ptr<bool>(alive_), name](
                              Result<std::optional<service::SchemaRecord>, Error> r) {
    if (alive.expired()) return;  // the server is gone (shutdown) before the store answered
    on_read(name, std::move(r));
  });
}

void SchemaRegistry::on_read(const std::string& name, Result<std::optional<service::SchemaRecord>, Error> r) {
  if (!r.ok()) {
    logger()->error("reading the schema of {} failed: {}", name, r.error().to_string());
    return finish(name, r.error().code, nullptr);
  }
  if (r->has_value() && !proto::Schema::Type_IsValid(static_cast<int>((*r)->type))) {
    logger()->error("stored schema of {} has an unknown type {}: taken as none", name, (*r)->type);
    r = std::optional<service::SchemaRecord>{};
  }
  if (r->has_value()) {
    const auto& record = **r;
    StoredSchema stored;
    stored.schema.set_name(record.name);
    stored.schema.set_schema_data(record.data);
    stored.schema.set_type(static_cast<proto::Schema::Type>(record.type));
    for (const auto& [k, v] : record.properties) {
      auto* kv = stored.schema.add_properties();
      kv->set_key(k);
      kv->set_value(v);
    }
    stored.version = record.version;
    return finish(name, {}, &stored);
  }
  // None stored: the first request that brings one makes it the topic's.
  auto& p = pending_.at(name);
  for (const auto& w : p.waiters) {
    if (w.create) return write(name, p, *w.create);
  }
  finish(name, {}, nullptr);
}

void SchemaRegistry::write(const std::string& name, Pending& p, const proto::Schema& schema) {
  p.writing = true;
  p.written = StoredSchema{schema, 0};
  service::SchemaRecord record;
  record.topic = name;
  record.version = 0;
  record.type = static_cast<std::uint32_t>(schema.type());
  record.name = schema.name();
  record.data = schema.schema_data();
  for (const auto& kv : schema.properties()) record.properties.emplace_back(kv.key(), kv.value());
  store_.put_schema(std::move(record), [this, alive = std::weak_ptr<bool>(alive_), name](Result<void, Error> r) {
    if (alive.expired()) return;
    if (!r.ok()) {
      logger()->error("storing the schema of {} failed: {}", name, r.error().to_string());
      return finish(name, r.error().code, nullptr);
    }
    const StoredSchema written = std::move(pending_.at(name).written);
    finish(name, {}, &written);
  });
}

void SchemaRegistry::finish(const std::string& name, std::error_code ec, const StoredSchema* schema) {
  auto node = pending_.extract(name);
  if (node.empty()) return;
  for (const auto& w : node.mapped().waiters) {
    // A find() waiting on a write that failed learns there is none, as if it came after it.
    if (ec && !w.create && node.mapped().writing) {
      w.done({}, nullptr);
    } else {
      w.done(ec, schema);
    }
  }
}

}  // namespace mop::pulsar::server
