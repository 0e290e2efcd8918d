#pragma once
// MetadataStore: where the Pulsar protocol server keeps its topic metadata across restarts:
// partition counts of partitioned topics (PartitionedTopicRecord) and the schemas clients
// declared (SchemaRecord), one record per topic name, the authorization grants
// (PermissionRecord, one per resource and role), and the tenants and namespaces created through
// the admin API with the namespaces' policies (TenantRecord, NamespaceRecord, one per name). The Pulsar server (pulsar/server:
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
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "core/result.hpp"
#include "service/messaging_service.hpp"
#include "service/session_store.hpp"

namespace mop::service {

// What the Pulsar protocol server keeps across restarts, as plain values; the store keeps them
// and gives them back without interpreting them.

// A partitioned topic: its base name (full, "persistent://t/ns/x") and partition count (>= 1 as
// stored; 0 in a write deletes the record).
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

// A tenant created through the admin API: its name and Pulsar's TenantInfo as given (JSON text).
struct TenantRecord {
  std::string name;
  std::string info;
  auto operator<=>(const TenantRecord&) const = default;
};

// Pulsar's namespace policies that mop has. RetentionPolicies: -1 = no limit, 0 = nothing
// retained.
struct RetentionPolicy {
  std::int64_t minutes = 0;
  std::int64_t size_mb = 0;
  auto operator<=>(const RetentionPolicy&) const = default;
};

// Pulsar's BacklogQuota (destination_storage): bytes, seconds (mop has no time quota: kept and
// shown, not applied) and the policy's Pulsar name (producer_exception or
// consumer_backlog_eviction; mop does not hold publishes, so not producer_request_hold).
struct BacklogQuotaPolicy {
  std::int64_t limit_size = -1;
  std::int64_t limit_time = -1;
  std::string policy = "producer_exception";
  auto operator<=>(const BacklogQuotaPolicy&) const = default;
};

struct NamespacePolicies {
  std::optional<RetentionPolicy> retention;
  std::optional<std::int64_t> message_ttl_seconds;
  std::optional<BacklogQuotaPolicy> backlog_quota;
  std::optional<bool> deduplication;
  bool empty() const { return !retention && !message_ttl_seconds && !backlog_quota && !deduplication; }
  auto operator<=>(const NamespacePolicies&) const = default;
};

// A namespace created through the admin API, or one whose policies were set: its name
// ("tenant/ns") and policies (none set: the broker's own apply).
struct NamespaceRecord {
  std::string name;
  NamespacePolicies policies;
  auto operator<=>(const NamespaceRecord&) const = default;
};

// What a MetadataStore holds, as read at start: everything but the schemas, which are read one
// topic at a time when asked for (get_schema), so that they need not all be in memory.
struct MetadataSnapshot {
  std::vector<PartitionedTopicRecord> partitioned_topics;  // by topic name
  std::vector<PermissionRecord> permissions;               // by resource, then role
  std::vector<TenantRecord> tenants;                       // by name
  std::vector<NamespaceRecord> namespaces;                 // by name
};

class MetadataStore {
public:
  virtual ~MetadataStore() = default;

  // Stores or replaces the topic's partition count; partitions 0 deletes it.
  virtual void put_partitioned_topic(PartitionedTopicRecord record, StateDone done) = 0;
  virtual void put_schema(SchemaRecord schema, StateDone done) = 0;
  // The topic's schema (full topic name), none if it has none.
  virtual void get_schema(const std::string& topic, std::function<void(Result<std::optional<SchemaRecord>, Error>)> done) = 0;
  // Stores or replaces the grant of (resource, role); actions 0 deletes it.
  virtual void put_permission(PermissionRecord record, StateDone done) = 0;
  // Tenants and namespaces of the admin API (http::NamespaceRegistry): stores or replaces the
  // record of its name; delete_* removes it (no record: nothing to do, success).
  virtual void put_tenant(TenantRecord record, StateDone done) = 0;
  virtual void delete_tenant(const std::string& name, StateDone done) = 0;
  virtual void put_namespace(NamespaceRecord record, StateDone done) = 0;
  virtual void delete_namespace(const std::string& name, StateDone done) = 0;
  // Every record stored but the schemas, by name. The Pulsar server reads it once before it serves
  // (PulsarServer::restore). An error names what could not be read.
  virtual void load(std::function<void(Result<MetadataSnapshot, Error>)> done) = 0;
};

}  // namespace mop::service
