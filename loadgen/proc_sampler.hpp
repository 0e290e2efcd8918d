#pragma once
// Reads a process's CPU time and resident memory from /proc/PID/stat and /proc/PID/status, to
// report what the broker spent on a run. Linux only; a missing process reads as std::nullopt.
#include <cstdint>
#include <optional>
#include <string_view>

namespace mop::loadgen {

struct ProcSample {
  double cpu_seconds = 0;   // user + system, all threads
  std::uint64_t rss_kib = 0;
  std::uint64_t threads = 0;
};

std::optional<ProcSample> sample_process(int pid);

// Parsers of the two files' text, apart for tests.
std::optional<double> parse_stat_cpu_seconds(std::string_view stat, long ticks_per_second);
std::optional<std::uint64_t> parse_status_field_kib(std::string_view status, std::string_view field);

}  // namespace mop::loadgen
