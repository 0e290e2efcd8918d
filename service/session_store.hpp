#pragma once
// SessionStore: where the MQTT server keeps what must outlive a connection and a restart, one
// record per client id: the session (SessionRecord) and the pending will (WillRecord). The MQTT
// server (mqtt/server, SessionRouter) is its only user; the messaging itself (topics,
// subscriptions, cursors, retained messages) is MessagingService's.
//
// Implementations: storage::StoreSessionStore over the embedded Store (`mop standalone`: the
// same column families and keys as before this interface existed); the cluster one (`mop proxy`)
// over Pulsar system topics, compacted and read back by every proxy. The promises below are
// written so that both can keep them:
//
//  - Writes complete asynchronously. `done` (may be empty) runs later, on the owner's executor,
//    never inside the call: once the write is durable (for the store: its group commit synced;
//    for system topics: the broker acknowledged the message), or with an error, and then the
//    stored state is what it was before the call. Completions of one store run in call order.
//  - put_* stores or replaces the record of its client id; delete_* removes it (deleting what
//    is not there succeeds).
//  - Reads do not assume a local disk: they answer through a callback, run later on the owner's
//    executor. A read sees at least every write whose completion ran (successfully) before the
//    read was issued, whoever wrote it: a record written through one instance is visible to a
//    read issued through another instance over the same state (another proxy, or the same
//    process after a restart) once the write's completion has run. Failed writes are never
//    visible.
//  - atomically(): see there.
//
// Threading: owned by one thread (the service's); every method is called on it.
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "core/result.hpp"
#include "service/messaging_service.hpp"

namespace mop::service {

// What an MQTT server keeps per client across restarts, as plain values. The store keeps them
// and gives them back; it does not interpret them.

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

// An inbound QoS 2 message handed to the service under a deduplication sequence id and not yet
// released by PUBREL (mqtt::RouterOptions::qos2_deduplication, `mop proxy`): its message may or
// may not be stored, so a resend of the packet id is published again under the same id and the
// Pulsar broker's deduplication keeps it at most once.
struct InboundSequence {
  std::uint16_t packet_id = 0;
  std::int64_t sequence_id = -1;
  auto operator<=>(const InboundSequence&) const = default;
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
  // Only with RouterOptions::qos2_deduplication, which only a store that is not atomic with the
  // topics uses (cluster::ClusterSessionStore keeps them; the embedded store never gets any):
  // the inbound QoS 2 messages handed over under a sequence id, and the last id given out.
  std::vector<InboundSequence> inbound_sequences;
  std::int64_t last_sequence_id = -1;
  auto operator<=>(const SessionRecord&) const = default;
};

// A will message waiting for its client to disconnect (due_at_ms == 0) or for its delay to pass.
struct WillRecord {
  std::string client_id;
  std::string topic;  // full Pulsar topic name
  Message message;
  std::uint8_t qos = 0;
  bool retain = false;
  std::uint32_t delay_s = 0;
  std::uint64_t due_at_ms = 0;  // wall clock when it is published, 0 while the client is connected
};
inline bool operator==(const WillRecord& a, const WillRecord& b) {
  return a.client_id == b.client_id && a.topic == b.topic && a.message == b.message && a.qos == b.qos &&
         a.retain == b.retain && a.delay_s == b.delay_s && a.due_at_ms == b.due_at_ms;
}

// Completion of a state write (SessionStore, MetadataStore): success, or an error naming what
// could not be stored.
using StateDone = std::function<void(Result<void, Error>)>;

// Everything a SessionStore holds, as read at start.
struct SessionSnapshot {
  std::vector<SessionRecord> sessions;  // by client id
  std::vector<WillRecord> wills;        // by client id
};

class SessionStore {
public:
  virtual ~SessionStore() = default;

  virtual void put_session(SessionRecord session, StateDone done) = 0;
  virtual void delete_session(const std::string& client_id, StateDone done) = 0;
  virtual void put_will(WillRecord will, StateDone done) = 0;
  virtual void delete_will(const std::string& client_id, StateDone done) = 0;

  // Every session and will stored, by client id. The MQTT server reads it once before it
  // serves (SessionRouter::restore). An error names what could not be read.
  virtual void load(std::function<void(Result<SessionSnapshot, Error>)> done) = 0;
  // One client's records (a proxy taking over a client that was connected to another proxy);
  // std::nullopt when there is none.
  virtual void get_session(const std::string& client_id,
                           std::function<void(Result<std::optional<SessionRecord>, Error>)> done) = 0;
  virtual void get_will(const std::string& client_id,
                        std::function<void(Result<std::optional<WillRecord>, Error>)> done) = 0;

  // Runs `writes`, synchronous code calling this store and the MessagingService of the same
  // process (publish), so that what they write is stored atomically where the implementation
  // can: a crash keeps all of it or none. Completions still run one by one. The MQTT server
  // needs it for QoS 2 exactly once (a PUBLISH and the session record holding its packet id,
  // PUBREC waiting for both; mqtt/server/README.md). StoreSessionStore brackets the writes with
  // the Store's begin_atomic/end_atomic, which the topic ledgers share (one group commit).
  // `atomic()` says whether the bracket means anything: an implementation whose session writes
  // and publishes go to different places (system topics) returns false, and runs `writes` as
  // called (each write atomic on its own); the MQTT server then writes the session record only
  // once the message is stored (a crash in between: a duplicate on the resend, never a loss).
  virtual bool atomic() const { return false; }
  virtual void atomically(const std::function<void()>& writes) { writes(); }
};

}  // namespace mop::service
