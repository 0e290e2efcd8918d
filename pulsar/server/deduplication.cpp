#include "pulsar/server/deduplication.hpp"

namespace mop::pulsar::server {

Deduplication::Deduplication(service::MessagingService& service) {
  for (const auto& r : service.load_producer_sequences()) {
    auto d = std::make_shared<Producer>();
    d->pushed = d->persisted = r.sequence_id;
    producers_.insert_or_assign(r.topic + '\n' + r.producer, std::move(d));
  }
}

const std::shared_ptr<Deduplication::Producer>& Deduplication::producer(const service::TopicName& topic,
                                                                        const std::string& producer_name) {
  auto& d = producers_[topic.str() + '\n' + producer_name];
  if (!d) d = std::make_shared<Producer>();
  return d;
}

}  // namespace mop::pulsar::server
