#pragma once
// The records the store keeps, as plain values. Their on-disk encodings (encoding.hpp,
// FORMAT.md) are versioned; these structs are what the rest of mop sees. Plain values, no
// thread affinity.
#include <compare>
#include <cstdint>
#include <string>
#include <vector>

#include "service/messaging_service.hpp"
#include "service/metadata_store.hpp"
#include "service/session_store.hpp"

namespace mop::storage {

using service::Message;
using service::MessageId;

// A topic's numeric id: the prefix of its log, cursor and subscription keys (short, fixed-width
// keys instead of repeating the topic name in every entry key). Also its ledger id.
struct TopicRecord {
  std::uint64_t id = 0;
  std::string name;  // the full Pulsar name, "persistent://tenant/ns/local"
  auto operator<=>(const TopicRecord&) const = default;
};

// One entry of a topic log: its position and the encoded message (encode_message()).
struct LogEntry {
  MessageId id;  // batch index is not part of a log position and is stored as -1
  std::string value;
  auto operator<=>(const LogEntry&) const = default;
};

// A message encoded for the store in three parts, stored as their concatenation (the bytes
// encode_message() gives): the encoding before the payload, the payload itself (the message's
// own buffer, shared, not copied) and the encoding after it. A 64 KiB body is then copied once
// on its way to RocksDB, into the write batch (storage/README.md, "Large messages").
struct EncodedMessage {
  std::string head;
  Payload payload;
  std::string tail;
  std::size_t size() const { return head.size() + payload.size() + tail.size(); }
  std::string joined() const {
    std::string out;
    out.reserve(size());
    out.append(head).append(payload.view()).append(tail);
    return out;
  }
};

// What is stored of a log: [first, end). `first == end` when every entry was trimmed; the
// positions survive trimming so that entry ids are never reused after a restart.
struct LogBounds {
  MessageId first;
  MessageId end;
  auto operator<=>(const LogBounds&) const = default;
};

struct SubscriptionRecord {
  std::string name;
  service::SubscriptionType type = service::SubscriptionType::shared;
  bool durable = true;
  auto operator<=>(const SubscriptionRecord&) const = default;
};

// Entries [first, last] of one ledger, all individually acknowledged.
struct AckRange {
  std::uint64_t ledger = 0;
  std::uint64_t first = 0;
  std::uint64_t last = 0;
  auto operator<=>(const AckRange&) const = default;
};

// A batch entry (in the floor's ledger) of which some messages are acknowledged: bitmap of the
// acknowledged batch indexes (index i: bit i%64 of word i/64).
struct BatchAcks {
  std::uint64_t entry = 0;
  std::vector<std::uint64_t> acked;
  auto operator<=>(const BatchAcks&) const = default;
};

// ManagedCursor's persistent state: every entry below `ack_floor` is acknowledged (Pulsar's
// mark-delete position is the entry just before it), plus the acknowledged ranges above it, plus
// the partly acknowledged batch entries (Pulsar's batch-index acks, kept with the cursor).
struct CursorRecord {
  MessageId ack_floor;
  std::vector<AckRange> acked;  // sorted, disjoint, all above ack_floor
  std::vector<BatchAcks> batch_acked;  // by entry, above ack_floor, not in `acked`
  auto operator<=>(const CursorRecord&) const = default;
};

// MQTT sessions and wills are declared with the service interface (the MQTT server hands them
// to the service, which stores them here).
using service::OutboundInflight;
using service::OutboundState;
using service::SessionRecord;
using service::SessionSubscription;
using service::WillRecord;

// Pulsar topic metadata, declared with the service interface too.
using service::PartitionedTopicRecord;
using service::NamespaceRecord;
using service::PermissionRecord;
using service::TenantRecord;
using service::SchemaRecord;

// Deduplication state of one producer on one topic (keyed by topic id): the highest sequence id
// stored, written in the same batch as the log entry that completes it.
struct ProducerSequence {
  std::string producer;
  std::int64_t sequence_id = -1;
  auto operator<=>(const ProducerSequence&) const = default;
};

struct RetainedRecord {
  std::string topic;  // full Pulsar topic name
  Message message;
};

inline bool operator==(const RetainedRecord& a, const RetainedRecord& b) {
  return a.topic == b.topic && a.message == b.message;
}

}  // namespace mop::storage
