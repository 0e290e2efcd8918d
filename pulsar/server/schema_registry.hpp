#pragma once
// Topic schemas of the whole server, opaque to us (the Schema protobuf as the client sent it):
// the first schema a topic gets is kept, version 0, no compatibility checks. They live in the
// service::MetadataStore only: each request reads its topic's schema from there (get_schema), and
// a new one is stored there before anyone is told its version. In memory are only the topics
// with a read or a write under way (requests for one topic meanwhile wait for it and share its
// outcome), so memory does not grow with the number of topics that ever had a schema.
// Runs on the service's thread.
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <system_error>
#include <unordered_map>
#include <vector>

#include "pulsar/codec/codec.hpp"
#include "service/metadata_store.hpp"

namespace mop::pulsar::server {

class SchemaRegistry {
public:
  struct StoredSchema {
    proto::Schema schema;
    std::uint64_t version = 0;
  };
  // The outcome of a request: an error (the store could not be read or written), or the topic's
  // schema (nullptr: it has none), valid during the call only.
  using Answer = std::function<void(std::error_code, const StoredSchema*)>;

  // Schemas are read from and written to `store` (which must outlive this).
  explicit SchemaRegistry(service::MetadataStore& store) : store_(store) {}

  // The topic's schema as stored; one being stored is answered once it is (a failed write: none).
  // A stored record of an unknown type is logged and taken as none (the next schema replaces it).
  void find(const service::TopicName& topic, Answer done);
  // The topic's schema, or `schema` as its first one, stored in the store: `done` gets it once
  // durable (with its version; never nullptr without an error). On a failed write `done` gets the
  // error and the topic still has no schema.
  void get_or_create(const service::TopicName& topic, const proto::Schema& schema, Answer done);

  // Topics with a read or a write under way: all the registry keeps in memory.
  std::size_t pending() const { return pending_.size(); }

private:
  struct Waiter {
    std::optional<proto::Schema> create;  // get_or_create's schema; none for find
    Answer done;
  };
  struct Pending {
    std::vector<Waiter> waiters;
    bool writing = false;
    StoredSchema written;  // while writing
  };
  void read(const std::string& name);
  void on_read(const std::string& name, Result<std::optional<service::SchemaRecord>, Error> r);
  void write(const std::string& name, Pending& p, const proto::Schema& schema);
  // Answers every waiter of `name` and forgets the topic.
  void finish(const std::string& name, std::error_code ec, const StoredSchema* schema);

  service::MetadataStore& store_;
  // Store completions that run after this registry is gone (a shutdown) do nothing.
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
  std::unordered_map<std::string, Pending> pending_;
};

}  // namespace mop::pulsar::server
