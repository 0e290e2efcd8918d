// storage_restart_bench: how long a restart takes with a large backlog (issue 4: "a restart with
// 1 GB of backlog is ready in seconds"). Built with the tests, never run by CTest (it writes a
// gigabyte): run by hand, see storage/README.md.
//
//   storage_restart_bench [--bytes N] [--payload N] [--dir DIR] [--crash]
//
// 1. Fills one topic of an EmbeddedService over a RocksStore with N bytes of payload (default
//    1 GiB, 1 KiB messages, incompressible), none acknowledged by its one durable subscription.
// 2. Closes everything (as a SIGTERM'd mop does; with --crash the filling runs in a child
//    process that exits without closing anything, as after kill -9) and reopens: times RocksStore::open, the
//    service's restore(), and the first delivery to a consumer attaching to the subscription;
//    then how long the next 100,000 deliveries take.
// The store lives in a fresh directory under DIR (default: the system temp dir), removed at the
// end. Prints one line per phase.
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <random>
#include <string>

#include "core/clock.hpp"
#include "service/embedded_service.hpp"
#include "storage/rocks_store.hpp"
#include "storage/store_ledger.hpp"
#include "storage/store_persistence.hpp"
#include "storage/tests/test_util.hpp"

#include <sys/wait.h>
#include <unistd.h>

namespace {

using namespace mop;
using Steady = std::chrono::steady_clock;

double ms_since(Steady::time_point t) {
  return std::chrono::duration<double, std::milli>(Steady::now() - t).count();
}

struct Counter final : service::ReceiverListener {
  void on_message(const service::TopicName&, const std::string&, service::MessageId id, const service::MessagePtr&,
                  std::uint32_t) override {
    if (count == 0) first = id;
    ++count;
  }
  std::uint64_t count = 0;
  service::MessageId first{};
};

std::uint64_t du(const std::filesystem::path& dir) {
  std::uint64_t total = 0;
  std::error_code ec;
  for (const auto& e : std::filesystem::recursive_directory_iterator(dir, ec)) {
    if (e.is_regular_file(ec)) total += e.file_size(ec);
  }
  return total;
}

int usage() {
  std::fprintf(stderr, "usage: storage_restart_bench [--bytes N] [--payload N] [--dir DIR] [--crash]\n");
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  std::uint64_t bytes = 1ull << 30;
  std::size_t payload = 1024;
  std::filesystem::path parent = std::filesystem::temp_directory_path();
  bool crash = false;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--crash") {
      crash = true;
      continue;
    }
    if (i + 1 >= argc) return usage();
    if (a == "--bytes") {
      bytes = std::strtoull(argv[++i], nullptr, 10);
    } else if (a == "--payload") {
      payload = std::strtoull(argv[++i], nullptr, 10);
    } else if (a == "--dir") {
      parent = argv[++i];
    } else {
      return usage();
    }
  }
  if (bytes == 0 || payload == 0) return usage();
  const auto dir = parent / ("mop-restart-bench-" + std::to_string(std::random_device{}()));
  std::filesystem::create_directories(dir);
  struct Cleanup {
    std::filesystem::path p;
    ~Cleanup() {
      std::error_code ec;
      std::filesystem::remove_all(p, ec);
    }
  } cleanup{dir};

  const service::TopicName topic(service::TopicDomain::persistent, "public", "default", "backlog");
  const std::string sub = "bench";
  // Random bytes, so that RocksDB's compression does not shrink the gigabyte.
  std::string pool(1 << 20, '\0');
  std::mt19937_64 rng(42);
  for (auto& c : pool) c = static_cast<char>(rng());
  const std::uint64_t messages = (bytes + payload - 1) / payload;

  auto fill = [&]() -> int {
    storage::test::LockedExecutor ex;
    SystemClock clock;
    // Filling is not what is measured: no fsync per group (the WAL is still written).
    auto store = storage::RocksStore::open(dir.string(), {.sync = false});
    if (!store.ok()) {
      std::fprintf(stderr, "open: %s\n", store.error().to_string().c_str());
      return 1;
    }
    storage::StorePersistence persistence(**store, ex);
    service::EmbeddedService svc(ex, clock, storage::ledger_factory(**store, ex), &persistence);
    if (auto e = svc.restore(); !e.ok()) {
      std::fprintf(stderr, "restore: %s\n", e.error().message.c_str());
      return 1;
    }
    Counter none;
    const auto rid = svc.open_receiver(none);
    service::SubscriptionOptions o;
    o.initial_position = service::InitialPosition::earliest;
    if (!svc.subscribe(topic, sub, o, rid).ok()) return 1;
    svc.close_receiver(rid);  // away: everything below becomes its backlog

    const auto t = Steady::now();
    std::uint64_t sent = 0, done = 0, failed = 0;
    constexpr std::uint64_t kWindow = 4096;
    while (done < messages) {
      while (sent < messages && sent - done < kWindow) {
        auto m = std::make_shared<service::Message>();
        const std::size_t off = static_cast<std::size_t>((sent * 7919) % (pool.size() - payload));
        m->payload = Payload::copy_of(std::string_view(pool).substr(off, payload));
        m->producer_name = "bench";
        m->publish_time_ms = clock.wall_ms();
        svc.publish(topic, std::move(m), [&](std::error_code ec, service::MessageId) {
          ++done;
          if (ec) ++failed;
        });
        ++sent;
      }
      if (!ex.run_until([&] { return (sent < messages && sent - done < kWindow / 2) || done == messages; },
                        std::chrono::seconds(60))) {
        std::fprintf(stderr, "publishing stalled: %llu of %llu sent, %llu completed\n",
                     static_cast<unsigned long long>(sent), static_cast<unsigned long long>(messages),
                     static_cast<unsigned long long>(done));
        return 1;
      }
    }
    if (failed) {
      std::fprintf(stderr, "%llu publishes failed\n", static_cast<unsigned long long>(failed));
      return 1;
    }
    const double fill = ms_since(t);
    std::printf("filled: %llu messages of %zu B (%.1f MiB of payload) in %.1f s\n",
                static_cast<unsigned long long>(messages), payload,
                static_cast<double>(messages * payload) / (1 << 20), fill / 1000);
    if (crash) {
      // Every publish is acknowledged (its WAL record written): leave as kill -9 would.
      std::printf("exiting without closing the store (--crash)\n");
      std::fflush(stdout);
      _exit(0);
    }
    const auto c = Steady::now();
    do {
      (void)(*store)->flush();
    } while (ex.run_all() > 0);
    store->reset();
    std::printf("closing (memtables flushed) took %.0f ms\n", ms_since(c));
    return 0;
  };
  if (crash) {
    std::fflush(stdout);
    const pid_t child = fork();
    if (child == 0) _exit(fill());
    int status = 0;
    if (child < 0 || waitpid(child, &status, 0) != child || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
      std::fprintf(stderr, "the filling process failed\n");
      return 1;
    }
  } else if (const int rc = fill()) {
    return rc;
  }
  std::printf("store on disk: %.1f MiB in %s\n", static_cast<double>(du(dir)) / (1 << 20), dir.c_str());

  {
    storage::test::LockedExecutor ex;
    SystemClock clock;
    const auto t0 = Steady::now();
    auto store = storage::RocksStore::open(dir.string(), {.sync = true});
    if (!store.ok()) {
      std::fprintf(stderr, "reopen: %s\n", store.error().to_string().c_str());
      return 1;
    }
    const double open_ms = ms_since(t0);
    storage::StorePersistence persistence(**store, ex);
    service::EmbeddedService svc(ex, clock, storage::ledger_factory(**store, ex), &persistence);
    const auto t1 = Steady::now();
    if (auto e = svc.restore(); !e.ok()) {
      std::fprintf(stderr, "restore: %s\n", e.error().message.c_str());
      return 1;
    }
    const double restore_ms = ms_since(t1);
    Counter got;
    const auto rid = svc.open_receiver(got);
    service::SubscriptionOptions o;
    if (!svc.subscribe(topic, sub, o, rid).ok()) return 1;
    svc.flow(rid, 1);
    ex.run_until([&] { return got.count > 0; }, std::chrono::seconds(60));
    const double first_ms = ms_since(t0);
    if (got.count == 0 || got.first.entry != 0) {
      std::fprintf(stderr, "the first delivery is missing or not the oldest message\n");
      return 1;
    }
    std::printf("restart: RocksStore::open %.0f ms, restore() %.0f ms, first delivery %.0f ms after the open began\n",
                open_ms, restore_ms, first_ms);
    const std::uint64_t more = std::min<std::uint64_t>(100'000, messages - 1);
    const auto t2 = Steady::now();
    std::uint64_t target = 1 + more;
    while (got.count < target) {
      svc.flow(rid, 1000);
      const auto want = std::min(target, got.count + 1000);
      if (!ex.run_until([&] { return got.count >= want; }, std::chrono::seconds(60))) break;
    }
    std::printf("then %llu deliveries from the backlog in %.0f ms\n", static_cast<unsigned long long>(got.count - 1),
                ms_since(t2));
    svc.close_receiver(rid);
    do {
      (void)(*store)->flush();
    } while (ex.run_all() > 0);
  }
  return 0;
}
