#include "http/admin_writes.hpp"

#include <algorithm>
#include <chrono>
#include <limits>
#include <optional>

#include <nlohmann/json.hpp>

#include "broker/broker.hpp"
#include "pulsar/server/partitioned_topics.hpp"
#include "pulsar/server/pulsar_server.hpp"

namespace mop::http {

namespace {

using nlohmann::json;
using service::MessageId;
using service::NamespaceName;
using service::TopicDomain;
using service::TopicName;

constexpr std::uint32_t kMaxPartitions = 10'000;

Response no_content() {
  Response r;
  r.status = 204;
  return r;
}

// A body that must be JSON; nullopt (and a 400 sent) when it is not.
std::optional<json> parse_body(const Request& req, const Respond& respond) {
  json body = json::parse(req.body, nullptr, /*allow_exceptions=*/false);
  if (body.is_discarded()) {
    respond(error_response(400, "Request body is not valid JSON"));
    return std::nullopt;
  }
  return body;
}

// A body that must be a JSON object (`what` names it in the 400 otherwise): the handlers read it
// with value() and contains(), which an array or a number would make throw.
std::optional<json> parse_object_body(const Request& req, const Respond& respond, std::string_view what) {
  auto body = parse_body(req, respond);
  if (body && !body->is_object()) {
    respond(error_response(400, std::string(what) + " must be a JSON object"));
    return std::nullopt;
  }
  return body;
}

// `name=value` of the query, if present.
std::optional<std::string> query_param(const Request& req, std::string_view name) {
  std::string_view q = req.query();
  while (!q.empty()) {
    const auto amp = q.find('&');
    const std::string_view pair = q.substr(0, amp);
    const auto eq = pair.find('=');
    if (pair.substr(0, eq) == name) return std::string(eq == std::string_view::npos ? "" : pair.substr(eq + 1));
    if (amp == std::string_view::npos) break;
    q.remove_prefix(amp + 1);
  }
  return std::nullopt;
}

const std::string& param(const Params& p, std::string_view name) { return p.find(name)->second; }

std::string ns_of(const Params& p) { return param(p, "tenant") + "/" + param(p, "namespace"); }

TopicName topic_of(TopicDomain domain, const Params& p) {
  return TopicName(domain, param(p, "tenant"), param(p, "namespace"), param(p, "topic"));
}

bool namespace_exists(const WebContext& c, const Params& p) {
  return namespaces_of(c, param(p, "tenant")).contains(ns_of(p));
}

// "ledger:entry" as Pulsar prints a position; `entry` may be -1 (before the first).
std::string position(std::uint64_t ledger, std::int64_t entry) {
  return std::to_string(ledger) + ":" + std::to_string(entry);
}

// The completion of a registry change: 204 once it is stored, 500 with the store's reason if
// it was not (the change is then undone).
NamespaceRegistry::Done answer_when_stored(Respond respond) {
  return [respond = std::move(respond)](Result<void, Error> stored) {
    if (stored.ok()) return respond(no_content());
    respond(error_response(500, "Not stored: " + stored.error().message));
  };
}

// ---- tenants ------------------------------------------------------------------------------

// GET /admin/v2/tenants/{tenant}: Pulsar's TenantInfo.
void get_tenant(const WebContext& c, const Request&, const Params& p, Respond respond) {
  const std::string& tenant = param(p, "tenant");
  if (!tenants(c).contains(tenant)) return respond(error_response(404, "Tenant does not exist"));
  const auto it = c.registry->tenants().find(tenant);
  if (it != c.registry->tenants().end()) return respond(json_response(it->second));
  respond(json_response(json{{"adminRoles", json::array()}, {"allowedClusters", {"standalone"}}}.dump(-1, ' ', false, json::error_handler_t::replace)));
}

// PUT /admin/v2/tenants/{tenant} with a TenantInfo body.
void put_tenant(const WebContext& c, const Request& req, const Params& p, Respond respond) {
  const std::string& tenant = param(p, "tenant");
  if (tenants(c).contains(tenant)) return respond(error_response(409, "Tenant already exists"));
  if (tenant.empty() || tenant.find_first_of("/:") != std::string::npos) {
    return respond(error_response(412, "Tenant name is not valid"));
  }
  json info = json::object();
  if (!req.body.empty()) {
    auto body = parse_object_body(req, respond, "TenantInfo");
    if (!body) return;
    info = std::move(*body);
  }
  if (!info.contains("adminRoles")) info["adminRoles"] = json::array();
  if (!info.contains("allowedClusters")) info["allowedClusters"] = json::array();
  c.registry->put_tenant(tenant, info.dump(-1, ' ', false, json::error_handler_t::replace),
                         answer_when_stored(std::move(respond)));
}

// DELETE /admin/v2/tenants/{tenant}
void delete_tenant(const WebContext& c, const Request&, const Params& p, Respond respond) {
  const std::string& tenant = param(p, "tenant");
  if (!tenants(c).contains(tenant)) return respond(error_response(404, "Tenant does not exist"));
  if (!namespaces_of(c, tenant).empty()) {
    return respond(error_response(409, "The tenant still has active namespaces"));
  }
  c.registry->erase_tenant(tenant, answer_when_stored(std::move(respond)));
}

// ---- namespaces ---------------------------------------------------------------------------

// PUT /admin/v2/namespaces/{tenant}/{namespace}
void put_namespace(const WebContext& c, const Request&, const Params& p, Respond respond) {
  if (!tenants(c).contains(param(p, "tenant"))) return respond(error_response(404, "Tenant does not exist"));
  if (namespace_exists(c, p)) return respond(error_response(409, "Namespace already exists"));
  const std::string& ns = param(p, "namespace");
  if (ns.empty() || ns.find_first_of("/:") != std::string::npos) {
    return respond(error_response(412, "Namespace name is not valid"));
  }
  c.registry->put_namespace(ns_of(p), {}, answer_when_stored(std::move(respond)));
}

// DELETE /admin/v2/namespaces/{tenant}/{namespace}
void delete_namespace(const WebContext& c, const Request&, const Params& p, Respond respond) {
  if (!namespace_exists(c, p)) return respond(error_response(404, "Namespace does not exist"));
  const NamespaceName ns{param(p, "tenant"), param(p, "namespace")};
  if (!c.broker.list_topics(ns).empty()) return respond(error_response(409, "Cannot delete non empty namespace"));
  if (ns.tenant == c.default_tenant && ns.ns == c.default_namespace) {
    return respond(error_response(412, "Cannot delete the default namespace"));
  }
  c.registry->erase_namespace(ns.to_string(), answer_when_stored(std::move(respond)));
}

// A copy of the namespace's policies (none set for a namespace that exists by its topics or by
// default until one is set); nullopt (404 sent) if it does not exist.
std::optional<NamespacePolicies> policies_for(const WebContext& c, const Params& p, const Respond& respond) {
  if (!namespace_exists(c, p)) {
    respond(error_response(404, "Namespace does not exist"));
    return std::nullopt;
  }
  const auto* kept = c.registry->policies(ns_of(p));
  return kept != nullptr ? *kept : NamespacePolicies{};
}

// The policies changed: stored (the broker applies them to the namespace's topics at once), 204
// once stored.
void store_policies(const WebContext& c, const Params& p, NamespacePolicies policies, Respond respond) {
  c.registry->put_namespace(ns_of(p), std::move(policies), answer_when_stored(std::move(respond)));
}

// Answers a policy that is not set as Pulsar does: 204 with no body (the admin client reads null).
void respond_optional(const std::optional<json>& value, const Respond& respond) {
  if (!value) return respond(no_content());
  respond(json_response(value->dump()));
}

// GET /admin/v2/namespaces/{tenant}/{namespace}/retention
void get_retention(const WebContext& c, const Request&, const Params& p, Respond respond) {
  auto policies = policies_for(c, p, respond);
  if (!policies) return;
  std::optional<json> out;
  if (policies->retention) {
    out = json{{"retentionTimeInMinutes", policies->retention->minutes},
               {"retentionSizeInMB", policies->retention->size_mb}};
  }
  respond_optional(out, respond);
}

// POST /admin/v2/namespaces/{tenant}/{namespace}/retention with RetentionPolicies.
void set_retention(const WebContext& c, const Request& req, const Params& p, Respond respond) {
  auto policies = policies_for(c, p, respond);
  if (!policies) return;
  auto body = parse_object_body(req, respond, "RetentionPolicies");
  if (!body) return;
  const json minutes = body->value("retentionTimeInMinutes", json());
  const json size = body->value("retentionSizeInMB", json());
  if (!minutes.is_number_integer() || !size.is_number_integer() || minutes.get<std::int64_t>() < -1 ||
      size.get<std::int64_t>() < -1) {
    return respond(error_response(412, "retentionTimeInMinutes and retentionSizeInMB must be integers >= -1"));
  }
  policies->retention = RetentionPolicy{minutes.get<std::int64_t>(), size.get<std::int64_t>()};
  store_policies(c, p, std::move(*policies), std::move(respond));
}

// DELETE /admin/v2/namespaces/{tenant}/{namespace}/retention
void remove_retention(const WebContext& c, const Request&, const Params& p, Respond respond) {
  auto policies = policies_for(c, p, respond);
  if (!policies) return;
  policies->retention.reset();
  store_policies(c, p, std::move(*policies), std::move(respond));
}

// GET /admin/v2/namespaces/{tenant}/{namespace}/messageTTL: seconds.
void get_ttl(const WebContext& c, const Request&, const Params& p, Respond respond) {
  auto policies = policies_for(c, p, respond);
  if (!policies) return;
  std::optional<json> out;
  if (policies->message_ttl_seconds) out = json(*policies->message_ttl_seconds);
  respond_optional(out, respond);
}

// POST /admin/v2/namespaces/{tenant}/{namespace}/messageTTL with a number of seconds.
void set_ttl(const WebContext& c, const Request& req, const Params& p, Respond respond) {
  auto policies = policies_for(c, p, respond);
  if (!policies) return;
  auto body = parse_body(req, respond);
  if (!body) return;
  if (!body->is_number_integer() || body->get<std::int64_t>() < 0) {
    return respond(error_response(412, "Invalid value for message TTL"));
  }
  policies->message_ttl_seconds = body->get<std::int64_t>();
  store_policies(c, p, std::move(*policies), std::move(respond));
}

// DELETE /admin/v2/namespaces/{tenant}/{namespace}/messageTTL
void remove_ttl(const WebContext& c, const Request&, const Params& p, Respond respond) {
  auto policies = policies_for(c, p, respond);
  if (!policies) return;
  policies->message_ttl_seconds.reset();
  store_policies(c, p, std::move(*policies), std::move(respond));
}

// GET /admin/v2/namespaces/{tenant}/{namespace}/backlogQuotaMap
void get_backlog_quota(const WebContext& c, const Request&, const Params& p, Respond respond) {
  auto policies = policies_for(c, p, respond);
  if (!policies) return;
  json out = json::object();
  if (policies->backlog_quota) {
    const auto& q = *policies->backlog_quota;
    out["destination_storage"] = {{"limitSize", q.limit_size}, {"limitTime", q.limit_time}, {"policy", q.policy}};
  }
  respond(json_response(out.dump(-1, ' ', false, json::error_handler_t::replace)));
}

// POST /admin/v2/namespaces/{tenant}/{namespace}/backlogQuota with a BacklogQuota body
// (?backlogQuotaType=destination_storage, the default; message_age is refused: mop has no time
// quota).
void set_backlog_quota(const WebContext& c, const Request& req, const Params& p, Respond respond) {
  auto policies = policies_for(c, p, respond);
  if (!policies) return;
  if (auto type = query_param(req, "backlogQuotaType"); type && *type != "destination_storage") {
    return respond(error_response(412, "mop has only the destination_storage backlog quota"));
  }
  auto body = parse_object_body(req, respond, "BacklogQuota");
  if (!body) return;
  BacklogQuotaPolicy q;
  // Pulsar's client sends limitSize; older ones sent limit (the same, deprecated).
  const json size = body->contains("limitSize") ? (*body)["limitSize"] : body->value("limit", json());
  if (!size.is_number_integer()) return respond(error_response(412, "limitSize must be an integer"));
  q.limit_size = size.get<std::int64_t>();
  if (const json t = body->value("limitTime", json()); t.is_number_integer()) q.limit_time = t.get<std::int64_t>();
  const json policy = body->value("policy", json("producer_exception"));
  if (!policy.is_string()) return respond(error_response(400, "policy must be a string"));
  q.policy = policy.get<std::string>();
  if (q.policy != "producer_exception" && q.policy != "consumer_backlog_eviction") {
    // As backlogQuotaDefaultRetentionPolicy: mop does not hold publishes.
    return respond(error_response(412, "Backlog quota policy " + q.policy +
                                           " is not supported: producer_exception or consumer_backlog_eviction"));
  }
  policies->backlog_quota = q;
  store_policies(c, p, std::move(*policies), std::move(respond));
}

// DELETE /admin/v2/namespaces/{tenant}/{namespace}/backlogQuota
void remove_backlog_quota(const WebContext& c, const Request&, const Params& p, Respond respond) {
  auto policies = policies_for(c, p, respond);
  if (!policies) return;
  policies->backlog_quota.reset();
  store_policies(c, p, std::move(*policies), std::move(respond));
}

// GET /admin/v2/namespaces/{tenant}/{namespace}/deduplication
void get_deduplication(const WebContext& c, const Request&, const Params& p, Respond respond) {
  auto policies = policies_for(c, p, respond);
  if (!policies) return;
  std::optional<json> out;
  if (policies->deduplication) out = json(*policies->deduplication);
  respond_optional(out, respond);
}

// POST /admin/v2/namespaces/{tenant}/{namespace}/deduplication with true or false.
void set_deduplication(const WebContext& c, const Request& req, const Params& p, Respond respond) {
  auto policies = policies_for(c, p, respond);
  if (!policies) return;
  auto body = parse_body(req, respond);
  if (!body) return;
  if (!body->is_boolean()) return respond(error_response(400, "deduplication must be true or false"));
  policies->deduplication = body->get<bool>();
  store_policies(c, p, std::move(*policies), std::move(respond));
}

// DELETE /admin/v2/namespaces/{tenant}/{namespace}/deduplication
void remove_deduplication(const WebContext& c, const Request&, const Params& p, Respond respond) {
  auto policies = policies_for(c, p, respond);
  if (!policies) return;
  policies->deduplication.reset();
  store_policies(c, p, std::move(*policies), std::move(respond));
}

// ---- topics -------------------------------------------------------------------------------

// PUT /admin/v2/{domain}/{tenant}/{namespace}/{topic}: a non-partitioned topic.
void put_topic(const WebContext& c, TopicDomain domain, const Params& p, Respond respond) {
  if (!namespace_exists(c, p)) return respond(error_response(404, "Namespace does not exist"));
  const TopicName name = topic_of(domain, p);
  if (c.broker.find_topic(name) != nullptr || c.partitioned->partitions(name) > 0) {
    return respond(error_response(409, "This topic already exists"));
  }
  c.broker.get_or_create(name);
  respond(no_content());
}

// Whether something is connected to the topic: a Pulsar producer, or a receiver (Pulsar
// consumer, MQTT session) attached to one of its subscriptions.
bool has_clients(const WebContext& c, const broker::Topic& topic) {
  if (c.pulsar != nullptr && c.pulsar->producers().count(topic.name()) > 0) return true;
  bool attached = false;
  topic.for_each_subscription([&](const broker::Subscription& s) { attached = attached || s.receiver_count() > 0; });
  return attached;
}

// DELETE /admin/v2/{domain}/{tenant}/{namespace}/{topic}[?force=true]: Pulsar's topic deletion.
// Refused (412) while producers or consumers are connected, unless forced: then its Pulsar
// producers and consumers are closed (CLOSE_PRODUCER, CLOSE_CONSUMER), and MQTT sessions keep
// their filters (they bind again when a publish recreates the topic). The topic, its entries,
// subscriptions, cursors and retained message are deleted; 204 once that is durable.
void delete_topic(const WebContext& c, TopicDomain domain, const Request& req, const Params& p, Respond respond) {
  const TopicName name = topic_of(domain, p);
  const broker::Topic* topic = c.broker.find_topic(name);
  if (topic == nullptr) {
    if (c.partitioned->partitions(name) > 0) {
      return respond(error_response(409, "Topic " + name.str() + " is a partitioned topic: delete its partitions"));
    }
    return respond(error_response(404, "Topic " + name.str() + " not found"));
  }
  if (query_param(req, "force").value_or("false") != "true" && has_clients(c, *topic)) {
    return respond(error_response(412, "Topic has active producers/subscriptions"));
  }
  if (c.pulsar != nullptr) c.pulsar->unload(name);
  c.broker.delete_topic(name, [name, respond = std::move(respond)](std::error_code ec) {
    if (ec) return respond(error_response(500, "Deleting topic " + name.str() + " failed: " + ec.message()));
    respond(no_content());
  });
}

// The partition count in a body, 1..kMaxPartitions; nullopt (412 sent) otherwise.
std::optional<std::uint32_t> partition_count(const Request& req, const Respond& respond) {
  auto body = parse_body(req, respond);
  if (!body) return std::nullopt;
  if (!body->is_number_integer() || body->get<std::int64_t>() < 1 || body->get<std::int64_t>() > kMaxPartitions) {
    respond(error_response(412, "The number of partitions must be between 1 and " + std::to_string(kMaxPartitions)));
    return std::nullopt;
  }
  return static_cast<std::uint32_t>(body->get<std::int64_t>());
}

TopicName partition_name(const TopicName& base, std::uint32_t i) {
  return TopicName(base.domain(), base.tenant(), base.ns(), base.local() + "-partition-" + std::to_string(i));
}

// PUT /admin/v2/{domain}/{tenant}/{namespace}/{topic}/partitions with the count: answers once it
// is stored; the partitions exist at once (as Pulsar creates them).
void put_partitions(const WebContext& c, TopicDomain domain, const Request& req, const Params& p, Respond respond) {
  if (!namespace_exists(c, p)) return respond(error_response(404, "Namespace does not exist"));
  const TopicName base = topic_of(domain, p);
  if (c.broker.find_topic(base) != nullptr || c.partitioned->partitions(base) > 0) {
    return respond(error_response(409, "This topic already exists"));
  }
  const auto count = partition_count(req, respond);
  if (!count) return;
  c.partitioned->create(base, *count, [&c, base, count = *count, respond = std::move(respond)](std::error_code ec) {
    if (ec) return respond(error_response(500, "Storing the partitioned topic failed: " + ec.message()));
    for (std::uint32_t i = 0; i < count; ++i) c.broker.get_or_create(partition_name(base, i));
    respond(no_content());
  });
}

// POST /admin/v2/{domain}/{tenant}/{namespace}/{topic}/partitions with a larger count.
void update_partitions(const WebContext& c, TopicDomain domain, const Request& req, const Params& p,
                       Respond respond) {
  const TopicName base = topic_of(domain, p);
  const std::uint32_t now = c.partitioned->partitions(base);
  if (now == 0) return respond(error_response(404, "Partitioned topic not found"));
  const auto count = partition_count(req, respond);
  if (!count) return;
  if (*count <= now) {
    return respond(error_response(422, "Desired partitions " + std::to_string(*count) +
                                           " can't be less than or equal to the current partitions " +
                                           std::to_string(now)));
  }
  c.partitioned->update(base, *count, [&c, base, count = *count, respond = std::move(respond)](std::error_code ec) {
    if (ec) return respond(error_response(500, "Storing the partitioned topic failed: " + ec.message()));
    for (std::uint32_t i = 0; i < count; ++i) c.broker.get_or_create(partition_name(base, i));
    respond(no_content());
  });
}

// DELETE /admin/v2/{domain}/{tenant}/{namespace}/{topic}/partitions[?force=true]: every partition
// as by delete_topic (refused, 412, while any has clients unless forced), then the partition
// count; the deletes are queued in that order, so a crash in between leaves the partitioned
// topic with fewer partitions made, never partitions without their topic. 204 once all are durable.
void delete_partitions(const WebContext& c, TopicDomain domain, const Request& req, const Params& p,
                       Respond respond) {
  const TopicName base = topic_of(domain, p);
  const std::uint32_t count = c.partitioned->partitions(base);
  if (count == 0) return respond(error_response(404, "Partitioned topic does not exist"));
  const bool force = query_param(req, "force").value_or("false") == "true";
  std::vector<TopicName> parts;
  for (std::uint32_t i = 0; i < count; ++i) {
    TopicName name = partition_name(base, i);
    const broker::Topic* topic = c.broker.find_topic(name);
    if (topic == nullptr) continue;
    if (!force && has_clients(c, *topic)) {
      return respond(error_response(412, "Topic has active producers/subscriptions"));
    }
    parts.push_back(std::move(name));
  }
  // Answers once every write has completed, with the first failure if any.
  struct Pending {
    std::size_t left;
    std::error_code first;
    Respond respond;
  };
  auto pending = std::make_shared<Pending>(Pending{parts.size() + 1, {}, std::move(respond)});
  auto one_done = [pending, base](std::error_code ec) {
    if (ec && !pending->first) pending->first = ec;
    if (--pending->left != 0) return;
    if (pending->first) {
      return pending->respond(
          error_response(500, "Deleting partitioned topic " + base.str() + " failed: " + pending->first.message()));
    }
    pending->respond(no_content());
  };
  for (const auto& name : parts) {
    if (c.pulsar != nullptr) c.pulsar->unload(name);
    c.broker.delete_topic(name, one_done);
  }
  c.partitioned->remove(base, one_done);
}

// GET /admin/v2/{domain}/{tenant}/{namespace}/{topic}/partitions: PartitionedTopicMetadata
// (partitions 0 for a topic that is not partitioned, as Pulsar answers).
void get_partitions(const WebContext& c, TopicDomain domain, const Params& p, Respond respond) {
  const TopicName base = topic_of(domain, p);
  respond(json_response(json{{"partitions", c.partitioned->partitions(base)}}.dump(-1, ' ', false, json::error_handler_t::replace)));
}

// GET /admin/v2/{domain}/{tenant}/{namespace}/partitioned: the partitioned topics' base names.
void get_partitioned_list(const WebContext& c, TopicDomain domain, const Params& p, Respond respond) {
  if (!namespace_exists(c, p)) return respond(error_response(404, "Namespace does not exist"));
  const std::string prefix = std::string(service::to_string(domain)) + "://" + ns_of(p) + "/";
  json out = json::array();
  for (const auto& [name, _] : c.partitioned->list()) {
    if (name.compare(0, prefix.size(), prefix) == 0) out.push_back(name);
  }
  respond(json_response(out.dump(-1, ' ', false, json::error_handler_t::replace)));
}

// Sums the counters of `from` (one partition's TopicStats) into `into`.
void add_stats(json& into, const json& from) {
  for (const char* key : {"msgRateIn", "msgThroughputIn", "msgRateOut", "msgThroughputOut", "msgInCounter",
                          "bytesInCounter", "msgOutCounter", "bytesOutCounter", "storageSize", "backlogSize"}) {
    if (!from.contains(key)) continue;
    if (!into.contains(key)) into[key] = from[key];
    else if (from[key].is_number_float() || into[key].is_number_float())
      into[key] = into[key].get<double>() + from[key].get<double>();
    else
      into[key] = into[key].get<std::uint64_t>() + from[key].get<std::uint64_t>();
  }
  // Publishers by name, as Pulsar merges them: a producer of a partitioned topic has one
  // producer per partition, under one name; their rates add up.
  for (const auto& p : from.value("publishers", json::array())) {
    json& list = into["publishers"];
    if (list.is_null()) list = json::array();
    auto same =
        std::find_if(list.begin(), list.end(), [&](const json& q) { return q["producerName"] == p["producerName"]; });
    if (same == list.end()) {
      list.push_back(p);
      continue;
    }
    for (const char* key : {"msgRateIn", "msgThroughputIn"}) {
      (*same)[key] = (*same)[key].get<double>() + p[key].get<double>();
    }
  }
  for (const auto& [sub, s] : from["subscriptions"].items()) {
    json& mine = into["subscriptions"][sub];
    if (mine.is_null()) {
      mine = s;
      continue;
    }
    for (const char* key : {"msgBacklog", "unackedMessages", "msgOutCounter", "bytesOutCounter"}) {
      mine[key] = mine[key].get<std::uint64_t>() + s[key].get<std::uint64_t>();
    }
    for (const char* key : {"msgRateOut", "msgThroughputOut"}) {
      if (s.contains(key)) mine[key] = mine.value(key, 0.0) + s[key].get<double>();
    }
    for (const auto& consumer : s["consumers"]) mine["consumers"].push_back(consumer);
  }
}

// GET /admin/v2/{domain}/{tenant}/{namespace}/{topic}/partitioned-stats[?perPartition=false]:
// Pulsar's PartitionedTopicStats, the partitions' stats summed, with each partition's.
void get_partitioned_stats(const WebContext& c, TopicDomain domain, const Request& req, const Params& p,
                           Respond respond) {
  const TopicName base = topic_of(domain, p);
  const std::uint32_t count = c.partitioned->partitions(base);
  if (count == 0) return respond(error_response(404, "Partitioned Topic not found: " + base.str()));
  const bool per_partition = query_param(req, "perPartition").value_or("true") != "false";
  json stats = {{"msgInCounter", 0}, {"bytesInCounter", 0}, {"msgOutCounter", 0}, {"bytesOutCounter", 0},
                {"storageSize", 0}, {"backlogSize", 0}, {"publishers", json::array()},
                {"subscriptions", json::object()}};
  json partitions = json::object();
  for (std::uint32_t i = 0; i < count; ++i) {
    const TopicName name = partition_name(base, i);
    const broker::Topic* topic = c.broker.find_topic(name);
    if (topic == nullptr) continue;
    json one = topic_stats(c, *topic);
    add_stats(stats, one);
    if (per_partition) partitions[name.str()] = std::move(one);
  }
  stats["metadata"] = {{"partitions", count}};
  stats["partitions"] = std::move(partitions);
  respond(json_response(stats.dump(-1, ' ', false, json::error_handler_t::replace)));
}

// The individually acknowledged entries above the mark-delete position as Pulsar prints them:
// ranges "(ledger:before..ledger:last]".
std::string individually_deleted(const broker::Cursor& cursor) {
  std::string out = "[";
  const auto& acked = cursor.individually_acked();
  for (auto it = acked.begin(); it != acked.end();) {
    const MessageId first = *it;
    MessageId last = first;
    for (++it; it != acked.end() && it->ledger == last.ledger && it->entry == last.entry + 1; ++it) last = *it;
    if (out.size() > 1) out += ",";
    // Appended piece by piece: gcc 12 sees a false overlap in `"(" + std::string&&` (-Wrestrict).
    out += '(';
    out += position(first.ledger, static_cast<std::int64_t>(first.entry) - 1);
    out += "..";
    out += position(last.ledger, static_cast<std::int64_t>(last.entry));
    out += ']';
  }
  return out + "]";
}

// GET /admin/v2/{domain}/{tenant}/{namespace}/{topic}/internalStats: Pulsar's
// PersistentTopicInternalStats for mop's log, one ledger per topic (see broker/ledger.hpp).
void get_internal_stats(const WebContext& c, TopicDomain domain, const Params& p, Respond respond) {
  const TopicName name = topic_of(domain, p);
  const broker::Topic* topic = c.broker.find_topic(name);
  if (topic == nullptr) return respond(error_response(404, "Topic " + name.str() + " not found"));
  const broker::Ledger& ledger = topic->ledger();
  const std::uint64_t id = ledger.ledger_id();
  const auto entries = static_cast<std::uint64_t>(ledger.entry_count());
  json cursors = json::object();
  topic->for_each_subscription([&](const broker::Subscription& s) {
    const broker::Cursor& cursor = s.cursor();
    const MessageId floor = cursor.ack_floor();
    cursors[s.name()] = {
        {"markDeletePosition", position(floor.ledger, static_cast<std::int64_t>(floor.entry) - 1)},
        {"readPosition", position(cursor.read_position().ledger, static_cast<std::int64_t>(cursor.read_position().entry))},
        {"waitingReadOp", false},
        {"pendingReadOps", 0},
        {"messagesConsumedCounter", s.msg_out_counter()},
        {"cursorLedger", -1},
        {"cursorLedgerLastEntry", -1},
        {"individuallyDeletedMessages", individually_deleted(cursor)},
        {"lastLedgerSwitchTimestamp", ""},
        {"state", "Open"},
        {"active", s.receiver_count() > 0},
        {"numberOfEntriesSinceFirstNotAckedMessage", ledger.end().entry - floor.entry + 1},
        {"totalNonContiguousDeletedMessagesRange", 0},
        {"subscriptionHavePendingRead", false},
        {"subscriptionHavePendingReplayRead", false},
        {"properties", json::object()},
    };
  });
  const MessageId end = ledger.end();
  json stats = {
      {"entriesAddedCounter", topic->msg_in_counter()},
      {"numberOfEntries", entries},
      {"totalSize", topic->stored_bytes()},
      {"currentLedgerEntries", entries},
      {"currentLedgerSize", topic->stored_bytes()},
      {"lastLedgerCreatedTimestamp", ""},
      {"waitingCursorsCount", 0},
      {"pendingAddEntriesCount", 0},
      {"lastConfirmedEntry", position(id, static_cast<std::int64_t>(end.entry) - 1)},
      {"state", "LedgerOpened"},
      {"ledgers", json::array({{{"ledgerId", id}, {"entries", entries}, {"size", topic->stored_bytes()},
                                {"offloaded", false}, {"underReplicated", false}}})},
      {"cursors", std::move(cursors)},
  };
  respond(json_response(stats.dump(-1, ' ', false, json::error_handler_t::replace)));
}

// ---- subscriptions ------------------------------------------------------------------------

// GET /admin/v2/{domain}/{tenant}/{namespace}/{topic}/subscriptions
void get_subscriptions(const WebContext& c, TopicDomain domain, const Params& p, Respond respond) {
  const TopicName name = topic_of(domain, p);
  const broker::Topic* topic = c.broker.find_topic(name);
  if (topic == nullptr) return respond(error_response(404, "Topic " + name.str() + " not found"));
  json out = json::array();
  topic->for_each_subscription([&](const broker::Subscription& s) { out.push_back(s.name()); });
  respond(json_response(out.dump(-1, ' ', false, json::error_handler_t::replace)));
}

// A message id body (Pulsar's ResetCursorData or MessageIdImpl) as a position in `topic`:
// MessageId.earliest (-1:-1) is its first entry, MessageId.latest (Long.MAX_VALUE) its end, an
// empty body the end; isExcluded starts after the entry. nullopt (400 sent) when it is not one.
std::optional<MessageId> message_id_body(const Request& req, const broker::Topic& topic, const Respond& respond) {
  const broker::Ledger& ledger = topic.ledger();
  if (req.body.empty()) return ledger.end();
  auto body = parse_object_body(req, respond, "A message id");
  if (!body) return std::nullopt;
  const json l = body->value("ledgerId", json());
  const json e = body->value("entryId", json());
  const json excluded = body->value("isExcluded", json(false));
  if (!excluded.is_boolean()) {
    respond(error_response(400, "isExcluded must be true or false"));
    return std::nullopt;
  }
  if (!l.is_number_integer() || !e.is_number_integer()) {
    respond(error_response(400, "A message id needs ledgerId and entryId"));
    return std::nullopt;
  }
  const auto ledger_id = l.get<std::int64_t>();
  const auto entry_id = e.get<std::int64_t>();
  constexpr auto kLatest = std::numeric_limits<std::int64_t>::max();
  if (ledger_id < 0 || entry_id < 0) return ledger.first();
  if (ledger_id == kLatest && entry_id == kLatest) return ledger.end();
  MessageId id{static_cast<std::uint64_t>(ledger_id), static_cast<std::uint64_t>(entry_id), -1};
  if (id.ledger != ledger.ledger_id()) {
    // mop keeps one ledger per topic: an id of another ledger is before or after all of it.
    return id.ledger < ledger.ledger_id() ? ledger.first() : ledger.end();
  }
  if (excluded.get<bool>()) id = broker::Ledger::next(id);
  return id;
}

// PUT /admin/v2/{domain}/{tenant}/{namespace}/{topic}/subscription/{subscription} with a message
// id: a durable subscription with nothing acknowledged from there on.
void put_subscription(const WebContext& c, TopicDomain domain, const Request& req, const Params& p,
                      Respond respond) {
  if (!namespace_exists(c, p)) return respond(error_response(404, "Namespace does not exist"));
  const TopicName name = topic_of(domain, p);
  const std::string& sub = param(p, "subscription");
  if (c.partitioned->partitions(name) > 0) {
    // As Pulsar: the subscription is made on every partition.
    for (std::uint32_t i = 0; i < c.partitioned->partitions(name); ++i) {
      broker::Topic& partition = c.broker.get_or_create(partition_name(name, i));
      if (partition.subscription(sub) != nullptr) return respond(error_response(409, "Subscription already exists for topic"));
    }
    for (std::uint32_t i = 0; i < c.partitioned->partitions(name); ++i) {
      broker::Topic& partition = c.broker.get_or_create(partition_name(name, i));
      auto start = message_id_body(req, partition, respond);
      if (!start) return;
      partition.create_subscription(sub, service::SubscriptionOptions{}, *start);
    }
    return respond(no_content());
  }
  broker::Topic& topic = c.broker.get_or_create(name);
  if (topic.subscription(sub) != nullptr) return respond(error_response(409, "Subscription already exists for topic"));
  auto start = message_id_body(req, topic, respond);
  if (!start) return;
  topic.create_subscription(sub, service::SubscriptionOptions{}, *start);
  respond(no_content());
}

// The topic and subscription of a subscription route; nullptr (404 sent) when either is missing.
broker::Subscription* find_subscription(const WebContext& c, TopicDomain domain, const Params& p,
                                        const Respond& respond) {
  const TopicName name = topic_of(domain, p);
  broker::Topic* topic = c.broker.find_topic(name);
  if (topic == nullptr) {
    respond(error_response(404, "Topic " + name.str() + " not found"));
    return nullptr;
  }
  broker::Subscription* sub = topic->subscription(param(p, "subscription"));
  if (sub == nullptr) respond(error_response(404, "Subscription not found"));
  return sub;
}

// DELETE .../subscription/{subscription}[?force=true]: refused while consumers are attached,
// unless forced (they are told, as by an unsubscribe).
void delete_subscription(const WebContext& c, TopicDomain domain, const Request& req, const Params& p,
                         Respond respond) {
  broker::Subscription* sub = find_subscription(c, domain, p, respond);
  if (sub == nullptr) return;
  if (sub->receiver_count() > 0 && query_param(req, "force").value_or("false") != "true") {
    return respond(error_response(412, "Subscription has active connected consumers"));
  }
  c.broker.unsubscribe(topic_of(domain, p), param(p, "subscription"));
  respond(no_content());
}

// POST .../subscription/{subscription}/skip_all: everything stored counts as acknowledged.
void skip_all(const WebContext& c, TopicDomain domain, const Params& p, Respond respond) {
  broker::Subscription* sub = find_subscription(c, domain, p, respond);
  if (sub == nullptr) return;
  const TopicName name = topic_of(domain, p);
  if (auto last = c.broker.find_topic(name)->last_message_id()) {
    c.broker.ack_cumulative(name, param(p, "subscription"), *last);
  }
  respond(no_content());
}

// POST .../subscription/{subscription}/skip/{n}: the first n entries not yet acknowledged are.
void skip(const WebContext& c, TopicDomain domain, const Params& p, Respond respond) {
  broker::Subscription* sub = find_subscription(c, domain, p, respond);
  if (sub == nullptr) return;
  const std::string& text = param(p, "n");
  std::uint64_t n = 0;
  if (text.empty() || text.size() > 18 || text.find_first_not_of("0123456789") != std::string::npos) {
    return respond(error_response(400, "The number of messages to skip must be a non-negative integer"));
  }
  n = std::stoull(text);
  const TopicName name = topic_of(domain, p);
  const broker::Ledger& ledger = c.broker.find_topic(name)->ledger();
  std::vector<MessageId> ids;
  for (MessageId id = sub->cursor().ack_floor(); ids.size() < n && id < ledger.end(); id = broker::Ledger::next(id)) {
    if (!sub->cursor().is_acked(id)) ids.push_back(id);
  }
  for (const MessageId& id : ids) c.broker.ack(name, param(p, "subscription"), id);
  respond(no_content());
}

// POST .../subscription/{subscription}/expireMessages/{seconds}: entries published more than
// `seconds` ago count as acknowledged.
void expire_messages(const WebContext& c, TopicDomain domain, const Params& p, Respond respond) {
  broker::Subscription* sub = find_subscription(c, domain, p, respond);
  if (sub == nullptr) return;
  const std::string& text = param(p, "seconds");
  if (text.empty() || text.size() > 12 || text.find_first_not_of("0123456789") != std::string::npos) {
    return respond(error_response(400, "expireTimeInSeconds must be a non-negative integer"));
  }
  const auto now_ms = static_cast<std::uint64_t>(
      std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
          .count());
  const std::uint64_t cutoff = now_ms - std::min<std::uint64_t>(now_ms, std::stoull(text) * 1000);
  const TopicName name = topic_of(domain, p);
  const broker::Ledger& ledger = c.broker.find_topic(name)->ledger();
  std::optional<MessageId> last_expired;
  for (MessageId id = sub->cursor().ack_floor(); id < ledger.end(); id = broker::Ledger::next(id)) {
    const auto e = ledger.read(id);
    if (!e || !e->message || e->message->publish_time_ms > cutoff) break;
    last_expired = id;
  }
  if (last_expired) c.broker.ack_cumulative(name, param(p, "subscription"), *last_expired);
  respond(no_content());
}

// Before a reset, as Pulsar's broker (and mop's SEEK) does: the subscription's Pulsar consumers
// are closed (CLOSE_CONSUMER) and come back with fresh permits after the reset, rather than
// keep a queue of messages the reset took back.
void disconnect_consumers(const WebContext& c, const TopicName& topic, const std::string& subscription) {
  if (c.pulsar != nullptr) c.pulsar->close_consumers_of(topic, subscription, "was reset by the admin API");
}

// PUT /admin/v2/{domain}/{tenant}/{namespace}/{topic}/unload: Pulsar's unload. mop serves every
// topic itself, so nothing moves: the topic's Pulsar producers and consumers are closed
// (CLOSE_PRODUCER, CLOSE_CONSUMER) and their clients reconnect them; MQTT sessions are not
// touched (MQTT has no per-topic connection to close). A partitioned topic: every partition.
void unload(const WebContext& c, TopicDomain domain, const Params& p, Respond respond) {
  const TopicName name = topic_of(domain, p);
  const std::uint32_t partitions = c.partitioned->partitions(name);
  if (partitions == 0 && c.broker.find_topic(name) == nullptr) {
    return respond(error_response(404, "Topic " + name.str() + " not found"));
  }
  if (c.pulsar != nullptr) {
    if (partitions == 0) c.pulsar->unload(name);
    for (std::uint32_t i = 0; i < partitions; ++i) c.pulsar->unload(partition_name(name, i));
  }
  respond(no_content());
}

// POST .../subscription/{subscription}/resetcursor/{timestamp}: to the first entry published at or
// after the time (ms).
void reset_cursor_time(const WebContext& c, TopicDomain domain, const Params& p, Respond respond) {
  if (find_subscription(c, domain, p, respond) == nullptr) return;
  const std::string& text = param(p, "timestamp");
  if (text.empty() || text.size() > 18 || text.find_first_not_of("0123456789") != std::string::npos) {
    return respond(error_response(400, "The timestamp must be milliseconds since the epoch"));
  }
  disconnect_consumers(c, topic_of(domain, p), param(p, "subscription"));
  c.broker.seek_time(topic_of(domain, p), param(p, "subscription"), std::stoull(text));
  respond(no_content());
}

// POST .../subscription/{subscription}/resetcursor with a message id body.
void reset_cursor_id(const WebContext& c, TopicDomain domain, const Request& req, const Params& p, Respond respond) {
  if (find_subscription(c, domain, p, respond) == nullptr) return;
  const TopicName name = topic_of(domain, p);
  auto target = message_id_body(req, *c.broker.find_topic(name), respond);
  if (!target) return;
  disconnect_consumers(c, name, param(p, "subscription"));
  c.broker.seek(name, param(p, "subscription"), *target);
  respond(no_content());
}

}  // namespace

void add_admin_write_routes(Router& router, const WebContext& c) {
  const auto route = [&c](auto fn) {
    return [&c, fn](const Request& req, const Params& p, Respond respond) { fn(c, req, p, std::move(respond)); };
  };
  router.add("GET", "/admin/v2/tenants/{tenant}", route(get_tenant));
  router.add("PUT", "/admin/v2/tenants/{tenant}", route(put_tenant));
  router.add("DELETE", "/admin/v2/tenants/{tenant}", route(delete_tenant));
  router.add("PUT", "/admin/v2/namespaces/{tenant}/{namespace}", route(put_namespace));
  router.add("DELETE", "/admin/v2/namespaces/{tenant}/{namespace}", route(delete_namespace));
  const std::string ns = "/admin/v2/namespaces/{tenant}/{namespace}";
  router.add("GET", ns + "/retention", route(get_retention));
  router.add("POST", ns + "/retention", route(set_retention));
  router.add("DELETE", ns + "/retention", route(remove_retention));
  router.add("GET", ns + "/messageTTL", route(get_ttl));
  router.add("POST", ns + "/messageTTL", route(set_ttl));
  router.add("DELETE", ns + "/messageTTL", route(remove_ttl));
  router.add("GET", ns + "/backlogQuotaMap", route(get_backlog_quota));
  router.add("POST", ns + "/backlogQuota", route(set_backlog_quota));
  router.add("DELETE", ns + "/backlogQuota", route(remove_backlog_quota));
  router.add("GET", ns + "/deduplication", route(get_deduplication));
  router.add("POST", ns + "/deduplication", route(set_deduplication));
  router.add("DELETE", ns + "/deduplication", route(remove_deduplication));

  for (const TopicDomain domain : {TopicDomain::persistent, TopicDomain::non_persistent}) {
    const std::string prefix = "/admin/v2/" + std::string(service::to_string(domain)) + "/{tenant}/{namespace}";
    const std::string topic = prefix + "/{topic}";
    const std::string sub = topic + "/subscription/{subscription}";
    // Handlers that take the domain, with or without the request.
    const auto with = [&c, domain](auto fn) {
      return [&c, domain, fn](const Request&, const Params& p, Respond respond) { fn(c, domain, p, std::move(respond)); };
    };
    const auto with_req = [&c, domain](auto fn) {
      return [&c, domain, fn](const Request& req, const Params& p, Respond respond) {
        fn(c, domain, req, p, std::move(respond));
      };
    };
    router.add("GET", prefix + "/partitioned", with(get_partitioned_list));
    router.add("PUT", topic, with(put_topic));
    router.add("DELETE", topic, with_req(delete_topic));
    router.add("PUT", topic + "/partitions", with_req(put_partitions));
    router.add("POST", topic + "/partitions", with_req(update_partitions));
    router.add("GET", topic + "/partitions", with(get_partitions));
    router.add("DELETE", topic + "/partitions", with_req(delete_partitions));
    router.add("GET", topic + "/partitioned-stats", with_req(get_partitioned_stats));
    router.add("GET", topic + "/internalStats", with(get_internal_stats));
    router.add("GET", topic + "/subscriptions", with(get_subscriptions));
    router.add("PUT", topic + "/unload", with(unload));
    router.add("PUT", sub, with_req(put_subscription));
    router.add("DELETE", sub, with_req(delete_subscription));
    router.add("POST", sub + "/skip_all", with(skip_all));
    router.add("POST", sub + "/skip/{n}", with(skip));
    router.add("POST", sub + "/expireMessages/{seconds}", with(expire_messages));
    router.add("POST", sub + "/resetcursor/{timestamp}", with(reset_cursor_time));
    router.add("POST", sub + "/resetcursor", with_req(reset_cursor_id));
  }
}

}  // namespace mop::http
