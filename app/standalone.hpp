#pragma once
#include "app/config.hpp"

namespace mop::app {

// Runs `mop standalone` until SIGINT/SIGTERM. Returns the process exit code.
int run_standalone(const Config& config);

}  // namespace mop::app
