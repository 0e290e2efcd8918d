#pragma once
// The MQTT side of the web service: `/mop/stats` (MoP's MQTT counters as JSON, the numbers of
// the `mop_*` metrics), `/mop/clients` (every session: client id, peer, protocol, keep alive,
// subscriptions, in flight, connected since) and the kick (`DELETE /mop/clients/{clientId}`).
// One handler per route (mqtt_admin.cpp).
#include "http/admin.hpp"

namespace mop::http {

// Adds those routes to `router` when `context` has the session router.
void add_mqtt_admin_routes(Router& router, const WebContext& context);

}  // namespace mop::http
