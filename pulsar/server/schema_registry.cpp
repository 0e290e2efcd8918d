#include "pulsar/server/schema_registry.hpp"

#include "pulsar/server/log.hpp"

namespace mop::pulsar::server {

void SchemaRegistry::restore(const std::vector<service::SchemaRecord>& records) {
  for (const auto& r : records) {
    if (!proto::Schema::Type_IsValid(static_cast<int>(r.type))) {
      logger()->error("stored schema of {} has an unknown type {}: not restored", r.topic, r.type);
      continue;
    }
    StoredSchema stored;
    stored.schema.set_name(r.name);
    stored.schema.set_schema_data(r.data);
    stored.schema.set_type(static_cast<proto::Schema::Type>(r.type));
    for (const auto& [k, v] : r.properties) {
      auto* kv = stored.schema.add_properties();
      kv->set_key(k);
      kv->set_value(v);
    }
    stored.version = r.version;
    schemas_.insert_or_assign(r.topic, std::move(stored));
  }
}

const SchemaRegistry::StoredSchema* SchemaRegistry::find(const service::TopicName& topic) const {
  const auto it = schemas_.find(topic.str());
  return it == schemas_.end() ? nullptr : &it->second;
}

void SchemaRegistry::when_stored(const service::TopicName& topic, std::function<void()> done) {
  if (const auto it = writes_.find(topic.str()); it != writes_.end()) {
    it->second.push_back([done = std::move(done)](std::error_code, std::uint64_t) { done(); });
    return;
  }
  done();
}

void SchemaRegistry::get_or_create(const service::TopicName& topic, const proto::Schema& schema,
                                   std::function<void(std::error_code, std::uint64_t)> done) {
  if (const auto it = schemas_.find(topic.str()); it != schemas_.end()) {
    // Being stored: answered with the outcome of that write.
    if (const auto w = writes_.find(topic.str()); w != writes_.end()) {
      w->second.push_back(std::move(done));
      return;
    }
    return done({}, it->second.version);
  }
  schemas_.emplace(topic.str(), StoredSchema{schema, 0});
  writes_[topic.str()].push_back(std::move(done));
  service::SchemaRecord record;
  record.topic = topic.str();
  record.version = 0;
  record.type = static_cast<std::uint32_t>(schema.type());
  record.name = schema.name();
  record.data = schema.schema_data();
  for (const auto& kv : schema.properties()) record.properties.emplace_back(kv.key(), kv.value());
  store_.put_schema(std::move(record), [this, alive = std::weak_ptr<bool>(alive_), name = topic.str()](Result<void, Error> r) {
    if (alive.expired()) return;  // the server is gone (shutdown) before the store answered
    const std::error_code ec = r.ok() ? std::error_code{} : r.error().code;
    if (ec) {
      logger()->error("storing the schema of {} failed: {}", name, r.error().to_string());
      schemas_.erase(name);
    }
    const auto waiting = writes_.extract(name);
    if (waiting.empty()) return;
    for (const auto& d : waiting.mapped()) d(ec, 0);
  });
}

}  // namespace mop::pulsar::server
