// mop: MQTT on Apache Pulsar. Entry point: picks the mode, loads the configuration, runs it.
#include <cstdio>
#include <iostream>
#include <string>
#include <vector>

#include <spdlog/spdlog.h>

#include "app/config.hpp"
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
               "       mop proxy ...      MQTT front end for an Apache Pulsar cluster (not available yet)\n"
               "       mop bench ...      load generator (mop bench --help)\n"
               "       mop store check [--data-dir DIR]   check every record of a store (read-only)\n"
               "       mop token ...      keys and tokens as `pulsar tokens` makes them (mop token --help)\n"
               "       mop --version\n\n"
               "standalone (the default) serves MQTT 3.1/3.1.1 on mqttListeners with Pulsar's topic model.\n"
               "FILE is in Pulsar's broker.conf format; every key can also be given as --key=value,\n"
               "which overrides the file. Keys:\n\n%s",
               mop::app::config_keys_help().c_str());
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
  if (mode == "proxy") {
    std::fprintf(stderr, "mop: '%s' is not available in this version yet; use 'mop standalone'\n", mode.c_str());
    return 2;
  }
  if (mode != "standalone") {
    std::fprintf(stderr, "mop: unknown mode '%s'\n\n", mode.c_str());
    usage(stderr);
    return 2;
  }

  auto parsed = mop::app::parse_command_line(args);
  if (!parsed.ok()) {
    const auto* errors = &parsed.error();
    for (const auto& e : *errors) std::fprintf(stderr, "mop: %s\n", e.message.c_str());
    return 2;
  }
  const auto& cmd = parsed.value();
  if (cmd.help) {
    usage(stdout);
    return 0;
  }

  spdlog::set_pattern("%Y-%m-%dT%H:%M:%S.%e %^%-5l%$ [%n] %v");
  std::vector<std::string> warnings;
  auto loaded = mop::app::load_config(cmd.config_file, cmd.overrides, &warnings);
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
  return mop::app::run_standalone(config);
}
