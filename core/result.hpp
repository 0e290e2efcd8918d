#pragma once
// Result<T>: a value or a std::error_code, for the data plane where we do not throw.
// (std::expected is C++23; this is the small subset we need.)
#include <cassert>
#include <system_error>
#include <type_traits>
#include <utility>
#include <variant>

namespace mop {

template <typename T>
class [[nodiscard]] Result {
public:
  Result(T value) : v_(std::move(value)) {}                // NOLINT: implicit by design
  Result(std::error_code ec) : v_(ec) { assert(ec); }      // NOLINT
  template <typename E, typename = std::enable_if_t<std::is_error_code_enum_v<E>>>
  Result(E e) : Result(std::error_code(make_error_code(e))) {}  // NOLINT

  bool ok() const noexcept { return v_.index() == 0; }
  explicit operator bool() const noexcept { return ok(); }
  T& value() & { assert(ok()); return std::get<0>(v_); }
  const T& value() const& { assert(ok()); return std::get<0>(v_); }
  T&& value() && { assert(ok()); return std::get<0>(std::move(v_)); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  std::error_code error() const noexcept { return ok() ? std::error_code{} : std::get<1>(v_); }

private:
  std::variant<T, std::error_code> v_;
};

// Result<void> is spelled Status: an error_code where "no error" means success.
using Status = std::error_code;

}  // namespace mop
