#include "loadgen/sequence_checker.hpp"

#include <bit>

namespace mop::loadgen {

SequenceChecker::Outcome SequenceChecker::record(std::uint32_t publisher, std::uint32_t seq) {
  if (publisher >= kMaxPublishers || seq >= kMaxSeq) {
    ++invalid_;
    return Outcome::invalid;
  }
  if (publisher >= tracks_.size()) tracks_.resize(publisher + 1);
  Track& t = tracks_[publisher];
  const std::size_t word = seq / 64;
  if (word >= t.bits.size()) {
    // Doubling keeps the number of reallocations logarithmic in the run length.
    std::size_t n = t.bits.empty() ? 1024 : t.bits.size();
    while (n <= word) n *= 2;
    t.bits.resize(n, 0);
  }
  const std::uint64_t mask = 1ull << (seq % 64);
  if (t.bits[word] & mask) {
    ++duplicates_;
    return Outcome::duplicate;
  }
  t.bits[word] |= mask;
  ++unique_;
  if (t.any && seq < t.max_seq) ++reordered_;
  if (!t.any || seq > t.max_seq) t.max_seq = seq;
  t.any = true;
  return Outcome::fresh;
}

bool SequenceChecker::seen(std::uint32_t publisher, std::uint32_t seq) const {
  if (publisher >= tracks_.size()) return false;
  const Track& t = tracks_[publisher];
  const std::size_t word = seq / 64;
  return word < t.bits.size() && (t.bits[word] >> (seq % 64)) & 1;
}

std::uint64_t SequenceChecker::missing(std::uint32_t publisher, std::uint32_t end,
                                       const std::function<bool(std::uint32_t)>& excused) const {
  std::uint64_t n = 0;
  if (!excused) {
    // Count whole words at a time: this runs over every message of the run.
    const Track* t = publisher < tracks_.size() ? &tracks_[publisher] : nullptr;
    std::uint64_t have = 0;
    const std::size_t full = end / 64;
    for (std::size_t w = 0; t && w < full && w < t->bits.size(); ++w) have += std::popcount(t->bits[w]);
    for (std::uint32_t s = static_cast<std::uint32_t>(full * 64); s < end; ++s) have += seen(publisher, s);
    return end - have;
  }
  for (std::uint32_t s = 0; s < end; ++s) {
    if (!seen(publisher, s) && !excused(s)) ++n;
  }
  return n;
}

std::uint64_t SequenceChecker::holes(std::uint32_t publisher) const {
  if (publisher >= tracks_.size() || !tracks_[publisher].any) return 0;
  return missing(publisher, tracks_[publisher].max_seq + 1);
}

std::uint64_t SequenceChecker::received_from(std::uint32_t publisher) const {
  if (publisher >= tracks_.size()) return 0;
  std::uint64_t n = 0;
  for (auto w : tracks_[publisher].bits) n += std::popcount(w);
  return n;
}

std::vector<std::uint32_t> SequenceChecker::publishers() const {
  std::vector<std::uint32_t> out;
  for (std::uint32_t i = 0; i < tracks_.size(); ++i) {
    if (tracks_[i].any) out.push_back(i);
  }
  return out;
}

}  // namespace mop::loadgen
