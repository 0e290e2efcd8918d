#include "storage/errors.hpp"

namespace mop::storage {

namespace {
class Category final : public std::error_category {
public:
  const char* name() const noexcept override { return "storage"; }
  std::string message(int c) const override {
    switch (static_cast<StorageErrc>(c)) {
      case StorageErrc::io_error: return "I/O error";
      case StorageErrc::no_space: return "no space left on device";
      case StorageErrc::corruption: return "corrupt store";
      case StorageErrc::newer_format: return "store written by a newer format version";
      case StorageErrc::missing_record: return "missing referenced record";
      case StorageErrc::invalid_argument: return "invalid argument";
      case StorageErrc::closed: return "store closed";
      case StorageErrc::locked: return "store in use by another process";
    }
    return "unknown storage error";
  }
  // So that layers above storage (the MQTT server answering a failed publish) can tell a full
  // disk or an I/O error without depending on this category.
  std::error_condition default_error_condition(int c) const noexcept override {
    switch (static_cast<StorageErrc>(c)) {
      case StorageErrc::io_error: return std::errc::io_error;
      case StorageErrc::no_space: return std::errc::no_space_on_device;
      default: return {c, *this};
    }
  }
};
}  // namespace

const std::error_category& storage_category() noexcept {
  static const Category c;
  return c;
}

}  // namespace mop::storage
