#pragma once
// Payload: immutable, reference-counted bytes. A message body is copied once off the wire into a
// Payload and then shared by the store, every subscriber queue and every socket write. A large
// body is not even copied off the wire: the frame reader gives it a buffer of its own, and the
// Payload is a slice of that buffer (`share`), which lives as long as any Payload of it.
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <span>
#include <string>
#include <string_view>

namespace mop {

class Payload {
public:
  Payload() = default;
  static Payload copy_of(std::span<const std::uint8_t> bytes) {
    return adopt(std::string(reinterpret_cast<const char*>(bytes.data()), bytes.size()));
  }
  static Payload copy_of(std::string_view s) { return adopt(std::string(s)); }
  static Payload adopt(std::string&& s) {
    auto owner = std::make_shared<const std::string>(std::move(s));
    const std::string_view v(*owner);
    return Payload(std::move(owner), v);
  }
  // The bytes `part` of `owner` (which must lie inside *owner), without a copy: the Payload
  // keeps the whole of `owner` alive.
  static Payload share(std::shared_ptr<const std::string> owner, std::span<const std::uint8_t> part) {
    const std::string_view v(reinterpret_cast<const char*>(part.data()), part.size());
    return Payload(std::move(owner), v);
  }

  std::size_t size() const noexcept { return view_.size(); }
  bool empty() const noexcept { return view_.empty(); }
  const std::uint8_t* data() const noexcept { return reinterpret_cast<const std::uint8_t*>(view_.data()); }
  std::span<const std::uint8_t> bytes() const noexcept { return {data(), size()}; }
  std::string_view view() const noexcept { return view_; }
  friend bool operator==(const Payload& a, const Payload& b) { return a.view() == b.view(); }

private:
  Payload(std::shared_ptr<const std::string> owner, std::string_view v) : owner_(std::move(owner)), view_(v) {}
  std::shared_ptr<const std::string> owner_;
  std::string_view view_;
};

}  // namespace mop
