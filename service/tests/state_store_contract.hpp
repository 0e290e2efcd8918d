#pragma once
// The contract every SessionStore and MetadataStore implementation meets (the promises written
// in service/session_store.hpp and service/metadata_store.hpp): one parameterized GoogleTest
// suite, instantiated once per implementation. storage/tests/store_state_test.cpp instantiates
// it for StoreSessionStore / StoreMetadataStore over MemoryStore and RocksStore; the cluster
// implementation (Pulsar system topics) does the same with its own harness:
//
//   INSTANTIATE_TEST_SUITE_P(Cluster, StateStoreContract,
//                            ::testing::Values(mop::service::testing::StateStoreParam{"cluster", make}),
//                            StateStoreParamName{});
#include <functional>
#include <memory>
#include <optional>
#include <ostream>
#include <string>

#include <gtest/gtest.h>

#include "service/metadata_store.hpp"
#include "service/session_store.hpp"

namespace mop::service::testing {

// What the suite needs from an implementation besides the interfaces themselves.
class StateStoreHarness {
public:
  virtual ~StateStoreHarness() = default;
  virtual SessionStore& sessions() = 0;
  virtual MetadataStore& metadata() = 0;
  // Another instance over the same state: what a second proxy (or the same process after a
  // restart) would open. Owned by the caller, used on the same thread.
  virtual std::unique_ptr<SessionStore> other_sessions() = 0;
  virtual std::unique_ptr<MetadataStore> other_metadata() = 0;
  // Runs posted work until nothing is left (for an implementation with real I/O: until every
  // completion and answer of the calls made so far has run). Callbacks run only on this thread.
  virtual void settle() = 0;
  // Makes the next `n` writes fail without storing anything; false when the harness cannot (the
  // tests that need it are then skipped, visibly).
  virtual bool fail_next_writes(int n) = 0;
};

struct StateStoreParam {
  std::string name;
  std::function<std::unique_ptr<StateStoreHarness>()> make;
  friend std::ostream& operator<<(std::ostream& os, const StateStoreParam& p) { return os << p.name; }
};

class StateStoreContract : public ::testing::TestWithParam<StateStoreParam> {
protected:
  void SetUp() override { harness_ = GetParam().make(); }
  void TearDown() override { harness_.reset(); }

  SessionStore& sessions() { return harness_->sessions(); }
  MetadataStore& metadata() { return harness_->metadata(); }
  void settle() { harness_->settle(); }
  // Reads through `store` (this harness's by default), checking that the answer is not given
  // inside the call, and settles until it is. A failed read fails the test.
  SessionSnapshot load(SessionStore* store = nullptr);
  MetadataSnapshot load(MetadataStore* store);
  std::optional<SessionRecord> get_session(const std::string& client_id, SessionStore* store = nullptr);
  std::optional<WillRecord> get_will(const std::string& client_id, SessionStore* store = nullptr);
  std::optional<SchemaRecord> get_schema(const std::string& topic, MetadataStore* store = nullptr);

  std::unique_ptr<StateStoreHarness> harness_;
};

struct StateStoreParamName {
  std::string operator()(const ::testing::TestParamInfo<StateStoreParam>& info) const { return info.param.name; }
};

}  // namespace mop::service::testing
