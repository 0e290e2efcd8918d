#include "pulsar/server/producer_registry.hpp"

#include <algorithm>

#include <fmt/format.h>

#include "pulsar/server/connection.hpp"

namespace mop::pulsar::server {

Result<ProducerRegistry::Added, ProducerRegistry::Refused> ProducerRegistry::add(
    const service::TopicName& topic, const std::string& name, proto::ProducerAccessMode mode, Connection& connection,
    std::uint64_t producer_id, std::uint64_t request_id) {
  auto& tp = topics_[topic.str()];
  for (const auto& p : tp.active) {
    if (p.name == name) {
      return Refused{proto::ProducerBusy, fmt::format("Producer with name '{}' is already connected to topic", name)};
    }
  }
  Ref ref{&connection, producer_id, name, request_id};
  const auto exclusive_name = [&] { return tp.exclusive ? tp.active.front().name : tp.waiting.front().name; };
  switch (mode) {
    case proto::Shared:
      if (tp.exclusive || !tp.waiting.empty()) {
        return Refused{proto::ProducerBusy, "Topic has an existing exclusive producer: " + exclusive_name()};
      }
      tp.active.push_back(std::move(ref));
      return Added::ready;
    case proto::Exclusive:
      if (tp.exclusive || !tp.waiting.empty()) {
        return Refused{proto::ProducerFenced, "Topic has an existing exclusive producer: " + exclusive_name()};
      }
      if (!tp.active.empty()) {
        return Refused{proto::ProducerFenced, "Topic has existing shared producers"};
      }
      break;
    case proto::WaitForExclusive:
      if (tp.exclusive || !tp.active.empty() || !tp.waiting.empty()) {
        tp.waiting.push_back(std::move(ref));
        return Added::queued;
      }
      break;
    case proto::ExclusiveWithFencing: {
      // Every other producer is closed from our side; the clients see CLOSE_PRODUCER.
      auto others = std::move(tp.active);
      tp.active.clear();
      for (const auto& o : others) o.connection->close_producer_from_server(o.producer_id);
      break;
    }
  }
  tp.exclusive = true;
  ++tp.epoch;
  tp.active.push_back(std::move(ref));
  return Added::ready;
}

void ProducerRegistry::remove(const service::TopicName& topic, Connection& connection, std::uint64_t producer_id) {
  const auto it = topics_.find(topic.str());
  if (it == topics_.end()) return;
  auto& tp = it->second;
  const auto same = [&](const Ref& p) { return p.connection == &connection && p.producer_id == producer_id; };
  if (const auto a = std::find_if(tp.active.begin(), tp.active.end(), same); a != tp.active.end()) {
    tp.active.erase(a);
    if (tp.active.empty()) tp.exclusive = false;
  }
  if (const auto w = std::find_if(tp.waiting.begin(), tp.waiting.end(), same); w != tp.waiting.end()) tp.waiting.erase(w);
  if (tp.active.empty() && !tp.waiting.empty() && promote_) {
    // The topic is free: the first waiting exclusive producer takes it.
    tp.active.push_back(std::move(tp.waiting.front()));
    tp.waiting.pop_front();
    tp.exclusive = true;
    ++tp.epoch;
    const auto& next = tp.active.front();
    next.connection->producer_now_ready(next.producer_id, next.request_id, tp.epoch);
  }
  // No producer left: the topic's epoch can no longer matter to anyone (Connection::on_producer
  // does not compare a client's epoch with it), so the topic goes, with its epoch.
  if (tp.active.empty() && tp.waiting.empty()) topics_.erase(it);
}

std::uint64_t ProducerRegistry::epoch(const service::TopicName& topic) const {
  const auto it = topics_.find(topic.str());
  return it == topics_.end() ? 0 : it->second.epoch;
}

std::size_t ProducerRegistry::count(const service::TopicName& topic) const {
  const auto it = topics_.find(topic.str());
  return it == topics_.end() ? 0 : it->second.active.size() + it->second.waiting.size();
}

}  // namespace mop::pulsar::server
