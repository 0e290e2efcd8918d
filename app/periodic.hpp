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
#include <list>

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

// The periodic tasks of one mode, stopped together. A Periodic left running keeps
// io_context::run() from returning, so a mode starts each of its tasks here and its shutdown
// calls stop_all() once, instead of naming each timer (a timer added without its stop() kept
// `mop standalone` from exiting on SIGTERM: found by hand, 7 Dec 2026).
class Periodics {
public:
  explicit Periodics(boost::asio::io_context& io) : io_(io) {}
  Periodics(const Periodics&) = delete;
  Periodics& operator=(const Periodics&) = delete;

  // Runs `task` every `period` until stop_all() (not at all when that already happened).
  void every(std::chrono::steady_clock::duration period, std::function<void()> task,
             Periodic::First first = Periodic::First::after_period);
  void stop_all();

private:
  boost::asio::io_context& io_;
  std::list<Periodic> timers_;  // stable addresses: a Periodic's handler refers to it
  bool stopped_ = false;
};

}  // namespace mop::app
