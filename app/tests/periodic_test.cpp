// Periodic: runs its task every period until stop(), and a stop() that comes when the timer has
// already expired (here: from inside the task) leaves no tick behind to keep io_context::run()
// going, which the bare timer's cancel() did.
#include "app/periodic.hpp"

#include <thread>

#include <boost/asio/post.hpp>
#include <gtest/gtest.h>

namespace mop::app {
namespace {

using namespace std::chrono_literals;

TEST(Periodic, StopFromATickThatIsAlreadyRunningEndsTheRun) {
  boost::asio::io_context io;
  int ticks = 0;
  Periodic* self = nullptr;
  Periodic p(io, 1ms, [&] {
    if (++ticks == 3) self->stop();
  });
  self = &p;
  io.run_for(5s);
  EXPECT_TRUE(io.stopped()) << "run() did not return: a tick re-armed after stop()";
  EXPECT_EQ(ticks, 3);
}

TEST(Periodic, StopAfterTheTimerExpiredButBeforeItsHandlerRanRunsNoMoreTicks) {
  boost::asio::io_context io;
  int ticks = 0;
  Periodic p(io, 1ms, [&] { ++ticks; });
  // The shutdown's own work outlasts a period; its stop() is posted behind it, so the reactor
  // has queued the expired tick (with success) by the time stop() runs, as in a slow shutdown.
  boost::asio::post(io, [&] {
    std::this_thread::sleep_for(20ms);
    boost::asio::post(io, [&] { p.stop(); });
  });
  io.run_for(5s);
  EXPECT_TRUE(io.stopped());
  EXPECT_EQ(ticks, 0);
}

TEST(Periodic, FirstNowRunsTheTaskAtOnceThenEveryPeriod) {
  boost::asio::io_context io;
  int ticks = 0;
  Periodic* self = nullptr;
  Periodic p(
      io, 1ms,
      [&] {
        if (++ticks == 2 && self) self->stop();
      },
      Periodic::First::now);
  EXPECT_EQ(ticks, 1);
  self = &p;
  io.run_for(5s);
  EXPECT_TRUE(io.stopped());
  EXPECT_EQ(ticks, 2);
}

// Periodics: every task of a mode stopped by one stop_all(), from inside one of them; run()
// returns, and a task started after it never runs.
TEST(Periodics, StopAllStopsEveryTaskAndRunReturns) {
  boost::asio::io_context io;
  Periodics timers(io);
  int a = 0, b = 0, c = 0;
  timers.every(1ms, [&] { ++a; });
  timers.every(2ms, [&] { ++b; }, Periodic::First::now);
  timers.every(1ms, [&] {
    if (++c == 5) timers.stop_all();
  });
  EXPECT_EQ(b, 1);
  io.run_for(5s);
  EXPECT_TRUE(io.stopped()) << "run() did not return: a task kept running after stop_all()";
  EXPECT_EQ(c, 5);
  EXPECT_GE(a, 1);
  timers.every(1ms, [&] { ++a; }, Periodic::First::now);
  const int a_then = a;
  io.restart();
  io.run_for(50ms);
  EXPECT_EQ(a, a_then);
}

}  // namespace
}  // namespace mop::app
