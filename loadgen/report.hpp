#pragma once
// Number formatting shared by the MQTT and Pulsar runs' progress lines and summaries.
#include <cstdint>
#include <cstdio>
#include <string>

namespace mop::loadgen {

inline std::string fmt_ns(std::uint64_t ns) {
  char b[32];
  if (ns < 10'000) std::snprintf(b, sizeof b, "%.1f us", ns / 1e3);
  else if (ns < 10'000'000) std::snprintf(b, sizeof b, "%.0f us", ns / 1e3);
  else std::snprintf(b, sizeof b, "%.1f ms", ns / 1e6);
  return b;
}

// 1234567 -> "1,234,567".
inline std::string fmt_count(double v) {
  char b[32];
  std::snprintf(b, sizeof b, "%.0f", v);
  std::string s = b, out;
  const std::size_t lead = s.size() % 3 == 0 ? 3 : s.size() % 3;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (i && (i - lead) % 3 == 0 && i >= lead && s[0] != '-') out.push_back(',');
    out.push_back(s[i]);
  }
  return out;
}

}  // namespace mop::loadgen
