#pragma once
// Heir: takes over what a proxy that died left in the state topics, its wills and its sessions
// (cluster/README.md, "Wills and sessions of a proxy that died").
//
// Every round (`poll`, every mqttProxyWillTakeoverIntervalSeconds) the liveness lease of each
// other proxy named as owner by a stored will or session record is tried (LivenessLeases::try_take);
// the broker refuses it while that proxy lives and gives it to exactly one proxy once it is gone:
// the heir, which then
//  - rewrites that proxy's wills as its own, each due after its delay counted from now (one
//    already counting keeps its due time; a client whose session does not outlive its connection:
//    now), and hands them to its router once stored (SessionRouter::adopt_wills);
//  - reads the sessions table up to now and hands that proxy's session records to its router
//    (SessionRouter::adopt_sessions), which counts those connected there as disconnected now,
//    rewrites them as its own and expires each after its expiry interval unless its client comes
//    back. A record whose client was announced since by another proxy is left alone: that
//    proxy holds the client now.
//
// Threading: the Client's thread.
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "cluster/cluster_session_store.hpp"
#include "cluster/connection_events.hpp"
#include "cluster/liveness_lease.hpp"
#include "core/clock.hpp"

namespace mop::cluster {

class Heir {
public:
  // Where the taken-over wills and sessions go (the proxy's router).
  struct Adopters {
    std::function<void(std::vector<service::WillRecord>)> wills;       // SessionRouter::adopt_wills
    std::function<void(std::vector<service::SessionRecord>)> sessions;  // SessionRouter::adopt_sessions
  };

  // `wait_after_loss`: how long after a loss of the cluster (or of its own lease) this proxy
  // tries no other proxy's lease (poll).
  Heir(ClusterSessionStore& store, LivenessLeases& leases, const ConnectionEvents& events, const Clock& clock,
       std::chrono::milliseconds wait_after_loss, Adopters adopt);
  ~Heir();
  Heir(const Heir&) = delete;
  Heir& operator=(const Heir&) = delete;

  // One round: the lease of every other proxy that owns a stored will or session is tried, and a
  // taken one's wills and sessions are taken over. None while this proxy is cut off from the
  // cluster or without its own lease (`up` false), nor for `wait_after_loss` after that: a broker
  // restart frees every lease at once, and each live proxy takes its own again only when its
  // producer reconnects, with backoff; without the wait the first proxy back took the others'.
  void poll(bool up);
  // No adopter runs after it.
  void close();

  // The wills of a proxy that died, due times set as of `wall_ms`: one already due keeps its time;
  // one of a client connected there goes at the earlier of its delay and its session's end
  // (`expiry_of`: the session's expiry interval, none: no session, which ends at once).
  static std::vector<service::WillRecord> with_due_times(
      std::vector<service::WillRecord> wills, const std::function<std::optional<std::uint32_t>(const std::string&)>& expiry_of,
      std::uint64_t wall_ms);
  // The session records of the proxy `dead` that are still its to leave: those whose client was
  // last announced by `dead`, or by nobody since this proxy started (`last_proxy`: "").
  static std::vector<service::SessionRecord> still_left(std::vector<service::SessionRecord> records,
                                                        const std::string& dead,
                                                        const std::function<std::string(const std::string&)>& last_proxy);

private:
  void take_over(const std::string& dead);
  void take_wills(const std::string& dead);
  void take_sessions(const std::string& dead);

  ClusterSessionStore& store_;
  LivenessLeases& leases_;
  const ConnectionEvents& events_;
  const Clock& clock_;
  Adopters adopt_;
  const std::chrono::milliseconds wait_after_loss_;
  std::optional<TimePoint> waits_until_;  // set while cut off: no lease tried before it
  std::uint64_t losses_ = 0;  // polls that found the cluster lost: a try started before one is void
  std::set<std::string> adopting_;        // proxies whose wills are being rewritten here
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

}  // namespace mop::cluster
