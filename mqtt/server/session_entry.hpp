#pragma once
// SessionEntry: one MQTT session as the SessionRouter holds it. The MQTT side is the
// mqtt::Session (subscriptions, packet ids, QoS state); the Pulsar side is the session's
// receiver (permits shared by all its subscriptions) and its bindings: per (matched topic,
// Pulsar subscription), the filters that matched. The Pulsar subscription is the client id, or
// the group of a shared subscription. Plus what the session's persistent record needs.
//
// Plain state: the router's handlers change it (router_*.cpp); messages the receiver gets go to
// SessionRouter::deliver (router_delivery.cpp).
//
// Thread: the router's.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <list>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "core/on_demand.hpp"
#include "mqtt/server/topic_mapping.hpp"
#include "mqtt/session/session.hpp"
#include "service/messaging_service.hpp"

namespace mop::mqtt {

class SessionRouter;
class ClientConnection;

// The filters of one session that matched one (topic, Pulsar subscription).
struct SessionBinding {
  std::map<std::string, std::uint8_t> filters;  // filter -> granted QoS
  std::string mqtt_name;                        // topic name sent to this client
  std::uint8_t qos = 0;                         // max over filters [MQTT-3.3.5-1]
  bool shared = false;                          // the subscription is a `$share` group's
  // The service acknowledges this binding's deliveries as it dispatches them (QoS 0 to a clean
  // session, not shared; SessionRouter::bind), so deliver() does not. Once off, never on again:
  // a delivery seen while it is on was acknowledged on dispatch.
  bool acked_on_dispatch = false;
  // The (topic, subscription) every delivery of this binding names as its origin.
  std::shared_ptr<const DeliverySource> source;
};

// MQTT 5 subscription options of one filter (3.1.1 filters have the defaults).
struct FilterOptions {
  bool no_local = false;
  bool retain_as_published = false;
  std::uint8_t retain_handling = 0;
  std::uint32_t subscription_id = 0;  // 0 = none
};

// What a session that subscribed holds: per (matched topic, Pulsar subscription) the filters
// that matched; per filter where it looks and its MQTT 5 options.
// A binding's key is (topic, Pulsar subscription). A delivery finds its binding with references
// to the two (BindingRef), without copying them into a key (a topic name is four strings).
struct BindingRef {
  const service::TopicName& topic;
  const std::string& subscription;
};
struct BindingOrder {
  using is_transparent = void;
  using Key = std::pair<service::TopicName, std::string>;
  static std::pair<const std::string&, const std::string&> parts(const Key& k) { return {k.first.str(), k.second}; }
  static std::pair<const std::string&, const std::string&> parts(const BindingRef& k) {
    return {k.topic.str(), k.subscription};
  }
  template <typename A, typename B>
  bool operator()(const A& a, const B& b) const { return parts(a) < parts(b); }
};

struct SessionSubscriptions {
  std::map<std::pair<service::TopicName, std::string>, SessionBinding, BindingOrder> bindings;
  std::map<std::string, FilterScope> scopes;     // filter -> where it looks
  std::map<std::string, FilterOptions> options;  // filter -> MQTT 5 options (absent: defaults)
  std::set<std::string> fresh;  // filters of the last SUBSCRIBE that did not exist before it
};

// Packet ids in ascending order, in one vector: a kept session's record is written with each of
// its QoS 2 PUBLISHes, ids and all, and copying them is then one memcpy rather than a walk over a
// tree's nodes (ids come round robin, so an insert is nearly always at the end).
class SortedPacketIds {
public:
  bool insert(PacketId id) {
    const auto it = std::lower_bound(ids_.begin(), ids_.end(), id);
    if (it != ids_.end() && *it == id) return false;
    ids_.insert(it, id);
    return true;
  }
  std::size_t erase(PacketId id) {
    const auto it = std::lower_bound(ids_.begin(), ids_.end(), id);
    if (it == ids_.end() || *it != id) return 0;
    ids_.erase(it);
    return 1;
  }
  auto begin() const { return ids_.begin(); }
  auto end() const { return ids_.end(); }
  std::size_t size() const { return ids_.size(); }
  bool empty() const { return ids_.empty(); }

private:
  std::vector<PacketId> ids_;
};

// A session's QoS 2 bookkeeping beyond mqtt::Session's, for its persistent record.
struct SessionQos2 {
  // Inbound QoS 2 packet ids the record lists: those whose message was handed to the service
  // before the record was written (see SessionRouter::handle_publish). The session's own set
  // also has ids still on their way there.
  SortedPacketIds inbound_recorded;
  // RouterOptions::qos2_deduplication: packet id -> the sequence id its message was handed over
  // with (until PUBREL), and the last sequence id given out (service::InboundSequence).
  std::map<PacketId, std::int64_t> inbound_sequences;
  std::int64_t last_sequence_id = -1;
  // QoS 2 deliveries completed by PUBCOMP whose subscription acknowledgement may not be on disk
  // yet: the record keeps their origin (packet id 0) until it surely is (SessionRouter::retire),
  // so that after a restart their redelivery is acknowledged instead of sent a second time.
  // A vector, not a deque: an empty std::deque allocates its map and a 512-byte chunk.
  std::vector<DeliveryOrigin> completed_qos2;
  // SessionRouter::persist_soon: a coalesced write of the record is in flight, and the
  // completions of the changes made since, which the next write (issued when it completes)
  // carries (or the session's next persist(), whichever is first). Under a window of QoS 2
  // messages this is one record write per group commit instead of one per PUBREL, PUBREC and
  // PUBCOMP, each the whole record.
  bool coalesced_in_flight = false;
  std::vector<std::function<void(bool)>> coalesced_waiters;
};

struct SessionEntry final : service::ReceiverListener, std::enable_shared_from_this<SessionEntry> {
  using Binding = SessionBinding;
  using BindingKey = std::pair<service::TopicName, std::string>;  // topic, Pulsar subscription

  SessionEntry(SessionRouter& r, std::shared_ptr<Session> s) : router(r), session(std::move(s)) {}

  // service::ReceiverListener: hands the message to SessionRouter::deliver.
  void on_message(const service::TopicName& topic, const std::string& subscription, service::MessageId id,
                  const service::MessagePtr& message, std::uint32_t redelivery_count) override;
  // service::ReceiverListener: see SessionRouter::subscription_removed.
  void on_subscription_removed(const service::TopicName& topic, const std::string& subscription) override;

  SessionRouter& router;
  std::shared_ptr<Session> session;
  // The session's receiver in the service, opened at its first binding (SessionRouter::bind):
  // 0 while it has none, so a session that never subscribed holds nothing in the broker.
  service::ReceiverId receiver = 0;
  ClientConnection* conn = nullptr;  // while a client is connected to it

  // Allocated at the first SUBSCRIBE and at the first QoS 2 step: an idle session carries two
  // pointers instead of six empty maps and sets (about 300 bytes).
  OnDemand<SessionSubscriptions> subs;
  OnDemand<SessionQos2> qos2;

  // Persistence (sessions that outlive their connection). Each change writes the whole record;
  // the service applies a session's writes in call order, so the last one wins.
  ProtocolVersion version = ProtocolVersion::v311;
  bool clean_start = true;
  bool stored = false;  // the service holds a record of it: ending the session deletes it
  // `connack_pending` while the CONNACK waits for the record: the connection is bound, its client
  // not yet told (no will goes out if it drops now).
  bool connack_pending = false;
  bool ended = false;
  // The role of the client that last connected to it (authorization of the topics its wildcard
  // filters bind later); empty for a session restored from the store until its client is back.
  std::string role;
  std::uint64_t disconnected_at_ms = 0;  // wall clock; 0 while connected
  std::uint64_t connected_at_ms = 0;     // wall clock, of the last CONNECT accepted
  // Admissions so far; a CONNACK that waits for the record names the admission it answers, so a
  // takeover or a close in the meantime makes it stale.
  std::uint64_t admissions = 0;
  // RouterOptions::qos2_deduplication: per Pulsar topic this client publishes to, whether the
  // messages on their way go through the client's named QoS 2 producer or the shared one, how
  // many there are, and the publishes waiting for them to be stored before they may switch
  // (SessionRouter::publish_in_order). Only while something is on its way; a list, which costs
  // nothing empty.
  struct PublishLane {
    bool named = false;
    std::size_t in_flight = 0;
    bool releasing = false;
    std::list<std::pair<bool, std::function<void()>>> held;  // (named, publish)
  };
  std::map<std::string, PublishLane> publish_lanes;
};

}  // namespace mop::mqtt
