#pragma once
// ForwardingSessionStore: the real storage::StoreSessionStore behind a service::SessionStore that
// forwards every call to it. The router tests' session stores derive from it and override only
// what they change (a write they record, hold back or cut off at a simulated crash).
#include "service/session_store.hpp"
#include "storage/store_state.hpp"

namespace mop::mqtt::test_support {

class ForwardingSessionStore : public service::SessionStore {
public:
  ForwardingSessionStore(storage::Store& store, Executor& exec) : real_(store, exec) {}

  void put_session(service::SessionRecord s, service::StateDone done) override {
    real_.put_session(std::move(s), std::move(done));
  }
  void delete_session(const std::string& c, service::StateDone done) override {
    real_.delete_session(c, std::move(done));
  }
  void put_will(service::WillRecord w, service::StateDone done) override { real_.put_will(std::move(w), std::move(done)); }
  void delete_will(const std::string& c, service::StateDone done) override { real_.delete_will(c, std::move(done)); }
  void load(std::function<void(Result<service::SessionSnapshot, Error>)> done) override { real_.load(std::move(done)); }
  void get_session(const std::string& c,
                   std::function<void(Result<std::optional<service::SessionRecord>, Error>)> done) override {
    real_.get_session(c, std::move(done));
  }
  void get_will(const std::string& c, std::function<void(Result<std::optional<service::WillRecord>, Error>)> done) override {
    real_.get_will(c, std::move(done));
  }
  bool atomic() const override { return real_.atomic(); }
  void atomically(const std::function<void()>& writes) override { real_.atomically(writes); }

  // What the store holds, at once (StoreSessionStore::read).
  Result<service::SessionSnapshot, Error> read() const { return real_.read(); }

protected:
  storage::StoreSessionStore real_;
};

}  // namespace mop::mqtt::test_support
