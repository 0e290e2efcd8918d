#pragma once
// SysTopics: Mosquitto's `$SYS/broker/...` topics, published retained at QoS 0 by the broker
// itself every `sysInterval` seconds (the owner's timer calls publish()), so that a client that
// subscribes to `$SYS/#` gets the current values at once and then each update. A `#` or `+`
// filter does not match them [MQTT-4.7.2-1] (mqtt/codec/topic.cpp). Values come from the
// SessionRouter's counters when asked; nothing is counted per message for them.
//
//   $SYS/broker/version                       "mop <version>"
//   $SYS/broker/uptime                        "<seconds> seconds"
//   $SYS/broker/clients/connected             clients connected now
//   $SYS/broker/clients/disconnected          sessions kept for clients not connected
//   $SYS/broker/clients/total                 connected + disconnected
//   $SYS/broker/clients/maximum               most connected at once
//   $SYS/broker/subscriptions/count           topic filters over every session
//   $SYS/broker/messages/received|sent        MQTT packets of every type received / sent
//   $SYS/broker/publish/messages/received     PUBLISH packets received from clients
//   $SYS/broker/publish/messages/sent         PUBLISH packets sent to clients
//   $SYS/broker/publish/bytes/received|sent   their payload bytes
//   $SYS/broker/load/publish/received/{1min,5min,15min}, .../publish/sent/..., .../connections/...
//       per-minute rates averaged exponentially over 1, 5 and 15 minutes (Mosquitto's load
//       averages): each update folds the rate since the previous one in with weight
//       1 - exp(-elapsed / period)
// Thread: the SessionRouter's.
#include <array>
#include <chrono>
#include <cstdint>
#include <string>

#include "mqtt/server/session_router.hpp"

namespace mop::mqtt {

class SysTopics {
public:
  using Clock = std::chrono::steady_clock;

  // `started`: when the broker started (uptime counts from it).
  SysTopics(SessionRouter& router, std::string version, Clock::time_point started);

  // Publishes every topic with the values of `now`.
  void publish(Clock::time_point now);

private:
  // Load averages of one counter over 1, 5 and 15 minutes.
  struct Load {
    std::uint64_t last = 0;
    std::array<double, 3> averages{};
    void update(std::uint64_t count, double elapsed_seconds);
  };
  void put(const std::string& topic, const std::string& value);

  SessionRouter& router_;
  std::string version_;
  Clock::time_point started_;
  Clock::time_point last_;
  bool first_ = true;
  Load received_, sent_, connections_;
};

}  // namespace mop::mqtt
