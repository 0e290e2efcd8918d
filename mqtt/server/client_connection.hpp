#pragma once
// ClientConnection: one network connection's MQTT Protocol joined to the SessionRouter. It is
// the net::StreamHandler of its socket (bytes in, output out, keep-alive ticks) and talks back
// through the net::Stream it is given. Each packet the Protocol hands over goes to the router
// handler for it (see the README's table); the connection keeps only what belongs to the
// connection: its will, its session while connected, an enhanced authentication in progress,
// the delivery pause of a slow socket.
//
// Thread: the router's.
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "mqtt/server/enhanced_authenticator.hpp"
#include "mqtt/session/protocol.hpp"
#include "net/stream.hpp"
#include "service/topic_name.hpp"

namespace mop::mqtt {

class SessionRouter;
struct SessionEntry;

class ClientConnection final : public ProtocolHandler, public net::StreamHandler {
public:
  ClientConnection(SessionRouter& router, net::Stream& stream);
  ~ClientConnection() override;

  Protocol& protocol() { return *protocol_; }
  const Protocol& protocol() const { return *protocol_; }
  net::Stream& stream() { return stream_; }
  // More bytes wait for the socket than the router allows (RouterOptions::max_queued_bytes),
  // even after writing what the socket takes now (net::Stream::write_now).
  bool congested();
  // QoS 0 messages not delivered because the client was congested.
  std::uint64_t dropped_qos0() const { return dropped_qos0_; }
  // The socket is not keeping up: the session's receiver gets no permits until
  // on_output_drained(), then the whole window again.
  bool deliveries_paused() const { return deliveries_paused_; }
  std::uint64_t delivery_pauses() const { return delivery_pauses_; }
  // Who the client authenticated as (empty while authentication is off or not yet done).
  const std::string& role() const { return role_; }

  // net::StreamHandler: the socket's side. on_output_drained: everything queued for the client
  // has been written to its socket.
  void on_bytes(std::span<const std::uint8_t> bytes) override { protocol_->on_bytes(bytes); }
  void on_closed() override { protocol_->on_closed(); }
  void on_tick() override { protocol_->on_tick(); }
  TimePoint next_deadline() const override { return protocol_->next_deadline(); }
  bool input_held() const override { return protocol_->input_held(); }
  bool closed() const override { return protocol_->state() == Protocol::State::closed; }
  OutBuffer& output() override { return protocol_->output(); }
  void on_output_drained() override;

  // ProtocolHandler
  void output_ready() override;
  void deadline_changed() override { stream_.deadline_changed(); }
  void input_released() override { stream_.input_released(); }
  void close(CloseReason reason, const std::string& detail) override;
  void on_connect(const Connect& connect) override;
  void on_publish(const Publish& publish, PublishDone done) override;
  void on_subscribe(const Subscribe& subscribe, std::function<void(std::vector<std::uint8_t>)> done) override;
  void on_subscribed(const Subscribe& subscribe, const std::vector<std::uint8_t>& codes) override;
  std::vector<ReasonCode> on_unsubscribe(const Unsubscribe& unsubscribe) override;
  void on_delivery_acked(const DeliveryOrigin& origin) override;
  void on_inflight_freed(const DeliveryOrigin& origin) override;
  void on_pubrec_received(PacketId id, const DeliveryOrigin& origin, std::function<void()> done) override;
  void on_pubcomp_received(const DeliveryOrigin& origin) override;
  void on_inbound_released(PacketId id, std::function<void()> done) override;
  bool supports_auth_method(const std::string& method) const override;
  void on_auth(const Auth& auth) override;

private:
  // The router's handlers keep this connection's session state (entry, will, authentication,
  // delivery pause); nothing else reaches in.
  friend class SessionRouter;
  SessionRouter& router_;
  net::Stream& stream_;
  std::shared_ptr<Protocol> protocol_;
  // Held by pointer: an idle connection should not carry a Will and a CONNECT (1.7 KiB) inline.
  std::unique_ptr<Will> will_;
  std::shared_ptr<SessionEntry> entry_;
  bool closed_ = false;
  std::uint64_t dropped_qos0_ = 0;
  bool deliveries_paused_ = false;
  std::uint64_t delivery_pauses_ = 0;
  // Enhanced authentication in progress: the exchange's state and the CONNECT it admits.
  std::unique_ptr<EnhancedAuthenticator::State> auth_state_;
  std::unique_ptr<Connect> pending_connect_;
  std::string role_;
  // The last topic this client published to, mapped: publishers mostly repeat their topic, and
  // mapping it (URL encoding, parsing) is the costliest step of a small publish. Allocated at
  // the first PUBLISH: inline it made every connection, idle ones and subscribers too, carry
  // about 170 bytes it never used.
  struct PublishTopic {
    std::string mqtt;
    // Null: `mqtt` names no Pulsar topic. Shared with the completions of the publishes to it,
    // which would otherwise each copy the name (SessionRouter::publish).
    std::shared_ptr<const service::TopicName> pulsar;
  };
  std::unique_ptr<PublishTopic> last_topic_;
};

}  // namespace mop::mqtt
