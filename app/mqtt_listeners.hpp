#pragma once
// The MQTT listeners of both modes, from the configuration: the TLS contexts (one for mqtt+ssl and
// ws+ssl, one for mqtt+ssl+psk) built before anything listens, so that a bad certificate, key or
// PSK file stops the start with a message naming the key; then one listener per entry, in order.
// `mop standalone` passes mqttListeners, `mop proxy` Config::proxy_listeners().
#include <string>
#include <vector>

#include "app/config.hpp"
#include "app/ready_line.hpp"
#include "core/result.hpp"
#include "mqtt/server/mqtt_listener.hpp"

namespace mop::app {

// Listens on every entry of `listeners` with `tcp` and, once all listen, logs "MQTT listener ready on
// URL" for each; returns what each bound (port 0 resolved), in order, or the reason the first one
// failed (for a critical log line and exit code 1).
Result<std::vector<BoundListener>, std::string> open_mqtt_listeners(const Config& config,
                                                                    const std::vector<Listener>& listeners,
                                                                    mqtt::MqttListener& tcp);

// net::TlsOptions of one listener kind's resolved settings (Config::mqtt_tls(), pulsar_tls()).
net::TlsOptions tls_options(const Config::TlsSettings& settings);

}  // namespace mop::app
