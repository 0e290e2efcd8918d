#include "http/admin.hpp"

#include <chrono>
#include <ctime>
#include <set>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "broker/broker.hpp"
#include "http/admin_writes.hpp"
#include "http/dashboard.hpp"
#include "http/mqtt_admin.hpp"
#include "http/prometheus.hpp"
#include "http/rates.hpp"
#include "pulsar/server/pulsar_server.hpp"

namespace mop::http {

namespace {

using nlohmann::json;
using service::NamespaceName;
using service::TopicDomain;
using service::TopicName;

Response text_response(unsigned status, std::string body) {
  Response r;
  r.status = status;
  r.body = std::move(body);
  return r;
}

// A time as Pulsar's stats print one: ISO 8601 in UTC with milliseconds ("2026-12-07T02:10:00.123Z").
std::string iso8601(std::chrono::system_clock::time_point t) {
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count();
  const std::time_t secs = static_cast<std::time_t>(ms / 1000);
  std::tm tm{};
  ::gmtime_r(&secs, &tm);
  char out[40];
  const std::size_t n = std::strftime(out, sizeof out, "%Y-%m-%dT%H:%M:%S", &tm);
  return std::string(out, n) + fmt::format(".{:03}Z", ms % 1000);
}

std::string_view type_name(service::SubscriptionType t) {
  switch (t) {
    case service::SubscriptionType::exclusive: return "Exclusive";
    case service::SubscriptionType::shared: return "Shared";
    case service::SubscriptionType::failover: return "Failover";
    case service::SubscriptionType::key_shared: return "Key_Shared";
  }
  return "Shared";
}

// GET /metrics
void get_metrics(const WebContext& c, const Request&, const Params&, Respond respond) {
  Response r;
  r.content_type = std::string(kPrometheusContentType);
  r.body = render_metrics(c.metrics);
  respond(std::move(r));
}

// GET /admin/v2/brokers/health: a real publish and consume (HealthCheck).
void get_health(const WebContext& c, const Request&, const Params&, Respond respond) {
  c.health.run([respond = std::move(respond)](Result<void, std::string> healthy) {
    if (healthy.ok()) return respond(text_response(200, "ok"));
    respond(error_response(500, healthy.error()));
  });
}

// GET /admin/v2/brokers/ready: mop serves as soon as it listens (the store is open by then).
void get_ready(const WebContext&, const Request&, const Params&, Respond respond) {
  respond(text_response(200, "ok"));
}

// GET /status.html (what load balancers probe on a Pulsar broker).
void get_status(const WebContext&, const Request&, const Params&, Respond respond) {
  respond(text_response(200, "OK"));
}

// GET /admin/v2/tenants
void get_tenants(const WebContext& c, const Request&, const Params&, Respond respond) {
  respond(json_response(json(tenants(c)).dump(-1, ' ', false, json::error_handler_t::replace)));
}

// GET /admin/v2/namespaces/{tenant}
void get_namespaces(const WebContext& c, const Request&, const Params& p, Respond respond) {
  const std::string& tenant = p.find("tenant")->second;
  if (!tenants(c).contains(tenant)) return respond(error_response(404, "Tenant does not exist"));
  respond(json_response(json(namespaces_of(c, tenant)).dump(-1, ' ', false, json::error_handler_t::replace)));
}

// GET /admin/v2/{persistent|non-persistent}/{tenant}/{namespace}: full topic names.
void get_topics(const WebContext& c, TopicDomain domain, const Params& p, Respond respond) {
  const NamespaceName ns{p.find("tenant")->second, p.find("namespace")->second};
  if (!namespaces_of(c, ns.tenant).contains(ns.to_string())) {
    return respond(error_response(404, "Namespace does not exist"));
  }
  json out = json::array();
  for (const auto& t : c.broker.list_topics(ns)) {
    if (t.domain() == domain) out.push_back(t.str());
  }
  respond(json_response(out.dump(-1, ' ', false, json::error_handler_t::replace)));
}

// GET /admin/v2/{persistent|non-persistent}/{tenant}/{namespace}/{topic}/stats
void get_topic_stats(const WebContext& c, TopicDomain domain, const Params& p, Respond respond) {
  const TopicName name(domain, p.find("tenant")->second, p.find("namespace")->second, p.find("topic")->second);
  const broker::Topic* topic = c.broker.find_topic(name);
  if (topic == nullptr) return respond(error_response(404, "Topic " + name.str() + " not found"));
  respond(json_response(topic_stats(c, *topic).dump(-1, ' ', false, json::error_handler_t::replace)));
}

}  // namespace

std::set<std::string> tenants(const WebContext& c) {
  std::set<std::string> out{c.default_tenant};
  for (const auto& ns : c.broker.list_namespaces()) out.insert(ns.tenant);
  if (c.registry != nullptr) {
    for (const auto& [tenant, _] : c.registry->tenants()) out.insert(tenant);
  }
  return out;
}

std::set<std::string> namespaces_of(const WebContext& c, const std::string& tenant) {
  std::set<std::string> out;
  if (tenant == c.default_tenant) out.insert(c.default_tenant + "/" + c.default_namespace);
  for (const auto& ns : c.broker.list_namespaces()) {
    if (ns.tenant == tenant) out.insert(ns.to_string());
  }
  if (c.registry != nullptr) {
    for (const auto& [ns, _] : c.registry->namespaces()) {
      if (ns.size() > tenant.size() && ns.compare(0, tenant.size(), tenant) == 0 && ns[tenant.size()] == '/') {
        out.insert(ns);
      }
    }
  }
  return out;
}

// Pulsar's TopicStats for what mop keeps (http/README.md says what it leaves out).
json topic_stats(const WebContext& c, const broker::Topic& topic) {
  const std::string& name = topic.name().str();
  // Pulsar producers only: MQTT publishers are not producers (neither Pulsar nor MoP lists them).
  json publishers = json::array();
  if (c.pulsar != nullptr) {
    c.pulsar->for_each_producer([&](const pulsar::server::ProducerInfo& p) {
      if (*p.topic != topic.name()) return;
      json one = {
          {"producerName", *p.name},
          {"producerId", p.producer_id},
          {"accessMode", pulsar::proto::ProducerAccessMode_Name(p.access_mode)},
          {"address", "/" + *p.address},
          {"connectedSince", iso8601(p.since)},
          {"clientVersion", *p.client_version},
      };
      const Rates r = c.metrics.rates != nullptr ? c.metrics.rates->producer(name, *p.name) : Rates{};
      one["msgRateIn"] = r.msg_in;
      one["msgThroughputIn"] = r.bytes_in;
      publishers.push_back(std::move(one));
    });
  }
  json subscriptions = json::object();
  topic.for_each_subscription([&](const broker::Subscription& s) {
    json consumers = json::array();
    s.for_each_receiver([&](const broker::Receiver& r) {
      consumers.push_back({{"consumerName", std::to_string(r.id())}, {"availablePermits", r.permits()}});
    });
    subscriptions[s.name()] = {
        {"msgBacklog", s.backlog()},
        {"unackedMessages", s.unacked_count()},
        {"type", type_name(s.type())},
        {"isDurable", s.durable()},
        {"msgOutCounter", s.msg_out_counter()},
        {"bytesOutCounter", s.bytes_out_counter()},
        {"consumers", std::move(consumers)},
    };
    if (c.metrics.rates != nullptr) {
      const Rates r = c.metrics.rates->subscription(name, s.name());
      subscriptions[s.name()]["msgRateOut"] = r.msg_out;
      subscriptions[s.name()]["msgThroughputOut"] = r.bytes_out;
    }
  });
  json stats = {
      {"msgInCounter", topic.msg_in_counter()},
      {"bytesInCounter", topic.bytes_in_counter()},
      {"msgOutCounter", topic.msg_out_counter()},
      {"bytesOutCounter", topic.bytes_out_counter()},
      {"storageSize", topic.stored_bytes()},
      {"backlogSize", topic.backlog_bytes()},
      {"publishers", std::move(publishers)},
      {"subscriptions", std::move(subscriptions)},
  };
  if (c.metrics.rates != nullptr) {
    const Rates r = c.metrics.rates->topic(name);
    stats["msgRateIn"] = r.msg_in;
    stats["msgThroughputIn"] = r.bytes_in;
    stats["msgRateOut"] = r.msg_out;
    stats["msgThroughputOut"] = r.bytes_out;
  }
  return stats;
}

void add_web_routes(Router& router, const WebContext& c) {
  const auto route = [&c](auto fn) {
    return [&c, fn](const Request& req, const Params& p, Respond respond) { fn(c, req, p, std::move(respond)); };
  };
  router.add("GET", "/metrics", route(get_metrics));
  router.add("GET", "/admin/v2/brokers/health", route(get_health));
  router.add("GET", "/admin/v2/brokers/ready", route(get_ready));
  router.add("GET", "/status.html", route(get_status));
  router.add("GET", "/admin/v2/tenants", route(get_tenants));
  router.add("GET", "/admin/v2/namespaces/{tenant}", route(get_namespaces));
  for (const TopicDomain domain : {TopicDomain::persistent, TopicDomain::non_persistent}) {
    const std::string prefix = "/admin/v2/" + std::string(service::to_string(domain));
    router.add("GET", prefix + "/{tenant}/{namespace}",
               [&c, domain](const Request&, const Params& p, Respond respond) {
                 get_topics(c, domain, p, std::move(respond));
               });
    router.add("GET", prefix + "/{tenant}/{namespace}/{topic}/stats",
               [&c, domain](const Request&, const Params& p, Respond respond) {
                 get_topic_stats(c, domain, p, std::move(respond));
               });
  }
  if (c.registry != nullptr && c.partitioned != nullptr) add_admin_write_routes(router, c);
  add_mqtt_admin_routes(router, c);
  add_dashboard_routes(router);
}

}  // namespace mop::http
