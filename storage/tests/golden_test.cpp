// Golden stores checked into storage/tests/golden (written by storage_golden_generator): v1 and
// v2 stores must keep reading back their known content with every later mop; damaged copies must give
// an error naming what is damaged, never a crash and never a silently partial store. Each test
// opens a copy in a temp dir: opening a RocksDB store writes to its directory.
#include <filesystem>
#include <iostream>

#include "storage/store_check.hpp"
#include "storage/tests/golden_content.hpp"
#include "storage/tests/store_fixture.hpp"

namespace mop::storage::test {
namespace {

namespace fs = std::filesystem;

// Opens the store and reads every record of every kind; fails with the first error.
Result<void, Error> open_and_read_all(const std::string& path) {
  auto store = RocksStore::open(path);
  if (!store.ok()) return store.error();
  auto topics = (*store)->topics();
  if (!topics.ok()) return topics.error();
  for (const auto& t : *topics) {
    auto b = (*store)->log_bounds(t.id);
    if (!b.ok()) return b.error();
    auto e = (*store)->log_read(t.id, {0, 0, -1}, {UINT64_MAX, 0, -1}, 1u << 20);
    if (!e.ok()) return e.error();
    auto subs = (*store)->subscriptions(t.id);
    if (!subs.ok()) return subs.error();
    for (const auto& s : *subs) {
      auto c = (*store)->cursor(t.id, s.name);
      if (!c.ok()) return c.error();
    }
  }
  if (auto s = (*store)->sessions(); !s.ok()) return s.error();
  if (auto r = (*store)->retained(); !r.ok()) return r.error();
  if (auto w = (*store)->wills(); !w.ok()) return w.error();
  return {};
}

TEST(GoldenStore, V1ReadsBackItsKnownContent) {
  TempDir dir;
  const auto path = copy_golden(dir, "v1");
  auto store = RocksStore::open(path);
  ASSERT_TRUE(store.ok()) << store.error().to_string();
  EXPECT_EQ(golden::check(**store, 1), "");
}

// The format version record as stored (RocksDB read directly).
std::uint32_t stored_format_version(const std::string& path) {
  RocksStore::Options ro;
  ro.read_only = true;
  ro.create_if_missing = false;
  auto store = RocksStore::open(path, ro);
  EXPECT_TRUE(store.ok()) << store.error().to_string();
  return store.ok() ? (*store)->format_version() : 0;
}

// Format 1 stores are migrated at a read-write open: format 2 only added value versions, so the
// migration is the version record; a read-only open (mop store check) leaves the store as is.
// The migrated store keeps its content and takes format 2 records.
TEST(GoldenStore, V1IsMigratedToV2AtAReadWriteOpen) {
  TempDir dir;
  const auto path = copy_golden(dir, "v1");
  EXPECT_EQ(stored_format_version(path), 1u);
  {
    auto store = RocksStore::open(path);
    ASSERT_TRUE(store.ok()) << store.error().to_string();
    EXPECT_EQ((*store)->format_version(), 2u);
    LockedExecutor executor;
    golden::write(**store, executor, 2);  // the format 2 additions, and the format 1 content again
    ASSERT_TRUE((*store)->flush().ok());
  }
  EXPECT_EQ(stored_format_version(path), 2u);
  auto store = RocksStore::open(path);
  ASSERT_TRUE(store.ok()) << store.error().to_string();
  EXPECT_EQ(golden::check(**store, 2), "");
}

TEST(GoldenStore, V2ReadsBackItsKnownContent) {
  TempDir dir;
  const auto path = copy_golden(dir, "v2");
  EXPECT_EQ(stored_format_version(path), 2u);
  auto store = RocksStore::open(path);
  ASSERT_TRUE(store.ok()) << store.error().to_string();
  EXPECT_EQ(golden::check(**store, 2), "");
}

// Format 3: the same content with every log entry in the entry log (entrylog/ beside RocksDB's
// files): it reads back, the check resolves every reference, and it stays format 3 when opened
// with the entry log off.
TEST(GoldenStore, V3ReadsBackItsKnownContent) {
  TempDir dir;
  const auto path = copy_golden(dir, "v3");
  EXPECT_EQ(stored_format_version(path), 3u);
  EXPECT_TRUE(std::filesystem::exists(std::filesystem::path(path) / "entrylog" / "000001.elog"));
  {
    RocksStore::Options o;
    o.read_only = true;
    o.create_if_missing = false;
    auto store = RocksStore::open(path, o);
    ASSERT_TRUE(store.ok()) << store.error().to_string();
    EXPECT_EQ(golden::check(**store, 2), "");
    const auto report = check_store(**store);
    EXPECT_TRUE(report.ok()) << (report.problems.empty() ? "" : report.problems[0]);
  }
  auto store = RocksStore::open(path);
  ASSERT_TRUE(store.ok()) << store.error().to_string();
  EXPECT_EQ((*store)->format_version(), 3u);
  EXPECT_EQ(golden::check(**store, 2), "");
}

// The v1 golden store predates the column families added later (partitioned_topics, schemas,
// producer_sequences, permissions, tenants, namespaces): read-only it reads them as empty; opened for writing it gets
// them, keeps its content, and stores the new records across a reopen.
TEST(GoldenStore, V1TakesTheColumnFamiliesAddedLater) {
  TempDir dir;
  const auto path = copy_golden(dir, "v1");
  {
    RocksStore::Options ro;
    ro.read_only = true;
    ro.create_if_missing = false;
    auto store = RocksStore::open(path, ro);
    ASSERT_TRUE(store.ok()) << store.error().to_string();
    EXPECT_TRUE((*store)->partitioned_topics()->empty());
    EXPECT_TRUE((*store)->schemas()->empty());
    EXPECT_TRUE((*store)->permissions()->empty());
    EXPECT_TRUE((*store)->tenants()->empty());
    EXPECT_TRUE((*store)->namespaces()->empty());
    const auto topics = (*store)->topics();
    ASSERT_FALSE(topics->empty());
    EXPECT_TRUE((*store)->producer_sequences(topics->front().id)->empty());
    EXPECT_EQ(golden::check(**store, 1), "");
  }
  std::uint64_t topic = 0;
  {
    auto store = RocksStore::open(path);
    ASSERT_TRUE(store.ok()) << store.error().to_string();
    EXPECT_EQ(golden::check(**store, 1), "");
    topic = (*store)->topics()->front().id;
    LockedExecutor executor;
    bool done = false;
    Result<void, Error> result;
    Batch b;
    b.put_partitioned({"persistent://t/n/p", 2}).put_schema({"persistent://t/n/p", 0, 1, "s", "", {}});
    b.put_producer_sequence(topic, {"prod", 4});
    b.put_permission({"t/n", "alice", 3}).put_tenant({"t", "{}"});
    service::NamespacePolicies ttl;
    ttl.message_ttl_seconds = 30;
    b.put_namespace({"t/n", ttl});
    (*store)->write(std::move(b), executor, [&](const Result<void, Error>& r) {
      result = r;
      done = true;
    });
    ASSERT_TRUE(executor.run_until([&] { return done; }));
    ASSERT_TRUE(result.ok()) << result.error().to_string();
  }
  auto store = RocksStore::open(path);
  ASSERT_TRUE(store.ok()) << store.error().to_string();
  EXPECT_EQ(golden::check(**store, 1), "");
  EXPECT_EQ(*(*store)->partitioned_topics(), (std::vector<PartitionedTopicRecord>{{"persistent://t/n/p", 2}}));
  EXPECT_EQ((*store)->schemas()->size(), 1u);
  EXPECT_EQ(*(*store)->producer_sequences(topic), (std::vector<ProducerSequence>{{"prod", 4}}));
  EXPECT_EQ(*(*store)->permissions(), (std::vector<PermissionRecord>{{"t/n", "alice", 3}}));
  EXPECT_EQ(*(*store)->tenants(), (std::vector<TenantRecord>{{"t", "{}"}}));
  ASSERT_EQ((*store)->namespaces()->size(), 1u);
  EXPECT_EQ((*store)->namespaces()->front().policies.message_ttl_seconds, std::optional<std::int64_t>{30});
}

TEST(GoldenStore, TheGeneratorStillProducesTheGoldenContent) {
  // The same content written by today's code reads back the same (guards golden::check itself).
  StoreUnderTest s("rocks");
  golden::write(*s.store, s.executor, 2);
  ASSERT_TRUE(s.store->flush().ok());
  EXPECT_EQ(golden::check(*s.store, 2), "");
}

TEST(GoldenStore, TruncatedStoreGivesAClearError) {
  TempDir dir;
  const auto path = copy_golden(dir, "v1-truncated");
  const auto read = open_and_read_all(path);
  ASSERT_FALSE(read.ok()) << "a truncated store opened and read without error";
  const auto& e = read.error();
  EXPECT_EQ(e.code.category(), storage_category());
  EXPECT_NE(e.message.find(path), std::string::npos) << e.message;
  std::cout << "truncated: " << e.to_string() << "\n";
}

TEST(GoldenStore, CorruptStoreGivesAClearError) {
  TempDir dir;
  const auto path = copy_golden(dir, "v1-corrupt");
  const auto read = open_and_read_all(path);
  ASSERT_FALSE(read.ok()) << "a corrupt store opened and read without error";
  const auto& e = read.error();
  EXPECT_EQ(e.code, make_error_code(StorageErrc::corruption));
  EXPECT_NE(e.message.find(path), std::string::npos) << e.message;
  std::cout << "corrupt: " << e.to_string() << "\n";
}

TEST(GoldenStore, UndecodableValueNamesItsColumnFamilyAndKey) {
  TempDir dir;
  const auto path = copy_golden(dir, "v1-bad-value");
  const auto read = open_and_read_all(path);
  ASSERT_FALSE(read.ok());
  const auto& e = read.error();
  EXPECT_EQ(e.code, make_error_code(StorageErrc::corruption));
  EXPECT_NE(e.message.find("'sessions'"), std::string::npos) << e.message;
  EXPECT_NE(e.message.find("client-a"), std::string::npos) << e.message;
  EXPECT_NE(e.message.find(path), std::string::npos) << e.message;
  std::cout << "bad value: " << e.to_string() << "\n";
}

}  // namespace
}  // namespace mop::storage::test
