#pragma once
// Session: the MQTT session state that outlives a network connection when clean session = 0
// (MQTT 3.1.1 section 3.1.2.4): subscriptions, QoS 1/2 deliveries in flight to the client, QoS 2
// packet ids received from the client and not yet released. Plain data plus the rules of the
// packet-id state machine, so that the storage layer can persist it and tests can drive it.
//
// Thread: owned by the broker thread, like every connection that uses it.
#include <cassert>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "core/on_demand.hpp"
#include "core/payload.hpp"
#include "mqtt/codec/packets.hpp"
#include "service/topic_name.hpp"

namespace mop::mqtt {

// The Pulsar subscription a delivered message was read from. The router makes one per (topic,
// subscription) a session is bound to and every delivery from it shares it, so passing a
// client's acknowledgement on copies and parses no names.
struct DeliverySource {
  service::TopicName topic;
  std::string subscription;
};

// Where a delivered message came from, so that the client's acknowledgement can be passed on to
// the subscription it was read from. The session does not know the service: it only carries
// this back to the handler.
struct DeliveryOrigin {
  std::shared_ptr<const DeliverySource> source;  // null: nothing to acknowledge (a retained message)
  std::uint64_t ledger = 0;
  std::uint64_t entry = 0;
  std::int32_t batch = -1;
};

// A QoS 1 or 2 message sent (or about to be sent) to the client and not yet acknowledged.
struct Outbound {
  enum class State : std::uint8_t {
    unsent,          // queued while no connection could take it
    awaiting_puback, // QoS 1 sent
    awaiting_pubrec, // QoS 2 sent
    awaiting_pubcomp // QoS 2: PUBREC received, PUBREL sent
  };
  Publish publish;  // packet_id set; dup set when resent
  DeliveryOrigin origin;
  State state = State::unsent;
  std::uint64_t seq = 0;  // first-send order within the session
  // MQTT 5 message expiry: wall-clock ms at which the message expires, 0 = never. The interval
  // sent is recounted from it at each send [MQTT-3.3.2-6].
  std::uint64_t expires_at_ms = 0;
};

class Session {
public:
  Session(std::string client_id, bool clean)
      : client_id_(std::move(client_id)), clean_(clean), expiry_interval_(clean ? 0 : kNeverExpires) {}

  const std::string& client_id() const { return client_id_; }
  bool clean() const { return clean_; }

  // How long the session outlives its network connection, in seconds: 0 = it ends with the
  // connection, kNeverExpires = never (MQTT 5 3.1.2.11.2). 3.1.1 clean session maps to 0 / never.
  static constexpr std::uint32_t kNeverExpires = 0xFFFFFFFF;
  std::uint32_t expiry_interval() const { return expiry_interval_; }
  void set_expiry_interval(std::uint32_t s) { expiry_interval_ = s; }

  // Subscriptions: filter -> granted QoS.
  std::map<std::string, std::uint8_t>& subscriptions() { return subscriptions_; }
  const std::map<std::string, std::uint8_t>& subscriptions() const { return subscriptions_; }

  // Outbound (server -> client) QoS 1/2 deliveries, in the order they were first sent. The
  // client must see resent messages in their original order [MQTT-4.6.0-1].
  // Returns the packet id assigned, or nullopt when all 65535 ids are in use.
  std::optional<PacketId> add_outbound(Publish publish, DeliveryOrigin origin, bool sent,
                                       std::uint64_t expires_at_ms = 0);
  // Removes an entry never sent (it expired while waiting); nullopt if `id` is not one.
  std::optional<Outbound> discard_unsent(PacketId id);
  // PUBACK for a QoS 1 delivery: removes the entry and returns its origin (the message itself
  // is not moved out: nobody needs it). nullopt if the id is not awaiting PUBACK.
  std::optional<DeliveryOrigin> on_puback(PacketId id);
  // PUBREC for a QoS 2 delivery: moves it to awaiting_pubcomp and returns its origin (to ack
  // the subscription: from here on the client owns the message). nullopt if unknown.
  std::optional<DeliveryOrigin> on_pubrec(PacketId id);
  // PUBCOMP: forgets the packet id and returns the origin; nullopt if it was not awaiting PUBCOMP.
  std::optional<DeliveryOrigin> on_pubcomp(PacketId id);
  // Messages in flight in send order, for resending after a reconnect.
  std::vector<Outbound*> outbound_in_order();
  // Every outbound entry, by packet id (what a persistent session stores).
  const std::map<PacketId, Outbound>& outbound() const { return q_.get() ? q_.get()->outbound : kNoOutbound; }
  // A QoS 2 delivery read back from the store after a restart, PUBREL sent and PUBCOMP not yet
  // received: it keeps its packet id and its PUBREL is resent when the client resumes. False
  // when the id is taken.
  bool restore_awaiting_pubcomp(PacketId id, DeliveryOrigin origin);
  std::size_t outbound_count() const { return q_.get() ? q_.get()->outbound.size() : 0; }
  // Entries sent and not yet completed: what counts against the client's receive maximum.
  std::size_t inflight_count() const {
    const InFlight* q = q_.get();
    if (!q) return 0;
    assert(q->unsent <= q->outbound.size() && "in-flight count below zero");
    return q->outbound.size() - q->unsent;
  }
  // The oldest entry not yet sent, or nullptr.
  Outbound* oldest_unsent();
  // Moves an unsent entry to its first awaiting state (the caller sends it).
  void mark_sent(Outbound& o);

  // Inbound (client -> server) QoS 2: packet ids whose PUBLISH was accepted and whose PUBREL has
  // not arrived. A PUBLISH with an id in this set is a duplicate and is not published again.
  bool inbound_qos2_pending(PacketId id) const { return q_.get() && q_.get()->inbound_qos2.count(id) != 0; }
  void add_inbound_qos2(PacketId id) {
    q_->inbound_qos2.insert(id);
    q_->inbound_qos2_unsure.erase(id);
  }
  bool release_inbound_qos2(PacketId id) {
    InFlight* q = q_.get();
    return q && (q->inbound_qos2.erase(id) + q->inbound_qos2_unsure.erase(id)) != 0;
  }
  // An id restored from a record that says its message was handed over but may not be stored
  // (service::InboundSequence): a PUBLISH with it is not a duplicate (it is published again and
  // the service's deduplication decides), and a PUBREL with it is known.
  void add_inbound_qos2_unsure(PacketId id) { q_->inbound_qos2_unsure.insert(id); }
  const std::set<PacketId>& inbound_qos2() const { return q_.get() ? q_.get()->inbound_qos2 : kNoPacketIds; }

private:
  std::optional<PacketId> next_free_id();

  // The QoS 1/2 state, allocated at the first QoS 1/2 delivery or inbound QoS 2 PUBLISH: a
  // session that never has one (idle, QoS 0 only) carries a pointer instead of a map and two
  // sets (about 150 bytes). Kept once allocated.
  struct InFlight {
    std::map<PacketId, Outbound> outbound;
    std::size_t unsent = 0;
    std::uint64_t next_seq = 0;
    std::set<PacketId> inbound_qos2;
    std::set<PacketId> inbound_qos2_unsure;
  };
  static const std::map<PacketId, Outbound> kNoOutbound;
  static const std::set<PacketId> kNoPacketIds;

  std::string client_id_;
  bool clean_;
  PacketId last_id_ = 0;  // outside InFlight: ids stay round robin for the session's life
  std::uint32_t expiry_interval_ = 0;
  std::map<std::string, std::uint8_t> subscriptions_;
  OnDemand<InFlight> q_;
};

}  // namespace mop::mqtt
