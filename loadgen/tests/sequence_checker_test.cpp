#include "loadgen/sequence_checker.hpp"

#include <gtest/gtest.h>

namespace mop::loadgen {
namespace {

using O = SequenceChecker::Outcome;

TEST(SequenceChecker, InOrderHasNoLossOrDuplicates) {
  SequenceChecker c;
  for (std::uint32_t s = 0; s < 1000; ++s) ASSERT_EQ(c.record(3, s), O::fresh);
  EXPECT_EQ(c.unique(), 1000u);
  EXPECT_EQ(c.duplicates(), 0u);
  EXPECT_EQ(c.reordered(), 0u);
  EXPECT_EQ(c.missing(3, 1000), 0u);
  EXPECT_EQ(c.holes(3), 0u);
  EXPECT_EQ(c.received_from(3), 1000u);
  EXPECT_EQ(c.publishers(), std::vector<std::uint32_t>{3});
}

TEST(SequenceChecker, DetectsLoss) {
  SequenceChecker c;
  for (std::uint32_t s = 0; s < 200; ++s) {
    if (s != 5 && s != 64 && s != 130) (void)c.record(0, s);
  }
  EXPECT_EQ(c.missing(0, 200), 3u);
  EXPECT_EQ(c.missing(0, 250), 53u);  // the publisher sent 50 more that never came
  EXPECT_EQ(c.holes(0), 3u);
  EXPECT_FALSE(c.seen(0, 64));
  EXPECT_TRUE(c.seen(0, 65));
  EXPECT_EQ(c.missing(1, 10), 10u);   // a publisher never heard from
}

TEST(SequenceChecker, ExcusedSequencesAreNotLost) {
  SequenceChecker c;
  for (std::uint32_t s = 0; s < 10; ++s) {
    if (s != 8 && s != 9) (void)c.record(0, s);
  }
  EXPECT_EQ(c.missing(0, 10, [](std::uint32_t s) { return s == 9; }), 1u);
  EXPECT_EQ(c.missing(0, 10, [](std::uint32_t s) { return s >= 8; }), 0u);
}

TEST(SequenceChecker, DetectsDuplicates) {
  SequenceChecker c;
  EXPECT_EQ(c.record(1, 0), O::fresh);
  EXPECT_EQ(c.record(1, 1), O::fresh);
  EXPECT_EQ(c.record(1, 1), O::duplicate);
  EXPECT_EQ(c.record(1, 0), O::duplicate);
  EXPECT_EQ(c.record(2, 0), O::fresh);  // same sequence, other publisher
  EXPECT_EQ(c.duplicates(), 2u);
  EXPECT_EQ(c.unique(), 3u);
}

TEST(SequenceChecker, DetectsReordering) {
  SequenceChecker c;
  for (std::uint32_t s : {0u, 1u, 3u, 2u, 4u, 10u, 5u}) (void)c.record(0, s);
  EXPECT_EQ(c.reordered(), 2u);  // 2 after 3, 5 after 10
  EXPECT_EQ(c.holes(0), 4u);     // 6..9
}

TEST(SequenceChecker, GrowsAcrossWordsAndRejectsGarbage) {
  SequenceChecker c;
  EXPECT_EQ(c.record(0, 1'000'000), O::fresh);
  EXPECT_EQ(c.missing(0, 1'000'001), 1'000'000u);
  EXPECT_EQ(c.record(SequenceChecker::kMaxPublishers, 0), O::invalid);
  EXPECT_EQ(c.record(0, SequenceChecker::kMaxSeq), O::invalid);
  EXPECT_EQ(c.invalid(), 2u);
}

}  // namespace
}  // namespace mop::loadgen
