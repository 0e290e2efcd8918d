#include "app/proxy.hpp"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <functional>
#include <sstream>
#include <optional>
#include <random>

#include <fmt/format.h>

#include <unistd.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>

#include "net/asio_executor.hpp"
#include "app/authentication.hpp"
#include "app/mqtt_listeners.hpp"
#include "app/ready_line.hpp"
#include "app/router_options.hpp"
#include "app/periodic.hpp"
#include "app/shutdown.hpp"
#include "cluster/cluster_service.hpp"
#include "cluster/cluster_session_store.hpp"
#include "cluster/connection_events.hpp"
#include "cluster/heir.hpp"
#include "cluster/liveness_lease.hpp"
#include "core/clock.hpp"
#include "core/log.hpp"
#include "mqtt/codec/buffer_pool.hpp"
#include "mqtt/server/mqtt_listener.hpp"
#include "mqtt/server/session_router.hpp"
#include "pulsar/client/asio_client.hpp"

namespace mop::app {

namespace {

// brokerServiceURL as the client takes it: "pulsar://a:6650,b:6650" (or pulsar+ssl://).
std::string service_url(const Config& config) {
  std::string out = !config.brokerServiceURL.empty() && config.brokerServiceURL.front().tls ? "pulsar+ssl://" : "pulsar://";
  for (std::size_t i = 0; i < config.brokerServiceURL.size(); ++i) {
    const auto& a = config.brokerServiceURL[i];
    if (i > 0) out += ",";
    out += a.host.find(':') != std::string::npos ? fmt::format("[{}]:{}", a.host, a.port)
                                                 : fmt::format("{}:{}", a.host, a.port);
  }
  return out;
}

// How long the start may wait for the cluster: connecting, creating the state topics' producers
// and readers, reading them to their end.
constexpr std::chrono::seconds kStartTimeout{30};

std::string_view trim_view(std::string_view s) {
  const auto first = s.find_first_not_of(" \t\r\n");
  if (first == std::string_view::npos) return {};
  return s.substr(first, s.find_last_not_of(" \t\r\n") - first + 1);
}

// The token of brokerClientAuthenticationParameters, read again from its file at every CONNECT and
// AUTH_CHALLENGE (as Pulsar's AuthenticationToken does), so a renewed file is used without a
// restart. An unreadable file sends an empty token, which the cluster refuses with a clear error.
std::function<std::string()> token_supplier(const TokenParameters& parameters) {
  if (parameters.file.empty()) return [token = std::string(trim_view(parameters.token))] { return token; };
  return [path = parameters.file] {
    std::ifstream in(path);
    std::stringstream text;
    text << in.rdbuf();
    if (!in) log::get("mop")->error("brokerClientAuthenticationParameters: cannot read the token file {}", path);
    return std::string(trim_view(text.str()));
  };
}

}  // namespace

int run_proxy(const Config& config) {
  auto logger = log::get("mop");
  boost::asio::io_context io(1);
  net::AsioExecutor executor(io);
  SystemClock clock;

  const std::string url = service_url(config);
  pulsar::client::ClientConfig client_config;
  client_config.service_url = url;
  client_config.connect_timeout = std::chrono::seconds(10);
  // TLS towards the cluster (pulsar+ssl://) and the proxy's own credentials there.
  client_config.tls_trust_certs_file = config.broker_client_trust_certs();
  client_config.tls_hostname_verification = config.tlsHostnameVerificationEnabled;
  const std::string auth_method = broker_client_auth_method(config.brokerClientAuthenticationPlugin).value_or("");
  if (auth_method == "token") {
    auto parameters = parse_token_parameters(config.brokerClientAuthenticationParameters);
    if (!parameters.ok()) {  // validate() refused it already; kept for the start's sake
      logger->critical("brokerClientAuthenticationParameters {}", parameters.error());
      return 1;
    }
    if (!parameters->file.empty()) {
      std::ifstream probe(parameters->file);
      if (!probe) {
        logger->critical("brokerClientAuthenticationParameters: cannot read the token file {}", parameters->file);
        return 1;
      }
    }
    client_config.auth_method = "token";
    client_config.auth_data = token_supplier(*parameters);
  } else if (auth_method == "tls") {
    // AuthenticationTls: the client certificate of the TLS handshake is the credential; CONNECT
    // names the method and carries no data (the broker reads the certificate's common name).
    auto parameters = parse_tls_auth_parameters(config.brokerClientAuthenticationParameters);
    if (!parameters.ok()) {  // validate() refused it already
      logger->critical("brokerClientAuthenticationParameters {}", parameters.error());
      return 1;
    }
    client_config.tls_certificate_file = parameters->cert_file;
    client_config.tls_key_file = parameters->key_file;
    client_config.auth_method = "tls";
  }
  auto made = pulsar::client::make_asio_client(io, client_config);
  if (!made.ok()) {
    logger->critical("cannot set up the client for the cluster at {} (brokerServiceURL and its TLS files): {}", url,
                     made.error().to_string());
    return 2;
  }
  pulsar::client::Client& client = made.value()->client();

  const std::string instance = fmt::format("{}-{}-{:x}", ::getpid(), clock.wall_ms(), std::random_device{}());
  // Wills name the proxy that stored them (its instance id), whose liveness lease covers them.
  cluster::ClusterSessionStore sessions(executor, client, config.mqttProxySystemNamespace, instance);
  cluster::ClusterOptions cluster_options;
  cluster_options.system_namespace = config.mqttProxySystemNamespace;
  cluster_options.consumer_queue = config.receiverQueueSize;
  cluster_options.group_consumer_queue = config.mqttSharedSubscriptionReceiverQueueSize;
  cluster::ClusterService service(executor, client, cluster_options);
  // One client id, one connection, cluster-wide: the router is created below, after the start.
  mqtt::SessionRouter* router_ptr = nullptr;
  // Split brain: another proxy took this one's lease (it was cut off from the cluster long enough
  // to be taken for dead), so that proxy publishes or has published the wills of the clients
  // connected here. They are closed, and reconnect to a proxy that holds its lease.
  cluster::LivenessLeases leases(client, config.mqttProxySystemNamespace, instance, [&router_ptr](const Error&) {
    if (router_ptr != nullptr) router_ptr->hand_over();
  });
  cluster::ConnectionEvents events(client, config.mqttProxySystemNamespace, instance, [&router_ptr, &service](const std::string& id) {
    if (router_ptr == nullptr) return;
    router_ptr->release(id);
    // The proxy the client moved to needs its QoS 2 producer name on the topics it used here.
    service.close_named_producers(mqtt::SessionRouter::qos2_producer_name(id));
  });

  // The cluster first: nothing listens until the state topics are read, and a cluster that
  // cannot be reached, or a system namespace that does not exist, stops the start.
  logger->info("connecting to the Apache Pulsar cluster at {} (state in namespace {})", url,
               config.mqttProxySystemNamespace);
  std::optional<Result<void, Error>> started;
  // Retained messages, then session records and wills, then the connection events, then this
  // proxy's liveness lease.
  service.start([&started, &sessions, &events, &leases](Result<void, Error> r) {
    if (!r.ok()) {
      started = std::move(r);
      return;
    }
    sessions.open([&started, &events, &leases](Result<void, Error> s) {
      if (!s.ok()) {
        started = std::move(s);
        return;
      }
      events.open([&started, &leases](Result<void, Error> e) {
        if (!e.ok()) {
          started = std::move(e);
          return;
        }
        leases.open([&started](Result<void, Error> l) { started = std::move(l); });
      });
    });
  });
  net::run_until(io, [&started] { return started.has_value(); }, kStartTimeout);
  if (!started || !started->ok()) {
    const std::error_code code = started ? started->error().code : std::error_code(pulsar::client::ClientErrc::timeout);
    const std::string why = started ? started->error().message : "no answer within " + std::to_string(kStartTimeout.count()) + " s";
    const auto server_error = pulsar::client::server_error_of(code);
    if (server_error && *server_error == pulsar::proto::AuthenticationError) {
      logger->critical("the Apache Pulsar cluster at {} refused the proxy's credentials: {}", url, why);
      logger->critical(auth_method.empty() ? "it requires authentication: set brokerClientAuthenticationPlugin and "
                                             "brokerClientAuthenticationParameters"
                       : auth_method == "tls"
                           ? "check brokerClientAuthenticationParameters (the client certificate, the CA that signed "
                             "it, whether the cluster authenticates with AuthenticationProviderTls)"
                           : "check brokerClientAuthenticationParameters (the token, its expiry, its signing key)");
    } else if (server_error && *server_error == pulsar::proto::AuthorizationError) {
      logger->critical("the Apache Pulsar cluster at {} does not let the proxy's role use {} "
                       "(mqttProxySystemNamespace): {} (AuthorizationError)",
                       url, config.mqttProxySystemNamespace, why);
      logger->critical("grant it produce and consume there and on the MQTT topics' namespaces: pulsar-admin "
                       "namespaces grant-permission {} --role <role> --actions produce,consume",
                       config.mqttProxySystemNamespace);
    } else if (code == pulsar::client::ClientErrc::connect_failed || code == pulsar::client::ClientErrc::timeout ||
        code == pulsar::client::ClientErrc::disconnected) {
      logger->critical("cannot reach the Apache Pulsar cluster at {} (brokerServiceURL): {}", url, why);
      // A cluster that does not accept the client certificate ends the TLS handshake, which with
      // TLS 1.3 the client only sees as a lost connection.
      if (auth_method == "tls" && why.find("refused") == std::string::npos)
        logger->critical("the proxy presents the client certificate of brokerClientAuthenticationParameters: a "
                         "cluster that does not trust it (another CA, expired) closes the connection during the "
                         "handshake, and its log says why");
      if (why.find("hostname mismatch") != std::string::npos || why.find("IP address mismatch") != std::string::npos)
        logger->critical("the broker's certificate does not name the host in brokerServiceURL: connect by a name "
                         "it has, or set tlsHostnameVerificationEnabled=false to check only its chain (Pulsar's "
                         "default)");
    } else {
      logger->critical("cannot use the namespace {} (mqttProxySystemNamespace) of the Pulsar cluster at {}: {} ({})",
                       config.mqttProxySystemNamespace, url, why, code.message());
      logger->critical("it must exist before the first start: pulsar-admin namespaces create {}",
                       config.mqttProxySystemNamespace);
    }
    return 1;
  }
  logger->info("state topics of {} read", config.mqttProxySystemNamespace);

  auto authentication = build_authentication(config);
  if (!authentication.ok()) {
    logger->critical("authentication: {}", authentication.error());
    return 2;
  }

  // QoS 2 exactly once across a proxy crash needs the cluster's producer deduplication: observed
  // on a probe producer in the system namespace (ClusterService::probe_deduplication).
  std::optional<Result<bool, Error>> probed;
  service.probe_deduplication("mop-proxy-probe-" + instance, [&probed](Result<bool, Error> r) { probed = std::move(r); });
  net::run_until(io, [&probed] { return probed.has_value(); }, kStartTimeout);
  const bool deduplication = probed && probed->ok() && probed->value();
  if (deduplication) {
    logger->info("the Pulsar cluster deduplicates (seen in {}): QoS 2 is exactly once across a proxy crash",
                 config.mqttProxySystemNamespace);
  } else {
    logger->warn("the Pulsar cluster does not deduplicate in {} ({}): QoS 2 is at least once across a proxy crash; "
                 "turn producer deduplication on for the MQTT namespaces and this one "
                 "(pulsar-admin namespaces set-deduplication {} --enable, or brokerDeduplicationEnabled=true)",
                 config.mqttProxySystemNamespace,
                 !probed ? "the probe got no answer" : !probed->ok() ? "probe failed: " + probed->error().to_string() : "a resent sequence id was stored again",
                 config.mqttProxySystemNamespace);
  }

  auto options = router_options(config);
  set_mqtt_authentication(config, *authentication, clock, options);
  options.qos2_deduplication = deduplication;
  // CONNACK once the connection is announced: of two connections of one client id on two
  // proxies, the one acknowledged later is the later one on mqtt-connections, which stays.
  options.announce = [&events](const std::string& id, std::function<void(bool)> done) {
    events.announce(id, std::move(done));
  };
  // A persistent session left on another proxy resumes here from its stored record.
  options.find_session = [&sessions](const std::string& id) { return sessions.find_session(id); };
  // ... read after the sessions table has caught up (a marker written and read back): the record
  // has the last writes of the proxy the client left, even one that died just after them.
  options.sync_sessions = [&sessions, logger](std::function<void(bool)> done) {
    sessions.sync_sessions([logger, done = std::move(done)](Result<void, Error> r) {
      if (!r.ok()) logger->warn("the sessions table could not be synced: {}", r.error().to_string());
      done(r.ok());
    });
  };
  // A will stored by a proxy that died with the client connected there goes when the client is
  // back; one taken over from such a proxy goes out only while the stored will is still ours.
  options.has_shared_will = [&sessions](const std::string& id) { return sessions.has_will(id); };
  options.owns_will = [&sessions](const std::string& id) { return sessions.owns_will(id); };
  // The cluster lost after the start: the state topics' producers reconnect (with backoff) and,
  // until they are back, a CONNECT could neither store its session nor announce itself, so new
  // clients get CONNACK 0x88 (3.1.1: return code 3). Connected clients stay: what they publish
  // waits in the producers and is acknowledged once stored (README "Cluster").
  // The same while this proxy does not hold its liveness lease: a will it stored then might be
  // another proxy's to publish.
  const auto cluster_unavailable = [&sessions, &events, &leases, &url]() -> std::string {
    if (!leases.held() && sessions.connected() && events.connected())
      return "this proxy's liveness lease " + leases.own_topic() + " is not held (taken by another proxy, or reconnecting)";
    if (sessions.connected() && events.connected()) return {};
    return "the Pulsar cluster at " + url + " cannot be reached now (reconnecting)";
  };
  options.unavailable = cluster_unavailable;
  // No restore(): a proxy that took every stored session at start would attach consumers to every
  // offline session's subscriptions on every proxy and hold their messages. A session lives on
  // the proxy its client connects to (find_session above); the one it left releases it.
  mqtt::SessionRouter router(service, sessions, clock, std::move(options));
  router_ptr = &router;
  net::ReadGate read_gate;
  service.set_publish_pressure_listener(std::size_t{config.maxMessagePublishBufferSizeInMB} * 1024 * 1024,
                                        [&read_gate](bool over) { over ? read_gate.close() : read_gate.open(); });
  mqtt::MqttListener tcp(io, router);
  tcp.set_read_gate(&read_gate);
  tcp.set_write_buffer_water_marks(config.pulsarChannelWriteBufferHighWaterMark,
                                   config.pulsarChannelWriteBufferLowWaterMark);
  ReadyInfo ready;
  ready.pid = static_cast<long>(::getpid());
  {
    auto bound = open_mqtt_listeners(config, config.proxy_listeners(), tcp);
    if (!bound.ok()) {
      logger->critical("{}", bound.error());
      return 1;
    }
    ready.mqtt = std::move(bound).value();
  }

  // Every periodic task of this mode is started here, and stopped together at shutdown.
  Periodics timers(io);
  // Large frames' buffers unused for a while go back to the allocator (mqtt/codec/buffer_pool.hpp).
  timers.every(std::chrono::seconds(5), [] { mqtt::BufferPool::large_frames().trim(); });

  // Wildcard subscriptions pick up topics created later (by any proxy or Pulsar producer).
  // The same timer notes when the cluster is lost and when it is back, once each way.
  bool cluster_lost = false;
  std::uint64_t polls = 0;
  timers.every(cluster_options.topic_poll, [&] {
    if (const auto why = cluster_unavailable(); why.empty() == cluster_lost) {
      cluster_lost = !why.empty();
      if (cluster_lost)
        logger->warn("{}: new MQTT clients get CONNACK server unavailable until it is back", why);
      else
        logger->info("the Pulsar cluster at {} is reachable again: new MQTT clients are accepted", url);
    }
    service.poll_topics();
    service.retry_busy_producers();
    if (++polls % 10 == 0) service.close_idle_named_producers();  // unused for 5 to 10 s
  });

  // Wills and sessions of proxies that died (cluster/README.md, "Wills and sessions of a proxy
  // that died"): every mqttProxyWillTakeoverIntervalSeconds the leases of the other proxies named
  // by stored wills and session records are tried, and the heir of one that died hands its wills
  // and sessions to the router.
  // A proxy that lost the cluster (or its own lease) tries no other proxy's lease until it has been
  // back for longer than the client's longest reconnect wait (backoff_max and its 20 % jitter)
  // and one round (Heir::poll).
  const auto takeover_interval = std::chrono::seconds(config.mqttProxyWillTakeoverIntervalSeconds);
  cluster::Heir heir(sessions, leases, events, clock,
                     std::chrono::duration_cast<std::chrono::milliseconds>(client_config.backoff_max * 6 / 5 + takeover_interval),
                     {.wills = [&router](std::vector<service::WillRecord> w) { router.adopt_wills(std::move(w)); },
                      .sessions = [&router](std::vector<service::SessionRecord> s) { router.adopt_sessions(std::move(s)); }});
  timers.every(takeover_interval, [&] {
    leases.release_old();
    leases.take_own_again();
    heir.poll(sessions.connected() && events.connected() && leases.held());
  });

  logger->info("mop proxy started: MQTT topics under {}://{}/{} of the cluster at {} (instance {})",
               to_string(config.defaultTopicDomain), config.defaultTenant, config.defaultNamespace, url, instance);
  print_ready_line(ready);

  boost::asio::steady_timer stop_timer(io);
  const ShutdownOnSignal shutdown(io, [&] {
    tcp.stop_accepting();
    router.shutdown();
    timers.stop_all();
    heir.close();
    leases.close();
    // Producers and consumers are closed on the brokers (unacknowledged messages go back to
    // their subscriptions at once), then the client; at most 5 s.
    events.close();
    sessions.close();
    router_ptr = nullptr;
    service.shutdown([&] { client.close([&](auto) { io.stop(); }); });
    stop_timer.expires_after(std::chrono::seconds(5));
    stop_timer.async_wait([&](boost::system::error_code e) {
      if (!e) io.stop();
    });
  });
  io.run();
  logger->info("mop proxy stopped");
  return 0;
}

}  // namespace mop::app
