#include "mqtt/session/protocol.hpp"

#include <cassert>
#include <random>

#include <fmt/format.h>

namespace mop::mqtt {

const char* to_string(CloseReason r) {
  switch (r) {
    case CloseReason::client_disconnect: return "client disconnected";
    case CloseReason::client_disconnect_with_will: return "client disconnected with will";
    case CloseReason::network_error: return "connection lost";
    case CloseReason::protocol_error: return "protocol error";
    case CloseReason::keep_alive_timeout: return "keep alive timeout";
    case CloseReason::connect_timeout: return "no CONNECT in time";
    case CloseReason::connect_rejected: return "connect rejected";
    case CloseReason::session_taken_over: return "session taken over";
    case CloseReason::server_shutdown: return "server shutting down";
    case CloseReason::administrative_action: return "disconnected by an administrator";
    case CloseReason::not_authorized: return "not authorized";
  }
  return "unknown";
}

bool publishes_will(CloseReason r) {
  // [MQTT-3.1.2-8]: the will is published unless the client sent DISCONNECT. A rejected CONNECT
  // never established a session, so it has no will either. A takeover ends the old network
  // connection without DISCONNECT from that client, so its will is published (as mosquitto does).
  // On shutdown the server, not the client, failed; its subscribers are going away too.
  return r != CloseReason::client_disconnect && r != CloseReason::connect_rejected &&
         r != CloseReason::connect_timeout && r != CloseReason::server_shutdown;
}

ReasonCode reason_for(CloseReason r) {
  switch (r) {
    case CloseReason::keep_alive_timeout: return ReasonCode::keep_alive_timeout;  // 0x8D
    case CloseReason::session_taken_over: return ReasonCode::session_taken_over;  // 0x8E [MQTT-3.1.4-3]
    case CloseReason::server_shutdown: return ReasonCode::server_shutting_down;   // 0x8B
    case CloseReason::administrative_action: return ReasonCode::administrative_action;  // 0x98
    case CloseReason::protocol_error: return ReasonCode::protocol_error;          // 0x82
    case CloseReason::not_authorized: return ReasonCode::not_authorized;          // 0x87
    default: return ReasonCode::unspecified_error;
  }
}

namespace {

std::string assigned_client_id() {
  // [MQTT-3.1.3-6]: a server-assigned id must be unique; 96 random bits are.
  thread_local std::mt19937_64 rng{std::random_device{}()};
  return fmt::format("mop-{:016x}{:08x}", rng(), static_cast<std::uint32_t>(rng()));
}

// The response information given to a client that asks for it (MQTT 5 3.2.2.3.15): a topic
// prefix of its own, "$response/{client id}". '/', '+', '#' and '%' of the id are %-escaped, so
// that the prefix is one topic level, a valid topic name, and no two clients share one.
// Wildcard subscriptions starting with + or # do not see it ($ topics, MQTT 4.7.2).
std::string response_information_for(std::string_view client_id) {
  std::string out = "$response/";
  out.reserve(out.size() + client_id.size());
  for (char c : client_id) {
    switch (c) {
      case '/': out += "%2F"; break;
      case '+': out += "%2B"; break;
      case '#': out += "%23"; break;
      case '%': out += "%25"; break;
      default: out += c;
    }
  }
  return out;
}

// The properties of a packet that may carry a reason string / user properties as diagnostics
// (not PUBLISH, whose user properties are the application's), or nullptr.
Properties* diagnostics_of(Packet& p) {
  return std::visit(
      [](auto& x) -> Properties* {
        using T = std::decay_t<decltype(x)>;
        if constexpr (std::is_same_v<T, Connack> || std::is_same_v<T, Puback> || std::is_same_v<T, Pubrec> ||
                      std::is_same_v<T, Pubrel> || std::is_same_v<T, Pubcomp> || std::is_same_v<T, Suback> ||
                      std::is_same_v<T, Unsuback> || std::is_same_v<T, Disconnect> || std::is_same_v<T, Auth>) {
          return &x.properties;
        } else {
          return nullptr;
        }
      },
      p);
}

bool has_diagnostics(const Packet& p) {
  const Properties* pr = diagnostics_of(const_cast<Packet&>(p));
  return pr && (pr->reason_string || !pr->user_properties.empty());
}

}  // namespace

Protocol::Protocol(ProtocolHandler& handler, const Clock& clock, ProtocolLimits limits)
    : handler_(handler), clock_(clock), limits_(limits), reader_(limits.max_packet_size) {
  deadline_ = clock_.now() + limits_.connect_timeout;
}

void Protocol::on_bytes(std::span<const std::uint8_t> bytes) {
  if (state_ == State::closed) return;
  reader_.feed(bytes);
  if (dispatching_) return;  // called back from a handler: the loop below goes on once it returns
  dispatching_ = true;
  dispatch();
  dispatching_ = false;
  reader_.release_if_empty();  // every packet decoded (copied out): nothing points into it
}

void Protocol::dispatch() {
  // While the broker decides on a CONNECT, later packets wait in the reader: they need the
  // session that accept() brings.
  while (state_ == State::awaiting_connect || (state_ == State::connected && !awaiting_suback_) ||
         (state_ == State::connecting && authenticating_)) {
    auto frame = reader_.next();
    if (!frame.ok()) {
      const auto ec = frame.error();
      fail_with(ec.category() == codec_category() ? reason_for(static_cast<CodecError>(ec.value()))
                                                  : ReasonCode::malformed_packet,
                CloseReason::protocol_error, ec.message());
      return;
    }
    if (!frame->has_value()) break;
    touch();
    const Frame& f = **frame;
    if (state_ == State::awaiting_connect && f.type() != PacketType::connect) {
      fail(CloseReason::protocol_error, make_error_code(CodecError::first_packet_not_connect).message());
      return;
    }
    if (state_ != State::awaiting_connect && f.type() == PacketType::connect) {
      fail_with(ReasonCode::protocol_error, CloseReason::protocol_error,
                make_error_code(CodecError::second_connect).message());
      return;
    }
    if (state_ == State::connecting && f.type() != PacketType::auth) {
      fail_with(ReasonCode::protocol_error, CloseReason::protocol_error, "only AUTH may follow CONNECT until CONNACK");  // MQTT 5 4.12
      return;
    }
    auto packet = decode_client_packet(f, version_);
    if (!packet.ok()) {
      handle_decode_error(f, packet.error());
      return;
    }
    handle(std::move(*packet));
  }
}

void Protocol::handle_decode_error(const Frame& f, std::error_code ec) {
  if (f.type() != PacketType::connect) {
    const ReasonCode rc = ec.category() == codec_category() ? reason_for(static_cast<CodecError>(ec.value()))
                                                            : ReasonCode::malformed_packet;
    fail_with(rc, CloseReason::protocol_error, ec.message());
    return;
  }
  // A refused CONNECT: answer in the version it asked for, when it said which. The level is the
  // byte after the protocol name "MQTT" (2 + 4 bytes).
  const bool v5 = f.body.size() > 6 && f.body[0] == 0 && f.body[1] == 4 && f.body[6] == 5;
  if (v5) {
    version_ = ProtocolVersion::v5;
    Connack ack;
    ack.reason_code = reason_for(static_cast<CodecError>(ec.value()));
    ack.properties.reason_string = ec.message();
    send(ack);  // [MQTT-3.2.2-8]: a CONNACK with a reason code >= 0x80, then close
    fail(CloseReason::connect_rejected, ec.message());
  } else if (ec == CodecError::unsupported_protocol_level) {
    send(Connack{false, ConnectReturnCode::unacceptable_protocol_version});
    fail(CloseReason::connect_rejected, ec.message());
  } else if (ec == CodecError::invalid_client_id) {
    send(Connack{false, ConnectReturnCode::identifier_rejected});
    fail(CloseReason::connect_rejected, ec.message());
  } else {
    fail(CloseReason::protocol_error, ec.message());
  }
}

void Protocol::on_tick() {
  if (state_ == State::closed) return;
  if (clock_.now() < deadline_) return;
  if (state_ == State::awaiting_connect)
    fail(CloseReason::connect_timeout, "no CONNECT received in time");
  else if (state_ == State::connected)
    fail_with(reason_for(CloseReason::keep_alive_timeout), CloseReason::keep_alive_timeout,
              fmt::format("nothing received for 1.5 x keep alive ({} s)", keep_alive_.count() / 1000.0));
}

void Protocol::on_closed() {
  if (state_ != State::closed) fail(CloseReason::network_error, "peer closed the connection");
}

void Protocol::touch() {
  if (state_ == State::awaiting_connect) return;  // the CONNECT deadline stands until CONNECT
  if (keep_alive_.count() > 0)
    deadline_ = clock_.now() + keep_alive_ * 3 / 2;  // [MQTT-3.1.2-24]
  else
    deadline_ = TimePoint::max();
}

void Protocol::fail(CloseReason reason, const std::string& detail) {
  if (state_ == State::closed) return;
  state_ = State::closed;
  handler_.close(reason, detail);
}

void Protocol::fail_with(ReasonCode rc, CloseReason reason, const std::string& detail) {
  if (state_ == State::closed) return;
  if (version_ == ProtocolVersion::v5) {
    Properties why;
    why.reason_string = detail;
    if (state_ == State::connected)
      send(Disconnect{rc, std::move(why)});  // [MQTT-4.13.1-1]: say why before closing
    else if (state_ == State::connecting)  // a refusal a CONNACK cannot name is 0x80, with why
      send(Connack{false, ConnectReturnCode::accepted, connack_allows(rc) ? rc : ReasonCode::unspecified_error,
                   std::move(why)});
  }
  fail(reason, detail);
}

void Protocol::terminate(CloseReason reason) { fail_with(reason_for(reason), reason, to_string(reason)); }

void Protocol::send(const Packet& p) {
  if (counters_ != nullptr) ++counters_->packets_out[static_cast<std::size_t>(packet_type(p))];
  if (version_ == ProtocolVersion::v5 && has_diagnostics(p)) {
    send_with_diagnostics(p);
    return;
  }
  const bool was_empty = out_.empty();
  encode(p, version_, out_.text());
  if (was_empty) handler_.output_ready();
}

void Protocol::send_with_diagnostics(Packet p) {
  Properties& pr = *diagnostics_of(p);
  const bool always_allowed = std::holds_alternative<Connack>(p) || std::holds_alternative<Disconnect>(p);
  if (!request_problem_info_ && !always_allowed) {  // [MQTT-3.1.2-29]
    pr.reason_string.reset();
    pr.user_properties.clear();
  }
  std::string bytes;
  encode(p, version_, bytes);
  if (client_max_packet_ && bytes.size() > *client_max_packet_) {
    // Diagnostics are what may be left out; the rest of the packet must go.
    pr.reason_string.reset();
    pr.user_properties.clear();
    bytes.clear();
    encode(p, version_, bytes);
  }
  const bool was_empty = out_.empty();
  out_.text().append(bytes);
  if (was_empty) handler_.output_ready();
}

void Protocol::send_publish(const Publish& p) {
  if (counters_ != nullptr) {
    ++counters_->packets_out[static_cast<std::size_t>(PacketType::publish)];
    ++counters_->sent;
    counters_->sent_bytes += p.payload.size();
  }
  const bool was_empty = out_.empty();
  if (client_alias_max_ > 0) {
    Publish aliased = p;  // the session keeps the full topic: aliases live as long as the connection
    apply_topic_alias(aliased);
    encode_publish_header(aliased, version_, out_.text());
  } else {
    encode_publish_header(p, version_, out_.text());
  }
  out_.append_payload(p.payload);
  if (was_empty) handler_.output_ready();
}

void Protocol::apply_topic_alias(Publish& p) {
  // [MQTT-3.3.2-9]: never above the client's topic alias maximum. Least recently used topics
  // give their alias to new ones.
  auto& out = aliases_->out;
  auto& lru = aliases_->out_lru;
  if (auto it = out.find(p.topic); it != out.end()) {
    p.properties.topic_alias = it->second->second;
    lru.splice(lru.end(), lru, it->second);  // most recent
    p.topic.clear();
    return;
  }
  std::uint16_t alias;
  if (out.size() < client_alias_max_) {
    alias = static_cast<std::uint16_t>(out.size() + 1);
  } else {
    alias = lru.front().second;
    out.erase(std::string_view(lru.front().first));
    lru.pop_front();
  }
  lru.emplace_back(p.topic, alias);
  // The key views the list's string, which does not move while the entry lives.
  out.emplace(std::string_view(lru.back().first), std::prev(lru.end()));
  p.properties.topic_alias = alias;  // topic and alias together: the client learns the mapping
}

void Protocol::handle(Packet&& packet) {
  if (counters_ != nullptr) ++counters_->packets_in[static_cast<std::size_t>(packet_type(packet))];
  std::visit(
      [this](auto&& p) {
        using T = std::decay_t<decltype(p)>;
        if constexpr (std::is_same_v<T, Connect>) handle_connect(std::move(p));
        else if constexpr (std::is_same_v<T, Publish>) handle_publish(std::move(p));
        else if constexpr (std::is_same_v<T, Puback>) handle_puback(p.packet_id);
        else if constexpr (std::is_same_v<T, Pubrec>) handle_pubrec(p.packet_id);
        else if constexpr (std::is_same_v<T, Pubrel>) handle_pubrel(p.packet_id);
        else if constexpr (std::is_same_v<T, Pubcomp>) handle_pubcomp(p.packet_id);
        else if constexpr (std::is_same_v<T, Subscribe>) handle_subscribe(std::move(p));
        else if constexpr (std::is_same_v<T, Unsubscribe>) handle_unsubscribe(std::move(p));
        else if constexpr (std::is_same_v<T, Pingreq>) send(Pingresp{});
        else if constexpr (std::is_same_v<T, Disconnect>) handle_disconnect(p);
        else if constexpr (std::is_same_v<T, Auth>) handle_auth(p);
        else fail_with(ReasonCode::protocol_error, CloseReason::protocol_error,
                       make_error_code(CodecError::unexpected_packet).message());
      },
      std::move(packet));
}

void Protocol::handle_connect(Connect&& c) {
  version_ = c.version;
  if (c.version == ProtocolVersion::v5) {
    const Properties& pr = c.properties;
    if (pr.authentication_method && !handler_.supports_auth_method(*pr.authentication_method)) {
      // Not a method we are configured for [MQTT-4.12.0-1].
      state_ = State::connecting;
      client_max_packet_ = pr.maximum_packet_size;
      reject(ReasonCode::bad_authentication_method,
             fmt::format("authentication method '{}' is not supported", *pr.authentication_method));
      return;
    }
    client_receive_maximum_ = pr.receive_maximum.value_or(65535);
    client_max_packet_ = pr.maximum_packet_size;
    request_problem_info_ = pr.request_problem_information.value_or(true);
    request_response_info_ = pr.request_response_information.value_or(false);
    client_alias_max_ = pr.topic_alias_maximum.value_or(0);
  }
  // 3.1.1: the codec already refused an empty client id with clean session = 0 [MQTT-3.1.3-8];
  // MQTT 5 assigns one whatever the clean start flag and says so in CONNACK [MQTT-3.2.2-16].
  if (c.client_id.empty()) {
    c.client_id = assigned_client_id();
    client_id_assigned_ = true;
  }
  client_id_ = c.client_id;
  keep_alive_ = std::chrono::seconds(c.keep_alive);
  if (c.version == ProtocolVersion::v5 && limits_.server_keep_alive > 0)
    keep_alive_ = std::chrono::seconds(limits_.server_keep_alive);  // [MQTT-3.1.2-21]
  state_ = State::connecting;
  deadline_ = TimePoint::max();  // the broker decides; keep alive starts once accepted
  handler_.on_connect(c);
}

void Protocol::accept(std::shared_ptr<Session> session, bool session_present) {
  if (state_ != State::connecting) return;
  session_ = std::move(session);
  state_ = State::connected;
  touch();
  handler_.deadline_changed();
  Connack ack{session_present, ConnectReturnCode::accepted};
  if (version_ == ProtocolVersion::v5) {
    Properties& pr = ack.properties;
    if (client_id_assigned_) pr.assigned_client_identifier = client_id_;
    pr.receive_maximum = limits_.receive_maximum;
    pr.maximum_packet_size = limits_.max_packet_size;
    pr.topic_alias_maximum = limits_.topic_alias_maximum;
    pr.retain_available = true;
    pr.wildcard_subscription_available = true;
    pr.subscription_identifier_available = true;
    pr.shared_subscription_available = true;
    if (limits_.server_keep_alive > 0) pr.server_keep_alive = limits_.server_keep_alive;
    // Only when asked for [MQTT-3.1.2-28].
    if (request_response_info_) pr.response_information = response_information_for(client_id_);
    if (auto* a = connack_auth_.get()) {
      pr.authentication_method = std::move(a->method);
      pr.authentication_data = std::move(a->data);
    }
  }
  send(ack);
  resend_inflight();
  resume_input();  // packets that arrived while the CONNECT was being decided
}

void Protocol::resume_input() {
  on_bytes({});
  if (state_ != State::closed && !input_held()) handler_.input_released();
}

void Protocol::reject(ConnectReturnCode code) {
  if (state_ != State::connecting) return;
  send(Connack{false, code});
  fail(CloseReason::connect_rejected, fmt::format("CONNACK return code {}", static_cast<int>(code)));
}

void Protocol::reject(ReasonCode code, std::string reason_string) {
  if (state_ != State::connecting) return;
  Connack ack{false, connect_return_code_for(code), code, {}};
  // The log says what went on the wire: 3.1.1 clients see the return code the reason maps to.
  std::string detail = version_ == ProtocolVersion::v5
                           ? fmt::format("CONNACK reason code 0x{:02X} ({})", static_cast<int>(code), to_string(code))
                           : fmt::format("CONNACK return code {} ({})", static_cast<int>(ack.return_code),
                                         to_string(code));
  if (!reason_string.empty()) {
    detail += ": " + reason_string;
    ack.properties.reason_string = std::move(reason_string);
  }
  send(ack);
  fail(CloseReason::connect_rejected, detail);
}

void Protocol::send_auth(ReasonCode rc, const std::string& method, std::string data) {
  if (state_ == State::closed || version_ != ProtocolVersion::v5) return;
  Auth a{rc, {}};
  a.properties.authentication_method = method;  // [MQTT-4.12.0-5]
  if (!data.empty()) a.properties.authentication_data = std::move(data);
  send(a);
  if (state_ == State::connecting && rc == ReasonCode::continue_authentication) {
    authenticating_ = true;
    resume_input();  // an AUTH that arrived early
  }
}

void Protocol::set_connack_auth(const std::string& method, std::string data) {
  connack_auth_->method = method;
  if (!data.empty()) connack_auth_->data = std::move(data);
}

void Protocol::handle_auth(const Auth& a) {
  // During CONNECT only a Continue answers our challenge; once connected a client may start a
  // re-authentication (0x19) [MQTT-4.12.1-1]. Anything else is a protocol error [MQTT-4.12.0-2].
  const bool ok = state_ == State::connecting ? a.reason_code == ReasonCode::continue_authentication
                                              : a.reason_code != ReasonCode::success;
  if (!ok) {
    fail_with(ReasonCode::protocol_error, CloseReason::protocol_error, "unexpected AUTH");
    return;
  }
  authenticating_ = false;  // the handler answers; send_auth(0x18) re-arms it
  handler_.on_auth(a);
}

void Protocol::send_outbound(Outbound& o) {
  session_->mark_sent(o);
  send_publish(o.publish);
}

void Protocol::send_unsent() {
  if (state_ != State::connected || !session_) return;
  while (session_->inflight_count() < client_receive_maximum_) {
    Outbound* o = session_->oldest_unsent();
    if (!o) return;
    if (!refresh_expiry(*o)) {
      // [MQTT-3.3.2-5]: expired before onward delivery started: deleted for this subscriber.
      auto gone = session_->discard_unsent(o->publish.packet_id);
      if (gone) {
        handler_.on_delivery_acked(gone->origin);
        handler_.on_inflight_freed(gone->origin);
      }
      continue;
    }
    send_outbound(*o);
  }
}

bool Protocol::refresh_expiry(Outbound& o) {
  if (o.expires_at_ms == 0) return true;
  const std::uint64_t now = clock_.wall_ms();
  if (now >= o.expires_at_ms) {
    if (o.state == Outbound::State::unsent) return false;
    o.publish.properties.message_expiry_interval = 1;  // already on its way: finish the flow
    return true;
  }
  // [MQTT-3.3.2-6]: what is left, rounded up so that it never reads 0 while the message lives.
  o.publish.properties.message_expiry_interval = static_cast<std::uint32_t>((o.expires_at_ms - now + 999) / 1000);
  return true;
}

void Protocol::resend_inflight() {
  // [MQTT-4.4.0-1]: on resumption, unacknowledged PUBLISH packets are resent with DUP = 1 and
  // PUBRELs resent, in their original order. Messages never sent wait for the receive maximum.
  for (Outbound* o : session_->outbound_in_order()) {
    switch (o->state) {
      case Outbound::State::unsent:
        break;
      case Outbound::State::awaiting_puback:
      case Outbound::State::awaiting_pubrec:
        refresh_expiry(*o);
        o->publish.dup = true;
        send_publish(o->publish);
        break;
      case Outbound::State::awaiting_pubcomp:
        send(Pubrel{o->publish.packet_id});
        break;
    }
  }
  send_unsent();
}

bool Protocol::deliver(Publish publish, const DeliveryOrigin& origin, std::uint64_t expires_at_ms) {
  const bool online = state_ == State::connected;
  if (expires_at_ms == 0 && publish.properties.message_expiry_interval)
    expires_at_ms = clock_.wall_ms() + std::uint64_t{*publish.properties.message_expiry_interval} * 1000;
  if (client_max_packet_ && encoded_size(publish, version_) > *client_max_packet_) {
    // [MQTT-3.1.2-25]: discard it as if it had been delivered.
    if (publish.qos > 0) {
      handler_.on_delivery_acked(origin);
      handler_.on_inflight_freed(origin);
    }
    return true;
  }
  if (publish.qos == 0) {
    if (online) send_publish(publish);
    return true;
  }
  if (!session_) return false;
  publish.dup = false;
  const bool now = online && session_->inflight_count() < client_receive_maximum_;
  auto id = session_->add_outbound(std::move(publish), origin, now, expires_at_ms);
  if (!id) return false;
  // What goes out is the session's entry (it has the packet id): no second copy of the topic
  // name and properties per delivery.
  if (now) send_publish(session_->outbound().at(*id).publish);
  return true;
}

bool Protocol::deliver_encoded(std::string_view header, const Payload& payload) {
  if (client_alias_max_ > 0) return false;
  // [MQTT-3.1.2-25]: too large for the client, discarded as if delivered.
  if (client_max_packet_ && header.size() + payload.size() > *client_max_packet_) return true;
  if (state_ != State::connected) return true;
  if (counters_ != nullptr) {
    ++counters_->packets_out[static_cast<std::size_t>(PacketType::publish)];
    ++counters_->sent;
    counters_->sent_bytes += payload.size();
  }
  const bool was_empty = out_.empty();
  out_.text().append(header);
  out_.append_payload(payload);
  if (was_empty) handler_.output_ready();
  return true;
}

Protocol::PendingAck& Protocol::queue_ack(PacketType type, PacketId id, bool ready, ReasonCode reason,
                                          std::string reason_string) {
  if (!acks_) acks_ = std::make_unique<std::deque<PendingAck>>();
  acks_->push_back(PendingAck{type, id, reason, ready, std::move(reason_string)});
  return acks_->back();
}

void Protocol::flush_acks() {
  while (acks_ && !acks_->empty() && acks_->front().ready) {
    PendingAck& a = acks_->front();
    Properties props;
    if (!a.reason_string.empty()) props.reason_string = std::move(a.reason_string);
    switch (a.type) {
      case PacketType::puback:
        assert(qos1_unacked_ > 0 && "a PUBACK queued without its count");  // each was counted when queued
        --qos1_unacked_;
        send(Puback{a.id, a.reason, std::move(props)});
        break;
      case PacketType::pubrec:
        send(Pubrec{a.id, a.reason, std::move(props)});
        break;
      default:
        assert(a.type == PacketType::pubcomp && "only PUBACK, PUBREC and PUBCOMP wait in order");
        send(Pubcomp{a.id, a.reason, std::move(props)});
        break;
    }
    acks_->pop_front();
    ++acks_popped_;
  }
}

void Protocol::handle_publish(Publish&& p) {
  if (counters_ != nullptr) {
    ++counters_->received;
    counters_->received_bytes += p.payload.size();
  }
  if (version_ == ProtocolVersion::v5) {
    if (auto alias = p.properties.topic_alias) {
      if (*alias > limits_.topic_alias_maximum) {  // [MQTT-3.3.2-10]
        fail_with(ReasonCode::topic_alias_invalid, CloseReason::protocol_error,
                  fmt::format("topic alias {} above the maximum {}", *alias, limits_.topic_alias_maximum));
        return;
      }
      auto& in = aliases_->in;  // allocated at the first alias the client uses
      if (in.empty()) in.resize(static_cast<std::size_t>(limits_.topic_alias_maximum) + 1);
      if (p.topic.empty()) {
        if (in[*alias].empty()) {  // an alias never set on this connection [MQTT-3.3.4-...]
          fail_with(ReasonCode::protocol_error, CloseReason::protocol_error,
                    fmt::format("topic alias {} has no topic on this connection", *alias));
          return;
        }
        p.topic = in[*alias];
      } else {
        in[*alias] = p.topic;
      }
      p.properties.topic_alias.reset();  // the alias is this connection's, not the message's
    }
    if (p.qos > 0 && !(p.qos == 2 && session_->inbound_qos2_pending(p.packet_id)) &&
        qos1_unacked_ + session_->inbound_qos2().size() >= limits_.receive_maximum) {
      fail_with(ReasonCode::receive_maximum_exceeded, CloseReason::protocol_error,  // [MQTT-3.3.4-9]
                fmt::format("more than {} QoS 1/2 PUBLISHes unacknowledged", limits_.receive_maximum));
      return;
    }
    if (p.properties.payload_format_indicator.value_or(0) == 1 &&
        !valid_mqtt_utf8({reinterpret_cast<const char*>(p.payload.data()), p.payload.size()})) {
      // [MQTT-3.3.2-4] allows refusing it: with the ack's reason code, or for QoS 0 by DISCONNECT.
      if (p.qos == 0) {
        fail_with(ReasonCode::payload_format_invalid, CloseReason::protocol_error, "payload is not UTF-8");
      } else {
        if (p.qos == 1) ++qos1_unacked_;
        queue_ack(p.qos == 1 ? PacketType::puback : PacketType::pubrec, p.packet_id, true,
                  ReasonCode::payload_format_invalid, "payload format indicator 1 but the payload is not valid UTF-8");
        flush_acks();
      }
      return;
    }
  }
  if (p.qos == 0) {
    handler_.on_publish(p, {});  // nothing to acknowledge
    return;
  }
  if (p.qos == 2 && session_->inbound_qos2_pending(p.packet_id)) {
    // A resend of a message we already accepted: acknowledge, do not publish again [MQTT-4.3.3-2].
    queue_ack(PacketType::pubrec, p.packet_id, true);
    flush_acks();
    return;
  }
  if (p.qos == 2) session_->add_inbound_qos2(p.packet_id);
  const std::uint64_t index = acks_popped_ + (acks_ ? acks_->size() : 0);
  if (p.qos == 1) {
    ++qos1_unacked_;
    queue_ack(PacketType::puback, p.packet_id, false);
  } else {
    queue_ack(PacketType::pubrec, p.packet_id, false);
  }
  std::weak_ptr<Protocol> weak = weak_from_this();
  std::shared_ptr<Session> session = session_;
  const PacketId id = p.packet_id;
  const std::uint8_t qos = p.qos;
  handler_.on_publish(p, [weak, session, index, id, qos](PublishResult r) {
    const bool stored = r.stored();
    if (!stored && qos == 2) session->release_inbound_qos2(id);  // not stored: let a resend retry it
    auto self = weak.lock();
    if (!self || self->state_ == State::closed) return;
    if (!stored && self->version_ != ProtocolVersion::v5) {
      // 3.1.1 has no negative ack: the message stays unacknowledged, the client's to resend.
      self->fail(CloseReason::protocol_error, "message could not be stored: " + r.reason_string);
      return;
    }
    if (index < self->acks_popped_) return;
    auto& pending = (*self->acks_)[index - self->acks_popped_];
    if (self->version_ == ProtocolVersion::v5 && r.reason != ReasonCode::success) {
      // 0x10 says nobody subscribed; >= 0x80 refuses the message and ends its flow (a refused
      // QoS 2 message gets no PUBREL), and the connection stays up (MQTT 5 4.13.2).
      pending.reason = r.reason;
      if (!stored) pending.reason_string = std::move(r.reason_string);
    }
    pending.ready = true;
    self->flush_acks();
  });
}

void Protocol::handle_puback(PacketId id) {
  if (auto origin = session_->on_puback(id)) {
    handler_.on_delivery_acked(*origin);
    handler_.on_inflight_freed(*origin);
    send_unsent();
  }
}

void Protocol::handle_pubrec(PacketId id) {
  if (auto origin = session_->on_pubrec(id)) {
    // PUBRELs leave in the order of their PUBRECs [MQTT-4.6.0-3]: the handler completes in order.
    std::weak_ptr<Protocol> weak = weak_from_this();
    handler_.on_pubrec_received(id, *origin, [weak, id] {
      auto self = weak.lock();
      // A connection gone by now resends the PUBREL when the session resumes.
      if (self && self->state_ == State::connected) self->send(Pubrel{id});
    });
    return;
  }
  // A duplicate PUBREC for a message already released: answer it again so the client can finish.
  for (Outbound* o : session_->outbound_in_order())
    if (o->publish.packet_id == id && o->state == Outbound::State::awaiting_pubcomp) {
      send(Pubrel{id});
      return;
    }
  if (version_ == ProtocolVersion::v5) send(Pubrel{id, ReasonCode::packet_identifier_not_found, {}});
}

void Protocol::handle_pubrel(PacketId id) {
  const bool known = session_->release_inbound_qos2(id);
  // Always answered, even for an unknown id, so that the client can free it; MQTT 5 says it
  // was unknown (0x92).
  if (!known) {
    queue_ack(PacketType::pubcomp, id, true,
              version_ == ProtocolVersion::v5 ? ReasonCode::packet_identifier_not_found : ReasonCode::success);
    flush_acks();
    return;
  }
  const std::uint64_t index = acks_popped_ + (acks_ ? acks_->size() : 0);
  queue_ack(PacketType::pubcomp, id, false);
  std::weak_ptr<Protocol> weak = weak_from_this();
  handler_.on_inbound_released(id, [weak, index] {
    auto self = weak.lock();
    if (!self || self->state_ == State::closed || index < self->acks_popped_) return;
    (*self->acks_)[index - self->acks_popped_].ready = true;
    self->flush_acks();
  });
}

void Protocol::handle_pubcomp(PacketId id) {
  if (auto origin = session_->on_pubcomp(id)) {
    handler_.on_pubcomp_received(*origin);
    send_unsent();
  }
}

void Protocol::handle_subscribe(Subscribe&& s) {
  std::weak_ptr<Protocol> weak = weak_from_this();
  auto packet = std::make_shared<const Subscribe>(std::move(s));
  awaiting_suback_ = true;
  handler_.on_subscribe(*packet, [weak, packet](std::vector<std::uint8_t> codes) {
    auto self = weak.lock();
    if (!self || self->state_ == State::closed) return;
    self->awaiting_suback_ = false;
    self->send_suback(*packet, codes);
    self->resume_input();  // the packets that arrived meanwhile (none are lost: they wait in the reader)
  });
}

void Protocol::send_suback(const Subscribe& s, const std::vector<std::uint8_t>& codes) {
  Suback ack{s.packet_id, codes, {}};
  if (version_ == ProtocolVersion::v5) {
    // One reason string for the packet: which filters were refused and why.
    std::string why;
    for (std::size_t i = 0; i < codes.size() && i < s.entries.size(); ++i) {
      if (codes[i] < 0x80) continue;
      why += fmt::format("{}'{}': {}", why.empty() ? "refused " : ", ", s.entries[i].filter,
                         to_string(static_cast<ReasonCode>(codes[i])));
    }
    if (!why.empty()) ack.properties.reason_string = std::move(why);
  }
  send(ack);
  handler_.on_subscribed(s, codes);
}

void Protocol::handle_unsubscribe(Unsubscribe&& u) {
  auto codes = handler_.on_unsubscribe(u);
  codes.resize(u.filters.size(), ReasonCode::success);
  Unsuback ack{u.packet_id, std::move(codes), {}};
  std::string why;
  for (std::size_t i = 0; i < ack.reason_codes.size(); ++i) {
    if (static_cast<std::uint8_t>(ack.reason_codes[i]) < 0x80) continue;
    why += fmt::format("{}'{}': {}", why.empty() ? "refused " : ", ", u.filters[i], to_string(ack.reason_codes[i]));
  }
  if (!why.empty()) ack.properties.reason_string = std::move(why);
  send(ack);  // [MQTT-3.10.4-4]: even when nothing matched
}

void Protocol::handle_disconnect(const Disconnect& d) {
  if (version_ == ProtocolVersion::v5 && d.properties.session_expiry_interval) {
    // [MQTT-3.14.2-2]: a session that was to end with the connection cannot be extended now.
    if (session_->expiry_interval() == 0 && *d.properties.session_expiry_interval != 0) {
      fail_with(ReasonCode::protocol_error, CloseReason::protocol_error,
                "DISCONNECT sets a session expiry interval after CONNECT set 0");
      return;
    }
    session_->set_expiry_interval(*d.properties.session_expiry_interval);
  }
  if (version_ == ProtocolVersion::v5 && d.reason_code == ReasonCode::disconnect_with_will_message)
    fail(CloseReason::client_disconnect_with_will, "DISCONNECT with will message");
  else
    fail(CloseReason::client_disconnect, "DISCONNECT");
}

}  // namespace mop::mqtt
