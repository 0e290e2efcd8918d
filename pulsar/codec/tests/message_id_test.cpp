// Message ids <-> MessageIdData, and the batch-index ack_set bit helpers.
#include "pulsar/codec/message_id.hpp"
#include "pulsar/codec/tests/helpers.hpp"

namespace mop::pulsar::test {
namespace {

TEST(MessageId, ToAndFromProto) {
  proto::MessageIdData d;
  to_proto(MessageId{12, 34, 5, 2}, d);
  EXPECT_EQ(d.ledgerid(), 12u);
  EXPECT_EQ(d.entryid(), 34u);
  EXPECT_EQ(d.batch_index(), 5);
  EXPECT_EQ(d.partition(), 2);
  const MessageId back = from_proto(d);
  EXPECT_EQ(back.ledger, 12u);
  EXPECT_EQ(back.entry, 34u);
  EXPECT_EQ(back.batch_index, 5);
  EXPECT_EQ(back.partition, 2);
}

// A non-batch id must not carry batch_index at all: clients read a present batch_index as "this
// message came from a batch". The bytes: 08 0c (ledgerId 12) 10 22 (entryId 34), nothing more.
TEST(MessageId, UnsetPartsAreNotWritten) {
  proto::MessageIdData d;
  d.set_batch_index(3);  // stale values are cleared
  d.set_partition(1);
  to_proto(MessageId{12, 34}, d);
  EXPECT_FALSE(d.has_batch_index());
  EXPECT_FALSE(d.has_partition());
  EXPECT_EQ(to_hex(d.SerializeAsString()), "08 0c 10 22");
  const MessageId back = from_proto(d);
  EXPECT_EQ(back.batch_index, -1);  // the proto default
  EXPECT_EQ(back.partition, -1);
}

// Earliest is (-1, -1) in Java, i.e. all-ones uint64 on the wire: 10-byte varints.
TEST(MessageId, EarliestAndLatestOnTheWire) {
  proto::MessageIdData d;
  d.set_ledgerid(0xFFFFFFFFFFFFFFFF);
  d.set_entryid(0xFFFFFFFFFFFFFFFF);
  EXPECT_TRUE(is_earliest(from_proto(d)));
  EXPECT_FALSE(is_latest(from_proto(d)));
  to_proto(kLatest, d);
  EXPECT_EQ(to_hex(d.SerializeAsString()), "08 ff ff ff ff ff ff ff ff 7f 10 ff ff ff ff ff ff ff ff 7f");
  EXPECT_TRUE(is_latest(from_proto(d)));
}

TEST(MessageId, OrderIsLedgerEntryBatch) {
  EXPECT_LT((MessageId{1, 9}), (MessageId{2, 0}));
  EXPECT_LT((MessageId{2, 0}), (MessageId{2, 1}));
  EXPECT_LT((MessageId{2, 1, 0}), (MessageId{2, 1, 1}));
  EXPECT_LT((MessageId{2, 1, -1}), (MessageId{2, 1, 0}));
  EXPECT_EQ((MessageId{2, 1, 0, 3}), (MessageId{2, 1, 0, 7}));  // partition is not part of the position
}

TEST(AckSet, AllUnackedSetsExactlyTheBatchBits) {
  EXPECT_TRUE(ack_set_all_unacked(0).empty());
  EXPECT_EQ(ack_set_all_unacked(3), std::vector<std::int64_t>{0b111});
  EXPECT_EQ(ack_set_all_unacked(64), std::vector<std::int64_t>{-1});
  EXPECT_EQ(ack_set_all_unacked(65), (std::vector<std::int64_t>{-1, 1}));
  EXPECT_EQ(ack_set_unacked_count(ack_set_all_unacked(130), 130), 130);
}

// Java BitSet order: index i is bit i % 64 of word i / 64, least significant first.
TEST(AckSet, BitOrderMatchesJavaBitSet) {
  auto words = ack_set_all_unacked(70);
  ack_set_mark_acked(words, 0);
  ack_set_mark_acked(words, 63);
  ack_set_mark_acked(words, 64);
  EXPECT_EQ(static_cast<std::uint64_t>(words[0]), 0x7FFFFFFFFFFFFFFEu);
  EXPECT_EQ(words[1], 0b111110);
  EXPECT_TRUE(ack_set_is_acked(words, 0));
  EXPECT_FALSE(ack_set_is_acked(words, 1));
  EXPECT_TRUE(ack_set_is_acked(words, 63));
  EXPECT_TRUE(ack_set_is_acked(words, 64));
  EXPECT_FALSE(ack_set_is_acked(words, 69));
  EXPECT_TRUE(ack_set_is_acked(words, 200));  // beyond the words: clear, i.e. acknowledged
  EXPECT_EQ(ack_set_unacked_count(words, 70), 67);
}

TEST(AckSet, MergeKeepsOnlyWhatBothConsiderUnacked) {
  auto stored = ack_set_all_unacked(10);
  ack_set_mark_acked(stored, 2);
  auto received = ack_set_all_unacked(10);
  ack_set_mark_acked(received, 5);
  ack_set_merge(stored, received);
  EXPECT_TRUE(ack_set_is_acked(stored, 2));
  EXPECT_TRUE(ack_set_is_acked(stored, 5));
  EXPECT_EQ(ack_set_unacked_count(stored, 10), 8);

  // A shorter received set acknowledges everything past its words.
  auto big = ack_set_all_unacked(100);
  const std::vector<std::int64_t> first_word_only{-1};
  ack_set_merge(big, first_word_only);
  EXPECT_EQ(ack_set_unacked_count(big, 100), 64);
}

TEST(AckSet, AllAckedOnceEveryIndexIsMarked) {
  auto words = ack_set_all_unacked(3);
  EXPECT_FALSE(ack_set_all_acked(words, 3));
  for (int i = 0; i < 3; ++i) ack_set_mark_acked(words, i);
  EXPECT_TRUE(ack_set_all_acked(words, 3));
  // Bits above the batch size do not count.
  std::vector<std::int64_t> stray{0b1000};
  EXPECT_TRUE(ack_set_all_acked(stray, 3));
  ack_set_mark_acked(words, -1);  // ignored
  ack_set_mark_acked(words, 500);
}

TEST(AckSet, FromARepeatedField) {
  proto::MessageIdData d;
  for (auto w : ack_set_all_unacked(5)) d.add_ack_set(w);
  EXPECT_EQ(ack_set_unacked_count(words_of(d.ack_set()), 5), 5);
}

}  // namespace
}  // namespace mop::pulsar::test
