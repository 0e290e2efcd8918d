#include "mqtt/server/topic_mapping.hpp"

#include "mqtt/codec/topic.hpp"

namespace mop::mqtt {

using service::TopicDomain;
using service::TopicName;

namespace {

constexpr std::string_view kPersistent = "persistent://";
constexpr std::string_view kNonPersistent = "non-persistent://";

struct Split {
  TopicDomain domain;
  std::string_view tenant, ns, rest;
};

// Splits `domain://tenant/ns/rest`; nullopt when the name has no domain prefix; `ok` false when
// it has one but is incomplete.
std::optional<Split> split_full(std::string_view name, bool& ok) {
  ok = true;
  TopicDomain domain;
  if (name.starts_with(kPersistent)) {
    domain = TopicDomain::persistent;
    name.remove_prefix(kPersistent.size());
  } else if (name.starts_with(kNonPersistent)) {
    domain = TopicDomain::non_persistent;
    name.remove_prefix(kNonPersistent.size());
  } else {
    return std::nullopt;
  }
  const auto s1 = name.find('/');
  const auto s2 = s1 == std::string_view::npos ? s1 : name.find('/', s1 + 1);
  if (s2 == std::string_view::npos || s1 == 0 || s2 == s1 + 1 || s2 + 1 >= name.size()) {
    ok = false;
    return std::nullopt;
  }
  return Split{domain, name.substr(0, s1), name.substr(s1 + 1, s2 - s1 - 1), name.substr(s2 + 1)};
}

}  // namespace

std::optional<TopicName> TopicMapper::to_pulsar(std::string_view mqtt_topic) const {
  bool ok = true;
  if (auto full = split_full(mqtt_topic, ok))
    return TopicName(full->domain, std::string(full->tenant), std::string(full->ns),
                     service::url_encode(full->rest));
  if (!ok) return std::nullopt;
  return TopicName(defaults_.domain, defaults_.tenant, defaults_.ns, service::url_encode(mqtt_topic));
}

std::optional<FilterScope> TopicMapper::scope(std::string_view filter) const {
  if (filter.starts_with("$share/")) {
    const auto shared = parse_shared_filter(filter);
    if (!shared || !valid_topic_filter(shared->filter)) return std::nullopt;
    auto sc = scope(shared->filter);
    if (!sc || shared->filter.starts_with("$share/")) return std::nullopt;
    sc->group = std::string(shared->group);
    return sc;
  }
  bool ok = true;
  if (auto full = split_full(filter, ok)) {
    auto wild = [](std::string_view s) { return s.find_first_of("+#") != std::string_view::npos; };
    if (wild(full->tenant) || wild(full->ns)) return std::nullopt;
    return FilterScope{full->domain, {std::string(full->tenant), std::string(full->ns)}, std::string(full->rest), true};
  }
  if (!ok) return std::nullopt;
  return FilterScope{defaults_.domain, {defaults_.tenant, defaults_.ns}, std::string(filter), false};
}

bool FilterScope::matches(const TopicName& topic) const {
  if (topic.domain() != domain || topic.tenant() != ns.tenant || topic.ns() != ns.ns) return false;
  auto local = service::url_decode(topic.local());
  return local && topic_matches(local_filter, *local);
}

std::string FilterScope::mqtt_name(const TopicName& topic) const {
  std::string local = service::url_decode(topic.local()).value_or(topic.local());
  if (!full_form) return local;
  return std::string(service::to_string(topic.domain())) + "://" + topic.tenant() + "/" + topic.ns() + "/" + local;
}

}  // namespace mop::mqtt
