#include "http/permissions.hpp"

#include <nlohmann/json.hpp>

#include "auth/key_source.hpp"
#include "core/log.hpp"

namespace mop::http {

namespace {

std::shared_ptr<spdlog::logger> logger() { return log::get("http"); }

Response no_content() {
  Response r;
  r.status = 204;
  return r;
}

}  // namespace

Result<std::string, Response> http_role(const PermissionsContext& c, const Request& request) {
  if (!c.authenticator) return std::string();
  const std::string& h = request.authorization;
  std::string method, data;
  if (h.starts_with("Bearer ")) {
    method = "token";
    data = h.substr(7);
  } else if (h.starts_with("Basic ")) {
    auto decoded = auth::base64_decode(h.substr(6));
    if (!decoded.ok()) return error_response(401, "Basic credentials are not base64");
    method = "basic";
    data = std::move(decoded).value();
  } else if (h.empty() && request.certificate_cn && c.authenticator->find("tls") != nullptr) {
    // https with a client certificate the handshake verified (AuthenticationProviderTls).
    method = "tls";
    data = *request.certificate_cn;
  }
  auto who = c.authenticator->authenticate(method, data, static_cast<std::int64_t>(c.clock.wall_ms() / 1000));
  if (!who.ok()) {
    logger()->warn("{} {}: authentication refused: {}", request.method, request.path(), who.error().reason);
    auto r = error_response(401, "Authentication required: " + who.error().reason);
    r.headers.emplace_back("WWW-Authenticate", "Bearer");
    // With the basic provider, a Basic challenge too: a browser (the dashboard) then asks for a user
    // name and password and sends them with every request to this origin.
    if (c.authenticator->find("basic") != nullptr)
      r.headers.emplace_back("WWW-Authenticate", "Basic realm=\"mop\", charset=\"UTF-8\"");
    return r;
  }
  return std::move(who->role);
}

void add_permission_routes(Router& router, const PermissionsContext& c) {
  if (c.authenticator) {
    router.set_guard([&c](const Request& request) -> std::optional<Response> {
      auto role = http_role(c, request);
      if (!role.ok()) return role.error();
      return std::nullopt;
    });
  }
  // Who may manage grants: a super user (anyone while HTTP authentication is off).
  const auto admin = [&c](const Request& request) -> std::optional<Response> {
    auto role = http_role(c, request);
    if (!role.ok()) return role.error();
    if (c.authenticator && !c.permissions.is_super_user(*role))
      return error_response(403, "Role " + *role + " is not a super user (superUserRoles)");
    return std::nullopt;
  };
  const auto list = [&c, admin](std::string resource, const Request& request, Respond respond) {
    if (auto refused = admin(request)) return respond(std::move(*refused));
    nlohmann::json out = nlohmann::json::object();
    for (const auto& [role, actions] : c.permissions.of(resource)) out[role] = auth::action_names(actions);
    respond(json_response(out.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace)));
  };
  const auto grant = [&c, admin](std::string resource, const std::string& role, const Request& request,
                                 Respond respond) {
    if (auto refused = admin(request)) return respond(std::move(*refused));
    auto body = nlohmann::json::parse(request.body, nullptr, false);
    if (body.is_discarded() || !body.is_array())
      return respond(error_response(400, "the body must be a JSON array of actions, e.g. [\"produce\",\"consume\"]"));
    auth::Actions actions = 0;
    for (const auto& a : body) {
      const auth::Actions one = a.is_string() ? auth::parse_action(a.get<std::string>()) : 0;
      if (one == 0) {
        const std::string action = a.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
        return respond(error_response(400, "unknown action " + action + " (produce, consume)"));
      }
      actions |= one;
    }
    if (role.empty()) return respond(error_response(400, "empty role"));
    logger()->info("grant {} on {} to role {}", body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace), resource, role);
    // 204 once the grant is durable: a grant answered and then lost in a crash would surprise.
    c.permissions.grant(resource, role, actions, [respond = std::move(respond)](std::optional<std::string> error) {
      respond(error ? error_response(500, "the grant was not stored: " + *error) : no_content());
    });
  };
  const auto revoke = [&c, admin](std::string resource, const std::string& role, const Request& request,
                                  Respond respond) {
    if (auto refused = admin(request)) return respond(std::move(*refused));
    logger()->info("revoke every action on {} from role {}", resource, role);
    c.permissions.revoke(resource, role, [respond = std::move(respond)](std::optional<std::string> error) {
      respond(error ? error_response(500, "the revocation was not stored: " + *error) : no_content());
    });
  };
  const std::string ns = "/admin/v2/namespaces/{tenant}/{namespace}/permissions";
  const auto ns_name = [](const Params& p) { return p.find("tenant")->second + "/" + p.find("namespace")->second; };
  router.add("GET", ns, [list, ns_name](const Request& r, const Params& p, Respond done) {
    list(ns_name(p), r, std::move(done));
  });
  router.add("POST", ns + "/{role}", [grant, ns_name](const Request& r, const Params& p, Respond done) {
    grant(ns_name(p), p.find("role")->second, r, std::move(done));
  });
  router.add("DELETE", ns + "/{role}", [revoke, ns_name](const Request& r, const Params& p, Respond done) {
    revoke(ns_name(p), p.find("role")->second, r, std::move(done));
  });
  for (const std::string domain : {"persistent", "non-persistent"}) {
    const std::string topic = "/admin/v2/" + domain + "/{tenant}/{namespace}/{topic}/permissions";
    const auto topic_name = [domain](const Params& p) {
      // The path carries the topic's local name %-encoded once more (as the stats route); the
      // router decoded one level, leaving the stored (URL-encoded) local name.
      return domain + "://" + p.find("tenant")->second + "/" + p.find("namespace")->second + "/" +
             p.find("topic")->second;
    };
    router.add("GET", topic, [list, topic_name](const Request& r, const Params& p, Respond done) {
      list(topic_name(p), r, std::move(done));
    });
    router.add("POST", topic + "/{role}", [grant, topic_name](const Request& r, const Params& p, Respond done) {
      grant(topic_name(p), p.find("role")->second, r, std::move(done));
    });
    router.add("DELETE", topic + "/{role}", [revoke, topic_name](const Request& r, const Params& p, Respond done) {
      revoke(topic_name(p), p.find("role")->second, r, std::move(done));
    });
  }
}

}  // namespace mop::http
