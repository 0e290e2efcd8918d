#include "storage/store_persistence.hpp"

#include "core/log.hpp"

namespace mop::storage {

void StorePersistence::write(Batch batch, const char* what, broker::PersistCallback done) {
  store_.write(std::move(batch), executor_, [what, done = std::move(done)](const Error& e) {
    if (e) log::get("storage")->error("{} failed: {}", what, e.to_string());
    if (done) done(e.code);
  });
}

void StorePersistence::put_session(service::SessionRecord session, broker::PersistCallback done) {
  Batch b;
  b.put_session(std::move(session));
  write(std::move(b), "storing an MQTT session", std::move(done));
}

void StorePersistence::delete_session(const std::string& client_id, broker::PersistCallback done) {
  Batch b;
  b.delete_session(client_id);
  write(std::move(b), "deleting an MQTT session", std::move(done));
}

void StorePersistence::put_will(service::WillRecord will, broker::PersistCallback done) {
  Batch b;
  b.put_will(std::move(will));
  write(std::move(b), "storing a will message", std::move(done));
}

void StorePersistence::delete_will(const std::string& client_id, broker::PersistCallback done) {
  Batch b;
  b.delete_will(client_id);
  write(std::move(b), "deleting a will message", std::move(done));
}

broker::Persistence::LoadError StorePersistence::load(Restored& out) {
  auto sessions = store_.sessions();
  if (!sessions) return {sessions.error().code, sessions.error().message};
  auto wills = store_.wills();
  if (!wills) return {wills.error().code, wills.error().message};
  out.sessions = std::move(*sessions);
  out.wills = std::move(*wills);
  return {};
}

}  // namespace mop::storage
