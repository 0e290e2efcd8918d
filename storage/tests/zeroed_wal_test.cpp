// The WAL written over zeroed space (zeroed_wal.hpp, journalPreAllocSizeMB): RocksDB recovers a
// crash image whose WAL ends in zeros, and appends that catch up with the zeroing lose nothing.
// The sync it saves is a benchmark (storage/README.md), not a test.
#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <random>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "storage/tests/store_fixture.hpp"
#include "storage/zeroed_wal.hpp"

namespace mop::storage::test {
namespace {

namespace fs = std::filesystem;

// The zeroing stops on a disk with less than 256 MiB free (zeroed_wal.hpp); these tests need it on.
#define SKIP_ON_A_FULL_DISK(dir)                                                               \
  if (fs::space((dir).path()).available < (1ull << 30)) GTEST_SKIP() << "under 1 GiB free in " << (dir).path()

std::string value_of(std::uint64_t e) { return std::string(200 + e % 300, static_cast<char>('a' + e % 26)) + std::to_string(e); }

// The store's newest WAL file (RocksDB's NNNNNN.log with the highest number).
fs::path newest_wal(const fs::path& dir) {
  fs::path newest;
  for (const auto& f : fs::directory_iterator(dir)) {
    if (ZeroedWalFileSystem::is_wal_name(f.path().filename().string()) && f.path().filename() > newest.filename()) {
      newest = f.path();
    }
  }
  return newest;
}

// True when `file` is a whole number of pages whose last page is all zeros: what the zeroing
// leaves past the last record of an open WAL.
bool ends_in_zeroed_page(const fs::path& file) {
  std::error_code ec;
  const auto size = fs::file_size(file, ec);
  if (ec || size == 0 || size % 4096 != 0) return false;
  std::ifstream in(file, std::ios::binary);
  in.seekg(static_cast<std::streamoff>(size - 4096));
  std::string page(4096, '\1');
  in.read(page.data(), 4096);
  return in.gcount() == 4096 && std::all_of(page.begin(), page.end(), [](char c) { return c == 0; });
}

// What `kill -9` leaves: the files as they are while the store is open (every write below was
// completed, so it is in the page cache, which a process crash keeps).
void copy_crash_image(const fs::path& from, const fs::path& to) {
  fs::copy(from, to, fs::copy_options::recursive);
  fs::remove(to / "mop.lock");
}

void expect_entries(RocksStore& store, std::uint64_t t, std::uint64_t count) {
  const auto bounds = store.log_bounds(t);
  ASSERT_TRUE(bounds.ok() && bounds->has_value());
  ASSERT_EQ((*bounds)->end.entry, count);
  std::uint64_t next = 0;
  while (next < count) {
    const auto got = store.log_read(t, {t, next, -1}, {t, count, -1}, 1000);
    ASSERT_TRUE(got.ok()) << got.error().to_string();
    ASSERT_FALSE(got->empty());
    for (const auto& e : *got) {
      ASSERT_EQ(e.id.entry, next);
      ASSERT_EQ(e.value, value_of(next)) << "entry " << next;
      ++next;
    }
  }
}

TEST(ZeroedWal, OnlyRocksDbWalNamesAreWrapped) {
  EXPECT_TRUE(ZeroedWalFileSystem::is_wal_name("000012.log"));
  EXPECT_TRUE(ZeroedWalFileSystem::is_wal_name("7.log"));
  EXPECT_FALSE(ZeroedWalFileSystem::is_wal_name(".log"));
  EXPECT_FALSE(ZeroedWalFileSystem::is_wal_name("LOG"));
  EXPECT_FALSE(ZeroedWalFileSystem::is_wal_name("LOG.old.1700000000"));
  EXPECT_FALSE(ZeroedWalFileSystem::is_wal_name("000012.sst"));
  EXPECT_FALSE(ZeroedWalFileSystem::is_wal_name("MANIFEST-000005"));
  EXPECT_FALSE(ZeroedWalFileSystem::is_wal_name("x12.log"));
}

// One synced write at a time, as QoS 1 publishes at a modest rate: the WAL's appends stay on
// zeroed space, and a crash image (the WAL's records, then zeros to the end of the file) reopens
// with every write.
TEST(ZeroedWal, ACrashImageEndingInZerosRecoversEveryWrite) {
  TempDir dir;
  SKIP_ON_A_FULL_DISK(dir);
  RocksStore::Options o;
  o.sync = true;
  o.wal_zero_ahead = 256 * 1024;
  auto store = RocksStore::open(dir.sub("db"), o);
  ASSERT_TRUE(store.ok()) << store.error().to_string();
  LockedExecutor ex;
  const auto t = *(*store)->ensure_topic("persistent://t/n/zeroed");
  constexpr std::uint64_t kWrites = 2000;
  for (std::uint64_t e = 0; e < kWrites; ++e) {
    Batch b;
    b.append(t, {t, e, -1}, value_of(e));
    ASSERT_TRUE(write_and_wait(**store, ex, std::move(b)).ok());
  }
  const auto* stats = (*store)->wal_stats();
  ASSERT_NE(stats, nullptr);
  EXPECT_GE(stats->files.load(), 1u);
  EXPECT_GT(stats->zeroed_bytes.load(), 0u);
  // The zeroing runs beside the appends: wait (bounded) until it is ahead of the last one, so
  // that the image has the zeros recovery must read through.
  const fs::path db = dir.sub("db");
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (!ends_in_zeroed_page(newest_wal(db)) && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  ASSERT_TRUE(ends_in_zeroed_page(newest_wal(db))) << newest_wal(db);
  copy_crash_image(db, dir.sub("image"));

  auto image = RocksStore::open(dir.sub("image"));
  ASSERT_TRUE(image.ok()) << image.error().to_string();
  expect_entries(**image, t, kWrites);
  // And the store the image was taken from closes cleanly and reopens with the same.
  store->reset();
  auto reopened = RocksStore::open(dir.sub("db"), o);
  ASSERT_TRUE(reopened.ok()) << reopened.error().to_string();
  expect_entries(**reopened, t, kWrites);
}

// Zeroed space of one page, large groups: the appends keep reaching the chunk being zeroed and
// must wait for it rather than have it written over them.
TEST(ZeroedWal, AppendsReachingTheZeroingLoseNothing) {
  TempDir dir;
  SKIP_ON_A_FULL_DISK(dir);
  RocksStore::Options o;
  o.sync = false;
  o.wal_zero_ahead = 1;  // rounded up to one page
  auto store = RocksStore::open(dir.sub("db"), o);
  ASSERT_TRUE(store.ok()) << store.error().to_string();
  LockedExecutor ex;
  const auto t = *(*store)->ensure_topic("persistent://t/n/zeroed");
  constexpr std::uint64_t kWrites = 20000;
  std::uint64_t ok = 0;
  for (std::uint64_t e = 0; e < kWrites; ++e) {
    Batch b;
    b.append(t, {t, e, -1}, value_of(e));
    (*store)->write(std::move(b), ex, [&](const Result<void, Error>& r) { ok += r.ok() ? 1 : 0; });
  }
  ASSERT_TRUE(ex.run_until([&] { return ok == kWrites; }));
  EXPECT_GT((*store)->wal_stats()->zeroed_bytes.load(), 0u);
  copy_crash_image(dir.sub("db"), dir.sub("image"));
  auto image = RocksStore::open(dir.sub("image"));
  ASSERT_TRUE(image.ok()) << image.error().to_string();
  expect_entries(**image, t, kWrites);
}

// The file alone, its zeroing slowed down so that appends keep reaching the chunk being zeroed:
// the file holds exactly what was appended, while open (a crash image) and once closed.
TEST(ZeroedWal, AZeroChunkNeverLandsOnAppendedBytes) {
  TempDir dir;
  SKIP_ON_A_FULL_DISK(dir);
  ZeroedWalFileSystem fsys(rocksdb::FileSystem::Default(), dir.path().string(), 3 * 4096,
                           [] { std::this_thread::sleep_for(std::chrono::microseconds(300)); });
  const auto path = dir.path() / "000001.log";
  std::unique_ptr<rocksdb::FSWritableFile> file;
  ASSERT_TRUE(fsys.NewWritableFile(path.string(), rocksdb::FileOptions(), &file, nullptr).ok());
  std::mt19937_64 gen(7);
  std::string expected;
  while (expected.size() < (1u << 20)) {
    std::string piece(1 + gen() % 3000, '\0');
    for (auto& c : piece) c = static_cast<char>(1 + gen() % 255);  // never a zero: a lost byte shows
    ASSERT_TRUE(file->Append(piece, rocksdb::IOOptions(), nullptr).ok());
    expected += piece;
    if (gen() % 8 == 0) {
      ASSERT_TRUE(file->Sync(rocksdb::IOOptions(), nullptr).ok());
    }
  }
  EXPECT_EQ(file->GetFileSize(rocksdb::IOOptions(), nullptr), expected.size());
  EXPECT_GT(fsys.stats().waits.load(), 0u);  // the slowed zeroing was reached
  const auto read_all = [&] {
    std::ifstream in(path, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(in), {});
  };
  const auto open_image = read_all();
  ASSERT_GE(open_image.size(), expected.size());
  EXPECT_TRUE(open_image.compare(0, expected.size(), expected) == 0);
  EXPECT_TRUE(std::all_of(open_image.begin() + static_cast<std::ptrdiff_t>(expected.size()), open_image.end(),
                          [](char c) { return c == 0; }));
  ASSERT_TRUE(file->Close(rocksdb::IOOptions(), nullptr).ok());
  EXPECT_TRUE(read_all() == expected);  // closed: cut to what was appended
}

}  // namespace
}  // namespace mop::storage::test
