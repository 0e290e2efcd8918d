#include "cluster/cluster_session_store.hpp"

#include <nlohmann/json.hpp>

#include "cluster/cluster_log.hpp"

namespace mop::cluster {

namespace {
constexpr char kPresent = '\x01';  // first byte of every stored value; empty = deleted
}  // namespace

ClusterSessionStore::ClusterSessionStore(Executor& executor, pulsar::client::Client& client,
                                         const std::string& system_namespace, std::string owner)
    : executor_(executor),
      owner_(std::move(owner)),
      sessions_(client, "persistent://" + system_namespace + "/mqtt-sessions"),
      wills_(client, "persistent://" + system_namespace + "/mqtt-wills") {}

void ClusterSessionStore::open(std::function<void(Result<void, Error>)> done) {
  auto remaining = std::make_shared<int>(2);
  auto failed = std::make_shared<bool>(false);
  auto one = [remaining, failed, done](Result<void, Error> r) {
    if (*failed) return;
    if (!r.ok()) {
      *failed = true;
      return done(std::move(r));
    }
    if (--*remaining == 0) done({});
  };
  sessions_.open(one);
  wills_.open(one);
}

void ClusterSessionStore::close() {
  *alive_ = false;
  sessions_.close();
  wills_.close();
}

void ClusterSessionStore::write(StateTable& table, const std::string& key, std::string value, service::StateDone done) {
  table.write(key, std::move(value), [done = std::move(done)](Result<void, Error> r) {
    if (!r.ok()) logger()->warn("{}", r.error().message);
    if (done) done(std::move(r));
  });
}

void ClusterSessionStore::put_session(service::SessionRecord session, service::StateDone done) {
  const std::string key = session.client_id;
  write(sessions_, key, encode_session(session, owner_), std::move(done));
}

void ClusterSessionStore::delete_session(const std::string& client_id, service::StateDone done) {
  write(sessions_, client_id, std::string(), std::move(done));
}

void ClusterSessionStore::put_will(service::WillRecord will, service::StateDone done) {
  const std::string key = will.client_id;
  write(wills_, key, encode_will(will, owner_), std::move(done));
}

void ClusterSessionStore::delete_will(const std::string& client_id, service::StateDone done) {
  write(wills_, client_id, std::string(), std::move(done));
}

std::vector<service::SessionRecord> ClusterSessionStore::sessions() const {
  std::vector<service::SessionRecord> out;
  for (const auto& [key, value] : sessions_.rows()) {
    if (auto s = decode_session(value)) {
      out.push_back(std::move(*s));
    } else {
      logger()->warn("session record of {} in {} cannot be decoded; skipped", key, sessions_.topic());
    }
  }
  return out;
}

std::optional<service::SessionRecord> ClusterSessionStore::find_session(const std::string& client_id) const {
  auto it = sessions_.rows().find(client_id);
  if (it == sessions_.rows().end()) return std::nullopt;
  return decode_session(it->second);
}

std::vector<service::WillRecord> ClusterSessionStore::wills() const {
  std::vector<service::WillRecord> out;
  for (const auto& [key, value] : wills_.rows()) {
    if (auto w = decode_will(value)) {
      w->client_id = key;
      out.push_back(std::move(*w));
    } else {
      logger()->warn("will of {} in {} cannot be decoded; skipped", key, wills_.topic());
    }
  }
  return out;
}

std::map<std::string, std::vector<service::WillRecord>> ClusterSessionStore::wills_of_others() const {
  std::map<std::string, std::vector<service::WillRecord>> out;
  for (const auto& [key, value] : wills_.rows()) {
    std::string owner;
    auto w = decode_will(value, &owner);
    if (!w || owner.empty() || owner == owner_) continue;
    w->client_id = key;
    out[owner].push_back(std::move(*w));
  }
  return out;
}

std::vector<service::SessionRecord> ClusterSessionStore::sessions_of(const std::string& owner) const {
  std::vector<service::SessionRecord> out;
  for (const auto& [key, value] : sessions_.rows()) {
    std::string named;
    auto s = decode_session(value, &named);
    if (s && named == owner) out.push_back(std::move(*s));
  }
  return out;
}

std::set<std::string> ClusterSessionStore::others() const {
  std::set<std::string> out;
  std::string owner;
  for (const auto& [key, value] : wills_.rows())
    if (decode_will(value, &owner) && !owner.empty() && owner != owner_) out.insert(owner);
  for (const auto& [key, value] : sessions_.rows())
    if (decode_session(value, &owner) && !owner.empty() && owner != owner_) out.insert(owner);
  return out;
}

bool ClusterSessionStore::has_will(const std::string& client_id) const {
  auto it = wills_.rows().find(client_id);
  return it != wills_.rows().end() && !it->second.empty();
}

bool ClusterSessionStore::owns_will(const std::string& client_id) const {
  auto it = wills_.rows().find(client_id);
  if (it == wills_.rows().end()) return false;
  std::string owner;
  return decode_will(it->second, &owner) && owner == owner_;
}

void ClusterSessionStore::load(std::function<void(Result<service::SessionSnapshot, Error>)> done) {
  service::SessionSnapshot snapshot{sessions(), wills()};
  auto alive = alive_;
  executor_.post([alive, snapshot = std::move(snapshot), done = std::move(done)]() mutable {
    if (*alive) done(std::move(snapshot));
  });
}

void ClusterSessionStore::get_session(const std::string& client_id,
                                      std::function<void(Result<std::optional<service::SessionRecord>, Error>)> done) {
  std::optional<service::SessionRecord> found;
  if (auto it = sessions_.rows().find(client_id); it != sessions_.rows().end()) found = decode_session(it->second);
  auto alive = alive_;
  executor_.post([alive, found = std::move(found), done = std::move(done)]() mutable {
    if (*alive) done(std::move(found));
  });
}

void ClusterSessionStore::get_will(const std::string& client_id,
                                   std::function<void(Result<std::optional<service::WillRecord>, Error>)> done) {
  std::optional<service::WillRecord> found;
  if (auto it = wills_.rows().find(client_id); it != wills_.rows().end()) {
    found = decode_will(it->second);
    if (found) found->client_id = client_id;
  }
  auto alive = alive_;
  executor_.post([alive, found = std::move(found), done = std::move(done)]() mutable {
    if (*alive) done(std::move(found));
  });
}

std::string ClusterSessionStore::encode_will(const service::WillRecord& will, const std::string& owner) {
  std::map<std::string, std::string> extra{{"client_id", will.client_id},
                                                 {"topic", will.topic},
                                                 {"qos", std::to_string(will.qos)},
                                                 {"retain", will.retain ? "1" : "0"},
                                                 {"delay_s", std::to_string(will.delay_s)},
                                                 {"due_at_ms", std::to_string(will.due_at_ms)}};
  if (!owner.empty()) extra["owner"] = owner;
  return encode_message(will.message, extra);
}

std::optional<service::WillRecord> ClusterSessionStore::decode_will(std::string_view value, std::string* owner) {
  std::map<std::string, std::string> extra;
  auto m = decode_message(value, &extra);
  if (!m) return std::nullopt;
  if (owner != nullptr) {
    auto o = extra.find("owner");
    *owner = o != extra.end() ? o->second : std::string();
  }
  try {
    service::WillRecord w;
    w.client_id = extra.at("client_id");
    w.topic = extra.at("topic");
    w.message = std::move(*m);
    w.qos = static_cast<std::uint8_t>(std::stoul(extra.at("qos")));
    w.retain = extra.at("retain") == "1";
    w.delay_s = static_cast<std::uint32_t>(std::stoul(extra.at("delay_s")));
    w.due_at_ms = std::stoull(extra.at("due_at_ms"));
    return w;
  } catch (const std::exception&) {
    return std::nullopt;
  }
}

std::string ClusterSessionStore::encode_message(const service::Message& m, const std::map<std::string, std::string>& extra) {
  nlohmann::json j;
  j["payload"] = nlohmann::json::binary(std::vector<std::uint8_t>(m.payload.bytes().begin(), m.payload.bytes().end()));
  nlohmann::json props = nlohmann::json::array();
  for (const auto& [k, v] : m.properties) props.push_back({k, v});
  j["properties"] = std::move(props);
  j["publish_time_ms"] = m.publish_time_ms;
  j["producer_name"] = m.producer_name;
  if (m.ordering_key) j["ordering_key"] = *m.ordering_key;
  j["qos"] = m.mqtt_qos;
  j["extra"] = extra;
  const auto bytes = nlohmann::json::to_msgpack(j);
  std::string out(1, kPresent);
  out.append(bytes.begin(), bytes.end());
  return out;
}

std::optional<service::Message> ClusterSessionStore::decode_message(std::string_view value,
                                                               std::map<std::string, std::string>* extra) {
  if (value.empty() || value.front() != kPresent) return std::nullopt;
  value.remove_prefix(1);
  auto j = nlohmann::json::from_msgpack(value.begin(), value.end(), true, false);
  if (j.is_discarded() || !j.is_object()) return std::nullopt;
  try {
    service::Message m;
    const auto& bin = j.at("payload").get_binary();
    m.payload = Payload::copy_of(std::span<const std::uint8_t>(bin.data(), bin.size()));
    for (const auto& p : j.at("properties")) m.properties.emplace_back(p.at(0).get<std::string>(), p.at(1).get<std::string>());
    m.publish_time_ms = j.at("publish_time_ms").get<std::uint64_t>();
    m.producer_name = j.at("producer_name").get<std::string>();
    if (j.contains("ordering_key")) m.ordering_key = j["ordering_key"].get<std::string>();
    m.mqtt_qos = j.at("qos").get<std::uint8_t>();
    if (extra != nullptr) *extra = j.at("extra").get<std::map<std::string, std::string>>();
    return m;
  } catch (const nlohmann::json::exception&) {
    return std::nullopt;
  }
}

std::string ClusterSessionStore::encode_session(const service::SessionRecord& s, const std::string& owner) {
  nlohmann::json j;
  j["client_id"] = s.client_id;
  if (!owner.empty()) j["owner"] = owner;
  j["clean_start"] = s.clean_start;
  j["protocol_version"] = s.protocol_version;
  j["expiry_interval_s"] = s.expiry_interval_s;
  j["disconnected_at_ms"] = s.disconnected_at_ms;
  nlohmann::json subs = nlohmann::json::array();
  for (const auto& sub : s.subscriptions) {
    subs.push_back({{"filter", sub.filter}, {"qos", sub.qos}, {"options", sub.options}, {"id", sub.subscription_id}});
  }
  j["subscriptions"] = std::move(subs);
  j["inbound_qos2"] = s.inbound_qos2;
  nlohmann::json out = nlohmann::json::array();
  for (const auto& o : s.outbound) {
    out.push_back({{"packet_id", o.packet_id},
                   {"topic", o.topic},
                   {"subscription", o.subscription},
                   {"ledger", o.message_id.ledger},
                   {"entry", o.message_id.entry},
                   {"batch", o.message_id.batch},
                   {"qos", o.qos},
                   {"state", static_cast<int>(o.state)}});
  }
  j["outbound"] = std::move(out);
  // Written only when used (RouterOptions::qos2_deduplication); records without them read as none.
  if (!s.inbound_sequences.empty() || s.last_sequence_id != -1) {
    nlohmann::json seqs = nlohmann::json::array();
    for (const auto& q : s.inbound_sequences) seqs.push_back({{"packet_id", q.packet_id}, {"seq", q.sequence_id}});
    j["inbound_sequences"] = std::move(seqs);
    j["last_sequence_id"] = s.last_sequence_id;
  }
  const auto bytes = nlohmann::json::to_msgpack(j);
  std::string value(1, kPresent);
  value.append(bytes.begin(), bytes.end());
  return value;
}

std::optional<service::SessionRecord> ClusterSessionStore::decode_session(std::string_view value, std::string* owner) {
  if (value.empty() || value.front() != kPresent) return std::nullopt;
  value.remove_prefix(1);
  auto j = nlohmann::json::from_msgpack(value.begin(), value.end(), true, false);
  if (j.is_discarded() || !j.is_object()) return std::nullopt;
  try {
    service::SessionRecord s;
    s.client_id = j.at("client_id").get<std::string>();
    s.clean_start = j.at("clean_start").get<bool>();
    s.protocol_version = j.at("protocol_version").get<std::uint8_t>();
    s.expiry_interval_s = j.at("expiry_interval_s").get<std::uint32_t>();
    s.disconnected_at_ms = j.at("disconnected_at_ms").get<std::uint64_t>();
    if (owner != nullptr) *owner = j.contains("owner") ? j.at("owner").get<std::string>() : std::string();
    for (const auto& sub : j.at("subscriptions")) {
      s.subscriptions.push_back({sub.at("filter").get<std::string>(), sub.at("qos").get<std::uint8_t>(),
                                 sub.at("options").get<std::uint8_t>(), sub.at("id").get<std::uint32_t>()});
    }
    s.inbound_qos2 = j.at("inbound_qos2").get<std::vector<std::uint16_t>>();
    for (const auto& o : j.at("outbound")) {
      service::OutboundInflight f;
      f.packet_id = o.at("packet_id").get<std::uint16_t>();
      f.topic = o.at("topic").get<std::string>();
      f.subscription = o.at("subscription").get<std::string>();
      f.message_id = {o.at("ledger").get<std::uint64_t>(), o.at("entry").get<std::uint64_t>(),
                      o.at("batch").get<std::int32_t>()};
      f.qos = o.at("qos").get<std::uint8_t>();
      f.state = o.at("state").get<int>() == 1 ? service::OutboundState::pubrel_sent : service::OutboundState::publish_sent;
      s.outbound.push_back(std::move(f));
    }
    if (j.contains("inbound_sequences")) {
      for (const auto& q : j.at("inbound_sequences"))
        s.inbound_sequences.push_back({q.at("packet_id").get<std::uint16_t>(), q.at("seq").get<std::int64_t>()});
      s.last_sequence_id = j.at("last_sequence_id").get<std::int64_t>();
    }
    return s;
  } catch (const nlohmann::json::exception&) {
    return std::nullopt;
  }
}

}  // namespace mop::cluster
