#include "loadgen/histogram.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <vector>

namespace mop::loadgen {
namespace {

// The reference: the smallest value with at least p % of the values at or below it.
std::uint64_t reference(std::vector<std::uint64_t> v, double p) {
  std::sort(v.begin(), v.end());
  auto rank = static_cast<std::size_t>(std::ceil(static_cast<double>(v.size()) * p / 100.0));
  if (rank < 1) rank = 1;
  return v[rank - 1];
}

void expect_close(std::uint64_t got, std::uint64_t want) {
  // Same bucket as the exact value: at most 1/128 above it, never below.
  EXPECT_GE(got, want);
  EXPECT_LE(got, want + want / 128 + 1) << "want " << want;
}

TEST(Histogram, EmptyReportsZero) {
  LatencyHistogram h;
  EXPECT_EQ(h.count(), 0u);
  EXPECT_EQ(h.percentile(50), 0u);
  EXPECT_EQ(h.max(), 0u);
}

TEST(Histogram, SmallValuesAreExact) {
  LatencyHistogram h;
  for (std::uint64_t v = 0; v < 256; ++v) h.record(v);
  EXPECT_EQ(h.percentile(50), 127u);
  EXPECT_EQ(h.percentile(100), 255u);
  EXPECT_EQ(h.max(), 255u);
  EXPECT_EQ(h.min(), 0u);
}

TEST(Histogram, BucketBoundsAreContiguous) {
  for (std::size_t i = 1; i < LatencyHistogram::kBuckets; ++i) {
    ASSERT_EQ(LatencyHistogram::lowest_in(i), LatencyHistogram::highest_in(i - 1) + 1) << i;
    ASSERT_EQ(LatencyHistogram::index_of(LatencyHistogram::lowest_in(i)), i);
    ASSERT_EQ(LatencyHistogram::index_of(LatencyHistogram::highest_in(i)), i);
  }
  EXPECT_EQ(LatencyHistogram::highest_in(LatencyHistogram::kBuckets - 1), LatencyHistogram::kMaxValue);
}

TEST(Histogram, PercentilesMatchSortedReference) {
  std::mt19937_64 rng(42);
  // Latency-like: lognormal around 100 us with a long tail, in ns.
  std::lognormal_distribution<double> dist(std::log(100'000.0), 1.0);
  std::vector<std::uint64_t> values;
  LatencyHistogram h;
  for (int i = 0; i < 200'000; ++i) {
    const auto v = static_cast<std::uint64_t>(dist(rng));
    values.push_back(v);
    h.record(v);
  }
  for (double p : {1.0, 10.0, 50.0, 90.0, 99.0, 99.9, 99.99, 100.0}) {
    SCOPED_TRACE(p);
    expect_close(h.percentile(p), reference(values, p));
  }
  EXPECT_EQ(h.max(), *std::max_element(values.begin(), values.end()));
  EXPECT_EQ(h.count(), values.size());
}

TEST(Histogram, MergeEqualsRecordingEverything) {
  std::mt19937_64 rng(7);
  std::uniform_int_distribution<std::uint64_t> d(0, 50'000'000);
  LatencyHistogram a, b, all;
  std::vector<std::uint64_t> values;
  for (int i = 0; i < 10'000; ++i) {
    const auto v = d(rng);
    (i % 2 ? a : b).record(v);
    all.record(v);
    values.push_back(v);
  }
  a.merge(b);
  for (double p : {50.0, 99.0, 99.9}) {
    EXPECT_EQ(a.percentile(p), all.percentile(p));
    expect_close(a.percentile(p), reference(values, p));
  }
  EXPECT_EQ(a.count(), all.count());
  a.reset();
  EXPECT_EQ(a.count(), 0u);
}

TEST(Histogram, HugeValuesClamp) {
  LatencyHistogram h;
  h.record(~0ull);
  EXPECT_EQ(h.max(), LatencyHistogram::kMaxValue);
  EXPECT_EQ(h.percentile(50), LatencyHistogram::kMaxValue);
}

}  // namespace
}  // namespace mop::loadgen
