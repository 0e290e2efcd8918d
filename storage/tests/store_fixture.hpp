#pragma once
// A Store under test, by kind ("memory" or "rocks"), with what the contract tests need: an
// executor for completions, a synchronous write helper, and reopen (RocksStore only).
#include <memory>

#include <gtest/gtest.h>

#include "storage/memory_store.hpp"
#include "storage/rocks_store.hpp"
#include "storage/tests/test_util.hpp"

namespace mop::storage::test {

struct StoreUnderTest {
  explicit StoreUnderTest(const std::string& kind, bool sync = false) : kind_(kind), sync_(sync) { open(); }

  void open() {
    if (kind_ == "memory") {
      store = std::make_unique<MemoryStore>();
      return;
    }
    RocksStore::Options o;
    o.sync = sync_;  // the contract does not depend on fsync; keep the suite fast
    auto s = RocksStore::open(dir.sub("db"), o);
    ASSERT_TRUE(s.ok()) << s.error().to_string();
    store = std::move(*s);
  }
  bool can_reopen() const { return kind_ == "rocks"; }
  void reopen() {
    store.reset();
    open();
  }

  // Writes `b` and waits for its completion; returns its error.
  Error write(Batch b) {
    Error result;
    bool done = false;
    store->write(std::move(b), executor, [&](const Error& e) {
      result = e;
      done = true;
    });
    EXPECT_TRUE(executor.run_until([&] { return done; }));
    return result;
  }

  std::string kind_;
  bool sync_;
  TempDir dir;
  LockedExecutor executor;
  std::unique_ptr<Store> store;
};

}  // namespace mop::storage::test
