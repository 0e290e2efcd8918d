#pragma once
// The one error style of mop: a function that can fail returns Result<T, E>, a T or an E, and
// the caller asks `ok()`. Result<void, E> is success or an E. There is no truthiness: a Result
// does not convert to bool, so `if (r)` cannot mean "ok" in one place and "failed" in another
// (core/README.md says why). The data plane does not throw. (std::expected is C++23; this is
// the small subset we need.)
//
// E is std::error_code by default (what callers branch on, e.g. CodecError, ServiceError); where
// a human also needs to know which file, key or record failed, E is mop::Error (a code and a
// message); where there is only a message for a person (a bad configuration value), E is
// std::string.
#include <cassert>
#include <concepts>
#include <optional>
#include <string>
#include <system_error>
#include <type_traits>
#include <utility>
#include <variant>

namespace mop {

// An error code and a message naming what failed (the column family, the key and the store's
// path; the file that could not be read). Always an error: success is Result<void, Error>.
struct Error {
  std::error_code code;
  std::string message;

  Error(std::error_code c, std::string m) : code(c), message(std::move(m)) { assert(code); }
  template <typename X>
    requires std::is_error_code_enum_v<X>
  Error(X c, std::string m) : Error(make_error_code(c), std::move(m)) {}

  // "corrupt store: <message>", for logs and test output.
  std::string to_string() const { return code.message() + ": " + message; }
};

// `return fail(e);` makes the error of any Result<T, E> whose E can be built from e; needed
// only where the error would otherwise be taken for a T.
template <typename G>
struct Failure {
  G error;
};
template <typename G>
Failure<std::decay_t<G>> fail(G&& error) {
  return {std::forward<G>(error)};
}

namespace detail {
template <typename E>
bool is_error(const E& e) {
  if constexpr (std::is_same_v<E, std::error_code>) return static_cast<bool>(e);
  else if constexpr (std::is_same_v<E, Error>) return static_cast<bool>(e.code);
  else return true;
}
// An enum like CodecError or StorageErrc, when E is std::error_code: `return CodecError::x;`.
template <typename X, typename E>
concept ErrcFor = std::is_error_code_enum_v<X> && std::is_same_v<E, std::error_code>;
}  // namespace detail

template <typename T, typename E = std::error_code>
class [[nodiscard]] Result {
  static_assert(!std::is_same_v<T, E>, "a Result's value and error types must differ");

public:
  Result(T value) : v_(std::in_place_index<0>, std::move(value)) {}                      // NOLINT: implicit by design
  Result(E error) : v_(std::in_place_index<1>, std::move(error)) { assert(detail::is_error(std::get<1>(v_))); }  // NOLINT
  // The error from anything E is made of (a string literal for E = std::string), unless a T
  // can be made of it too.
  template <typename G>
    requires(!std::is_same_v<std::decay_t<G>, Result> && !std::is_same_v<std::decay_t<G>, E> &&
             !std::is_error_code_enum_v<std::decay_t<G>> && std::is_constructible_v<E, G &&> &&
             !std::is_constructible_v<T, G &&>)
  Result(G&& error) : Result(E(std::forward<G>(error))) {}  // NOLINT
  template <typename X>
    requires detail::ErrcFor<X, E>
  Result(X e) : Result(E(make_error_code(e))) {}  // NOLINT
  template <typename G>
  Result(Failure<G> f) : Result(E(std::move(f.error))) {}  // NOLINT

  bool ok() const noexcept { return v_.index() == 0; }
  T& value() & { assert(ok()); return std::get<0>(v_); }
  const T& value() const& { assert(ok()); return std::get<0>(v_); }
  T&& value() && { assert(ok()); return std::get<0>(std::move(v_)); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  const E& error() const& { assert(!ok()); return std::get<1>(v_); }
  E&& error() && { assert(!ok()); return std::get<1>(std::move(v_)); }

private:
  std::variant<T, E> v_;
};

template <typename E>
class [[nodiscard]] Result<void, E> {
public:
  Result() = default;  // success
  Result(E error) : error_(std::move(error)) { assert(detail::is_error(*error_)); }  // NOLINT
  template <typename G>
    requires(!std::is_same_v<std::decay_t<G>, Result> && !std::is_same_v<std::decay_t<G>, E> &&
             !std::is_error_code_enum_v<std::decay_t<G>> && std::is_constructible_v<E, G &&>)
  Result(G&& error) : Result(E(std::forward<G>(error))) {}  // NOLINT
  template <typename X>
    requires detail::ErrcFor<X, E>
  Result(X e) : Result(E(make_error_code(e))) {}  // NOLINT
  template <typename G>
  Result(Failure<G> f) : Result(E(std::move(f.error))) {}  // NOLINT

  bool ok() const noexcept { return !error_.has_value(); }
  const E& error() const& { assert(!ok()); return *error_; }
  E&& error() && { assert(!ok()); return std::move(*error_); }

private:
  std::optional<E> error_;  // E need not be default-constructible (mop::Error is not)
};

// `r == CodecError::x`: r failed with that code (tests and branches on one code read simply).
template <typename T, typename X>
  requires std::is_error_code_enum_v<X>
bool operator==(const Result<T, std::error_code>& r, X e) {
  return !r.ok() && r.error() == e;
}

}  // namespace mop
