#pragma once
// Protocol: the MQTT 3.1/3.1.1/5.0 state machine of one network connection, sans I/O.
//
// In: bytes read from the socket (on_bytes), clock ticks (on_tick), the socket's end (on_closed),
// the broker's decisions (accept/reject a CONNECT, a publish made durable) and messages to
// deliver. Out: bytes to write (OutBuffer), and calls on a ProtocolHandler for everything that
// needs the broker. It never touches a socket, a timer or the service, so every rule is tested
// with a fake handler and a manual clock.
//
// Thread: owned by the broker thread.
#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <list>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/clock.hpp"
#include "core/on_demand.hpp"
#include "core/out_buffer.hpp"
#include "mqtt/codec/codec.hpp"
#include "mqtt/session/session.hpp"

namespace mop::mqtt {

// Why a connection ended; decides whether the will is published.
enum class CloseReason {
  client_disconnect,  // DISCONNECT received: no will [MQTT-3.1.2-10]
  client_disconnect_with_will,  // MQTT 5 DISCONNECT with reason 0x04: publish the will [3.14.2.1]
  network_error,      // the socket failed or the peer closed without DISCONNECT
  protocol_error,     // malformed packet or rule broken
  keep_alive_timeout, // nothing received for 1.5 x keep alive [MQTT-3.1.2-24]
  connect_timeout,    // no CONNECT within the allowed time
  connect_rejected,   // CONNACK with a non-zero return code was sent
  session_taken_over, // another connection with the same client id [MQTT-3.1.4-2]
  server_shutdown,
  administrative_action,  // an operator disconnected the client (the admin API's kick)
  not_authorized,     // a re-authentication failed (MQTT 5: DISCONNECT 0x87)
};
// How many CloseReasons there are: the last one above plus one. Tables indexed by CloseReason
// (SessionRouter's close counts, mop_disconnects_total) are this long, so a reason added after
// `not_authorized` must be named here instead of it.
inline constexpr std::size_t kCloseReasonCount = static_cast<std::size_t>(CloseReason::not_authorized) + 1;
const char* to_string(CloseReason r);
// Whether the will message is published for this reason.
bool publishes_will(CloseReason r);
// The MQTT 5 DISCONNECT reason code the server sends when it closes for `r` (the one place that
// mapping lives; codec refusals use reason_for(CodecError)).
ReasonCode reason_for(CloseReason r);

class Protocol;

// How the broker finished with a QoS 1/2 publish handed to it.
struct PublishResult {
  // success; no_matching_subscribers (0x10: stored, but no subscription matched); or a refusal
  // (>= 0x80: unspecified_error, quota_exceeded, ...): the message was not stored.
  ReasonCode reason = ReasonCode::success;
  std::string reason_string;  // why, for a refusal (MQTT 5 only)
  bool stored() const { return static_cast<std::uint8_t>(reason) < 0x80; }
};

// Completion handle for a publish handed to the broker. Calling it after the connection is gone
// is harmless. A refusal is answered in the PUBACK/PUBREC of an MQTT 5 client, which stays
// connected; MQTT 3.1/3.1.1 has no negative acknowledgement, so the connection is closed.
using PublishDone = std::function<void(PublishResult)>;

class ProtocolHandler {
public:
  virtual ~ProtocolHandler() = default;
  // Output is waiting in Protocol::output(); called when it goes from empty to non-empty.
  virtual void output_ready() = 0;
  // next_deadline() moved outside on_bytes() and on_tick() (accept(): the keep alive starts):
  // the transport's timer must follow it (net::Stream::deadline_changed).
  virtual void deadline_changed() {}
  // input_held() was true and is false again (the CONNECT was accepted, the SUBACK sent): the
  // transport reads the socket again (net::Stream::input_released).
  virtual void input_released() {}
  // The connection must be closed (after flushing output). Called once.
  virtual void close(CloseReason reason, const std::string& detail) = 0;
  // A valid CONNECT arrived; answer with Protocol::accept or Protocol::reject, now or later.
  virtual void on_connect(const Connect& connect) = 0;
  // A PUBLISH to route. Call `done` once the message is durable. For QoS 0 `done` is empty:
  // there is nothing to acknowledge.
  virtual void on_publish(const Publish& publish, PublishDone done) = 0;
  // SUBSCRIBE: call `done` with one return code per entry (granted QoS, or 0x80), now or later:
  // the SUBACK goes out then, once the subscriptions exist where messages are kept, so that a
  // message published after the SUBACK reaches the subscriber.
  virtual void on_subscribe(const Subscribe& subscribe, std::function<void(std::vector<std::uint8_t>)> done) = 0;
  // Called after the SUBACK went out, for retained messages.
  virtual void on_subscribed(const Subscribe& subscribe, const std::vector<std::uint8_t>& codes) = 0;
  // UNSUBSCRIBE: one reason code per filter (MQTT 5: 0x00, or 0x11 when no subscription existed).
  virtual std::vector<ReasonCode> on_unsubscribe(const Unsubscribe& unsubscribe) = 0;
  // The client took responsibility for a delivered message (PUBACK, or PUBREC for QoS 2).
  virtual void on_delivery_acked(const DeliveryOrigin& origin) = 0;
  // An in-flight slot was freed (PUBACK, PUBCOMP): another message may be sent.
  virtual void on_inflight_freed(const DeliveryOrigin& origin) = 0;
  // QoS 2 steps a broker with persistent sessions makes durable before answering, so that they
  // hold after a restart; `done` runs once they are (the defaults answer at once).
  // PUBREC for a QoS 2 delivery (the session now has it awaiting PUBCOMP): PUBREL goes out after
  // done(). The client owns the message from here on.
  virtual void on_pubrec_received(PacketId /*id*/, const DeliveryOrigin& origin, std::function<void()> done) {
    on_delivery_acked(origin);
    done();
  }
  // PUBCOMP for a QoS 2 delivery (removed from the session); frees its in-flight slot.
  virtual void on_pubcomp_received(const DeliveryOrigin& origin) { on_inflight_freed(origin); }
  // PUBREL released an inbound QoS 2 packet id (removed from the session): PUBCOMP goes out after
  // done(), since the client may reuse the id as soon as it has the PUBCOMP.
  virtual void on_inbound_released(PacketId /*id*/, std::function<void()> done) { done(); }
  // MQTT 5 enhanced authentication (4.12). A CONNECT naming a method the handler does not
  // support is refused with 0x8C before on_connect.
  virtual bool supports_auth_method(const std::string& /*method*/) const { return false; }
  // An AUTH packet: during CONNECT (after send_auth with 0x18) or a re-authentication (0x19).
  // Answer with send_auth, accept/reject (during CONNECT) or terminate.
  virtual void on_auth(const Auth& /*auth*/) {}
};

// PUBLISH packets and their payload bytes through MQTT connections, in and out (MoP's
// mop_received_* and mop_send_* metrics), resends included. One set is shared by every
// connection of a broker; plain increments on the connections' thread.
struct PublishCounters {
  std::uint64_t received = 0;
  std::uint64_t received_bytes = 0;
  std::uint64_t sent = 0;
  std::uint64_t sent_bytes = 0;
  // Every packet received / sent, by PacketType (1 CONNECT .. 15 AUTH; 0 unused): the
  // mop_packets_received_total / mop_packets_sent_total metrics.
  std::array<std::uint64_t, 16> packets_in{};
  std::array<std::uint64_t, 16> packets_out{};
};

struct ProtocolLimits {
  std::uint32_t max_packet_size = 1024 * 1024;
  std::chrono::milliseconds connect_timeout{10'000};
  // MQTT 5, advertised in CONNACK. Unacknowledged QoS 1/2 PUBLISHes a client may have in flight
  // to us; one more is DISCONNECT 0x93 [MQTT-3.3.4-9].
  std::uint16_t receive_maximum = 1000;
  // Highest topic alias a client may use towards us (0 = none) [MQTT-3.2.2-17].
  std::uint16_t topic_alias_maximum = 10;
  // Keep alive the server imposes on MQTT 5 clients (seconds, 0 = the client's own) [3.2.2.3.14].
  std::uint16_t server_keep_alive = 0;
};

class Protocol : public std::enable_shared_from_this<Protocol> {
public:
  enum class State { awaiting_connect, connecting, connected, closed };

  Protocol(ProtocolHandler& handler, const Clock& clock, ProtocolLimits limits);

  // Transport input.
  void on_bytes(std::span<const std::uint8_t> bytes);
  void on_tick();
  void on_closed();  // the socket is gone (error or EOF)

  // The broker's answer to on_connect. `session` holds the state to resume or a fresh one.
  void accept(std::shared_ptr<Session> session, bool session_present);
  void reject(ConnectReturnCode code);
  // MQTT 5 CONNACK reason (3.1.1 gets the nearest return code), with an optional reason string.
  void reject(ReasonCode code, std::string reason_string = {});
  // MQTT 5 enhanced authentication: sends AUTH (0x18 continue: the next AUTH from the client goes
  // to ProtocolHandler::on_auth; 0x00 success of a re-authentication).
  void send_auth(ReasonCode rc, const std::string& method, std::string data);
  // Authentication method and data the CONNACK of the next accept() carries.
  void set_connack_auth(const std::string& method, std::string data);
  // Closes the connection from the server side (takeover, shutdown); MQTT 5 clients get a
  // DISCONNECT with reason_for(reason) first.
  void terminate(CloseReason reason);

  // Sends a message to the client. QoS 0 goes out at once; QoS 1/2 get a packet id and are
  // tracked in the session; beyond the client's receive maximum they wait in the session, unsent,
  // until an acknowledgement frees a slot [MQTT-3.3.4-7]. A message larger than the client's
  // maximum packet size is dropped (and, for QoS 1/2, reported acked and freed) [MQTT-3.1.2-25].
  // Returns false when no packet id is free (the caller keeps it).
  // MQTT 5 message expiry: `expires_at_ms` (wall clock, 0 = never) is when the message expires.
  // A QoS 1/2 message that waits in the session gets the interval left when it is sent (also
  // when resent), and is dropped, reported acked and freed, if it expired before its first send
  // [MQTT-3.3.2-5/6]. Without it, a publish's message expiry interval counts from now.
  bool deliver(Publish publish, const DeliveryOrigin& origin, std::uint64_t expires_at_ms = 0);
  // The same for a QoS 0 PUBLISH without properties whose header the caller encoded
  // (encode_publish_header for this connection's version), so that one encoding serves every
  // connection that sends the same bytes (a fan-out). Returns false, sending nothing, where this
  // connection would send other bytes (topic aliases are on): deliver() the publish then.
  bool deliver_encoded(std::string_view header, const Payload& payload);

  // What an MQTT 5 client asked for in CONNECT (3.1.1: no limits).
  std::uint16_t client_receive_maximum() const { return client_receive_maximum_; }
  std::optional<std::uint32_t> client_maximum_packet_size() const { return client_max_packet_; }
  std::uint16_t client_topic_alias_maximum() const { return client_alias_max_; }
  bool client_id_assigned() const { return client_id_assigned_; }
  // MQTT 5 request problem / response information (3.1.2.11.6-7); 3.1.1: true / false.
  bool problem_information_requested() const { return request_problem_info_; }
  bool response_information_requested() const { return request_response_info_; }

  OutBuffer& output() { return out_; }
  const OutBuffer& output() const { return out_; }
  // Counts every PUBLISH received and sent on `counters` (which must outlive the protocol).
  void set_counters(PublishCounters* counters) { counters_ = counters; }
  State state() const { return state_; }
  const std::shared_ptr<Session>& session() const { return session_; }
  ProtocolVersion version() const { return version_; }
  const std::string& client_id() const { return client_id_; }
  // The keep alive in force (the client's, or the server's when it set one); 0 = none.
  std::chrono::milliseconds keep_alive() const { return keep_alive_; }
  // When the next on_tick is due, for the transport's timer.
  TimePoint next_deadline() const { return deadline_; }
  // Packets wait in the reader for a CONNECT or SUBSCRIBE the broker has not answered yet (the
  // store): the transport stops reading the socket until input_released(), so what a client
  // sends meanwhile is held back by TCP instead of piling up here.
  bool input_held() const {
    return (state_ == State::connecting && !authenticating_) || (state_ == State::connected && awaiting_suback_);
  }

private:
  // Dispatches what waited in the reader, and lets the transport read again unless the loop is
  // held once more (another SUBSCRIBE among the waiting packets).
  void resume_input();
  void handle(Packet&& packet);
  void handle_connect(Connect&& c);
  void handle_publish(Publish&& p);
  void handle_puback(PacketId id);
  void handle_pubrec(PacketId id);
  void handle_pubrel(PacketId id);
  void handle_pubcomp(PacketId id);
  void handle_subscribe(Subscribe&& s);
  void handle_unsubscribe(Unsubscribe&& u);
  void handle_disconnect(const Disconnect& d);
  void handle_auth(const Auth& a);
  // Hands every complete buffered packet to the handler while the state takes packets.
  void dispatch();
  void handle_decode_error(const Frame& f, std::error_code ec);
  void fail(CloseReason reason, const std::string& detail);
  // MQTT 5: tells the client why (CONNACK before the session exists, DISCONNECT after), then
  // closes. 3.1.1 has no way to say why: it just closes.
  void fail_with(ReasonCode rc, CloseReason reason, const std::string& detail);
  void send(const Packet& p);
  // MQTT 5: an ack/CONNACK/DISCONNECT/AUTH carrying a reason string or user properties, without
  // them where the client asked for no problem information [MQTT-3.1.2-29] or where they would
  // make the packet larger than the client's maximum packet size ([MQTT-3.2.2-19/20],
  // [MQTT-3.4.2-2/3] and the same rule for every ack, DISCONNECT and AUTH).
  void send_with_diagnostics(Packet p);
  void send_publish(const Publish& p);
  // Sends an outbound QoS 1/2 entry (first send or resend), with the next state set.
  void send_outbound(Outbound& o);
  // Sends unsent QoS 1/2 messages while the client's receive maximum allows.
  void send_unsent();
  // Sets the message expiry interval left for `o`; false when it has expired and was never sent
  // (a message whose delivery started keeps going, with an interval of at least 1 s).
  bool refresh_expiry(Outbound& o);
  // Replaces the topic by an outbound topic alias when the client allows them (LRU).
  void apply_topic_alias(Publish& p);
  void resend_inflight();
  void touch();
  // Acknowledgements to the client leave in the order the PUBLISH/PUBREL packets arrived
  // [MQTT-4.6.0-2/3], even when the store completes them out of order.
  // What the ack needs and no more: a `Packet` is a variant as large as CONNECT (1.2 KB), so a
  // queue of them took an allocation per QoS 1/2 PUBLISH (a deque node holds one such element)
  // and a kilobyte moved and destroyed with it; the packet is built only when it goes out.
  struct PendingAck {
    PacketType type = PacketType::puback;  // puback, pubrec or pubcomp
    PacketId id = 0;
    ReasonCode reason = ReasonCode::success;
    bool ready = false;
    std::string reason_string;  // MQTT 5: a refusal's diagnostics
  };
  PendingAck& queue_ack(PacketType type, PacketId id, bool ready, ReasonCode reason = ReasonCode::success,
                        std::string reason_string = {});
  void flush_acks();
  // The SUBACK of `s` with these codes, then on_subscribed (retained messages).
  void send_suback(const Subscribe& s, const std::vector<std::uint8_t>& codes);

  ProtocolHandler& handler_;
  const Clock& clock_;
  ProtocolLimits limits_;
  FrameReader reader_;
  OutBuffer out_;
  PublishCounters* counters_ = nullptr;
  State state_ = State::awaiting_connect;
  ProtocolVersion version_ = ProtocolVersion::v311;
  std::string client_id_;
  std::chrono::milliseconds keep_alive_{0};
  TimePoint deadline_;
  std::shared_ptr<Session> session_;
  // Allocated on the first QoS 1/2 PUBLISH: an empty std::deque allocates its first node (512 B)
  // and its map, which idle and subscribe-only connections should not pay.
  std::unique_ptr<std::deque<PendingAck>> acks_;
  std::uint64_t acks_popped_ = 0;  // index of acks_.front() in arrival order
  std::size_t qos1_unacked_ = 0;   // QoS 1 PUBLISHes received whose PUBACK has not gone out

  // MQTT 5 connection state (3.1.1 leaves it at "no limit").
  bool client_id_assigned_ = false;
  bool request_problem_info_ = true;    // CONNECT request problem information (default 1)
  bool request_response_info_ = false;  // CONNECT request response information (default 0)
  bool authenticating_ = false;  // CONNECT pending an AUTH from the client
  // on_bytes() is handing packets to the handler. The handler's answers (accept(), send_auth())
  // may make more buffered packets ready; they are then taken by that running loop, never by a
  // nested one, so no packet is handled while the handler is still inside its caller's callback
  // (a CONNECT admitted and failed by the next packet in one read, issue 11).
  bool dispatching_ = false;
  // A SUBSCRIBE is waiting for its SUBACK (the subscriptions it makes are not ready yet): the
  // packets after it wait in the reader, so that a PUBLISH sent right after a SUBSCRIBE finds the
  // subscription in place and every answer leaves in the order of its request.
  bool awaiting_suback_ = false;
  // Set only by enhanced authentication (set_connack_auth), so kept behind a pointer.
  struct ConnackAuth {
    std::optional<std::string> method, data;
  };
  OnDemand<ConnackAuth> connack_auth_;
  std::uint16_t client_receive_maximum_ = 65535;
  std::optional<std::uint32_t> client_max_packet_;
  std::uint16_t client_alias_max_ = 0;
  // MQTT 5 topic aliases, allocated when the first one is used: most connections never use one.
  struct TopicAliases {
    std::vector<std::string> in;  // client -> server, index = alias (limits_.topic_alias_maximum + 1)
    // server -> client: topics from least to most recently used, each with its alias, and an
    // index into that list by topic (O(log n) per PUBLISH whatever the client's maximum).
    std::list<std::pair<std::string, std::uint16_t>> out_lru;
    std::map<std::string_view, std::list<std::pair<std::string, std::uint16_t>>::iterator> out;
  };
  OnDemand<TopicAliases> aliases_;
};

}  // namespace mop::mqtt
