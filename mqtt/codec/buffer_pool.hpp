#pragma once

#include <chrono>
#include <cstddef>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace mop::mqtt {

// Buffers handed out for one use each and taken back when the last owner lets go, on whatever
// thread that is, to be handed out again. FrameReader collects each large frame in one of these
// (large_frames()): at 64 KiB PUBLISHes a fresh buffer was fresh memory to the kernel for about a
// third of its pages (page faults and page clearing, 5 to 9 % of the broker's CPU; the allocator's
// own reuse did not avoid them), a buffer used before is not.
//
// The pool keeps at most `max_bytes` of capacity, never a buffer grown beyond `max_capacity`, and
// gives memory back as traffic ebbs: at each trim (take(), and trim() from a periodic timer) once
// `trim_every` has passed, the buffers that stayed unused for that whole interval (the fewest the
// pool held at any point of it) are freed.
class BufferPool {
public:
  using Clock = std::chrono::steady_clock;
  struct Limits {
    std::size_t max_bytes;
    std::size_t max_capacity;
    Clock::duration trim_every;
  };

  explicit BufferPool(Limits limits) : limits_(limits) {}
  BufferPool(const BufferPool&) = delete;
  BufferPool& operator=(const BufferPool&) = delete;
  // Every buffer handed out must be gone first (large_frames() is never destroyed).
  ~BufferPool() = default;

  // An empty buffer with at least `reserve` bytes of capacity, a pooled one when there is one.
  std::shared_ptr<std::string> take(std::size_t reserve, Clock::time_point now = Clock::now());
  // Frees the buffers unused since the last trim, when `trim_every` has passed since then.
  void trim(Clock::time_point now = Clock::now());

  std::size_t pooled_buffers() const;
  std::size_t pooled_bytes() const;

  // FrameReader's pool of large frames' buffers: 32 MiB, buffers up to 1 MiB, trimmed every 5 s.
  static BufferPool& large_frames();

private:
  using Buffers = std::vector<std::unique_ptr<std::string>>;
  void give_back(std::string* buffer);
  // Moves the buffers to free into `drop`, so they are freed after the lock is released.
  void trim_locked(Clock::time_point now, Buffers& drop);

  const Limits limits_;
  mutable std::mutex mutex_;
  Buffers free_;  // the most recently given back last; take() takes from the back
  std::size_t bytes_ = 0;
  std::size_t low_water_ = 0;  // the fewest buffers in free_ since window_start_
  Clock::time_point window_start_{};
};

}  // namespace mop::mqtt
