#pragma once
// Pulsar's permission REST paths over auth::Permissions, and HTTP authentication:
//   GET    /admin/v2/namespaces/{tenant}/{namespace}/permissions          {"role": ["produce", ...]}
//   POST   /admin/v2/namespaces/{tenant}/{namespace}/permissions/{role}   body ["produce", "consume"]
//   DELETE /admin/v2/namespaces/{tenant}/{namespace}/permissions/{role}
//   the same under /admin/v2/persistent/{tenant}/{namespace}/{topic}/permissions (and
//   non-persistent), for one topic.
// POST replaces the role's actions, as Pulsar's grant does; 204 on success, errors as
// {"reason": "..."} (400 bad body or action, 401 no or bad credentials, 403 not a super user).
//
// With an authenticator (authenticationEnabled), every request (these and every other route,
// through Router::set_guard) needs `Authorization: Bearer <token>` or `Basic <base64 user:pass>`
// checked by the same providers as the Pulsar port; the permission routes also need a role in
// superUserRoles. A refusal is 401 with `WWW-Authenticate: Bearer` and, when the `basic` provider
// is on, `Basic realm="mop"` (so that a browser opening the dashboard asks for a password).
// Without one, anyone reaching the port may manage grants (as Pulsar with
// authentication off).
#include <cstdint>
#include <memory>
#include <string>

#include "auth/permissions.hpp"
#include "auth/provider.hpp"
#include "core/clock.hpp"
#include "http/router.hpp"

namespace mop::http {

struct PermissionsContext {
  auth::Permissions& permissions;
  std::shared_ptr<const auth::Authenticator> authenticator;  // null: HTTP authentication off
  const Clock& clock;
};

// The role of a request, or the 401 answer refusing it. Without an authenticator: "".
Result<std::string, Response> http_role(const PermissionsContext& c, const Request& request);

// Adds the permission routes and, with an authenticator, the guard; `context` must outlive it.
void add_permission_routes(Router& router, const PermissionsContext& context);

}  // namespace mop::http
