#pragma once
// The "pulsar" logger, shared by the server's files.
#include <memory>

#include "core/log.hpp"

namespace mop::pulsar::server {

inline const std::shared_ptr<spdlog::logger>& logger() {
  static const auto l = log::get("pulsar");
  return l;
}

}  // namespace mop::pulsar::server
