#pragma once
// The records the store keeps, as plain values. Their on-disk encodings (encoding.hpp,
// FORMAT.md) are versioned; these structs are what the rest of mop sees. Plain values, no
// thread affinity.
#include <compare>
#include <cstdint>
#include <string>
#include <vector>

#include "service/messaging_service.hpp"

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

// ManagedCursor's persistent state: every entry below `ack_floor` is acknowledged (Pulsar's
// mark-delete position is the entry just before it), plus the acknowledged ranges above it.
struct CursorRecord {
  MessageId ack_floor;
  std::vector<AckRange> acked;  // sorted, disjoint, all above ack_floor
  auto operator<=>(const CursorRecord&) const = default;
};

struct SessionSubscription {
  std::string filter;
  std::uint8_t qos = 0;
  std::uint8_t options = 0;  // MQTT 5 subscription options byte above the QoS bits (no local, RAP, RH)
  std::uint32_t subscription_id = 0;  // 0: none
  auto operator<=>(const SessionSubscription&) const = default;
};

enum class OutboundState : std::uint8_t {
  publish_sent = 0,  // QoS 1/2 PUBLISH sent, waiting for PUBACK / PUBREC
  pubrel_sent = 1,   // QoS 2 PUBREL sent, waiting for PUBCOMP
};

// An outbound QoS 1/2 message in flight to the client, and where it came from.
struct OutboundInflight {
  std::uint16_t packet_id = 0;
  std::string topic;         // the Pulsar topic the message was read from
  std::string subscription;  // and the subscription it was delivered on
  MessageId message_id;
  std::uint8_t qos = 1;
  OutboundState state = OutboundState::publish_sent;
  auto operator<=>(const OutboundInflight&) const = default;
};

struct SessionRecord {
  std::string client_id;
  bool clean_start = false;
  std::uint8_t protocol_version = 4;      // 3, 4 (3.1.1) or 5
  std::uint32_t expiry_interval_s = 0;    // MQTT 5 session expiry; 0xFFFFFFFF: never
  std::uint64_t disconnected_at_ms = 0;   // wall clock; 0 while connected. Expiry counts from here.
  std::vector<SessionSubscription> subscriptions;
  std::vector<std::uint16_t> inbound_qos2;  // PUBREC sent, PUBREL not yet received
  std::vector<OutboundInflight> outbound;
  auto operator<=>(const SessionRecord&) const = default;
};

struct RetainedRecord {
  std::string topic;  // full Pulsar topic name
  Message message;
};

struct WillRecord {
  std::string client_id;
  std::string topic;
  Message message;
  std::uint8_t qos = 0;
  bool retain = false;
  std::uint32_t delay_s = 0;
  std::uint64_t due_at_ms = 0;  // wall clock when it is published, 0 while the client is connected
};

bool operator==(const Message& a, const Message& b);
inline bool operator==(const RetainedRecord& a, const RetainedRecord& b) {
  return a.topic == b.topic && a.message == b.message;
}
inline bool operator==(const WillRecord& a, const WillRecord& b) {
  return a.client_id == b.client_id && a.topic == b.topic && a.message == b.message && a.qos == b.qos &&
         a.retain == b.retain && a.delay_s == b.delay_s && a.due_at_ms == b.due_at_ms;
}

}  // namespace mop::storage
