#pragma once
// MetadataStore: where the Pulsar protocol server keeps its topic metadata across restarts:
// partition counts of partitioned topics (PartitionedTopicRecord) and the schemas clients
// declared (SchemaRecord), one record per topic name, and the authorization grants
// (PermissionRecord, one per resource and role). The Pulsar server (pulsar/server:
// PartitionedTopics, SchemaRegistry) and auth::Permissions (through app/) are its users. Deduplication state is not here: it is
// written with the log entries (Message::dedup) and restored by the MessagingService
// (load_producer_sequences).
//
// Implementations: storage::StoreMetadataStore over the embedded Store (`mop standalone`: the
// same column families and keys as before this interface existed); the cluster one (`mop proxy`)
// over Pulsar system topics. The promises are SessionStore's (service/session_store.hpp):
//
//  - Writes complete asynchronously: `done` (may be empty) runs later on the owner's executor,
//    never inside the call, once the write is durable or with an error (then nothing changed);
//    completions of one store run in call order. put_* stores or replaces the record of its
//    topic name.
//  - Reads answer through a callback, later, on the owner's executor, and see at least every
//    write whose completion ran successfully before the read was issued, through this instance
//    or another over the same state (another proxy, a restart). Failed writes are never visible.
//
// Threading: owned by one thread (the service's); every method is called on it.
#include <cstdint>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "core/result.hpp"
#include "service/messaging_service.hpp"
#include "service/session_store.hpp"

namespace mop::service {

// What the Pulsar protocol server keeps across restarts, as plain values; the store keeps them
// and gives them back without interpreting them.

// A partitioned topic: its base name (full, "persistent://t/ns/x") and partition count (>= 1).
struct PartitionedTopicRecord {
  std::string topic;
  std::uint32_t partitions = 0;
  auto operator<=>(const PartitionedTopicRecord&) const = default;
};

// A topic's schema as a Pulsar client declared it (Pulsar's Schema: type, name, data,
// properties), with the version the broker gave it.
struct SchemaRecord {
  std::string topic;  // full topic name
  std::uint64_t version = 0;
  std::uint32_t type = 0;  // Pulsar's Schema.Type number
  std::string name;
  std::string data;
  std::vector<std::pair<std::string, std::string>> properties;
  auto operator<=>(const SchemaRecord&) const = default;
};

// A grant (authorization, auth::Permissions): `actions` (bits: 1 produce, 2 consume) of `role`
// on `resource`, a namespace ("tenant/ns") or a topic's full name; actions 0 = no grant.
struct PermissionRecord {
  std::string resource;
  std::string role;
  std::uint8_t actions = 0;
  auto operator<=>(const PermissionRecord&) const = default;
};

// Everything a MetadataStore holds, as read at start.
struct MetadataSnapshot {
  std::vector<PartitionedTopicRecord> partitioned_topics;  // by topic name
  std::vector<SchemaRecord> schemas;                       // by topic name
  std::vector<PermissionRecord> permissions;               // by resource, then role
};

class MetadataStore {
public:
  virtual ~MetadataStore() = default;

  virtual void put_partitioned_topic(PartitionedTopicRecord record, StateDone done) = 0;
  virtual void put_schema(SchemaRecord schema, StateDone done) = 0;
  // Stores or replaces the grant of (resource, role); actions 0 deletes it.
  virtual void put_permission(PermissionRecord record, StateDone done) = 0;
  // Every record stored, by topic name. The Pulsar server reads it once before it serves
  // (PulsarServer::restore). An error names what could not be read.
  virtual void load(std::function<void(Result<MetadataSnapshot, Error>)> done) = 0;
};

}  // namespace mop::service
