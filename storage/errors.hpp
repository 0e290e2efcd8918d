#pragma once
// Errors of the storage layer: a std::error_code in the `storage` category (what callers branch
// on) plus a message naming what failed: the column family, the key and the store's path, so
// that an operator can find the damaged record. No exceptions on the data plane: RocksDB's
// Status is converted at the boundary. Plain values; usable on any thread.
#include <cassert>
#include <optional>
#include <string>
#include <system_error>
#include <type_traits>
#include <utility>

namespace mop::storage {

enum class StorageErrc {
  io_error = 1,      // the disk said no (EIO, permission, ...): retry may succeed
  no_space,          // disk full: retry once space returns
  corruption,        // a record or file cannot be decoded / fails its checksum
  newer_format,      // written by a newer mop: refused rather than misread
  missing_record,    // a record another one refers to is absent (a torn or partial store)
  invalid_argument,  // a caller's mistake (bad name, bad position)
  closed,            // the store was closed or failed to open
};

const std::error_category& storage_category() noexcept;
inline std::error_code make_error_code(StorageErrc e) noexcept { return {static_cast<int>(e), storage_category()}; }

// An error code and a human message. Default-constructed means success.
struct Error {
  std::error_code code;
  std::string message;

  Error() = default;
  Error(std::error_code c, std::string m) : code(c), message(std::move(m)) {}
  Error(StorageErrc c, std::string m) : code(make_error_code(c)), message(std::move(m)) {}

  bool ok() const noexcept { return !code; }
  explicit operator bool() const noexcept { return static_cast<bool>(code); }  // true on error
  // "corruption: <message>", for logs and test output.
  std::string to_string() const;
};

// A value or an Error (std::expected is C++23).
template <typename T>
class [[nodiscard]] Expected {
public:
  Expected(T value) : value_(std::move(value)) {}  // NOLINT: implicit by design
  Expected(Error error) : error_(std::move(error)) { assert(error_.code); }  // NOLINT

  bool ok() const noexcept { return value_.has_value(); }
  explicit operator bool() const noexcept { return ok(); }
  T& value() & { assert(ok()); return *value_; }
  const T& value() const& { assert(ok()); return *value_; }
  T&& value() && { assert(ok()); return std::move(*value_); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  const Error& error() const noexcept { return error_; }

private:
  std::optional<T> value_;
  Error error_;
};

}  // namespace mop::storage

template <>
struct std::is_error_code_enum<mop::storage::StorageErrc> : std::true_type {};
