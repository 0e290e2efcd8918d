#pragma once
// Pulsar topic names: `{persistent|non-persistent}://tenant/namespace/local-name`.
// The local name is kept exactly as Pulsar stores it (URL-encoded when it came from MQTT).
#include <compare>
#include <optional>
#include <string>
#include <string_view>

namespace mop::service {

enum class TopicDomain { persistent, non_persistent };

std::string_view to_string(TopicDomain d);

struct NamespaceName {
  std::string tenant;
  std::string ns;
  std::string to_string() const { return tenant + "/" + ns; }
  auto operator<=>(const NamespaceName&) const = default;
};

class TopicName {
public:
  TopicName() = default;
  TopicName(TopicDomain domain, std::string tenant, std::string ns, std::string local);

  // Parses a full name. Returns nullopt unless it has a domain, a tenant, a namespace and a
  // non-empty local name, none of them empty.
  static std::optional<TopicName> parse(std::string_view full);

  TopicDomain domain() const { return domain_; }
  const std::string& tenant() const { return tenant_; }
  const std::string& ns() const { return ns_; }
  const std::string& local() const { return local_; }
  NamespaceName namespace_name() const { return {tenant_, ns_}; }
  bool persistent() const { return domain_ == TopicDomain::persistent; }
  // The full name, e.g. "persistent://public/default/sensors%2Froom1".
  const std::string& str() const { return full_; }

  friend bool operator==(const TopicName& a, const TopicName& b) { return a.full_ == b.full_; }
  friend auto operator<=>(const TopicName& a, const TopicName& b) { return a.full_ <=> b.full_; }

private:
  TopicDomain domain_ = TopicDomain::persistent;
  std::string tenant_, ns_, local_, full_;
};

// Java URLEncoder-compatible encoding (what MoP uses): [A-Za-z0-9.-*_] unchanged, space -> '+',
// every other byte -> %XX (upper-case hex).
std::string url_encode(std::string_view s);
// The inverse: '+' -> space, %XX -> byte. Returns nullopt on a bad escape.
std::optional<std::string> url_decode(std::string_view s);

}  // namespace mop::service

template <>
struct std::hash<mop::service::TopicName> {
  std::size_t operator()(const mop::service::TopicName& t) const noexcept {
    return std::hash<std::string>{}(t.str());
  }
};
