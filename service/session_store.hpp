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
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "core/result.hpp"
#include "service/messaging_service.hpp"

namespace mop::service {

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
  // called (each write atomic on its own).
  virtual bool atomic() const { return false; }
  virtual void atomically(const std::function<void()>& writes) { writes(); }
};

}  // namespace mop::service
