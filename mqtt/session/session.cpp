#include "mqtt/session/session.hpp"

#include <algorithm>
#include <cassert>

namespace mop::mqtt {

const std::map<PacketId, Outbound> Session::kNoOutbound;
const std::set<PacketId> Session::kNoPacketIds;

std::optional<PacketId> Session::next_free_id() {
  const auto& outbound = q_->outbound;
  if (outbound.size() >= 65535) return std::nullopt;
  // Ids are handed out round-robin so that a just-released id is not reused at once: a late
  // duplicate acknowledgement then cannot acknowledge a different message.
  for (;;) {
    last_id_ = static_cast<PacketId>(last_id_ == 65535 ? 1 : last_id_ + 1);
    if (!outbound.contains(last_id_)) return last_id_;
  }
}

std::optional<PacketId> Session::add_outbound(Publish publish, DeliveryOrigin origin, bool sent,
                                              std::uint64_t expires_at_ms) {
  auto id = next_free_id();
  if (!id) return std::nullopt;
  publish.packet_id = *id;
  Outbound::State state = !sent ? Outbound::State::unsent
                          : publish.qos == 1 ? Outbound::State::awaiting_puback
                                             : Outbound::State::awaiting_pubrec;
  q_->outbound.emplace(*id, Outbound{std::move(publish), std::move(origin), state, q_->next_seq++, expires_at_ms});
  if (!sent) ++q_->unsent;
  return id;
}

std::optional<Outbound> Session::discard_unsent(PacketId id) {
  InFlight* q = q_.get();
  if (!q) return std::nullopt;
  auto& outbound = q->outbound;
  auto it = outbound.find(id);
  if (it == outbound.end() || it->second.state != Outbound::State::unsent) return std::nullopt;
  Outbound out = std::move(it->second);
  outbound.erase(it);
  assert(q->unsent > 0 && "more entries unsent than counted");
  --q->unsent;
  return out;
}

Outbound* Session::oldest_unsent() {
  InFlight* q = q_.get();
  if (!q || q->unsent == 0) return nullptr;
  Outbound* best = nullptr;
  for (auto& [id, o] : q->outbound)
    if (o.state == Outbound::State::unsent && (!best || o.seq < best->seq)) best = &o;
  return best;
}

void Session::mark_sent(Outbound& o) {
  if (o.state != Outbound::State::unsent) return;
  o.state = o.publish.qos == 1 ? Outbound::State::awaiting_puback : Outbound::State::awaiting_pubrec;
  assert(q_.get() && q_.get()->unsent > 0 && "more entries unsent than counted");
  --q_->unsent;
}

std::optional<DeliveryOrigin> Session::on_puback(PacketId id) {
  InFlight* q = q_.get();
  if (!q) return std::nullopt;
  auto& outbound = q->outbound;
  auto it = outbound.find(id);
  if (it == outbound.end() || it->second.publish.qos != 1 || it->second.state == Outbound::State::unsent)
    return std::nullopt;
  DeliveryOrigin origin = std::move(it->second.origin);
  outbound.erase(it);
  return origin;
}

std::optional<DeliveryOrigin> Session::on_pubrec(PacketId id) {
  InFlight* q = q_.get();
  if (!q) return std::nullopt;
  auto& outbound = q->outbound;
  auto it = outbound.find(id);
  if (it == outbound.end() || it->second.publish.qos != 2 ||
      it->second.state != Outbound::State::awaiting_pubrec)
    return std::nullopt;
  it->second.state = Outbound::State::awaiting_pubcomp;
  it->second.publish.payload = Payload{};  // the client has the message: drop our copy
  return it->second.origin;
}

std::optional<DeliveryOrigin> Session::on_pubcomp(PacketId id) {
  InFlight* q = q_.get();
  if (!q) return std::nullopt;
  auto& outbound = q->outbound;
  auto it = outbound.find(id);
  if (it == outbound.end() || it->second.state != Outbound::State::awaiting_pubcomp) return std::nullopt;
  DeliveryOrigin origin = std::move(it->second.origin);
  outbound.erase(it);
  return origin;
}

bool Session::restore_awaiting_pubcomp(PacketId id, DeliveryOrigin origin) {
  if (id == 0 || q_->outbound.contains(id)) return false;
  Publish p;
  p.qos = 2;
  p.packet_id = id;
  q_->outbound.emplace(id, Outbound{std::move(p), std::move(origin), Outbound::State::awaiting_pubcomp, q_->next_seq++});
  return true;
}

std::vector<Outbound*> Session::outbound_in_order() {
  std::vector<Outbound*> out;
  InFlight* q = q_.get();
  if (!q) return out;
  out.reserve(q->outbound.size());
  for (auto& [id, o] : q->outbound) out.push_back(&o);
  std::sort(out.begin(), out.end(), [](const Outbound* a, const Outbound* b) { return a->seq < b->seq; });
  return out;
}

}  // namespace mop::mqtt
