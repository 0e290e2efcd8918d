#include "http/namespaces.hpp"

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
  return base;
}

}  // namespace mop::http
