#pragma once
// The producers of every topic, across connections, for access modes and name uniqueness
// (Pulsar's rules):
//   Shared            refused (busy) while an exclusive producer is there or waiting;
//   Exclusive         refused (fenced) while any producer is there;
//   WaitForExclusive  queued until the topic is free, then told through
//                     Connection::producer_now_ready;
//   ExclusiveWithFencing  closes every other producer (Connection::close_producer_from_server)
//                     and takes the topic.
// A second producer with a name already connected to the topic: busy. Each exclusive grant
// raises the topic's epoch. A topic is kept only while it has a producer, connected or waiting:
// its epoch goes with the last one (a reconnecting producer's epoch is not checked, so there is
// nothing left to fence), and memory does not grow with the topics ever produced to.
// Runs on the service's thread.
#include <cstdint>
#include <deque>
#include <string>
#include <unordered_map>
#include <vector>

#include "core/result.hpp"
#include "pulsar/codec/codec.hpp"
#include "service/messaging_service.hpp"

namespace mop::pulsar::server {

class Connection;

class ProducerRegistry {
public:
  enum class Added { ready, queued };
  // Why a producer is not let in: ProducerBusy or ProducerFenced, and the message for the client.
  struct Refused {
    proto::ServerError error;
    std::string why;
  };
  // Ready (it may send) or queued (WaitForExclusive), else refused.
  Result<Added, Refused> add(const service::TopicName& topic, const std::string& name, proto::ProducerAccessMode mode,
                             Connection& connection, std::uint64_t producer_id, std::uint64_t request_id);
  // A producer went away (closed, fenced, its connection closed); a waiting exclusive one may
  // now take the topic.
  void remove(const service::TopicName& topic, Connection& connection, std::uint64_t producer_id);
  // Raised each time an exclusive producer takes the topic; 0 again once it has no producer.
  std::uint64_t epoch(const service::TopicName& topic) const;
  // Producers of the topic, connected or waiting (the admin API refuses to delete a topic
  // that has some unless forced).
  std::size_t count(const service::TopicName& topic) const;
  // Broker shutdown: waiting exclusive producers are no longer given the topic.
  void stop_promoting() { promote_ = false; }
  // Topics with a producer, connected or waiting: all the registry keeps.
  std::size_t topics() const { return topics_.size(); }

private:
  struct Ref {
    Connection* connection;
    std::uint64_t producer_id;
    std::string name;
    std::uint64_t request_id = 0;
  };
  struct TopicProducers {
    std::vector<Ref> active;   // few per topic: linear scans are over a handful
    std::deque<Ref> waiting;   // WaitForExclusive, in arrival order
    bool exclusive = false;    // `active` holds one exclusive producer
    std::uint64_t epoch = 0;
  };
  std::unordered_map<std::string, TopicProducers> topics_;
  bool promote_ = true;
};

}  // namespace mop::pulsar::server
