#include "app/standalone.hpp"

#include <csignal>

#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>

#include "app/asio_executor.hpp"
#include "core/clock.hpp"
#include "core/log.hpp"
#include "mqtt/server/mqtt_broker.hpp"
#include "mqtt/server/tcp_server.hpp"
#include "service/embedded_service.hpp"

namespace mop::app {

int run_standalone(const Config& config) {
  auto logger = log::get("mop");
  boost::asio::io_context io(1);
  AsioExecutor executor(io);
  SystemClock clock;
  service::EmbeddedService service(executor, clock);

  mqtt::BrokerOptions options;
  options.defaults.domain = config.defaultTopicDomain == TopicDomain::persistent
                                ? service::TopicDomain::persistent
                                : service::TopicDomain::non_persistent;
  options.defaults.tenant = config.defaultTenant;
  options.defaults.ns = config.defaultNamespace;
  options.receive_maximum = config.receiveMaximum;
  options.limits.max_packet_size = config.mqttMessageMaxLength;
  options.limits.topic_alias_maximum = config.mqttTopicAliasMaximum;
  options.limits.server_keep_alive = config.mqttServerKeepAlive;
  mqtt::MqttBroker broker(service, clock, options);
  mqtt::TcpServer tcp(io, broker);

  if (config.serves_mqtt()) {
    for (const auto& listener : config.mqttListeners) {
      auto bound = tcp.listen(listener.host, listener.port);
      if (!bound) {
        logger->critical("cannot listen on {}: {}", listener.to_string(), bound.error().message());
        return 1;
      }
      Listener actual = listener;
      actual.port = bound->port();
      logger->info("MQTT listener ready on {}", actual.to_string());
    }
  }
  logger->info("mop standalone started: topics under {}://{}/{} by default, storage in memory",
               to_string(config.defaultTopicDomain), config.defaultTenant, config.defaultNamespace);

  boost::asio::signal_set signals(io, SIGINT, SIGTERM);
  signals.async_wait([&](boost::system::error_code ec, int signo) {
    if (ec) return;
    logger->info("signal {} received: shutting down", signo);
    tcp.stop_accepting();
    broker.shutdown();
  });
  io.run();
  logger->info("mop standalone stopped");
  return 0;
}

}  // namespace mop::app
