#pragma once
// Clock: injected so that keep-alive, expiry and will-delay logic is tested without sleeping.
#include <chrono>
#include <cstdint>

namespace mop {

using TimePoint = std::chrono::steady_clock::time_point;

class Clock {
public:
  virtual ~Clock() = default;
  virtual TimePoint now() const = 0;
  // Wall-clock milliseconds since the epoch, for message publish times.
  virtual std::uint64_t wall_ms() const = 0;
};

class SystemClock final : public Clock {
public:
  TimePoint now() const override { return std::chrono::steady_clock::now(); }
  std::uint64_t wall_ms() const override {
    return static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                          std::chrono::system_clock::now().time_since_epoch())
                                          .count());
  }
};

class ManualClock final : public Clock {
public:
  TimePoint now() const override { return now_; }
  std::uint64_t wall_ms() const override {
    return 1'700'000'000'000ULL +
           static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::milliseconds>(now_.time_since_epoch()).count());
  }
  void advance(std::chrono::milliseconds d) { now_ += d; }

private:
  TimePoint now_{};
};

}  // namespace mop
