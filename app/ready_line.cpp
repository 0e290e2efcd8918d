#include "app/ready_line.hpp"

#include <cstdio>

#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

namespace mop::app {

namespace {

nlohmann::json to_json(const BoundListener& l) {
  nlohmann::json j{{"host", l.host}, {"port", l.port}, {"url", l.url}};
  if (!l.scheme.empty()) j["scheme"] = l.scheme;
  return j;
}

}  // namespace

std::string ready_line(const ReadyInfo& info) {
  nlohmann::json mqtt = nlohmann::json::array();
  for (const auto& l : info.mqtt) mqtt.push_back(to_json(l));
  nlohmann::json line{{"pid", info.pid},
                      {"mqtt", std::move(mqtt)},
                      {"pulsar", info.pulsar ? to_json(*info.pulsar) : nlohmann::json(nullptr)},
                      {"pulsarTls", info.pulsar_tls ? to_json(*info.pulsar_tls) : nlohmann::json(nullptr)},
                      {"web", info.web ? to_json(*info.web) : nlohmann::json(nullptr)},
                      {"webTls", info.web_tls ? to_json(*info.web_tls) : nlohmann::json(nullptr)}};
  // dump() without indentation is one line: a newline inside a string is escaped as \n.
  return std::string(kReadyPrefix) + line.dump();
}

void print_ready_line(const ReadyInfo& info) {
  spdlog::default_logger()->flush();
  std::fflush(stdout);
  const std::string line = ready_line(info) + "\n";
  std::fwrite(line.data(), 1, line.size(), stdout);
  std::fflush(stdout);
}

}  // namespace mop::app
