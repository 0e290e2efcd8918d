#include "broker/cursor.hpp"
#include "broker/topic.hpp"

#include <gtest/gtest.h>

namespace mop::broker {
namespace {

MessageId at(std::uint64_t entry) { return {7, entry, -1}; }

TEST(Cursor, StartsWithNothingAcknowledged) {
  Cursor c(at(0));
  EXPECT_EQ(c.ack_floor(), at(0));
  EXPECT_EQ(c.read_position(), at(0));
  EXPECT_FALSE(c.mark_delete_position());
  EXPECT_FALSE(c.is_acked(at(0)));
  Cursor later(at(5));
  EXPECT_EQ(later.mark_delete_position(), at(4));
  EXPECT_TRUE(later.is_acked(at(4)));
}

TEST(Cursor, InOrderAcksAdvanceTheMarkDeletePosition) {
  Cursor c(at(0));
  EXPECT_TRUE(c.ack(at(0)));
  EXPECT_EQ(c.mark_delete_position(), at(0));
  EXPECT_TRUE(c.ack(at(1)));
  EXPECT_EQ(c.ack_floor(), at(2));
  EXPECT_TRUE(c.individually_acked().empty());
}

TEST(Cursor, OutOfOrderAcksWaitAboveTheFloorThenCollapse) {
  Cursor c(at(0));
  EXPECT_FALSE(c.ack(at(2)));
  EXPECT_FALSE(c.ack(at(3)));
  EXPECT_FALSE(c.ack(at(5)));
  EXPECT_EQ(c.ack_floor(), at(0));
  EXPECT_EQ(c.individually_acked().size(), 3u);
  EXPECT_TRUE(c.is_acked(at(3)));
  EXPECT_FALSE(c.is_acked(at(4)));
  EXPECT_FALSE(c.ack(at(1)));  // gap at 0 still open
  EXPECT_TRUE(c.ack(at(0)));
  EXPECT_EQ(c.ack_floor(), at(4));  // 0..3 contiguous; 5 stays individual
  EXPECT_EQ(c.individually_acked().size(), 1u);
  EXPECT_TRUE(c.ack(at(4)));
  EXPECT_EQ(c.ack_floor(), at(6));
  EXPECT_TRUE(c.individually_acked().empty());
}

TEST(Cursor, DuplicateAndOldAcksChangeNothing) {
  Cursor c(at(0));
  EXPECT_TRUE(c.ack(at(0)));
  EXPECT_FALSE(c.ack(at(0)));
  EXPECT_FALSE(c.ack(at(3)));
  EXPECT_FALSE(c.ack(at(3)));
  EXPECT_EQ(c.individually_acked().size(), 1u);
  EXPECT_EQ(c.ack_floor(), at(1));
}

TEST(Cursor, BatchIndexDoesNotTakePart) {
  Cursor c(at(0));
  EXPECT_TRUE(c.ack({7, 0, 3}));
  EXPECT_EQ(c.ack_floor(), at(1));
  EXPECT_TRUE(c.is_acked({7, 0, 0}));
}

TEST(Cursor, ReadPositionNeverFallsBelowTheFloor) {
  Cursor c(at(0));
  c.set_read_position(at(1));
  EXPECT_FALSE(c.ack(at(2)));
  EXPECT_TRUE(c.ack(at(0)));
  EXPECT_TRUE(c.ack(at(1)));
  EXPECT_EQ(c.read_position(), at(3));
  c.set_read_position(at(9));
  EXPECT_TRUE(c.ack(at(3)));
  EXPECT_EQ(c.read_position(), at(9));
}

TEST(Cursor, RestoredFromItsStoredStateAndBackToIt) {
  // Stored: floor 3, acknowledged 3 (at the floor: joins it), 5..6, 9, and 1 (below: ignored).
  const Cursor c(at(3), {at(1), at(3), at(5), at(6), {7, 9, 2}});
  EXPECT_EQ(c.ack_floor(), at(4));
  EXPECT_EQ(c.read_position(), at(4));
  EXPECT_EQ(c.individually_acked(), (std::set<MessageId>{at(5), at(6), at(9)}));
  const CursorState state = cursor_state(c);
  EXPECT_EQ(state.ack_floor, at(4));
  EXPECT_EQ(state.acked, (std::vector<std::pair<std::uint64_t, std::uint64_t>>{{5, 6}, {9, 9}}));
  const Cursor again(state.ack_floor, {at(5), at(6), at(9)});
  EXPECT_EQ(cursor_state(again), state);
}

TEST(Cursor, BatchIndexesAcknowledgeTheEntryOnceAllAre) {
  Cursor c(at(0));
  EXPECT_FALSE(c.ack_indexes(at(0), 3, {0b001}));
  EXPECT_FALSE(c.is_acked(at(0)));
  ASSERT_NE(c.batch_acked(at(0)), nullptr);
  EXPECT_EQ(*c.batch_acked(at(0)), Cursor::BatchBits{0b001});
  EXPECT_FALSE(c.ack_indexes(at(0), 3, {0b1000}));  // past the batch: does not count
  EXPECT_EQ(*c.batch_acked(at(0)), Cursor::BatchBits{0b001});
  EXPECT_FALSE(c.ack_indexes(at(0), 3, {0b010}));
  EXPECT_TRUE(c.ack_indexes(at(0), 3, {0b100}));
  EXPECT_TRUE(c.is_acked(at(0)));
  EXPECT_EQ(c.batch_acked(at(0)), nullptr);
  EXPECT_TRUE(c.partly_acked().empty());
}

TEST(Cursor, BatchesOfMoreThan64MessagesAndWholeAcksForgetIndexes) {
  Cursor c(at(0));
  EXPECT_FALSE(c.ack_indexes(at(1), 70, {~std::uint64_t{0}, 0b011111}));
  EXPECT_FALSE(c.is_acked(at(1)));
  EXPECT_FALSE(c.ack_indexes(at(1), 70, {0, 0b100000}));  // all 70: acknowledged, the floor stays
  EXPECT_TRUE(c.is_acked(at(1)));  // above the floor: individually acknowledged
  EXPECT_FALSE(c.ack_indexes(at(2), 5, {0b1}));
  EXPECT_TRUE(c.ack(at(0)));       // floor to 2 (1 was acknowledged)
  EXPECT_TRUE(c.ack(at(2)));       // a whole ack drops the partial state
  EXPECT_TRUE(c.partly_acked().empty());
  EXPECT_EQ(c.ack_floor(), at(3));
}

TEST(Cursor, PartlyAcknowledgedBatchesAreStored) {
  Cursor c(at(0));
  c.ack_indexes(at(2), 4, {0b0101});
  const CursorState state = cursor_state(c);
  EXPECT_EQ(state.batch_acked, (std::vector<std::pair<std::uint64_t, std::vector<std::uint64_t>>>{{2, {0b0101}}}));
}

}  // namespace
}  // namespace mop::broker
