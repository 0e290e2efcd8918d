#pragma once
// RetainedStore: the retained message of each topic (MQTT's retain flag), indexed by namespace
// so that a subscription matches only the topics of its own namespace. In memory today; the
// durable store comes with issue 4. Owned by the broker's thread.
#include <functional>
#include <map>
#include <utility>
#include <vector>

#include "broker/entry.hpp"

namespace mop::broker {

class RetainedStore {
public:
  // Stores or replaces the topic's retained message; a null or empty message clears it.
  void set(const service::TopicName& topic, MessagePtr message);
  MessagePtr get(const service::TopicName& topic) const;
  // Every retained message of `ns` whose topic satisfies `match`, in topic-name order.
  std::vector<std::pair<service::TopicName, MessagePtr>> match(
      const service::NamespaceName& ns, const std::function<bool(const service::TopicName&)>& match) const;
  std::size_t size() const { return size_; }

private:
  std::map<service::NamespaceName, std::map<service::TopicName, MessagePtr>> by_namespace_;
  std::size_t size_ = 0;
};

}  // namespace mop::broker
