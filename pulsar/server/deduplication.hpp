#pragma once
// Deduplication state of the whole server (brokerDeduplicationEnabled): per topic and producer
// name, the highest sequence id accepted for storing, the highest stored, and the ids the most
// recent stored ones got (to answer a resend with them). The highest stored id is written with
// the entries (service::Message::dedup) and read back at construction; the recent ids are not.
// Runs on the service's thread.
#include <cstddef>
#include <cstdint>
#include <map>
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
    // The id each recently stored sequence id got, to answer a resend with it (bounded).
    std::map<std::int64_t, service::MessageId> recent;

    // A SEND (sequence id `seq`, a batch up to `last_seq`) was stored, its first entry at `id`.
    void stored(std::int64_t seq, std::int64_t last_seq, service::MessageId id);
    // A SEND failed to store: a resend may store it.
    void failed() { pushed = persisted; }
  };
  static constexpr std::size_t kRecent = 1000;

  // A restored producer resumes after what was stored; its recent receipts' ids are not kept.
  explicit Deduplication(service::MessagingService& service);

  // Shared with publish callbacks, which may run after the connection is gone.
  const std::shared_ptr<Producer>& producer(const service::TopicName& topic, const std::string& producer_name);

private:
  std::unordered_map<std::string, std::shared_ptr<Producer>> producers_;
};

}  // namespace mop::pulsar::server
