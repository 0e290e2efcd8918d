// Periodic: a task run every `period` on an io_context until stop(), for the periodic work of
// `mop standalone` and `mop proxy` (rates, expiry, $SYS topics, topic polls, takeovers).
//
// stop() is more than the timer's cancel(): a tick whose timer had already expired when the
// shutdown began is queued with success, cancel() cannot take it back, and a handler that
// re-armed itself then kept io_context::run() from ever returning (`mop standalone` did not exit
// on SIGTERM when the 10 s expiry tick fell inside a slow shutdown). A stopped Periodic neither
// runs its task nor arms again.
//
// Threading: the io_context's thread; the object must outlive the io_context's run.
#pragma once

#include <chrono>
#include <functional>

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>

namespace mop::app {

class Periodic {
public:
  enum class First { after_period, now };

  // `first`: whether the task runs once at construction too (now) or first after one period.
  Periodic(boost::asio::io_context& io, std::chrono::steady_clock::duration period, std::function<void()> task,
           First first = First::after_period);
  Periodic(const Periodic&) = delete;
  Periodic& operator=(const Periodic&) = delete;

  void stop();

private:
  void arm();

  boost::asio::steady_timer timer_;
  std::chrono::steady_clock::duration period_;
  std::function<void()> task_;
  bool stopped_ = false;
};

}  // namespace mop::app
