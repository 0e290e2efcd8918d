#pragma once
// The start-up line of `mop standalone` and `mop proxy`: one line on stdout, printed once every listener
// listens, that a program starting mop (the integration tests, a supervisor) can parse without
// reading log text. Format (app/README.md, "The start-up line"):
//   mop-ready {"mqtt":[{"host":"127.0.0.1","port":41883,"url":"mqtt://127.0.0.1:41883"}],"pid":4242,
//              "pulsar":{"host":"127.0.0.1","port":46650,"url":"pulsar://127.0.0.1:46650"},
//              "pulsarTls":null,"web":{"host":"127.0.0.1","port":48080,"url":"http://127.0.0.1:48080"}}
// (on one line; keys in alphabetical order). Ports are the bound ones, never 0. Each mqtt entry
// also says its "scheme" (mqtt, mqtt+ssl, mqtt+ssl+psk, ws, ws+ssl); "pulsarTls" is the
// pulsar+ssl:// listener on brokerServicePortTls, null when there is none; "webTls" the https://
// web service on webServicePortTls, null when there is none.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace mop::app {

// Every start-up line begins with this, at the start of a line.
inline constexpr std::string_view kReadyPrefix = "mop-ready ";

struct BoundListener {
  std::string host;        // the host it is bound to, without brackets ("::1")
  std::uint16_t port = 0;  // the bound port
  std::string url;         // what clients use: "mqtt://[::1]:41883"; for Pulsar, what LOOKUP answers
  std::string scheme;      // mqttListeners' scheme ("ws+ssl"); empty for the others (not printed)
};

struct ReadyInfo {
  long pid = 0;
  std::vector<BoundListener> mqtt;       // in the order of mqttListeners; empty when mqtt is not served
  std::optional<BoundListener> pulsar;   // empty when the Pulsar listener did not start
  std::optional<BoundListener> pulsar_tls;  // brokerServicePortTls; empty when not configured
  std::optional<BoundListener> web;      // the HTTP service (webServicePort); empty when not started
  std::optional<BoundListener> web_tls;  // the HTTPS service (webServicePortTls); empty when not configured
};

// The start-up line, prefix included, without the newline.
std::string ready_line(const ReadyInfo& info);

// Writes the start-up line to stdout, whole and at the start of a line: the log (which goes to
// stdout too) is flushed first, so that the line does not land inside a log line.
void print_ready_line(const ReadyInfo& info);

}  // namespace mop::app
