#pragma once
// MetadataStore: where the Pulsar protocol server keeps its topic metadata across restarts:
// partition counts of partitioned topics (PartitionedTopicRecord) and the schemas clients
// declared (SchemaRecord), one record per topic name. The Pulsar server (pulsar/server:
// PartitionedTopics, SchemaRegistry) is its only user. Deduplication state is not here: it is
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
#include <functional>
#include <vector>

#include "core/result.hpp"
#include "service/messaging_service.hpp"
#include "service/session_store.hpp"

namespace mop::service {

// Everything a MetadataStore holds, as read at start.
struct MetadataSnapshot {
  std::vector<PartitionedTopicRecord> partitioned_topics;  // by topic name
  std::vector<SchemaRecord> schemas;                       // by topic name
};

class MetadataStore {
public:
  virtual ~MetadataStore() = default;

  virtual void put_partitioned_topic(PartitionedTopicRecord record, StateDone done) = 0;
  virtual void put_schema(SchemaRecord schema, StateDone done) = 0;
  // Every record stored, by topic name. The Pulsar server reads it once before it serves
  // (PulsarServer::restore). An error names what could not be read.
  virtual void load(std::function<void(Result<MetadataSnapshot, Error>)> done) = 0;
};

}  // namespace mop::service
