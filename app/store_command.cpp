#include "app/store_command.hpp"

#include <cstdio>

#include "storage/rocks_store.hpp"
#include "storage/store_check.hpp"
#include "storage/store_repair.hpp"

namespace mop::app {

namespace {

void usage(std::FILE* out) {
  std::fprintf(out,
               "usage: mop store check [--data-dir DIR] [--repair]\n\n"
               "Opens the store in DIR (default ./data, mop standalone's dataDir) read-only, decodes every\n"
               "record (topics, log entries, subscriptions, cursors, sessions, retained messages, wills,\n"
               "partitioned topics, schemas, producer sequences) and prints a summary and each record that cannot be read, by column family and key.\n"
               "Safe on the store of a running mop. Exit code: 0 sound, 1 problems found, 2 usage.\n\n"
               "--repair (stop mop first): removes or resets what can be without losing sound data and\n"
               "prints each change: an undecodable cursor is reset to the start of its log (its messages\n"
               "are delivered again), an undecodable retained message, will or MQTT session is deleted,\n"
               "an undecodable subscription becomes a durable Shared one, records of unknown topics and\n"
               "cursors without subscriptions are deleted, an undecodable log tail is cut off. It changes\n"
               "nothing, and says why, when repairing would drop sound data (damage followed by sound\n"
               "log entries, damaged RocksDB table files, an unreadable format version or topic record).\n"
               "Exit code: 0 sound afterwards, 1 refused or still damaged.\n");
}

int print_check(const std::string& dir, const storage::Store& store) {
  const auto r = storage::check_store(store);
  std::printf("store %s: %llu topics, %llu entries (%llu bytes), %llu subscriptions, %llu cursors, %llu sessions, "
              "%llu retained messages, %llu wills\n",
              dir.c_str(), static_cast<unsigned long long>(r.topics), static_cast<unsigned long long>(r.entries),
              static_cast<unsigned long long>(r.entry_bytes), static_cast<unsigned long long>(r.subscriptions),
              static_cast<unsigned long long>(r.cursors), static_cast<unsigned long long>(r.sessions),
              static_cast<unsigned long long>(r.retained), static_cast<unsigned long long>(r.wills));
  std::printf("store %s: %llu partitioned topics, %llu schemas, %llu producer sequences, %llu grants, %llu tenants, "
              "%llu namespaces\n",
              dir.c_str(), static_cast<unsigned long long>(r.partitioned_topics),
              static_cast<unsigned long long>(r.schemas), static_cast<unsigned long long>(r.producer_sequences),
              static_cast<unsigned long long>(r.permissions), static_cast<unsigned long long>(r.tenants),
              static_cast<unsigned long long>(r.namespaces));
  for (const auto& p : r.problems) std::printf("problem: %s\n", p.c_str());
  std::printf("%s\n", r.ok() ? "ok" : "damaged: see the problems above");
  return r.ok() ? 0 : 1;
}

int run_repair(const std::string& dir) {
  storage::RocksStore::Options options;
  options.repair = true;
  options.create_if_missing = false;
  auto store = storage::RocksStore::open(dir, options);
  if (!store.ok()) {
    const auto& e = store.error();
    std::printf("store %s: cannot be opened for repair: %s\n", dir.c_str(), e.to_string().c_str());
    if (e.code == storage::StorageErrc::locked) {
      std::printf("refused: the store is in use; stop the mop running on it first\n");
    } else {
      std::printf("refused: nothing was changed. Damage RocksDB itself reports (a table file that is truncated or "
                  "fails its checksum, a damaged manifest) or an unreadable format version cannot be repaired by mop "
                  "without losing what the damaged file holds: restore the directory from a backup\n");
    }
    return 1;
  }
  const auto r = storage::repair_store(**store);
  for (const auto& c : r.changes) std::printf("%s: %s\n", r.applied ? "changed" : "would change", c.c_str());
  for (const auto& why : r.refused) std::printf("refused: %s\n", why.c_str());
  if (!r.refused.empty()) {
    std::printf("store %s: not repaired, nothing was changed\n", dir.c_str());
    return 1;
  }
  std::printf("store %s: %s\n", dir.c_str(),
              r.applied ? "repaired; checking it again" : "nothing to repair; checking it again");
  return print_check(dir, **store);
}

}  // namespace

int run_store_command(const std::vector<std::string>& args) {
  if (args.empty() || args[0] == "--help" || args[0] == "-h") {
    usage(args.empty() ? stderr : stdout);
    return args.empty() ? 2 : 0;
  }
  if (args[0] != "check") {
    std::fprintf(stderr, "mop store: unknown command '%s'\n\n", args[0].c_str());
    usage(stderr);
    return 2;
  }
  std::string dir = "./data";
  bool repair = false;
  for (std::size_t i = 1; i < args.size(); ++i) {
    const std::string& a = args[i];
    if (a == "--repair") {
      repair = true;
    } else if (a == "--data-dir" && i + 1 < args.size()) {
      dir = args[++i];
    } else if (a.starts_with("--data-dir=")) {
      dir = a.substr(11);
    } else if (a == "--help" || a == "-h") {
      usage(stdout);
      return 0;
    } else {
      std::fprintf(stderr, "mop store check: unknown argument '%s'\n\n", a.c_str());
      usage(stderr);
      return 2;
    }
  }
  if (repair) return run_repair(dir);
  storage::RocksStore::Options options;
  options.read_only = true;
  options.create_if_missing = false;
  auto store = storage::RocksStore::open(dir, options);
  if (!store.ok()) {
    std::printf("store %s: cannot be opened: %s\n", dir.c_str(), store.error().to_string().c_str());
    return 1;
  }
  return print_check(dir, **store);
}

}  // namespace mop::app
