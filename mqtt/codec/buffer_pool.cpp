#include "mqtt/codec/buffer_pool.hpp"

#include <algorithm>
#include <iterator>

namespace mop::mqtt {

std::shared_ptr<std::string> BufferPool::take(std::size_t reserve, Clock::time_point now) {
  Buffers drop;
  std::unique_ptr<std::string> buffer;
  {
    std::lock_guard lock(mutex_);
    trim_locked(now, drop);
    if (!free_.empty()) {
      buffer = std::move(free_.back());
      free_.pop_back();
      bytes_ -= buffer->capacity();
      low_water_ = std::min(low_water_, free_.size());
    }
  }
  if (!buffer) buffer = std::make_unique<std::string>();
  buffer->reserve(reserve);
  return std::shared_ptr<std::string>(buffer.release(), [this](std::string* b) { give_back(b); });
}

void BufferPool::give_back(std::string* raw) {
  std::unique_ptr<std::string> buffer(raw);
  if (buffer->capacity() > limits_.max_capacity) return;
  buffer->clear();
  std::lock_guard lock(mutex_);
  if (bytes_ + buffer->capacity() > limits_.max_bytes) return;
  bytes_ += buffer->capacity();
  free_.push_back(std::move(buffer));
}

void BufferPool::trim(Clock::time_point now) {
  Buffers drop;
  std::lock_guard lock(mutex_);
  trim_locked(now, drop);
}

void BufferPool::trim_locked(Clock::time_point now, Buffers& drop) {
  if (now - window_start_ < limits_.trim_every) return;
  // The front of free_ holds the buffers given back longest ago: those stayed unused.
  const auto unused = static_cast<std::ptrdiff_t>(std::min(low_water_, free_.size()));
  for (auto it = free_.begin(); it != free_.begin() + unused; ++it) bytes_ -= (*it)->capacity();
  drop.insert(drop.end(), std::make_move_iterator(free_.begin()), std::make_move_iterator(free_.begin() + unused));
  free_.erase(free_.begin(), free_.begin() + unused);
  window_start_ = now;
  low_water_ = free_.size();
}

std::size_t BufferPool::pooled_buffers() const {
  std::lock_guard lock(mutex_);
  return free_.size();
}

std::size_t BufferPool::pooled_bytes() const {
  std::lock_guard lock(mutex_);
  return bytes_;
}

BufferPool& BufferPool::large_frames() {
  // Never destroyed: frames' buffers may be let go during static destruction.
  static auto* pool = new BufferPool(Limits{32 * 1024 * 1024, 1024 * 1024, std::chrono::seconds(5)});
  return *pool;
}

}  // namespace mop::mqtt
