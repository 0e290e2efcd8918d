#include "app/periodic.hpp"

namespace mop::app {

Periodic::Periodic(boost::asio::io_context& io, std::chrono::steady_clock::duration period, std::function<void()> task,
                   First first)
    : timer_(io), period_(period), task_(std::move(task)) {
  if (first == First::now) task_();
  if (!stopped_) arm();
}

void Periodic::stop() {
  stopped_ = true;
  timer_.cancel();
}

void Periodic::arm() {
  timer_.expires_after(period_);
  timer_.async_wait([this](boost::system::error_code ec) {
    if (ec || stopped_) return;
    task_();
    if (!stopped_) arm();  // the task may have stopped it
  });
}

void Periodics::every(std::chrono::steady_clock::duration period, std::function<void()> task,
                      Periodic::First first) {
  if (stopped_) return;
  timers_.emplace_back(io_, period, std::move(task), first);
}

void Periodics::stop_all() {
  stopped_ = true;
  for (auto& t : timers_) t.stop();
}

}  // namespace mop::app
