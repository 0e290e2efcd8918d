#include "mqtt/codec/topic.hpp"

namespace mop::mqtt {

bool valid_topic_name(std::string_view name) {
  return !name.empty() && name.find_first_of("+#") == std::string_view::npos;
}

bool valid_topic_filter(std::string_view filter) {
  if (filter.empty()) return false;
  std::size_t start = 0;
  while (true) {
    const std::size_t slash = filter.find('/', start);
    const bool last = slash == std::string_view::npos;
    const std::string_view level = filter.substr(start, last ? std::string_view::npos : slash - start);
    if (level.find_first_of("+#") != std::string_view::npos) {
      // A wildcard must be the whole level, and '#' only the last one [MQTT-4.7.1-2, -3].
      if (level.size() != 1) return false;
      if (level[0] == '#' && !last) return false;
    }
    if (last) return true;
    start = slash + 1;
  }
}

bool topic_matches(std::string_view filter, std::string_view name) {
  // [MQTT-4.7.2-1]: $SYS-style topics stay out of reach of a leading wildcard, so a client that
  // subscribes to '#' does not receive the broker's own statistics.
  if (!name.empty() && name[0] == '$' && !filter.empty() && (filter[0] == '+' || filter[0] == '#'))
    return false;

  std::size_t f = 0, n = 0;
  while (true) {
    const std::size_t fslash = filter.find('/', f);
    const std::string_view flevel = filter.substr(f, fslash == std::string_view::npos ? std::string_view::npos : fslash - f);
    if (flevel == "#") return true;  // also covers the parent level: 'a/#' matches 'a' [MQTT-4.7.1-2]

    const std::size_t nslash = name.find('/', n);
    const std::string_view nlevel = name.substr(n, nslash == std::string_view::npos ? std::string_view::npos : nslash - n);
    if (flevel != "+" && flevel != nlevel) return false;

    const bool fend = fslash == std::string_view::npos;
    const bool nend = nslash == std::string_view::npos;
    if (nend) {
      if (fend) return true;
      // The name is used up; only a trailing '/#' in the filter may still match (its parent rule).
      return filter.substr(fslash) == "/#";
    }
    if (fend) return false;
    f = fslash + 1;
    n = nslash + 1;
  }
}

std::optional<SharedFilter> parse_shared_filter(std::string_view filter) {
  // $share/{ShareName}/{filter}: the share name is at least one character without '/', '+' or
  // '#' [MQTT-4.8.2-1, -2], and a filter must follow. Anything else is not a shared subscription
  // (under 3.1.1 rules it is then just an ordinary filter that starts with '$share').
  constexpr std::string_view prefix = "$share/";
  if (filter.substr(0, prefix.size()) != prefix) return std::nullopt;
  const std::string_view rest = filter.substr(prefix.size());
  const std::size_t slash = rest.find('/');
  if (slash == std::string_view::npos || slash == 0) return std::nullopt;
  const std::string_view group = rest.substr(0, slash);
  if (group.find_first_of("+#") != std::string_view::npos) return std::nullopt;
  const std::string_view inner = rest.substr(slash + 1);
  if (inner.empty()) return std::nullopt;
  return SharedFilter{group, inner};
}

}  // namespace mop::mqtt
