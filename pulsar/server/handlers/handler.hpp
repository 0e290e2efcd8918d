#pragma once
// What the command handler files (handlers/*.cpp, each defining some of Connection's on_* members)
// and connection.cpp share: the Consumer a SUBSCRIBE creates, message id and schema version
// conversions, the logger. Internal to pulsar/server.
#include <cstdint>
#include <string>

#include "pulsar/codec/message_id.hpp"
#include "pulsar/server/connection.hpp"
#include "pulsar/server/log.hpp"

namespace mop::pulsar::server {

// A Pulsar consumer: one service receiver (its own permits, as FLOW is per consumer) attached to
// one subscription.
class Connection::Consumer final : public service::ReceiverListener {
public:
  Consumer(Connection& c, std::uint64_t id, service::TopicName topic, std::string sub)
      : conn(c), consumer_id(id), topic(std::move(topic)), subscription(std::move(sub)) {}
  // Batch entries go out whole (one MESSAGE with num_messages_in_batch; the client unpacks).
  bool takes_batches() const override { return true; }
  void on_message(const service::TopicName&, const std::string&, service::MessageId id,
                  const service::MessagePtr& message, std::uint32_t redelivery_count) override {
    conn.deliver(*this, id, message, redelivery_count);
  }
  void on_subscription_removed(const service::TopicName&, const std::string&) override {
    conn.close_consumer_from_server(consumer_id, "was deleted");  // destroys this object: nothing after it
  }
  Connection& conn;
  std::uint64_t consumer_id;
  service::TopicName topic;
  std::string subscription;
  service::ReceiverId receiver = 0;
};

inline service::MessageId to_service(const proto::MessageIdData& d) {
  return {d.ledgerid(), d.entryid(), d.has_batch_index() ? d.batch_index() : -1};
}

inline void to_wire(service::MessageId id, proto::MessageIdData& d) {
  d.set_ledgerid(id.ledger);
  d.set_entryid(id.entry);
  if (id.batch >= 0) d.set_batch_index(id.batch);
}

inline std::string schema_version_bytes(std::uint64_t v) {
  // Pulsar's schema version is a big-endian long.
  std::string out(8, '\0');
  for (int i = 7; i >= 0; --i, v >>= 8) out[static_cast<std::size_t>(i)] = static_cast<char>(v & 0xff);
  return out;
}

}  // namespace mop::pulsar::server
