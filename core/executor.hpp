#pragma once
// Executor: where deferred work runs. Layers below app/ never see Asio; they are handed an
// Executor. app/ adapts an io_context; tests use ManualExecutor and run it step by step.
#include <chrono>
#include <deque>
#include <functional>
#include <utility>

namespace mop {

using Task = std::function<void()>;

class Executor {
public:
  virtual ~Executor() = default;
  // Runs `task` later on the executor's thread, never inline.
  virtual void post(Task task) = 0;
};

// For tests: tasks run only when the test calls run_all()/run_one().
class ManualExecutor final : public Executor {
public:
  void post(Task task) override { tasks_.push_back(std::move(task)); }
  bool run_one() {
    if (tasks_.empty()) return false;
    Task t = std::move(tasks_.front());
    tasks_.pop_front();
    t();
    return true;
  }
  std::size_t run_all() {
    std::size_t n = 0;
    while (run_one()) ++n;
    return n;
  }
  std::size_t pending() const { return tasks_.size(); }

private:
  std::deque<Task> tasks_;
};

}  // namespace mop
