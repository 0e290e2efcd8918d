#pragma once
// SequenceChecker: what one subscriber received from each publisher. Every (publisher, sequence)
// is remembered in a bitset, so duplicates and holes are exact, however late or reordered a
// message arrives. A bitset costs 1 bit per message: 10 million messages are 1.25 MB.
//
// Owned by the subscriber's thread; read by the summary after that thread stopped.
#include <cstddef>
#include <cstdint>
#include <functional>
#include <vector>

namespace mop::loadgen {

class SequenceChecker {
public:
  enum class Outcome { fresh, duplicate, invalid };

  // Publisher numbers and sequences above these are not ours (a foreign or corrupt payload).
  static constexpr std::uint32_t kMaxPublishers = 1u << 20;
  static constexpr std::uint32_t kMaxSeq = 1u << 30;

  Outcome record(std::uint32_t publisher, std::uint32_t seq);

  std::uint64_t unique() const { return unique_; }
  std::uint64_t duplicates() const { return duplicates_; }
  // Messages that arrived after a higher sequence of the same publisher.
  std::uint64_t reordered() const { return reordered_; }
  std::uint64_t invalid() const { return invalid_; }

  bool seen(std::uint32_t publisher, std::uint32_t seq) const;
  // Sequences in [0, end) of `publisher` not received, skipping those for which `excused(seq)`
  // is true (QoS 1/2 messages still unacknowledged when publishing stopped).
  std::uint64_t missing(std::uint32_t publisher, std::uint32_t end,
                        const std::function<bool(std::uint32_t)>& excused = {}) const;
  // Holes below the highest sequence received from `publisher` (for `sub`, which does not know
  // how many were sent).
  std::uint64_t holes(std::uint32_t publisher) const;
  // Distinct sequences received from `publisher`.
  std::uint64_t received_from(std::uint32_t publisher) const;
  // Publishers heard from, in ascending order.
  std::vector<std::uint32_t> publishers() const;

private:
  struct Track {
    std::vector<std::uint64_t> bits;
    std::uint32_t max_seq = 0;
    bool any = false;
  };
  std::vector<Track> tracks_;
  std::uint64_t unique_ = 0, duplicates_ = 0, reordered_ = 0, invalid_ = 0;
};

}  // namespace mop::loadgen
