#pragma once
// Message ids and batch-index acknowledgement sets.
//
// A Pulsar message id is (ledger, entry) of the stored entry, plus the index inside a batched
// entry (-1 when the entry is not a batch or the id means the whole entry) and the partition of a
// partitioned topic (-1 otherwise, and not part of the position).
#include <compare>
#include <cstdint>
#include <limits>
#include <span>
#include <vector>

#include "pulsar/codec/proto/pulsar_api.pb.h"

namespace mop::pulsar {

struct MessageId {
  std::uint64_t ledger = 0;
  std::uint64_t entry = 0;
  std::int32_t batch_index = -1;
  std::int32_t partition = -1;

  // Position order: ledger, entry, batch index. The partition is not compared: ids of different
  // partitions are not ordered relative to each other, and callers compare within one partition.
  friend std::strong_ordering operator<=>(const MessageId& a, const MessageId& b) {
    if (auto c = a.ledger <=> b.ledger; c != 0) return c;
    if (auto c = a.entry <=> b.entry; c != 0) return c;
    return a.batch_index <=> b.batch_index;
  }
  friend bool operator==(const MessageId& a, const MessageId& b) { return (a <=> b) == 0; }
};

// The ids clients send for "the start" and "the end" of a topic (SUBSCRIBE start_message_id,
// SEEK, readers): Pulsar's MessageId.earliest is (-1, -1), latest is (INT64_MAX, INT64_MAX), both
// written as unsigned 64-bit values on the wire.
inline constexpr MessageId kEarliest{std::numeric_limits<std::uint64_t>::max(),
                                     std::numeric_limits<std::uint64_t>::max(), -1, -1};
inline constexpr MessageId kLatest{static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max()),
                                   static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max()), -1, -1};
inline bool is_earliest(const MessageId& id) { return id.ledger == kEarliest.ledger && id.entry == kEarliest.entry; }
inline bool is_latest(const MessageId& id) { return id.ledger == kLatest.ledger && id.entry == kLatest.entry; }

MessageId from_proto(const proto::MessageIdData& data);
// Writes ledger, entry, and batch_index / partition only when they are not -1 (what Pulsar sends:
// a client treats a present batch_index as "this is a batch message").
void to_proto(const MessageId& id, proto::MessageIdData& data);

// --- ack_set: a bit set of 64-bit words, bit i = word i / 64, bit i % 64 (Java BitSet order).
// A SET bit means message i of the batch is NOT yet acknowledged. Bits past the end are clear,
// i.e. acknowledged, as Java's BitSet reads them.

// A set in which messages 0 .. batch_size-1 are all unacknowledged.
std::vector<std::int64_t> ack_set_all_unacked(std::int32_t batch_size);
bool ack_set_is_acked(std::span<const std::int64_t> words, std::int32_t index);
// Marks message `index` acknowledged. Indexes past the words are already acknowledged.
void ack_set_mark_acked(std::vector<std::int64_t>& words, std::int32_t index);
// Merges an ack received from a client into the stored set: a message stays unacknowledged only if
// it is unacknowledged in both (bitwise AND, as Pulsar's broker does). Words missing from
// `received` count as all-acknowledged.
void ack_set_merge(std::vector<std::int64_t>& stored, std::span<const std::int64_t> received);
// Unacknowledged messages among 0 .. batch_size-1.
std::int32_t ack_set_unacked_count(std::span<const std::int64_t> words, std::int32_t batch_size);
inline bool ack_set_all_acked(std::span<const std::int64_t> words, std::int32_t batch_size) {
  return ack_set_unacked_count(words, batch_size) == 0;
}

// A repeated int64 field of a command (MessageIdData::ack_set, CommandMessage::ack_set) as a span.
inline std::span<const std::int64_t> words_of(const google::protobuf::RepeatedField<std::int64_t>& field) {
  return {field.data(), static_cast<std::size_t>(field.size())};
}

}  // namespace mop::pulsar
