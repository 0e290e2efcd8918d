#pragma once
// A Store under test, by kind ("memory", "rocks", or "rocks_entry_log": every log entry in the
// entry log, in files of 64 KiB so that they roll), with what the contract tests need: an
// executor for completions, a synchronous write helper, and reopen (RocksStore only).
#include <memory>
#include <random>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <rocksdb/db.h>

#include "storage/encoding.hpp"
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
    if (kind_ == "rocks_entry_log") {
      o.entry_log_min_size = 1;
      o.entry_log_file_size = 64 * 1024;
    }
    auto s = RocksStore::open(dir.sub("db"), o);
    ASSERT_TRUE(s.ok()) << s.error().to_string();
    store = std::move(*s);
  }
  bool can_reopen() const { return kind_ != "memory"; }
  void reopen() {
    store.reset();
    open();
  }

  // Writes `b` and waits for its completion; returns its error.
  Result<void, Error> write(Batch b) {
    Result<void, Error> result = Error(StorageErrc::closed, "no completion");
    bool done = false;
    store->write(std::move(b), executor, [&](const Result<void, Error>& r) {
      result = r;
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

// An encoded message whose payload is `size` pseudo-random bytes (nothing to compress) from `seed`.
inline std::string random_message(std::size_t size, std::uint64_t seed) {
  std::mt19937_64 gen(seed);
  std::string payload(size, '\0');
  for (auto& c : payload) c = static_cast<char>(gen());
  service::Message m;
  m.publish_time_ms = 1000 + seed;
  m.producer_name = "storage-test";
  m.payload = Payload::adopt(std::move(payload));
  return encode_message(m);
}

// Writes `b` to `store` and waits for its completion.
inline Result<void, Error> write_and_wait(Store& store, LockedExecutor& executor, Batch b) {
  Result<void, Error> result = Error(StorageErrc::closed, "no completion");
  bool done = false;
  store.write(std::move(b), executor, [&](const Result<void, Error>& r) {
    result = r;
    done = true;
  });
  EXPECT_TRUE(executor.run_until([&] { return done; }));
  return result;
}

// Appends entries [from, from + count) to `topic` in one batch, entry e of `size_of(e)` bytes of
// payload; returns what it wrote.
template <typename SizeOf>
std::vector<LogEntry> append_entries(Store& store, LockedExecutor& executor, std::uint64_t topic, std::uint64_t from,
                                     std::uint64_t count, SizeOf size_of) {
  std::vector<LogEntry> written;
  Batch b;
  for (std::uint64_t e = from; e < from + count; ++e) {
    LogEntry entry{{topic, e, -1}, random_message(size_of(e), e)};
    b.append(topic, entry.id, entry.value);
    written.push_back(std::move(entry));
  }
  EXPECT_TRUE(write_and_wait(store, executor, std::move(b)).ok());
  return written;
}

// Every entry of `topic`'s log.
inline std::vector<LogEntry> read_all(const Store& store, std::uint64_t topic) {
  auto r = store.log_read(topic, {0, 0, -1}, {UINT64_MAX, 0, -1}, 1u << 20);
  EXPECT_TRUE(r.ok()) << r.error().to_string();
  return r.ok() ? *r : std::vector<LogEntry>{};
}

// Writes `value` at `key` of column family `cf` straight into the closed RocksDB store in
// `db_dir`, behind RocksStore's back: how tests plant a damaged record.
inline void put_raw(const std::string& db_dir, int cf, const std::string& key, const std::string& value) {
  std::vector<rocksdb::ColumnFamilyDescriptor> cfs;
  for (int c = 0; c < RocksStore::kCfCount; ++c)
    cfs.emplace_back(c == 0 ? rocksdb::kDefaultColumnFamilyName : RocksStore::cf_name(c), rocksdb::ColumnFamilyOptions());
  std::vector<rocksdb::ColumnFamilyHandle*> handles;
  rocksdb::DB* raw = nullptr;
  ASSERT_TRUE(rocksdb::DB::Open(rocksdb::DBOptions(), db_dir, cfs, &handles, &raw).ok());
  const bool put = raw->Put(rocksdb::WriteOptions(), handles[cf], key, value).ok();
  for (auto* h : handles) raw->DestroyColumnFamilyHandle(h);
  delete raw;
  ASSERT_TRUE(put);
}

}  // namespace mop::storage::test
