#pragma once
// The web service's routes (webServicePort): /metrics, the health checks, and the read-only
// part of Pulsar's admin API v2, with Pulsar's JSON shapes. One handler per route
// (admin.cpp); each reads the broker's state on the io_context's thread when asked.
#include <string>

#include "http/health.hpp"
#include "http/metrics.hpp"
#include "http/router.hpp"

namespace mop::broker {
class Broker;
}

namespace mop::http {

struct WebContext {
  broker::Broker& broker;
  HealthCheck& health;
  MetricsSources metrics;
  // The default tenant and namespace (defaultTenant, defaultNamespace): they exist even before
  // any topic does, as in Pulsar standalone.
  std::string default_tenant = "public";
  std::string default_namespace = "default";
};

// Adds every route to `router`; `context` must outlive it.
void add_web_routes(Router& router, const WebContext& context);

}  // namespace mop::http
