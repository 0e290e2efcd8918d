#include "storage/store_state.hpp"

#include <algorithm>

#include "core/log.hpp"

namespace mop::storage {

namespace {

void write(Store& store, Executor& executor, Batch batch, const char* what, service::StateDone done) {
  store.write(std::move(batch), executor, [what, done = std::move(done)](const Result<void, Error>& r) {
    if (!r.ok()) log::get("storage")->error("{} failed: {}", what, r.error().to_string());
    if (!done) return;
    if (r.ok()) {
      done({});
    } else {
      done(Error(r.error().code, std::string(what) + ": " + r.error().message));
    }
  });
}

// Answers `done` on the executor, later, with `value`.
template <typename T>
void answer(Executor& executor, std::function<void(T)> done, T value) {
  executor.post([done = std::move(done), value = std::move(value)]() mutable {
    if (done) done(std::move(value));
  });
}

}  // namespace

void StoreSessionStore::put_session(service::SessionRecord session, service::StateDone done) {
  Batch b;
  b.put_session(std::move(session));
  write(store_, executor_, std::move(b), "storing an MQTT session", std::move(done));
}

void StoreSessionStore::delete_session(const std::string& client_id, service::StateDone done) {
  Batch b;
  b.delete_session(client_id);
  write(store_, executor_, std::move(b), "deleting an MQTT session", std::move(done));
}

void StoreSessionStore::put_will(service::WillRecord will, service::StateDone done) {
  Batch b;
  b.put_will(std::move(will));
  write(store_, executor_, std::move(b), "storing a will message", std::move(done));
}

void StoreSessionStore::delete_will(const std::string& client_id, service::StateDone done) {
  Batch b;
  b.delete_will(client_id);
  write(store_, executor_, std::move(b), "deleting a will message", std::move(done));
}

void StoreSessionStore::atomically(const std::function<void()>& writes) {
  store_.begin_atomic();
  writes();
  store_.end_atomic();
}

Result<service::SessionSnapshot, Error> StoreSessionStore::read() const {
  auto sessions = store_.sessions();
  if (!sessions.ok()) return std::move(sessions).error();
  auto wills = store_.wills();
  if (!wills.ok()) return std::move(wills).error();
  return service::SessionSnapshot{std::move(*sessions), std::move(*wills)};
}

void StoreSessionStore::load(std::function<void(Result<service::SessionSnapshot, Error>)> done) {
  answer(executor_, std::move(done), read());
}

void StoreSessionStore::get_session(const std::string& client_id,
                                    std::function<void(Result<std::optional<service::SessionRecord>, Error>)> done) {
  answer(executor_, std::move(done), store_.session(client_id));
}

void StoreSessionStore::get_will(const std::string& client_id,
                                 std::function<void(Result<std::optional<service::WillRecord>, Error>)> done) {
  // The store reads wills as a whole (there are few: one per client with a pending will).
  auto wills = store_.wills();
  Result<std::optional<service::WillRecord>, Error> r = std::optional<service::WillRecord>{};
  if (!wills.ok()) {
    r = std::move(wills).error();
  } else {
    const auto it = std::find_if(wills->begin(), wills->end(),
                                 [&](const service::WillRecord& w) { return w.client_id == client_id; });
    if (it != wills->end()) r = std::optional<service::WillRecord>(std::move(*it));
  }
  answer(executor_, std::move(done), std::move(r));
}

void StoreMetadataStore::put_partitioned_topic(service::PartitionedTopicRecord record, service::StateDone done) {
  Batch b;
  if (record.partitions == 0) {
    b.delete_partitioned(std::move(record.topic));
  } else {
    b.put_partitioned(std::move(record));
  }
  write(store_, executor_, std::move(b), "storing a partitioned topic", std::move(done));
}

void StoreMetadataStore::put_schema(service::SchemaRecord schema, service::StateDone done) {
  Batch b;
  b.put_schema(std::move(schema));
  write(store_, executor_, std::move(b), "storing a schema", std::move(done));
}

void StoreMetadataStore::get_schema(
    const std::string& topic, std::function<void(Result<std::optional<service::SchemaRecord>, Error>)> done) {
  answer(executor_, std::move(done), store_.schema(topic));
}

void StoreMetadataStore::put_permission(service::PermissionRecord record, service::StateDone done) {
  Batch b;
  if (record.actions == 0) {
    b.delete_permission(std::move(record.resource), std::move(record.role));
  } else {
    b.put_permission(std::move(record));
  }
  write(store_, executor_, std::move(b), "storing a permission", std::move(done));
}

void StoreMetadataStore::put_tenant(service::TenantRecord record, service::StateDone done) {
  Batch b;
  b.put_tenant(std::move(record));
  write(store_, executor_, std::move(b), "storing a tenant", std::move(done));
}

void StoreMetadataStore::delete_tenant(const std::string& name, service::StateDone done) {
  Batch b;
  b.delete_tenant(name);
  write(store_, executor_, std::move(b), "deleting a tenant", std::move(done));
}

void StoreMetadataStore::put_namespace(service::NamespaceRecord record, service::StateDone done) {
  Batch b;
  b.put_namespace(std::move(record));
  write(store_, executor_, std::move(b), "storing a namespace's policies", std::move(done));
}

void StoreMetadataStore::delete_namespace(const std::string& name, service::StateDone done) {
  Batch b;
  b.delete_namespace(name);
  write(store_, executor_, std::move(b), "deleting a namespace", std::move(done));
}

Result<service::MetadataSnapshot, Error> StoreMetadataStore::read() const {
  auto partitioned = store_.partitioned_topics();
  if (!partitioned.ok()) return std::move(partitioned).error();
  auto permissions = store_.permissions();
  if (!permissions.ok()) return std::move(permissions).error();
  auto tenants = store_.tenants();
  if (!tenants.ok()) return std::move(tenants).error();
  auto namespaces = store_.namespaces();
  if (!namespaces.ok()) return std::move(namespaces).error();
  return service::MetadataSnapshot{std::move(*partitioned), std::move(*permissions),
                                   std::move(*tenants), std::move(*namespaces)};
}

void StoreMetadataStore::load(std::function<void(Result<service::MetadataSnapshot, Error>)> done) {
  answer(executor_, std::move(done), read());
}

}  // namespace mop::storage
