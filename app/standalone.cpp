#include "app/standalone.hpp"

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <functional>
#include <optional>

#include <unistd.h>

#include <boost/asio/io_context.hpp>
#include <fmt/format.h>
#include <fmt/ranges.h>

#include "app/authentication.hpp"
#include "app/mqtt_listeners.hpp"
#include "app/ready_line.hpp"
#include "app/router_options.hpp"
#include "app/periodic.hpp"
#include "app/shutdown.hpp"
#include "core/clock.hpp"
#include "core/log.hpp"
#include "http/admin.hpp"
#include "http/permissions.hpp"
#include "http/rates.hpp"
#include "http/server.hpp"
#include "mqtt/codec/buffer_pool.hpp"
#include "mqtt/server/mqtt_listener.hpp"
#include "net/asio_executor.hpp"
#include "net/tls_context.hpp"
#include "mqtt/server/session_router.hpp"
#include "mqtt/server/sys_topics.hpp"
#include "pulsar/server/batch_unpacker.hpp"
#include "pulsar/server/credentials_authentication.hpp"
#include "pulsar/server/pulsar_listener.hpp"
#include "service/embedded_service.hpp"
#include "storage/rocks_store.hpp"
#include "storage/store_ledger.hpp"
#include "storage/store_persistence.hpp"
#include "storage/store_state.hpp"

namespace mop::app {

int run_standalone(const Config& config) {
  auto logger = log::get("mop");
  boost::asio::io_context io(1);
  net::AsioExecutor executor(io);
  SystemClock clock;

  // The embedded store. Any problem opening it (a newer format, corruption, permissions) stops
  // the start before a listener opens: serving with state missing would lose acknowledged data.
  const auto started = std::chrono::steady_clock::now();
  {
    std::error_code ec;
    std::filesystem::create_directories(config.dataDir, ec);
    if (ec) {
      logger->critical("cannot create dataDir {}: {}", config.dataDir, ec.message());
      return 2;
    }
  }
  storage::RocksStore::Options store_options;
  store_options.sync = config.journalSyncData;
  store_options.wal_zero_ahead = config.journalPreAllocSizeMB << 20;
  store_options.blob_min_size = config.storeBlobMinSizeBytes;
  store_options.entry_log_min_size = config.storeEntryLogMinSizeBytes;
  auto opened = storage::RocksStore::open(config.dataDir, store_options);
  if (!opened.ok()) {
    logger->critical("cannot open the store in dataDir {}: {}", config.dataDir, opened.error().to_string());
    if (opened.error().code != storage::StorageErrc::newer_format &&
        opened.error().code != storage::StorageErrc::locked) {
      logger->critical("`mop store check --data-dir {}` lists every damaged record; with --repair it repairs "
                       "what it can without dropping sound data",
                       config.dataDir);
    }
    return 2;
  }
  storage::RocksStore& store = **opened;
  storage::StorePersistence persistence(store, executor);
  // The protocols' own state, in the same store: MQTT sessions and wills, Pulsar topic metadata.
  storage::StoreSessionStore session_store(store, executor);
  storage::StoreMetadataStore metadata_store(store, executor);
  service::EmbeddedService service(executor, clock, storage::ledger_factory(store, executor), &persistence);
  // Pulsar batch entries reach MQTT subscribers message by message.
  service.set_batch_unpacker([max = static_cast<std::size_t>(config.maxMessageSize)](const service::Message& batch) {
    return pulsar::server::unpack_batch(batch, max);
  });
  broker::TopicPolicies policies;
  policies.retention_time_ms = config.defaultRetentionTimeInMinutes < 0 ? -1 : config.defaultRetentionTimeInMinutes * 60'000;
  policies.retention_size_bytes = config.defaultRetentionSizeInMB < 0 ? -1 : config.defaultRetentionSizeInMB << 20;
  policies.ttl_ms = std::uint64_t{config.ttlDurationDefaultInSeconds} * 1000;
  policies.backlog_quota_bytes = config.backlogQuotaDefaultLimitBytes;
  policies.backlog_policy = config.backlogQuotaEviction ? broker::TopicPolicies::BacklogPolicy::consumer_backlog_eviction
                                                        : broker::TopicPolicies::BacklogPolicy::producer_exception;
  service.set_policies(policies);
  // Everything stored is read back before any listener opens; a record that cannot be read stops
  // the start (serving without it would lose acknowledged state).
  Result<void, Error> restored = service.restore();
  auto sessions = session_store.read();
  auto metadata = metadata_store.read();
  if (restored.ok() && !sessions.ok()) restored = sessions.error();
  if (restored.ok() && !metadata.ok()) restored = metadata.error();
  if (!restored.ok()) {
    logger->critical("cannot restore the state stored in {}: {} ({})", config.dataDir, restored.error().message,
                     restored.error().code.message());
    logger->critical("`mop store check --data-dir {}` lists every damaged record; with --repair it repairs what "
                     "it can without dropping sound data",
                     config.dataDir);
    return 2;
  }
  // The admin API's tenants and namespaces, stored in the metadata store; the namespaces'
  // policies reach the broker before anything is served.
  http::NamespaceRegistry namespace_registry(service.broker(), &metadata_store, executor);
  namespace_registry.restore(metadata->tenants, metadata->namespaces);
  if (!metadata->tenants.empty() || !metadata->namespaces.empty())
    logger->info("{} tenants and {} namespaces restored", metadata->tenants.size(), metadata->namespaces.size());
  logger->info("store {} opened in {} ms (journalSyncData={})", store.describe(),
               std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - started).count(),
               config.journalSyncData);

  auto authentication = build_authentication(config);
  if (!authentication.ok()) {
    logger->critical("authentication: {}", authentication.error());
    return 2;
  }
  // Grants (authorizationEnabled, mqttAuthorizationEnabled), managed over HTTP.
  // Each change is written to the metadata store (the `permissions` column family) and read back here.
  auto permissions = std::make_shared<auth::Permissions>(
      config.superUserRoles, [&metadata_store, logger](const auth::PermissionRecord& r, auth::Permissions::Stored stored) {
        metadata_store.put_permission({r.resource, r.role, r.actions}, [logger, r, stored = std::move(stored)](Result<void, Error> done) {
          if (done.ok()) return stored(std::nullopt);
          logger->error("the grant of role {} on {} was not stored: {}", r.role, r.resource, done.error().to_string());
          stored(done.error().to_string());
        });
      });
  {
    std::vector<auth::PermissionRecord> stored;
    for (auto& r : metadata->permissions) stored.push_back({std::move(r.resource), std::move(r.role), r.actions});
    permissions->load(stored);
    if (!stored.empty()) logger->info("{} grants restored", stored.size());
  }
  mqtt::RouterOptions options = router_options(config);
  if (config.mqttAuthorizationEnabled) {
    options.permissions = permissions;
    options.allow_wildcard_filters = config.authorizationAllowWildcardsMatching;
  }
  set_mqtt_authentication(config, *authentication, clock, options);
  mqtt::SessionRouter router(service, session_store, clock, options);
  router.restore(std::move(*sessions));
  // Publish back-pressure: while the payloads accepted and not yet stored exceed the buffer, both
  // listeners stop reading from their sockets (see net::ReadGate).
  net::ReadGate read_gate;
  service.set_publish_pressure_listener(std::size_t{config.maxMessagePublishBufferSizeInMB} * 1024 * 1024,
                                        [&read_gate, logger](bool over) {
                                          if (over) {
                                            logger->debug("publish buffer full: reading paused");
                                            read_gate.close();
                                          } else {
                                            logger->debug("publish buffer drained: reading resumed");
                                            read_gate.open();
                                          }
                                        });
  mqtt::MqttListener tcp(io, router);
  tcp.set_read_gate(&read_gate);
  tcp.set_write_buffer_water_marks(config.pulsarChannelWriteBufferHighWaterMark,
                                   config.pulsarChannelWriteBufferLowWaterMark);

  // What the start-up line reports once everything listens: the bound ports, never the 0 asked for.
  ReadyInfo ready;
  ready.pid = static_cast<long>(::getpid());
  // The MQTT listeners, TLS contexts first (a bad certificate, key or PSK file stops the start).
  if (config.serves_mqtt()) {
    auto bound = open_mqtt_listeners(config, config.mqttListeners, tcp);
    if (!bound.ok()) {
      logger->critical("{}", bound.error());
      return 1;
    }
    ready.mqtt = std::move(bound).value();
  }
  // The Pulsar protocol is always served, as by a Pulsar broker: on the first MQTT listener's host
  // (or advertisedAddress when there is none) and brokerServicePort (0 picks a free port).
  pulsar::server::ServerOptions pulsar_options;
  pulsar_options.max_message_size = config.maxMessageSize;
  pulsar_options.keep_alive = std::chrono::seconds(config.keepAliveIntervalSeconds);
  pulsar_options.allow_auto_topic_creation = config.allowAutoTopicCreation;
  pulsar_options.auto_create_partitioned = config.autoTopicCreationPartitioned;
  pulsar_options.default_num_partitions = config.defaultNumPartitions;
  pulsar_options.deduplication = config.brokerDeduplicationEnabled;
  pulsar_options.namespace_deduplication = [&service](const service::NamespaceName& ns) {
    return service.broker().policies_of(ns).deduplication;
  };
  pulsar_options.default_tenant = config.defaultTenant;
  pulsar_options.default_namespace = config.defaultNamespace;
  pulsar_options.auth_refresh_check = std::chrono::seconds(config.authenticationRefreshCheckSeconds);
  std::unique_ptr<pulsar::server::CredentialsAuthentication> pulsar_auth;
  if (authentication->pulsar) {
    pulsar_auth = std::make_unique<pulsar::server::CredentialsAuthentication>(authentication->pulsar, clock);
    pulsar_options.authentication_provider = pulsar_auth.get();
    logger->info("Pulsar authentication on: methods {}", fmt::join(config.pulsar_authentication_methods(), ", "));
  }
  if (config.authorizationEnabled) pulsar_options.permissions = permissions.get();
  pulsar::server::PulsarServer pulsar_server(service, metadata_store, clock, pulsar_options);
  pulsar_server.restore(*metadata);
  pulsar::server::PulsarListener pulsar_tcp(io, pulsar_server);
  pulsar_tcp.set_read_gate(&read_gate);
  pulsar_tcp.set_write_buffer_water_marks(config.pulsarChannelWriteBufferHighWaterMark,
                                          config.pulsarChannelWriteBufferLowWaterMark);
  const bool have_mqtt = !config.mqttListeners.empty();
  const std::string bind_host = have_mqtt ? config.mqttListeners.front().host
                                          : (config.advertisedAddress.empty() ? "127.0.0.1" : config.advertisedAddress);
  {
    const std::string advertised = have_mqtt ? config.advertised_host(config.mqttListeners.front())
                                             : (config.advertisedAddress.empty() ? bind_host : config.advertisedAddress);
    auto bound = pulsar_tcp.listen(bind_host, config.brokerServicePort);
    if (!bound.ok()) {
      // A port the user configured is honoured or refused; the implicit default is best effort,
      // so that an MQTT-only mop beside a Pulsar broker (or a second mop) still starts.
      if (config.sources.contains("brokerServicePort")) {
        logger->critical("cannot listen on pulsar://{}:{}: {}", bind_host, config.brokerServicePort,
                         bound.error().message());
        return 1;
      }
      logger->warn("Pulsar listener not started: cannot listen on pulsar://{}:{} ({}); set brokerServicePort",
                   bind_host, config.brokerServicePort, bound.error().message());
    } else {
      // LOOKUP must answer with exactly the URL clients use, or they open a second connection.
      const bool v6 = advertised.find(':') != std::string::npos;
      pulsar_server.options().service_url = v6 ? fmt::format("pulsar://[{}]:{}", advertised, bound->port())
                                               : fmt::format("pulsar://{}:{}", advertised, bound->port());
      logger->info("Pulsar listener ready on {}", pulsar_server.options().service_url);
      ready.pulsar = BoundListener{bind_host, bound->port(), pulsar_server.options().service_url};
    }
  }
  // The Pulsar protocol over TLS (brokerServicePortTls), on the same host, with the tls* keys.
  if (config.brokerServicePortTls >= 0) {
    auto built = net::TlsContext::create("pulsar+ssl", tls_options(config.pulsar_tls()));
    if (!built.ok()) {
      logger->critical("cannot start the Pulsar TLS listener: {}", built.error());
      return 1;
    }
    auto bound = pulsar_tcp.listen_tls(bind_host, static_cast<std::uint16_t>(config.brokerServicePortTls),
                                       std::move(built).value());
    if (!bound.ok()) {
      logger->critical("cannot listen on pulsar+ssl://{}:{}: {}", bind_host, config.brokerServicePortTls,
                       bound.error().message());
      return 1;
    }
    const std::string advertised = have_mqtt ? config.advertised_host(config.mqttListeners.front())
                                             : (config.advertisedAddress.empty() ? bind_host : config.advertisedAddress);
    const bool v6 = advertised.find(':') != std::string::npos;
    pulsar_server.options().service_url_tls = v6 ? fmt::format("pulsar+ssl://[{}]:{}", advertised, bound->port())
                                                 : fmt::format("pulsar+ssl://{}:{}", advertised, bound->port());
    logger->info("Pulsar TLS listener ready on {}", pulsar_server.options().service_url_tls);
    ready.pulsar_tls = BoundListener{bind_host, bound->port(), pulsar_server.options().service_url_tls, {}};
  }
  // The web service (webServicePort): /metrics, health checks, read-only admin, on the Pulsar
  // listener's host; like the Pulsar port, an explicit port is required, the default best effort.
  http::Router web_routes;
  http::HttpServer web(io, web_routes);
  std::uint16_t web_port = config.webServicePort;
  {
    auto bound = web.listen(bind_host, config.webServicePort);
    if (!bound.ok()) {
      if (config.sources.contains("webServicePort")) {
        logger->critical("cannot listen on http://{}:{}: {}", bind_host, config.webServicePort,
                         bound.error().message());
        return 1;
      }
      logger->warn("web service not started: cannot listen on http://{}:{} ({}); set webServicePort", bind_host,
                   config.webServicePort, bound.error().message());
    } else {
      web_port = bound->port();
      const bool v6 = bind_host.find(':') != std::string::npos;
      const std::string url = v6 ? fmt::format("http://[{}]:{}", bind_host, web_port)
                                 : fmt::format("http://{}:{}", bind_host, web_port);
      logger->info("web service ready on {} (/metrics, /admin/v2)", url);
      ready.web = BoundListener{bind_host, web_port, url};
    }
  }
  // The web service over TLS (webServicePortTls): the same routes, Pulsar's tls* keys.
  if (config.webServicePortTls >= 0) {
    auto built = net::TlsContext::create("https", tls_options(config.pulsar_tls()));
    if (!built.ok()) {
      logger->critical("cannot start the web service over TLS: {}", built.error());
      return 1;
    }
    auto bound = web.listen_tls(bind_host, static_cast<std::uint16_t>(config.webServicePortTls),
                                std::move(built).value());
    if (!bound.ok()) {
      logger->critical("cannot listen on https://{}:{}: {}", bind_host, config.webServicePortTls,
                       bound.error().message());
      return 1;
    }
    const bool v6 = bind_host.find(':') != std::string::npos;
    const std::string url = v6 ? fmt::format("https://[{}]:{}", bind_host, bound->port())
                               : fmt::format("https://{}:{}", bind_host, bound->port());
    logger->info("web service over TLS ready on {}", url);
    ready.web_tls = BoundListener{bind_host, bound->port(), url, {}};
  }
  // Pulsar's health check publishes on persistent://pulsar/<broker id>/healthcheck.
  const std::string broker_id =
      fmt::format("{}:{}", config.advertisedAddress.empty() ? bind_host : config.advertisedAddress, web_port);
  auto health_topic = service::TopicName::parse(fmt::format("persistent://pulsar/{}/healthcheck", broker_id));
  if (!health_topic) health_topic = service::TopicName::parse("persistent://pulsar/standalone/healthcheck");
  http::HealthCheck health(io, service, *health_topic);
  // Message rates, as Pulsar computes them: counters read every statsUpdateFrequencyInSecs.
  http::MessageRates rates;
  rates.sample(service.broker(), std::chrono::steady_clock::now(), &pulsar_server);
  // Every periodic task of this mode is started here, and stopped together at shutdown.
  Periodics timers(io);
  timers.every(std::chrono::seconds(config.statsUpdateFrequencyInSecs),
               [&] { rates.sample(service.broker(), std::chrono::steady_clock::now(), &pulsar_server); });
  http::MetricsSources metrics;
  metrics.broker = &service.broker();
  metrics.rates = &rates;
  metrics.data_dir = config.dataDir;
  metrics.commits = &store.commit_stats();
  metrics.wal = store.wal_stats();
  metrics.mqtt = config.serves_mqtt() ? &router : nullptr;
  metrics.listeners = {{"mqtt", [&tcp] { return tcp.connection_count(); }},
                       {"pulsar", [&pulsar_tcp] { return pulsar_tcp.connection_count(); }},
                       {"http", [&web] { return web.connection_count(); }}};
  const http::WebContext web_context{service.broker(), health, std::move(metrics), config.defaultTenant,
                                     config.defaultNamespace, &namespace_registry, &pulsar_server.partitioned(),
                                     &pulsar_server, config.serves_mqtt() ? &router : nullptr};
  http::add_web_routes(web_routes, web_context);
  const http::PermissionsContext permissions_context{*permissions, authentication->pulsar, clock};
  http::add_permission_routes(web_routes, permissions_context);
  logger->info("mop standalone started: topics under {}://{}/{} by default, storage in {}",
               to_string(config.defaultTopicDomain), config.defaultTenant, config.defaultNamespace, store.describe());
  print_ready_line(ready);

  // TTL and time-based retention are applied periodically, as Pulsar's expiry and retention
  // checks are (and on every acknowledgement for retention). Always: a namespace's policies set
  // through the admin API may bring them (a topic without either returns at once).
  timers.every(std::chrono::seconds(10), [&] { service.expire(); });
  // Large frames' buffers unused for a while go back to the allocator (mqtt/codec/buffer_pool.hpp).
  timers.every(std::chrono::seconds(5), [] { mqtt::BufferPool::large_frames().trim(); });

  // Mosquitto's $SYS topics, every sysInterval seconds from the start (0 = none).
  mqtt::SysTopics sys_topics(router, MOP_VERSION, std::chrono::steady_clock::now());
  if (config.sysInterval > 0 && config.serves_mqtt()) {
    timers.every(std::chrono::seconds(config.sysInterval),
                 [&] { sys_topics.publish(std::chrono::steady_clock::now()); }, Periodic::First::now);
  }

  const ShutdownOnSignal shutdown(io, [&] {
    tcp.stop_accepting();
    pulsar_tcp.shutdown();
    web.shutdown();
    health.shutdown();
    router.shutdown();
    timers.stop_all();
  });
  io.run();
  // Everything queued reaches the disk, and the completions it posts run, before the store closes.
  if (const auto flushed = store.flush(); !flushed.ok()) {
    logger->error("flushing the store failed: {}", flushed.error().to_string());
  }
  io.restart();
  io.poll();
  logger->info("mop standalone stopped");
  return 0;
}

}  // namespace mop::app
