#pragma once
// Errors of the storage layer: a std::error_code in the `storage` category (what callers branch
// on) plus a message naming what failed: the column family, the key and the store's path, so
// that an operator can find the damaged record (mop::Error, core/result.hpp). No exceptions on
// the data plane: RocksDB's Status is converted to a StorageErrc at the boundary, never matched
// by its text. Plain values; usable on any thread.
#include <string>
#include <system_error>
#include <type_traits>

#include "core/result.hpp"

namespace mop::storage {

enum class StorageErrc {
  io_error = 1,      // the disk said no (EIO, permission, ...): retry may succeed
  no_space,          // disk full: retry once space returns
  corruption,        // a record or file cannot be decoded / fails its checksum
  newer_format,      // written by a newer mop: refused rather than misread
  missing_record,    // a record another one refers to is absent (a torn or partial store)
  invalid_argument,  // a caller's mistake (bad name, bad position)
  closed,            // the store was closed or failed to open
  locked,            // another RocksStore (this process or another) has the store open for writing
};

const std::error_category& storage_category() noexcept;
inline std::error_code make_error_code(StorageErrc e) noexcept { return {static_cast<int>(e), storage_category()}; }

// An error code and a message naming the column family, the key and the store's path: the E of
// every storage Result (Result<T, Error>, Result<void, Error> for success or failure).
using Error = mop::Error;

}  // namespace mop::storage

template <>
struct std::is_error_code_enum<mop::storage::StorageErrc> : std::true_type {};
