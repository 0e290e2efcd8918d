#pragma once
// mop's configuration: Pulsar's broker.conf format with Pulsar's and MoP's property names, so that
// a user's existing standalone.conf (with MoP's lines in it) starts us.
//
// Sources, later beats earlier:  built-in defaults  <  the file given with -c  <  --key=value
// flags.
//
// File format (what Pulsar's PulsarConfigurationLoader reads in practice):
//   - one `key=value` per line; whitespace around key and value is trimmed;
//   - the value is everything after the FIRST '=', so it may itself contain '=';
//   - a line whose first non-blank character is '#' is a comment; '#' later in a line is part of
//     the value (as in Pulsar), so `advertisedAddress=host # note` is an error, not a comment;
//   - blank lines are ignored; a CR before the newline and a UTF-8 BOM are tolerated;
//   - an empty value means "the default" for a scalar key and "empty" for a list key, as in Pulsar.
//
// Problems are reported, never thrown:
//   - unknown key: a warning naming the key and where it was (file:line or "command line");
//   - a Pulsar/MoP key we read for compatibility but do not use yet: a one-line warning;
//   - a bad value, a missing file, a feature that is not supported yet: an error. Loading collects
//     ALL errors before it returns, so a user fixes a file in one round.
//
// Threading: plain values; load once at start-up, then share as `const Config&`.
#include <cstdint>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/result.hpp"

namespace mop::app {

// One entry of `mqttListeners`, e.g. mqtt://127.0.0.1:1883 or mqtt://[::1]:0.
struct Listener {
  std::string scheme;      // "mqtt", "mqtt+ssl", "mqtt+ssl+psk", "ws" or "ws+ssl" (lower case)
  std::string host;        // without brackets: "127.0.0.1", "::1", "localhost", "0.0.0.0"
  std::uint16_t port = 0;  // 0 = let the OS pick a free port (tests)

  // Back to URL form, with brackets around an IPv6 host: "mqtt://[::1]:1883".
  std::string to_string() const;
  bool operator==(const Listener&) const = default;
};

// An error found while loading. `key` is the canonical key name when the error is about one key
// (empty for file-level errors); `message` is the full text for the user, naming key, value,
// source and what was expected.
struct ConfigError {
  std::string key;
  std::string message;
};

enum class TopicDomain { persistent, non_persistent };

// Which program reads the configuration: `mop standalone` (the broker with its own store) or
// `mop proxy` (MQTT in front of an Apache Pulsar cluster). Most keys mean the same in both; a
// key of the other mode is a warning ("not used by mop proxy"), never an error.
enum class Mode { standalone, proxy };
std::string_view to_string(Mode mode);

// One entry of `brokerServiceURL`: a Pulsar broker (or Pulsar proxy) that `mop proxy` connects to.
struct ServiceAddress {
  std::string host;            // without brackets
  std::uint16_t port = 6650;   // Pulsar's default when the URL names none (6651 for pulsar+ssl)
  bool tls = false;            // pulsar+ssl://
  // "pulsar://host:port" or "pulsar+ssl://host:port", with brackets around an IPv6 host.
  std::string to_string() const;
  bool operator==(const ServiceAddress&) const = default;
};
// "persistent" / "non-persistent", as in a Pulsar topic name.
std::string_view to_string(TopicDomain domain);

struct Config {
  // The mode the configuration was loaded for (load_config's `mode`); validate() and describe()
  // follow it.
  Mode mode = Mode::standalone;
  // Which protocol handlers to run. mop knows "mqtt"; the Pulsar binary protocol is always served
  // on brokerServicePort, as in Pulsar. Other names (kafka, amqp) are ignored with a warning.
  std::vector<std::string> messagingProtocols{"mqtt"};
  std::vector<Listener> mqttListeners{Listener{"mqtt", "127.0.0.1", 1883}};
  std::string advertisedAddress;  // empty = each listener's own host
  std::uint16_t brokerServicePort = 6650;
  std::uint16_t webServicePort = 8080;
  std::string defaultTenant = "public";
  std::string defaultNamespace = "default";
  TopicDomain defaultTopicDomain = TopicDomain::persistent;
  std::uint32_t mqttMessageMaxLength = 1048576;  // bytes, whole MQTT packet; MoP's default: 8092
  // Unacknowledged QoS 1/2 deliveries in flight per session; MoP's default: 65535.
  std::uint16_t receiveMaximum = 1000;
  std::uint16_t mqttTopicAliasMaximum = 10;  // MQTT 5 topic aliases a client may use towards us
  std::uint16_t mqttServerKeepAlive = 0;     // seconds imposed on MQTT 5 clients; 0 = theirs
  std::uint32_t mqttMaxConnections = 0;      // MQTT clients connected at once; 0 = no limit
  std::uint64_t mqttMaxQueuedBytes = 1048576;  // per client, waiting for its socket
  std::string dataDir = "./data";
  std::string logLevel = "info";  // trace, debug, info, warn, error (lower case)
  bool mqttProxyEnabled = false;  // also read under MoP's old name mqttProxyEnable
  std::uint16_t mqttProxyPort = 5682;
  // mop proxy's other MQTT ports when mqttListeners is not set (MoP's keys; ws/wss are mop's):
  // mqtt+ssl, mqtt+ssl+psk, ws, ws+ssl on every interface. -1: none.
  bool mqttProxyTlsEnabled = false;
  std::uint16_t mqttProxyTlsPort = 5683;
  bool mqttProxyTlsPskEnabled = false;
  std::uint16_t mqttProxyTlsPskPort = 5684;
  std::int32_t mqttProxyWsPort = -1;
  std::int32_t mqttProxyWssPort = -1;
  // mop proxy towards the cluster (Pulsar's keys of broker.conf / proxy.conf): TLS (pulsar+ssl://
  // URLs in brokerServiceURL) and the client authentication plugin with its parameters.
  bool brokerClientTlsEnabled = false;
  std::string brokerClientTrustCertsFilePath;  // empty: tlsTrustCertsFilePath, then the system's CAs
  std::string brokerClientAuthenticationPlugin;
  std::string brokerClientAuthenticationParameters;
  // The brokers' certificates must name the host connected to (Pulsar's key; its default is false).
  bool tlsHostnameVerificationEnabled = true;
  // Authentication (auth/README.md): MQTT (MoP's keys) and the Pulsar port (Pulsar's keys).
  bool mqttAuthenticationEnabled = false;
  // mop proxy: the Pulsar cluster (Pulsar's key, as in its proxy.conf and client.conf) and the
  // namespace of the proxy's own state topics (sessions, wills, retained messages, takeover events).
  std::vector<ServiceAddress> brokerServiceURL{ServiceAddress{"127.0.0.1", 6650}};
  std::string mqttProxySystemNamespace = "public/mop-system";
  // mop proxy: how often it looks for wills of proxies that died (their liveness lease free).
  std::uint32_t mqttProxyWillTakeoverIntervalSeconds = 5;
  // mop proxy's Pulsar consumers: permits per consumer (Pulsar's consumer setting), and for the
  // members of MQTT `$share` groups, which compete for messages (README "Cluster").
  std::uint32_t receiverQueueSize = 100;
  std::uint32_t mqttSharedSubscriptionReceiverQueueSize = 10;
  std::vector<std::string> mqttAuthenticationMethods;  // "basic", "token"; tried in this order
  bool authenticationEnabled = false;
  std::vector<std::string> authenticationProviders;  // as written: Pulsar class names or basic/token
  std::string anonymousUserRole;                     // empty: clients without credentials are refused
  std::string basicAuthConf;
  std::string tokenSecretKey;
  std::string tokenPublicKey;
  std::string tokenPublicAlg = "RS256";
  std::string tokenAuthClaim = "sub";
  std::string tokenAudienceClaim;
  std::string tokenAudience;
  std::uint32_t authenticationRefreshCheckSeconds = 60;
  // Authorization (Pulsar's grants): the Pulsar port and HTTP, and MQTT (MoP's key).
  bool authorizationEnabled = false;
  bool mqttAuthorizationEnabled = false;
  std::vector<std::string> superUserRoles;
  bool authorizationAllowWildcardsMatching = false;
  bool journalSyncData = true;
  std::uint64_t journalPreAllocSizeMB = 4;
  // Log entries of at least this many bytes go to the store's blob files (0: none do).
  std::uint64_t storeBlobMinSizeBytes = 4096;
  // Log entries of at least this many bytes go to the store's entry log (0: none do).
  std::uint64_t storeEntryLogMinSizeBytes = 16384;
  // Retention, TTL and backlog quota of every topic, with Pulsar's names and meanings.
  std::int64_t defaultRetentionTimeInMinutes = 0;  // -1: no time limit; 0: no retention
  std::int64_t defaultRetentionSizeInMB = 0;       // -1: no size limit; 0: no retention
  std::uint32_t ttlDurationDefaultInSeconds = 0;   // 0: messages never expire
  // How often message rates (pulsar_rate_in/out, msgRateIn/Out) are computed, as Pulsar's key.
  std::uint32_t statsUpdateFrequencyInSecs = 60;
  // Mosquitto's sys_interval: seconds between updates of the MQTT `$SYS/broker/...` topics; 0 = off.
  std::uint32_t sysInterval = 0;
  std::int64_t backlogQuotaDefaultLimitBytes = -1;  // -1: no quota
  bool backlogQuotaEviction = false;  // backlogQuotaDefaultRetentionPolicy: consumer_backlog_eviction (else producer_exception)
  bool allowAutoTopicCreation = true;
  // Pulsar's allowAutoTopicCreationType: true = "partitioned" (Pulsar clients' first use of a new
  // topic creates it with defaultNumPartitions partitions), false = "non-partitioned".
  bool autoTopicCreationPartitioned = false;
  std::uint32_t defaultNumPartitions = 1;
  bool brokerDeduplicationEnabled = false;  // Pulsar producers' sequence ids deduplicate sends
  std::uint32_t maxMessageSize = 5242880;  // bytes, one Pulsar message payload
  // Pulsar connections: PING after this long silent, closed after twice; the CONNECT handshake
  // must be done within it.
  std::uint32_t keepAliveIntervalSeconds = 30;
  std::uint32_t maxMessagePublishBufferSizeInMB = 64;  // publish back-pressure; 0 = off
  // Read back-pressure per connection (MQTT and Pulsar): above the high mark of unwritten output
  // a connection stops reading until the low mark. Bytes; high 0 = off.
  std::uint32_t pulsarChannelWriteBufferHighWaterMark = 4194304;
  std::uint32_t pulsarChannelWriteBufferLowWaterMark = 1048576;

  // Transports. Pulsar's TLS keys (the Pulsar protocol on brokerServicePortTls, and what the
  // MQTT listeners fall back to):
  std::int32_t brokerServicePortTls = -1;  // -1: no pulsar+ssl listener
  std::int32_t webServicePortTls = -1;     // -1: no https web service
  std::string tlsCertificateFilePath;
  std::string tlsKeyFilePath;
  std::string tlsTrustCertsFilePath;
  std::string tlsProtocols;  // comma-separated: TLSv1.2,TLSv1.3; empty: OpenSSL's defaults
  std::string tlsCiphers;    // comma-separated cipher names; empty: OpenSSL's defaults
  bool tlsAllowInsecureConnection = false;
  bool tlsRequireTrustedClientCertOnConnect = false;
  std::uint32_t tlsCertRefreshCheckDurationSec = 300;
  // MoP's keys for the mqtt+ssl, mqtt+ssl+psk and ws+ssl listeners; each falls back to the
  // tls* key above when it is not set, as MoP reads them (see mqtt_tls()).
  std::string mqttTlsCertificateFilePath;
  std::string mqttTlsKeyFilePath;
  std::string mqttTlsTrustCertsFilePath;
  std::string mqttTlsProtocols;
  std::string mqttTlsCiphers;
  bool mqttTlsAllowInsecureConnection = false;
  bool mqttTlsRequireTrustedClientCertOnConnect = false;
  std::uint32_t mqttTlsCertRefreshCheckDurationSec = 300;
  bool mqttTlsPskEnabled = false;
  std::string mqttTlsPskIdentityHint;
  std::string mqttTlsPskIdentity;      // identity:secret;identity:secret
  std::string mqttTlsPskIdentityFile;  // one identity:secret per line
  // ws:// and ws+ssl:// listeners (MoP's keys).
  std::string webSocketPath = "/mqtt";
  std::uint32_t webSocketMaxFrameSize = 65535;

  // Where each key's effective value came from ("conf/standalone.conf:12", "command line"), by
  // canonical key name; a key that is absent has its default.
  std::map<std::string, std::string> sources;

  // MQTT listeners run only if messagingProtocols lists "mqtt".
  bool serves_mqtt() const;
  // The MQTT listeners of `mop proxy`: mqttListeners when it is set (and not empty), otherwise
  // mqtt://0.0.0.0:mqttProxyPort (MoP's proxy listens on every interface on that port), then
  // mqtt+ssl on mqttProxyTlsPort (mqttProxyTlsEnabled), mqtt+ssl+psk on mqttProxyTlsPskPort
  // (mqttProxyTlsPskEnabled), ws on mqttProxyWsPort and ws+ssl on mqttProxyWssPort (when >= 0).
  std::vector<Listener> proxy_listeners() const;
  // authenticationProviders as method names ("basic", "token"), in order; Pulsar's class names
  // AuthenticationProviderBasic / AuthenticationProviderToken map to them.
  std::vector<std::string> pulsar_authentication_methods() const;
  // The host to hand to clients for `listener`: advertisedAddress, or else the listener's host.
  std::string advertised_host(const Listener& listener) const;

  // TLS settings of one listener kind, resolved.
  struct TlsSettings {
    std::string certificate_file;
    std::string key_file;
    std::string trust_certs_file;
    std::vector<std::string> protocols;
    std::vector<std::string> ciphers;
    bool allow_insecure_connection = false;
    bool require_trusted_client_cert = false;
    std::uint32_t refresh_check_sec = 300;
  };
  // The MQTT listeners': each mqttTls* key if set, else Pulsar's tls* key (MoP's rule: a string
  // that is blank, a boolean that is false, a refresh period of 300 falls back).
  TlsSettings mqtt_tls() const;
  // The Pulsar TLS port's: the tls* keys.
  TlsSettings pulsar_tls() const;
  // Whether any entry of `listeners` needs a certificate (mqtt+ssl, ws+ssl).
  static bool needs_certificate(const std::vector<Listener>& listeners);
  // mop proxy: the CA file the cluster's certificates are checked against
  // (brokerClientTrustCertsFilePath, else tlsTrustCertsFilePath, as Pulsar's broker client).
  std::string broker_client_trust_certs() const;

  // Checks what a single value cannot: settings that need one another (a certificate for TLS
  // listeners, methods for authentication), duplicate listeners, port clashes. `errors` empty = usable;
  // `warnings` are advisory (e.g. mqttProxyEnabled=true has no effect yet). load_config() calls it.
  struct Problems {
    std::vector<ConfigError> errors;
    std::vector<std::string> warnings;
  };
  Problems validate() const;

  // The effective configuration as a loadable broker.conf text: one `key=value` per key, in
  // config_keys() order; a key not at its default is preceded by a comment naming its source
  // ("# conf/standalone.conf:12", "# command line").
  std::string describe() const;

private:
  // "test.conf:3", "command line" or "default": where `key`'s value came from.
  std::string source_of(const std::string& key) const;
  void validate_listeners(const std::vector<Listener>& listeners, Problems& p) const;
  void validate_proxy(Problems& p) const;
  // What both modes check of the MQTT listeners they serve: PSK identities, certificates, the
  // authentication methods and their keys.
  void validate_mqtt(const std::vector<Listener>& listeners, Problems& p) const;
};

// Command-line overrides in order: {"mqttListeners", "mqtt://0.0.0.0:1883"}.
using Overrides = std::vector<std::pair<std::string, std::string>>;

// Either the loaded, validated configuration or every error found.
using ConfigResult = Result<Config, std::vector<ConfigError>>;

// Loads defaults, then `file` (if given; a missing or unreadable file is an error), then
// `overrides`, then runs Config::validate(). Warnings (unknown keys, compatibility-only keys, keys
// set twice, advisory notes) are appended to `*warnings`; when `warnings` is null they are logged
// through mop::log::get("config") instead.
// `mode` says which program reads it: keys of the other mode are warnings.
ConfigResult load_config(const std::optional<std::string>& file, const Overrides& overrides,
                         std::vector<std::string>* warnings = nullptr, Mode mode = Mode::standalone);

// Same, with the file's content given as text; `source_name` stands for the file name in messages.
// For tests and for configuration that does not come from a file.
ConfigResult load_config_text(std::string_view text, std::string_view source_name,
                              const Overrides& overrides,
                              std::vector<std::string>* warnings = nullptr, Mode mode = Mode::standalone);

// Parses one `brokerServiceURL` value: comma-separated pulsar://host[:port] URLs, where entries
// after the first may leave out the scheme as in Pulsar's multi-host form
// (pulsar://a:6650,b:6650); pulsar+ssl:// (port 6651 when left out) for TLS, the same scheme for
// every entry.
Result<std::vector<ServiceAddress>, std::string> parse_service_urls(std::string_view value);

// brokerClientAuthenticationParameters as Pulsar's AuthenticationToken reads them: "token:<jwt>",
// "file:///path" (or file:/path: the token is read from the file, trimmed, at every connect),
// {"token":"<jwt>"}, or else the text itself as the token. Exactly one of the two is set.
struct TokenParameters {
  std::string token;
  std::string file;
};
Result<TokenParameters, std::string> parse_token_parameters(std::string_view value);

// brokerClientAuthenticationParameters as Pulsar's AuthenticationTls reads them: a JSON object
// {"tlsCertFile":"/path","tlsKeyFile":"/path"} or else "tlsCertFile:/path,tlsKeyFile:/path" (comma
// separated key:value pairs, split at the first ':'). Both files are required.
struct TlsAuthParameters {
  std::string cert_file;
  std::string key_file;
};
Result<TlsAuthParameters, std::string> parse_tls_auth_parameters(std::string_view value);

// What brokerClientAuthenticationPlugin names: "token" (AuthenticationToken), "tls"
// (AuthenticationTls), "" (none); nullopt for a plugin mop proxy does not have.
std::optional<std::string> broker_client_auth_method(std::string_view plugin);

// Parses one `mqttListeners` value (comma-separated; blanks around entries and empty entries are
// ignored) into listeners, accepting every scheme MoP knows. Returns the listeners or a message
// saying what is wrong with which entry.
Result<std::vector<Listener>, std::string> parse_listeners(std::string_view value);

// What `mop <mode> [options]` parses after the mode word.
struct CommandLine {
  std::optional<std::string> config_file;  // -c FILE, -cFILE, --config FILE, --config=FILE
  Overrides overrides;                     // --key=value or --key value, for every key
  bool help = false;                       // -h, --help
};
// Parses `args` (argv without the program name and mode). An argument that is not an option, or a
// `--key` without a value, is an error. Key names are not checked here: load_config() warns about
// unknown ones, naming "command line".
Result<CommandLine, std::vector<ConfigError>> parse_command_line(
    std::span<const std::string> args);

// Documentation of one key, the single source for --help, README.md and conf/standalone.conf tests.
struct KeyDoc {
  std::string name;
  std::string default_value;  // as written in a conf file
  std::string expected;       // the accepted values: "an integer 16..268435460", "true or false"
  std::string description;    // one or two sentences, with MoP/Pulsar compatibility notes
};
// Every key `mode` uses, in the order of conf/standalone.conf (conf/proxy.conf for the proxy).
const std::vector<KeyDoc>& config_keys(Mode mode = Mode::standalone);
// Keys read only for compatibility with Pulsar's and MoP's standalone.conf (accepted with a
// warning, no effect yet), and key prefixes treated the same way ("managedLedger", ...).
const std::vector<std::string>& compatibility_keys();
const std::vector<std::string>& compatibility_key_prefixes();

// config_keys() as a Markdown table (| key | default | accepted values | description |);
// app/README.md carries exactly this text and a test holds it to that.
std::string config_keys_markdown(Mode mode = Mode::standalone);
// config_keys() as plain text for `mop --help`.
std::string config_keys_help(Mode mode = Mode::standalone);

}  // namespace mop::app
