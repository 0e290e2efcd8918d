#pragma once
// Persistence: the broker's state that must survive a restart besides the topic logs (those go
// through Ledger): durable subscriptions of persistent topics and their cursors, and retained
// messages; at start it also gives back the producer sequences the ledgers wrote with their
// entries. storage/ implements it over its Store (storage::StorePersistence); without one, all of
// this lives in memory only. The protocols' own state is not here: MQTT sessions and wills go to
// service::SessionStore, Pulsar topic metadata to service::MetadataStore.
//
// Threading: owned by the broker's thread. Every write's completion is posted to that thread's
// executor once the write is durable (or failed), never run inline, in call order.
#include <cstdint>
#include <functional>
#include <string>
#include <utility>
#include <system_error>
#include <vector>

#include "core/result.hpp"
#include "service/messaging_service.hpp"

namespace mop::broker {

using PersistCallback = std::function<void(std::error_code)>;

// A cursor as stored: every entry below ack_floor is acknowledged, plus the ranges [first, last]
// of entry ids (in the floor's ledger) acknowledged individually above it, sorted and disjoint,
// plus the batch indexes acknowledged of partly acknowledged batch entries.
struct CursorState {
  service::MessageId ack_floor;
  std::vector<std::pair<std::uint64_t, std::uint64_t>> acked;
  // Batch entries (entry id, same ledger) above the floor with some of their messages
  // acknowledged: bitmap of the acknowledged batch indexes (index i: bit i%64 of word i/64).
  std::vector<std::pair<std::uint64_t, std::vector<std::uint64_t>>> batch_acked;
  bool operator==(const CursorState&) const = default;
};

class Persistence {
public:
  virtual ~Persistence() = default;

  // A new durable subscription with its initial cursor, in one atomic write.
  virtual void put_subscription(const service::TopicName& topic, const std::string& name,
                                service::SubscriptionType type, CursorState cursor, PersistCallback done) = 0;
  // Deletes the subscription and its cursor.
  virtual void delete_subscription(const service::TopicName& topic, const std::string& name, PersistCallback done) = 0;
  // `done` runs once the cursor is written, possibly before it is synced (the next synced write
  // makes it durable): nothing may be acknowledged to anyone on the strength of it.
  virtual void put_cursor(const service::TopicName& topic, const std::string& subscription, CursorState cursor,
                          PersistCallback done) = 0;
  virtual void put_retained(const service::TopicName& topic, const service::Message& message, PersistCallback done) = 0;
  virtual void delete_retained(const service::TopicName& topic, PersistCallback done) = 0;
  // Deletes the topic: its log, subscriptions, cursors, producer sequences, its retained message,
  // its schema (the metadata store's record under the topic's name) and its record, in one
  // atomic write (a crash keeps all of it or none). The name is free at once: a topic of the
  // same name made after this call is a new one and keeps its own records.
  virtual void delete_topic(const service::TopicName& topic, PersistCallback done) = 0;

  struct RestoredSubscription {
    std::string name;
    service::SubscriptionType type = service::SubscriptionType::shared;
    CursorState cursor;
  };
  struct RestoredTopic {
    service::TopicName name;
    std::vector<RestoredSubscription> subscriptions;  // by name
  };
  // Everything stored, read once at start. The logs themselves are reopened by the ledgers.
  struct Restored {
    std::vector<RestoredTopic> topics;  // by name
    std::vector<std::pair<service::TopicName, service::MessagePtr>> retained;
    // Written with the log entries (Message::dedup), by topic then producer.
    std::vector<service::ProducerSequenceRecord> producer_sequences;
  };
  // An error names what could not be read (the record's key, the store's path).
  virtual Result<void, Error> load(Restored& out) = 0;
};

}  // namespace mop::broker
