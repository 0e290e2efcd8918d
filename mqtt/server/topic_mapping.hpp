#pragma once
// MQTT topic names and filters <-> Pulsar topics, compatible with MoP:
//  - `persistent://t/ns/rest` and `non-persistent://t/ns/rest` name the Pulsar topic directly;
//    the rest is URL-encoded into the local name;
//  - any other topic lives at `<defaultTopicDomain>://<defaultTenant>/<defaultNamespace>/<URL-encoded>`.
// Outgoing names use the form the subscriber's filter used, so a subscriber of
// `persistent://public/default/a` receives `persistent://public/default/a` and a subscriber of `a`
// receives `a`.
#include <optional>
#include <string>
#include <string_view>

#include "service/topic_name.hpp"

namespace mop::mqtt {

struct TopicDefaults {
  service::TopicDomain domain = service::TopicDomain::persistent;
  std::string tenant = "public";
  std::string ns = "default";
};

// Where a topic filter looks: one namespace and domain, and the MQTT filter for local names.
struct FilterScope {
  service::TopicDomain domain;
  service::NamespaceName ns;
  std::string local_filter;  // MQTT filter over decoded local names
  bool full_form = false;    // the filter named the Pulsar topic (`persistent://...`)
  std::string group;         // shared subscription group (`$share/{group}/...`), else empty
  // True when the Pulsar topic falls in this scope and its decoded name matches the filter.
  bool matches(const service::TopicName& topic) const;
  // The MQTT topic name to send for `topic` to a subscriber of this scope.
  std::string mqtt_name(const service::TopicName& topic) const;
};

class TopicMapper {
public:
  explicit TopicMapper(TopicDefaults defaults) : defaults_(std::move(defaults)) {}

  // The Pulsar topic for an MQTT topic name; nullopt when a `persistent://` name lacks a
  // tenant, namespace or local part.
  std::optional<service::TopicName> to_pulsar(std::string_view mqtt_topic) const;
  // The scope of a (valid MQTT) filter; nullopt when a `persistent://` filter is incomplete or
  // puts wildcards in the tenant or namespace, or a `$share/` filter is malformed. A shared
  // filter `$share/{group}/{filter}` gets the scope of {filter} with `group` set.
  std::optional<FilterScope> scope(std::string_view filter) const;

  const TopicDefaults& defaults() const { return defaults_; }

private:
  TopicDefaults defaults_;
};

}  // namespace mop::mqtt
