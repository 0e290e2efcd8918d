#pragma once
// PublishMeter: bytes of messages accepted for publishing and not yet stored, across every
// topic of a broker, with a high-water mark (Pulsar's maxMessagePublishBufferSizeInMB). When
// publishers outrun the storage, the meter tells its listener `true` once, and `false` once the
// buffer has drained to half the limit, so that listeners stop reading from client sockets in
// between (TCP flow control then pushes back on the publishers) instead of queueing the excess
// in memory. Owned by the broker's thread.
#include <cstddef>
#include <functional>

namespace mop::broker {

class PublishMeter {
public:
  using Listener = std::function<void(bool over)>;

  // limit 0: no limit, the listener is never called.
  void configure(std::size_t limit_bytes, Listener listener) {
    limit_ = limit_bytes;
    listener_ = std::move(listener);
  }

  void add(std::size_t bytes) {
    bytes_ += bytes;
    if (limit_ != 0 && !over_ && bytes_ > limit_) {
      over_ = true;
      if (listener_) listener_(true);
    }
  }

  void remove(std::size_t bytes) {
    bytes_ -= bytes < bytes_ ? bytes : bytes_;
    if (over_ && bytes_ <= limit_ / 2) {
      over_ = false;
      if (listener_) listener_(false);
    }
  }

  std::size_t bytes() const { return bytes_; }
  bool over() const { return over_; }

private:
  std::size_t limit_ = 0;
  std::size_t bytes_ = 0;
  bool over_ = false;
  Listener listener_;
};

}  // namespace mop::broker
