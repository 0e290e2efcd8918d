// Google Benchmark of RocksStore's group commit: 8 connections append 100-byte messages to their
// own topics, with and without fsync (journalSyncData), open loop (every connection keeps
// appending) and closed loop (one message in flight per connection, like a QoS 1 publisher
// without a window). Reports appends/s and appends per write batch (how much one commit groups).
// BM_LargeAppend: 4 connections append 64 KiB messages of random bytes to their own topics,
// nothing trimmed, with large entries in blob files or in table files (Options::blob_min_size):
// MB/s appended and write amplification (bytes this process wrote to the disk, /proc/self/io,
// per byte appended; compactions run in the process's own threads).
// Measurements only; storage/tests checks that group commit is correct.
#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include <unistd.h>

#include <benchmark/benchmark.h>

#include "core/executor.hpp"
#include "storage/rocks_store.hpp"

namespace mop::storage {
namespace {

constexpr int kConnections = 8;

// A fresh directory under $TMPDIR (or /tmp), removed at the end.
class TempDir {
public:
  TempDir()
      : path_(std::filesystem::temp_directory_path() /
              ("mop-store-bench-" + std::to_string(::getpid()) + "-" + std::to_string(std::random_device{}()))) {
    std::filesystem::create_directories(path_);
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  std::string sub(const std::string& name) const { return (path_ / name).string(); }

private:
  std::filesystem::path path_;
};

// Completions run on the storage thread that calls them: the counters are all they touch.
struct Direct final : Executor {
  void post(Task task) override { task(); }
};

// Arguments: sync (0/1), closed loop (0/1). One iteration = `each` appends per connection.
void BM_GroupCommit(benchmark::State& state) {
  const bool sync = state.range(0) != 0;
  const bool closed = state.range(1) != 0;
  const int each = sync ? 300 : 3000;
  TempDir dir;
  RocksStore::Options o;
  o.sync = sync;
  auto store = RocksStore::open(dir.sub("db"), o);
  if (!store.ok()) {
    state.SkipWithError(store.error().to_string().c_str());
    return;
  }
  std::vector<std::uint64_t> topics;
  for (int c = 0; c < kConnections; ++c) topics.push_back(*(*store)->ensure_topic("persistent://t/n/" + std::to_string(c)));
  const std::string payload(100, 'x');
  Direct direct;
  std::atomic<long> failed{0};
  const auto batches_before = (*store)->write_batches();
  long appends = 0;
  for (auto _ : state) {
    std::atomic<int> done{0};
    std::vector<std::thread> threads;
    for (int c = 0; c < kConnections; ++c) {
      threads.emplace_back([&, c] {
        const auto t = topics[static_cast<std::size_t>(c)];
        const std::uint64_t base = (*store)->log_bounds(t)->value_or(LogBounds{}).end.entry;
        for (int i = 0; i < each; ++i) {
          Batch b;
          b.append(t, {t, base + static_cast<std::uint64_t>(i), -1}, payload);
          auto mine = std::make_shared<std::atomic<bool>>(false);
          (*store)->write(std::move(b), direct, [&done, &failed, mine](const Result<void, Error>& r) {
            if (!r.ok()) ++failed;
            *mine = true;
            ++done;
          });
          if (closed) {
            while (!*mine) std::this_thread::yield();
          }
        }
        if (!closed) (void)(*store)->flush();
      });
    }
    for (auto& th : threads) th.join();
    while (done < kConnections * each) std::this_thread::yield();
    appends += kConnections * each;
  }
  if (failed > 0) state.SkipWithError("a write failed");
  const auto batches = (*store)->write_batches() - batches_before;
  state.counters["appends/s"] = benchmark::Counter(static_cast<double>(appends), benchmark::Counter::kIsRate);
  state.counters["appends/batch"] = static_cast<double>(appends) / static_cast<double>(batches ? batches : 1);
}

// Bytes this process has caused to be written to the disk so far (write_bytes of /proc/self/io).
double written_bytes() {
  std::ifstream io("/proc/self/io");
  std::string key;
  double value = 0;
  while (io >> key >> value) {
    if (key == "write_bytes:") return value;
  }
  return 0;
}

// Arguments: blob files (0/1). One iteration = 256 appends of 64 KiB per connection (64 MiB in
// all), open loop, fsync per group commit.
void BM_LargeAppend(benchmark::State& state) {
  constexpr int kLargeConnections = 4;
  constexpr int each = 256;
  constexpr std::size_t size = 64 * 1024;
  TempDir dir;
  RocksStore::Options o;
  o.sync = true;
  o.blob_min_size = state.range(0) != 0 ? 4096 : 0;
  auto store = RocksStore::open(dir.sub("db"), o);
  if (!store.ok()) {
    state.SkipWithError(store.error().to_string().c_str());
    return;
  }
  std::vector<std::uint64_t> topics;
  for (int c = 0; c < kLargeConnections; ++c) {
    topics.push_back(*(*store)->ensure_topic("persistent://t/n/large-" + std::to_string(c)));
  }
  std::string payload(size, '\0');
  std::mt19937_64 gen(7);
  for (auto& ch : payload) ch = static_cast<char>(gen());
  Direct direct;
  std::atomic<long> failed{0};
  double appended = 0;
  const double written_before = written_bytes();
  for (auto _ : state) {
    std::vector<std::thread> threads;
    for (int c = 0; c < kLargeConnections; ++c) {
      threads.emplace_back([&, c] {
        const auto t = topics[static_cast<std::size_t>(c)];
        const std::uint64_t base = (*store)->log_bounds(t)->value_or(LogBounds{}).end.entry;
        for (int i = 0; i < each; ++i) {
          Batch b;
          b.append(t, {t, base + static_cast<std::uint64_t>(i), -1}, payload);
          (*store)->write(std::move(b), direct, [&failed](const Result<void, Error>& r) {
            if (!r.ok()) ++failed;
          });
        }
      });
    }
    for (auto& th : threads) th.join();
    (void)(*store)->flush();
    appended += static_cast<double>(kLargeConnections) * each * size;
  }
  if (failed > 0) state.SkipWithError("a write failed");
  state.counters["MB/s"] = benchmark::Counter(appended / 1e6, benchmark::Counter::kIsRate);
  state.counters["write_amp"] = (written_bytes() - written_before) / appended;
}

BENCHMARK(BM_LargeAppend)->ArgNames({"blob"})->Arg(0)->Arg(1)->Unit(benchmark::kMillisecond)->UseRealTime();

BENCHMARK(BM_GroupCommit)
    ->ArgNames({"sync", "closed"})
    ->Args({1, 0})
    ->Args({1, 1})
    ->Args({0, 0})
    ->Args({0, 1})
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();

}  // namespace
}  // namespace mop::storage
