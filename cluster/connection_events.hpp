#pragma once
// ConnectionEvents: one client id, one connection, across every proxy of a cluster.
//
// Each proxy announces every MQTT connection it admits on the topic `mqtt-connections` of the
// system namespace (key: the client id, value: the proxy's instance id) and reads that topic
// from the moment it started. The topic orders the announcements: when proxy A reads B's
// announcement of a client id that A announced earlier (a lower message id), or that A holds
// without having announced it lately (an offline persistent session), A releases the client
// (SessionRouter::release: its connection closed as a takeover, its session forgotten there).
// The later connection always wins, never the earlier one: A ignores an announcement that is
// older than its own, and if A's own announcement is still waiting for its receipt, A decides
// when the receipt tells it which came first. The router sends a connection's CONNACK only once
// its announcement is stored (announce's `done`), so the connection acknowledged later is the
// later one in the topic: the one that stays.
//
// Threading: the Client's thread.
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>

#include "core/result.hpp"
#include "pulsar/client/client.hpp"

namespace mop::cluster {

class ConnectionEvents {
public:
  using Release = std::function<void(const std::string& client_id)>;
  // `instance` names this proxy (unique per process); `release` is called for each client id
  // that connected to another proxy after it connected here.
  ConnectionEvents(pulsar::client::Client& client, const std::string& system_namespace, std::string instance,
                   Release release);
  ~ConnectionEvents();

  // Producer and reader; `done` once both are ready, or with the error.
  void open(std::function<void(Result<void, Error>)> done);
  // A client was admitted here: `done(true)` once the announcement is stored (before which the
  // client gets no CONNACK), `done(false)` when it cannot be (logged). A client released while
  // its announcement waited (a later one elsewhere) is released before `done(true)`.
  void announce(const std::string& client_id, std::function<void(bool stored)> done);
  void close();
  // Whether announcements can be sent now (the producer is connected).
  bool connected() const { return producer_ && producer_->connected(); }

  const std::string& topic() const { return topic_; }
  // The instance id of the proxy that announced the client id last, of the announcements read
  // since this proxy started ("" when none was): a takeover leaves alone the session of a client
  // that connected to another proxy since (app/proxy.cpp).
  std::string last_proxy(const std::string& client_id) const;

private:
  void on_event(const pulsar::client::Message& m);

  pulsar::client::Client& client_;
  std::string topic_;
  std::string instance_;
  Release release_;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
  std::shared_ptr<pulsar::client::Producer> producer_;
  std::shared_ptr<pulsar::client::Consumer> reader_;
  // Client ids announced here: which announcement of the id is the latest (`seq`), and its
  // message id once its receipt came, or none yet.
  struct Own {
    std::uint64_t seq = 0;
    std::optional<pulsar::client::MessageId> id;
  };
  std::map<std::string, Own> own_;
  std::uint64_t announcements_ = 0;
  // For announcements still waiting for their receipt: the newest other proxy's announcement read.
  std::map<std::string, pulsar::client::MessageId> foreign_while_pending_;
  // Every client id announced since the start, and by which proxy last.
  std::map<std::string, std::string> last_proxy_;
};

}  // namespace mop::cluster
