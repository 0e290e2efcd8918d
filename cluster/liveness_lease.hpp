#pragma once
// LivenessLeases: which proxies of a cluster are alive, told by the Pulsar broker.
//
// Each proxy holds its own lease while it runs: a producer with access mode Exclusive on
// `mqtt-lease-{instance}` in the system namespace. The broker admits one exclusive producer per
// topic and drops it when the proxy's connection ends (at once when the process is killed: its
// kernel closes the socket; after the broker's keep-alive, about a minute, for a dead host or a
// partitioned proxy). Another proxy that creates an exclusive producer on that topic is refused
// while the owner lives, and gets it once the owner is gone: exactly one proxy does, which
// makes it the dead proxy's heir (cluster/README.md, "Wills and sessions of a proxy that died").
//
// A taken lease is held for kTakenLeaseHold and then closed: a proxy that was only cut off and
// comes back within that time finds its lease taken when its producer reconnects (the broker
// refuses it: ProducerFenced), and is told through `lost` (split brain: the proxy then closes its
// MQTT connections). The proxy has no admin API, so it does not delete the lease topics: the
// broker's deletion of inactive topics (Pulsar's brokerDeleteInactiveTopicsEnabled, on by
// default) removes them once nobody produces on them.
//
// Threading: the Client's thread; callbacks come from the client's posted callbacks.
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <string>

#include "core/result.hpp"
#include "pulsar/client/client.hpp"

namespace mop::cluster {

class LivenessLeases {
public:
  static constexpr std::chrono::seconds kTakenLeaseHold{120};

  // `lost` runs when this proxy's own lease was refused to it on a reconnection (another proxy
  // took it): every client it serves may have had its will published by the heir.
  LivenessLeases(pulsar::client::Client& client, const std::string& system_namespace, std::string instance,
                 std::function<void(const Error&)> lost);
  ~LivenessLeases();
  LivenessLeases(const LivenessLeases&) = delete;
  LivenessLeases& operator=(const LivenessLeases&) = delete;

  // Takes this proxy's own lease; `done` once the broker admitted it, or with the error.
  void open(std::function<void(Result<void, Error>)> done);
  // Whether this proxy holds its own lease now (its producer connected).
  bool held() const { return own_ && own_->connected(); }
  // After `lost`: tries to take the own lease again (a no-op while held or being taken).
  void take_own_again();
  // Tries to take the lease of the proxy `instance`: `done(true)` if this proxy got it (the owner
  // is gone and no other proxy took it first), `done(false)` if the broker refused it or could
  // not be asked. One attempt per instance at a time (a second call meanwhile: false).
  void try_take(const std::string& instance, std::function<void(bool taken)> done);
  // Closes the taken leases held for kTakenLeaseHold or longer.
  void release_old();
  // Closes the taken lease of `instance` now (one taken by mistake: Heir::poll).
  void release(const std::string& instance);
  // Closes every lease; no callback runs after it.
  void close();

  const std::string& own_topic() const { return own_topic_; }

private:
  std::string topic_of(const std::string& instance) const;
  void create_own(std::function<void(Result<void, Error>)> done);

  pulsar::client::Client& client_;
  std::string namespace_;
  std::string instance_;
  std::string own_topic_;
  std::function<void(const Error&)> lost_;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
  std::shared_ptr<pulsar::client::Producer> own_;
  bool taking_own_ = false;
  struct Taken {
    std::shared_ptr<pulsar::client::Producer> producer;  // null while being taken
    std::chrono::steady_clock::time_point since;
  };
  std::map<std::string, Taken> taken_;
};

}  // namespace mop::cluster
