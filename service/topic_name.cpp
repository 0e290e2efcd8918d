#include "service/topic_name.hpp"

#include "service/messaging_service.hpp"

namespace mop::service {

namespace {
constexpr std::string_view kPersistent = "persistent";
constexpr std::string_view kNonPersistent = "non-persistent";
constexpr std::string_view kSep = "://";

std::string join(TopicDomain d, const std::string& tenant, const std::string& ns, const std::string& local) {
  std::string full;
  const auto dom = to_string(d);
  full.reserve(dom.size() + kSep.size() + tenant.size() + ns.size() + local.size() + 2);
  full.append(dom).append(kSep).append(tenant).append(1, '/').append(ns).append(1, '/').append(local);
  return full;
}

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}
}  // namespace

std::string_view to_string(TopicDomain d) {
  return d == TopicDomain::persistent ? kPersistent : kNonPersistent;
}

TopicName::TopicName(TopicDomain domain, std::string tenant, std::string ns, std::string local)
    : domain_(domain), tenant_(std::move(tenant)), ns_(std::move(ns)), local_(std::move(local)),
      full_(join(domain_, tenant_, ns_, local_)) {}

std::optional<TopicName> TopicName::parse(std::string_view full) {
  const auto sep = full.find(kSep);
  if (sep == std::string_view::npos) return std::nullopt;
  const auto dom = full.substr(0, sep);
  TopicDomain domain;
  if (dom == kPersistent) {
    domain = TopicDomain::persistent;
  } else if (dom == kNonPersistent) {
    domain = TopicDomain::non_persistent;
  } else {
    return std::nullopt;
  }
  auto rest = full.substr(sep + kSep.size());
  const auto t = rest.find('/');
  if (t == std::string_view::npos || t == 0) return std::nullopt;
  const auto n = rest.find('/', t + 1);
  if (n == std::string_view::npos || n == t + 1) return std::nullopt;
  // Everything after the namespace is the local name, slashes included: Pulsar accepts
  // "persistent://t/ns/a/b" as local name "a/b" (MQTT-mapped names are encoded instead).
  const auto local = rest.substr(n + 1);
  if (local.empty()) return std::nullopt;
  return TopicName(domain, std::string(rest.substr(0, t)), std::string(rest.substr(t + 1, n - t - 1)),
                   std::string(local));
}

std::string url_encode(std::string_view s) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(s.size() + s.size() / 2);
  for (const char ch : s) {
    const auto c = static_cast<unsigned char>(ch);
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '-' ||
        c == '*' || c == '_') {
      out.push_back(ch);
    } else if (c == ' ') {
      out.push_back('+');
    } else {
      out.push_back('%');
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 0xF]);
    }
  }
  return out;
}

std::optional<std::string> url_decode(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (std::size_t i = 0; i < s.size(); ++i) {
    const char c = s[i];
    if (c == '+') {
      out.push_back(' ');
    } else if (c == '%') {
      if (i + 2 >= s.size()) return std::nullopt;  // a '%' needs two hex digits after it
      const int hi = hex_value(s[i + 1]);
      const int lo = hex_value(s[i + 2]);
      if (hi < 0 || lo < 0) return std::nullopt;
      out.push_back(static_cast<char>((hi << 4) | lo));
      i += 2;
    } else {
      out.push_back(c);
    }
  }
  return out;
}

bool operator==(const Message& a, const Message& b) {
  return a.payload == b.payload && a.properties == b.properties && a.publish_time_ms == b.publish_time_ms &&
         a.producer_name == b.producer_name && a.ordering_key == b.ordering_key && a.mqtt_qos == b.mqtt_qos &&
         a.batch == b.batch;
}

std::string MessageId::to_string() const {
  std::string s = std::to_string(ledger);
  s.push_back(':');
  s += std::to_string(entry);
  if (batch >= 0) {
    s.push_back(':');
    s += std::to_string(batch);
  }
  return s;
}

}  // namespace mop::service
