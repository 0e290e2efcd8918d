#pragma once
// Payload: an immutable, reference-counted byte buffer. A message body is copied once off the
// wire into a Payload and then shared by the store, every subscriber queue and every socket write.
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
    return Payload(std::make_shared<const std::string>(reinterpret_cast<const char*>(bytes.data()), bytes.size()));
  }
  static Payload copy_of(std::string_view s) { return Payload(std::make_shared<const std::string>(s)); }
  static Payload adopt(std::string&& s) { return Payload(std::make_shared<const std::string>(std::move(s))); }

  std::size_t size() const noexcept { return data_ ? data_->size() : 0; }
  bool empty() const noexcept { return size() == 0; }
  const std::uint8_t* data() const noexcept {
    return data_ ? reinterpret_cast<const std::uint8_t*>(data_->data()) : nullptr;
  }
  std::span<const std::uint8_t> bytes() const noexcept { return {data(), size()}; }
  std::string_view view() const noexcept { return data_ ? std::string_view(*data_) : std::string_view{}; }
  friend bool operator==(const Payload& a, const Payload& b) { return a.view() == b.view(); }

private:
  explicit Payload(std::shared_ptr<const std::string> d) : data_(std::move(d)) {}
  std::shared_ptr<const std::string> data_;
};

}  // namespace mop
