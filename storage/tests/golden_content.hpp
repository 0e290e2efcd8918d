#pragma once
// The known content of the golden v1 store: written by storage_golden_generator, checked by
// golden_test against the checked-in copy. Changing it means regenerating the golden store,
// which is only allowed together with a new format version (the old golden must still read).
#include <string>

#include "core/executor.hpp"
#include "storage/store.hpp"

namespace mop::storage::golden {

// The content of golden stores of format `version` (1 or 2): format 2 adds, on top of the format
// 1 content, a topic of Pulsar batch entries, a cursor with partly acknowledged batches and a
// session with in-flight batch indexes.
// Queues the content (topic records are created synchronously); the caller flushes.
void write(Store& store, Executor& executor, int version = 2);
// "" when `store` holds exactly the golden content, else a description of the first difference.
std::string check(const Store& store, int version = 2);

}  // namespace mop::storage::golden
