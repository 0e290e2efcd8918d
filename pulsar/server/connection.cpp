#include "pulsar/server/connection.hpp"

#include <algorithm>
#include <limits>

#include <fmt/format.h>

#include "pulsar/codec/batch.hpp"
#include "pulsar/codec/compression.hpp"
#include "pulsar/codec/message_id.hpp"
#include "pulsar/server/log.hpp"

namespace mop::pulsar::server {

namespace {

using Type = proto::BaseCommand::Type;

service::MessageId to_service(const proto::MessageIdData& d) {
  // Our entries are never batches (SEND unpacks them), so the batch index is not a position.
  return {d.ledgerid(), d.entryid(), -1};
}

void to_wire(service::MessageId id, proto::MessageIdData& d) {
  d.set_ledgerid(id.ledger);
  d.set_entryid(id.entry);
  if (id.batch >= 0) d.set_batch_index(id.batch);
}

service::SubscriptionType to_service(proto::CommandSubscribe::SubType t) {
  switch (t) {
    case proto::CommandSubscribe::Exclusive: return service::SubscriptionType::exclusive;
    case proto::CommandSubscribe::Failover: return service::SubscriptionType::failover;
    case proto::CommandSubscribe::Key_Shared: return service::SubscriptionType::key_shared;
    case proto::CommandSubscribe::Shared: break;
  }
  return service::SubscriptionType::shared;
}

std::string schema_version_bytes(std::uint64_t v) {
  // Pulsar's schema version is a big-endian long.
  std::string out(8, '\0');
  for (int i = 7; i >= 0; --i, v >>= 8) out[static_cast<std::size_t>(i)] = static_cast<char>(v & 0xff);
  return out;
}

}  // namespace

proto::ServerError to_server_error(std::error_code ec) {
  if (ec.category() == service::service_category()) {
    switch (static_cast<service::ServiceError>(ec.value())) {
      case service::ServiceError::consumer_busy: return proto::ConsumerBusy;
      case service::ServiceError::subscription_not_found: return proto::SubscriptionNotFound;
      case service::ServiceError::topic_not_found: return proto::TopicNotFound;
      case service::ServiceError::persistence_error: return proto::PersistenceError;
      case service::ServiceError::service_not_ready: return proto::ServiceNotReady;
      case service::ServiceError::backlog_quota_exceeded: return proto::ProducerBlockedQuotaExceededException;
    }
  }
  if (ec == make_error_code(CodecError::checksum_mismatch)) return proto::ChecksumError;
  if (ec.category() == codec_category()) return proto::UnknownError;
  return proto::PersistenceError;  // storage failures reach us as generic error codes
}

// A Pulsar consumer: one service receiver (its own permits, as FLOW is per consumer) attached to
// one subscription.
class Connection::Consumer final : public service::ReceiverListener {
public:
  Consumer(Connection& c, std::uint64_t id, service::TopicName topic, std::string sub)
      : conn(c), consumer_id(id), topic(std::move(topic)), subscription(std::move(sub)) {}
  void on_message(const service::TopicName&, const std::string&, service::MessageId id,
                  const service::MessagePtr& message, std::uint32_t redelivery_count) override {
    conn.deliver(*this, id, message, redelivery_count);
  }
  void on_subscription_removed(const service::TopicName&, const std::string&) override {
    conn.close_consumer_from_server(consumer_id);  // destroys this object: nothing after it
  }
  Connection& conn;
  std::uint64_t consumer_id;
  service::TopicName topic;
  std::string subscription;
  service::ReceiverId receiver = 0;
};

Connection::Connection(PulsarServer& server, Transport& transport, std::string peer)
    : server_(server),
      service_(server.service()),
      transport_(transport),
      peer_(std::move(peer)),
      reader_(server.options().max_message_size + kFramePadding),
      last_received_(server.clock().now()),
      next_check_(last_received_ + server.options().keep_alive) {
  serial_ = server_.attach(*this);
}

Connection::~Connection() {
  release();
  server_.detach(serial_);
}

const std::array<Connection::Handler, 69>& Connection::handlers() {
  static const auto table = [] {
    std::array<Handler, 69> t{};
    t[proto::BaseCommand::CONNECT] = &Connection::on_connect;
    t[proto::BaseCommand::AUTH_RESPONSE] = &Connection::on_auth_response;
    t[proto::BaseCommand::PING] = &Connection::on_ping;
    t[proto::BaseCommand::PONG] = &Connection::on_pong;
    t[proto::BaseCommand::PARTITIONED_METADATA] = &Connection::on_partitioned_metadata;
    t[proto::BaseCommand::LOOKUP] = &Connection::on_lookup;
    t[proto::BaseCommand::PRODUCER] = &Connection::on_producer;
    t[proto::BaseCommand::SEND] = &Connection::on_send;
    t[proto::BaseCommand::CLOSE_PRODUCER] = &Connection::on_close_producer;
    t[proto::BaseCommand::SUBSCRIBE] = &Connection::on_subscribe;
    t[proto::BaseCommand::FLOW] = &Connection::on_flow;
    t[proto::BaseCommand::ACK] = &Connection::on_ack;
    t[proto::BaseCommand::REDELIVER_UNACKNOWLEDGED_MESSAGES] = &Connection::on_redeliver;
    t[proto::BaseCommand::UNSUBSCRIBE] = &Connection::on_unsubscribe;
    t[proto::BaseCommand::CLOSE_CONSUMER] = &Connection::on_close_consumer;
    t[proto::BaseCommand::GET_LAST_MESSAGE_ID] = &Connection::on_get_last_message_id;
    t[proto::BaseCommand::GET_SCHEMA] = &Connection::on_get_schema;
    t[proto::BaseCommand::GET_OR_CREATE_SCHEMA] = &Connection::on_get_or_create_schema;
    t[proto::BaseCommand::GET_TOPICS_OF_NAMESPACE] = &Connection::on_get_topics_of_namespace;
    t[proto::BaseCommand::SEEK] = &Connection::on_seek;
    return t;
  }();
  return table;
}

void Connection::on_bytes(std::span<const std::uint8_t> bytes) {
  if (closed_) return;
  last_received_ = server_.clock().now();
  reader_.feed(bytes);
  while (!closed_) {
    auto next = reader_.next();
    if (!next) {
      const auto ec = next.error();
      if (ec == make_error_code(CodecError::checksum_mismatch) &&
          reader_.command().type() == proto::BaseCommand::SEND && connected_) {
        // As Pulsar: the producer learns which message was corrupted and the connection stays.
        const auto& s = reader_.command().send();
        proto::BaseCommand c;
        c.set_type(proto::BaseCommand::SEND_ERROR);
        auto* e = c.mutable_send_error();
        e->set_producer_id(s.producer_id());
        e->set_sequence_id(s.sequence_id());
        e->set_error(proto::ChecksumError);
        e->set_message("Checksum failed on the broker");
        send(c);
        continue;
      }
      logger()->info("{}: closing: {}", peer_, ec.message());
      close("bad frame");
      return;
    }
    if (!next->has_value()) break;
    dispatch(**next);
  }
  if (!out_.empty()) transport_.output_ready();
}

void Connection::dispatch(const Frame& frame) {
  const auto type = frame.command->type();
  if (!connected_ && type != proto::BaseCommand::CONNECT &&
      !(auth_ && type == proto::BaseCommand::AUTH_RESPONSE)) {
    close(auth_ ? "command before authentication finished" : "command before CONNECT");
    return;
  }
  const auto& table = handlers();
  const auto index = static_cast<std::size_t>(type);
  if (index >= table.size() || table[index] == nullptr) {
    // Pulsar brokers close the connection on a command they do not handle (and clients close
    // on one they do not expect), so there is no generic ERROR reply for it.
    logger()->info("{}: unsupported command {}: closing", peer_, proto::BaseCommand::Type_Name(type));
    close("unsupported command");
    return;
  }
  (this->*table[index])(frame);
}

void Connection::on_tick() {
  if (closed_) return;
  const auto now = server_.clock().now();
  const auto interval = server_.options().keep_alive;
  if (now - last_received_ >= 2 * interval) {
    logger()->info("{}: silent for two keep-alive intervals: closing", peer_);
    close("keep-alive timeout");
    return;
  }
  if (connected_ && now - last_received_ >= interval) {
    proto::BaseCommand ping;
    ping.set_type(proto::BaseCommand::PING);
    ping.mutable_ping();
    send(ping);
    transport_.output_ready();
  }
  next_check_ = now + interval;
}

void Connection::on_closed() {
  if (closed_) return;
  closed_ = true;
  release();
}

void Connection::close(const char* why) {
  if (closed_) return;
  logger()->debug("{}: close: {}", peer_, why);
  closed_ = true;
  release();
  transport_.close_after_flush();
}

void Connection::release() {
  *alive_ = false;
  for (auto& [id, c] : consumers_) service_.close_receiver(c->receiver);
  consumers_.clear();
  auto producers = std::move(producers_);
  producers_.clear();
  for (const auto& [id, p] : producers) server_.producers().remove(p.topic, *this, id);
}

void Connection::send(const proto::BaseCommand& command) { encode_command(command, out_.text()); }

void Connection::send_error(std::uint64_t request_id, proto::ServerError error, const std::string& message) {
  proto::BaseCommand c;
  c.set_type(proto::BaseCommand::ERROR);
  auto* e = c.mutable_error();
  e->set_request_id(request_id);
  e->set_error(error);
  e->set_message(message);
  send(c);
}

void Connection::send_success(std::uint64_t request_id) {
  proto::BaseCommand c;
  c.set_type(proto::BaseCommand::SUCCESS);
  c.mutable_success()->set_request_id(request_id);
  send(c);
}

std::optional<service::TopicName> Connection::resolve(const std::string& topic) const {
  if (topic.find("://") != std::string::npos) return service::TopicName::parse(topic);
  const auto& o = server_.options();
  // Pulsar clients accept "x" (public/default/x) and "tenant/ns/x".
  const auto slashes = std::count(topic.begin(), topic.end(), '/');
  if (slashes == 0 && !topic.empty()) return service::TopicName::parse("persistent://" + o.default_tenant + "/" + o.default_namespace + "/" + topic);
  if (slashes == 2) return service::TopicName::parse("persistent://" + topic);
  return std::nullopt;
}

bool Connection::usable(const service::TopicName& topic) {
  // The partitions of a partitioned topic exist as soon as it does (Pulsar creates them with it).
  return server_.options().allow_auto_topic_creation || service_.topic_exists(topic) ||
         server_.partitioned().is_partition_of_partitioned(topic);
}

// --- connection ---

void Connection::on_connect(const Frame& f) {
  if (connected_ || auth_) {
    close("second CONNECT");
    return;
  }
  const auto& connect = f.command->connect();
  protocol_version_ = std::min(connect.protocol_version(), kMaxProtocolVersion);
  auto* authenticator = server_.options().authenticator;
  if (authenticator == nullptr) return send_connected();
  auth_ = authenticator->new_session();
  authenticated(auth_->on_connect(connect.auth_method_name(), connect.auth_data()));
}

void Connection::on_auth_response(const Frame& f) {
  if (!auth_) {
    close("AUTH_RESPONSE without a challenge");
    return;
  }
  const auto& r = f.command->authresponse();
  authenticated(auth_->on_response(r.response().auth_method_name(), r.response().auth_data()));
}

void Connection::authenticated(const AuthOutcome& outcome) {
  switch (outcome.kind) {
    case AuthOutcome::Kind::accept:
      auth_.reset();
      return send_connected();
    case AuthOutcome::Kind::challenge: {
      proto::BaseCommand c;
      c.set_type(proto::BaseCommand::AUTH_CHALLENGE);
      auto* ch = c.mutable_authchallenge();
      ch->set_server_version(server_.options().server_version);
      ch->set_protocol_version(protocol_version_);
      ch->mutable_challenge()->set_auth_method_name(server_.options().authenticator->method());
      ch->mutable_challenge()->set_auth_data(outcome.data);
      return send(c);
    }
    case AuthOutcome::Kind::reject:
      logger()->info("{}: authentication failed: {}", peer_, outcome.message);
      auth_.reset();
      send_error(static_cast<std::uint64_t>(-1), proto::AuthenticationError, outcome.message);
      close("authentication failed");
      return;
  }
}

void Connection::send_connected() {
  connected_ = true;
  proto::BaseCommand c;
  c.set_type(proto::BaseCommand::CONNECTED);
  auto* r = c.mutable_connected();
  r->set_server_version(server_.options().server_version);
  r->set_protocol_version(protocol_version_);
  r->set_max_message_size(static_cast<std::int32_t>(server_.options().max_message_size));
  send(c);
}

void Connection::on_ping(const Frame&) {
  proto::BaseCommand c;
  c.set_type(proto::BaseCommand::PONG);
  c.mutable_pong();
  send(c);
}

void Connection::on_pong(const Frame&) {}  // on_bytes already noted that the peer is alive

// --- lookup ---

void Connection::on_partitioned_metadata(const Frame& f) {
  const auto& q = f.command->partitionmetadata();
  proto::BaseCommand c;
  c.set_type(proto::BaseCommand::PARTITIONED_METADATA_RESPONSE);
  auto* r = c.mutable_partitionmetadataresponse();
  r->set_request_id(q.request_id());
  const auto topic = resolve(q.topic());
  if (!topic) {
    r->set_response(proto::CommandPartitionedTopicMetadataResponse::Failed);
    r->set_error(proto::InvalidTopicName);
    r->set_message("Invalid topic name: " + q.topic());
    return send(c);
  }
  // A known partitioned topic: its count. A topic that exists is non-partitioned (0), and so
  // is a partition's own name. A new one is created partitioned when auto-creation says so.
  const auto& o = server_.options();
  std::uint32_t n = server_.partitioned().partitions(*topic);
  const bool create = n == 0 && o.allow_auto_topic_creation && o.auto_create_partitioned &&
                      o.default_num_partitions > 0 && !service_.topic_exists(*topic) && !partition_of(*topic);
  if (create) n = o.default_num_partitions;
  // The answer waits until the count is stored (it must survive a restart), also when this
  // request finds a count whose creation is still being written.
  auto respond = [this, alive = std::weak_ptr<bool>(alive_), c, n](std::error_code ec) mutable {
    const auto a = alive.lock();
    if (!a || !*a) return;
    auto* r = c.mutable_partitionmetadataresponse();
    if (ec) {
      r->set_response(proto::CommandPartitionedTopicMetadataResponse::Failed);
      r->set_error(proto::PersistenceError);
      r->set_message("Cannot store the partitioned topic: " + ec.message());
    } else {
      r->set_response(proto::CommandPartitionedTopicMetadataResponse::Success);
      r->set_partitions(n);
    }
    send(c);
    transport_.output_ready();
  };
  if (create) {
    logger()->info("creating partitioned topic {} with {} partitions", topic->str(), n);
    return server_.partitioned().create(*topic, n, std::move(respond));
  }
  if (n == 0) {
    r->set_response(proto::CommandPartitionedTopicMetadataResponse::Success);
    r->set_partitions(0);
    return send(c);
  }
  server_.partitioned().when_stored(*topic, std::move(respond));
}

void Connection::on_lookup(const Frame& f) {
  const auto& q = f.command->lookuptopic();
  proto::BaseCommand c;
  c.set_type(proto::BaseCommand::LOOKUP_RESPONSE);
  auto* r = c.mutable_lookuptopicresponse();
  r->set_request_id(q.request_id());
  const auto topic = resolve(q.topic());
  if (!topic || !usable(*topic)) {
    r->set_response(proto::CommandLookupTopicResponse::Failed);
    r->set_error(topic ? proto::TopicNotFound : proto::InvalidTopicName);
    r->set_message((topic ? "Topic not found: " : "Invalid topic name: ") + q.topic());
  } else {
    // This broker owns every topic: the answer is always "connect here", authoritatively.
    r->set_response(proto::CommandLookupTopicResponse::Connect);
    r->set_brokerserviceurl(server_.options().service_url);
    r->set_authoritative(true);
  }
  send(c);
}

// --- producers ---

void Connection::on_producer(const Frame& f) {
  const auto& q = f.command->producer();
  if (const auto it = producers_.find(q.producer_id()); it != producers_.end()) {
    // A retried PRODUCER for a producer that already exists: same answer again.
    const auto* schema = server_.schemas().find(it->second.topic);
    return producer_success(q, it->second, it->second.ready,
                            q.has_schema() && schema != nullptr ? std::optional{schema->version} : std::nullopt);
  }
  const auto topic = resolve(q.topic());
  if (!topic) return send_error(q.request_id(), proto::InvalidTopicName, "Invalid topic name: " + q.topic());
  if (!usable(*topic)) return send_error(q.request_id(), proto::TopicNotFound, "Topic not found: " + q.topic());
  std::string name = q.has_producer_name() && !q.producer_name().empty() ? q.producer_name() : server_.next_producer_name();
  std::string why;
  const auto added = server_.producers().add(*topic, name, q.producer_access_mode(), *this, q.producer_id(),
                                          q.request_id(), why);
  if (added == ProducerRegistry::Added::busy) return send_error(q.request_id(), proto::ProducerBusy, why);
  if (added == ProducerRegistry::Added::fenced) return send_error(q.request_id(), proto::ProducerFenced, why);
  const bool ready = added == ProducerRegistry::Added::ready;
  const auto& p = producers_.emplace(q.producer_id(), Producer{*topic, std::move(name), ready}).first->second;
  if (!q.has_schema()) return producer_success(q, p, ready, std::nullopt);
  // The producer's schema becomes the topic's first one (stored before PRODUCER_SUCCESS), or the
  // topic's schema is named.
  server_.schemas().get_or_create(
      *topic, q.schema(),
      [this, alive = std::weak_ptr<bool>(alive_), q, ready](std::error_code ec, std::uint64_t version) {
        const auto a = alive.lock();
        if (!a || !*a) return;
        const auto it = producers_.find(q.producer_id());
        if (it == producers_.end()) return;  // closed meanwhile
        if (ec) {
          const auto topic = it->second.topic;
          producers_.erase(it);
          server_.producers().remove(topic, *this, q.producer_id());
          send_error(q.request_id(), proto::PersistenceError, "Cannot store the schema: " + ec.message());
        } else {
          producer_success(q, it->second, ready, version);
        }
        transport_.output_ready();
      });
}

void Connection::producer_success(const proto::CommandProducer& q, const Producer& p, bool ready,
                                  std::optional<std::uint64_t> schema_version) {
  proto::BaseCommand c;
  c.set_type(proto::BaseCommand::PRODUCER_SUCCESS);
  auto* r = c.mutable_producer_success();
  r->set_request_id(q.request_id());
  r->set_producer_name(p.name);
  // With deduplication the client resumes its numbering after what we stored.
  r->set_last_sequence_id(server_.options().deduplication ? server_.deduplication().producer(p.topic, p.name)->persisted : -1);
  if (!ready) r->set_producer_ready(false);
  if (q.producer_access_mode() != proto::Shared && ready) r->set_topic_epoch(server_.producers().epoch(p.topic));
  if (schema_version) r->set_schema_version(schema_version_bytes(*schema_version));
  send(c);
}

void Connection::producer_now_ready(std::uint64_t producer_id, std::uint64_t request_id, std::uint64_t epoch) {
  const auto it = producers_.find(producer_id);
  if (it == producers_.end() || closed_) return;
  it->second.ready = true;
  proto::BaseCommand c;
  c.set_type(proto::BaseCommand::PRODUCER_SUCCESS);
  auto* r = c.mutable_producer_success();
  r->set_request_id(request_id);
  r->set_producer_name(it->second.name);
  r->set_last_sequence_id(server_.options().deduplication ? server_.deduplication().producer(it->second.topic, it->second.name)->persisted
                                                          : -1);
  r->set_topic_epoch(epoch);
  r->set_producer_ready(true);
  send(c);
  transport_.output_ready();
}

void Connection::close_consumer_from_server(std::uint64_t consumer_id) {
  const auto it = consumers_.find(consumer_id);
  if (it == consumers_.end()) return;
  auto consumer = std::move(it->second);
  consumers_.erase(it);
  service_.close_receiver(consumer->receiver);
  if (closed_) return;
  logger()->info("{}: subscription {} of {} was deleted: closing consumer {}", peer_, consumer->subscription,
                 consumer->topic.str(), consumer_id);
  proto::BaseCommand c;
  c.set_type(proto::BaseCommand::CLOSE_CONSUMER);
  c.mutable_close_consumer()->set_consumer_id(consumer_id);
  c.mutable_close_consumer()->set_request_id(static_cast<std::uint64_t>(-1));  // no answer expected
  send(c);
  transport_.output_ready();
}

void Connection::server_shutdown() {
  if (closed_) return;
  for (const auto& [id, p] : producers_) {
    proto::BaseCommand c;
    c.set_type(proto::BaseCommand::CLOSE_PRODUCER);
    c.mutable_close_producer()->set_producer_id(id);
    c.mutable_close_producer()->set_request_id(static_cast<std::uint64_t>(-1));  // no answer expected
    send(c);
  }
  for (const auto& [id, consumer] : consumers_) {
    proto::BaseCommand c;
    c.set_type(proto::BaseCommand::CLOSE_CONSUMER);
    c.mutable_close_consumer()->set_consumer_id(id);
    c.mutable_close_consumer()->set_request_id(static_cast<std::uint64_t>(-1));
    send(c);
  }
  logger()->debug("{}: broker shutdown: closed {} producers and {} consumers", peer_, producers_.size(),
                  consumers_.size());
  close("broker shutdown");  // the consumers' unacknowledged messages go back to their subscriptions
}

void Connection::close_producer_from_server(std::uint64_t producer_id) {
  if (producers_.erase(producer_id) == 0 || closed_) return;
  proto::BaseCommand c;
  c.set_type(proto::BaseCommand::CLOSE_PRODUCER);
  c.mutable_close_producer()->set_producer_id(producer_id);
  c.mutable_close_producer()->set_request_id(static_cast<std::uint64_t>(-1));  // no answer expected
  send(c);
  transport_.output_ready();
}

void Connection::on_send(const Frame& f) {
  const auto& s = f.command->send();
  const auto it = producers_.find(s.producer_id());
  auto send_error = [&](proto::ServerError error, const std::string& why) {
    proto::BaseCommand c;
    c.set_type(proto::BaseCommand::SEND_ERROR);
    auto* e = c.mutable_send_error();
    e->set_producer_id(s.producer_id());
    e->set_sequence_id(s.sequence_id());
    e->set_error(error);
    e->set_message(why);
    send(c);
  };
  if (it == producers_.end()) {
    // Pulsar closes the connection here: a SEND for an unknown producer means the client's state
    // and ours disagree.
    close("SEND for an unknown producer");
    return;
  }
  if (!it->second.ready) return send_error(proto::NotAllowedError, "Producer is waiting for exclusive access");
  // Deduplication (brokerDeduplicationEnabled): a batch counts by its highest sequence id.
  const auto seq = static_cast<std::int64_t>(s.sequence_id());
  const auto last_seq = s.has_highest_sequence_id() && static_cast<std::int64_t>(s.highest_sequence_id()) > seq
                            ? static_cast<std::int64_t>(s.highest_sequence_id())
                            : seq;
  std::shared_ptr<Deduplication::Producer> dedup;
  if (server_.options().deduplication) {
    dedup = server_.deduplication().producer(it->second.topic, it->second.name);
    if (last_seq <= dedup->persisted) {
      // Stored before: the receipt again, with the id it got if we still know it (the last
      // kDedupRecent sequence ids), else (-1, -1) as Pulsar answers every duplicate.
      proto::BaseCommand c;
      c.set_type(proto::BaseCommand::SEND_RECEIPT);
      auto* r = c.mutable_send_receipt();
      r->set_producer_id(s.producer_id());
      r->set_sequence_id(s.sequence_id());
      if (s.has_highest_sequence_id()) r->set_highest_sequence_id(s.highest_sequence_id());
      if (const auto known = dedup->recent.find(seq); known != dedup->recent.end()) {
        to_wire(known->second, *r->mutable_message_id());
      } else {
        r->mutable_message_id()->set_ledgerid(static_cast<std::uint64_t>(-1));
        r->mutable_message_id()->set_entryid(static_cast<std::uint64_t>(-1));
      }
      logger()->debug("{}: duplicate sequence id {} from {} not stored again", peer_, seq, it->second.name);
      send(c);
      return;
    }
    if (last_seq <= dedup->pushed) {
      // A resend of a message still being stored: whether it will be stored is not known yet.
      return send_error(proto::PersistenceError, "A message with this sequence id is still being stored; retry");
    }
  }
  const auto& meta = *f.metadata;
  if (meta.has_chunk_id() || meta.encryption_keys_size() > 0) {
    return send_error(proto::NotAllowedError, "chunked and encrypted messages are not supported");
  }
  auto payload = uncompressed_payload(meta, f.payload, server_.options().max_message_size, scratch_);
  if (!payload) return send_error(proto::UnknownError, payload.error().message());

  // A batch is unpacked into one stored message per batch entry, so that MQTT subscribers and
  // Pulsar consumers alike see individual messages with their own properties; the receipt names
  // the first entry, from which the client numbers the rest of its batch.
  std::vector<std::shared_ptr<service::Message>> messages;
  auto base = [&] {
    auto m = std::make_shared<service::Message>();
    m->producer_name = meta.producer_name();
    m->publish_time_ms = meta.publish_time();
    m->mqtt_qos = 1;
    return m;
  };
  if (meta.has_num_messages_in_batch()) {
    BatchReader batch(*payload, meta.num_messages_in_batch());
    proto::SingleMessageMetadata single;
    std::span<const std::uint8_t> bytes;
    while (true) {
      auto more = batch.next(single, bytes);
      if (!more) return send_error(proto::UnknownError, more.error().message());
      if (!*more) break;
      auto m = base();
      m->payload = Payload::copy_of(bytes);
      for (const auto& kv : single.properties()) m->properties.emplace_back(kv.key(), kv.value());
      if (single.has_ordering_key()) m->ordering_key = single.ordering_key();
      else if (single.has_partition_key()) m->ordering_key = single.partition_key();
      messages.push_back(std::move(m));
    }
  } else {
    auto m = base();
    m->payload = Payload::copy_of(*payload);
    for (const auto& kv : meta.properties()) m->properties.emplace_back(kv.key(), kv.value());
    if (meta.has_ordering_key()) m->ordering_key = meta.ordering_key();
    else if (meta.has_partition_key()) m->ordering_key = meta.partition_key();
    messages.push_back(std::move(m));
  }
  if (messages.empty()) return send_error(proto::UnknownError, "empty batch");
  // The store records the producer's sequence id with the last entry, in the same write, so the
  // state survives a restart exactly as far as the entries do.
  if (dedup) messages.back()->dedup = service::DedupMark{it->second.name, last_seq};

  // Callbacks of one topic run in publish order, so receipts leave in SEND order per producer.
  struct Pending {
    std::size_t left;
    std::error_code error;
    std::optional<service::MessageId> first;
  };
  auto pending = std::make_shared<Pending>(Pending{messages.size(), {}, std::nullopt});
  if (dedup) dedup->pushed = last_seq;
  const auto producer_id = s.producer_id();
  const auto sequence_id = s.sequence_id();
  const auto highest = s.highest_sequence_id();
  for (auto& m : messages) {
    service_.publish(it->second.topic, std::move(m),
                     [this, alive = std::weak_ptr<bool>(alive_), pending, producer_id, sequence_id, highest,
                      dedup, seq, last_seq](std::error_code ec, service::MessageId id) {
                       if (ec && !pending->error) pending->error = ec;
                       if (!ec && !pending->first) pending->first = id;
                       if (--pending->left != 0) return;
                       if (dedup) {
                         if (pending->error) {
                           dedup->failed();  // a resend may store it
                         } else {
                           dedup->stored(seq, last_seq, *pending->first);
                         }
                       }
                       const auto a = alive.lock();
                       if (!a || !*a) return;
                       proto::BaseCommand c;
                       if (pending->error) {
                         c.set_type(proto::BaseCommand::SEND_ERROR);
                         auto* e = c.mutable_send_error();
                         e->set_producer_id(producer_id);
                         e->set_sequence_id(sequence_id);
                         e->set_error(to_server_error(pending->error));
                         e->set_message(pending->error.message());
                       } else {
                         c.set_type(proto::BaseCommand::SEND_RECEIPT);
                         auto* r = c.mutable_send_receipt();
                         r->set_producer_id(producer_id);
                         r->set_sequence_id(sequence_id);
                         if (highest != 0) r->set_highest_sequence_id(highest);
                         to_wire(*pending->first, *r->mutable_message_id());
                       }
                       send(c);
                       transport_.output_ready();
                     });
  }
}

void Connection::on_close_producer(const Frame& f) {
  const auto& q = f.command->close_producer();
  if (const auto it = producers_.find(q.producer_id()); it != producers_.end()) {
    const auto topic = it->second.topic;
    producers_.erase(it);
    server_.producers().remove(topic, *this, q.producer_id());
  }
  send_success(q.request_id());
}

// --- consumers ---

void Connection::on_subscribe(const Frame& f) {
  const auto& q = f.command->subscribe();
  if (consumers_.contains(q.consumer_id())) return send_success(q.request_id());  // a retry
  const auto topic = resolve(q.topic());
  if (!topic) return send_error(q.request_id(), proto::InvalidTopicName, "Invalid topic name: " + q.topic());
  if (!usable(*topic)) return send_error(q.request_id(), proto::TopicNotFound, "Topic not found: " + q.topic());
  service::SubscriptionOptions opts;
  opts.type = to_service(q.subtype());
  opts.durable = q.durable();
  opts.initial_position = q.initialposition() == proto::CommandSubscribe::Earliest
                              ? service::InitialPosition::earliest
                              : service::InitialPosition::latest;
  // A reader starts where its start id says; we can start at the ends only.
  if (q.has_start_message_id() && is_earliest(from_proto(q.start_message_id()))) {
    opts.initial_position = service::InitialPosition::earliest;
  }
  auto consumer = std::make_unique<Consumer>(*this, q.consumer_id(), *topic, q.subscription());
  consumer->receiver = service_.open_receiver(*consumer);
  if (const auto ec = service_.subscribe(*topic, q.subscription(), opts, consumer->receiver)) {
    service_.close_receiver(consumer->receiver);
    const auto error = to_server_error(ec);
    return send_error(q.request_id(), error,
                      error == proto::ConsumerBusy ? "Exclusive consumer is already connected" : ec.message());
  }
  consumers_.emplace(q.consumer_id(), std::move(consumer));
  send_success(q.request_id());
}

void Connection::on_flow(const Frame& f) {
  const auto& q = f.command->flow();
  if (const auto it = consumers_.find(q.consumer_id()); it != consumers_.end()) {
    service_.flow(it->second->receiver, q.messagepermits());
  }
}

void Connection::deliver(Consumer& consumer, service::MessageId id, const service::MessagePtr& message,
                         std::uint32_t redelivery_count) {
  if (closed_) return;
  proto::BaseCommand c;
  c.set_type(proto::BaseCommand::MESSAGE);
  auto* m = c.mutable_message();
  m->set_consumer_id(consumer.consumer_id);
  to_wire(id, *m->mutable_message_id());
  if (redelivery_count != 0) m->set_redelivery_count(redelivery_count);
  proto::MessageMetadata meta;
  meta.set_producer_name(message->producer_name);
  // We do not keep producers' sequence ids; the entry id is unique and increasing per topic.
  meta.set_sequence_id(id.entry);
  meta.set_publish_time(message->publish_time_ms);
  for (const auto& [k, v] : message->properties) {
    auto* kv = meta.add_properties();
    kv->set_key(k);
    kv->set_value(v);
  }
  if (message->ordering_key) {
    meta.set_partition_key(*message->ordering_key);
    meta.set_ordering_key(*message->ordering_key);
  }
  // No num_messages_in_batch: every stored entry is one message (see on_send).
  encode_payload_command_header(c, meta, message->payload.bytes(), out_.text(),
                                protocol_version_ >= proto::v6 ? Checksum::crc32c : Checksum::none);
  out_.append_payload(message->payload);
  transport_.output_ready();
}

void Connection::on_ack(const Frame& f) {
  const auto& q = f.command->ack();
  const auto it = consumers_.find(q.consumer_id());
  auto respond = [&](std::optional<proto::ServerError> error, const std::string& message) {
    if (!q.has_request_id()) return;
    proto::BaseCommand r;
    r.set_type(proto::BaseCommand::ACK_RESPONSE);
    auto* a = r.mutable_ackresponse();
    a->set_consumer_id(q.consumer_id());
    a->set_request_id(q.request_id());
    if (q.has_txnid_least_bits()) a->set_txnid_least_bits(q.txnid_least_bits());
    if (q.has_txnid_most_bits()) a->set_txnid_most_bits(q.txnid_most_bits());
    if (error) {
      a->set_error(*error);
      a->set_message(message);
    }
    send(r);
  };
  if (it == consumers_.end()) return respond(proto::ConsumerNotFound, "Consumer not found");
  if (q.has_txnid_least_bits() || q.has_txnid_most_bits()) {
    // Transactions are not supported: nothing is acknowledged, and the client is told so.
    logger()->info("{}: transactional ACK refused (transactions are not supported)", peer_);
    return respond(proto::NotAllowedError, "Transactions are not supported by this broker");
  }
  const bool cumulative = q.ack_type() == proto::CommandAck::Cumulative;
  for (const auto& id : q.message_id()) ack_one(*it->second, id, cumulative);
  respond(std::nullopt, {});
}

void Connection::ack_one(const Consumer& c, const proto::MessageIdData& d, bool cumulative) {
  const auto id = to_service(d);
  if (d.ack_set_size() == 0) {
    if (cumulative) {
      server_.partial_acks().forget_upto(c.topic, c.subscription, id);
      service_.ack_cumulative(c.topic, c.subscription, id);
    } else {
      server_.partial_acks().forget(c.topic, c.subscription, id);
      service_.ack(c.topic, c.subscription, id);
    }
    return;
  }
  // Batch-index acknowledgement: a set bit in ack_set is an index not yet acknowledged. The
  // sets received for one entry are merged (bitwise AND, as Pulsar's broker does), and the entry
  // is acknowledged once no index is left. Cumulative: everything before the entry is acked.
  if (cumulative && id.entry > 0) {
    const service::MessageId before{id.ledger, id.entry - 1, -1};
    server_.partial_acks().forget_upto(c.topic, c.subscription, before);
    service_.ack_cumulative(c.topic, c.subscription, before);
  }
  const auto batch_size = d.has_batch_size() ? std::optional{d.batch_size()} : std::nullopt;
  if (server_.partial_acks().merge(c.topic, c.subscription, id, words_of(d.ack_set()), batch_size)) {
    service_.ack(c.topic, c.subscription, id);
  }
}

void Connection::on_redeliver(const Frame& f) {
  const auto& q = f.command->redeliverunacknowledgedmessages();
  const auto it = consumers_.find(q.consumer_id());
  if (it == consumers_.end()) return;
  const Consumer& c = *it->second;
  if (q.message_ids_size() == 0) {
    service_.redeliver_unacked(c.topic, c.subscription, c.receiver);
    return;
  }
  // A negative ack (clients send it after their nack delay) or an ack timeout: only the listed
  // messages, whatever the subscription type, as Pulsar's broker does.
  std::vector<service::MessageId> ids;
  ids.reserve(static_cast<std::size_t>(q.message_ids_size()));
  for (const auto& d : q.message_ids()) ids.push_back(to_service(d));
  service_.redeliver(c.topic, c.subscription, c.receiver, ids);
}

void Connection::on_unsubscribe(const Frame& f) {
  const auto& q = f.command->unsubscribe();
  const auto it = consumers_.find(q.consumer_id());
  if (it == consumers_.end()) return send_error(q.request_id(), proto::ConsumerNotFound, "Consumer not found");
  service_.close_receiver(it->second->receiver);
  service_.unsubscribe(it->second->topic, it->second->subscription);
  server_.partial_acks().forget_upto(it->second->topic, it->second->subscription);
  consumers_.erase(it);
  send_success(q.request_id());
}

void Connection::on_close_consumer(const Frame& f) {
  const auto& q = f.command->close_consumer();
  if (const auto it = consumers_.find(q.consumer_id()); it != consumers_.end()) {
    service_.close_receiver(it->second->receiver);
    consumers_.erase(it);
  }
  send_success(q.request_id());
}

void Connection::on_get_last_message_id(const Frame& f) {
  const auto& q = f.command->getlastmessageid();
  const auto it = consumers_.find(q.consumer_id());
  if (it == consumers_.end()) return send_error(q.request_id(), proto::ConsumerNotFound, "Consumer not found");
  proto::BaseCommand c;
  c.set_type(proto::BaseCommand::GET_LAST_MESSAGE_ID_RESPONSE);
  auto* r = c.mutable_getlastmessageidresponse();
  r->set_request_id(q.request_id());
  if (const auto last = service_.last_message_id(it->second->topic)) {
    to_wire(*last, *r->mutable_last_message_id());
  } else {
    // An empty topic: Pulsar answers (ledger, -1), i.e. "before the first entry".
    r->mutable_last_message_id()->set_ledgerid(0);
    r->mutable_last_message_id()->set_entryid(static_cast<std::uint64_t>(-1));
  }
  send(c);
}

void Connection::on_get_schema(const Frame& f) {
  const auto& q = f.command->getschema();
  const auto topic = resolve(q.topic());
  // A schema still being stored is answered once it is (or as missing, if that failed).
  auto answer = [this, alive = std::weak_ptr<bool>(alive_), request_id = q.request_id(), topic] {
    const auto a = alive.lock();
    if (!a || !*a) return;
    proto::BaseCommand c;
    c.set_type(proto::BaseCommand::GET_SCHEMA_RESPONSE);
    auto* r = c.mutable_getschemaresponse();
    r->set_request_id(request_id);
    const auto* schema = topic ? server_.schemas().find(*topic) : nullptr;
    if (schema == nullptr) {
      r->set_error_code(proto::TopicNotFound);
      r->set_error_message("Topic not found or no-schema");
    } else {
      *r->mutable_schema() = schema->schema;
      r->set_schema_version(schema_version_bytes(schema->version));
    }
    send(c);
    transport_.output_ready();
  };
  if (!topic) return answer();
  server_.schemas().when_stored(*topic, std::move(answer));
}

void Connection::on_get_or_create_schema(const Frame& f) {
  const auto& q = f.command->getorcreateschema();
  proto::BaseCommand c;
  c.set_type(proto::BaseCommand::GET_OR_CREATE_SCHEMA_RESPONSE);
  auto* r = c.mutable_getorcreateschemaresponse();
  r->set_request_id(q.request_id());
  const auto topic = resolve(q.topic());
  if (!topic) {
    r->set_error_code(proto::InvalidTopicName);
    r->set_error_message("Invalid topic name: " + q.topic());
  } else {
    server_.schemas().get_or_create(*topic, q.schema(),
                                 [this, alive = std::weak_ptr<bool>(alive_), c](std::error_code ec, std::uint64_t v) mutable {
                                   const auto a = alive.lock();
                                   if (!a || !*a) return;
                                   auto* r = c.mutable_getorcreateschemaresponse();
                                   if (ec) {
                                     r->set_error_code(proto::PersistenceError);
                                     r->set_error_message("Cannot store the schema: " + ec.message());
                                   } else {
                                     r->set_schema_version(schema_version_bytes(v));
                                   }
                                   send(c);
                                   transport_.output_ready();
                                 });
    return;
  }
  send(c);
}

void Connection::on_get_topics_of_namespace(const Frame& f) {
  const auto& q = f.command->gettopicsofnamespace();
  const auto slash = q.namespace_().find('/');
  if (slash == std::string::npos) return send_error(q.request_id(), proto::MetadataError, "Invalid namespace");
  service::NamespaceName ns{q.namespace_().substr(0, slash), q.namespace_().substr(slash + 1)};
  proto::BaseCommand c;
  c.set_type(proto::BaseCommand::GET_TOPICS_OF_NAMESPACE_RESPONSE);
  auto* r = c.mutable_gettopicsofnamespaceresponse();
  r->set_request_id(q.request_id());
  for (const auto& t : service_.list_topics(ns)) {
    const bool want = q.mode() == proto::CommandGetTopicsOfNamespace::ALL ||
                      (q.mode() == proto::CommandGetTopicsOfNamespace::PERSISTENT) == t.persistent();
    if (want) r->add_topics(t.str());
  }
  send(c);
}

void Connection::on_seek(const Frame& f) {
  const auto& q = f.command->seek();
  const auto it = consumers_.find(q.consumer_id());
  if (it == consumers_.end()) return send_error(q.request_id(), proto::ConsumerNotFound, "Consumer not found");
  const Consumer& c = *it->second;
  server_.partial_acks().forget_upto(c.topic, c.subscription);  // a reset cursor forgets batch acks too
  if (q.has_message_id()) {
    const auto id = from_proto(q.message_id());
    // "Earliest" is (-1, -1) on the wire, numerically past everything: seek to the oldest entry.
    if (is_earliest(id)) {
      service_.seek_time(c.topic, c.subscription, 0);
    } else {
      service_.seek(c.topic, c.subscription, to_service(q.message_id()));
    }
  } else if (q.has_message_publish_time()) {
    service_.seek_time(c.topic, c.subscription, q.message_publish_time());
  } else {
    return send_error(q.request_id(), proto::MetadataError, "SEEK needs a message id or a publish time");
  }
  send_success(q.request_id());
}

}  // namespace mop::pulsar::server
