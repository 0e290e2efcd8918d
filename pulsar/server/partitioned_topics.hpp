#pragma once
// Partitioned topics of the whole server: base name -> partition count, stored in the
// service::MetadataStore so that they survive a restart (handed back to restore()). A count is known as soon as
// it is created; who must answer only once it is durable waits with when_stored().
// Runs on the service's thread.
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <system_error>
#include <unordered_map>
#include <utility>
#include <vector>

#include "service/metadata_store.hpp"

namespace mop::pulsar::server {

class PartitionedTopics {
public:
  // Counts are written to `store` (which must outlive this).
  explicit PartitionedTopics(service::MetadataStore& store) : store_(store) {}
  // Takes the counts the store held at start.
  void restore(const std::vector<service::PartitionedTopicRecord>& records);

  // The partition count of `base`, 0 for a topic that is not partitioned.
  std::uint32_t partitions(const service::TopicName& base) const;
  // Creates it (known at once) and stores it; `done` runs once durable, or with the error (the
  // topic is then forgotten again).
  void create(const service::TopicName& base, std::uint32_t partitions, std::function<void(std::error_code)> done);
  // Sets the partition count of an existing partitioned topic (Pulsar only lets it grow: the
  // caller checks), known at once and stored; on error the previous count is back.
  void update(const service::TopicName& base, std::uint32_t partitions, std::function<void(std::error_code)> done);
  // Every partitioned topic (full base name, partitions), by name.
  std::vector<std::pair<std::string, std::uint32_t>> list() const;
  // `done` runs once the topic's partition count is durable: at once, or with the outcome of the
  // write still storing it.
  void when_stored(const service::TopicName& base, std::function<void(std::error_code)> done);
  // For "x-partition-N" of a partitioned topic "x" with more than N partitions: true.
  bool is_partition_of_partitioned(const service::TopicName& topic) const;

private:
  void store(const service::TopicName& base, std::uint32_t partitions, std::uint32_t before,
             std::function<void(std::error_code)> done);

  service::MetadataStore& store_;
  // Store completions that run after this registry is gone (a shutdown) do nothing.
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
  std::unordered_map<std::string, std::uint32_t> partitioned_;
  // Completions waiting for a count still being written, by base name.
  std::unordered_map<std::string, std::vector<std::function<void(std::error_code)>>> writes_;
};

// "persistent://t/n/x-partition-3" -> ("persistent://t/n/x", 3); nullopt for other names.
std::optional<std::pair<std::string, std::uint32_t>> partition_of(const service::TopicName& topic);

}  // namespace mop::pulsar::server
