#pragma once
// NamespaceRegistry: the tenants and namespaces created through the admin API, and each
// namespace's policies (Pulsar's namespace policies that mop has: retention, message TTL, backlog
// quota, deduplication). Tenants and namespaces that have topics exist without being created, as
// before; this only adds the empty ones an operator made, and the policies.
//
// Durable: every change is written to the service's MetadataStore (storage/FORMAT.md, `tenants`
// and `namespaces`) and its completion runs once the record is stored; `restore` takes back what
// was stored at start. A change is visible (and the broker applies a namespace's policies) at
// once, so that requests in flight compose; a write that fails puts back the last stored state of
// that name once no other write of it is pending, so what is kept always ends equal to what is
// stored. Without a store (tests), changes complete at once, in memory.
//
// Owned by the io_context's thread (the store's completions run there too).
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <type_traits>

#include "broker/broker.hpp"
#include "core/executor.hpp"
#include "core/result.hpp"
#include "service/metadata_store.hpp"

namespace mop::http {

using service::BacklogQuotaPolicy;
using service::NamespacePolicies;
using service::RetentionPolicy;

// The broker's policies for a topic of a namespace with `ns` set over `base` (the broker's own).
broker::TopicPolicies apply(const NamespacePolicies& ns, broker::TopicPolicies base);

class NamespaceRegistry {
public:
  // Why a change was not stored (the store's error, naming what failed).
  using Done = std::function<void(Result<void, Error>)>;

  // `store` may be null (kept in memory only); `broker` gets each namespace's policies.
  NamespaceRegistry(broker::Broker& broker, service::MetadataStore* store, Executor& executor)
      : broker_(broker), store_(store), executor_(executor) {}

  // At start, before serving: the stored tenants and namespaces; the namespaces' policies go to
  // the broker.
  void restore(const std::vector<service::TenantRecord>& tenants,
               const std::vector<service::NamespaceRecord>& namespaces);

  // Tenant name -> its TenantInfo as given (JSON text).
  const std::map<std::string, std::string>& tenants() const { return tenants_; }
  // "tenant/namespace" -> policies.
  const std::map<std::string, NamespacePolicies>& namespaces() const { return namespaces_; }
  const NamespacePolicies* policies(const std::string& ns) const {
    const auto it = namespaces_.find(ns);
    return it == namespaces_.end() ? nullptr : &it->second;
  }

  void put_tenant(const std::string& tenant, std::string info, Done done);
  void erase_tenant(const std::string& tenant, Done done);
  // Creates the namespace or replaces its policies.
  void put_namespace(const std::string& ns, NamespacePolicies policies, Done done);
  void erase_namespace(const std::string& ns, Done done);

private:
  template <typename V>
  struct Durable {
    std::map<std::string, V> stored;  // the last stored value of each name (absent: none)
    std::map<std::string, int> pending;  // writes of each name not completed yet
  };
  template <typename V>
  void changed(std::map<std::string, V>& kept, Durable<V>& durable, const std::string& name, std::optional<V> value,
               const std::function<void(service::StateDone)>& write, Done done);
  void apply_to_broker(const std::string& ns);

  broker::Broker& broker_;
  service::MetadataStore* store_;
  Executor& executor_;
  std::map<std::string, std::string> tenants_;
  std::map<std::string, NamespacePolicies> namespaces_;
  Durable<std::string> stored_tenants_;
  Durable<NamespacePolicies> stored_namespaces_;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);  // completions after destruction do nothing
};

}  // namespace mop::http
