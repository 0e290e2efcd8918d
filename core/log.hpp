#pragma once
// Logging: one spdlog logger per module, created on first use, sharing the default sinks.
#include <memory>
#include <string>

#include <spdlog/spdlog.h>

namespace mop::log {

// Returns the logger named `module` ("mqtt", "broker", ...), creating it with the default
// logger's sinks and level if it does not exist yet.
std::shared_ptr<spdlog::logger> get(const std::string& module);

// Sets the level of every logger, present and future. Accepts spdlog's names
// (trace, debug, info, warn, error, critical, off); returns false for an unknown name.
bool set_level(const std::string& level);

}  // namespace mop::log
