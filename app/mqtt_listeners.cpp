#include "app/mqtt_listeners.hpp"

#include <fstream>
#include <memory>
#include <sstream>

#include "core/log.hpp"
#include "net/tls_context.hpp"

namespace mop::app {

net::TlsOptions tls_options(const Config::TlsSettings& t) {
  net::TlsOptions o;
  o.certificate_file = t.certificate_file;
  o.key_file = t.key_file;
  o.trust_certs_file = t.trust_certs_file;
  o.protocols = t.protocols;
  o.ciphers = t.ciphers;
  o.allow_insecure_connection = t.allow_insecure_connection;
  o.require_trusted_client_cert = t.require_trusted_client_cert;
  o.refresh_check = std::chrono::seconds(t.refresh_check_sec);
  return o;
}

namespace {

Result<std::shared_ptr<net::TlsContext>, std::string> psk_context(const Config& config) {
  auto options = tls_options(config.mqtt_tls());
  options.certificate_file.clear();  // the pre-shared keys authenticate both sides
  options.key_file.clear();
  options.trust_certs_file.clear();
  options.require_trusted_client_cert = false;
  options.psk = true;
  options.psk_identity_hint = config.mqttTlsPskIdentityHint;
  if (auto parsed = net::parse_psk_identities(config.mqttTlsPskIdentity, ';', options.psk_identities); !parsed.ok())
    return "mqttTlsPskIdentity: " + parsed.error();
  if (!config.mqttTlsPskIdentityFile.empty()) {
    std::ifstream in(config.mqttTlsPskIdentityFile);
    std::stringstream text;
    text << in.rdbuf();
    if (!in) return "mqttTlsPskIdentityFile: cannot read \"" + config.mqttTlsPskIdentityFile + "\"";
    if (auto parsed = net::parse_psk_identities(text.str(), '\n', options.psk_identities); !parsed.ok())
      return "mqttTlsPskIdentityFile " + config.mqttTlsPskIdentityFile + ": " + parsed.error();
  }
  auto built = net::TlsContext::create("mqtt+ssl+psk", std::move(options));
  if (!built.ok()) return "cannot start the MQTT TLS-PSK listeners: " + built.error();
  return std::move(built).value();
}

}  // namespace

Result<std::vector<BoundListener>, std::string> open_mqtt_listeners(const Config& config,
                                                                    const std::vector<Listener>& listeners,
                                                                    mqtt::MqttListener& tcp) {
  std::shared_ptr<net::TlsContext> mqtt_tls;
  std::shared_ptr<net::TlsContext> mqtt_psk;
  for (const auto& listener : listeners) {
    if ((listener.scheme == "mqtt+ssl" || listener.scheme == "ws+ssl") && !mqtt_tls) {
      auto built = net::TlsContext::create("mqtt+ssl", tls_options(config.mqtt_tls()));
      if (!built.ok()) return "cannot start the MQTT TLS listeners: " + built.error();
      mqtt_tls = std::move(built).value();
    }
    if (listener.scheme == "mqtt+ssl+psk" && !mqtt_psk) {
      auto built = psk_context(config);
      if (!built.ok()) return built.error();
      mqtt_psk = std::move(built).value();
    }
  }
  net::WebSocketOptions ws_options;
  ws_options.path = config.webSocketPath;
  ws_options.max_message_size = config.webSocketMaxFrameSize;
  std::vector<BoundListener> out;
  for (const auto& listener : listeners) {
    auto bound = listener.scheme == "mqtt" ? tcp.listen(listener.host, listener.port)
                 : listener.scheme == "mqtt+ssl"
                     ? tcp.listen(listener.scheme, net::Transport::tls, mqtt_tls, ws_options, listener.host, listener.port)
                 : listener.scheme == "mqtt+ssl+psk"
                     ? tcp.listen(listener.scheme, net::Transport::tls, mqtt_psk, ws_options, listener.host, listener.port)
                 : listener.scheme == "ws"
                     ? tcp.listen(listener.scheme, net::Transport::ws, nullptr, ws_options, listener.host, listener.port)
                     : tcp.listen(listener.scheme, net::Transport::wss, mqtt_tls, ws_options, listener.host,
                                  listener.port);
    if (!bound.ok()) return "cannot listen on " + listener.to_string() + ": " + bound.error().message();
    Listener actual = listener;
    actual.port = bound->port();
    out.push_back({actual.host, actual.port, actual.to_string(), actual.scheme});
  }
  for (const auto& b : out) log::get("mop")->info("MQTT listener ready on {}", b.url);
  return out;
}

}  // namespace mop::app
