// The connection itself: framing (bytes in, frames to the dispatch table), the dispatch table,
// keep-alive (PING/PONG and the silence checks), closing, and what every handler uses (replies,
// topic names). The command handlers are in handlers/, one file per command family.
#include "pulsar/server/connection.hpp"

#include <algorithm>

#include "pulsar/server/handlers/handler.hpp"

namespace mop::pulsar::server {

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

Connection::Connection(PulsarServer& server, net::Stream& stream)
    : server_(server),
      service_(server.service()),
      stream_(stream),
      peer_(stream.peer()),
      reader_(server.options().max_message_size + kFramePadding),
      last_received_(server.clock().now()),
      next_check_(last_received_ + server.options().keep_alive),
      opened_(last_received_) {
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
    if (!next.ok()) {
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
  if (!out_.empty()) stream_.output_ready();
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
  if (!connected_ && now - opened_ >= interval) {
    // As Pulsar: a handshake not done by the first keep-alive check closes the connection, however
    // many bytes of it have trickled in meanwhile.
    logger()->info("{}: no CONNECT within the keep-alive interval: closing", peer_);
    close("handshake timeout");
    return;
  }
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
    stream_.output_ready();
  }
  if (connected_) check_credentials(now);
  if (closed_) return;
  next_check_ = now + interval;
  if (auth_expires_at_) next_check_ = std::min(next_check_, next_refresh_check_);
}

void Connection::on_ping(const Frame&) {
  proto::BaseCommand c;
  c.set_type(proto::BaseCommand::PONG);
  c.mutable_pong();
  send(c);
}

void Connection::on_pong(const Frame&) {}  // on_bytes already noted that the peer is alive

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
  stream_.close_after_flush();
}

void Connection::release() {
  *alive_ = false;
  for (auto& [id, c] : consumers_) service_.close_receiver(c->receiver);
  consumers_.clear();
  auto producers = std::move(producers_);
  producers_.clear();
  for (const auto& [id, p] : producers) server_.producers().remove(p.topic, *this, id);
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

void Connection::request_answered() {
  if (waiting_requests_-- == kMaxWaitingRequests && !closed_) stream_.input_released();
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

}  // namespace mop::pulsar::server
