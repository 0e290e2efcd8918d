#pragma once
// StorePersistence: broker::Persistence over a Store. Each call is one Batch; its completion is
// posted (by the Store) to the broker's executor once the group commit holding it is durable.
// A failed write is logged with the message naming what failed, and reported to the caller as
// its storage error code.
//
// Threading: owned by the broker's thread, like the broker; the executor must be that thread's
// and accept post() from the storage thread.
#include "broker/persistence.hpp"
#include "core/executor.hpp"
#include "storage/store.hpp"

namespace mop::storage {

class StorePersistence final : public broker::Persistence {
public:
  StorePersistence(Store& store, Executor& executor) : store_(store), executor_(executor) {}

  void put_session(service::SessionRecord session, broker::PersistCallback done) override;
  void delete_session(const std::string& client_id, broker::PersistCallback done) override;
  void put_will(service::WillRecord will, broker::PersistCallback done) override;
  void delete_will(const std::string& client_id, broker::PersistCallback done) override;
  LoadError load(Restored& out) override;

private:
  void write(Batch batch, const char* what, broker::PersistCallback done);

  Store& store_;
  Executor& executor_;
};

}  // namespace mop::storage
