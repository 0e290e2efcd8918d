// mop: MQTT on Apache Pulsar. Entry point: picks the mode, loads the configuration, runs it.
#include <csignal>
#include <cstdio>
#include <iostream>
#include <string>
#include <vector>

#include <spdlog/spdlog.h>

#include "app/config.hpp"
#include "app/proxy.hpp"
#include "app/standalone.hpp"
#include "app/store_command.hpp"
#include "app/token_command.hpp"
#include "core/log.hpp"
#include "loadgen/bench.hpp"

namespace {

constexpr const char* kVersion = MOP_VERSION;

void usage(std::FILE* out) {
  std::fprintf(out,
               "usage: mop [standalone] [-c FILE] [--key=value ...]\n"
               "       mop proxy [-c FILE] [--key=value ...]   MQTT front end for an Apache Pulsar cluster\n"
               "       mop bench ...      load generator (mop bench --help)\n"
               "       mop store check [--data-dir DIR]   check every record of a store (read-only)\n"
               "       mop token ...      keys and tokens as `pulsar tokens` makes them (mop token --help)\n"
               "       mop --version\n\n"
               "standalone (the default) serves MQTT 3.1/3.1.1 on mqttListeners with Pulsar's topic model.\n"
               "FILE is in Pulsar's broker.conf format; every key can also be given as --key=value,\n"
               "which overrides the file. Keys:\n\n%s",
               mop::app::config_keys_help().c_str());
}

void proxy_usage(std::FILE* out) {
  std::fprintf(out,
               "usage: mop proxy [-c FILE] [--key=value ...]\n\n"
               "Serves MQTT 3.1/3.1.1/5.0 in front of an existing Apache Pulsar cluster (brokerServiceURL);\n"
               "state lives in Pulsar, so any number of proxies can serve the same clients.\n"
               "FILE is in Pulsar's broker.conf format (conf/proxy.conf documents it); every key can also\n"
               "be given as --key=value, which overrides the file. Keys:\n\n%s",
               mop::app::config_keys_help(mop::app::Mode::proxy).c_str());
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  std::string mode = "standalone";
  if (!args.empty() && !args[0].starts_with("-")) {
    mode = args[0];
    args.erase(args.begin());
  }
  if (mode == "version" || (!args.empty() && args[0] == "--version")) {
    std::printf("mop %s\n", kVersion);
    return 0;
  }
  if (mode == "bench") return mop::loadgen::run_bench(args);
  if (mode == "store") return mop::app::run_store_command(args);
  if (mode == "token") return mop::app::run_token_command(args);
  if (mode != "standalone" && mode != "proxy") {
    std::fprintf(stderr, "mop: unknown mode '%s'\n\n", mode.c_str());
    usage(stderr);
    return 2;
  }

  // OpenSSL writes TLS records with write(2), which raises SIGPIPE when the peer has closed its
  // socket (a client that sends DISCONNECT and goes, before a close_notify or WebSocket close frame
  // is answered); that must be an error on one connection, not the end of the process. Asio's own
  // socket writes do not raise it (MSG_NOSIGNAL).
  std::signal(SIGPIPE, SIG_IGN);

  auto parsed = mop::app::parse_command_line(args);
  if (!parsed.ok()) {
    const auto* errors = &parsed.error();
    for (const auto& e : *errors) std::fprintf(stderr, "mop: %s\n", e.message.c_str());
    return 2;
  }
  const auto& cmd = parsed.value();
  const auto config_mode = mode == "proxy" ? mop::app::Mode::proxy : mop::app::Mode::standalone;
  if (cmd.help) {
    config_mode == mop::app::Mode::proxy ? proxy_usage(stdout) : usage(stdout);
    return 0;
  }

  spdlog::set_pattern("%Y-%m-%dT%H:%M:%S.%e %^%-5l%$ [%n] %v");
  std::vector<std::string> warnings;
  auto loaded = mop::app::load_config(cmd.config_file, cmd.overrides, &warnings, config_mode);
  if (!loaded.ok()) {
    const auto* errors = &loaded.error();
    for (const auto& e : *errors) std::fprintf(stderr, "mop: configuration error: %s\n", e.message.c_str());
    std::fprintf(stderr, "mop: not started (%zu configuration error%s)\n", errors->size(), errors->size() == 1 ? "" : "s");
    return 2;
  }
  const auto& config = loaded.value();
  mop::log::set_level(config.logLevel);
  auto logger = mop::log::get("config");
  for (const auto& w : warnings) logger->warn("{}", w);
  if (config_mode == mop::app::Mode::proxy) return mop::app::run_proxy(config);
  return mop::app::run_standalone(config);
}
