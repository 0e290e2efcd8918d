// repair_store (`mop store check --repair`) on copies of the golden stores and on stores with a
// planted damaged record: what can be repaired is, each change is named, the store then opens
// and checks sound; where repairing would drop sound data nothing changes.
#include <filesystem>

#include <gtest/gtest.h>

#include "storage/encoding.hpp"
#include "storage/store_check.hpp"
#include "storage/store_repair.hpp"
#include "storage/tests/store_fixture.hpp"

namespace mop::storage::test {
namespace {

namespace fs = std::filesystem;

Result<std::unique_ptr<RocksStore>, Error> open_for_repair(const std::string& path) {
  RocksStore::Options o;
  o.repair = true;
  o.create_if_missing = false;
  return RocksStore::open(path, o);
}

std::string all(const std::vector<std::string>& lines) {
  std::string out;
  for (const auto& l : lines) out += l + "\n";
  return out;
}

RepairReport repair(const std::string& path) {
  auto store = open_for_repair(path);
  EXPECT_TRUE(store.ok()) << store.error().to_string();
  if (!store.ok()) return {};
  return repair_store(**store);
}

// After a repair: the normal open (which refuses dangling records) works and the check is clean.
void expect_sound(const std::string& path) {
  auto store = RocksStore::open(path);
  ASSERT_TRUE(store.ok()) << store.error().to_string();
  const auto r = check_store(**store);
  EXPECT_TRUE(r.ok()) << all(r.problems);
}

TEST(StoreRepair, SoundGoldenStoreIsLeftAlone) {
  TempDir dir;
  const auto r = repair(copy_golden(dir, "v1"));
  EXPECT_TRUE(r.changes.empty()) << all(r.changes);
  EXPECT_TRUE(r.refused.empty()) << all(r.refused);
  EXPECT_FALSE(r.applied);
}

TEST(StoreRepair, UndecodableSessionOfTheGoldenStoreIsDeletedAndNamed) {
  TempDir dir;
  const auto path = copy_golden(dir, "v1-bad-value");
  const auto r = repair(path);
  ASSERT_TRUE(r.refused.empty()) << all(r.refused);
  ASSERT_EQ(r.changes.size(), 1u) << all(r.changes);
  EXPECT_NE(r.changes[0].find("session of client client-a"), std::string::npos) << r.changes[0];
  EXPECT_TRUE(r.applied);
  expect_sound(path);
  auto store = RocksStore::open(path);
  ASSERT_TRUE(store.ok());
  EXPECT_EQ(*(*store)->session("client-a"), std::nullopt);
  EXPECT_EQ((*store)->retained()->size(), 1u);  // the rest is untouched
}

TEST(StoreRepair, DamagedTableFilesOfTheGoldenStoresAreNotOpenedForRepair) {
  TempDir dir;
  // RocksDB's own checks: the truncated table file, the checksum mismatch. Nothing is changed.
  for (const std::string name : {"v1-truncated", "v1-corrupt"}) {
    const auto path = copy_golden(dir, name);
    auto store = open_for_repair(path);
    ASSERT_FALSE(store.ok()) << name;
    EXPECT_EQ(store.error().code, make_error_code(StorageErrc::corruption)) << store.error().to_string();
    EXPECT_NE(store.error().message.find(".sst"), std::string::npos) << store.error().message;
  }
}

// A store with topic `a`: entries 0..4 and subscription `s` acknowledged below `floor`.
struct Planted {
  explicit Planted(std::uint64_t floor = 2) {
    id = *s.store->ensure_topic("persistent://t/n/a");
    service::Message m;
    m.payload = Payload::copy_of("x");
    Batch b;
    for (std::uint64_t e = 0; e < 5; ++e) b.append(id, {id, e, -1}, encode_message(m));
    b.put_subscription(id, SubscriptionRecord{"s", service::SubscriptionType::shared, true});
    b.put_cursor(id, "s", CursorRecord{{id, floor, -1}, {}});
    b.put_retained(RetainedRecord{"persistent://t/n/r", m});
    EXPECT_TRUE(s.write(std::move(b)).ok());
    s.store.reset();
  }
  std::string path() { return s.dir.sub("db"); }
  StoreUnderTest s{"rocks"};
  std::uint64_t id = 0;
};

TEST(StoreRepair, UndecodableCursorIsResetToTheStartOfTheLog) {
  Planted p;
  ASSERT_NO_FATAL_FAILURE(put_raw(p.path(), RocksStore::kCursors, key::topic_named(p.id, "s"), "\xff\xff"));
  const auto r = repair(p.path());
  ASSERT_TRUE(r.refused.empty()) << all(r.refused);
  ASSERT_EQ(r.changes.size(), 1u) << all(r.changes);
  EXPECT_NE(r.changes[0].find("cursor 's' of topic persistent://t/n/a"), std::string::npos) << r.changes[0];
  EXPECT_NE(r.changes[0].find("delivered again"), std::string::npos) << r.changes[0];
  expect_sound(p.path());
  auto store = RocksStore::open(p.path());
  ASSERT_TRUE(store.ok());
  EXPECT_EQ(*(*store)->cursor(p.id, "s"), std::nullopt);  // restore starts it at the log's start
  EXPECT_EQ((*store)->subscriptions(p.id)->size(), 1u);
}

TEST(StoreRepair, UndecodableRetainedMessageIsDeletedAndNamed) {
  Planted p;
  ASSERT_NO_FATAL_FAILURE(put_raw(p.path(), RocksStore::kRetained, "persistent://t/n/r", "\x01"));
  const auto r = repair(p.path());
  ASSERT_TRUE(r.refused.empty()) << all(r.refused);
  ASSERT_EQ(r.changes.size(), 1u) << all(r.changes);
  EXPECT_NE(r.changes[0].find("retained message of topic persistent://t/n/r"), std::string::npos) << r.changes[0];
  expect_sound(p.path());
}

TEST(StoreRepair, UndecodableLogTailIsCutAndCursorsForgetAcksAboveIt) {
  Planted p(/*floor=*/5);  // everything acknowledged
  for (std::uint64_t e : {3, 4}) {
    ASSERT_NO_FATAL_FAILURE(put_raw(p.path(), RocksStore::kLogs, key::log(p.id, {p.id, e, -1}), "\x7f"));
  }
  const auto r = repair(p.path());
  ASSERT_TRUE(r.refused.empty()) << all(r.refused);
  EXPECT_TRUE(r.applied);
  const auto text = all(r.changes);
  const auto end = std::to_string(p.id) + ":3";
  EXPECT_NE(text.find("undecodable log entry " + std::to_string(p.id) + ":4 deleted"), std::string::npos) << text;
  EXPECT_NE(text.find("log truncated to end at " + end), std::string::npos) << text;
  EXPECT_NE(text.find("cursor 's' of topic persistent://t/n/a: acknowledgements at or above " + end), std::string::npos)
      << text;
  expect_sound(p.path());
  auto store = RocksStore::open(p.path());
  ASSERT_TRUE(store.ok());
  EXPECT_EQ((*(*store)->log_bounds(p.id))->end, (MessageId{p.id, 3, -1}));
  EXPECT_EQ((*(*store)->cursor(p.id, "s"))->ack_floor, (MessageId{p.id, 3, -1}));
}

TEST(StoreRepair, DamageFollowedBySoundEntriesIsRefusedAndNothingChanges) {
  Planted p;
  ASSERT_NO_FATAL_FAILURE(put_raw(p.path(), RocksStore::kLogs, key::log(p.id, {p.id, 1, -1}), "\x7f"));
  // A second, repairable problem: still not applied, since the repair is all or nothing.
  ASSERT_NO_FATAL_FAILURE(put_raw(p.path(), RocksStore::kRetained, "persistent://t/n/r", "\x01"));
  const auto r = repair(p.path());
  ASSERT_EQ(r.refused.size(), 1u) << all(r.refused);
  EXPECT_NE(r.refused[0].find("damaged at " + std::to_string(p.id) + ":1 but 3 sound entries follow"),
            std::string::npos)
      << r.refused[0];
  EXPECT_FALSE(r.applied);
  auto store = RocksStore::open(p.path());
  ASSERT_TRUE(store.ok());
  const auto check = check_store(**store);
  EXPECT_EQ(check.problems.size(), 2u) << all(check.problems);
}

TEST(StoreRepair, CursorWithoutSubscriptionIsDeleted) {
  Planted p;
  ASSERT_NO_FATAL_FAILURE(put_raw(p.path(), RocksStore::kCursors, key::topic_named(p.id, "ghost"),
                                  encode_cursor(CursorRecord{{p.id, 0, -1}, {}})));
  ASSERT_FALSE(RocksStore::open(p.path()).ok());  // the normal open refuses it
  const auto r = repair(p.path());
  ASSERT_TRUE(r.refused.empty()) << all(r.refused);
  ASSERT_EQ(r.changes.size(), 1u) << all(r.changes);
  EXPECT_NE(r.changes[0].find("cursor 'ghost' of topic persistent://t/n/a without a subscription record deleted"),
            std::string::npos)
      << r.changes[0];
  expect_sound(p.path());
}

TEST(StoreRepair, UndecodableProducerSequenceIsDeletedAndNamed) {
  Planted p;
  ASSERT_NO_FATAL_FAILURE(put_raw(p.path(), RocksStore::kProducerSequences, key::topic_named(p.id, "prod-1"), "\x01"));
  const auto r = repair(p.path());
  ASSERT_TRUE(r.refused.empty()) << all(r.refused);
  ASSERT_EQ(r.changes.size(), 1u) << all(r.changes);
  EXPECT_NE(r.changes[0].find("producer sequence 'prod-1' of topic persistent://t/n/a"), std::string::npos)
      << r.changes[0];
  expect_sound(p.path());
}

TEST(StoreRepair, LogOfAnUnknownTopicIsRefused) {
  Planted p;
  ASSERT_NO_FATAL_FAILURE(put_raw(p.path(), RocksStore::kLogs, key::log(99, {99, 0, -1}), "\x7f"));
  const auto r = repair(p.path());
  ASSERT_EQ(r.refused.size(), 1u) << all(r.refused);
  EXPECT_NE(r.refused[0].find("topic id 99, which has no topic record"), std::string::npos) << r.refused[0];
  EXPECT_FALSE(r.applied);
}

}  // namespace
}  // namespace mop::storage::test
