#pragma once
// MQTT 5 PUBLISH properties <-> Pulsar message properties (names documented in the README).
// User properties keep their own names and order; the others use reserved `__mqtt_` names.
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "mqtt/codec/packets.hpp"

namespace mop::mqtt {

// Message expiry is stored as the absolute wall-clock time (ms) at which the message expires.
void to_message_properties(const Properties& in, std::uint64_t now_ms, bool retain,
                           std::vector<std::pair<std::string, std::string>>& out);
// Back: fills `out` and returns false when the message has expired (it must not be delivered).
// `expires_at_ms`, when given, receives the absolute expiry (0: the message does not expire).
bool from_message_properties(const std::vector<std::pair<std::string, std::string>>& in, std::uint64_t now_ms,
                             Properties& out, bool& retain, std::uint64_t* expires_at_ms = nullptr);

}  // namespace mop::mqtt
