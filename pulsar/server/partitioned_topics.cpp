#include "pulsar/server/partitioned_topics.hpp"

#include <algorithm>
#include <string_view>

#include "pulsar/server/log.hpp"

namespace mop::pulsar::server {

void PartitionedTopics::restore(const std::vector<service::PartitionedTopicRecord>& records) {
  for (const auto& p : records) partitioned_.insert_or_assign(p.topic, p.partitions);
}

std::uint32_t PartitionedTopics::partitions(const service::TopicName& base) const {
  const auto it = partitioned_.find(base.str());
  return it == partitioned_.end() ? 0 : it->second;
}

void PartitionedTopics::create(const service::TopicName& base, std::uint32_t partitions,
                               std::function<void(std::error_code)> done) {
  partitioned_.emplace(base.str(), partitions);
  store(base, partitions, 0, std::move(done));
}

void PartitionedTopics::update(const service::TopicName& base, std::uint32_t partitions,
                               std::function<void(std::error_code)> done) {
  const std::uint32_t before = this->partitions(base);
  partitioned_.insert_or_assign(base.str(), partitions);
  store(base, partitions, before, std::move(done));
}

void PartitionedTopics::store(const service::TopicName& base, std::uint32_t partitions, std::uint32_t before,
                              std::function<void(std::error_code)> done) {
  writes_[base.str()].push_back(std::move(done));
  store_.put_partitioned_topic({base.str(), partitions}, [this, alive = std::weak_ptr<bool>(alive_), name = base.str(), partitions,
                                                          before](Result<void, Error> r) {
    if (alive.expired()) return;  // the server is gone (shutdown) before the store answered
    const std::error_code ec = r.ok() ? std::error_code{} : r.error().code;
    if (ec) {
      logger()->error("storing partitioned topic {} failed: {}", name, r.error().to_string());
      const auto it = partitioned_.find(name);
      if (it != partitioned_.end() && it->second == partitions) {
        if (before == 0) {
          partitioned_.erase(it);
        } else {
          it->second = before;
        }
      }
    }
    const auto waiting = writes_.extract(name);
    if (waiting.empty()) return;
    for (const auto& d : waiting.mapped()) {
      if (d) d(ec);
    }
  });
}

void PartitionedTopics::when_stored(const service::TopicName& base, std::function<void(std::error_code)> done) {
  if (const auto it = writes_.find(base.str()); it != writes_.end()) {
    it->second.push_back(std::move(done));
    return;
  }
  done({});
}

std::vector<std::pair<std::string, std::uint32_t>> PartitionedTopics::list() const {
  std::vector<std::pair<std::string, std::uint32_t>> out(partitioned_.begin(), partitioned_.end());
  std::sort(out.begin(), out.end());
  return out;
}

bool PartitionedTopics::is_partition_of_partitioned(const service::TopicName& topic) const {
  const auto p = partition_of(topic);
  if (!p) return false;
  const auto it = partitioned_.find(p->first);
  return it != partitioned_.end() && p->second < it->second;
}

std::optional<std::pair<std::string, std::uint32_t>> partition_of(const service::TopicName& topic) {
  static constexpr std::string_view kSuffix = "-partition-";
  const auto& full = topic.str();
  const auto at = full.rfind(kSuffix);
  if (at == std::string::npos || at + kSuffix.size() >= full.size()) return std::nullopt;
  std::uint32_t index = 0;
  for (std::size_t i = at + kSuffix.size(); i < full.size(); ++i) {
    if (full[i] < '0' || full[i] > '9' || index > 100'000'000) return std::nullopt;
    index = index * 10 + static_cast<std::uint32_t>(full[i] - '0');
  }
  return std::pair{full.substr(0, at), index};
}

}  // namespace mop::pulsar::server
