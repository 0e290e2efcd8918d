// One physical connection to one broker: CONNECT/CONNECTED (with authentication and
// AUTH_CHALLENGE refresh), PING/PONG keep-alive, requests by id with operation timeouts, and the
// dispatch of producer and consumer frames to whoever registered the id.
#include <algorithm>

#include "pulsar/client/client_impl.hpp"

namespace mop::pulsar::client {

Error server_failure(const std::string& what, proto::ServerError e, const std::string& message) {
  return Error(server_error(e), what + ": " + proto::ServerError_Name(e) + (message.empty() ? "" : " (" + message + ")"));
}

Connection::Connection(Client::Impl& client, Endpoint physical, std::string logical_url, std::string proxy_to_broker_url)
    : client_(client),
      physical_(std::move(physical)),
      logical_url_(std::move(logical_url)),
      proxy_to_(std::move(proxy_to_broker_url)),
      key_(physical_.key() + (proxy_to_.empty() ? "" : "->" + proxy_to_)),
      reader_(client.config.max_frame_size) {}

Connection::~Connection() {
  if (link_) link_->close();
}

void Connection::open() {
  state_ = State::connecting;
  connect_deadline_ = client_.now() + client_.config.connect_timeout;
  client_.arm(connect_deadline_);
  link_ = client_.transport.open(physical_.host, physical_.port, *this);
}

void Connection::when_ready(std::function<void(Result<void, Error>)> cb) {
  if (state_ == State::ready) {
    client_.post([cb = std::move(cb)] { cb({}); });
  } else if (state_ == State::closed) {
    client_.post([cb = std::move(cb), key = key_] { cb(Error(ClientErrc::disconnected, "connection to " + key + " closed")); });
  } else {
    waiters_.push_back(std::move(cb));
  }
}

void Connection::on_connected(const std::string& error) {
  if (state_ != State::connecting) return;
  if (!error.empty()) {
    state_ = State::closed;
    fail_waiters(Error(ClientErrc::connect_failed, "connect to " + physical_.key() + ": " + error));
    client_.forget(*this);
    return;
  }
  state_ = State::handshaking;
  out_.Clear();
  out_.set_type(proto::BaseCommand::CONNECT);
  auto* c = out_.mutable_connect();
  c->set_client_version(client_.config.client_version);
  c->set_protocol_version(kMaxProtocolVersion);
  if (!client_.config.auth_method.empty()) {
    c->set_auth_method_name(client_.config.auth_method);
    if (client_.config.auth_data) c->set_auth_data(client_.config.auth_data());
  }
  if (!proxy_to_.empty()) c->set_proxy_to_broker_url(proxy_to_);
  c->mutable_feature_flags()->set_supports_auth_refresh(true);
  c->mutable_feature_flags()->set_supports_topic_watchers(true);
  send(out_);
}

void Connection::on_bytes(std::span<const std::uint8_t> bytes) {
  if (state_ == State::closed) return;
  last_received_ = client_.now();
  ping_outstanding_ = false;
  reader_.feed(bytes);
  auto self = shared_from_this();  // a handler may close us
  while (state_ != State::closed) {
    auto r = reader_.next();
    if (!r.ok()) {
      if (r.error() == CodecError::checksum_mismatch) continue;  // a corrupt MESSAGE: dropped
      close("bad frame from " + key_ + ": " + r.error().message());
      return;
    }
    if (!*r) return;
    handle(**r);
  }
}

void Connection::on_closed(const std::string& why) {
  if (state_ == State::closed) return;
  close("connection to " + key_ + " lost: " + why);
}

void Connection::close(const std::string& why) {
  if (state_ == State::closed) return;
  state_ = State::closed;
  auto self = shared_from_this();
  if (link_) link_->close();
  const Error e(ClientErrc::disconnected, why);
  fail_waiters(e);
  auto requests = std::move(requests_);
  requests_.clear();
  for (auto& [id, p] : requests) {
    client_.post([cb = std::move(p.cb), e] { cb(e); });
  }
  auto producers = std::move(producers_);
  auto consumers = std::move(consumers_);
  auto watchers = std::move(watchers_);
  producers_.clear();
  consumers_.clear();
  watchers_.clear();
  client_.forget(*this);
  for (auto& [id, u] : producers) u->on_disconnected();
  for (auto& [id, u] : consumers) u->on_disconnected();
  for (auto& [id, u] : watchers) u->on_disconnected();
}

void Connection::fail_waiters(const Error& e) {
  auto waiters = std::move(waiters_);
  waiters_.clear();
  for (auto& w : waiters) client_.post([w = std::move(w), e] { w(e); });
}

void Connection::send(const proto::BaseCommand& command) {
  std::string bytes;
  encode_command(command, bytes);
  send_raw(std::move(bytes));
}

void Connection::send_raw(std::string bytes) {
  if (state_ == State::closed || !link_) return;
  link_->write(std::move(bytes));
}

void Connection::request(std::uint64_t request_id, const proto::BaseCommand& command, RequestCallback cb) {
  if (state_ != State::ready) {
    client_.post([cb = std::move(cb), key = key_] {
      cb(Error(ClientErrc::disconnected, "connection to " + key + " is not open"));
    });
    return;
  }
  const auto deadline = client_.now() + client_.config.operation_timeout;
  requests_[request_id] = Pending{deadline, std::move(cb)};
  client_.arm(deadline);
  send(command);
}

void Connection::answer(std::uint64_t request_id, Result<const proto::BaseCommand*, Error> result) {
  auto it = requests_.find(request_id);
  if (it == requests_.end()) return;  // timed out already, or not ours
  auto cb = std::move(it->second.cb);
  requests_.erase(it);
  cb(std::move(result));  // from on_bytes: not inline from the request() call
}

void Connection::handle(const Frame& frame) {
  const auto& c = *frame.command;
  using T = proto::BaseCommand;
  if (state_ == State::handshaking) {
    if (c.type() == T::CONNECTED) {
      protocol_version_ = c.connected().protocol_version();
      checksum_ = protocol_version_ >= proto::v6 ? Checksum::crc32c : Checksum::none;
      if (c.connected().has_max_message_size() && c.connected().max_message_size() > 0) {
        max_message_size_ = static_cast<std::uint32_t>(c.connected().max_message_size());
      }
      topic_watchers_ = c.connected().feature_flags().supports_topic_watchers();
      state_ = State::ready;
      last_received_ = client_.now();
      client_.arm(next_deadline());
      auto waiters = std::move(waiters_);
      waiters_.clear();
      for (auto& w : waiters) client_.post([w = std::move(w)] { w({}); });
      return;
    }
    if (c.type() == T::ERROR) {
      const Error e = server_failure("CONNECT to " + key_ + " refused", c.error().error(), c.error().message());
      state_ = State::closed;
      if (link_) link_->close();
      fail_waiters(e);
      client_.forget(*this);
      return;
    }
    if (c.type() != T::AUTH_CHALLENGE && c.type() != T::PING) {
      close("unexpected " + T::Type_Name(c.type()) + " before CONNECTED from " + key_);
      return;
    }
  }
  switch (c.type()) {
    case T::PING:
      out_.Clear();
      out_.set_type(T::PONG);
      out_.mutable_pong();
      send(out_);
      return;
    case T::PONG:
      return;
    case T::AUTH_CHALLENGE: {
      // The broker wants fresh credentials (token refresh): answer with what the supplier gives now.
      out_.Clear();
      out_.set_type(T::AUTH_RESPONSE);
      auto* r = out_.mutable_authresponse();
      r->set_client_version(client_.config.client_version);
      r->set_protocol_version(kMaxProtocolVersion);
      auto* d = r->mutable_response();
      d->set_auth_method_name(client_.config.auth_method);
      d->set_auth_data(client_.config.auth_data ? client_.config.auth_data() : std::string());
      send(out_);
      return;
    }
    case T::SUCCESS: return answer(c.success().request_id(), &c);
    case T::ERROR:
      return answer(c.error().request_id(),
                    server_failure("request " + std::to_string(c.error().request_id()) + " to " + key_,
                                   c.error().error(), c.error().message()));
    case T::PRODUCER_SUCCESS:
      if (!c.producer_success().producer_ready()) {
        // Waiting for exclusive access (WaitForExclusive): no timeout, a second answer follows.
        auto it = requests_.find(c.producer_success().request_id());
        if (it != requests_.end()) it->second.deadline = TimePoint::max();
        return;
      }
      return answer(c.producer_success().request_id(), &c);
    case T::LOOKUP_RESPONSE: return answer(c.lookuptopicresponse().request_id(), &c);
    case T::PARTITIONED_METADATA_RESPONSE: return answer(c.partitionmetadataresponse().request_id(), &c);
    case T::GET_LAST_MESSAGE_ID_RESPONSE: return answer(c.getlastmessageidresponse().request_id(), &c);
    case T::GET_TOPICS_OF_NAMESPACE_RESPONSE: return answer(c.gettopicsofnamespaceresponse().request_id(), &c);
    case T::GET_SCHEMA_RESPONSE: return answer(c.getschemaresponse().request_id(), &c);
    case T::WATCH_TOPIC_LIST_SUCCESS: return answer(c.watchtopiclistsuccess().request_id(), &c);
    case T::WATCH_TOPIC_UPDATE: {
      auto it = watchers_.find(c.watchtopicupdate().watcher_id());
      if (it != watchers_.end()) it->second->on_frame(frame);
      return;
    }
    case T::SEND_RECEIPT:
    case T::SEND_ERROR:
    case T::CLOSE_PRODUCER: {
      const std::uint64_t id = c.type() == T::SEND_RECEIPT ? c.send_receipt().producer_id()
                               : c.type() == T::SEND_ERROR ? c.send_error().producer_id()
                                                           : c.close_producer().producer_id();
      auto it = producers_.find(id);
      if (it == producers_.end()) return;  // a producer we closed meanwhile
      if (c.type() == T::CLOSE_PRODUCER) {
        auto* u = it->second;
        producers_.erase(it);
        u->on_frame(frame);
        return;
      }
      it->second->on_frame(frame);
      return;
    }
    case T::ACK_RESPONSE:
      if (c.ackresponse().has_request_id() && requests_.count(c.ackresponse().request_id())) {
        const auto& a = c.ackresponse();
        if (a.has_error()) {
          return answer(a.request_id(), server_failure("ACK", a.error(), a.message()));
        }
        return answer(a.request_id(), &c);
      }
      return;
    case T::MESSAGE:
    case T::CLOSE_CONSUMER:
    case T::ACTIVE_CONSUMER_CHANGE:
    case T::REACHED_END_OF_TOPIC: {
      const std::uint64_t id = c.type() == T::MESSAGE           ? c.message().consumer_id()
                               : c.type() == T::CLOSE_CONSUMER  ? c.close_consumer().consumer_id()
                               : c.type() == T::ACTIVE_CONSUMER_CHANGE ? c.active_consumer_change().consumer_id()
                                                                       : c.reachedendoftopic().consumer_id();
      auto it = consumers_.find(id);
      if (it == consumers_.end()) return;
      if (c.type() == T::CLOSE_CONSUMER) {
        auto* u = it->second;
        consumers_.erase(it);
        u->on_frame(frame);
        return;
      }
      it->second->on_frame(frame);
      return;
    }
    default:
      close("unexpected " + T::Type_Name(c.type()) + " from " + key_);
      return;
  }
}

void Connection::on_tick(TimePoint now) {
  if (state_ == State::closed) return;
  auto self = shared_from_this();
  if (state_ == State::connecting || state_ == State::handshaking) {
    if (now >= connect_deadline_) {
      const Error e(ClientErrc::timeout, "no CONNECTED from " + key_ + " within the connect timeout");
      state_ = State::closed;
      if (link_) link_->close();
      fail_waiters(e);
      client_.forget(*this);
    }
    return;
  }
  // Operation timeouts.
  std::vector<std::uint64_t> expired;
  for (auto& [id, p] : requests_) {
    if (now >= p.deadline) expired.push_back(id);
  }
  for (auto id : expired) {
    answer(id, Error(ClientErrc::timeout, "request " + std::to_string(id) + " to " + key_ + " timed out"));
    if (state_ == State::closed) return;
  }
  // Keep-alive: PING after keep_alive of silence, give up after twice that.
  const auto ka = client_.config.keep_alive;
  if (now - last_received_ >= 2 * ka) {
    close("no answer from " + key_ + " for " + std::to_string((2 * ka).count()) + " ms");
    return;
  }
  if (now - last_received_ >= ka && !ping_outstanding_) {
    out_.Clear();
    out_.set_type(proto::BaseCommand::PING);
    out_.mutable_ping();
    send(out_);
    ping_outstanding_ = true;
  }
}

TimePoint Connection::next_deadline() const {
  if (state_ == State::closed) return TimePoint::max();
  if (state_ != State::ready) return connect_deadline_;
  TimePoint t = ping_outstanding_ ? last_received_ + 2 * client_.config.keep_alive : last_received_ + client_.config.keep_alive;
  for (auto& [id, p] : requests_) t = std::min(t, p.deadline);
  return t;
}

}  // namespace mop::pulsar::client
