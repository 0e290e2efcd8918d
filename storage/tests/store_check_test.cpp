// check_store (`mop store check`) on the golden stores and on a store with a damaged log entry:
// a sound store is reported with its counts; every damaged record is named, and the walk goes on
// past it.
#include <filesystem>

#include <gtest/gtest.h>
#include <rocksdb/db.h>

#include "storage/encoding.hpp"
#include "storage/store_check.hpp"
#include "storage/tests/store_fixture.hpp"

namespace mop::storage::test {
namespace {

namespace fs = std::filesystem;

Result<std::unique_ptr<RocksStore>, Error> open_read_only(const std::string& path) {
  RocksStore::Options o;
  o.read_only = true;
  o.create_if_missing = false;
  return RocksStore::open(path, o);
}

std::string all(const CheckReport& r) {
  std::string out;
  for (const auto& p : r.problems) out += p + "\n";
  return out;
}

TEST(StoreCheck, GoldenV1IsSoundAndCounted) {
  TempDir dir;
  const auto path = copy_golden(dir, "v1");
  auto store = open_read_only(path);
  ASSERT_TRUE(store.ok()) << store.error().to_string();
  const auto r = check_store(**store);
  EXPECT_TRUE(r.ok()) << all(r);
  // The counts agree with what the store's own readers return.
  const auto topics = (*store)->topics();
  EXPECT_EQ(r.topics, topics->size());
  EXPECT_GT(r.topics, 0u);
  std::uint64_t entries = 0, subs = 0;
  for (const auto& t : *topics) {
    entries += (*store)->log_read(t.id, {0, 0, -1}, {UINT64_MAX, 0, -1}, 1u << 20)->size();
    subs += (*store)->subscriptions(t.id)->size();
  }
  EXPECT_EQ(r.entries, entries);
  EXPECT_GT(r.entries, 0u);
  EXPECT_EQ(r.subscriptions, subs);
  EXPECT_EQ(r.sessions, (*store)->sessions()->size());
  EXPECT_EQ(r.retained, (*store)->retained()->size());
  EXPECT_EQ(r.wills, (*store)->wills()->size());
}

TEST(StoreCheck, BadValueIsNamedAndTheRestIsStillWalked) {
  TempDir dir;
  const auto path = copy_golden(dir, "v1-bad-value");
  auto store = open_read_only(path);
  ASSERT_TRUE(store.ok()) << store.error().to_string();
  const auto r = check_store(**store);
  ASSERT_FALSE(r.ok());
  ASSERT_EQ(r.problems.size(), 1u) << all(r);
  EXPECT_NE(r.problems[0].find("'sessions'"), std::string::npos) << r.problems[0];
  EXPECT_NE(r.problems[0].find("client-a"), std::string::npos) << r.problems[0];
  EXPECT_GT(r.topics, 0u);
  EXPECT_GT(r.entries, 0u);
}

TEST(StoreCheck, TruncatedAndCorruptStoresAreReported) {
  for (const char* name : {"v1-truncated", "v1-corrupt"}) {
    SCOPED_TRACE(name);
    TempDir dir;
    const auto path = copy_golden(dir, name);
    auto store = open_read_only(path);
    if (!store.ok()) {
      EXPECT_NE(store.error().message.find(path), std::string::npos) << store.error().message;
      continue;
    }
    const auto r = check_store(**store);
    ASSERT_FALSE(r.ok());
    EXPECT_NE(r.problems[0].find(path), std::string::npos) << all(r);
  }
}

TEST(StoreCheck, DamagedLogEntryIsNamedByTopicAndEntry) {
  StoreUnderTest s("rocks");
  const auto id = s.store->ensure_topic("persistent://t/n/a");
  ASSERT_TRUE(id.ok());
  service::Message m;
  m.payload = Payload::copy_of("x");
  Batch b;
  for (std::uint64_t e = 0; e < 3; ++e) b.append(*id, {*id, e, -1}, encode_message(m));
  ASSERT_TRUE(s.write(std::move(b)).ok());
  s.store.reset();
  ASSERT_NO_FATAL_FAILURE(put_raw(s.dir.sub("db"), RocksStore::kLogs, key::log(*id, {*id, 1, -1}), "\x7f"));
  auto store = open_read_only(s.dir.sub("db"));
  ASSERT_TRUE(store.ok()) << store.error().to_string();
  const auto r = check_store(**store);
  ASSERT_EQ(r.problems.size(), 1u) << all(r);
  EXPECT_NE(r.problems[0].find("entry " + std::to_string(*id) + ":1 of topic persistent://t/n/a"), std::string::npos)
      << r.problems[0];
  EXPECT_EQ(r.entries, 2u);  // the two sound ones
  // A read-only store refuses writes.
  Result<void, Error> written;
  bool done = false;
  Batch w;
  w.delete_will("x");
  (*store)->write(std::move(w), s.executor, [&](const Result<void, Error>& r) {
    written = r;
    done = true;
  });
  ASSERT_TRUE(s.executor.run_until([&] { return done; }));
  EXPECT_FALSE(written.ok());
}

TEST(StoreCheck, PulsarMetadataIsCountedAndADamagedRecordIsNamed) {
  StoreUnderTest s("rocks");
  const auto id = s.store->ensure_topic("persistent://t/n/a");
  ASSERT_TRUE(id.ok());
  Batch b;
  b.put_partitioned({"persistent://t/n/p", 3}).put_schema({"persistent://t/n/a", 0, 2, "json", "{}", {}});
  b.put_producer_sequence(*id, {"prod-1", 7}).put_producer_sequence(*id, {"prod-2", 8});
  ASSERT_TRUE(s.write(std::move(b)).ok());
  s.store.reset();
  {
    auto store = open_read_only(s.dir.sub("db"));
    ASSERT_TRUE(store.ok()) << store.error().to_string();
    const auto r = check_store(**store);
    EXPECT_TRUE(r.ok()) << all(r);
    EXPECT_EQ(r.partitioned_topics, 1u);
    EXPECT_EQ(r.schemas, 1u);
    EXPECT_EQ(r.producer_sequences, 2u);
  }
  // One bad record of each kind: each is named by column family and key.
  ASSERT_NO_FATAL_FAILURE(put_raw(s.dir.sub("db"), RocksStore::kPartitioned, "persistent://t/n/q", std::string("\x01\x00", 2)));
  ASSERT_NO_FATAL_FAILURE(put_raw(s.dir.sub("db"), RocksStore::kSchemas, "persistent://t/n/a", "\x01\x00"));
  ASSERT_NO_FATAL_FAILURE(put_raw(s.dir.sub("db"), RocksStore::kProducerSequences, key::topic_named(*id, "prod-2"), "\x09"));
  auto store = open_read_only(s.dir.sub("db"));
  ASSERT_TRUE(store.ok()) << store.error().to_string();
  const auto r = check_store(**store);
  ASSERT_EQ(r.problems.size(), 3u) << all(r);
  const auto text = all(r);
  EXPECT_NE(text.find("'partitioned_topics' key \"persistent://t/n/q\""), std::string::npos) << text;
  EXPECT_NE(text.find("partition count 0"), std::string::npos) << text;
  EXPECT_NE(text.find("'schemas' key \"persistent://t/n/a\""), std::string::npos) << text;
  EXPECT_NE(text.find("'producer_sequences'"), std::string::npos) << text;
  EXPECT_NE(text.find("prod-2"), std::string::npos) << text;
  EXPECT_NE(text.find("unsupported value version 9"), std::string::npos) << text;
}

}  // namespace
}  // namespace mop::storage::test
