#pragma once
// Deduplication state of the whole server (brokerDeduplicationEnabled): per topic and producer
// name, the highest sequence id accepted for storing and the highest stored. The highest stored
// id is written with the entries (service::Message::dedup) and read back at construction.
// Runs on the service's thread.
#include <algorithm>
#include <cstdint>
#include <memory>
#include <string>
#include <unordered_map>

#include "service/messaging_service.hpp"

namespace mop::pulsar::server {

class Deduplication {
public:
  // One producer name on one topic.
  struct Producer {
    std::int64_t pushed = -1;     // highest sequence id accepted for storing
    std::int64_t persisted = -1;  // highest sequence id stored

    // A SEND was stored; its highest sequence id (a batch's last) is `last_seq`.
    void stored(std::int64_t last_seq) { persisted = std::max(persisted, last_seq); }
    // A SEND failed to store: a resend may store it.
    void failed() { pushed = persisted; }
  };
  // A restored producer resumes after what was stored.
  explicit Deduplication(service::MessagingService& service);

  // Shared with publish callbacks, which may run after the connection is gone.
  const std::shared_ptr<Producer>& producer(const service::TopicName& topic, const std::string& producer_name);

private:
  std::unordered_map<std::string, std::shared_ptr<Producer>> producers_;
};

}  // namespace mop::pulsar::server
