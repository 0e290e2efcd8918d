#pragma once
// Batch-index acknowledgements (ack_set) of entries not yet fully acknowledged, per
// subscription, for the whole server: an entry is acknowledged in the service once every index
// is. The sets received for one entry are merged by bitwise AND, as Pulsar's broker does. In
// memory only. Runs on the service's thread.
#include <cstdint>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "service/messaging_service.hpp"

namespace mop::pulsar::server {

class PartialAcks {
public:
  // Merges `words` (a set bit: an index not yet acknowledged) into what the entry `id` of the
  // subscription has; true when no index is left, and the entry is forgotten. `batch_size` > 0
  // bounds the indexes that count.
  bool merge(const service::TopicName& topic, const std::string& subscription, service::MessageId id,
             std::span<const std::int64_t> words, std::optional<std::int32_t> batch_size);
  // Forgets the entry `id` of the subscription (it was acknowledged whole).
  void forget(const service::TopicName& topic, const std::string& subscription, service::MessageId id);
  // Forgets the partial acks of a subscription up to and including `upto` (all without one).
  void forget_upto(const service::TopicName& topic, const std::string& subscription,
                   std::optional<service::MessageId> upto = std::nullopt);

private:
  struct Key {
    std::string topic;
    std::string subscription;
    std::uint64_t ledger = 0;
    std::uint64_t entry = 0;
    auto operator<=>(const Key&) const = default;
  };
  std::map<Key, std::vector<std::int64_t>> acks_;
};

}  // namespace mop::pulsar::server
