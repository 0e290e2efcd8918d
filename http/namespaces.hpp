#pragma once
// NamespaceRegistry: the tenants and namespaces created through the admin API, and each
// namespace's policies (Pulsar's namespace policies that mop has: retention, message TTL, backlog
// quota, deduplication). Tenants and namespaces that have topics exist without being created, as
// before; this only adds the empty ones an operator made. Kept in memory: after a restart only
// the tenants and namespaces that have topics are there again, with the broker's default
// policies. Owned by the io_context's thread.
#include <cstdint>
#include <map>
#include <optional>
#include <string>

#include "broker/topic.hpp"

namespace mop::http {

// Pulsar's RetentionPolicies: -1 = no limit, 0 = nothing retained.
struct RetentionPolicy {
  std::int64_t minutes = 0;
  std::int64_t size_mb = 0;
};

// Pulsar's BacklogQuota (destination_storage): bytes, seconds (mop has no time quota: kept and
// shown, not applied) and the policy's Pulsar name (producer_exception or
// consumer_backlog_eviction; mop does not hold publishes, so not producer_request_hold).
struct BacklogQuotaPolicy {
  std::int64_t limit_size = -1;
  std::int64_t limit_time = -1;
  std::string policy = "producer_exception";
};

struct NamespacePolicies {
  std::optional<RetentionPolicy> retention;
  std::optional<std::int64_t> message_ttl_seconds;
  std::optional<BacklogQuotaPolicy> backlog_quota;
  std::optional<bool> deduplication;
  bool empty() const { return !retention && !message_ttl_seconds && !backlog_quota && !deduplication; }
};

// The broker's policies for a topic of a namespace with `ns` set over `base` (the broker's own).
broker::TopicPolicies apply(const NamespacePolicies& ns, broker::TopicPolicies base);

class NamespaceRegistry {
public:
  // Tenant name -> its TenantInfo as given (JSON text).
  const std::map<std::string, std::string>& tenants() const { return tenants_; }
  // "tenant/namespace" -> policies.
  const std::map<std::string, NamespacePolicies>& namespaces() const { return namespaces_; }

  void put_tenant(const std::string& tenant, std::string info) { tenants_.insert_or_assign(tenant, std::move(info)); }
  void erase_tenant(const std::string& tenant) { tenants_.erase(tenant); }
  // Creates the namespace (no-op if it is there).
  NamespacePolicies& put_namespace(const std::string& ns) { return namespaces_[ns]; }
  void erase_namespace(const std::string& ns) { namespaces_.erase(ns); }
  NamespacePolicies* policies(const std::string& ns) {
    const auto it = namespaces_.find(ns);
    return it == namespaces_.end() ? nullptr : &it->second;
  }

private:
  std::map<std::string, std::string> tenants_;
  std::map<std::string, NamespacePolicies> namespaces_;
};

}  // namespace mop::http
