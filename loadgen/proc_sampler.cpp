#include "loadgen/proc_sampler.hpp"

#include <unistd.h>

#include <charconv>
#include <fstream>
#include <sstream>
#include <string>

namespace mop::loadgen {
namespace {

std::optional<std::string> slurp(const std::string& path) {
  std::ifstream in(path);
  if (!in) return std::nullopt;
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

}  // namespace

std::optional<double> parse_stat_cpu_seconds(std::string_view stat, long ticks_per_second) {
  // The command name (field 2) is in parentheses and may contain spaces: count fields from the
  // last ')'. utime and stime are fields 14 and 15, i.e. the 12th and 13th after the name.
  const auto rp = stat.rfind(')');
  if (rp == std::string_view::npos || ticks_per_second <= 0) return std::nullopt;
  std::string_view rest = stat.substr(rp + 1);
  std::uint64_t ut = 0, st = 0;
  int field = 2;
  std::size_t pos = 0;
  while (pos < rest.size() && field < 15) {
    while (pos < rest.size() && rest[pos] == ' ') ++pos;
    std::size_t end = rest.find(' ', pos);
    if (end == std::string_view::npos) end = rest.size();
    ++field;
    const auto tok = rest.substr(pos, end - pos);
    if (field == 14 || field == 15) {
      std::uint64_t v = 0;
      if (std::from_chars(tok.data(), tok.data() + tok.size(), v).ec != std::errc{}) return std::nullopt;
      (field == 14 ? ut : st) = v;
    }
    pos = end;
  }
  if (field < 15) return std::nullopt;
  return static_cast<double>(ut + st) / static_cast<double>(ticks_per_second);
}

std::optional<std::uint64_t> parse_status_field_kib(std::string_view status, std::string_view field) {
  std::size_t pos = 0;
  while (pos < status.size()) {
    std::size_t eol = status.find('\n', pos);
    if (eol == std::string_view::npos) eol = status.size();
    const auto line = status.substr(pos, eol - pos);
    if (line.starts_with(field) && line.size() > field.size() && line[field.size()] == ':') {
      auto v = line.substr(field.size() + 1);
      while (!v.empty() && (v.front() == ' ' || v.front() == '\t')) v.remove_prefix(1);
      std::uint64_t n = 0;
      if (std::from_chars(v.data(), v.data() + v.size(), n).ec != std::errc{}) return std::nullopt;
      return n;
    }
    pos = eol + 1;
  }
  return std::nullopt;
}

std::optional<ProcSample> sample_process(int pid) {
  const std::string base = "/proc/" + std::to_string(pid);
  auto stat = slurp(base + "/stat");
  auto status = slurp(base + "/status");
  if (!stat || !status) return std::nullopt;
  auto cpu = parse_stat_cpu_seconds(*stat, sysconf(_SC_CLK_TCK));
  auto rss = parse_status_field_kib(*status, "VmRSS");
  if (!cpu || !rss) return std::nullopt;
  ProcSample s;
  s.cpu_seconds = *cpu;
  s.rss_kib = *rss;
  s.threads = parse_status_field_kib(*status, "Threads").value_or(0);
  return s;
}

}  // namespace mop::loadgen
