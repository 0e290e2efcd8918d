#include "mqtt/session/protocol.hpp"

#include <random>

#include <fmt/format.h>

namespace mop::mqtt {

const char* to_string(CloseReason r) {
  switch (r) {
    case CloseReason::client_disconnect: return "client disconnected";
    case CloseReason::network_error: return "connection lost";
    case CloseReason::protocol_error: return "protocol error";
    case CloseReason::keep_alive_timeout: return "keep alive timeout";
    case CloseReason::connect_timeout: return "no CONNECT in time";
    case CloseReason::connect_rejected: return "connect rejected";
    case CloseReason::session_taken_over: return "session taken over";
    case CloseReason::server_shutdown: return "server shutting down";
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

namespace {

std::string assigned_client_id() {
  // [MQTT-3.1.3-6]: a server-assigned id must be unique; 96 random bits are.
  thread_local std::mt19937_64 rng{std::random_device{}()};
  return fmt::format("mop-{:016x}{:08x}", rng(), static_cast<std::uint32_t>(rng()));
}

}  // namespace

Protocol::Protocol(ProtocolHandler& handler, const Clock& clock, ProtocolLimits limits)
    : handler_(handler), clock_(clock), limits_(limits), reader_(limits.max_packet_size) {
  deadline_ = clock_.now() + limits_.connect_timeout;
}

void Protocol::on_bytes(std::span<const std::uint8_t> bytes) {
  if (state_ == State::closed) return;
  reader_.feed(bytes);
  // While the broker decides on a CONNECT, later packets wait in the reader: they need the
  // session that accept() brings.
  while (state_ == State::awaiting_connect || state_ == State::connected) {
    auto frame = reader_.next();
    if (!frame) {
      fail(CloseReason::protocol_error, frame.error().message());
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
      fail(CloseReason::protocol_error, make_error_code(CodecError::second_connect).message());
      return;
    }
    auto packet = decode_client_packet(f, version_);
    if (!packet) {
      const auto ec = packet.error();
      if (f.type() == PacketType::connect && ec == CodecError::unsupported_protocol_level) {
        send(Connack{false, ConnectReturnCode::unacceptable_protocol_version});
        fail(CloseReason::connect_rejected, ec.message());
      } else if (f.type() == PacketType::connect && ec == CodecError::invalid_client_id) {
        send(Connack{false, ConnectReturnCode::identifier_rejected});
        fail(CloseReason::connect_rejected, ec.message());
      } else {
        fail(CloseReason::protocol_error, ec.message());
      }
      return;
    }
    handle(std::move(*packet));
  }
}

void Protocol::on_tick() {
  if (state_ == State::closed) return;
  if (clock_.now() < deadline_) return;
  if (state_ == State::awaiting_connect)
    fail(CloseReason::connect_timeout, "no CONNECT received in time");
  else if (state_ == State::connected)
    fail(CloseReason::keep_alive_timeout,
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

void Protocol::terminate(CloseReason reason) { fail(reason, to_string(reason)); }

void Protocol::send(const Packet& p) {
  const bool was_empty = out_.empty();
  encode(p, version_, out_.text());
  if (was_empty) handler_.output_ready();
}

void Protocol::send_publish(const Publish& p) {
  const bool was_empty = out_.empty();
  encode_publish_header(p, version_, out_.text());
  out_.append_payload(p.payload);
  if (was_empty) handler_.output_ready();
}

void Protocol::handle(Packet&& packet) {
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
        else if constexpr (std::is_same_v<T, Disconnect>) fail(CloseReason::client_disconnect, "DISCONNECT");
        else fail(CloseReason::protocol_error, make_error_code(CodecError::unexpected_packet).message());
      },
      std::move(packet));
}

void Protocol::handle_connect(Connect&& c) {
  if (c.version == ProtocolVersion::v5) {
    // The codec reads MQTT 5, but the session does not implement its behaviour yet: refuse it
    // the 3.1.1 way rather than serve a v5 client with 3.1.1 semantics.
    send(Connack{false, ConnectReturnCode::unacceptable_protocol_version});
    fail(CloseReason::connect_rejected, "MQTT 5 is not supported yet");
    return;
  }
  version_ = c.version;
  // The codec already refused an empty client id with clean session = 0 [MQTT-3.1.3-8].
  if (c.client_id.empty()) c.client_id = assigned_client_id();
  client_id_ = c.client_id;
  keep_alive_ = std::chrono::seconds(c.keep_alive);
  state_ = State::connecting;
  deadline_ = TimePoint::max();  // the broker decides; keep alive starts once accepted
  handler_.on_connect(c);
}

void Protocol::accept(std::shared_ptr<Session> session, bool session_present) {
  if (state_ != State::connecting) return;
  session_ = std::move(session);
  state_ = State::connected;
  touch();
  send(Connack{session_present, ConnectReturnCode::accepted});
  resend_inflight();
  on_bytes({});  // packets that arrived while the CONNECT was being decided
}

void Protocol::reject(ConnectReturnCode code) {
  if (state_ != State::connecting) return;
  send(Connack{false, code});
  fail(CloseReason::connect_rejected, fmt::format("CONNACK return code {}", static_cast<int>(code)));
}

void Protocol::resend_inflight() {
  // [MQTT-4.4.0-1]: on resumption, unacknowledged PUBLISH packets are resent with DUP = 1 and
  // PUBRELs resent, in their original order.
  for (Outbound* o : session_->outbound_in_order()) {
    switch (o->state) {
      case Outbound::State::unsent:
        o->state = o->publish.qos == 1 ? Outbound::State::awaiting_puback : Outbound::State::awaiting_pubrec;
        send_publish(o->publish);
        break;
      case Outbound::State::awaiting_puback:
      case Outbound::State::awaiting_pubrec:
        o->publish.dup = true;
        send_publish(o->publish);
        break;
      case Outbound::State::awaiting_pubcomp:
        send(Pubrel{o->publish.packet_id});
        break;
    }
  }
}

bool Protocol::deliver(Publish publish, const DeliveryOrigin& origin) {
  const bool online = state_ == State::connected;
  if (publish.qos == 0) {
    if (online) send_publish(publish);
    return true;
  }
  if (!session_) return false;
  publish.dup = false;
  auto id = session_->add_outbound(publish, origin, online);
  if (!id) return false;
  if (online) {
    publish.packet_id = *id;
    send_publish(publish);
  }
  return true;
}

Protocol::PendingAck& Protocol::queue_ack(Packet packet, bool ready) {
  acks_.push_back(PendingAck{std::move(packet), ready});
  return acks_.back();
}

void Protocol::flush_acks() {
  while (!acks_.empty() && acks_.front().ready) {
    send(acks_.front().packet);
    acks_.pop_front();
    ++acks_popped_;
  }
}

void Protocol::handle_publish(Publish&& p) {
  if (p.qos == 0) {
    handler_.on_publish(p, {});  // nothing to acknowledge
    return;
  }
  if (p.qos == 2 && session_->inbound_qos2_pending(p.packet_id)) {
    // A resend of a message we already accepted: acknowledge, do not publish again [MQTT-4.3.3-2].
    queue_ack(Pubrec{p.packet_id}, true);
    flush_acks();
    return;
  }
  if (p.qos == 2) session_->add_inbound_qos2(p.packet_id);
  const std::uint64_t index = acks_popped_ + acks_.size();
  if (p.qos == 1)
    queue_ack(Puback{p.packet_id}, false);
  else
    queue_ack(Pubrec{p.packet_id}, false);
  std::weak_ptr<Protocol> weak = weak_from_this();
  std::shared_ptr<Session> session = session_;
  const PacketId id = p.packet_id;
  const std::uint8_t qos = p.qos;
  handler_.on_publish(p, [weak, session, index, id, qos](bool ok) {
    if (!ok && qos == 2) session->release_inbound_qos2(id);  // not stored: let a resend retry it
    auto self = weak.lock();
    if (!self || self->state_ == State::closed) return;
    if (!ok) {
      self->fail(CloseReason::protocol_error, "message could not be stored");
      return;
    }
    if (index < self->acks_popped_) return;
    self->acks_[index - self->acks_popped_].ready = true;
    self->flush_acks();
  });
}

void Protocol::handle_puback(PacketId id) {
  if (auto o = session_->on_puback(id)) {
    handler_.on_delivery_acked(o->origin);
    handler_.on_inflight_freed(o->origin);
  }
}

void Protocol::handle_pubrec(PacketId id) {
  if (auto origin = session_->on_pubrec(id)) {
    handler_.on_delivery_acked(*origin);
    send(Pubrel{id});
    return;
  }
  // A duplicate PUBREC for a message already released: answer it again so the client can finish.
  for (Outbound* o : session_->outbound_in_order())
    if (o->publish.packet_id == id && o->state == Outbound::State::awaiting_pubcomp) send(Pubrel{id});
}

void Protocol::handle_pubrel(PacketId id) {
  session_->release_inbound_qos2(id);
  // Always answered, even for an unknown id, so that the client can free it [MQTT-4.3.3-...].
  queue_ack(Pubcomp{id}, true);
  flush_acks();
}

void Protocol::handle_pubcomp(PacketId id) {
  if (auto origin = session_->on_pubcomp(id)) handler_.on_inflight_freed(*origin);
}

void Protocol::handle_subscribe(Subscribe&& s) {
  auto codes = handler_.on_subscribe(s);
  send(Suback{s.packet_id, codes});
  handler_.on_subscribed(s, codes);
}

void Protocol::handle_unsubscribe(Unsubscribe&& u) {
  handler_.on_unsubscribe(u);
  send(Unsuback{u.packet_id});  // [MQTT-3.10.4-4]: even when nothing matched
}

}  // namespace mop::mqtt
