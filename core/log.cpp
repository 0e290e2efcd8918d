#include "core/log.hpp"

#include <mutex>

namespace mop::log {

namespace {
std::mutex g_mutex;
}

std::shared_ptr<spdlog::logger> get(const std::string& module) {
  std::lock_guard lock(g_mutex);
  if (auto existing = spdlog::get(module)) return existing;
  auto def = spdlog::default_logger();
  auto logger = std::make_shared<spdlog::logger>(module, def->sinks().begin(), def->sinks().end());
  logger->set_level(def->level());
  spdlog::register_logger(logger);
  return logger;
}

bool set_level(const std::string& level) {
  auto lvl = spdlog::level::from_str(level);
  if (lvl == spdlog::level::off && level != "off") return false;
  spdlog::set_level(lvl);  // applies to every registered logger and the default
  return true;
}

}  // namespace mop::log
