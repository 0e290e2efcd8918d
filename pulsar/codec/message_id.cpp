#include "pulsar/codec/message_id.hpp"

#include <bit>

namespace mop::pulsar {
namespace {

// Bits are handled as unsigned words: shifting into the sign bit of an int64 is where bit-set
// code usually goes wrong.
std::uint64_t word(std::int64_t w) { return static_cast<std::uint64_t>(w); }

}  // namespace

MessageId from_proto(const proto::MessageIdData& data) {
  return MessageId{data.ledgerid(), data.entryid(), data.batch_index(), data.partition()};
}

void to_proto(const MessageId& id, proto::MessageIdData& data) {
  data.set_ledgerid(id.ledger);
  data.set_entryid(id.entry);
  if (id.batch_index >= 0) {
    data.set_batch_index(id.batch_index);
  } else {
    data.clear_batch_index();
  }
  if (id.partition >= 0) {
    data.set_partition(id.partition);
  } else {
    data.clear_partition();
  }
}

std::vector<std::int64_t> ack_set_all_unacked(std::int32_t batch_size) {
  if (batch_size <= 0) return {};
  const std::size_t n = static_cast<std::size_t>(batch_size);
  std::vector<std::int64_t> words((n + 63) / 64, -1);  // all ones
  if (const std::size_t tail = n % 64; tail != 0) {
    words.back() = static_cast<std::int64_t>((std::uint64_t{1} << tail) - 1);
  }
  return words;
}

bool ack_set_is_acked(std::span<const std::int64_t> words, std::int32_t index) {
  if (index < 0) return false;
  const std::size_t i = static_cast<std::size_t>(index);
  if (i / 64 >= words.size()) return true;
  return (word(words[i / 64]) >> (i % 64) & 1) == 0;
}

void ack_set_mark_acked(std::vector<std::int64_t>& words, std::int32_t index) {
  if (index < 0) return;
  const std::size_t i = static_cast<std::size_t>(index);
  if (i / 64 >= words.size()) return;
  words[i / 64] = static_cast<std::int64_t>(word(words[i / 64]) & ~(std::uint64_t{1} << (i % 64)));
}

void ack_set_merge(std::vector<std::int64_t>& stored, std::span<const std::int64_t> received) {
  for (std::size_t i = 0; i < stored.size(); ++i) {
    const std::uint64_t other = i < received.size() ? word(received[i]) : 0;
    stored[i] = static_cast<std::int64_t>(word(stored[i]) & other);
  }
}

std::int32_t ack_set_unacked_count(std::span<const std::int64_t> words, std::int32_t batch_size) {
  if (batch_size <= 0) return 0;
  const std::size_t n = static_cast<std::size_t>(batch_size);
  std::int32_t count = 0;
  for (std::size_t w = 0; w < words.size() && w * 64 < n; ++w) {
    std::uint64_t bits = word(words[w]);
    if (const std::size_t valid = n - w * 64; valid < 64) bits &= (std::uint64_t{1} << valid) - 1;
    count += std::popcount(bits);
  }
  return count;
}

}  // namespace mop::pulsar
