#include "app/config.hpp"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <filesystem>
#include <fstream>
#include <functional>
#include <limits>
#include <set>
#include <sstream>

#include <nlohmann/json.hpp>

#include "core/log.hpp"

namespace mop::app {

namespace {

// ---------------------------------------------------------------------------------------------
// Small text helpers

constexpr std::string_view kBlanks = " \t\r\n\f\v";

std::string_view trim(std::string_view s) {
  const auto first = s.find_first_not_of(kBlanks);
  if (first == std::string_view::npos) return {};
  const auto last = s.find_last_not_of(kBlanks);
  return s.substr(first, last - first + 1);
}

std::string lower(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

bool iequals(std::string_view a, std::string_view b) { return lower(a) == lower(b); }

// Splits a comma-separated list, trimming entries and dropping empty ones, so that
// "mqtt, ws," and "mqtt,ws" mean the same.
std::vector<std::string_view> split_list(std::string_view value) {
  std::vector<std::string_view> out;
  while (true) {
    const auto comma = value.find(',');
    const auto item = trim(value.substr(0, comma));
    if (!item.empty()) out.push_back(item);
    if (comma == std::string_view::npos) break;
    value.remove_prefix(comma + 1);
  }
  return out;
}

template <typename Range>
std::string join(const Range& items, std::string_view sep) {
  std::string out;
  for (const auto& item : items) {
    if (!out.empty()) out += sep;
    out += item;
  }
  return out;
}

// Plain decimal only: Pulsar's loader (Java's Integer.parseInt) takes no hex or units either.
// Sets `out`, or returns why `text` is rejected.
Result<void, std::string> parse_int(std::string_view text, std::int64_t min, std::int64_t max, std::int64_t& out) {
  if (!text.empty() && text.front() == '+') text.remove_prefix(1);  // Java accepts "+5"
  std::int64_t v = 0;
  const auto* end = text.data() + text.size();
  const auto [ptr, ec] = std::from_chars(text.data(), end, v);
  if (text.empty() || ptr != end) return "is not an integer";
  if (ec == std::errc::result_out_of_range || v < min || v > max) return "is out of range";
  out = v;
  return {};
}

// true/false in any case, nothing else: "yes", "1" or "on" in a broker.conf is more likely a
// mistake than an intent, and Pulsar itself would read them as false.
std::optional<bool> parse_bool(std::string_view text) {
  if (iequals(text, "true")) return true;
  if (iequals(text, "false")) return false;
  return {};
}

bool is_host_char(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '-' || c == '_';
}

// A DNS name or an IPv4 address (the resolver decides which); no spaces, ports or paths.
bool is_plain_host(std::string_view host) {
  return !host.empty() && std::all_of(host.begin(), host.end(), is_host_char);
}

// The inside of [...]: hex groups, ':' and '.', optionally a %zone ("fe80::1%eth0").
bool is_ipv6_literal(std::string_view host) {
  const auto pct = host.find('%');
  const auto addr = host.substr(0, pct);
  if (addr.find(':') == std::string_view::npos) return false;
  const bool addr_ok = std::all_of(addr.begin(), addr.end(), [](char c) {
    return std::isxdigit(static_cast<unsigned char>(c)) || c == ':' || c == '.';
  });
  if (!addr_ok) return false;
  if (pct == std::string_view::npos) return true;
  return is_plain_host(host.substr(pct + 1));
}

constexpr std::string_view kSchemes[] = {"mqtt", "mqtt+ssl", "mqtt+ssl+psk", "ws", "ws+ssl"};

// Returns the listener, or why `entry` is not one (without repeating the entry).
Result<Listener, std::string> parse_listener(std::string_view entry) {
  const auto sep = entry.find("://");
  if (sep == std::string_view::npos) return std::string("not of the form scheme://host:port");
  Listener l;
  l.scheme = lower(entry.substr(0, sep));
  if (std::find(std::begin(kSchemes), std::end(kSchemes), l.scheme) == std::end(kSchemes)) {
    return std::string("unknown scheme \"" + l.scheme +
                       "\" (known: mqtt, mqtt+ssl, mqtt+ssl+psk, ws, ws+ssl)");
  }
  auto rest = entry.substr(sep + 3);
  std::string_view host;
  std::string_view after;  // ":port"
  if (!rest.empty() && rest.front() == '[') {
    const auto close = rest.find(']');
    if (close == std::string_view::npos)
      return std::string("'[' without ']' around the IPv6 address");
    host = rest.substr(1, close - 1);
    if (!is_ipv6_literal(host))
      return std::string("\"" + std::string(host) + "\" is not an IPv6 address");
    after = rest.substr(close + 1);
  } else {
    const auto colon = rest.rfind(':');
    if (colon == std::string_view::npos) return std::string("missing \":port\"");
    host = rest.substr(0, colon);
    if (host.find(':') != std::string_view::npos) {
      return std::string("an IPv6 address must be in brackets, e.g. mqtt://[::1]:1883");
    }
    if (!is_plain_host(host)) {
      return host.empty()
                 ? std::string("missing host (use 0.0.0.0 or [::] for every interface)")
                 : std::string("\"" + std::string(host) + "\" is not a host name or address");
    }
    after = rest.substr(colon);
  }
  if (after.empty() || after.front() != ':') return std::string("missing \":port\"");
  std::int64_t port = 0;
  if (auto parsed = parse_int(after.substr(1), 0, 65535, port); !parsed.ok()) {
    return std::string("port \"" + std::string(after.substr(1)) + "\" " + parsed.error() + " (0..65535)");
  }
  l.host = std::string(host);
  l.port = static_cast<std::uint16_t>(port);
  return l;
}

// Pulsar's rule for tenant and namespace names (NamedEntity: [-=:.\w]+).
bool is_pulsar_name(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-' || c == '=' ||
           c == ':' || c == '.';
  });
}

constexpr std::string_view kLogLevels[] = {"trace", "debug", "info", "warn", "error"};

// ---------------------------------------------------------------------------------------------
// The key table: one row per key, the only place a key's name, default, accepted values,
// description, parser and printer are written. Defaults are printed from a default-constructed
// Config, so the documentation cannot drift from the struct.

// Which modes read a key: bit 1 standalone, bit 2 proxy.
constexpr unsigned kStandalone = 1;
constexpr unsigned kProxy = 2;
constexpr unsigned mode_bit(Mode mode) { return mode == Mode::proxy ? kProxy : kStandalone; }

struct KeySpec {
  KeyDoc doc;
  unsigned modes = kStandalone | kProxy;
  std::vector<std::string> aliases;  // older names read as this key (MoP's mqttProxyEnable)
  bool secret = false;               // its value is never repeated in a message (it may hold a token)
  // Sets the field from a trimmed, non-empty value, or returns why the value is bad.
  std::function<Result<void, std::string>(Config&, std::string_view)> set;
  // Resets the field for an empty value: the default for scalars, empty for lists (Pulsar's rule).
  std::function<void(Config&)> set_empty;
  std::function<std::string(const Config&)> get;
};

// The defaults, read from a default-constructed Config. (A named object rather than
// `Config{}.*field` also sidesteps an internal compiler error of g++ 12 on that expression in a
// template.)
const Config& defaults() {
  static const Config config{};
  return config;
}

template <typename T>
KeySpec int_key(std::string name, T Config::*field, std::int64_t min, std::int64_t max,
                std::string description) {
  const std::string expected = "an integer " + std::to_string(min) + ".." + std::to_string(max);
  KeySpec k;
  k.doc = {std::move(name), std::to_string(defaults().*field), expected, std::move(description)};
  k.set = [field, min, max](Config& c, std::string_view v) -> Result<void, std::string> {
    std::int64_t out = 0;
    if (auto parsed = parse_int(v, min, max, out); !parsed.ok()) return parsed;
    c.*field = static_cast<T>(out);
    return {};
  };
  k.set_empty = [field](Config& c) { c.*field = defaults().*field; };
  k.get = [field](const Config& c) { return std::to_string(c.*field); };
  return k;
}

KeySpec port_key(std::string name, std::uint16_t Config::*field, std::string description) {
  return int_key(std::move(name), field, 0, 65535,
                 std::move(description) + " 0 picks a free port.");
}

KeySpec bool_key(std::string name, bool Config::*field, std::string description) {
  KeySpec k;
  k.doc = {std::move(name), defaults().*field ? "true" : "false", "true or false",
           std::move(description)};
  k.set = [field](Config& c, std::string_view v) -> Result<void, std::string> {
    const auto b = parse_bool(v);
    if (!b) return "is not a boolean";
    c.*field = *b;
    return {};
  };
  k.set_empty = [field](Config& c) { c.*field = defaults().*field; };
  k.get = [field](const Config& c) { return std::string(c.*field ? "true" : "false"); };
  return k;
}

// A string key; `check` returns why a value is bad, `normalise` may rewrite a good one.
KeySpec string_key(std::string name, std::string Config::*field, std::string expected,
                   std::string description,
                   std::function<Result<void, std::string>(std::string_view)> check,
                   std::function<std::string(std::string_view)> normalise = {}) {
  KeySpec k;
  k.doc = {std::move(name), defaults().*field, std::move(expected), std::move(description)};
  k.set = [field, check = std::move(check), normalise = std::move(normalise)](
              Config& c, std::string_view v) -> Result<void, std::string> {
    if (auto checked = check(v); !checked.ok()) return checked;
    c.*field = normalise ? normalise(v) : std::string(v);
    return {};
  };
  k.set_empty = [field](Config& c) { c.*field = defaults().*field; };
  k.get = [field](const Config& c) { return c.*field; };
  return k;
}

// A comma-separated list of names, kept as written (trimmed, empty entries dropped).
KeySpec list_key(std::string name, std::vector<std::string> Config::*field, std::string expected,
                 std::string description) {
  KeySpec k;
  k.doc = {std::move(name), join(defaults().*field, ","), std::move(expected), std::move(description)};
  k.set = [field](Config& c, std::string_view v) -> Result<void, std::string> {
    (c.*field).clear();
    for (auto item : split_list(v)) (c.*field).emplace_back(item);
    return {};
  };
  k.set_empty = [field](Config& c) { (c.*field).clear(); };
  k.get = [field](const Config& c) { return join(c.*field, ","); };
  return k;
}

std::string listeners_to_string(const std::vector<Listener>& ls) {
  std::vector<std::string> parts;
  for (const auto& l : ls) parts.push_back(l.to_string());
  return join(parts, ",");
}

std::vector<KeySpec> make_key_specs() {
  std::vector<KeySpec> keys;

  {
    KeySpec k;
    k.doc = {
        "messagingProtocols", join(defaults().messagingProtocols, ","),
        "comma-separated protocol names",
        "Protocol handlers to run. mop provides `mqtt`: the MQTT listeners start only if it is "
        "listed. Other names (kafka, amqp: other Pulsar protocol handlers) are ignored with a "
        "warning. The Pulsar protocol itself is always served on brokerServicePort. Same key "
        "as Pulsar and MoP; Pulsar's default is empty, mop's is mqtt."};
    k.set = [](Config& c, std::string_view v) -> Result<void, std::string> {
      c.messagingProtocols.clear();
      for (auto item : split_list(v)) c.messagingProtocols.push_back(lower(item));
      return {};
    };
    k.set_empty = [](Config& c) { c.messagingProtocols.clear(); };
    k.get = [](const Config& c) { return join(c.messagingProtocols, ","); };
    keys.push_back(std::move(k));
  }
  {
    KeySpec k;
    k.doc = {
        "mqttListeners", listeners_to_string(defaults().mqttListeners),
        "scheme://host:port, comma-separated",
        "Where MQTT clients connect. IPv6 hosts go in brackets (mqtt://[::1]:1883); 0.0.0.0 or "
        "[::] listens on every interface; port 0 picks a free port. Schemes as in MoP: mqtt (TCP), "
        "mqtt+ssl (TLS: mqttTls* keys), mqtt+ssl+psk (TLS with pre-shared keys: mqttTlsPsk* keys), "
        "ws (WebSocket: webSocketPath) and ws+ssl (WebSocket over TLS). mop proxy serves the same "
        "schemes and, when this is not set or empty, listens on mqttProxyPort (and mqttProxyTlsPort, "
        "mqttProxyTlsPskPort, mqttProxyWsPort, mqttProxyWssPort as they say)."};
    k.set = [](Config& c, std::string_view v) -> Result<void, std::string> {
      const auto entries = split_list(v);
      std::vector<Listener> out;
      for (auto entry : entries) {
        auto l = parse_listener(entry);
        if (!l.ok()) {
          // Name the entry only when there are several; with one, the value already says it.
          if (entries.size() == 1) return "is not a listener: " + l.error();
          return "has a bad entry \"" + std::string(entry) + "\": " + l.error();
        }
        out.push_back(std::move(l).value());
      }
      c.mqttListeners = std::move(out);
      return {};
    };
    k.set_empty = [](Config& c) { c.mqttListeners.clear(); };
    k.get = [](const Config& c) { return listeners_to_string(c.mqttListeners); };
    keys.push_back(std::move(k));
  }
  keys.push_back(string_key(
      "advertisedAddress", &Config::advertisedAddress, "a host name or IP address",
      "The host name mop tells clients to connect to (e.g. in answers to Pulsar topic lookups). "
      "Empty: the host of the listener in question. Pulsar and MoP default to the machine's host "
      "name, and MoP requires it to match the listeners' host; mop does not.",
      [](std::string_view v) -> Result<void, std::string> {
        if (is_plain_host(v)) return {};
        if (v.size() > 2 && v.front() == '[' && v.back() == ']' &&
            is_ipv6_literal(v.substr(1, v.size() - 2))) {
          return {};
        }
        if (is_ipv6_literal(v)) return {};
        return "is not a host name or address";
      },
      [](std::string_view v) {
        // Stored without brackets, like Listener::host.
        if (v.size() > 2 && v.front() == '[') return std::string(v.substr(1, v.size() - 2));
        return std::string(v);
      }));
  {
    KeySpec k;
    std::vector<std::string> urls;
    for (const auto& a : defaults().brokerServiceURL) urls.push_back(a.to_string());
    k.doc = {"brokerServiceURL", join(urls, ","), "pulsar://host:port or pulsar+ssl://host:port, comma-separated",
             "mop proxy: the Apache Pulsar cluster, as in Pulsar's proxy.conf and client.conf: one or more "
             "brokers (or a Pulsar proxy or load balancer in front of them), tried in turn until one "
             "answers; topic lookups then lead to the broker owning each topic. Pulsar's multi-host "
             "form pulsar://a:6650,b:6650 is accepted; a port left out is 6650 (6651 for pulsar+ssl). "
             "pulsar+ssl:// connects with TLS everywhere, lookups included (brokerClientTrustCertsFilePath). "
             "A cluster that cannot be reached at start stops mop proxy with exit code 1."};
    k.modes = kProxy;
    k.set = [](Config& c, std::string_view v) -> Result<void, std::string> {
      auto parsed = parse_service_urls(v);
      if (!parsed.ok()) return "has a bad entry " + parsed.error();
      c.brokerServiceURL = std::move(parsed).value();
      return {};
    };
    k.set_empty = [](Config& c) { c.brokerServiceURL.clear(); };
    k.get = [](const Config& c) {
      std::vector<std::string> out;
      for (const auto& a : c.brokerServiceURL) out.push_back(a.to_string());
      return join(out, ",");
    };
    keys.push_back(std::move(k));
  }
  {
    auto k = bool_key("brokerClientTlsEnabled", &Config::brokerClientTlsEnabled,
                      "mop proxy: TLS towards the cluster, as Pulsar's key of that name. TLS follows the scheme "
                      "of brokerServiceURL (pulsar+ssl://); true with pulsar:// URLs is refused at start-up "
                      "rather than connecting in plain text.");
    k.modes = kProxy;
    keys.push_back(std::move(k));
  }
  {
    auto k = string_key(
        "brokerClientTrustCertsFilePath", &Config::brokerClientTrustCertsFilePath, "a PEM file path",
        "mop proxy: the CA certificates the brokers' certificates must chain to (Pulsar's key); empty: "
        "tlsTrustCertsFilePath, and when that is empty too the system's CAs. The certificate must also name "
        "the host connected to (DNS name or IP address) unless tlsHostnameVerificationEnabled=false.",
        [](std::string_view) -> Result<void, std::string> { return {}; });
    k.modes = kProxy;
    keys.push_back(std::move(k));
  }
  {
    auto k = string_key(
        "brokerClientAuthenticationPlugin", &Config::brokerClientAuthenticationPlugin, "a class name",
        "mop proxy: how it authenticates to the cluster, Pulsar's key: "
        "org.apache.pulsar.client.impl.auth.AuthenticationToken (a token), "
        "org.apache.pulsar.client.impl.auth.AuthenticationTls (a client certificate over pulsar+ssl://: the "
        "cluster's AuthenticationProviderTls takes its common name as the proxy's role) or empty (none); "
        "other plugins are refused at start-up. Credentials the cluster refuses stop the start (exit 1).",
        [](std::string_view) -> Result<void, std::string> { return {}; });
    k.modes = kProxy;
    keys.push_back(std::move(k));
  }
  {
    auto k = string_key(
        "brokerClientAuthenticationParameters", &Config::brokerClientAuthenticationParameters,
        "as the plugin reads them (see the description)",
        "mop proxy: the parameters of brokerClientAuthenticationPlugin, as Pulsar's plugins parse them. "
        "AuthenticationToken: token:<jwt> (the token itself), file:///path (a file holding the token, read "
        "again at every connect so a renewed token is used) or {\"token\":\"<jwt>\"}. AuthenticationTls: "
        "tlsCertFile:/path/cert.pem,tlsKeyFile:/path/key.pem or "
        "{\"tlsCertFile\":\"/path/cert.pem\",\"tlsKeyFile\":\"/path/key.pem\"} (PEM certificate chain and "
        "its unencrypted key, read at start).",
        [](std::string_view) -> Result<void, std::string> { return {}; });
    k.modes = kProxy;
    k.secret = true;
    keys.push_back(std::move(k));
  }
  {
    auto k = bool_key("tlsHostnameVerificationEnabled", &Config::tlsHostnameVerificationEnabled,
                      "mop proxy: the brokers' certificates (pulsar+ssl://) must name the host connected to "
                      "(a DNS name, or the IP address for a literal address), Pulsar's key for its proxy and "
                      "clients. Pulsar's default is false; mop's is true, which is safer: without it any "
                      "certificate of a trusted CA is accepted for any broker. false only checks the chain.");
    k.modes = kProxy;
    keys.push_back(std::move(k));
  }
  keys.push_back(port_key("brokerServicePort", &Config::brokerServicePort,
                          "TCP port of the Pulsar binary protocol (pulsar://), as in Pulsar."));
  keys.push_back(port_key("webServicePort", &Config::webServicePort,
                          "TCP port of the HTTP service, as in Pulsar: /metrics (Prometheus), the health "
                          "checks and the read-only admin API v2, on the host of the Pulsar listener. If "
                          "left at its default and 8080 is taken, mop warns and runs without it."));
  const auto pulsar_name = [](std::string_view v) -> Result<void, std::string> {
    if (is_pulsar_name(v)) return {};
    return "is not a valid Pulsar name";
  };
  keys.push_back(string_key("defaultTenant", &Config::defaultTenant,
                            "a Pulsar name: letters, digits, _ - = : .",
                            "Pulsar tenant of MQTT topics that do not name one: sensors/t lives at "
                            "persistent://public/default/sensors%2Ft. Same as MoP.",
                            pulsar_name));
  keys.push_back(string_key("defaultNamespace", &Config::defaultNamespace,
                            "a Pulsar name: letters, digits, _ - = : .",
                            "Pulsar namespace (within defaultTenant) of MQTT topics that do not "
                            "name one. Same as MoP.",
                            pulsar_name));
  {
    KeySpec k;
    k.doc = {"defaultTopicDomain", std::string(to_string(defaults().defaultTopicDomain)),
             "persistent or non-persistent",
             "Topic domain of MQTT topics that do not name one. non-persistent topics are not "
             "stored: subscribers that are not connected miss messages. Same as MoP."};
    k.set = [](Config& c, std::string_view v) -> Result<void, std::string> {
      if (v == "persistent") {
        c.defaultTopicDomain = TopicDomain::persistent;
      } else if (v == "non-persistent") {
        c.defaultTopicDomain = TopicDomain::non_persistent;
      } else {
        return "is not a topic domain";
      }
      return {};
    };
    k.set_empty = [](Config& c) { c.defaultTopicDomain = defaults().defaultTopicDomain; };
    k.get = [](const Config& c) { return std::string(to_string(c.defaultTopicDomain)); };
    keys.push_back(std::move(k));
  }
  {
    auto k = string_key(
        "mqttProxySystemNamespace", &Config::mqttProxySystemNamespace, "tenant/namespace (Pulsar names)",
        "mop proxy: the Pulsar namespace of the proxies' own topics: MQTT sessions, wills, retained "
        "messages (compacted topics every proxy reads back) and the takeover events of client ids. "
        "A namespace of its own, so that MQTT wildcard subscriptions in defaultNamespace never see "
        "these topics and its policies (compaction, retention) are set for it alone; in the public "
        "tenant, which every Pulsar cluster has. Create it before the first start (pulsar-admin "
        "namespaces create public/mop-system); mop proxy checks at start that it exists. mop's own key.",
        [](std::string_view v) -> Result<void, std::string> {
          const auto slash = v.find('/');
          if (slash == std::string_view::npos || !is_pulsar_name(v.substr(0, slash)) ||
              !is_pulsar_name(v.substr(slash + 1))) {
            return "is not tenant/namespace";
          }
          return {};
        });
    k.modes = kProxy;
    keys.push_back(std::move(k));
  }
  {
    auto k = int_key(
        "mqttProxyWillTakeoverIntervalSeconds", &Config::mqttProxyWillTakeoverIntervalSeconds, 1, 3600,
        "mop proxy: how often each proxy looks for the wills and sessions of a proxy that died "
        "(killed, or its host gone): it tries to take the liveness lease (an exclusive producer on "
        "mqtt-lease-{instance} in mqttProxySystemNamespace) of every other proxy named by a stored "
        "will or session record; the one that gets it publishes that proxy's wills, each after its "
        "delay, and expires its sessions after their expiry interval counted from then. A will of a "
        "killed proxy's client goes out within this interval plus its delay (a dead host: plus the "
        "broker's keep-alive detection, about a minute). mop's own key.");
    k.modes = kProxy;
    keys.push_back(std::move(k));
  }
  {
    auto k = int_key(
        "receiverQueueSize", &Config::receiverQueueSize, 1, 1000000,
        "mop proxy: how many messages each of its Pulsar consumers (one per MQTT subscription and topic) "
        "may have on their way from the broker before the MQTT client took them, Pulsar's consumer "
        "setting of that name (Pulsar's default: 1000). A consumer whose client stops taking messages is "
        "paused once this many wait in the proxy, so it holds at most twice this many beyond the "
        "client's in-flight window (receiveMaximum). Larger: more throughput per subscription over a "
        "slow link, more memory per stalled client.");
    k.modes = kProxy;
    keys.push_back(std::move(k));
  }
  {
    auto k = int_key(
        "mqttSharedSubscriptionReceiverQueueSize", &Config::mqttSharedSubscriptionReceiverQueueSize, 1, 1000000,
        "mop proxy: receiverQueueSize for the members of MQTT shared subscriptions ($share/group/filter). "
        "The members of a group compete for its messages, and what one member's consumer holds no other "
        "member gets while it stays connected: a member that stops reading holds at most twice this many "
        "beyond its in-flight window, and they go to the other members when its connection ends (Pulsar "
        "redelivers what a closed consumer held). Small by default for that reason; raise it for "
        "throughput when members keep up. mop's own key.");
    k.modes = kProxy;
    keys.push_back(std::move(k));
  }
  keys.push_back(bool_key("allowAutoTopicCreation", &Config::allowAutoTopicCreation,
                          "Create a topic on its first use (publish, subscribe, Pulsar producer "
                          "or consumer), as in Pulsar."));
  {
    KeySpec k;
    k.doc = {"allowAutoTopicCreationType", "non-partitioned", "non-partitioned or partitioned",
             "Kind of topic that auto-creation makes, as in Pulsar. partitioned: a Pulsar client's "
             "first use of a new topic (its partitioned-metadata lookup) creates it with "
             "defaultNumPartitions partitions, topics <name>-partition-0.. (kept in memory; "
             "MQTT sees each partition as its own topic and the base name as a plain topic)."};
    k.set = [](Config& c, std::string_view v) -> Result<void, std::string> {
      const auto l = lower(v);
      if (l == "partitioned") {
        c.autoTopicCreationPartitioned = true;
      } else if (l == "non-partitioned") {
        c.autoTopicCreationPartitioned = false;
      } else {
        return "is not non-partitioned or partitioned";
      }
      return {};
    };
    k.set_empty = [](Config& c) { c.autoTopicCreationPartitioned = defaults().autoTopicCreationPartitioned; };
    k.get = [](const Config& c) {
      return std::string(c.autoTopicCreationPartitioned ? "partitioned" : "non-partitioned");
    };
    keys.push_back(std::move(k));
  }
  keys.push_back(int_key(
      "defaultNumPartitions", &Config::defaultNumPartitions, 1, 4096,
      "Partitions of a topic auto-created with allowAutoTopicCreationType=partitioned. Same key "
      "and default as Pulsar."));
  keys.push_back(bool_key(
      "brokerDeduplicationEnabled", &Config::brokerDeduplicationEnabled,
      "Deduplicate Pulsar sends by producer name and sequence id, as in Pulsar: a resend of a "
      "sequence id already stored gets its receipt again and is not stored twice. The last "
      "sequence id per producer is kept in memory (lost on restart)."));
  keys.push_back(int_key(
      "mqttMessageMaxLength", &Config::mqttMessageMaxLength, 16, 268435460,
      "Largest MQTT packet accepted, in bytes, checked before anything is allocated; 268435460 is "
      "the largest packet MQTT can encode. MoP's default, 8092, refused ordinary payloads (MoP "
      "issues #362, #363); mop's is 1 MiB."));
  keys.push_back(int_key(
      "receiveMaximum", &Config::receiveMaximum, 1, 65535,
      "Most QoS 1 and QoS 2 messages delivered to one MQTT session and not yet acknowledged; "
      "further deliveries wait for acknowledgements. MoP: 65535 (sent to MQTT 5 clients as the "
      "server's Receive Maximum); mop's default, 1000, is the window MoP gives MQTT 3.1.1 "
      "clients."));
  keys.push_back(int_key(
      "mqttTopicAliasMaximum", &Config::mqttTopicAliasMaximum, 0, 65535,
      "Highest topic alias an MQTT 5 client may use when publishing to us (sent in CONNACK as "
      "Topic Alias Maximum; 0 = no aliases). Each alias costs one topic name per connection."));
  keys.push_back(int_key(
      "mqttServerKeepAlive", &Config::mqttServerKeepAlive, 0, 65535,
      "Keep alive, in seconds, imposed on MQTT 5 clients (sent in CONNACK as Server Keep Alive); "
      "0 lets each client use the keep alive it asked for. MQTT 3.1.1 clients always use theirs."));
  keys.push_back(int_key(
      "mqttMaxConnections", &Config::mqttMaxConnections, 0, std::numeric_limits<std::int32_t>::max(),
      "Most MQTT clients connected at once (counted from an accepted CONNECT); 0 = no limit. One "
      "more is refused with CONNACK 0x97 Quota exceeded (MQTT 3.1.1: return code 3, server "
      "unavailable); a client taking over its own connected session is not one more. MoP has no "
      "such key."));
  keys.push_back(int_key(
      "mqttMaxQueuedBytes", &Config::mqttMaxQueuedBytes, 1024, std::uint64_t{1} << 30,
      "Bytes of QoS 0 deliveries one MQTT client may have waiting for its socket (beyond what the "
      "kernel's socket buffer took). Past it the client's session takes no more messages until "
      "the socket has drained: on a persistent topic they wait in the log, so nothing is lost; "
      "QoS 0 messages of a non-persistent topic are dropped, as MQTT allows. QoS 1/2 deliveries "
      "are bounded by receiveMaximum instead. The limit is what a stalled subscriber costs in "
      "memory; a client that keeps up does not reach it (deliveries are written to the socket "
      "as soon as this much is queued). Named after mosquitto's max_queued_bytes; MoP has no "
      "such key."));
  keys.push_back(int_key(
      "maxMessageSize", &Config::maxMessageSize, 1, std::numeric_limits<std::int32_t>::max(),
      "Largest message accepted through the Pulsar protocol, in bytes, and the max_message_size "
      "announced to Pulsar clients. Same key and default as Pulsar (5 MiB)."));
  keys.push_back(int_key(
      "keepAliveIntervalSeconds", &Config::keepAliveIntervalSeconds, 1, 86400,
      "Pulsar connections, as in Pulsar: a connection silent this long gets a PING and is closed after twice as long; one that has not completed its CONNECT handshake this long after it opened is closed, however many bytes it has sent. Same key and default as Pulsar. (MQTT clients have their own keep alive and 10 s to send CONNECT.)"));
  keys.push_back(int_key(
      "maxMessagePublishBufferSizeInMB", &Config::maxMessagePublishBufferSizeInMB, 0, 1048576,
      "Back-pressure on publishers (MQTT and Pulsar): when the payloads accepted and not yet "
      "stored exceed this many MiB, mop stops reading from client connections until half of it is "
      "stored, so TCP holds publishers back instead of the excess piling up in memory. Pulsar's "
      "key; 0 turns it off (Pulsar's default is half the direct memory, ours a fixed 64)."));
  keys.push_back(int_key(
      "pulsarChannelWriteBufferHighWaterMark", &Config::pulsarChannelWriteBufferHighWaterMark, 0,
      std::numeric_limits<std::int32_t>::max(),
      "Read back-pressure per connection (MQTT and Pulsar), in bytes: a connection whose unwritten "
      "output exceeds this stops reading until it is down to pulsarChannelWriteBufferLowWaterMark, "
      "so a peer that sends requests and never reads the answers cannot grow mop's memory; TCP "
      "holds it back and its keep-alive runs out. 0 turns it off. Pulsar's key (there it acts only "
      "with pulsarChannelPauseReceivingRequestsIfUnwritable=true, default 64 KiB); mop always "
      "pauses, and its default, 4 MiB, is above the 1 MiB of deliveries an MQTT subscriber may have "
      "queued."));
  keys.push_back(int_key(
      "pulsarChannelWriteBufferLowWaterMark", &Config::pulsarChannelWriteBufferLowWaterMark, 0,
      std::numeric_limits<std::int32_t>::max(),
      "Unwritten output, in bytes, at or below which a connection paused by "
      "pulsarChannelWriteBufferHighWaterMark reads again; at most the high water mark. Pulsar's "
      "key (default 32 KiB there); mop's default is 1 MiB."));
  keys.push_back(string_key(
      "dataDir", &Config::dataDir, "a directory path",
      "Directory of mop standalone's embedded store: topics, cursors, sessions, retained messages. "
      "mop's own key (Pulsar keeps this state in BookKeeper and ZooKeeper).",
      [](std::string_view) -> Result<void, std::string> { return {}; }));
  keys.push_back(bool_key(
      "journalSyncData", &Config::journalSyncData,
      "Sync the store to disk before a message is acknowledged (MQTT PUBACK/PUBREC, Pulsar "
      "SEND_RECEIPT), as BookKeeper's key of this name. false is faster and may lose acknowledged "
      "messages if the machine fails."));
  keys.push_back(int_key(
      "journalPreAllocSizeMB", &Config::journalPreAllocSizeMB, 0, 1024,
      "How far ahead of its writes, in MiB, the store's write-ahead log is filled with zeros on "
      "disk by a background thread, so that a sync before an acknowledgement writes the message and "
      "not the file's new size and blocks too (on the machines mop is measured on, a sync in about "
      "half the time). 0: the log grows as it is written. As BookKeeper's key of this name, whose "
      "journal preallocates its files; mop's default is 4."));
  keys.push_back(int_key(
      "storeBlobMinSizeBytes", &Config::storeBlobMinSizeBytes, 0, std::uint64_t{1} << 30,
      "Stored messages (log entries) of at least this many bytes are kept in RocksDB's blob files, "
      "written once and sequentially, instead of being copied by every compaction of its table "
      "files; smaller ones stay in the table files. 0 keeps every message in the table files. "
      "Applies to what is stored from now on; a store opens with any value. mop's own key."));
  keys.push_back(int_key(
      "storeEntryLogMinSizeBytes", &Config::storeEntryLogMinSizeBytes, 0, std::uint64_t{1} << 30,
      "Stored messages (log entries) of at least this many bytes are written once, with direct I/O, "
      "to the store's entry log (dataDir/entrylog), synced before the RocksDB batch that refers to "
      "them, instead of through RocksDB's write-ahead log and memtable. Default 16384; 0 keeps them "
      "in RocksDB. Any other value makes the store format 3 (a format 2 store is migrated when "
      "opened for writing), which mops before it refuse. mop's own key."));
  keys.push_back(int_key(
      "defaultRetentionTimeInMinutes", &Config::defaultRetentionTimeInMinutes, -1, 5256000,
      "How long messages every subscription has acknowledged are kept (for readers, seeks, new "
      "subscriptions at earliest), as in Pulsar: kept while within both retention limits; -1 = no "
      "time limit; 0 (with defaultRetentionSizeInMB=0) = removed as soon as every subscription has "
      "acknowledged them. Set both retention keys to 0 or both to non-zero, as pulsar-admin requires."));
  keys.push_back(int_key(
      "defaultRetentionSizeInMB", &Config::defaultRetentionSizeInMB, -1, 1048576,
      "Most acknowledged data kept per topic, in MiB, as in Pulsar: the oldest acknowledged messages "
      "go first once it is exceeded; -1 = no size limit; 0 = no retention (see "
      "defaultRetentionTimeInMinutes)."));
  keys.push_back(int_key(
      "ttlDurationDefaultInSeconds", &Config::ttlDurationDefaultInSeconds, 0, std::numeric_limits<std::int32_t>::max(),
      "Message TTL, as in Pulsar: a message older than this is acknowledged for every subscription "
      "(checked every 10 seconds; undelivered messages are skipped); 0 = messages never expire."));
  keys.push_back(int_key(
      "statsUpdateFrequencyInSecs", &Config::statsUpdateFrequencyInSecs, 1, 86400,
      "How often the message rates of topics and subscriptions (pulsar_rate_in, pulsar_rate_out, "
      "msgRateIn, msgRateOut in the admin stats) are computed, in seconds, as in Pulsar: each rate "
      "is the average over the last full interval."));
  keys.push_back(int_key(
      "sysInterval", &Config::sysInterval, 0, 86400,
      "Seconds between updates of the MQTT $SYS/broker/... topics (Mosquitto's sys_interval: "
      "clients, publishes, load averages, uptime, version; retained, QoS 0, not matched by # or +); "
      "0 = no $SYS topics."));
  keys.push_back(int_key(
      "backlogQuotaDefaultLimitBytes", &Config::backlogQuotaDefaultLimitBytes, -1,
      std::numeric_limits<std::int64_t>::max(),
      "Backlog quota per topic, in bytes of payload from the slowest subscription's oldest "
      "unacknowledged message to the newest one, as in Pulsar; -1 = no quota. What happens above "
      "it: backlogQuotaDefaultRetentionPolicy."));
  {
    KeySpec k;
    k.doc = {"backlogQuotaDefaultRetentionPolicy", "producer_exception",
             "producer_exception or consumer_backlog_eviction",
             "What a topic over backlogQuotaDefaultLimitBytes does, as in Pulsar. producer_exception: "
             "publishing fails (Pulsar SEND_ERROR ProducerBlockedQuotaExceededException; an MQTT "
             "QoS 1/2 publish is refused) until subscribers catch up; consumer_backlog_eviction: the "
             "slowest subscription's oldest messages are acknowledged for it. Pulsar's "
             "producer_request_hold is not supported."};
    k.set = [](Config& c, std::string_view v) -> Result<void, std::string> {
      const auto l = lower(v);
      if (l == "producer_exception") {
        c.backlogQuotaEviction = false;
      } else if (l == "consumer_backlog_eviction") {
        c.backlogQuotaEviction = true;
      } else if (l == "producer_request_hold") {
        return "producer_request_hold is not supported; use producer_exception or consumer_backlog_eviction";
      } else {
        return "is not producer_exception or consumer_backlog_eviction";
      }
      return {};
    };
    k.set_empty = [](Config& c) { c.backlogQuotaEviction = defaults().backlogQuotaEviction; };
    k.get = [](const Config& c) {
      return std::string(c.backlogQuotaEviction ? "consumer_backlog_eviction" : "producer_exception");
    };
    keys.push_back(std::move(k));
  }
  keys.push_back(string_key(
      "logLevel", &Config::logLevel, "trace, debug, info, warn or error",
      "Log level of every module. mop's own key (Pulsar sets levels in log4j2.yaml).",
      [](std::string_view v) -> Result<void, std::string> {
        const auto l = lower(v);
        if (std::find(std::begin(kLogLevels), std::end(kLogLevels), l) != std::end(kLogLevels)) {
          return {};
        }
        return "is not a log level";
      },
      [](std::string_view v) { return lower(v); }));
  {
    auto k = bool_key(
        "mqttProxyEnabled", &Config::mqttProxyEnabled,
        "MoP's switch for its MQTT proxy (MoP also reads the old name mqttProxyEnable, and so does "
        "mop). In mop the proxy is its own mode, `mop proxy`; in standalone true has no effect "
        "but a warning.");
    k.aliases = {"mqttProxyEnable"};
    keys.push_back(std::move(k));
  }
  keys.push_back(port_key("mqttProxyPort", &Config::mqttProxyPort,
                          "MQTT port of `mop proxy`, as in MoP, on every interface (0.0.0.0), used "
                          "when mqttListeners is not set or empty; not used by mop standalone."));
  {
    std::vector<KeySpec> proxy_ports;
    proxy_ports.push_back(bool_key("mqttProxyTlsEnabled", &Config::mqttProxyTlsEnabled,
                                   "mop proxy: also serve MQTT over TLS on mqttProxyTlsPort (MoP's key), with the "
                                   "mqttTls* keys; only when mqttListeners is not set."));
    proxy_ports.push_back(port_key("mqttProxyTlsPort", &Config::mqttProxyTlsPort,
                                   "mop proxy: port of MQTT over TLS (mqtt+ssl) on every interface when "
                                   "mqttProxyTlsEnabled=true, as in MoP."));
    proxy_ports.push_back(bool_key("mqttProxyTlsPskEnabled", &Config::mqttProxyTlsPskEnabled,
                                   "mop proxy: also serve MQTT over TLS-PSK on mqttProxyTlsPskPort (MoP's key; needs "
                                   "mqttTlsPskEnabled and identities); only when mqttListeners is not set."));
    proxy_ports.push_back(port_key("mqttProxyTlsPskPort", &Config::mqttProxyTlsPskPort,
                                   "mop proxy: port of MQTT over TLS-PSK (mqtt+ssl+psk) on every interface when "
                                   "mqttProxyTlsPskEnabled=true, as in MoP."));
    proxy_ports.push_back(int_key("mqttProxyWsPort", &Config::mqttProxyWsPort, -1, 65535,
                                  "mop proxy: port of MQTT over WebSocket (ws, webSocketPath) on every interface "
                                  "when mqttListeners is not set; -1 = none. 0 picks a free port. mop's key (MoP's "
                                  "proxy has no WebSocket port)."));
    proxy_ports.push_back(int_key("mqttProxyWssPort", &Config::mqttProxyWssPort, -1, 65535,
                                  "mop proxy: port of MQTT over WebSocket over TLS (ws+ssl, mqttTls* keys) on every "
                                  "interface when mqttListeners is not set; -1 = none. 0 picks a free port. mop's "
                                  "key."));
    for (auto& k : proxy_ports) {
      k.modes = kProxy;
      keys.push_back(std::move(k));
    }
  }
  keys.push_back(bool_key(
      "mqttAuthenticationEnabled", &Config::mqttAuthenticationEnabled,
      "Require MQTT clients to authenticate with one of mqttAuthenticationMethods, as in MoP. A bad "
      "user name or password gets CONNACK 0x86 (MQTT 3.1.1: return code 4), a client without "
      "credentials 0x87 (code 5) unless anonymousUserRole is set. The same in mop proxy (which checks "
      "the credentials itself, with the same keys)."));
  keys.push_back(list_key(
      "mqttAuthenticationMethods", &Config::mqttAuthenticationMethods, "comma-separated: basic, token, tls",
      "MQTT authentication methods, tried in the order written, as in MoP. basic: the CONNECT's user "
      "name and password against basicAuthConf; token: the CONNECT's password is a JWT (the user name "
      "is ignored); tls (Pulsar's AuthenticationProviderTls): a client without a password whose "
      "certificate an mqtt+ssl:// or ws+ssl:// listener verified (mTLS) has the certificate's common "
      "name as its role. MQTT 5 clients may also use enhanced authentication with method token."));
  keys.push_back(bool_key(
      "authenticationEnabled", &Config::authenticationEnabled,
      "Require Pulsar clients (brokerServicePort, brokerServicePortTls) and web service requests "
      "(webServicePort, webServicePortTls) to authenticate with one of authenticationProviders, as in "
      "Pulsar; refused Pulsar clients get ERROR AuthenticationError, HTTP requests 401."));
  keys.push_back(list_key(
      "authenticationProviders", &Config::authenticationProviders,
      "comma-separated provider class names (or basic, token, tls)",
      "Pulsar's authentication providers for the Pulsar port and the web service: "
      "org.apache.pulsar.broker.authentication.AuthenticationProviderToken (token), "
      "org.apache.pulsar.broker.authentication.AuthenticationProviderBasic (basic) and "
      "org.apache.pulsar.broker.authentication.AuthenticationProviderTls (tls: the common name of a "
      "client certificate verified against tlsTrustCertsFilePath on brokerServicePortTls or "
      "webServicePortTls is the role); others are refused at start-up."));
  keys.push_back(string_key(
      "anonymousUserRole", &Config::anonymousUserRole, "a role name",
      "Role given to a client that presents no credentials while authentication is on (Pulsar's "
      "key); empty refuses such clients. A client with wrong credentials is refused either way.",
      [](std::string_view) -> Result<void, std::string> { return {}; }));
  keys.push_back(string_key(
      "basicAuthConf", &Config::basicAuthConf, "a file (path, file:///path, data:...;base64,...) or its content in base64",
      "Users of the basic method, as Pulsar's AuthenticationProviderBasic reads them: one user:hash "
      "per line, hashes from `htpasswd -m` / `openssl passwd -apr1` ($apr1$) or crypt(3).",
      [](std::string_view) -> Result<void, std::string> { return {}; }));
  keys.push_back(string_key(
      "tokenSecretKey", &Config::tokenSecretKey, "data:;base64,..., file:///path, a path or base64",
      "HMAC secret of the token method (tokens signed HS256/HS384/HS512), as made by `mop token "
      "create-secret-key` or `pulsar tokens create-secret-key`. Pulsar's key.",
      [](std::string_view) -> Result<void, std::string> { return {}; }));
  keys.push_back(string_key(
      "tokenPublicKey", &Config::tokenPublicKey, "data:;base64,..., file:///path, a path or base64",
      "Public key (DER as `pulsar tokens create-key-pair` writes it, or PEM) of the token method; "
      "tokens must be signed with tokenPublicAlg. Used when tokenSecretKey is empty. Pulsar's key.",
      [](std::string_view) -> Result<void, std::string> { return {}; }));
  keys.push_back(string_key(
      "tokenPublicAlg", &Config::tokenPublicAlg, "RS256, RS384, RS512, ES256, ES384 or ES512",
      "The one algorithm tokens checked with tokenPublicKey may be signed with. Pulsar's key.",
      [](std::string_view v) -> Result<void, std::string> {
        for (const char* a : {"RS256", "RS384", "RS512", "ES256", "ES384", "ES512"})
          if (v == a) return {};
        return "is not RS256, RS384, RS512, ES256, ES384 or ES512";
      }));
  keys.push_back(string_key(
      "tokenAuthClaim", &Config::tokenAuthClaim, "a claim name",
      "The token claim that holds the role. Pulsar's key.",
      [](std::string_view) -> Result<void, std::string> { return {}; }));
  keys.push_back(string_key(
      "tokenAudienceClaim", &Config::tokenAudienceClaim, "a claim name (empty = aud)",
      "The token claim that must name tokenAudience. Pulsar's key.",
      [](std::string_view) -> Result<void, std::string> { return {}; }));
  keys.push_back(string_key(
      "tokenAudience", &Config::tokenAudience, "a string",
      "When set, tokens are accepted only if their audience claim is (or lists) this value. Pulsar's key.",
      [](std::string_view) -> Result<void, std::string> { return {}; }));
  keys.push_back(int_key(
      "authenticationRefreshCheckSeconds", &Config::authenticationRefreshCheckSeconds, 1, 86400,
      "How often a Pulsar connection's token is checked for expiry, as in Pulsar: an expired one "
      "gets AUTH_CHALLENGE and must answer with a valid token before the next check, or is closed."));
  keys.push_back(bool_key(
      "authorizationEnabled", &Config::authorizationEnabled,
      "Check Pulsar clients' PRODUCER and SUBSCRIBE against the roles' grants (produce / consume on "
      "a namespace or a topic, managed through /admin/v2/.../permissions/{role}), as in Pulsar; "
      "refused with AuthorizationError. Needs authenticationEnabled. Grants are stored in dataDir."));
  keys.push_back(bool_key(
      "mqttAuthorizationEnabled", &Config::mqttAuthorizationEnabled,
      "Check MQTT PUBLISH (produce) and SUBSCRIBE (consume) against the same grants, as in MoP: "
      "MQTT 5 gets PUBACK / SUBACK 0x87, MQTT 3.1.1 SUBACK 0x80 and, for a publish, a closed "
      "connection. Needs mqttAuthenticationEnabled."));
  keys.push_back(list_key(
      "superUserRoles", &Config::superUserRoles, "comma-separated role names",
      "Roles that may do everything, including managing grants over HTTP. Pulsar's key."));
  keys.push_back(bool_key(
      "authorizationAllowWildcardsMatching", &Config::authorizationAllowWildcardsMatching,
      "MQTT: a wildcard filter is accepted without a namespace consume grant, and subscribes only to "
      "the matching topics the role may consume (otherwise it needs the namespace grant)."));


  // Transports: TLS, TLS-PSK and WebSocket listeners (net/README.md).
  auto any = [](std::string_view) -> Result<void, std::string> { return {}; };
  auto protocols = [](std::string_view v) -> Result<void, std::string> {
    for (auto p : split_list(v)) {
      const auto l = lower(p);
      if (l != "tlsv1.3" && l != "tlsv1.2" && l != "tlsv1.1" && l != "tlsv1")
        return "names \"" + std::string(p) + "\", which is not TLSv1, TLSv1.1, TLSv1.2 or TLSv1.3";
    }
    return {};
  };
  keys.push_back(int_key(
      "brokerServicePortTls", &Config::brokerServicePortTls, -1, 65535,
      "Port of the Pulsar protocol over TLS (pulsar+ssl://), as in Pulsar, with the tls* keys below; -1 "
      "(or empty) = none. 0 picks a free port."));
  keys.push_back(int_key(
      "webServicePortTls", &Config::webServicePortTls, -1, 65535,
      "Port of the web service over TLS (https://), as in Pulsar: the routes of webServicePort with "
      "the tls* keys below (certificate, key, client certificates) and the same authentication; -1 "
      "(or empty) = none. 0 picks a free port."));
  keys.push_back(string_key("tlsCertificateFilePath", &Config::tlsCertificateFilePath, "a PEM file path",
                            "Server certificate (chain) of the Pulsar TLS port, as in Pulsar; also used by "
                            "the MQTT TLS listeners when mqttTlsCertificateFilePath is not set.",
                            any));
  keys.push_back(string_key("tlsKeyFilePath", &Config::tlsKeyFilePath, "a PEM file path",
                            "Private key of tlsCertificateFilePath (unencrypted PEM), as in Pulsar.", any));
  keys.push_back(string_key(
      "tlsTrustCertsFilePath", &Config::tlsTrustCertsFilePath, "a PEM file path",
      "CA certificates that client certificates must chain to, as in Pulsar; empty: client certificates are "
      "not asked for.",
      any));
  keys.push_back(string_key("tlsProtocols", &Config::tlsProtocols, "comma-separated: TLSv1.2, TLSv1.3",
                            "TLS versions the Pulsar TLS port accepts, as in Pulsar; empty: OpenSSL's "
                            "defaults (TLS 1.2 and 1.3 on Debian 12).",
                            protocols));
  keys.push_back(string_key(
      "tlsCiphers", &Config::tlsCiphers, "comma-separated cipher names",
      "Cipher suites of the Pulsar TLS port: IANA names as Pulsar takes them "
      "(TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256) or OpenSSL names; empty: OpenSSL's defaults.",
      any));
  keys.push_back(bool_key("tlsAllowInsecureConnection", &Config::tlsAllowInsecureConnection,
                          "Let in a client whose certificate does not verify against tlsTrustCertsFilePath "
                          "(its certificate then names no one), as in Pulsar."));
  keys.push_back(bool_key("tlsRequireTrustedClientCertOnConnect", &Config::tlsRequireTrustedClientCertOnConnect,
                          "mTLS on the Pulsar TLS port, as in Pulsar: every client must present a "
                          "certificate signed by tlsTrustCertsFilePath; others fail the handshake."));
  keys.push_back(int_key("tlsCertRefreshCheckDurationSec", &Config::tlsCertRefreshCheckDurationSec, 0, 31536000,
                         "How often, in seconds, a new TLS connection first checks whether the certificate, "
                         "key or CA files changed and reloads them, as in Pulsar; 0: at every new connection."));
  keys.push_back(string_key("mqttTlsCertificateFilePath", &Config::mqttTlsCertificateFilePath, "a PEM file path",
                            "Server certificate (chain) of the mqtt+ssl:// and ws+ssl:// listeners (MoP's "
                            "key); empty: tlsCertificateFilePath.",
                            any));
  keys.push_back(string_key("mqttTlsKeyFilePath", &Config::mqttTlsKeyFilePath, "a PEM file path",
                            "Private key of the MQTT TLS certificate (MoP's key); empty: tlsKeyFilePath.", any));
  keys.push_back(string_key("mqttTlsTrustCertsFilePath", &Config::mqttTlsTrustCertsFilePath, "a PEM file path",
                            "CA certificates MQTT client certificates must chain to (MoP's key); empty: "
                            "tlsTrustCertsFilePath.",
                            any));
  keys.push_back(string_key("mqttTlsProtocols", &Config::mqttTlsProtocols, "comma-separated: TLSv1.2, TLSv1.3",
                            "TLS versions of the MQTT TLS listeners (MoP's key); empty: tlsProtocols.", protocols));
  keys.push_back(string_key("mqttTlsCiphers", &Config::mqttTlsCiphers, "comma-separated cipher names",
                            "Cipher suites of the MQTT TLS listeners, IANA or OpenSSL names (MoP's key); "
                            "empty: tlsCiphers (for mqtt+ssl+psk: the PSK suites).",
                            any));
  keys.push_back(bool_key("mqttTlsAllowInsecureConnection", &Config::mqttTlsAllowInsecureConnection,
                          "Let in an MQTT client whose certificate does not verify (MoP's key); false: "
                          "tlsAllowInsecureConnection decides."));
  keys.push_back(bool_key("mqttTlsRequireTrustedClientCertOnConnect",
                          &Config::mqttTlsRequireTrustedClientCertOnConnect,
                          "mTLS on the MQTT TLS listeners (MoP's key): every client must present a "
                          "certificate signed by mqttTlsTrustCertsFilePath; its common name is the client's "
                          "certificate identity. false: tlsRequireTrustedClientCertOnConnect decides."));
  keys.push_back(int_key("mqttTlsCertRefreshCheckDurationSec", &Config::mqttTlsCertRefreshCheckDurationSec, 0,
                         31536000,
                         "tlsCertRefreshCheckDurationSec for the MQTT TLS listeners (MoP's key; 300, the "
                         "default, means tlsCertRefreshCheckDurationSec decides)."));
  {
    auto k = bool_key("mqttTlsPskEnabled", &Config::mqttTlsPskEnabled,
                      "Serve mqtt+ssl+psk:// listeners: TLS with pre-shared keys instead of certificates "
                      "(MoP's key; MoP's older name tlsPskEnabled is read too).");
    k.aliases = {"tlsPskEnabled"};
    keys.push_back(std::move(k));
  }
  {
    auto k = string_key("mqttTlsPskIdentityHint", &Config::mqttTlsPskIdentityHint, "any text",
                        "PSK identity hint sent to clients (MoP's key; also read as tlsPskIdentityHint).", any);
    k.aliases = {"tlsPskIdentityHint"};
    keys.push_back(std::move(k));
  }
  {
    auto k = string_key(
        "mqttTlsPskIdentity", &Config::mqttTlsPskIdentity, "identity:secret;identity:secret",
        "PSK identities and their secrets, as MoP reads them: the key is the secret's bytes (mqtt:mqtt123 "
        "is identity mqtt with key \"mqtt123\", which mosquitto takes in hex: --psk 6d717474313233). Also "
        "read as tlsPskIdentity.",
        any);
    k.aliases = {"tlsPskIdentity"};
    keys.push_back(std::move(k));
  }
  {
    auto k = string_key("mqttTlsPskIdentityFile", &Config::mqttTlsPskIdentityFile, "a file path",
                        "A file of identity:secret lines (# comments), read at start in addition to "
                        "mqttTlsPskIdentity (MoP's key; also read as tlsPskIdentityFile).",
                        any);
    k.aliases = {"tlsPskIdentityFile"};
    keys.push_back(std::move(k));
  }
  keys.push_back(string_key(
      "webSocketPath", &Config::webSocketPath, "a path starting with /",
      "The HTTP path of the ws:// and ws+ssl:// listeners, as in MoP; an upgrade to another path gets 404. "
      "Subprotocols served: mqtt, mqttv3.1, mqttv3.1.1, mqttv5.0.",
      [](std::string_view v) -> Result<void, std::string> {
        if (v.front() != '/') return std::string("does not start with /");
        return {};
      }));
  keys.push_back(int_key("webSocketMaxFrameSize", &Config::webSocketMaxFrameSize, 16, 268435461,
                         "Largest WebSocket message, in bytes, on the ws:// and ws+ssl:// listeners, as in "
                         "MoP; a larger one closes the connection (close code 1009). Keep it above "
                         "mqttMessageMaxLength for MQTT clients that send one packet per message."));
  // What only the broker with its own store reads: its Pulsar and HTTP listeners, storage and
  // the topic policies it applies itself (a Pulsar cluster has its own).
  for (const char* name :
       {"messagingProtocols", "brokerServicePort", "webServicePort", "allowAutoTopicCreation",
        "allowAutoTopicCreationType", "defaultNumPartitions", "brokerDeduplicationEnabled", "maxMessageSize",
        "keepAliveIntervalSeconds", "dataDir", "journalSyncData", "journalPreAllocSizeMB", "defaultRetentionTimeInMinutes",
        "defaultRetentionSizeInMB", "ttlDurationDefaultInSeconds", "statsUpdateFrequencyInSecs",
        "backlogQuotaDefaultLimitBytes", "backlogQuotaDefaultRetentionPolicy", "mqttProxyEnabled",
        // The Pulsar port's authentication, authorization (the grants are stored in dataDir) and
        // $SYS are standalone's; MQTT authentication and the transports serve both modes.
        "authenticationEnabled", "authenticationProviders", "authenticationRefreshCheckSeconds",
        "authorizationEnabled", "mqttAuthorizationEnabled", "superUserRoles", "authorizationAllowWildcardsMatching",
        "sysInterval", "brokerServicePortTls", "webServicePortTls",
        // The proxy stores nothing itself.
        "storeBlobMinSizeBytes", "storeEntryLogMinSizeBytes"}) {
    for (auto& k : keys) {
      if (k.doc.name == name) k.modes = kStandalone;
    }
  }
  return keys;
}

const std::vector<KeySpec>& key_specs() {
  static const std::vector<KeySpec> keys = make_key_specs();
  return keys;
}

const KeySpec* find_key(std::string_view name) {
  for (const auto& k : key_specs()) {
    if (k.doc.name == name) return &k;
    for (const auto& alias : k.aliases) {
      if (alias == name) return &k;
    }
  }
  return nullptr;
}

// Keys a Pulsar or MoP standalone.conf carries that mop reads without using yet. Accepting them
// (with a note) rather than calling them unknown lets a user start mop on the file they have.
const std::vector<std::string> kCompatKeys = {
    "protocolHandlerDirectory",  "clusterName",
    "zookeeperServers",          "metadataStoreUrl",
    "configurationStoreServers",
    "bindAddress",
    "advertisedListeners",
};
const std::vector<std::string> kCompatPrefixes = {"managedLedger", "bookkeeper", "dlog", "tls"};

bool is_compat_key(std::string_view key) {
  if (std::find(kCompatKeys.begin(), kCompatKeys.end(), key) != kCompatKeys.end()) return true;
  return std::any_of(kCompatPrefixes.begin(), kCompatPrefixes.end(),
                     [&](const std::string& p) { return key.starts_with(p); });
}

std::size_t edit_distance(std::string_view a, std::string_view b) {
  std::vector<std::size_t> row(b.size() + 1);
  for (std::size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (std::size_t i = 1; i <= a.size(); ++i) {
    std::size_t diag = row[0];
    row[0] = i;
    for (std::size_t j = 1; j <= b.size(); ++j) {
      const std::size_t up = row[j];
      const bool same = std::tolower(static_cast<unsigned char>(a[i - 1])) ==
                        std::tolower(static_cast<unsigned char>(b[j - 1]));
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diag + (same ? 0 : 1)});
      diag = up;
    }
  }
  return row[b.size()];
}

// For "unknown key" warnings: the known key a typo most likely meant, if one is close.
std::optional<std::string> suggest_key(std::string_view key) {
  std::optional<std::string> best;
  std::size_t best_d = 3;  // more than two edits away is not a typo
  for (const auto& k : key_specs()) {
    const auto d = edit_distance(key, k.doc.name);
    if (d < best_d) {
      best_d = d;
      best = k.doc.name;
    }
  }
  return best;
}

// ---------------------------------------------------------------------------------------------
// Loading

struct Loader {
  Mode mode = Mode::standalone;
  Config config;
  std::vector<ConfigError> errors;
  std::vector<std::string> warnings;
  // Where each key was set in the file, to warn about a key set twice there.
  std::map<std::string, std::string> file_seen;

  void apply(std::string_view key, std::string_view value, const std::string& source,
             bool from_file) {
    const KeySpec* spec = find_key(key);
    if (spec == nullptr) {
      if (is_compat_key(key)) {
        warnings.push_back(source + ": " + std::string(key) +
                           " is read for compatibility with Pulsar/MoP, not used yet");
      } else {
        std::string w = source + ": unknown key \"" + std::string(key) + "\" ignored";
        if (auto s = suggest_key(key)) w += " (did you mean " + *s + "?)";
        warnings.push_back(std::move(w));
      }
      return;
    }
    const std::string& name = spec->doc.name;
    if ((spec->modes & mode_bit(mode)) == 0) {
      warnings.push_back(source + ": " + name + " is not used by mop " + std::string(to_string(mode)) +
                         "; ignored");
      return;
    }
    if (from_file) {
      auto [it, fresh] = file_seen.emplace(name, source);
      if (!fresh) {
        warnings.push_back(source + ": " + name + " is set again (first at " + it->second +
                           "); the later value wins");
        it->second = source;
      }
    }
    if (value.empty()) {
      spec->set_empty(config);
    } else if (auto set = spec->set(config, value); !set.ok()) {
      std::string msg = source + ": " + std::string(key) +
                        (spec->secret ? std::string(" (value not shown)") : "=\"" + std::string(value) + "\"") + " " +
                        set.error() + "; expected " + spec->doc.expected;
      errors.push_back({name, std::move(msg)});
      return;
    }
    config.sources[name] = source;
  }

  void load_text(std::string_view text, std::string_view source_name) {
    if (text.starts_with("\xEF\xBB\xBF")) text.remove_prefix(3);  // UTF-8 BOM from some editors
    std::size_t line_no = 0;
    while (!text.empty()) {
      ++line_no;
      const auto nl = text.find('\n');
      const auto raw = text.substr(0, nl);
      text.remove_prefix(nl == std::string_view::npos ? text.size() : nl + 1);
      const auto line = trim(raw);
      if (line.empty() || line.front() == '#') continue;
      const std::string source = std::string(source_name) + ":" + std::to_string(line_no);
      const auto eq = line.find('=');
      if (eq == std::string_view::npos) {
        errors.push_back({"", source + ": \"" + std::string(line) +
                                  "\" is not a key=value line (comments start with #)"});
        continue;
      }
      const auto key = trim(line.substr(0, eq));
      if (key.empty()) {
        errors.push_back({"", source + ": \"" + std::string(line) + "\" has no key before '='"});
        continue;
      }
      apply(key, trim(line.substr(eq + 1)), source, /*from_file=*/true);
    }
  }

  ConfigResult finish(const Overrides& overrides, std::vector<std::string>* out_warnings) {
    for (const auto& [key, value] : overrides) {
      apply(trim(key), trim(value), "command line", /*from_file=*/false);
    }
    // Validation needs every value in place, and would only repeat parse errors as noise.
    if (errors.empty()) {
      auto problems = config.validate();
      for (auto& e : problems.errors) errors.push_back(std::move(e));
      for (auto& w : problems.warnings) warnings.push_back(std::move(w));
    }
    if (out_warnings != nullptr) {
      out_warnings->insert(out_warnings->end(), warnings.begin(), warnings.end());
    } else {
      auto log = mop::log::get("config");
      for (const auto& w : warnings) log->warn("{}", w);
    }
    if (!errors.empty()) return std::move(errors);
    return std::move(config);
  }
};

void word_wrap(std::string& out, std::string_view text, std::size_t indent, std::size_t width) {
  std::size_t col = indent;
  out.append(indent, ' ');
  bool first = true;
  while (!text.empty()) {
    const auto sp = text.find(' ');
    const auto word = text.substr(0, sp);
    text.remove_prefix(sp == std::string_view::npos ? text.size() : sp + 1);
    if (!first && col + 1 + word.size() > width) {
      out += '\n';
      out.append(indent, ' ');
      col = indent;
      first = true;
    }
    if (!first) {
      out += ' ';
      ++col;
    }
    out += word;
    col += word.size();
    first = false;
  }
  out += '\n';
}

}  // namespace

// -----------------------------------------------------------------------------------------------

std::string Listener::to_string() const {
  const bool v6 = host.find(':') != std::string::npos;
  return scheme + "://" + (v6 ? "[" + host + "]" : host) + ":" + std::to_string(port);
}

std::string_view to_string(Mode mode) { return mode == Mode::proxy ? "proxy" : "standalone"; }

std::string ServiceAddress::to_string() const {
  const bool v6 = host.find(':') != std::string::npos;
  return std::string(tls ? "pulsar+ssl://" : "pulsar://") + (v6 ? "[" + host + "]" : host) + ":" + std::to_string(port);
}

Result<std::vector<ServiceAddress>, std::string> parse_service_urls(std::string_view value) {
  std::vector<ServiceAddress> out;
  for (auto entry : split_list(value)) {
    const std::string quoted = std::string("\"").append(entry).append("\"");
    auto rest = entry;
    // An entry without a scheme takes the first one's (Pulsar's multi-host form).
    bool tls = !out.empty() && out.front().tls;
    if (const auto sep = rest.find("://"); sep != std::string_view::npos) {
      const auto scheme = lower(rest.substr(0, sep));
      if (scheme != "pulsar" && scheme != "pulsar+ssl")
        return quoted + ": unknown scheme \"" + scheme + "\" (expected pulsar:// or pulsar+ssl://)";
      tls = scheme == "pulsar+ssl";
      if (!out.empty() && tls != out.front().tls)
        return quoted + ": mixes pulsar:// and pulsar+ssl://; every broker is reached the same way";
      rest.remove_prefix(sep + 3);
    } else if (out.empty()) {
      return quoted + ": not of the form pulsar://host:port";
    }
    if (!rest.empty() && rest.back() == '/') rest.remove_suffix(1);
    ServiceAddress a;
    a.tls = tls;
    if (tls) a.port = 6651;
    std::string_view port_text;
    if (!rest.empty() && rest.front() == '[') {
      const auto close = rest.find(']');
      if (close == std::string_view::npos || !is_ipv6_literal(rest.substr(1, close - 1))) {
        return quoted + ": not an IPv6 address in brackets";
      }
      a.host = std::string(rest.substr(1, close - 1));
      const auto after = rest.substr(close + 1);
      if (!after.empty()) {
        if (after.front() != ':') return quoted + ": expected :port after the address";
        port_text = after.substr(1);
      }
    } else {
      const auto colon = rest.find(':');
      const auto host = rest.substr(0, colon);
      if (!is_plain_host(host)) return quoted + ": \"" + std::string(host) + "\" is not a host name or address";
      a.host = std::string(host);
      if (colon != std::string_view::npos) port_text = rest.substr(colon + 1);
    }
    if (!port_text.empty() || (rest.find(':') != std::string_view::npos && rest.front() != '[')) {
      std::int64_t port = 0;
      if (auto parsed = parse_int(port_text, 1, 65535, port); !parsed.ok()) {
        return quoted + ": port \"" + std::string(port_text) + "\" " + parsed.error() + " (1..65535)";
      }
      a.port = static_cast<std::uint16_t>(port);
    }
    out.push_back(std::move(a));
  }
  return out;
}

Result<TokenParameters, std::string> parse_token_parameters(std::string_view value) {
  TokenParameters out;
  if (value.starts_with("token:")) {
    out.token = std::string(value.substr(6));
  } else if (value.starts_with("file:")) {
    auto path = value.substr(5);
    if (path.starts_with("//")) path.remove_prefix(2);  // file:///path; file://host/path is not a local file
    if (path.empty() || path.front() != '/') return std::string("names no absolute file path (file:///path/to/token)");
    out.file = std::string(path);
  } else if (value.starts_with("{")) {
    const auto json = nlohmann::json::parse(value, nullptr, /*allow_exceptions=*/false);
    if (json.is_discarded() || !json.is_object()) return std::string("is not a JSON object");
    const auto it = json.find("token");
    if (it == json.end() || !it->is_string()) return std::string("has no \"token\" string");
    out.token = it->get<std::string>();
  } else {
    out.token = std::string(value);
  }
  if (out.file.empty() && trim(out.token).empty()) return std::string("holds an empty token");
  return out;
}

Result<TlsAuthParameters, std::string> parse_tls_auth_parameters(std::string_view value) {
  TlsAuthParameters out;
  const auto text = trim(value);
  if (text.empty()) return std::string("is empty: it needs tlsCertFile and tlsKeyFile");
  if (text.front() == '{') {
    const auto json = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
    if (json.is_discarded() || !json.is_object()) return std::string("is not a JSON object");
    for (const auto& [name, field] : {std::pair{"tlsCertFile", &out.cert_file}, std::pair{"tlsKeyFile", &out.key_file}}) {
      const auto it = json.find(name);
      if (it == json.end()) continue;
      if (!it->is_string()) return std::string("has a \"") + name + "\" that is not a string";
      *field = it->get<std::string>();
    }
  } else {
    // Pulsar's older form: key:value pairs, split at the first ':' (a Windows path keeps its own).
    for (auto pair : split_list(text)) {
      const auto colon = pair.find(':');
      if (colon == std::string_view::npos || colon + 1 == pair.size()) continue;  // as Pulsar: ignored
      const auto name = trim(pair.substr(0, colon));
      const auto path = std::string(trim(pair.substr(colon + 1)));
      if (name == "tlsCertFile") out.cert_file = path;
      else if (name == "tlsKeyFile") out.key_file = path;
    }
  }
  if (out.cert_file.empty()) return std::string("names no tlsCertFile");
  if (out.key_file.empty()) return std::string("names no tlsKeyFile");
  return out;
}

std::optional<std::string> broker_client_auth_method(std::string_view plugin) {
  if (plugin.empty()) return std::string();
  const auto dot = plugin.rfind('.');
  const auto simple = dot == std::string_view::npos ? plugin : plugin.substr(dot + 1);
  if (simple == "AuthenticationToken" || plugin == "token") return std::string("token");
  if (simple == "AuthenticationTls" || plugin == "tls") return std::string("tls");
  return std::nullopt;
}

std::vector<Listener> Config::proxy_listeners() const {
  if (sources.contains("mqttListeners") && !mqttListeners.empty()) return mqttListeners;
  std::vector<Listener> out{Listener{"mqtt", "0.0.0.0", mqttProxyPort}};
  if (mqttProxyTlsEnabled) out.push_back(Listener{"mqtt+ssl", "0.0.0.0", mqttProxyTlsPort});
  if (mqttProxyTlsPskEnabled) out.push_back(Listener{"mqtt+ssl+psk", "0.0.0.0", mqttProxyTlsPskPort});
  if (mqttProxyWsPort >= 0) out.push_back(Listener{"ws", "0.0.0.0", static_cast<std::uint16_t>(mqttProxyWsPort)});
  if (mqttProxyWssPort >= 0)
    out.push_back(Listener{"ws+ssl", "0.0.0.0", static_cast<std::uint16_t>(mqttProxyWssPort)});
  return out;
}

std::string Config::broker_client_trust_certs() const {
  return brokerClientTrustCertsFilePath.empty() ? tlsTrustCertsFilePath : brokerClientTrustCertsFilePath;
}

std::string_view to_string(TopicDomain domain) {
  return domain == TopicDomain::persistent ? "persistent" : "non-persistent";
}

bool Config::serves_mqtt() const {
  return std::find(messagingProtocols.begin(), messagingProtocols.end(), "mqtt") !=
         messagingProtocols.end();
}

std::string Config::advertised_host(const Listener& listener) const {
  return advertisedAddress.empty() ? listener.host : advertisedAddress;
}

std::string Config::source_of(const std::string& key) const {
  const auto it = sources.find(key);
  return it == sources.end() ? std::string("default") : it->second;
}

void Config::validate_listeners(const std::vector<Listener>& listeners, Problems& p) const {
  std::set<std::pair<std::string, std::uint16_t>> seen;
  for (const auto& l : listeners) {
    if (l.port != 0 && !seen.emplace(l.host, l.port).second) {
      p.errors.push_back({"mqttListeners", source_of("mqttListeners") + ": mqttListeners lists " + l.host + ":" +
                                               std::to_string(l.port) + " twice"});
    }
  }
}

void Config::validate_proxy(Problems& p) const {
  validate_listeners(proxy_listeners(), p);
  if (brokerServiceURL.empty()) {
    p.errors.push_back({"brokerServiceURL", source_of("brokerServiceURL") +
                                                ": brokerServiceURL is empty; mop proxy needs the Pulsar "
                                                "cluster to connect to (pulsar://host:port)"});
  }
  if (mqttProxySystemNamespace == defaultTenant + "/" + defaultNamespace) {
    p.errors.push_back({"mqttProxySystemNamespace",
                        source_of("mqttProxySystemNamespace") + ": mqttProxySystemNamespace is " +
                            mqttProxySystemNamespace +
                            ", the namespace of MQTT topics (defaultTenant/defaultNamespace); the proxy's "
                            "state topics need a namespace of their own, or MQTT wildcard subscriptions "
                            "would receive them"});
  }
  validate_mqtt(proxy_listeners(), p);
  const bool tls = !brokerServiceURL.empty() && brokerServiceURL.front().tls;
  if (brokerClientTlsEnabled && !tls && !brokerServiceURL.empty()) {
    p.errors.push_back({"brokerClientTlsEnabled",
                        source_of("brokerClientTlsEnabled") +
                            ": brokerClientTlsEnabled=true needs pulsar+ssl:// URLs in brokerServiceURL (now " +
                            brokerServiceURL.front().to_string() + ")"});
  }
  const auto method = broker_client_auth_method(brokerClientAuthenticationPlugin);
  const std::string plugin_source = source_of("brokerClientAuthenticationPlugin");
  const std::string parameters_source = source_of("brokerClientAuthenticationParameters");
  if (!method) {
    p.errors.push_back({"brokerClientAuthenticationPlugin",
                        plugin_source + ": brokerClientAuthenticationPlugin " + brokerClientAuthenticationPlugin +
                            " is not supported; mop proxy authenticates to the cluster with "
                            "org.apache.pulsar.client.impl.auth.AuthenticationToken or "
                            "org.apache.pulsar.client.impl.auth.AuthenticationTls"});
  } else if (*method == "token") {
    // A bad value is named without repeating it: it may hold a token.
    if (brokerClientAuthenticationParameters.empty()) {
      p.errors.push_back({"brokerClientAuthenticationParameters",
                          plugin_source + ": AuthenticationToken needs brokerClientAuthenticationParameters "
                                          "(token:<jwt> or file:///path/to/token)"});
    } else if (auto parsed = parse_token_parameters(brokerClientAuthenticationParameters); !parsed.ok()) {
      p.errors.push_back({"brokerClientAuthenticationParameters",
                          parameters_source + ": brokerClientAuthenticationParameters " + parsed.error()});
    }
  } else if (*method == "tls") {
    if (auto parsed = parse_tls_auth_parameters(brokerClientAuthenticationParameters); !parsed.ok()) {
      p.errors.push_back({"brokerClientAuthenticationParameters",
                          parameters_source + ": brokerClientAuthenticationParameters of AuthenticationTls " +
                              parsed.error() + " (tlsCertFile:/path/cert.pem,tlsKeyFile:/path/key.pem)"});
    }
    if (!tls && !brokerServiceURL.empty()) {
      p.errors.push_back({"brokerClientAuthenticationPlugin",
                          plugin_source + ": AuthenticationTls presents a client certificate, which needs "
                                          "pulsar+ssl:// URLs in brokerServiceURL (now " +
                              brokerServiceURL.front().to_string() + ")"});
    }
  }
}

void Config::validate_mqtt(const std::vector<Listener>& listeners, Problems& p) const {
  auto error = [&p](std::string key, std::string message) {
    p.errors.push_back({std::move(key), std::move(message)});
  };
  // mop proxy's listeners may come from the mqttProxy*Port keys.
  const std::string where = source_of("mqttListeners");
  for (const auto& l : listeners) {
    if (l.scheme == "mqtt+ssl+psk" && !mqttTlsPskEnabled) {
      error("mqttTlsPskEnabled", where + ": MQTT listener \"" + l.to_string() +
                                     "\" needs mqttTlsPskEnabled=true, as in MoP");
    }
    if (l.scheme == "mqtt+ssl+psk" && mqttTlsPskEnabled && mqttTlsPskIdentity.empty() &&
        mqttTlsPskIdentityFile.empty()) {
      error("mqttTlsPskIdentity", where + ": MQTT listener \"" + l.to_string() +
                                      "\" needs PSK identities: set mqttTlsPskIdentity or mqttTlsPskIdentityFile");
    }
  }
  if (needs_certificate(listeners)) {
    const auto tls = mqtt_tls();
    if (tls.certificate_file.empty() || tls.key_file.empty()) {
      error("mqttTlsCertificateFilePath",
            where + ": the mqtt+ssl:// and ws+ssl:// listeners need a certificate and its key: set "
                    "mqttTlsCertificateFilePath and mqttTlsKeyFilePath (or tlsCertificateFilePath and tlsKeyFilePath)");
    }
    if (tls.require_trusted_client_cert && tls.trust_certs_file.empty()) {
      error("mqttTlsTrustCertsFilePath", "mqttTlsRequireTrustedClientCertOnConnect=true needs "
                                         "mqttTlsTrustCertsFilePath (or tlsTrustCertsFilePath): the CAs client "
                                         "certificates must chain to");
    }
  }
  if (mqttAuthenticationEnabled) {
    if (mqttAuthenticationMethods.empty())
      error("mqttAuthenticationMethods", source_of("mqttAuthenticationEnabled") +
                                             ": mqttAuthenticationEnabled=true needs mqttAuthenticationMethods "
                                             "(basic, token, tls)");
    for (const auto& m : mqttAuthenticationMethods)
      if (m != "basic" && m != "token" && m != "tls")
        error("mqttAuthenticationMethods", source_of("mqttAuthenticationMethods") + ": method \"" + m +
                                               "\" is not supported (basic, token, tls)");
    const auto uses = [&](const char* m) {
      return std::find(mqttAuthenticationMethods.begin(), mqttAuthenticationMethods.end(), m) !=
             mqttAuthenticationMethods.end();
    };
    if (uses("basic") && basicAuthConf.empty())
      error("basicAuthConf", "the basic authentication method needs basicAuthConf (a user:hash file)");
    if (uses("token") && tokenSecretKey.empty() && tokenPublicKey.empty())
      error("tokenSecretKey", "the token authentication method needs tokenSecretKey or tokenPublicKey");
  }
}

namespace {
std::vector<std::string> list_of(std::string_view v) {
  std::vector<std::string> out;
  for (auto item : split_list(v)) out.emplace_back(item);
  return out;
}
}  // namespace

Config::TlsSettings Config::pulsar_tls() const {
  return TlsSettings{tlsCertificateFilePath,      tlsKeyFilePath,
                     tlsTrustCertsFilePath,       list_of(tlsProtocols),
                     list_of(tlsCiphers),         tlsAllowInsecureConnection,
                     tlsRequireTrustedClientCertOnConnect, tlsCertRefreshCheckDurationSec};
}

Config::TlsSettings Config::mqtt_tls() const {
  auto t = pulsar_tls();
  if (!mqttTlsCertificateFilePath.empty()) t.certificate_file = mqttTlsCertificateFilePath;
  if (!mqttTlsKeyFilePath.empty()) t.key_file = mqttTlsKeyFilePath;
  if (!mqttTlsTrustCertsFilePath.empty()) t.trust_certs_file = mqttTlsTrustCertsFilePath;
  if (!mqttTlsProtocols.empty()) t.protocols = list_of(mqttTlsProtocols);
  if (!mqttTlsCiphers.empty()) t.ciphers = list_of(mqttTlsCiphers);
  t.allow_insecure_connection = mqttTlsAllowInsecureConnection || tlsAllowInsecureConnection;
  t.require_trusted_client_cert = mqttTlsRequireTrustedClientCertOnConnect || tlsRequireTrustedClientCertOnConnect;
  if (mqttTlsCertRefreshCheckDurationSec != 300) t.refresh_check_sec = mqttTlsCertRefreshCheckDurationSec;
  return t;
}

bool Config::needs_certificate(const std::vector<Listener>& listeners) {
  return std::any_of(listeners.begin(), listeners.end(),
                     [](const Listener& l) { return l.scheme == "mqtt+ssl" || l.scheme == "ws+ssl"; });
}

Config::Problems Config::validate() const {
  Problems p;
  auto from = [this](const std::string& key) {
    const auto it = sources.find(key);
    return it == sources.end() ? std::string("default") : it->second;
  };
  auto error = [&p](std::string key, std::string message) {
    p.errors.push_back({std::move(key), std::move(message)});
  };

  if ((defaultRetentionTimeInMinutes == 0) != (defaultRetentionSizeInMB == 0)) {
    error("defaultRetentionSizeInMB",
          from(defaultRetentionSizeInMB == 0 ? "defaultRetentionSizeInMB" : "defaultRetentionTimeInMinutes") +
              ": defaultRetentionTimeInMinutes and defaultRetentionSizeInMB must both be 0 (no retention) "
              "or both non-zero (-1 = no limit of that kind), as in Pulsar");
  }

  if (pulsarChannelWriteBufferHighWaterMark > 0 &&
      pulsarChannelWriteBufferLowWaterMark > pulsarChannelWriteBufferHighWaterMark) {
    error("pulsarChannelWriteBufferLowWaterMark",
          from("pulsarChannelWriteBufferLowWaterMark") +
              ": pulsarChannelWriteBufferLowWaterMark must not exceed pulsarChannelWriteBufferHighWaterMark (" +
              std::to_string(pulsarChannelWriteBufferHighWaterMark) + ")");
  }

  if (mode == Mode::proxy) {
    validate_proxy(p);
    return p;
  }
  for (const auto& proto : messagingProtocols) {
    if (proto != "mqtt") {
      p.warnings.push_back(from("messagingProtocols") + ": messagingProtocols lists \"" + proto +
                           "\", which mop does not provide; ignored");
    }
  }
  if (!serves_mqtt()) {
    p.warnings.push_back(from("messagingProtocols") +
                         ": messagingProtocols does not list mqtt; no MQTT listener will start");
  } else if (mqttListeners.empty()) {
    error("mqttListeners",
          from("mqttListeners") +
              ": mqttListeners is empty; expected at least one scheme://host:port");
  }

  if (serves_mqtt()) {
    validate_listeners(mqttListeners, p);
    validate_mqtt(mqttListeners, p);
    for (const auto& l : mqttListeners) {
      // The Pulsar and HTTP servers bind the same machine, so a shared port cannot work.
      for (const auto& [key, port] : {std::pair{"brokerServicePort", brokerServicePort},
                                      std::pair{"webServicePort", webServicePort}}) {
        if (l.port != 0 && l.port == port) {
          error("mqttListeners", from("mqttListeners") + ": mqttListeners entry \"" +
                                     l.to_string() + "\" uses port " + std::to_string(port) +
                                     ", which " + key + " (" + from(key) + ") uses too");
        }
      }
    }
  }
  if (brokerServicePort != 0 && brokerServicePort == webServicePort) {
    error("webServicePort", from("webServicePort") +
                                ": webServicePort and brokerServicePort are both " +
                                std::to_string(webServicePort));
  }
  if (brokerServicePortTls >= 0) {
    if (tlsCertificateFilePath.empty() || tlsKeyFilePath.empty()) {
      error("tlsCertificateFilePath", from("brokerServicePortTls") +
                                          ": brokerServicePortTls needs tlsCertificateFilePath and tlsKeyFilePath");
    }
    if (brokerServicePortTls != 0 && (brokerServicePortTls == brokerServicePort || brokerServicePortTls == webServicePort)) {
      error("brokerServicePortTls", from("brokerServicePortTls") + ": brokerServicePortTls " +
                                        std::to_string(brokerServicePortTls) + " is already brokerServicePort or webServicePort");
    }
  }
  if ((brokerServicePortTls >= 0 || webServicePortTls >= 0) && tlsRequireTrustedClientCertOnConnect &&
      tlsTrustCertsFilePath.empty()) {
    error("tlsTrustCertsFilePath", "tlsRequireTrustedClientCertOnConnect=true needs tlsTrustCertsFilePath");
  }
  if (webServicePortTls >= 0) {
    if (tlsCertificateFilePath.empty() || tlsKeyFilePath.empty()) {
      error("tlsCertificateFilePath", from("webServicePortTls") +
                                          ": webServicePortTls needs tlsCertificateFilePath and tlsKeyFilePath");
    }
    if (webServicePortTls != 0 && (webServicePortTls == brokerServicePort || webServicePortTls == webServicePort ||
                                   webServicePortTls == brokerServicePortTls)) {
      error("webServicePortTls", from("webServicePortTls") + ": webServicePortTls " +
                                     std::to_string(webServicePortTls) +
                                     " is already brokerServicePort, webServicePort or brokerServicePortTls");
    }
  }
  if (mqttAuthenticationEnabled && !serves_mqtt()) validate_mqtt({}, p);
  if (authenticationEnabled) {
    if (authenticationProviders.empty())
      error("authenticationProviders", from("authenticationEnabled") +
                                           ": authenticationEnabled=true needs authenticationProviders");
    for (const auto& m : pulsar_authentication_methods()) {
      if (m != "basic" && m != "token" && m != "tls")
        error("authenticationProviders", from("authenticationProviders") + ": provider \"" + m +
                                             "\" is not supported (AuthenticationProviderToken, "
                                             "AuthenticationProviderBasic, AuthenticationProviderTls)");
      if (m == "tls" && tlsTrustCertsFilePath.empty())
        error("tlsTrustCertsFilePath", from("authenticationProviders") +
                                           ": AuthenticationProviderTls needs tlsTrustCertsFilePath (the CAs "
                                           "client certificates must chain to)");
    }
  }
  if (authorizationEnabled && !authenticationEnabled)
    error("authorizationEnabled", from("authorizationEnabled") +
                                      ": authorizationEnabled=true needs authenticationEnabled=true (roles come from it)");
  if (mqttAuthorizationEnabled && !mqttAuthenticationEnabled)
    error("mqttAuthorizationEnabled", from("mqttAuthorizationEnabled") +
                                          ": mqttAuthorizationEnabled=true needs mqttAuthenticationEnabled=true");
  if (authenticationEnabled) {
    // validate_mqtt checked the keys of the MQTT methods already.
    const auto mqtt_uses = [&](const std::string& m) {
      return mqttAuthenticationEnabled &&
             std::find(mqttAuthenticationMethods.begin(), mqttAuthenticationMethods.end(), m) !=
                 mqttAuthenticationMethods.end();
    };
    const auto methods = pulsar_authentication_methods();
    const auto uses = [&](const std::string& m) {
      return !mqtt_uses(m) && std::find(methods.begin(), methods.end(), m) != methods.end();
    };
    if (uses("basic") && basicAuthConf.empty())
      error("basicAuthConf", "the basic authentication method needs basicAuthConf (a user:hash file)");
    if (uses("token") && tokenSecretKey.empty() && tokenPublicKey.empty())
      error("tokenSecretKey", "the token authentication method needs tokenSecretKey or tokenPublicKey");
  }
  if (mqttProxyEnabled) {
    p.warnings.push_back(from("mqttProxyEnabled") +
                         ": mqttProxyEnabled=true has no effect in mop standalone (the MQTT proxy "
                         "is its own mode, `mop proxy`); MQTT is served on mqttListeners");
  }
  return p;
}

std::vector<std::string> Config::pulsar_authentication_methods() const {
  std::vector<std::string> out;
  for (const auto& p : authenticationProviders) {
    const auto dot = p.rfind('.');
    const std::string simple = dot == std::string::npos ? p : p.substr(dot + 1);
    if (simple == "AuthenticationProviderToken" || p == "token") out.push_back("token");
    else if (simple == "AuthenticationProviderBasic" || p == "basic") out.push_back("basic");
    else if (simple == "AuthenticationProviderTls" || p == "tls") out.push_back("tls");
    else out.push_back(p);
  }
  return out;
}

std::string Config::describe() const {
  std::string out = "# mop effective configuration; a comment above a key says where it was set\n";
  for (const auto& k : key_specs()) {
    if ((k.modes & mode_bit(mode)) == 0) continue;
    if (const auto it = sources.find(k.doc.name); it != sources.end()) {
      out += "# " + it->second + "\n";
    }
    out += k.doc.name + "=" + k.get(*this) + "\n";
  }
  return out;
}

Result<std::vector<Listener>, std::string> parse_listeners(std::string_view value) {
  std::vector<Listener> out;
  for (auto entry : split_list(value)) {
    auto l = parse_listener(entry);
    if (!l.ok()) return "\"" + std::string(entry) + "\": " + l.error();
    out.push_back(std::move(l).value());
  }
  return out;
}

ConfigResult load_config_text(std::string_view text, std::string_view source_name,
                              const Overrides& overrides, std::vector<std::string>* warnings, Mode mode) {
  Loader loader;
  loader.mode = mode;
  loader.config.mode = mode;
  loader.load_text(text, source_name);
  return loader.finish(overrides, warnings);
}

ConfigResult load_config(const std::optional<std::string>& file, const Overrides& overrides,
                         std::vector<std::string>* warnings, Mode mode) {
  if (!file) return load_config_text({}, {}, overrides, warnings, mode);
  std::error_code ec;
  if (!std::filesystem::is_regular_file(*file, ec)) {
    const bool exists = std::filesystem::exists(*file, ec);
    return std::vector<ConfigError>{
        {"",
         "config file \"" + *file + "\" " + (exists ? "is not a regular file" : "does not exist")}};
  }
  std::ifstream in(*file, std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  if (!in || in.bad()) {
    return std::vector<ConfigError>{{"", "cannot read config file \"" + *file + "\""}};
  }
  return load_config_text(text.str(), *file, overrides, warnings, mode);
}

Result<CommandLine, std::vector<ConfigError>> parse_command_line(
    std::span<const std::string> args) {
  CommandLine cl;
  std::vector<ConfigError> errors;
  for (std::size_t i = 0; i < args.size(); ++i) {
    const std::string_view a = args[i];
    // The value of an option given as "--opt value": the next argument, if it is not an option.
    auto next_value = [&]() -> std::optional<std::string> {
      if (i + 1 < args.size() && !std::string_view(args[i + 1]).starts_with("--")) {
        return args[++i];
      }
      return {};
    };
    if (a == "-h" || a == "--help") {
      cl.help = true;
    } else if (a == "-c" || a == "--config") {
      if (auto v = next_value()) {
        cl.config_file = *v;
      } else {
        errors.push_back({"", "command line: " + std::string(a) + " needs a file name"});
      }
    } else if (a.starts_with("--config=")) {
      cl.config_file = std::string(a.substr(9));
    } else if (a.starts_with("-c") && !a.starts_with("--")) {
      cl.config_file = std::string(a.substr(2));
    } else if (a.starts_with("--") && a.size() > 2) {
      const auto body = a.substr(2);
      const auto eq = body.find('=');
      const auto key = body.substr(0, eq);
      if (key.empty()) {
        errors.push_back({"", "command line: \"" + std::string(a) + "\" has no key"});
      } else if (eq != std::string_view::npos) {
        cl.overrides.emplace_back(std::string(key), std::string(body.substr(eq + 1)));
      } else if (auto v = next_value()) {
        cl.overrides.emplace_back(std::string(key), *v);
      } else {
        errors.push_back({std::string(key), "command line: --" + std::string(key) +
                                                " needs a value (--" + std::string(key) +
                                                "=value or --" + std::string(key) + " value)"});
      }
    } else {
      errors.push_back({"", "command line: unexpected argument \"" + std::string(a) +
                                "\" (options are -c FILE and --key=value)"});
    }
  }
  if (!errors.empty()) return errors;
  return cl;
}

const std::vector<KeyDoc>& config_keys(Mode mode) {
  static const auto docs_of = [](Mode m) {
    std::vector<KeyDoc> out;
    for (const auto& k : key_specs()) {
      if ((k.modes & mode_bit(m)) != 0) out.push_back(k.doc);
    }
    return out;
  };
  static const std::vector<KeyDoc> standalone = docs_of(Mode::standalone);
  static const std::vector<KeyDoc> proxy = docs_of(Mode::proxy);
  return mode == Mode::proxy ? proxy : standalone;
}

const std::vector<std::string>& compatibility_keys() { return kCompatKeys; }
const std::vector<std::string>& compatibility_key_prefixes() { return kCompatPrefixes; }

std::string config_keys_markdown(Mode mode) {
  std::string out = "| key | default | accepted values | description |\n|---|---|---|---|\n";
  for (const auto& k : config_keys(mode)) {
    out += "| `" + k.name + "` | " +
           (k.default_value.empty() ? std::string("(empty)") : "`" + k.default_value + "`") +
           " | " + k.expected + " | " + k.description + " |\n";
  }
  return out;
}

std::string config_keys_help(Mode mode) {
  std::string out;
  for (const auto& k : config_keys(mode)) {
    out += "  --" + k.name + "=VALUE  (" + k.expected +
           "; default: " + (k.default_value.empty() ? std::string("empty") : k.default_value) +
           ")\n";
    word_wrap(out, k.description, 6, 100);
  }
  return out;
}

}  // namespace mop::app
