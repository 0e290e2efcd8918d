#pragma once
// Test helpers: an executor that accepts posts from the storage thread, and temp directories.
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <filesystem>
#include <mutex>
#include <random>
#include <string>

#include <unistd.h>

#include <gtest/gtest.h>

#include "core/executor.hpp"

namespace mop::storage::test {

// Like ManualExecutor, but post() may be called from any thread; tasks run on the test thread
// when it calls run_all() / run_until().
class LockedExecutor final : public Executor {
public:
  void post(Task task) override {
    {
      std::lock_guard lock(mu_);
      tasks_.push_back(std::move(task));
    }
    cv_.notify_all();
  }
  std::size_t run_all() {
    std::size_t n = 0;
    for (;;) {
      Task t;
      {
        std::lock_guard lock(mu_);
        if (tasks_.empty()) return n;
        t = std::move(tasks_.front());
        tasks_.pop_front();
      }
      t();
      ++n;
    }
  }
  // Runs tasks until `done()` holds or the timeout passes; returns done().
  template <typename Pred>
  bool run_until(Pred done, std::chrono::milliseconds timeout = std::chrono::seconds(10)) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (!done()) {
      run_all();
      if (done()) return true;
      std::unique_lock lock(mu_);
      if (!cv_.wait_until(lock, deadline, [&] { return !tasks_.empty(); })) return done();
    }
    return true;
  }
  std::size_t pending() {
    std::lock_guard lock(mu_);
    return tasks_.size();
  }

private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Task> tasks_;
};

// A fresh directory under the system temp dir, removed with everything in it at destruction.
class TempDir {
public:
  TempDir() {
    static std::atomic<int> counter{0};
    path_ = std::filesystem::temp_directory_path() /
            ("mop-storage-" + std::to_string(::getpid()) + "-" + std::to_string(counter++) + "-" +
             std::to_string(std::random_device{}()));
    std::filesystem::create_directories(path_);
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  std::string str() const { return path_.string(); }
  std::filesystem::path path() const { return path_; }
  std::string sub(const std::string& name) const { return (path_ / name).string(); }

private:
  std::filesystem::path path_;
};

#ifdef MOP_STORAGE_GOLDEN_DIR
// A private copy of golden store `name` (tests/golden/NAME) under `dir`, safe to open read-write
// and to damage; returns its path.
inline std::string copy_golden(const TempDir& dir, const std::string& name) {
  const auto src = std::filesystem::path(MOP_STORAGE_GOLDEN_DIR) / name;
  EXPECT_TRUE(std::filesystem::exists(src / "CURRENT")) << src;
  const auto dst = dir.sub(name);
  std::filesystem::copy(src, dst, std::filesystem::copy_options::recursive);
  return dst;
}
#endif

}  // namespace mop::storage::test
