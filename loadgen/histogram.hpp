#pragma once
// LatencyHistogram: a log-linear histogram in the manner of HdrHistogram. Values below 256 are
// counted exactly; above that every power of two is split into 128 equal buckets, so a reported
// percentile is within 1/128 (< 0.8 %) of the true value. Fixed size, so recording never
// allocates: the hot path of the load generator records one value per received message.
//
// Not thread-safe: each load generator thread owns its own and merges them once a second.
#include <array>
#include <bit>
#include <cstddef>
#include <cstdint>

namespace mop::loadgen {

class LatencyHistogram {
public:
  static constexpr unsigned kSubBits = 7;                       // 128 buckets per power of two
  static constexpr std::uint64_t kSub = 1ull << kSubBits;
  static constexpr unsigned kMaxBits = 40;                      // 2^40 ns ~ 18 minutes; larger values clamp
  static constexpr std::uint64_t kMaxValue = (1ull << kMaxBits) - 1;
  static constexpr std::size_t kBuckets = kSub * (kMaxBits - kSubBits + 1);  // index_of(kMaxValue) + 1

  void record(std::uint64_t v) {
    if (v > kMaxValue) v = kMaxValue;
    ++counts_[index_of(v)];
    ++total_;
    if (v > max_) max_ = v;
    if (v < min_) min_ = v;
  }
  void merge(const LatencyHistogram& o) {
    for (std::size_t i = 0; i < kBuckets; ++i) counts_[i] += o.counts_[i];
    total_ += o.total_;
    if (o.max_ > max_) max_ = o.max_;
    if (o.min_ < min_) min_ = o.min_;
  }
  void reset() { *this = LatencyHistogram{}; }

  std::uint64_t count() const { return total_; }
  std::uint64_t max() const { return total_ ? max_ : 0; }
  std::uint64_t min() const { return total_ ? min_ : 0; }

  // The value at percentile p (0..100]: the smallest recorded value v such that at least p % of
  // the values are <= v, reported as the top of its bucket (never above the maximum). 0 if empty.
  std::uint64_t percentile(double p) const {
    if (total_ == 0) return 0;
    auto target = static_cast<std::uint64_t>(static_cast<double>(total_) * p / 100.0 + 0.999999999);
    if (target < 1) target = 1;
    if (target > total_) target = total_;
    std::uint64_t seen = 0;
    for (std::size_t i = 0; i < kBuckets; ++i) {
      seen += counts_[i];
      if (seen >= target) {
        const std::uint64_t hi = highest_in(i);
        return hi < max_ ? hi : max_;
      }
    }
    return max_;
  }

  static std::size_t index_of(std::uint64_t v) {
    if (v < 2 * kSub) return static_cast<std::size_t>(v);
    const unsigned msb = 63u - static_cast<unsigned>(std::countl_zero(v));
    const unsigned shift = msb - kSubBits;
    return static_cast<std::size_t>(kSub * shift + (v >> shift));
  }
  static std::uint64_t lowest_in(std::size_t i) {
    if (i < 2 * kSub) return i;
    const std::uint64_t shift = i / kSub - 1;
    return (i - kSub * shift) << shift;
  }
  static std::uint64_t highest_in(std::size_t i) {
    if (i < 2 * kSub) return i;
    const std::uint64_t shift = i / kSub - 1;
    return ((i - kSub * shift + 1) << shift) - 1;
  }

private:
  std::array<std::uint64_t, kBuckets> counts_{};
  std::uint64_t total_ = 0;
  std::uint64_t max_ = 0;
  std::uint64_t min_ = ~0ull;
};

}  // namespace mop::loadgen
