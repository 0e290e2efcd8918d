#include "mqtt/server/sys_topics.hpp"

#include <cmath>

#include <fmt/format.h>

namespace mop::mqtt {

namespace {
constexpr std::array<double, 3> kPeriods{60.0, 300.0, 900.0};
constexpr std::array<const char*, 3> kPeriodNames{"1min", "5min", "15min"};
}  // namespace

SysTopics::SysTopics(SessionRouter& router, std::string version, Clock::time_point started)
    : router_(router), version_(std::move(version)), started_(started), last_(started) {}

void SysTopics::Load::update(std::uint64_t count, double elapsed_seconds) {
  const double per_minute = elapsed_seconds > 0 ? static_cast<double>(count - last) * 60.0 / elapsed_seconds : 0.0;
  last = count;
  for (std::size_t i = 0; i < averages.size(); ++i) {
    const double keep = std::exp(-elapsed_seconds / kPeriods[i]);
    averages[i] = averages[i] * keep + per_minute * (1.0 - keep);
  }
}

void SysTopics::put(const std::string& topic, const std::string& value) {
  router_.publish_system(topic, value);
}

void SysTopics::publish(Clock::time_point now) {
  const auto& counters = router_.publish_counters();
  const double elapsed = std::chrono::duration<double>(now - last_).count();
  // The first update has no interval behind it: it only takes the counters' starting values.
  received_.update(counters.received, first_ ? 0.0 : elapsed);
  sent_.update(counters.sent, first_ ? 0.0 : elapsed);
  connections_.update(router_.total_client_count(), first_ ? 0.0 : elapsed);
  first_ = false;
  last_ = now;

  const std::size_t connected = router_.live_connection_count();
  const std::size_t sessions = router_.session_count();
  const std::size_t disconnected = sessions > connected ? sessions - connected : 0;
  put("$SYS/broker/version", "mop " + version_);
  put("$SYS/broker/uptime",
      fmt::format("{} seconds", std::chrono::duration_cast<std::chrono::seconds>(now - started_).count()));
  put("$SYS/broker/clients/connected", std::to_string(connected));
  put("$SYS/broker/clients/disconnected", std::to_string(disconnected));
  put("$SYS/broker/clients/total", std::to_string(connected + disconnected));
  put("$SYS/broker/clients/maximum", std::to_string(router_.maximum_client_count()));
  put("$SYS/broker/subscriptions/count", std::to_string(router_.subscription_count()));
  std::uint64_t packets_in = 0, packets_out = 0;
  for (const auto n : counters.packets_in) packets_in += n;
  for (const auto n : counters.packets_out) packets_out += n;
  put("$SYS/broker/messages/received", std::to_string(packets_in));
  put("$SYS/broker/messages/sent", std::to_string(packets_out));
  put("$SYS/broker/publish/messages/received", std::to_string(counters.received));
  put("$SYS/broker/publish/messages/sent", std::to_string(counters.sent));
  put("$SYS/broker/publish/bytes/received", std::to_string(counters.received_bytes));
  put("$SYS/broker/publish/bytes/sent", std::to_string(counters.sent_bytes));
  for (std::size_t i = 0; i < kPeriods.size(); ++i) {
    put(fmt::format("$SYS/broker/load/publish/received/{}", kPeriodNames[i]),
        fmt::format("{:.2f}", received_.averages[i]));
    put(fmt::format("$SYS/broker/load/publish/sent/{}", kPeriodNames[i]), fmt::format("{:.2f}", sent_.averages[i]));
    put(fmt::format("$SYS/broker/load/connections/{}", kPeriodNames[i]),
        fmt::format("{:.2f}", connections_.averages[i]));
  }
}

}  // namespace mop::mqtt
