#pragma once
#include "app/config.hpp"

namespace mop::app {

// Runs `mop proxy` until SIGINT/SIGTERM: MQTT on the proxy's listeners, everything stored in the
// Apache Pulsar cluster of brokerServiceURL. Returns the process exit code: 1 when the cluster
// cannot be reached or the system namespace cannot be used at start, or a listener cannot bind.
int run_proxy(const Config& config);

}  // namespace mop::app
