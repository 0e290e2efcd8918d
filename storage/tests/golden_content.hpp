#pragma once
// The known content of the golden v1 store: written by storage_golden_generator, checked by
// golden_test against the checked-in copy. Changing it means regenerating the golden store,
// which is only allowed together with a new format version (the old golden must still read).
#include <string>

#include "core/executor.hpp"
#include "storage/store.hpp"

namespace mop::storage::golden {

// Queues the content (one topic record is created synchronously); the caller flushes.
void write(Store& store, Executor& executor);
// "" when `store` holds exactly the golden content, else a description of the first difference.
std::string check(const Store& store);

}  // namespace mop::storage::golden
