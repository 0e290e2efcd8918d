// The entry log (RocksStore::Options::entry_log_min_size): large entries read back exactly
// through a reopen and a read-only check; the store becomes format 3; trims free whole files;
// a missing, short or altered file is reported by `check_store` and its entries deleted by
// `repair_store` like any damaged log tail; a crash between the entry log write and the RocksDB
// commit (a child process that exits there) leaves only bytes nothing refers to; a write the
// kernel refuses fails its group commit and nothing else; a removed file is kept as the spare and
// written over as the next file.
#include <filesystem>
#include <fstream>
#include <random>

#include <csignal>

#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include "storage/encoding.hpp"
#include "storage/entry_log.hpp"
#include "storage/store_check.hpp"
#include "storage/store_repair.hpp"
#include "storage/tests/golden_content.hpp"
#include "storage/tests/store_fixture.hpp"

namespace mop::storage::test {
namespace {

namespace fs = std::filesystem;

constexpr std::size_t kLarge = 64 * 1024;

RocksStore::Options options(bool read_only = false, bool repair = false) {
  RocksStore::Options o;
  o.sync = true;
  o.entry_log_min_size = 4096;
  o.entry_log_file_size = 4 * kLarge;  // a few entries per file: trims free files
  o.read_only = read_only;
  o.create_if_missing = !read_only;
  o.repair = repair;
  return o;
}

// Appends entries [from, from + count) to `topic` in one batch, every third one small (stays in
// RocksDB), the rest 64 KiB.
std::vector<LogEntry> append(Store& store, LockedExecutor& executor, std::uint64_t topic, std::uint64_t from,
                             std::uint64_t count) {
  return append_entries(store, executor, topic, from, count,
                        [](std::uint64_t e) { return e % 3 == 0 ? std::size_t{100} : kLarge; });
}

// The entry log files of a store (NNNNNN.elog, not the spare).
std::vector<fs::path> elog_files(const std::string& db) {
  std::vector<fs::path> out;
  for (const auto& e : fs::directory_iterator(fs::path(db) / "entrylog")) {
    if (e.path().extension() == ".elog") out.push_back(e.path());
  }
  std::sort(out.begin(), out.end());
  return out;
}

std::string joined(const std::vector<std::string>& lines) {
  std::string out;
  for (const auto& l : lines) out += l + "\n";
  return out;
}

// A new store at `path` with entries [0, n) of one topic, a batch per element of `batches`
// (its number of entries); the store is closed again. Returns what was written.
std::vector<LogEntry> fill(const std::string& path, LockedExecutor& executor, std::uint64_t& topic,
                           std::initializer_list<std::uint64_t> batches) {
  std::vector<LogEntry> written;
  auto store = RocksStore::open(path, options());
  EXPECT_TRUE(store.ok()) << store.error().to_string();
  if (!store.ok()) return written;
  EXPECT_EQ((*store)->format_version(), 3u);
  topic = *(*store)->ensure_topic("persistent://t/n/large");
  for (const auto n : batches) {
    auto more = append(**store, executor, topic, written.size(), n);
    written.insert(written.end(), more.begin(), more.end());
  }
  EXPECT_EQ(read_all(**store, topic), written);
  return written;
}

TEST(EntryLog, LargeEntriesReadBackThroughReopenAndCheck) {
  TempDir dir;
  const auto path = dir.sub("db");
  LockedExecutor executor;
  std::uint64_t topic = 0;
  std::vector<LogEntry> written = fill(path, executor, topic, {12, 12});
  {
    // Each batch's 8 large entries are one group, one write: 512 KiB, more than a file's
    // 256 KiB, so each group is a file of its own (a group is never split between files).
    EXPECT_EQ(elog_files(path).size(), 2u);
    // RocksDB holds references, not the payloads: its files are far smaller than the entries.
    std::uintmax_t rocks_bytes = 0;
    for (const auto& e : fs::directory_iterator(path)) {
      if (e.is_regular_file()) rocks_bytes += e.file_size();
    }
    EXPECT_LT(rocks_bytes, 16 * kLarge / 4);
  }
  {
    auto store = RocksStore::open(path, options());
    ASSERT_TRUE(store.ok()) << store.error().to_string();
    EXPECT_EQ(read_all(**store, topic), written);
    // Appending after a reopen starts a new file and leaves the old ones readable.
    auto more = append(**store, executor, topic, 24, 3);
    written.insert(written.end(), more.begin(), more.end());
    EXPECT_EQ(read_all(**store, topic), written);
  }
  {
    auto store = RocksStore::open(path, options(/*read_only=*/true));
    ASSERT_TRUE(store.ok()) << store.error().to_string();
    const auto report = check_store(**store);
    EXPECT_TRUE(report.ok()) << joined(report.problems);
    EXPECT_EQ(report.entries, written.size());
  }
  {
    // With the setting off (0) the references still resolve and the format stays 3.
    auto o = options();
    o.entry_log_min_size = 0;
    auto store = RocksStore::open(path, o);
    ASSERT_TRUE(store.ok()) << store.error().to_string();
    EXPECT_EQ((*store)->format_version(), 3u);
    EXPECT_EQ(read_all(**store, topic), written);
  }
}

TEST(EntryLog, AStoreWithoutItStaysFormat2) {
  TempDir dir;
  auto o = options();
  o.entry_log_min_size = 0;
  auto store = RocksStore::open(dir.sub("db"), o);
  ASSERT_TRUE(store.ok()) << store.error().to_string();
  EXPECT_EQ((*store)->format_version(), 2u);
  store->reset();
  // Turned on later: migrated to 3.
  auto again = RocksStore::open(dir.sub("db"), options());
  ASSERT_TRUE(again.ok()) << again.error().to_string();
  EXPECT_EQ((*again)->format_version(), 3u);
}

TEST(EntryLog, TrimsFreeFilesAndDeletedTopicsToo) {
  TempDir dir;
  const auto path = dir.sub("db");
  LockedExecutor executor;
  auto o = options();
  o.entry_log_file_size = 8 * kLarge;  // three groups of two large entries per file: a, b, a / b, a, b ...
  auto store = RocksStore::open(path, o);
  ASSERT_TRUE(store.ok()) << store.error().to_string();
  auto& s = **store;
  const auto a = *s.ensure_topic("persistent://t/n/a");
  const auto b = *s.ensure_topic("persistent://t/n/b");
  std::vector<LogEntry> a_entries;
  for (std::uint64_t i = 0; i < 8; ++i) {
    auto w = append(s, executor, a, i * 3, 3);
    a_entries.insert(a_entries.end(), w.begin(), w.end());
    append(s, executor, b, i * 3, 3);
  }
  const auto before = elog_files(path);
  ASSERT_GE(before.size(), 5u);
  // Trimming a alone frees nothing: every file holds b's entries too.
  ASSERT_TRUE(write_and_wait(s, executor, Batch().trim(a, {a, 24, -1})).ok());
  append(s, executor, a, 24, 1);
  EXPECT_EQ(elog_files(path), before);
  const auto with_b = elog_files(path).size();
  // Deleting b: every file before the current one is free; removed with the next group commit.
  ASSERT_TRUE(write_and_wait(s, executor, Batch().delete_topic(b)).ok());
  append(s, executor, a, 25, 1);
  const auto after = elog_files(path).size();
  EXPECT_LT(after, with_b);
  EXPECT_LE(after, 2u);
  // What is left reads back, also after a reopen (whose open deletes nothing more it needs).
  EXPECT_EQ(read_all(s, a).size(), 2u);
  store->reset();
  auto again = RocksStore::open(path, o);
  ASSERT_TRUE(again.ok()) << again.error().to_string();
  EXPECT_EQ(read_all(**again, a).size(), 2u);
  const auto report = check_store(**again);
  EXPECT_TRUE(report.ok()) << joined(report.problems);
}

TEST(EntryLog, FilesFreedByTrimsOfOneTopic) {
  TempDir dir;
  const auto path = dir.sub("db");
  LockedExecutor executor;
  auto store = RocksStore::open(path, options());
  ASSERT_TRUE(store.ok()) << store.error().to_string();
  auto& s = **store;
  const auto t = *s.ensure_topic("persistent://t/n/a");
  std::vector<LogEntry> all;
  for (std::uint64_t i = 0; i < 10; ++i) {
    auto w = append(s, executor, t, i * 3, 3);
    all.insert(all.end(), w.begin(), w.end());
  }
  const auto before = elog_files(path).size();
  ASSERT_GE(before, 5u);
  ASSERT_TRUE(write_and_wait(s, executor, Batch().trim(t, {t, 27, -1})).ok());
  append(s, executor, t, 30, 1);  // the group that deletes the freed files' keys
  EXPECT_LT(elog_files(path).size(), before);
  const auto left = read_all(s, t);
  ASSERT_EQ(left.size(), 4u);
  EXPECT_EQ(left[0], all[27]);
  EXPECT_EQ(left[2], all[29]);
}

// A truncate lets ids below the last trim be written again (the ledger rewinds after a failed
// append): those entries are live although under the trim's floor, in files of their own. Neither
// the next trim nor a reopen may free their files (found by StoreRandomized under ASan).
TEST(EntryLog, EntriesWrittenAgainAfterATruncateBelowTheTrimKeepTheirFiles) {
  TempDir dir;
  const auto path = dir.sub("db");
  LockedExecutor executor;
  std::vector<LogEntry> again;
  std::uint64_t t = 0;
  {
    auto store = RocksStore::open(path, options());
    ASSERT_TRUE(store.ok()) << store.error().to_string();
    auto& s = **store;
    t = *s.ensure_topic("persistent://t/n/a");
    for (std::uint64_t i = 0; i < 4; ++i) append(s, executor, t, i * 3, 3);
    ASSERT_TRUE(write_and_wait(s, executor, Batch().trim(t, {t, 12, -1})).ok());
    ASSERT_TRUE(write_and_wait(s, executor, Batch().truncate(t, {t, 3, -1})).ok());
    for (std::uint64_t i = 0; i < 3; ++i) {
      auto w = append(s, executor, t, 3 + i * 3, 3);
      again.insert(again.end(), w.begin(), w.end());
    }
    ASSERT_TRUE(write_and_wait(s, executor, Batch().trim(t, {t, 4, -1})).ok());
    append(s, executor, t, 12, 1);  // a group that deletes whatever files the trims freed
    const auto left = read_all(s, t);
    ASSERT_EQ(left.size(), again.size());  // 4..11 and 12, all readable
    EXPECT_EQ(left.front(), again[1]);
  }
  auto store = RocksStore::open(path, options());
  ASSERT_TRUE(store.ok()) << store.error().to_string();
  append(**store, executor, t, 13, 1);
  const auto left = read_all(**store, t);
  ASSERT_EQ(left.size(), again.size() + 1);
  EXPECT_EQ(left[1], again[2]);
}

// Damage of three kinds, each in a fresh store: found by the check, repaired as a damaged tail.
enum class Damage { missing, short_file, altered };

void damage_and_check(Damage damage) {
  TempDir dir;
  const auto path = dir.sub("db");
  LockedExecutor executor;
  std::uint64_t topic = 0;
  // Entries 0..5 (2 small, 4 large) in the first file; 6 (small), 7 and 8 (large) in the second.
  const std::vector<LogEntry> written = fill(path, executor, topic, {6, 3});
  const auto files = elog_files(path);
  ASSERT_GE(files.size(), 2u);
  const auto last = files.back();
  const auto size = fs::file_size(last);
  switch (damage) {
    case Damage::missing:
      fs::remove(last);
      break;
    case Damage::short_file:
      fs::resize_file(last, size / 2);
      break;
    case Damage::altered: {
      std::fstream f(last, std::ios::in | std::ios::out | std::ios::binary);
      // Inside the file's second entry (entry 8), the last of the log: a damaged tail.
      const auto at = static_cast<std::streamoff>(kLarge + 2 * EntryLog::kHeaderSize + 2000);
      f.seekg(at);
      const char was = static_cast<char>(f.get());
      f.seekp(at);
      f.put(static_cast<char>(was ^ 0x01));
      break;
    }
  }
  {
    auto store = RocksStore::open(path, options(/*read_only=*/true));
    ASSERT_TRUE(store.ok()) << store.error().to_string();
    const auto report = check_store(**store);
    ASSERT_FALSE(report.ok());
    const auto text = joined(report.problems);
    EXPECT_NE(text.find(last.filename().string()), std::string::npos) << text;
    EXPECT_NE(text.find(damage == Damage::missing      ? "cannot be opened"
                        : damage == Damage::short_file ? "is short"
                                                       : "checksum mismatch"),
              std::string::npos)
        << text;
  }
  {
    auto store = RocksStore::open(path, options(false, /*repair=*/true));
    ASSERT_TRUE(store.ok()) << store.error().to_string();
    const auto report = repair_store(**store);
    EXPECT_TRUE(report.refused.empty()) << joined(report.refused);
    EXPECT_TRUE(report.applied) << joined(report.changes);
  }
  {
    auto store = RocksStore::open(path, options());
    ASSERT_TRUE(store.ok()) << store.error().to_string();
    const auto report = check_store(**store);
    EXPECT_TRUE(report.ok()) << joined(report.problems);
    const auto left = read_all(**store, topic);
    // The damaged entries (the last file's) are gone, everything before them is intact.
    ASSERT_GE(left.size(), 6u);
    ASSERT_LT(left.size(), written.size());
    EXPECT_EQ(left, std::vector<LogEntry>(written.begin(), written.begin() + static_cast<long>(left.size())));
  }
}

TEST(EntryLog, MissingFileIsDamage) { damage_and_check(Damage::missing); }
TEST(EntryLog, ShortFileIsDamage) { damage_and_check(Damage::short_file); }
TEST(EntryLog, AlteredBytesAreDamage) { damage_and_check(Damage::altered); }

// A child process writes one batch, then a second one whose entries reach the entry log, and
// exits (as kill -9 would: no destructor, no flush) before the RocksDB batch is written.
void crash_after_entry_log_write(const std::string& path, std::uint64_t file_size) {
  const pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    auto o = options();
    o.entry_log_file_size = file_size;
    int groups = 0;
    o.after_entry_log_write = [&groups] {
      if (++groups == 2) ::_exit(0);
    };
    auto store = RocksStore::open(path, o);
    if (!store.ok()) ::_exit(3);
    LockedExecutor executor;
    const auto topic = *(*store)->ensure_topic("persistent://t/n/crash");
    Batch first, second;
    for (std::uint64_t e = 0; e < 2; ++e) first.append(topic, {topic, e, -1}, random_message(kLarge, e));
    for (std::uint64_t e = 2; e < 4; ++e) second.append(topic, {topic, e, -1}, random_message(kLarge, e));
    bool done = false;
    (*store)->write(std::move(first), executor, [&](const Result<void, Error>& r) { done = r.ok(); });
    if (!executor.run_until([&] { return done; })) ::_exit(4);
    (*store)->write(std::move(second), executor, [](const Result<void, Error>&) { ::_exit(5); });
    executor.run_until([] { return false; }, std::chrono::seconds(30));
    ::_exit(6);
  }
  int status = 0;
  ASSERT_EQ(::waitpid(child, &status, 0), child);
  ASSERT_TRUE(WIFEXITED(status));
  ASSERT_EQ(WEXITSTATUS(status), 0);
}

TEST(EntryLog, CrashBetweenEntryLogAndCommitLeavesOnlyUnreferencedBytes) {
  for (const std::uint64_t file_size : {std::uint64_t{1} << 20, std::uint64_t{3} * kLarge}) {
    SCOPED_TRACE("file size " + std::to_string(file_size));
    TempDir dir;
    const auto path = dir.sub("db");
    crash_after_entry_log_write(path, file_size);
    // The crashed group's bytes are on disk: in the first file (1 MiB files) or alone in a second.
    const auto files = elog_files(path);
    ASSERT_EQ(files.size(), file_size == (std::uint64_t{1} << 20) ? 1u : 2u);
    auto store = RocksStore::open(path, options());
    ASSERT_TRUE(store.ok()) << store.error().to_string();
    const auto topic = **(*store)->find_topic("persistent://t/n/crash");
    const auto left = read_all(**store, topic);
    ASSERT_EQ(left.size(), 2u);
    EXPECT_EQ(left[0].value, random_message(kLarge, 0));
    EXPECT_EQ(left[1].value, random_message(kLarge, 1));
    const auto report = check_store(**store);
    EXPECT_TRUE(report.ok()) << joined(report.problems);
    // A file holding nothing but the crashed group is deleted at the open.
    EXPECT_EQ(elog_files(path).size(), 1u);
    EXPECT_EQ(elog_files(path)[0], files[0]);
  }
}

EncodedMessage encoded(std::size_t size, char fill) {
  return EncodedMessage{"h", Payload::copy_of(std::string(size, fill)), "t"};
}

ino_t inode_of(const std::string& path) {
  struct stat st {};
  EXPECT_EQ(::stat(path.c_str(), &st), 0) << path;
  return st.st_ino;
}

// A removed file becomes the spare (NNNNNN.spare, one at most), and the next file is the spare
// under its new number, written over from its start: what is read back through the references is
// what the new groups wrote, never the bytes the file held before. A spare left by a run is taken
// again at the next open.
TEST(EntryLog, ARemovedFileIsTheSpareAndTheNextFileIsWrittenOverIt) {
  TempDir dir;
  const auto elog_dir = dir.sub("entrylog");
  std::vector<EncodedMessage> old_values;
  for (int i = 0; i < 3; ++i) old_values.push_back(encoded(kLarge, static_cast<char>('a' + i)));
  ino_t first_inode = 0;
  {
    auto log = EntryLog::open(elog_dir, true, true, 4 * kLarge);
    ASSERT_TRUE(log.ok()) << log.error().to_string();
    std::vector<EntryLog::Item> items;
    for (std::size_t i = 0; i < old_values.size(); ++i) items.push_back({1, MessageId{1, i, -1}, &old_values[i]});
    std::vector<EntryRef> refs;
    ASSERT_TRUE((*log)->append(items, refs).ok());
    const auto first = (*log)->current_file();
    first_inode = inode_of((*log)->file_path(first));
    // The next group does not fit: a second file, then the first is removed.
    ASSERT_TRUE((*log)->append(items, refs).ok());
    ASSERT_NE((*log)->current_file(), first);
    (*log)->remove(first);
    EXPECT_FALSE(fs::exists((*log)->file_path(first)));
    ASSERT_FALSE((*log)->spare_path().empty());
    EXPECT_EQ(inode_of((*log)->spare_path()), first_inode);
    EXPECT_EQ((*log)->files().size(), 1u) << "the spare is not an entry log file";
  }
  // Reopened: the spare is taken again, and the next file is that inode under a new number.
  auto log = EntryLog::open(elog_dir, true, true, 4 * kLarge);
  ASSERT_TRUE(log.ok()) << log.error().to_string();
  ASSERT_FALSE((*log)->spare_path().empty());
  const auto small = encoded(1000, 'z');
  const std::vector<EntryLog::Item> items = {{2, MessageId{1, 0, -1}, &small}};
  std::vector<EntryRef> refs;
  ASSERT_TRUE((*log)->append(items, refs).ok());
  EXPECT_TRUE((*log)->spare_path().empty());
  EXPECT_EQ(inode_of((*log)->file_path((*log)->current_file())), first_inode);
  EXPECT_GE(fs::file_size((*log)->file_path((*log)->current_file())), 3 * kLarge) << "written over, not truncated";
  std::string out;
  ASSERT_TRUE((*log)->read(refs[0], out).ok());
  EXPECT_EQ(out, small.joined());
  // A second removal while a spare exists deletes; the first removal after the spare was used
  // makes a new spare.
  const auto numbers = (*log)->files();
  ASSERT_EQ(numbers.size(), 2u);
  (*log)->remove(numbers[0]);
  EXPECT_FALSE((*log)->spare_path().empty());
  EXPECT_EQ((*log)->files().size(), 1u);
  std::size_t spares = 0;
  for (const auto& e : fs::directory_iterator(elog_dir)) spares += e.path().extension() == ".spare";
  EXPECT_EQ(spares, 1u);
}

// Without twice a file's size free on the file system, a removed file is deleted, not kept.
TEST(EntryLog, NoSpareWithoutRoomForIt) {
  TempDir dir;
  const auto elog_dir = dir.sub("entrylog");
  // Files "larger" than any disk here: a spare would never leave room.
  auto log = EntryLog::open(elog_dir, true, true, std::uint64_t{1} << 60);
  ASSERT_TRUE(log.ok()) << log.error().to_string();
  const auto value = encoded(kLarge, 'q');
  const std::vector<EntryLog::Item> items = {{1, MessageId{1, 0, -1}, &value}};
  std::vector<EntryRef> refs;
  ASSERT_TRUE((*log)->append(items, refs).ok());
  const auto first = (*log)->current_file();
  (*log)->remove(first);  // the current file: remove() leaves it alone
  EXPECT_TRUE(fs::exists((*log)->file_path(first)));
  log->reset();
  auto again = EntryLog::open(elog_dir, true, true, std::uint64_t{1} << 60);
  ASSERT_TRUE(again.ok());
  ASSERT_TRUE((*again)->append(items, refs).ok());  // a fresh file at every open
  ASSERT_NE((*again)->current_file(), first);
  (*again)->remove(first);
  EXPECT_FALSE(fs::exists((*again)->file_path(first)));
  EXPECT_TRUE((*again)->spare_path().empty());
  for (const auto& e : fs::directory_iterator(elog_dir)) EXPECT_NE(e.path().extension(), ".spare");
}

// A write to the entry log that the kernel refuses fails its group commit, and the groups after
// it go on. The failure is the kernel's own: a child process lowers its file size limit
// (RLIMIT_FSIZE) below where the group would end, so pwrite(2) writes part of it and then fails
// with EFBIG, as a full disk fails a write partway. Once the limit is back, the same entries (the
// ledger reuses the ids of a failed append) are written over the failed bytes of the same file;
// after a reopen every acknowledged entry reads back exactly and the store checks sound.
TEST(EntryLog, AWriteTheKernelRefusesFailsItsGroupAndTheNextOnesGoOn) {
  TempDir dir;
  const auto path = dir.sub("db");
  const pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    ::signal(SIGXFSZ, SIG_IGN);  // EFBIG from the write instead of the signal's default (exit)
    auto o = options();
    o.entry_log_file_size = 1 << 20;
    auto store = RocksStore::open(path, o);
    if (!store.ok()) ::_exit(3);
    LockedExecutor executor;
    const auto topic = *(*store)->ensure_topic("persistent://t/n/failing");
    auto write = [&](std::uint64_t from) {
      Batch b;
      for (std::uint64_t e = from; e < from + 2; ++e) b.append(topic, {topic, e, -1}, random_message(kLarge, e));
      return write_and_wait(**store, executor, std::move(b));
    };
    if (!write(0).ok()) ::_exit(4);  // the file: one group of two entries, 132 KiB
    rlimit saved{};
    if (::getrlimit(RLIMIT_FSIZE, &saved) != 0) ::_exit(5);
    rlimit low = saved;
    low.rlim_cur = 192 * 1024;  // the next group would end at 264 KiB
    if (::setrlimit(RLIMIT_FSIZE, &low) != 0) ::_exit(5);
    const auto failed = write(2);
    if (failed.ok()) ::_exit(6);
    if (failed.error().message.find("cannot write entry log file") == std::string::npos) ::_exit(7);
    if (::setrlimit(RLIMIT_FSIZE, &saved) != 0) ::_exit(8);
    if (!write(2).ok()) ::_exit(9);
    if (!write(4).ok()) ::_exit(10);
    if ((*store)->entry_log_files_on_disk().size() != 1) ::_exit(11);  // the failed bytes were written over
    ::_exit(0);
  }
  int status = 0;
  ASSERT_EQ(::waitpid(child, &status, 0), child);
  ASSERT_TRUE(WIFEXITED(status));
  ASSERT_EQ(WEXITSTATUS(status), 0) << "3 open, 4 first write, 5 rlimit, 6 the refused write succeeded, 7 its error "
                                       "does not name the entry log, 8 rlimit, 9-10 writes after it, 11 files";
  auto store = RocksStore::open(path, options());
  ASSERT_TRUE(store.ok()) << store.error().to_string();
  const auto topic = **(*store)->find_topic("persistent://t/n/failing");
  const auto entries = read_all(**store, topic);
  ASSERT_EQ(entries.size(), 6u);
  for (std::uint64_t e = 0; e < 6; ++e) {
    EXPECT_EQ(entries[e].id, (MessageId{topic, e, -1}));
    EXPECT_EQ(entries[e].value, random_message(kLarge, e)) << "entry " << e;
  }
  const auto report = check_store(**store);
  EXPECT_TRUE(report.ok()) << joined(report.problems);
}

// The v2 golden store, opened with the entry log on: migrated to format 3, its content unchanged,
// new large entries in the entry log, all of it read back after a reopen.
TEST(EntryLog, GoldenV2StoreIsMigratedAndKeepsItsContent) {
  TempDir dir;
  const auto path = copy_golden(dir, "v2");
  LockedExecutor executor;
  std::vector<LogEntry> written;
  std::uint64_t topic = 0;
  {
    auto store = RocksStore::open(path, options());
    ASSERT_TRUE(store.ok()) << store.error().to_string();
    EXPECT_EQ((*store)->format_version(), 3u);
    EXPECT_EQ(golden::check(**store, 2), "");
    topic = *(*store)->ensure_topic("persistent://t/n/large-after-upgrade");
    written = append(**store, executor, topic, 0, 6);
  }
  EXPECT_EQ(elog_files(path).size(), 1u);
  auto store = RocksStore::open(path, options(/*read_only=*/true));
  ASSERT_TRUE(store.ok()) << store.error().to_string();
  EXPECT_EQ((*store)->format_version(), 3u);
  EXPECT_EQ(read_all(**store, topic), written);
  // Everything else decodes as before (golden::check is for the unchanged golden content).
  const auto report = check_store(**store);
  EXPECT_TRUE(report.ok()) << joined(report.problems);
}

}  // namespace
}  // namespace mop::storage::test
