#pragma once
// The admin API v2's writes and the views they need, with Pulsar's paths, JSON shapes and status
// codes (204 for a write that has nothing to say, `{"reason"}` errors): tenants and namespaces
// (create, delete), namespace policies (retention, message TTL, backlog quota, deduplication),
// topics (create; partitioned create, update, metadata, list, partitioned-stats; internalStats)
// and subscriptions (list, create at a position, delete, skip, expire, reset cursor). One handler
// per route (admin_writes.cpp).
#include "http/admin.hpp"

namespace mop::http {

// Adds those routes to `router`; `context` (with its registry and partitioned topics) must
// outlive it.
void add_admin_write_routes(Router& router, const WebContext& context);

}  // namespace mop::http
