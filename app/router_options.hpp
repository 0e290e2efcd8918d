#pragma once
// The MQTT server's options from the configuration, the same in `mop standalone` and `mop proxy`.
#include "app/config.hpp"
#include "mqtt/server/session_router.hpp"

namespace mop::app {

inline mqtt::RouterOptions router_options(const Config& config) {
  mqtt::RouterOptions options;
  options.defaults.domain = config.defaultTopicDomain == TopicDomain::persistent ? service::TopicDomain::persistent
                                                                                 : service::TopicDomain::non_persistent;
  options.defaults.tenant = config.defaultTenant;
  options.defaults.ns = config.defaultNamespace;
  options.receive_maximum = config.receiveMaximum;
  options.limits.max_packet_size = config.mqttMessageMaxLength;
  options.limits.topic_alias_maximum = config.mqttTopicAliasMaximum;
  options.limits.server_keep_alive = config.mqttServerKeepAlive;
  options.max_connections = config.mqttMaxConnections;
  options.max_queued_bytes = config.mqttMaxQueuedBytes;
  return options;
}

}  // namespace mop::app
