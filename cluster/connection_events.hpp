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
// when the receipt tells it which came first.
//
// Threading: the Client's thread.
#include <functional>
#include <map>
#include <memory>
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
  // A client was admitted here.
  void announce(const std::string& client_id);
  void close();
  // Whether announcements can be sent now (the producer is connected).
  bool connected() const { return producer_ && producer_->connected(); }

  const std::string& topic() const { return topic_; }

private:
  void on_event(const pulsar::client::Message& m);

  pulsar::client::Client& client_;
  std::string topic_;
  std::string instance_;
  Release release_;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
  std::shared_ptr<pulsar::client::Producer> producer_;
  std::shared_ptr<pulsar::client::Consumer> reader_;
  // Client ids announced here: the id of the announcement once its receipt came, or none yet.
  std::map<std::string, std::optional<pulsar::client::MessageId>> own_;
  // For announcements still waiting for their receipt: the newest other proxy's announcement read.
  std::map<std::string, pulsar::client::MessageId> foreign_while_pending_;
};

}  // namespace mop::cluster
