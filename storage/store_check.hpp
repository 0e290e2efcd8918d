#pragma once
// Store check (`mop store check`): walks every record of a store through the same decoders the
// broker uses and reports what it found, naming each record that cannot be read. Reads only.
// Plain function; the store may be shared with other threads (reads are thread-safe).
#include <cstdint>
#include <string>
#include <vector>

#include "storage/store.hpp"

namespace mop::storage {

struct CheckReport {
  std::uint64_t topics = 0;
  std::uint64_t entries = 0;  // log entries decoded
  std::uint64_t entry_bytes = 0;
  std::uint64_t subscriptions = 0;
  std::uint64_t cursors = 0;
  std::uint64_t sessions = 0;
  std::uint64_t retained = 0;
  std::uint64_t wills = 0;
  std::uint64_t partitioned_topics = 0;
  std::uint64_t schemas = 0;
  std::uint64_t producer_sequences = 0;
  std::uint64_t permissions = 0;
  std::uint64_t tenants = 0;
  std::uint64_t namespaces = 0;
  // One line per problem, each naming the column family and key (or topic and entry) and the store.
  std::vector<std::string> problems;
  bool ok() const { return problems.empty(); }
};

CheckReport check_store(const Store& store);

}  // namespace mop::storage
