#pragma once
// Cursor: a subscription's position in its topic's ledger, with Pulsar ManagedCursor's
// semantics: every entry below ack_floor() is acknowledged (Pulsar's mark-delete position is
// the entry just before it), entries at or above it may be acknowledged individually, and
// contiguous acknowledgements advance the floor. The read position is where the next entry
// not yet dispatched is. A batch entry (several messages) can be acknowledged message by message
// (Pulsar's batch-index acks): the cursor keeps the indexes acknowledged so far per entry and
// acknowledges the entry once all are. What is persisted is (floor, individually acknowledged
// set, partly acknowledged batches). Owned by its Subscription's thread.
#include <cassert>
#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <vector>

#include "broker/ledger.hpp"

namespace mop::broker {

class Cursor {
public:
  // A cursor with nothing acknowledged at or after `start`, reading from `start`.
  explicit Cursor(MessageId start) : floor_(normalize(start)), read_(floor_) {}
  // A cursor restored from storage: `floor` plus the entries of `acked` above it (those right
  // at the floor advance it); reads from the floor, skipping what is acknowledged.
  Cursor(MessageId floor, const std::set<MessageId>& acked);

  // Bitmap of acknowledged batch indexes (index i: bit i%64 of word i/64).
  using BatchBits = std::vector<std::uint64_t>;

  MessageId ack_floor() const { return floor_; }
  // Pulsar's markDeletePosition: the last entry of the acknowledged prefix, if there is one.
  std::optional<MessageId> mark_delete_position() const;
  MessageId read_position() const { return read_; }
  // Reading moves forward only: never behind the ack floor (what is below it is acknowledged).
  void set_read_position(MessageId id) {
    read_ = normalize(id);
    assert(!(read_ < floor_) && "a cursor read position behind its mark-delete position");
  }
  const std::set<MessageId>& individually_acked() const { return acked_; }

  bool is_acked(MessageId id) const;
  // Acknowledges one entry. Returns true if the floor moved (entries may now be trimmed).
  bool ack(MessageId id);
  // Acknowledges the messages of the batch entry `entry` (of `count` messages) whose bits are
  // set in `indexes`; the entry itself once every index is. Returns true if the floor moved.
  bool ack_indexes(MessageId entry, std::uint32_t count, const BatchBits& indexes);
  // The acknowledged indexes of a partly acknowledged batch entry, nullptr if there are none.
  const BatchBits* batch_acked(MessageId entry) const;
  const std::map<MessageId, BatchBits>& partly_acked() const { return batch_acked_; }

private:
  // Cursors work on entries: a batch index does not take part in positions.
  static MessageId normalize(MessageId id) { return {id.ledger, id.entry, -1}; }

  MessageId floor_;
  MessageId read_;
  std::set<MessageId> acked_;  // every element >= floor_
  // Batch entries >= floor_, not in acked_, with some (not all) indexes acknowledged.
  std::map<MessageId, BatchBits> batch_acked_;
};

}  // namespace mop::broker
