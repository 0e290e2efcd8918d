#pragma once
// Protocol: the MQTT 3.1/3.1.1 state machine of one network connection, sans I/O.
//
// In: bytes read from the socket (on_bytes), clock ticks (on_tick), the socket's end (on_closed),
// the broker's decisions (accept/reject a CONNECT, a publish made durable) and messages to
// deliver. Out: bytes to write (OutBuffer), and calls on a ProtocolHandler for everything that
// needs the broker. It never touches a socket, a timer or the service, so every rule is tested
// with a fake handler and a manual clock.
//
// Thread: owned by the broker thread.
#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "core/clock.hpp"
#include "core/out_buffer.hpp"
#include "mqtt/codec/codec.hpp"
#include "mqtt/session/session.hpp"

namespace mop::mqtt {

// Why a connection ended; decides whether the will is published.
enum class CloseReason {
  client_disconnect,  // DISCONNECT received: no will [MQTT-3.1.2-10]
  network_error,      // the socket failed or the peer closed without DISCONNECT
  protocol_error,     // malformed packet or rule broken
  keep_alive_timeout, // nothing received for 1.5 x keep alive [MQTT-3.1.2-24]
  connect_timeout,    // no CONNECT within the allowed time
  connect_rejected,   // CONNACK with a non-zero return code was sent
  session_taken_over, // another connection with the same client id [MQTT-3.1.4-2]
  server_shutdown,
};
const char* to_string(CloseReason r);
// Whether the will message is published for this reason.
bool publishes_will(CloseReason r);

class Protocol;

// Completion handle for a publish handed to the broker. Calling it after the connection is gone
// is harmless. `ok` false means the message could not be stored: the connection is closed
// (MQTT 3.1.1 cannot refuse a publish any other way).
using PublishDone = std::function<void(bool ok)>;

class ProtocolHandler {
public:
  virtual ~ProtocolHandler() = default;
  // Output is waiting in Protocol::output(); called when it goes from empty to non-empty.
  virtual void output_ready() = 0;
  // The connection must be closed (after flushing output). Called once.
  virtual void close(CloseReason reason, const std::string& detail) = 0;
  // A valid CONNECT arrived; answer with Protocol::accept or Protocol::reject, now or later.
  virtual void on_connect(const Connect& connect) = 0;
  // A PUBLISH to route. Call `done` once the message is durable. For QoS 0 `done` is empty:
  // there is nothing to acknowledge.
  virtual void on_publish(const Publish& publish, PublishDone done) = 0;
  // SUBSCRIBE: one return code per entry (granted QoS, or 0x80).
  virtual std::vector<std::uint8_t> on_subscribe(const Subscribe& subscribe) = 0;
  // Called after the SUBACK went out, for retained messages.
  virtual void on_subscribed(const Subscribe& subscribe, const std::vector<std::uint8_t>& codes) = 0;
  virtual void on_unsubscribe(const Unsubscribe& unsubscribe) = 0;
  // The client took responsibility for a delivered message (PUBACK, or PUBREC for QoS 2).
  virtual void on_delivery_acked(const DeliveryOrigin& origin) = 0;
  // An in-flight slot was freed (PUBACK, PUBCOMP): another message may be sent.
  virtual void on_inflight_freed(const DeliveryOrigin& origin) = 0;
};

struct ProtocolLimits {
  std::uint32_t max_packet_size = 1024 * 1024;
  std::chrono::milliseconds connect_timeout{10'000};
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
  // Closes the connection from the server side (takeover, shutdown).
  void terminate(CloseReason reason);

  // Sends a message to the client. QoS 0 goes out at once; QoS 1/2 get a packet id and are
  // tracked in the session. Returns false when no packet id is free (the caller keeps it).
  bool deliver(Publish publish, const DeliveryOrigin& origin);

  OutBuffer& output() { return out_; }
  const OutBuffer& output() const { return out_; }
  State state() const { return state_; }
  const std::shared_ptr<Session>& session() const { return session_; }
  ProtocolVersion version() const { return version_; }
  const std::string& client_id() const { return client_id_; }
  // When the next on_tick is due, for the transport's timer.
  TimePoint next_deadline() const { return deadline_; }

private:
  void handle(Packet&& packet);
  void handle_connect(Connect&& c);
  void handle_publish(Publish&& p);
  void handle_puback(PacketId id);
  void handle_pubrec(PacketId id);
  void handle_pubrel(PacketId id);
  void handle_pubcomp(PacketId id);
  void handle_subscribe(Subscribe&& s);
  void handle_unsubscribe(Unsubscribe&& u);
  void fail(CloseReason reason, const std::string& detail);
  void send(const Packet& p);
  void send_publish(const Publish& p);
  void resend_inflight();
  void touch();
  // Acknowledgements to the client leave in the order the PUBLISH/PUBREL packets arrived
  // [MQTT-4.6.0-2/3], even when the store completes them out of order.
  struct PendingAck {
    Packet packet;
    bool ready = false;
  };
  PendingAck& queue_ack(Packet packet, bool ready);
  void flush_acks();

  ProtocolHandler& handler_;
  const Clock& clock_;
  ProtocolLimits limits_;
  FrameReader reader_;
  OutBuffer out_;
  State state_ = State::awaiting_connect;
  ProtocolVersion version_ = ProtocolVersion::v311;
  std::string client_id_;
  std::chrono::milliseconds keep_alive_{0};
  TimePoint deadline_;
  std::shared_ptr<Session> session_;
  std::deque<PendingAck> acks_;
  std::uint64_t acks_popped_ = 0;  // index of acks_.front() in arrival order
};

}  // namespace mop::mqtt
