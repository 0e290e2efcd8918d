#include "broker/retained_store.hpp"

namespace mop::broker {

void RetainedStore::set(const service::TopicName& topic, MessagePtr message) {
  const auto ns = topic.namespace_name();
  if (!message || message->payload.empty()) {
    const auto it = by_namespace_.find(ns);
    if (it == by_namespace_.end()) return;
    size_ -= it->second.erase(topic);
    if (it->second.empty()) by_namespace_.erase(it);
    return;
  }
  auto [pos, inserted] = by_namespace_[ns].insert_or_assign(topic, std::move(message));
  (void)pos;
  if (inserted) ++size_;
}

MessagePtr RetainedStore::get(const service::TopicName& topic) const {
  const auto ns = by_namespace_.find(topic.namespace_name());
  if (ns == by_namespace_.end()) return nullptr;
  const auto it = ns->second.find(topic);
  return it == ns->second.end() ? nullptr : it->second;
}

std::vector<std::pair<service::TopicName, MessagePtr>> RetainedStore::match(
    const service::NamespaceName& ns, const std::function<bool(const service::TopicName&)>& match) const {
  std::vector<std::pair<service::TopicName, MessagePtr>> out;
  const auto it = by_namespace_.find(ns);
  if (it == by_namespace_.end()) return out;
  for (const auto& [topic, message] : it->second) {
    if (!match || match(topic)) out.emplace_back(topic, message);
  }
  return out;
}

}  // namespace mop::broker
