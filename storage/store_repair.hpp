#pragma once
// Store repair (`mop store check --repair`): removes or resets the records that stop a store
// from opening or restoring, where that loses nothing that was acknowledged, or only what the
// damage already destroyed, and says exactly what it changed:
//  - an undecodable cursor is deleted: the subscription restarts at the start of its log, so
//    its messages are delivered again (redelivery, not loss);
//  - an undecodable retained message, will, MQTT session, schema or producer sequence (Pulsar
//    deduplication state) is deleted, and named;
//  - an undecodable subscription record is rewritten as a durable Shared subscription;
//  - records of a topic id without a topic record (subscriptions, cursors, log floors) and
//    cursors without a subscription are deleted;
//  - a log whose tail is undecodable is truncated to its last sound contiguous entry, and the
//    cursors of that topic forget acknowledgements at or above the new end (the entry ids are
//    handed out again, to new messages).
// It refuses, changing nothing at all, when repairing would drop sound data: an undecodable
// entry or a gap followed by sound entries, log entries of an unknown topic, an undecodable
// topic record, format version or partition count, damaged RocksDB table files (RocksDB's own checks fail).
// Plain function on a RocksStore opened with Options::repair (read-write: mop must not run).
#include <string>
#include <vector>

#include "storage/rocks_store.hpp"

namespace mop::storage {

struct RepairReport {
  std::vector<std::string> changes;  // what was (or, when refused, would have been) changed
  std::vector<std::string> refused;  // why nothing was changed
  bool applied = false;              // the changes were written
};

RepairReport repair_store(RocksStore& store);

}  // namespace mop::storage
