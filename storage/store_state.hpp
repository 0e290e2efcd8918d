#pragma once
// The service-level state stores over a Store, for `mop standalone`: StoreSessionStore (MQTT
// sessions and wills, service/session_store.hpp) and StoreMetadataStore (Pulsar partition counts,
// schemas, grants, the admin API's tenants and namespaces; service/metadata_store.hpp). Each write is one Batch; its completion is posted (by
// the Store) to the owner's executor once the group commit holding it is durable. A failed write
// is logged naming what failed and reported as the store's error. Reads go to the store (its
// reads are synchronous and see every write whose completion was posted) and answer on the
// executor, posted. The records keep the column families and keys of storage/FORMAT.md.
//
// Threading: owned by the service's thread; the executor must be that thread's and accept
// post() from the storage thread.
#include "core/executor.hpp"
#include "service/metadata_store.hpp"
#include "service/session_store.hpp"
#include "storage/store.hpp"

namespace mop::storage {

class StoreSessionStore final : public service::SessionStore {
public:
  StoreSessionStore(Store& store, Executor& executor) : store_(store), executor_(executor) {}

  void put_session(service::SessionRecord session, service::StateDone done) override;
  void delete_session(const std::string& client_id, service::StateDone done) override;
  void put_will(service::WillRecord will, service::StateDone done) override;
  void delete_will(const std::string& client_id, service::StateDone done) override;
  void load(std::function<void(Result<service::SessionSnapshot, Error>)> done) override;
  void get_session(const std::string& client_id,
                   std::function<void(Result<std::optional<service::SessionRecord>, Error>)> done) override;
  void get_will(const std::string& client_id,
                std::function<void(Result<std::optional<service::WillRecord>, Error>)> done) override;
  // The store's begin_atomic/end_atomic around `writes`: the topic ledgers write to the same store.
  bool atomic() const override { return true; }
  void atomically(const std::function<void()>& writes) override;

  // What load() answers, at once: `mop standalone` reads it before it serves, and stops on an
  // error (a damaged record) as it does for the rest of the store.
  Result<service::SessionSnapshot, Error> read() const;

private:
  Store& store_;
  Executor& executor_;
};

class StoreMetadataStore final : public service::MetadataStore {
public:
  StoreMetadataStore(Store& store, Executor& executor) : store_(store), executor_(executor) {}

  void put_partitioned_topic(service::PartitionedTopicRecord record, service::StateDone done) override;
  void put_schema(service::SchemaRecord schema, service::StateDone done) override;
  void get_schema(const std::string& topic,
                  std::function<void(Result<std::optional<service::SchemaRecord>, Error>)> done) override;
  void put_permission(service::PermissionRecord record, service::StateDone done) override;
  void put_tenant(service::TenantRecord record, service::StateDone done) override;
  void delete_tenant(const std::string& name, service::StateDone done) override;
  void put_namespace(service::NamespaceRecord record, service::StateDone done) override;
  void delete_namespace(const std::string& name, service::StateDone done) override;
  void load(std::function<void(Result<service::MetadataSnapshot, Error>)> done) override;

  // What load() answers, at once (read before serving, as StoreSessionStore::read).
  Result<service::MetadataSnapshot, Error> read() const;

private:
  Store& store_;
  Executor& executor_;
};

}  // namespace mop::storage
