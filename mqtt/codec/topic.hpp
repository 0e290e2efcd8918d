#pragma once
// MQTT topic names and filters (MQTT 3.1.1 section 4.7): validation and matching.
#include <optional>
#include <string_view>

namespace mop::mqtt {

// A topic name in PUBLISH: at least one character, no '+' or '#' [MQTT-4.7.3-1, 3.3.2-2].
bool valid_topic_name(std::string_view name);

// A topic filter in SUBSCRIBE/UNSUBSCRIBE: at least one character; '#' only as the whole last
// level; '+' only as a whole level [MQTT-4.7.1-1/2/3, 4.7.3-1].
bool valid_topic_filter(std::string_view filter);

// True when `name` matches `filter`, both assumed valid. `a/#` matches `a`; a filter starting
// with '+' or '#' does not match names starting with '$' [MQTT-4.7.2-1].
bool topic_matches(std::string_view filter, std::string_view name);

// Shared subscription filter `$share/{group}/{filter}` (MQTT 5 4.8.2; accepted for 3.1.1 too).
struct SharedFilter {
  std::string_view group;
  std::string_view filter;
};
// If `filter` is a shared subscription, its parts (nullopt: it is none); the caller validates
// the inner filter separately.
std::optional<SharedFilter> parse_shared_filter(std::string_view filter);

}  // namespace mop::mqtt
