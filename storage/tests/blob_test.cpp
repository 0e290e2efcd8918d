// Large log entries in RocksDB's blob files (RocksStore::Options::blob_min_size): they read back
// exactly, through a reopen, a read-only `mop store check` open and an open without blob files
// (an older mop's settings); a trim frees their files; the v2 golden store, written before blob
// files, takes them and keeps its content.
#include <filesystem>
#include <random>
#include <thread>

#include <gtest/gtest.h>

#include "storage/encoding.hpp"
#include "storage/store_check.hpp"
#include "storage/tests/golden_content.hpp"
#include "storage/tests/store_fixture.hpp"

namespace mop::storage::test {
namespace {

namespace fs = std::filesystem;

// Bytes in the store's blob files (NNNNNN.blob).
std::uintmax_t blob_bytes(const std::string& dir) {
  std::uintmax_t n = 0;
  for (const auto& e : fs::directory_iterator(dir)) {
    if (e.path().extension() == ".blob") n += e.file_size();
  }
  return n;
}

Result<std::unique_ptr<RocksStore>, Error> open_with(const std::string& path, std::size_t blob_min_size,
                                                     bool read_only = false) {
  RocksStore::Options o;
  o.sync = false;
  o.blob_min_size = blob_min_size;
  o.read_only = read_only;
  o.create_if_missing = !read_only;
  return RocksStore::open(path, o);
}

constexpr std::size_t kLarge = 64 * 1024;

// Appends entries [from, from + count) to `topic`, every other one large, returns what it wrote.
std::vector<LogEntry> append(RocksStore& store, LockedExecutor& executor, std::uint64_t topic, std::uint64_t from,
                             std::uint64_t count) {
  return append_entries(store, executor, topic, from, count,
                        [](std::uint64_t e) { return e % 2 == 0 ? kLarge : std::size_t{100}; });
}

TEST(BlobFiles, LargeEntriesGoToBlobFilesAndReadBackEverywhere) {
  TempDir dir;
  const auto path = dir.sub("db");
  LockedExecutor executor;
  std::uint64_t topic = 0;
  std::vector<LogEntry> written;
  {
    auto store = open_with(path, 4096);
    ASSERT_TRUE(store.ok()) << store.error().to_string();
    auto id = (*store)->ensure_topic("persistent://t/n/large");
    ASSERT_TRUE(id.ok());
    topic = *id;
    written = append(**store, executor, topic, 0, 64);
    ASSERT_TRUE((*store)->flush_memtables().ok());
    // 32 large entries, each stored whole in a blob file; the small ones stay in table files.
    EXPECT_GE(blob_bytes(path), 32 * kLarge);
    EXPECT_LT(blob_bytes(path), 33 * kLarge);
    EXPECT_EQ(read_all(**store, topic), written);
  }
  {
    // `mop store check`: read-only, every entry through the decoders.
    auto store = open_with(path, 4096, true);
    ASSERT_TRUE(store.ok()) << store.error().to_string();
    const auto report = check_store(**store);
    EXPECT_TRUE(report.ok()) << (report.problems.empty() ? "" : report.problems[0]);
    EXPECT_EQ(report.entries, 64u);
    EXPECT_GE(report.entry_bytes, 32 * kLarge);
  }
  {
    // With blob files off (storeBlobMinSizeBytes=0, or a mop before them): the entries in blob
    // files still read back, and new large entries go to the table files.
    auto store = open_with(path, 0);
    ASSERT_TRUE(store.ok()) << store.error().to_string();
    EXPECT_EQ(read_all(**store, topic), written);
    const auto before = blob_bytes(path);
    auto more = append(**store, executor, topic, 64, 8);
    written.insert(written.end(), more.begin(), more.end());
    ASSERT_TRUE((*store)->flush_memtables().ok());
    EXPECT_EQ(blob_bytes(path), before);
    EXPECT_EQ(read_all(**store, topic), written);
  }
  auto store = open_with(path, 4096);
  ASSERT_TRUE(store.ok()) << store.error().to_string();
  EXPECT_EQ(read_all(**store, topic), written);
}

// A log entry is queued as parts (encode_message_parts): its payload is the message's own
// buffer, shared by the queued batch, and written into RocksDB's batch from there. The stored
// bytes are what encode_message gives, whether or not anything else still holds the message
// when the storage thread writes it, and with the tail of a batch entry after the payload.
TEST(BlobFiles, EntriesQueuedAsPartsStoreTheEncodedBytes) {
  TempDir dir;
  const auto path = dir.sub("db");
  LockedExecutor executor;
  std::vector<LogEntry> expected;
  std::uint64_t topic = 0;
  {
    auto store = open_with(path, 4096);
    ASSERT_TRUE(store.ok()) << store.error().to_string();
    auto id = (*store)->ensure_topic("persistent://t/n/parts");
    ASSERT_TRUE(id.ok());
    topic = *id;
    std::weak_ptr<const service::Message> watch;
    (*store)->hold_writes(true);  // queued, not written: only the batch holds the payload then
    Result<void, Error> result = Error(StorageErrc::closed, "no completion");
    bool done = false;
    {
      Batch b;
      for (std::uint64_t e = 0; e < 4; ++e) {
        std::mt19937_64 gen(e);
        std::string payload(e % 2 == 0 ? kLarge : 10, '\0');
        for (auto& c : payload) c = static_cast<char>(gen());
        auto m = std::make_shared<service::Message>();
        m->publish_time_ms = 7 + e;
        m->producer_name = "parts";
        m->properties = {{"k", "v"}};
        m->payload = Payload::adopt(std::move(payload));
        if (e >= 2) m->batch = service::BatchInfo{3, 1, 70000};
        const auto parts = encode_message_parts(*m);
        EXPECT_EQ(parts.payload.data(), m->payload.data()) << "the payload is shared, not copied";
        EXPECT_EQ(parts.joined(), encode_message(*m));
        expected.push_back({{topic, e, -1}, encode_message(*m)});
        b.append(topic, {topic, e, -1}, parts);
        if (e == 0) watch = m;
      }
      (*store)->write(std::move(b), executor, [&](const Result<void, Error>& r) {
        result = r;
        done = true;
      });
    }
    EXPECT_TRUE(watch.expired()) << "the messages are gone; their payloads live on in the batch";
    (*store)->hold_writes(false);
    ASSERT_TRUE(executor.run_until([&] { return done; }));
    ASSERT_TRUE(result.ok()) << result.error().to_string();
    EXPECT_EQ(read_all(**store, topic), expected);
    ASSERT_TRUE((*store)->flush_memtables().ok());
  }
  auto store = open_with(path, 4096);
  ASSERT_TRUE(store.ok()) << store.error().to_string();
  const auto back = read_all(**store, topic);
  EXPECT_EQ(back, expected);
  for (const auto& entry : back) {
    Message m;
    EXPECT_TRUE(decode_message(entry.value, m).ok());
  }
}

TEST(BlobFiles, TrimmingFreesTheirFiles) {
  TempDir dir;
  const auto path = dir.sub("db");
  LockedExecutor executor;
  auto store = open_with(path, 4096);
  ASSERT_TRUE(store.ok()) << store.error().to_string();
  auto id = (*store)->ensure_topic("persistent://t/n/trimmed");
  ASSERT_TRUE(id.ok());
  // Four flushes: four table files and four blob files, each with 16 large entries.
  for (std::uint64_t round = 0; round < 4; ++round) {
    append(**store, executor, *id, round * 32, 32);
    ASSERT_TRUE((*store)->flush_memtables().ok());
  }
  ASSERT_GE(blob_bytes(path), 64 * kLarge);
  // Keep the last 8 entries (4 large); trim everything below them.
  Batch trim;
  trim.trim(*id, {*id, 120, -1});
  ASSERT_TRUE(write_and_wait(**store, executor, std::move(trim)).ok());
  ASSERT_TRUE((*store)->flush_memtables().ok());
  // The space comes back as it does for table files: once a compaction takes the range deletion
  // together with the entries it covers (here: when level 0 has four table files again, after
  // three more flushes, as a topic in use gets), it drops them; a blob file whose every blob is
  // garbage then goes. The fourth file keeps the 4 large entries left, so it stays. Waits for
  // the background compaction, up to 30 s.
  for (std::uint64_t more = 0; more < 3; ++more) {
    Batch b;
    b.append(*id, {*id, 128 + more, -1}, random_message(100, 128 + more));
    ASSERT_TRUE(write_and_wait(**store, executor, std::move(b)).ok());
    ASSERT_TRUE((*store)->flush_memtables().ok());
  }
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (blob_bytes(path) > 17 * kLarge && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  EXPECT_LE(blob_bytes(path), 17 * kLarge);
  const auto left = read_all(**store, *id);
  ASSERT_EQ(left.size(), 11u);
  EXPECT_EQ(left.front().id, (MessageId{*id, 120, -1}));
  EXPECT_EQ(left[0].value, random_message(kLarge, 120));
}

// The v2 golden store was written before blob files existed: opened with them on it keeps its
// content, stores large entries in blob files, and both read back after a reopen, read-only too.
TEST(BlobFiles, GoldenV2StoreTakesBlobFiles) {
  TempDir dir;
  const auto path = copy_golden(dir, "v2");
  LockedExecutor executor;
  ASSERT_EQ(blob_bytes(path), 0u);
  std::vector<LogEntry> written;
  std::uint64_t topic = 0;
  {
    auto store = open_with(path, 4096);
    ASSERT_TRUE(store.ok()) << store.error().to_string();
    EXPECT_EQ(golden::check(**store, 2), "");
    auto id = (*store)->ensure_topic("persistent://t/n/large-after-upgrade");
    ASSERT_TRUE(id.ok());
    topic = *id;
    written = append(**store, executor, topic, 0, 16);
  }  // a clean close flushes the memtables
  EXPECT_GE(blob_bytes(path), 8 * kLarge);
  auto store = open_with(path, 4096, true);
  ASSERT_TRUE(store.ok()) << store.error().to_string();
  EXPECT_EQ(read_all(**store, topic), written);
  // Everything else decodes as before (golden::check itself is for the unchanged golden content).
  const auto report = check_store(**store);
  EXPECT_TRUE(report.ok()) << (report.problems.empty() ? "" : report.problems[0]);
  EXPECT_GE(report.entries, 16u);
}

}  // namespace
}  // namespace mop::storage::test
