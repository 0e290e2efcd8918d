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

}  // namespace mop::app
