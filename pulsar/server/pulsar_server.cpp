#include "pulsar/server/pulsar_server.hpp"

#include <vector>

#include <fmt/format.h>

#include "pulsar/server/connection.hpp"

namespace mop::pulsar::server {

PulsarServer::PulsarServer(service::MessagingService& service, service::MetadataStore& metadata, Clock& clock,
                           ServerOptions options)
    : service_(service),
      clock_(clock),
      options_(std::move(options)),
      partitioned_(metadata),
      schemas_(metadata),
      deduplication_(service) {}

void PulsarServer::restore(const service::MetadataSnapshot& restored) {
  partitioned_.restore(restored.partitioned_topics);
}

void PulsarServer::for_each_producer(const std::function<void(const ProducerInfo&)>& fn) const {
  for (const auto& [serial, c] : connections_) c->for_each_producer(fn);
}

bool PulsarServer::deduplicates(const service::TopicName& topic) const {
  if (options_.namespace_deduplication) {
    if (const auto own = options_.namespace_deduplication(topic.namespace_name())) return *own;
  }
  return options_.deduplication;
}

std::string PulsarServer::next_producer_name() { return fmt::format("mop-producer-{}", producer_names_++); }

void PulsarServer::close_consumers_of(const service::TopicName& topic, const std::string& subscription,
                                      std::string_view why) {
  std::vector<Connection*> all;
  all.reserve(connections_.size());
  for (const auto& [serial, c] : connections_) all.push_back(c);
  for (auto* c : all) c->close_consumers_of(topic, subscription, why);
}

std::size_t PulsarServer::unload(const service::TopicName& topic) {
  std::vector<Connection*> all;
  all.reserve(connections_.size());
  for (const auto& [serial, c] : connections_) all.push_back(c);
  std::size_t closed = 0;
  for (auto* c : all) closed += c->unload(topic);
  return closed;
}

void PulsarServer::shutdown() {
  shutting_down_ = true;
  producers_.stop_promoting();
  // Closing a connection changes no registration (it unregisters when destroyed), but copy anyway.
  std::vector<Connection*> all;
  all.reserve(connections_.size());
  for (const auto& [serial, c] : connections_) all.push_back(c);
  for (auto* c : all) c->server_shutdown();
}

}  // namespace mop::pulsar::server
