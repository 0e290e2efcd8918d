#include "http/mqtt_admin.hpp"

#include <nlohmann/json.hpp>

#include "mqtt/server/session_router.hpp"

namespace mop::http {

namespace {

using nlohmann::json;

std::string_view protocol_name(mqtt::ProtocolVersion v) {
  switch (v) {
    case mqtt::ProtocolVersion::v31: return "MQTT 3.1";
    case mqtt::ProtocolVersion::v311: return "MQTT 3.1.1";
    case mqtt::ProtocolVersion::v5: return "MQTT 5";
  }
  return "MQTT";
}

// GET /mop/stats: MoP's MQTT counters (the mop_* metrics' values).
void get_stats(const WebContext& c, const Request&, const Params&, Respond respond) {
  const mqtt::SessionRouter& r = *c.router;
  const auto& counters = r.publish_counters();
  respond(json_response(json{
      {"activeClientCount", r.live_connection_count()},
      {"totalClientCount", r.total_client_count()},
      {"maximumClientCount", r.maximum_client_count()},
      {"sessionCount", r.session_count()},
      {"subCount", r.subscription_count()},
      {"sendCount", counters.sent},
      {"sendBytes", counters.sent_bytes},
      {"receivedCount", counters.received},
      {"receivedBytes", counters.received_bytes},
  }.dump(-1, ' ', false, json::error_handler_t::replace)));
}

// GET /mop/clients: every session, connected or kept for a client that is away.
void get_clients(const WebContext& c, const Request&, const Params&, Respond respond) {
  json out = json::array();
  for (const auto& s : c.router->clients()) {
    json one = {
        {"clientId", s.client_id},
        {"connected", s.connected},
        {"protocol", protocol_name(s.version)},
        {"cleanStart", s.clean_start},
        {"subscriptions", s.filters},
        {"inflight", s.inflight},
    };
    if (s.connected) {
      one["address"] = s.peer;
      one["keepAlive"] = s.keep_alive_seconds;
      one["connectedSince"] = s.connected_at_ms;
    } else {
      one["disconnectedSince"] = s.disconnected_at_ms;
    }
    out.push_back(std::move(one));
  }
  respond(json_response(out.dump(-1, ' ', false, json::error_handler_t::replace)));
}

// DELETE /mop/clients/{clientId}: closes its connection (MQTT 5: DISCONNECT 0x98).
void kick_client(const WebContext& c, const Request&, const Params& p, Respond respond) {
  const std::string& id = p.find("clientId")->second;
  if (!c.router->disconnect_client(id)) {
    return respond(error_response(404, "Client " + id + " is not connected"));
  }
  Response r;
  r.status = 204;
  respond(std::move(r));
}

}  // namespace

void add_mqtt_admin_routes(Router& router, const WebContext& c) {
  if (c.router == nullptr) return;
  const auto route = [&c](auto fn) {
    return [&c, fn](const Request& req, const Params& p, Respond respond) { fn(c, req, p, std::move(respond)); };
  };
  router.add("GET", "/mop/stats", route(get_stats));
  router.add("GET", "/mop/clients", route(get_clients));
  router.add("DELETE", "/mop/clients/{clientId}", route(kick_client));
}

}  // namespace mop::http
