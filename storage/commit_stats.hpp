#pragma once
// CommitStats: what the store's group commits look like, for /metrics: how many log entries each
// group commit carried (its batch size) and how long its write took (the sync, with
// journalSyncData). Recorded by the storage thread once per group commit, read by whoever scrapes:
// every counter is a relaxed atomic of its own (one increment per bucket hit, no lock, nothing per
// message), so a reader may see a group's bucket before its sum; Prometheus tolerates that, and a
// quiet store reads exactly.
#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <vector>

namespace mop::storage {

// A histogram with fixed upper bounds (ascending); observations above the last go to +Inf only.
template <std::size_t N>
class AtomicHistogram {
public:
  explicit constexpr AtomicHistogram(std::array<double, N> bounds) : bounds_(bounds) {}

  void observe(double value) {
    std::size_t i = 0;
    while (i < N && value > bounds_[i]) ++i;
    counts_[i].fetch_add(1, std::memory_order_relaxed);
    // Fixed point (millionths), so the sum is one integer add too.
    sum_micros_.fetch_add(static_cast<std::uint64_t>(value * 1e6 + 0.5), std::memory_order_relaxed);
  }

  struct Snapshot {
    std::vector<double> bounds;
    std::vector<std::uint64_t> cumulative;  // per bound, then +Inf (the count)
    double sum = 0;
    std::uint64_t count() const { return cumulative.empty() ? 0 : cumulative.back(); }
  };
  Snapshot snapshot() const {
    Snapshot s;
    s.bounds.assign(bounds_.begin(), bounds_.end());
    std::uint64_t total = 0;
    for (const auto& c : counts_) {
      total += c.load(std::memory_order_relaxed);
      s.cumulative.push_back(total);
    }
    s.sum = static_cast<double>(sum_micros_.load(std::memory_order_relaxed)) / 1e6;
    return s;
  }

private:
  std::array<double, N> bounds_;
  std::array<std::atomic<std::uint64_t>, N + 1> counts_{};
  std::atomic<std::uint64_t> sum_micros_{0};
};

struct CommitStats {
  // Log entries appended per group commit (one observation per successful group commit).
  AtomicHistogram<12> entries{{0, 1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024}};
  // Seconds each group commit's write (with its fsync when journalSyncData) took.
  AtomicHistogram<14> sync_seconds{
      {0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1}};
  // MQTT session record writes (puts and deletes) of the successful group commits: those that
  // went into the batch, and those a later write of the same session in the same group made
  // unnecessary (RocksStore writes each session once per group, its last write).
  std::atomic<std::uint64_t> session_writes_stored{0};
  std::atomic<std::uint64_t> session_writes_superseded{0};
};

// The WAL written over zeroed space (journalPreAllocSizeMB, zeroed_wal.hpp): whether the zeroing
// keeps ahead of the appends. Relaxed atomics, written by the WAL's threads, read by /metrics.
struct WalZeroStats {
  std::atomic<std::uint64_t> files{0};         // WAL files written over zeroed space
  std::atomic<std::uint64_t> zeroed_bytes{0};  // zeros written (and synced) ahead of appends
  std::atomic<std::uint64_t> unzeroed_bytes{0};  // appended past the zeroed space (it did not keep up)
  std::atomic<std::uint64_t> waits{0};         // appends that waited for a chunk being zeroed
};

}  // namespace mop::storage
