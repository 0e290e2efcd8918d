#include "cluster/heir.hpp"

#include <algorithm>

#include "cluster/cluster_log.hpp"

namespace mop::cluster {

Heir::Heir(ClusterSessionStore& store, LivenessLeases& leases, const ConnectionEvents& events, const Clock& clock,
           std::chrono::milliseconds wait_after_loss, Adopters adopt)
    : store_(store),
      leases_(leases),
      events_(events),
      clock_(clock),
      adopt_(std::move(adopt)),
      wait_after_loss_(wait_after_loss) {}

Heir::~Heir() { *alive_ = false; }

void Heir::close() { *alive_ = false; }

void Heir::poll(bool up) {
  const auto now = clock_.now();
  if (!up) {
    waits_until_ = now + wait_after_loss_;
    ++losses_;
    return;
  }
  if (waits_until_ && now < *waits_until_) return;
  for (const auto& owner : store_.others()) {
    if (adopting_.contains(owner)) continue;
    leases_.try_take(owner, [this, alive = alive_, owner, tried_before = losses_](bool taken) {
      if (!*alive || !taken) return;
      // A try that was under way when the cluster was lost completes once the client is back,
      // and may be the first producer on the lease of a proxy still reconnecting: not an heir's.
      if (losses_ != tried_before || (waits_until_ && clock_.now() < *waits_until_)) {
        leases_.release(owner);
        return;
      }
      take_over(owner);
    });
  }
}

void Heir::take_over(const std::string& dead) {
  take_wills(dead);
  take_sessions(dead);
}

std::vector<service::WillRecord> Heir::with_due_times(
    std::vector<service::WillRecord> wills, const std::function<std::optional<std::uint32_t>(const std::string&)>& expiry_of,
    std::uint64_t wall_ms) {
  for (auto& w : wills) {
    if (w.due_at_ms != 0) continue;  // its client had disconnected: its delay was running
    // Its client was connected when the proxy died: the will goes at the earlier of its delay and
    // its session's end, counted from now (as handle_close decides for a connection that ends).
    const std::uint32_t delay = std::min(w.delay_s, expiry_of(w.client_id).value_or(0));
    w.due_at_ms = wall_ms + std::uint64_t{delay} * 1000;
  }
  return wills;
}

std::vector<service::SessionRecord> Heir::still_left(std::vector<service::SessionRecord> records,
                                                     const std::string& dead,
                                                     const std::function<std::string(const std::string&)>& last_proxy) {
  std::erase_if(records, [&](const service::SessionRecord& r) {
    const std::string last = last_proxy(r.client_id);
    return !last.empty() && last != dead;
  });
  return records;
}

void Heir::take_wills(const std::string& dead) {
  auto found = store_.wills_of_others();
  auto it = found.find(dead);
  if (it == found.end()) return;
  logger()->warn("proxy {} is gone (its liveness lease was free): taking over its {} will messages", dead,
                 it->second.size());
  auto wills = with_due_times(
      std::move(it->second),
      [this](const std::string& id) -> std::optional<std::uint32_t> {
        auto s = store_.find_session(id);
        if (!s) return std::nullopt;
        return s->expiry_interval_s;
      },
      clock_.wall_ms());
  adopting_.insert(dead);
  auto rewritten = std::make_shared<std::vector<service::WillRecord>>();
  auto remaining = std::make_shared<std::size_t>(wills.size());
  for (auto& w : wills) {
    store_.put_will(w, [this, alive = alive_, dead, rewritten, remaining, w](Result<void, Error> r) {
      if (!*alive) return;
      if (r.ok()) rewritten->push_back(w);  // a failed rewrite stays the dead proxy's (logged)
      if (--*remaining > 0) return;
      adopting_.erase(dead);
      if (adopt_.wills) adopt_.wills(std::move(*rewritten));
    });
  }
}

void Heir::take_sessions(const std::string& dead) {
  // Read up to now first: a client that came back elsewhere before has its record rewritten as
  // that proxy's, or is announced there.
  store_.sync_sessions([this, alive = alive_, dead](Result<void, Error> r) {
    if (!*alive) return;
    if (!r.ok()) {
      logger()->warn("the sessions of proxy {} wait for its next takeover: {}", dead, r.error().to_string());
      return;
    }
    auto left = still_left(store_.sessions_of(dead), dead, [this](const std::string& id) { return events_.last_proxy(id); });
    if (left.empty()) return;
    logger()->warn("proxy {} is gone (its liveness lease was free): taking over its {} sessions", dead, left.size());
    if (adopt_.sessions) adopt_.sessions(std::move(left));
  });
}

}  // namespace mop::cluster
