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

}  // namespace
}  // namespace mop::app
