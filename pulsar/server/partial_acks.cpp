#include "pulsar/server/partial_acks.hpp"

#include <algorithm>
#include <limits>

#include "pulsar/codec/message_id.hpp"

namespace mop::pulsar::server {

bool PartialAcks::merge(const service::TopicName& topic, const std::string& subscription, service::MessageId id,
                        std::span<const std::int64_t> words, std::optional<std::int32_t> batch_size) {
  auto [pos, fresh] = acks_.try_emplace(Key{topic.str(), subscription, id.ledger, id.entry});
  if (fresh) {
    pos->second.assign(words.begin(), words.end());
  } else {
    ack_set_merge(pos->second, words);
  }
  const bool done = batch_size && *batch_size > 0
                        ? ack_set_all_acked(pos->second, *batch_size)
                        : std::all_of(pos->second.begin(), pos->second.end(), [](std::int64_t w) { return w == 0; });
  if (done) acks_.erase(pos);
  return done;
}

void PartialAcks::forget(const service::TopicName& topic, const std::string& subscription, service::MessageId id) {
  acks_.erase(Key{topic.str(), subscription, id.ledger, id.entry});
}

void PartialAcks::forget_upto(const service::TopicName& topic, const std::string& subscription,
                              std::optional<service::MessageId> upto) {
  constexpr auto kMax = std::numeric_limits<std::uint64_t>::max();
  const auto first = acks_.lower_bound(Key{topic.str(), subscription, 0, 0});
  const auto last =
      acks_.upper_bound(Key{topic.str(), subscription, upto ? upto->ledger : kMax, upto ? upto->entry : kMax});
  acks_.erase(first, last);
}

}  // namespace mop::pulsar::server
