#pragma once
// The "mqtt" logger the SessionRouter's files share.
#include <memory>

#include "core/log.hpp"

namespace mop::mqtt {

inline const std::shared_ptr<spdlog::logger>& logger() {
  static const auto l = log::get("mqtt");
  return l;
}

}  // namespace mop::mqtt
