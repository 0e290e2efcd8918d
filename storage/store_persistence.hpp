#pragma once
// StorePersistence: broker::Persistence over a Store. Each call is one Batch; its completion is
// posted (by the Store) to the broker's executor once the group commit holding it is durable.
// A failed write is logged with the message naming what failed, and reported to the caller as
// its storage error code.
//
// Threading: owned by the broker's thread, like the broker; the executor must be that thread's
// and accept post() from the storage thread.
#include <optional>
#include <unordered_map>

#include "broker/persistence.hpp"
#include "core/executor.hpp"
#include "storage/store.hpp"

namespace mop::storage {

class StorePersistence final : public broker::Persistence {
public:
  StorePersistence(Store& store, Executor& executor) : store_(store), executor_(executor) {}

  void put_subscription(const service::TopicName& topic, const std::string& name, service::SubscriptionType type,
                        broker::CursorState cursor, broker::PersistCallback done) override;
  void delete_subscription(const service::TopicName& topic, const std::string& name,
                           broker::PersistCallback done) override;
  void put_cursor(const service::TopicName& topic, const std::string& subscription, broker::CursorState cursor,
                  broker::PersistCallback done) override;
  void put_retained(const service::TopicName& topic, const service::Message& message,
                    broker::PersistCallback done) override;
  void delete_retained(const service::TopicName& topic, broker::PersistCallback done) override;

  Result<void, Error> load(Restored& out) override;

private:
  void write(Batch batch, const char* what, broker::PersistCallback done);
  // The topic's numeric id (its record is created by its ledger; cached).
  Result<std::uint64_t, Error> topic_id(const service::TopicName& topic);
  // The id, or nullopt after failing `done` (posted) with the error.
  std::optional<std::uint64_t> id_or_fail(const service::TopicName& topic, const char* what,
                                          broker::PersistCallback& done);
  static CursorRecord to_record(const broker::CursorState& cursor);

  Store& store_;
  Executor& executor_;
  std::unordered_map<std::string, std::uint64_t> topic_ids_;
};

}  // namespace mop::storage
