#pragma once
// The web service's routes (webServicePort): /metrics, the health checks, and the read-only
// part of Pulsar's admin API v2, with Pulsar's JSON shapes. One handler per route
// (admin.cpp); each reads the broker's state on the io_context's thread when asked.
#include <set>
#include <string>

#include <nlohmann/json_fwd.hpp>

#include "http/health.hpp"
#include "http/metrics.hpp"
#include "http/namespaces.hpp"
#include "http/router.hpp"

namespace mop::broker {
class Broker;
class Topic;
}  // namespace mop::broker
namespace mop::pulsar::server {
class PartitionedTopics;
class PulsarServer;
}  // namespace mop::pulsar::server

namespace mop::http {

struct WebContext {
  broker::Broker& broker;
  HealthCheck& health;
  MetricsSources metrics;
  // The default tenant and namespace (defaultTenant, defaultNamespace): they exist even before
  // any topic does, as in Pulsar standalone.
  std::string default_tenant = "public";
  std::string default_namespace = "default";
  // The admin API's writes (admin_writes.cpp) need both; without them those routes are not added.
  NamespaceRegistry* registry = nullptr;
  pulsar::server::PartitionedTopics* partitioned = nullptr;
  // The Pulsar server, for unload and for disconnecting a reset subscription's consumers (as a
  // SEEK does); none: those touch no Pulsar client.
  pulsar::server::PulsarServer* pulsar = nullptr;
  // The MQTT session router, for /mop/clients and the kick (mqtt_admin.cpp); none without MQTT.
  mqtt::SessionRouter* router = nullptr;
};

// Tenants: the default one, those created through the admin API, those with a topic.
std::set<std::string> tenants(const WebContext& c);
// Namespaces of `tenant` ("tenant/ns"): the default one, the created ones, those with a topic.
std::set<std::string> namespaces_of(const WebContext& c, const std::string& tenant);
// Pulsar's TopicStats of one topic (GET .../stats).
nlohmann::json topic_stats(const WebContext& c, const broker::Topic& topic);

// Adds every route to `router`; `context` must outlive it.
void add_web_routes(Router& router, const WebContext& context);

}  // namespace mop::http
