#pragma once
// The process's own resource use, read from /proc/self (Linux), for the usual process_*
// metrics of Prometheus' client libraries.
#include <cstdint>
#include <optional>

namespace mop::http {

struct ProcessStats {
  double cpu_seconds = 0;          // user + system
  std::uint64_t resident_bytes = 0;
  std::uint64_t virtual_bytes = 0;
  std::uint64_t open_fds = 0;
  std::uint64_t max_fds = 0;       // the soft RLIMIT_NOFILE
  double start_time_seconds = 0;   // since the Unix epoch
};

// nullopt when /proc/self cannot be read.
std::optional<ProcessStats> read_process_stats();

}  // namespace mop::http
