#pragma once
// `mop bench pulsar-produce|pulsar-consume|pulsar-pubsub`: the load generator for the Pulsar
// binary protocol (brokerServicePort), on the client library of pulsar/client/. Same Summary and report
// as the MQTT modes; run() in bench.hpp dispatches here for the Pulsar modes.
#include <atomic>

#include "loadgen/bench.hpp"

namespace mop::loadgen {

// `interrupted`: set from a signal handler to end the run early (the summary is still made).
Summary run_pulsar(const Options& opt, bool progress, const std::atomic<bool>& interrupted);

}  // namespace mop::loadgen
