#pragma once
// An io_context seen as a core::Executor (what the layers below app/ and pulsar/client's core are
// given), and run_until: running an io_context's handlers until a condition holds or a bound passes.
// Header only (library mop_asio_executor): Boost.Asio and core/, nothing else of net/.
#include <chrono>
#include <memory>

#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>

#include "core/executor.hpp"

namespace mop::net {

class AsioExecutor final : public Executor {
public:
  explicit AsioExecutor(boost::asio::io_context& io) : io_(io) {}
  void post(Task task) override { boost::asio::post(io_, std::move(task)); }

private:
  boost::asio::io_context& io_;
};

// Runs `io`'s handlers one at a time until `done()` is true (checked before each) or `bound` has
// passed; true when done. A timer of its own wakes it at the bound, so it never spins while `io`
// waits; it is cancelled before returning. A stopped `io` (io_context::stop) ends it at once.
template <typename Done>
bool run_until(boost::asio::io_context& io, Done&& done, std::chrono::steady_clock::duration bound) {
  boost::asio::steady_timer timer(io);
  auto timed_out = std::make_shared<bool>(false);
  timer.expires_after(bound);
  timer.async_wait([timed_out](boost::system::error_code ec) {
    if (!ec) *timed_out = true;
  });
  while (!done() && !*timed_out) {
    if (io.run_one() == 0) break;  // stopped
  }
  timer.cancel();
  return done();
}

}  // namespace mop::net
