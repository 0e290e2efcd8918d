// RocksStore specifics: group commit, I/O failures and recovery, format version checks. Throughput
// figures are a benchmark: bench/store_bench.cpp.
#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <thread>
#include <vector>

#include <sched.h>

#include <rocksdb/db.h>
#include <rocksdb/file_system.h>

#include "storage/encoding.hpp"
#include "storage/tests/store_fixture.hpp"

namespace mop::storage::test {
namespace {

namespace fs = std::filesystem;

// Fails writes and syncs of WAL files while `fail` is set, as a full or failing disk would, and
// counts the syncs.
class FlakyFileSystem final : public rocksdb::FileSystemWrapper {
public:
  explicit FlakyFileSystem(std::shared_ptr<rocksdb::FileSystem> base) : FileSystemWrapper(std::move(base)) {}
  static const char* kClassName() { return "FlakyFileSystem"; }
  const char* Name() const override { return kClassName(); }

  rocksdb::IOStatus NewWritableFile(const std::string& f, const rocksdb::FileOptions& o,
                                    std::unique_ptr<rocksdb::FSWritableFile>* r, rocksdb::IODebugContext* dbg) override {
    auto s = target()->NewWritableFile(f, o, r, dbg);
    if (s.ok() && f.ends_with(".log")) *r = std::make_unique<File>(std::move(*r), fail, syncs);
    return s;
  }

  std::shared_ptr<std::atomic<bool>> fail = std::make_shared<std::atomic<bool>>(false);
  std::shared_ptr<std::atomic<int>> syncs = std::make_shared<std::atomic<int>>(0);

private:
  class File final : public rocksdb::FSWritableFileOwnerWrapper {
  public:
    File(std::unique_ptr<rocksdb::FSWritableFile> f, std::shared_ptr<std::atomic<bool>> fail,
         std::shared_ptr<std::atomic<int>> syncs)
        : FSWritableFileOwnerWrapper(std::move(f)), fail_(std::move(fail)), syncs_(std::move(syncs)) {}
    rocksdb::IOStatus Append(const rocksdb::Slice& d, const rocksdb::IOOptions& o, rocksdb::IODebugContext* dbg) override {
      if (*fail_) return rocksdb::IOStatus::NoSpace("injected: disk full");
      return FSWritableFileOwnerWrapper::Append(d, o, dbg);
    }
    rocksdb::IOStatus Append(const rocksdb::Slice& d, const rocksdb::IOOptions& o, const rocksdb::DataVerificationInfo& v,
                             rocksdb::IODebugContext* dbg) override {
      if (*fail_) return rocksdb::IOStatus::NoSpace("injected: disk full");
      return FSWritableFileOwnerWrapper::Append(d, o, v, dbg);
    }
    rocksdb::IOStatus Sync(const rocksdb::IOOptions& o, rocksdb::IODebugContext* dbg) override {
      if (*fail_) return rocksdb::IOStatus::IOError("injected: sync failed");
      ++*syncs_;
      return FSWritableFileOwnerWrapper::Sync(o, dbg);
    }
    rocksdb::IOStatus Fsync(const rocksdb::IOOptions& o, rocksdb::IODebugContext* dbg) override {
      if (*fail_) return rocksdb::IOStatus::IOError("injected: sync failed");
      ++*syncs_;
      return FSWritableFileOwnerWrapper::Fsync(o, dbg);
    }

  private:
    std::shared_ptr<std::atomic<bool>> fail_;
    std::shared_ptr<std::atomic<int>> syncs_;
  };
};

// A store in `dir`/db that syncs, on `fsys`.
Result<std::unique_ptr<RocksStore>, Error> open_synced_on(const TempDir& dir, std::shared_ptr<rocksdb::FileSystem> fsys) {
  RocksStore::Options o;
  o.sync = true;
  o.file_system = std::move(fsys);
  return RocksStore::open(dir.sub("db"), o);
}

Batch one_append(std::uint64_t t, std::uint64_t e) {
  Batch b;
  b.append(t, {t, e, -1}, "payload " + std::to_string(e));
  return b;
}

TEST(RocksStore, GroupCommitCoversManyConnections) {
  TempDir dir;
  RocksStore::Options o;
  o.sync = true;
  auto store = RocksStore::open(dir.sub("db"), o);
  ASSERT_TRUE(store.ok()) << store.error().to_string();
  LockedExecutor ex;
  constexpr int kConnections = 4, kEach = 250;
  std::vector<std::uint64_t> topics;
  for (int c = 0; c < kConnections; ++c) topics.push_back(*(*store)->ensure_topic("persistent://t/n/" + std::to_string(c)));
  const auto before = (*store)->write_batches();
  // Everything is queued while the storage thread is held, as happens while a sync is in progress.
  (*store)->hold_writes(true);
  std::atomic<int> ok{0};
  std::vector<std::thread> threads;
  for (int c = 0; c < kConnections; ++c) {
    threads.emplace_back([&, c] {
      for (int i = 0; i < kEach; ++i) {
        (*store)->write(one_append(topics[static_cast<std::size_t>(c)], static_cast<std::uint64_t>(i)), ex,
                        [&](const Result<void, Error>& r) { ok += r.ok() ? 1 : 0; });
      }
    });
  }
  for (auto& t : threads) t.join();
  (*store)->hold_writes(false);
  ASSERT_TRUE(ex.run_until([&] { return ok == kConnections * kEach; }));
  const auto syncs = (*store)->write_batches() - before;
  std::cout << kConnections * kEach << " appends from " << kConnections << " connections in " << syncs << " group commit(s)\n";
  EXPECT_GE(syncs, 1u);
  EXPECT_LE(syncs, 2u);
  for (const auto t : topics) EXPECT_EQ((*store)->log_bounds(t)->value().end.entry, static_cast<std::uint64_t>(kEach));
}

// The storage thread runs as SCHED_BATCH, so a write it is woken for never preempts the thread
// that queued it (rocks_store.cpp, run()). Found by its name among this process's threads.
TEST(RocksStore, StorageThreadDoesNotPreemptTheThreadThatWakesIt) {
  TempDir dir;
  auto store = RocksStore::open(dir.sub("db"), RocksStore::Options{});
  ASSERT_TRUE(store.ok()) << store.error().to_string();
  // A write the thread has completed: it has named itself and set its policy before that (a
  // flush with nothing queued may return before the thread has run at all).
  LockedExecutor ex;
  const auto t = *(*store)->ensure_topic("persistent://t/n/policy");
  bool written = false;
  (*store)->write(one_append(t, 0), ex, [&](const Result<void, Error>& r) { written = r.ok(); });
  ASSERT_TRUE(ex.run_until([&] { return written; }));
  int found = 0;
  for (const auto& task : fs::directory_iterator("/proc/self/task")) {
    std::ifstream comm(task.path() / "comm");
    std::string name;
    std::getline(comm, name);
    if (name != "mop-store") continue;
    ++found;
    const auto tid = static_cast<pid_t>(std::stol(task.path().filename().string()));
    EXPECT_EQ(sched_getscheduler(tid), SCHED_BATCH);
  }
  EXPECT_EQ(found, 1);
}

// The group-commit histograms (/metrics) agree with what was written: one observation per group
// commit, the entries observed sum to the appends, the sync time is measured.
TEST(RocksStore, CommitStatsCountEveryGroupAndEveryAppend) {
  TempDir dir;
  RocksStore::Options o;
  o.sync = true;
  auto store = RocksStore::open(dir.sub("db"), o);
  ASSERT_TRUE(store.ok()) << store.error().to_string();
  LockedExecutor ex;
  const auto t = *(*store)->ensure_topic("persistent://t/n/stats");
  ASSERT_TRUE((*store)->flush().ok());  // the topic record's own group commit is behind us
  const auto groups_before = (*store)->write_batches();
  const auto before = (*store)->commit_stats().entries.snapshot();
  // 100 appends held back (one group, or two if the storage thread had already taken the first),
  // then 7 one at a time, then a cursor write without entries.
  int ok = 0;
  (*store)->hold_writes(true);
  for (std::uint64_t e = 0; e < 100; ++e) (*store)->write(one_append(t, e), ex, [&](const Result<void, Error>& r) { ok += r.ok(); });
  (*store)->hold_writes(false);
  ASSERT_TRUE(ex.run_until([&] { return ok == 100; }));
  for (std::uint64_t e = 100; e < 107; ++e) {
    (*store)->write(one_append(t, e), ex, [&](const Result<void, Error>& r) { ok += r.ok(); });
    ASSERT_TRUE(ex.run_until([&] { return ok == static_cast<int>(e) + 1; }));
  }
  Batch cursor;
  cursor.put_cursor(t, "s", {{t, 3, -1}, {}});
  (*store)->write(std::move(cursor), ex, [&](const Result<void, Error>& r) { ok += r.ok(); });
  ASSERT_TRUE(ex.run_until([&] { return ok == 108; }));
  const auto entries = (*store)->commit_stats().entries.snapshot();
  const auto sync = (*store)->commit_stats().sync_seconds.snapshot();
  const auto groups = (*store)->write_batches() - groups_before;
  EXPECT_EQ(entries.count() - before.count(), groups);
  EXPECT_EQ(sync.count(), (*store)->write_batches());
  EXPECT_DOUBLE_EQ(entries.sum - before.sum, 107.0);
  EXPECT_GE(groups, 9u);   // the held 100 (1 or 2), the 7, the cursor
  EXPECT_LE(groups, 10u);
  EXPECT_EQ(entries.cumulative[0] - before.cumulative[0], 1u);  // le="0": the cursor's group alone
  EXPECT_GE(entries.cumulative[1] - before.cumulative[1], 8u);  // le="1": the 7 singles and it
  EXPECT_GT(sync.sum, 0.0);
  for (std::size_t i = 1; i < entries.cumulative.size(); ++i) EXPECT_GE(entries.cumulative[i], entries.cumulative[i - 1]);
}

// A group in which no write waits for a sync (a trim, a cursor) is written without one; the next
// synced group makes it durable, and it survives a reopen like any other write.
TEST(RocksStore, WritesThatDoNotWaitForASyncAreSyncedByTheNextGroupThatDoes) {
  TempDir dir;
  auto fsys = std::make_shared<FlakyFileSystem>(rocksdb::FileSystem::Default());
  auto store = open_synced_on(dir, fsys);
  ASSERT_TRUE(store.ok()) << store.error().to_string();
  LockedExecutor ex;
  const auto t = *(*store)->ensure_topic("persistent://t/n/lazy");
  Batch sub;
  sub.put_subscription(t, {"s", service::SubscriptionType::shared, true});
  for (std::uint64_t e = 0; e < 10; ++e) sub.append(t, {t, e, -1}, "payload " + std::to_string(e));
  ASSERT_TRUE(write_and_wait(**store, ex, std::move(sub)).ok());
  const int synced = *fsys->syncs;
  EXPECT_GE(synced, 1);

  Batch trim;
  trim.trim(t, {t, 4, -1}).no_wait_for_sync();
  ASSERT_TRUE(write_and_wait(**store, ex, std::move(trim)).ok());
  Batch cursor;
  cursor.put_cursor(t, "s", {{t, 4, -1}, {{t, 6, 7}}, {}}).no_wait_for_sync();
  ASSERT_TRUE(write_and_wait(**store, ex, std::move(cursor)).ok());
  EXPECT_EQ(*fsys->syncs, synced);  // written, not synced
  EXPECT_EQ((*store)->log_bounds(t)->value().first.entry, 4u);  // and applied

  ASSERT_TRUE(write_and_wait(**store, ex, one_append(t, 10)).ok());
  EXPECT_EQ(*fsys->syncs, synced + 1);  // the append's group syncs, the two before with it

  store->reset();
  auto reopened = RocksStore::open(dir.sub("db"));
  ASSERT_TRUE(reopened.ok()) << reopened.error().to_string();
  const auto bounds = (*reopened)->log_bounds(t);
  ASSERT_TRUE(bounds.ok() && bounds->has_value());
  EXPECT_EQ((*bounds)->first.entry, 4u);
  EXPECT_EQ((*bounds)->end.entry, 11u);
  const auto c = (*reopened)->cursor(t, "s");
  ASSERT_TRUE(c.ok() && c->has_value());
  EXPECT_EQ((*c)->ack_floor.entry, 4u);
  ASSERT_EQ((*c)->acked.size(), 1u);
  EXPECT_EQ((*c)->acked[0].first, 6u);
}

// A group's completions reach each caller's executor as one task, in write() order per caller:
// under fan-in a group holds thousands of appends, and a post each cost the broker's thread more
// than the completions themselves.
TEST(RocksStore, GroupCompletionsAreOneTaskPerExecutorInWriteOrder) {
  TempDir dir;
  auto store = RocksStore::open(dir.sub("db"), {});
  ASSERT_TRUE(store.ok()) << store.error().to_string();
  const auto t = *(*store)->ensure_topic("persistent://t/n/a");
  ASSERT_TRUE((*store)->flush().ok());
  LockedExecutor a, b;
  std::vector<std::uint64_t> ran_a, ran_b;
  const auto before = (*store)->write_batches();
  (*store)->hold_writes(true);  // everything below joins one group
  constexpr std::uint64_t kWrites = 200;
  for (std::uint64_t e = 0; e < kWrites; ++e) {
    auto& ex = e % 3 == 0 ? b : a;
    auto& ran = e % 3 == 0 ? ran_b : ran_a;
    (*store)->write(one_append(t, e), ex, [&ran, e](const Result<void, Error>& r) {
      ASSERT_TRUE(r.ok());
      ran.push_back(e);
    });
  }
  (*store)->hold_writes(false);
  ASSERT_TRUE((*store)->flush().ok());  // the group is written and its completions posted
  EXPECT_EQ((*store)->write_batches() - before, 1u);
  EXPECT_EQ(a.pending(), 1u);
  EXPECT_EQ(b.pending(), 1u);
  EXPECT_EQ(a.run_all(), 1u);
  EXPECT_EQ(b.run_all(), 1u);
  std::vector<std::uint64_t> want_a, want_b;
  for (std::uint64_t e = 0; e < kWrites; ++e) (e % 3 == 0 ? want_b : want_a).push_back(e);
  EXPECT_EQ(ran_a, want_a);
  EXPECT_EQ(ran_b, want_b);
  EXPECT_EQ((*store)->log_bounds(t)->value().end.entry, kWrites);
}

TEST(RocksStore, SessionWrittenSeveralTimesInOneGroupKeepsItsLastWrite) {
  TempDir dir;
  const auto record = [](std::string id, std::vector<std::uint16_t> inbound) {
    SessionRecord r;
    r.client_id = std::move(id);
    r.expiry_interval_s = 60;
    r.inbound_qos2 = std::move(inbound);
    return r;
  };
  {
    auto store = RocksStore::open(dir.sub("db"), {});
    ASSERT_TRUE(store.ok()) << store.error().to_string();
    const auto t = *(*store)->ensure_topic("persistent://t/n/a");
    ASSERT_TRUE((*store)->flush().ok());
    LockedExecutor ex;
    int ok = 0;
    const auto count = [&ok](const Result<void, Error>& r) { ok += r.ok() ? 1 : 0; };
    const auto before = (*store)->write_batches();
    (*store)->hold_writes(true);  // everything below joins one group
    // "a": written with each message, as a QoS 2 publisher's record is; then once more alone.
    for (std::uint16_t id = 1; id <= 5; ++id) {
      Batch b = one_append(t, id - 1);
      std::vector<std::uint16_t> inbound;
      for (std::uint16_t k = 1; k <= id; ++k) inbound.push_back(k);
      b.put_session(record("a", inbound));
      (*store)->write(std::move(b), ex, count);
    }
    Batch last;
    last.put_session(record("a", {2, 3, 4, 5}));
    (*store)->write(std::move(last), ex, count);
    // "b": written, deleted, written again; "c": written, then deleted; "d": written once.
    Batch b1, b2, b3;
    b1.put_session(record("b", {6}));
    b2.delete_session("b");
    b3.put_session(record("b", {7}));
    for (auto* b : {&b1, &b2, &b3}) (*store)->write(std::move(*b), ex, count);
    Batch c1, c2, d;
    c1.put_session(record("c", {1}));
    c2.delete_session("c");
    d.put_session(record("d", {9}));
    (*store)->write(std::move(c1), ex, count);
    (*store)->write(std::move(c2), ex, count);
    (*store)->write(std::move(d), ex, count);
    (*store)->hold_writes(false);
    ASSERT_TRUE((*store)->flush().ok());
    EXPECT_EQ((*store)->write_batches() - before, 1u);
    ex.run_all();
    EXPECT_EQ(ok, 12);  // every write completes, the superseded ones too
    // /metrics counts them: one record each of a, b, c and d stored, the other eight superseded.
    EXPECT_EQ((*store)->commit_stats().session_writes_stored.load(), 4u);
    EXPECT_EQ((*store)->commit_stats().session_writes_superseded.load(), 8u);
    EXPECT_EQ((*store)->log_bounds(t)->value().end.entry, 5u);  // the messages are all there
  }
  auto store = RocksStore::open(dir.sub("db"), {});  // durable as the last writes left them
  ASSERT_TRUE(store.ok()) << store.error().to_string();
  const auto a = (*store)->session("a");
  ASSERT_TRUE(a.ok() && a->has_value());
  EXPECT_EQ((*a)->inbound_qos2, (std::vector<std::uint16_t>{2, 3, 4, 5}));
  const auto b = (*store)->session("b");
  ASSERT_TRUE(b.ok() && b->has_value());
  EXPECT_EQ((*b)->inbound_qos2, (std::vector<std::uint16_t>{7}));
  const auto c = (*store)->session("c");
  ASSERT_TRUE(c.ok());
  EXPECT_FALSE(c->has_value());
  const auto d = (*store)->session("d");
  ASSERT_TRUE(d.ok() && d->has_value());
  EXPECT_EQ((*d)->inbound_qos2, (std::vector<std::uint16_t>{9}));
  const auto all = (*store)->sessions();
  ASSERT_TRUE(all.ok());
  EXPECT_EQ(all->size(), 3u);
}

TEST(RocksStore, FailedGroupFailsEveryCallbackAndTheStoreRecovers) {
  TempDir dir;
  auto fsys = std::make_shared<FlakyFileSystem>(rocksdb::FileSystem::Default());
  auto store = open_synced_on(dir, fsys);
  ASSERT_TRUE(store.ok()) << store.error().to_string();
  LockedExecutor ex;
  const auto t = *(*store)->ensure_topic("persistent://t/n/a");
  ASSERT_TRUE((*store)->flush().ok());

  *fsys->fail = true;
  (*store)->hold_writes(true);
  std::vector<Result<void, Error>> results;
  for (int i = 0; i < 10; ++i) (*store)->write(one_append(t, static_cast<std::uint64_t>(i)), ex, [&](const Result<void, Error>& r) { results.push_back(r); });
  (*store)->hold_writes(false);
  ASSERT_TRUE(ex.run_until([&] { return results.size() == 10; }));
  for (const auto& r : results) {
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().code.category(), storage_category());
    EXPECT_NE(r.error().message.find(dir.sub("db")), std::string::npos) << r.error().message;
  }
  std::cout << "failure seen by publishers: " << results[0].error().to_string() << "\n";
  EXPECT_GE((*store)->failed_batches(), 1u);
  EXPECT_EQ(*(*store)->log_bounds(t), std::nullopt);  // nothing of the failed group was applied

  // Still failing: later writes fail too, but the store answers.
  results.clear();
  (*store)->write(one_append(t, 0), ex, [&](const Result<void, Error>& r) { results.push_back(r); });
  ASSERT_TRUE(ex.run_until([&] { return results.size() == 1; }));
  EXPECT_FALSE(results[0].ok());

  // The disk recovers: the next writes succeed (the store resumes RocksDB) and are durable.
  // RocksDB's own recovery from "no space" may take a moment: publishers retry meanwhile.
  *fsys->fail = false;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  Result<void, Error> last;
  do {
    results.clear();
    for (int i = 0; i < 3; ++i) (*store)->write(one_append(t, static_cast<std::uint64_t>(i)), ex, [&](const Result<void, Error>& r) { results.push_back(r); });
    ASSERT_TRUE(ex.run_until([&] { return results.size() == 3; }));
    last = results.back();
  } while (!last.ok() && std::chrono::steady_clock::now() < deadline);
  ASSERT_TRUE(last.ok()) << last.error().to_string();
  store->reset();
  auto reopened = RocksStore::open(dir.sub("db"));
  ASSERT_TRUE(reopened.ok()) << reopened.error().to_string();
  const auto bounds = (*reopened)->log_bounds(t);
  ASSERT_TRUE(bounds.ok() && bounds->has_value());
  EXPECT_EQ(**bounds, (LogBounds{{t, 0, -1}, {t, 3, -1}}));
}

// While writes fail: what was stored stays readable, a topic can still be created (its record
// is written with the first group commit that succeeds), and after recovery both are durable.
TEST(RocksStore, WhileWritesFailReadsGoOnAndNewTopicsWaitForTheDisk) {
  TempDir dir;
  auto fsys = std::make_shared<FlakyFileSystem>(rocksdb::FileSystem::Default());
  auto store = open_synced_on(dir, fsys);
  ASSERT_TRUE(store.ok()) << store.error().to_string();
  LockedExecutor ex;
  const auto a = *(*store)->ensure_topic("persistent://t/n/a");
  std::vector<Result<void, Error>> results;
  auto write = [&](Batch b) {
    results.clear();
    (*store)->write(std::move(b), ex, [&](const Result<void, Error>& r) { results.push_back(r); });
    EXPECT_TRUE(ex.run_until([&] { return results.size() == 1; }));
    return results.empty() ? Result<void, Error>(Error(StorageErrc::closed, "no completion")) : results[0];
  };
  ASSERT_TRUE(write(one_append(a, 0)).ok());

  *fsys->fail = true;
  const auto failed = write(one_append(a, 1));
  ASSERT_FALSE(failed.ok());
  EXPECT_EQ(failed.error().code, make_error_code(StorageErrc::no_space)) << failed.error().to_string();
  // The failed write made the store reopen; entry 0 is still there to read.
  ASSERT_FALSE(write(one_append(a, 1)).ok());
  auto entries = (*store)->log_read(a, {a, 0, -1}, {a, 10, -1}, 10);
  ASSERT_TRUE(entries.ok()) << entries.error().to_string();
  ASSERT_EQ(entries->size(), 1u);
  EXPECT_EQ((*entries)[0].value, "payload 0");

  const auto b = (*store)->ensure_topic("persistent://t/n/b");
  ASSERT_TRUE(b.ok()) << b.error().to_string();
  EXPECT_NE(*b, a);
  EXPECT_EQ(*(*store)->log_bounds(*b), std::nullopt);
  EXPECT_FALSE(write(one_append(*b, 0)).ok());

  *fsys->fail = false;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  Result<void, Error> last;
  do {
    last = write(one_append(*b, 0));
  } while (!last.ok() && std::chrono::steady_clock::now() < deadline);
  ASSERT_TRUE(last.ok()) << last.error().to_string();
  ASSERT_TRUE(write(one_append(a, 1)).ok());
  store->reset();

  auto reopened = RocksStore::open(dir.sub("db"));
  ASSERT_TRUE(reopened.ok()) << reopened.error().to_string();
  EXPECT_EQ(*(*reopened)->find_topic("persistent://t/n/b"), std::optional{*b});
  EXPECT_EQ((*(*reopened)->log_bounds(*b))->end, (MessageId{*b, 1, -1}));
  EXPECT_EQ((*(*reopened)->log_bounds(a))->end, (MessageId{a, 2, -1}));
}

// Writes inside begin_atomic/end_atomic share one group commit (one atomic WriteBatch), even
// when the storage thread is idle in between and the group's byte bound would split them.
TEST(RocksStore, AtomicBracketIsOneGroupCommit) {
  TempDir dir;
  RocksStore::Options o;
  o.max_group_bytes = 1;  // without the bracket, every write would be a group of its own
  auto store = RocksStore::open(dir.sub("db"), o);
  ASSERT_TRUE(store.ok()) << store.error().to_string();
  LockedExecutor ex;
  const auto t = *(*store)->ensure_topic("persistent://t/n/a");
  ASSERT_TRUE((*store)->flush().ok());
  const auto before = (*store)->write_batches();
  int done = 0;
  (*store)->begin_atomic();
  (*store)->write(one_append(t, 0), ex, [&](const Result<void, Error>& r) { done += r.ok() ? 1 : 0; });
  (*store)->begin_atomic();  // nested
  (*store)->write(one_append(t, 1), ex, [&](const Result<void, Error>& r) { done += r.ok() ? 1 : 0; });
  (*store)->end_atomic();
  // The storage thread would have taken the first write by now: it must wait for the bracket.
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  EXPECT_EQ((*store)->write_batches(), before);
  Batch session;
  session.put_session(SessionRecord{.client_id = "c"});
  (*store)->write(std::move(session), ex, [&](const Result<void, Error>& r) { done += r.ok() ? 1 : 0; });
  (*store)->end_atomic();
  ASSERT_TRUE(ex.run_until([&] { return done == 3; }));
  EXPECT_EQ((*store)->write_batches() - before, 1u);
  // Outside a bracket the byte bound splits groups again.
  (*store)->hold_writes(true);
  for (std::uint64_t e = 2; e < 4; ++e) (*store)->write(one_append(t, e), ex, [&](const Result<void, Error>& r) { done += r.ok() ? 1 : 0; });
  (*store)->hold_writes(false);
  ASSERT_TRUE(ex.run_until([&] { return done == 5; }));
  EXPECT_EQ((*store)->write_batches() - before, 3u);
}

// A topic record goes out with the next group commit even when nothing else is written, and a
// clean close writes it too.
TEST(RocksStore, TopicRecordIsWrittenWithoutOtherWrites) {
  TempDir dir;
  std::uint64_t id = 0;
  {
    auto store = RocksStore::open(dir.sub("db"));
    ASSERT_TRUE(store.ok());
    id = *(*store)->ensure_topic("persistent://t/n/alone");
  }
  auto reopened = RocksStore::open(dir.sub("db"));
  ASSERT_TRUE(reopened.ok()) << reopened.error().to_string();
  EXPECT_EQ(*(*reopened)->find_topic("persistent://t/n/alone"), std::optional{id});
  // Ids are never reused: the next topic gets a new one.
  EXPECT_GT(*(*reopened)->ensure_topic("persistent://t/n/next"), id);
}

// A topic deleted before its record was ever written still used up its id: after a reopen the
// next topic gets a newer one (message ids carry the topic id, so a reused id would make an old
// message id name a message of another topic). Found by StoreRandomized.
TEST(RocksStore, IdOfATopicDeletedBeforeItsRecordIsNotReused) {
  StoreUnderTest s("rocks");
  auto& rocks = static_cast<RocksStore&>(*s.store);
  const auto kept = *rocks.ensure_topic("persistent://t/n/kept");
  ASSERT_TRUE(s.write(Batch{}).ok());
  rocks.hold_writes(true);  // the next topic's record and its delete go in one group
  const auto gone = *rocks.ensure_topic("persistent://t/n/gone");
  ASSERT_GT(gone, kept);
  Batch del;
  del.delete_topic(gone);
  bool done = false;
  rocks.write(std::move(del), s.executor, [&](const Result<void, Error>& r) {
    EXPECT_TRUE(r.ok()) << r.error().to_string();
    done = true;
  });
  rocks.hold_writes(false);
  ASSERT_TRUE(s.executor.run_until([&] { return done; }));
  s.reopen();
  EXPECT_EQ(*s.store->find_topic("persistent://t/n/gone"), std::nullopt);
  EXPECT_GT(*s.store->ensure_topic("persistent://t/n/new"), gone);
}

// A topic delete whose group commit failed is written again with the following group commits:
// the broker has forgotten the topic, and its name may be a new topic's by then (a new id). Were
// the old id's records left behind, they would belong to no topic record and the next open would
// refuse the store.
TEST(RocksStore, FailedTopicDeleteIsWrittenAgainAndTheNameCanBeReusedMeanwhile) {
  TempDir dir;
  auto fsys = std::make_shared<FlakyFileSystem>(rocksdb::FileSystem::Default());
  auto store = open_synced_on(dir, fsys);
  ASSERT_TRUE(store.ok()) << store.error().to_string();
  LockedExecutor ex;
  auto write = [&](Batch b) {
    std::vector<Result<void, Error>> results;
    (*store)->write(std::move(b), ex, [&](const Result<void, Error>& r) { results.push_back(r); });
    EXPECT_TRUE(ex.run_until([&] { return results.size() == 1; }));
    return results.empty() ? Result<void, Error>(Error(StorageErrc::closed, "no completion")) : results[0];
  };
  const std::string name = "persistent://t/n/reused";
  const auto old_id = *(*store)->ensure_topic(name);
  Batch filled = one_append(old_id, 0);
  filled.append(old_id, {old_id, 1, -1}, "payload 1");
  filled.put_subscription(old_id, {"sub", service::SubscriptionType::shared, true});
  filled.put_cursor(old_id, "sub", {{old_id, 1, -1}, {}});
  ASSERT_TRUE(write(std::move(filled)).ok());

  *fsys->fail = true;
  Batch del;
  del.delete_topic(old_id);
  const auto failed = write(std::move(del));
  ASSERT_FALSE(failed.ok());
  // The name is free at once: a publish recreating the topic gets a new id.
  const auto new_id = (*store)->ensure_topic(name);
  ASSERT_TRUE(new_id.ok()) << new_id.error().to_string();
  EXPECT_NE(*new_id, old_id);

  *fsys->fail = false;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  Result<void, Error> last;
  do {
    last = write(one_append(*new_id, 0));
  } while (!last.ok() && std::chrono::steady_clock::now() < deadline);
  ASSERT_TRUE(last.ok()) << last.error().to_string();
  store->reset();

  // The open checks that every record belongs to a topic record: it refused the store before.
  auto reopened = RocksStore::open(dir.sub("db"));
  ASSERT_TRUE(reopened.ok()) << reopened.error().to_string();
  EXPECT_EQ(*(*reopened)->find_topic(name), std::optional{*new_id});
  EXPECT_EQ((*(*reopened)->log_bounds(*new_id))->end, (MessageId{*new_id, 1, -1}));
  int old_keys = 0;
  for (const int cf : {RocksStore::kLogs, RocksStore::kLogFloors, RocksStore::kSubscriptions, RocksStore::kCursors}) {
    ASSERT_TRUE((*reopened)->scan(cf, [&](std::string_view k, std::string_view) {
                               old_keys += k.size() >= 8 && key::get_be64(k) == old_id ? 1 : 0;
                             }).ok());
  }
  EXPECT_EQ(old_keys, 0);
}

// Rewrites the format version record of a closed store, as a newer mop would have written it.
void set_format_version(const std::string& path, std::uint32_t version) {
  rocksdb::DBOptions o;
  std::vector<std::string> names;
  ASSERT_TRUE(rocksdb::DB::ListColumnFamilies(o, path, &names).ok());
  std::vector<rocksdb::ColumnFamilyDescriptor> ds;
  for (auto& n : names) ds.emplace_back(n, rocksdb::ColumnFamilyOptions{});
  std::vector<rocksdb::ColumnFamilyHandle*> hs;
  rocksdb::DB* db = nullptr;
  ASSERT_TRUE(rocksdb::DB::Open(o, path, ds, &hs, &db).ok());
  const char v[4] = {static_cast<char>(version >> 24), static_cast<char>(version >> 16), static_cast<char>(version >> 8),
                     static_cast<char>(version)};
  ASSERT_TRUE(db->Put(rocksdb::WriteOptions{}, hs[0], "format_version", rocksdb::Slice(v, 4)).ok());
  for (auto* h : hs) db->DestroyColumnFamilyHandle(h);
  db->Close();
  delete db;
}

TEST(RocksStore, FutureFormatVersionIsRefused) {
  TempDir dir;
  { ASSERT_TRUE(RocksStore::open(dir.sub("db")).ok()); }
  set_format_version(dir.sub("db"), 99);
  auto store = RocksStore::open(dir.sub("db"));
  ASSERT_FALSE(store.ok());
  EXPECT_EQ(store.error().code, make_error_code(StorageErrc::newer_format));
  EXPECT_NE(store.error().message.find("format version 99"), std::string::npos) << store.error().message;
  EXPECT_NE(store.error().message.find(dir.sub("db")), std::string::npos) << store.error().message;
  std::cout << store.error().to_string() << "\n";
}

TEST(RocksStore, MissingCurrentFileIsCorruptionNotANewStore) {
  TempDir dir;
  {
    auto s = RocksStore::open(dir.sub("db"));
    ASSERT_TRUE(s.ok());
    (void)(*s)->ensure_topic("persistent://t/n/a");
  }
  fs::remove(fs::path(dir.sub("db")) / "CURRENT");
  auto store = RocksStore::open(dir.sub("db"));
  ASSERT_FALSE(store.ok());
  EXPECT_EQ(store.error().code, make_error_code(StorageErrc::corruption));
  std::cout << store.error().to_string() << "\n";
}

TEST(RocksStore, OtherFilesInANewDirectoryAreNotMistakenForAStore) {
  TempDir dir;
  const fs::path db = dir.sub("db");
  fs::create_directories(db);
  for (const char* name : {"mop.log", "notes.sst", "x1.log"}) std::ofstream(db / name) << "not rocksdb\n";
  auto store = RocksStore::open(db.string());
  ASSERT_TRUE(store.ok()) << store.error().to_string();
  // A RocksDB write-ahead log without CURRENT is still refused.
  store = Error(StorageErrc::closed, "closed");
  fs::remove(db / "CURRENT");
  std::ofstream(db / "000007.log") << "wal";
  auto damaged = RocksStore::open(db.string());
  ASSERT_FALSE(damaged.ok());
  EXPECT_EQ(damaged.error().code, make_error_code(StorageErrc::corruption));
}

// A store open for writing cannot be opened for writing again (here by a second RocksStore in
// the same process; another mop or `mop store check --repair` meets the same lock): the error
// is StorageErrc::locked, decided by the lock itself and not by RocksDB's message. Read-only
// opens (`mop store check`) still work beside the writer, and the lock goes with the store.
TEST(RocksStore, SecondWriterIsRefusedAsLocked) {
  TempDir dir;
  auto first = RocksStore::open(dir.sub("db"));
  ASSERT_TRUE(first.ok()) << first.error().to_string();
  auto second = RocksStore::open(dir.sub("db"));
  ASSERT_FALSE(second.ok());
  EXPECT_EQ(second.error().code, make_error_code(StorageErrc::locked)) << second.error().to_string();
  EXPECT_NE(second.error().message.find(dir.sub("db")), std::string::npos) << second.error().message;
  RocksStore::Options repair;
  repair.repair = true;
  repair.create_if_missing = false;
  auto repairing = RocksStore::open(dir.sub("db"), repair);
  ASSERT_FALSE(repairing.ok());
  EXPECT_EQ(repairing.error().code, make_error_code(StorageErrc::locked));
  RocksStore::Options read_only;
  read_only.read_only = true;
  read_only.create_if_missing = false;
  EXPECT_TRUE(RocksStore::open(dir.sub("db"), read_only).ok());

  first = Error(StorageErrc::closed, "closed");  // closes the first store
  auto again = RocksStore::open(dir.sub("db"));
  EXPECT_TRUE(again.ok()) << again.error().to_string();
}

TEST(RocksStore, NotAMopStore) {
  TempDir dir;
  {
    rocksdb::Options o;
    o.create_if_missing = true;
    rocksdb::DB* db = nullptr;
    ASSERT_TRUE(rocksdb::DB::Open(o, dir.sub("db"), &db).ok());
    delete db;
  }
  auto store = RocksStore::open(dir.sub("db"));
  ASSERT_FALSE(store.ok());
  EXPECT_EQ(store.error().code, make_error_code(StorageErrc::missing_record));
  EXPECT_NE(store.error().message.find("'default'"), std::string::npos) << store.error().message;
}

TEST(RocksStore, DanglingTopicReferenceIsReported) {
  TempDir dir;
  {
    auto s = RocksStore::open(dir.sub("db"));
    ASSERT_TRUE(s.ok());
    LockedExecutor ex;
    (*s)->write(one_append(42, 0), ex, nullptr);  // topic 42 has no record
    ASSERT_TRUE((*s)->flush().ok());
  }
  auto store = RocksStore::open(dir.sub("db"));
  ASSERT_FALSE(store.ok());
  EXPECT_EQ(store.error().code, make_error_code(StorageErrc::missing_record));
  EXPECT_NE(store.error().message.find("'logs'"), std::string::npos) << store.error().message;
  std::cout << store.error().to_string() << "\n";
}

}  // namespace
}  // namespace mop::storage::test
