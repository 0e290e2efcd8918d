#include "http/namespaces.hpp"

#include <memory>

namespace mop::http {

broker::TopicPolicies apply(const NamespacePolicies& ns, broker::TopicPolicies base) {
  if (ns.retention) {
    const auto& r = *ns.retention;
    base.retention_time_ms = r.minutes < 0 ? -1 : r.minutes * 60'000;
    base.retention_size_bytes = r.size_mb < 0 ? -1 : r.size_mb * 1024 * 1024;
  }
  if (ns.message_ttl_seconds) base.ttl_ms = static_cast<std::uint64_t>(*ns.message_ttl_seconds) * 1000;
  if (ns.backlog_quota) {
    base.backlog_quota_bytes = ns.backlog_quota->limit_size;
    base.backlog_policy = ns.backlog_quota->policy == "consumer_backlog_eviction"
                              ? broker::TopicPolicies::BacklogPolicy::consumer_backlog_eviction
                              : broker::TopicPolicies::BacklogPolicy::producer_exception;
  }
  if (ns.deduplication) base.deduplication = *ns.deduplication;
  return base;
}

void NamespaceRegistry::restore(const std::vector<service::TenantRecord>& tenants,
                                const std::vector<service::NamespaceRecord>& namespaces) {
  for (const auto& t : tenants) {
    tenants_.insert_or_assign(t.name, t.info);
    stored_tenants_.stored.insert_or_assign(t.name, t.info);
  }
  for (const auto& n : namespaces) {
    namespaces_.insert_or_assign(n.name, n.policies);
    stored_namespaces_.stored.insert_or_assign(n.name, n.policies);
    apply_to_broker(n.name);
  }
}

void NamespaceRegistry::apply_to_broker(const std::string& ns) {
  const auto slash = ns.find('/');
  if (slash == std::string::npos) return;
  const service::NamespaceName name{ns.substr(0, slash), ns.substr(slash + 1)};
  const auto* p = policies(ns);
  if (p == nullptr || p->empty()) return broker_.set_namespace_policies(name, std::nullopt);
  broker_.set_namespace_policies(name, apply(*p, broker_.policies()));
}

template <typename V>
void NamespaceRegistry::changed(std::map<std::string, V>& kept, Durable<V>& durable, const std::string& name,
                                std::optional<V> value, const std::function<void(service::StateDone)>& write,
                                Done done) {
  if (value) {
    kept.insert_or_assign(name, *value);
  } else {
    kept.erase(name);
  }
  if (store_ == nullptr) {
    if (value) {
      durable.stored.insert_or_assign(name, *value);
    } else {
      durable.stored.erase(name);
    }
    executor_.post([done = std::move(done)] {
      if (done) done({});
    });
    return;
  }
  ++durable.pending[name];
  write([this, alive = std::weak_ptr<bool>(alive_), &kept, &durable, name, value = std::move(value),
         done = std::move(done)](Result<void, Error> r) {
    if (alive.expired()) return;
    if (r.ok()) {
      if (value) {
        durable.stored.insert_or_assign(name, *value);
      } else {
        durable.stored.erase(name);
      }
    }
    if (--durable.pending[name] == 0) {
      durable.pending.erase(name);
      // Every write of this name completed: what is kept is what is stored (a failed write's
      // change is undone here).
      if (const auto it = durable.stored.find(name); it != durable.stored.end()) {
        kept.insert_or_assign(name, it->second);
      } else {
        kept.erase(name);
      }
      if constexpr (std::is_same_v<V, NamespacePolicies>) {
        apply_to_broker(name);
      } else {
        static_cast<void>(this);  // captured for the namespaces' instantiation only
      }
    }
    if (done) done(std::move(r));
  });
}

void NamespaceRegistry::put_tenant(const std::string& tenant, std::string info, Done done) {
  service::TenantRecord record{tenant, info};
  changed<std::string>(tenants_, stored_tenants_, tenant, std::move(info),
                       [this, &record](service::StateDone d) { store_->put_tenant(std::move(record), std::move(d)); },
                       std::move(done));
}

void NamespaceRegistry::erase_tenant(const std::string& tenant, Done done) {
  changed<std::string>(tenants_, stored_tenants_, tenant, std::nullopt,
                       [this, &tenant](service::StateDone d) { store_->delete_tenant(tenant, std::move(d)); },
                       std::move(done));
}

void NamespaceRegistry::put_namespace(const std::string& ns, NamespacePolicies policies, Done done) {
  service::NamespaceRecord record{ns, policies};
  changed<NamespacePolicies>(
      namespaces_, stored_namespaces_, ns, std::move(policies),
      [this, &record](service::StateDone d) { store_->put_namespace(std::move(record), std::move(d)); },
      std::move(done));
  apply_to_broker(ns);
}

void NamespaceRegistry::erase_namespace(const std::string& ns, Done done) {
  changed<NamespacePolicies>(
      namespaces_, stored_namespaces_, ns, std::nullopt,
      [this, &ns](service::StateDone d) { store_->delete_namespace(ns, std::move(d)); }, std::move(done));
  apply_to_broker(ns);
}

}  // namespace mop::http
