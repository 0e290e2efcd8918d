// Heir's decisions on what a dead proxy left: the wills' due times and the sessions still its.
#include "cluster/heir.hpp"

#include <gtest/gtest.h>

namespace mop::cluster {
namespace {

service::WillRecord will(std::string id, std::uint32_t delay, std::uint64_t due = 0) {
  service::WillRecord w;
  w.client_id = std::move(id);
  w.topic = "persistent://public/default/wills";
  w.delay_s = delay;
  w.due_at_ms = due;
  return w;
}

service::SessionRecord session(std::string id) {
  service::SessionRecord s;
  s.client_id = std::move(id);
  s.expiry_interval_s = 60;
  return s;
}

TEST(Heir, WillsGoAtTheEarlierOfTheirDelayAndTheirSessionsEndCountedFromTheTakeover) {
  const std::uint64_t now = 1'700'000'000'000;
  auto expiry_of = [](const std::string& id) -> std::optional<std::uint32_t> {
    if (id == "short") return 2;      // the session ends before the delay
    if (id == "long") return 3600;    // the delay ends first
    if (id == "never") return 0xFFFFFFFF;
    return std::nullopt;              // no session record: it ended with the connection
  };
  auto out = Heir::with_due_times({will("short", 10), will("long", 10), will("never", 5), will("none", 30),
                                   will("running", 10, now - 4000)},
                                  expiry_of, now);
  ASSERT_EQ(out.size(), 5u);
  EXPECT_EQ(out[0].due_at_ms, now + 2000);
  EXPECT_EQ(out[1].due_at_ms, now + 10'000);
  EXPECT_EQ(out[2].due_at_ms, now + 5000);
  EXPECT_EQ(out[3].due_at_ms, now);             // at once
  EXPECT_EQ(out[4].due_at_ms, now - 4000);      // its client had disconnected: the time it had
}

TEST(Heir, SessionsOfClientsAnnouncedElsewhereSinceAreNotTheDeadProxysToLeave) {
  auto last_proxy = [](const std::string& id) -> std::string {
    if (id == "moved") return "proxy-b";  // connected to another proxy since
    if (id == "stayed") return "dead";    // its last connection was the dead proxy's
    return "";                            // nothing announced since this proxy started
  };
  auto out = Heir::still_left({session("moved"), session("stayed"), session("unknown")}, "dead", last_proxy);
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(out[0].client_id, "stayed");
  EXPECT_EQ(out[1].client_id, "unknown");
}

}  // namespace
}  // namespace mop::cluster
