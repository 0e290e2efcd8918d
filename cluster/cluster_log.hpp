#pragma once
// The "cluster" logger the files of cluster/ share.
#include <memory>

#include "core/log.hpp"

namespace mop::cluster {

inline const std::shared_ptr<spdlog::logger>& logger() {
  static const auto l = log::get("cluster");
  return l;
}

}  // namespace mop::cluster
