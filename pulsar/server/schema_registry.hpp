#pragma once
// Topic schemas of the whole server, opaque to us (the Schema protobuf as the client sent it):
// the first schema a topic gets is kept, version 0, no compatibility checks. Stored in the
// service::MetadataStore before anyone is told its version, handed back to restore() at start.
// Runs on the service's thread.
#include <cstdint>
#include <functional>
#include <memory>
#include <map>
#include <string>
#include <system_error>
#include <unordered_map>
#include <vector>

#include "pulsar/codec/codec.hpp"
#include "service/metadata_store.hpp"

namespace mop::pulsar::server {

class SchemaRegistry {
public:
  struct StoredSchema {
    proto::Schema schema;
    std::uint64_t version = 0;
  };

  // Schemas are written to `store` (which must outlive this).
  explicit SchemaRegistry(service::MetadataStore& store) : store_(store) {}
  // Takes the schemas the store held at start (one of an unknown type is logged and skipped).
  void restore(const std::vector<service::SchemaRecord>& records);

  // The topic's schema (also one still being stored), nullptr if it has none.
  const StoredSchema* find(const service::TopicName& topic) const;
  // The topic's schema, or `schema` as its first one, stored in the store: `done` gets
  // the version once durable (at once for a schema the topic has). On a failed write the
  // schema is forgotten again and `done` gets the error.
  void get_or_create(const service::TopicName& topic, const proto::Schema& schema,
                     std::function<void(std::error_code, std::uint64_t version)> done);
  // `done` runs once the topic's schema is no longer being stored (either way; a failed one is
  // gone by then), at once if no write is under way.
  void when_stored(const service::TopicName& topic, std::function<void()> done);

private:
  service::MetadataStore& store_;
  // Store completions that run after this registry is gone (a shutdown) do nothing.
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
  std::map<std::string, StoredSchema> schemas_;
  // Completions waiting for a schema still being written, by topic name.
  std::unordered_map<std::string, std::vector<std::function<void(std::error_code, std::uint64_t)>>> writes_;
};

}  // namespace mop::pulsar::server
