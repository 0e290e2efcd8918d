#include "cluster/connection_events.hpp"

#include <chrono>

#include "cluster/cluster_log.hpp"

namespace mop::cluster {

namespace pc = pulsar::client;

ConnectionEvents::ConnectionEvents(pc::Client& client, const std::string& system_namespace, std::string instance,
                                   Release release)
    : client_(client),
      topic_("persistent://" + system_namespace + "/mqtt-connections"),
      instance_(std::move(instance)),
      release_(std::move(release)) {}

ConnectionEvents::~ConnectionEvents() { *alive_ = false; }

void ConnectionEvents::open(std::function<void(Result<void, Error>)> done) {
  auto alive = alive_;
  pc::ConsumerConfig rc;
  rc.topic = topic_;
  rc.subscription = "mop-connections-" + instance_;
  rc.type = pulsar::proto::CommandSubscribe::Exclusive;
  rc.initial_position = pulsar::proto::CommandSubscribe::Latest;
  rc.durable = false;
  rc.listener = [this, alive](pc::Consumer&, const pc::Message& m) {
    if (*alive) on_event(m);
  };
  client_.subscribe(std::move(rc), [this, alive, done](auto reader) {
    if (!*alive) return;
    if (!reader.ok()) return done(Error(reader.error().code, "cannot read " + topic_ + ": " + reader.error().message));
    reader_ = reader.value();
    client_.create_producer(pc::ProducerConfig{.topic = topic_}, [this, alive, done](auto made) {
      if (!*alive) return;
      if (!made.ok()) return done(Error(made.error().code, "cannot write " + topic_ + ": " + made.error().message));
      producer_ = made.value();
      done({});
    });
  });
}

void ConnectionEvents::announce(const std::string& client_id, std::function<void(bool)> done) {
  if (!producer_) {
    logger()->warn("client {}: connection not announced on {}: not open", client_id, topic_);
    return done(false);
  }
  const std::uint64_t seq = ++announcements_;
  own_[client_id] = Own{seq, std::nullopt};
  foreign_while_pending_.erase(client_id);
  pc::OutgoingMessage m;
  m.key = client_id;
  m.payload = instance_;
  auto alive = alive_;
  producer_->send(std::move(m), [this, alive, client_id, seq, done = std::move(done)](auto sent) {
    if (!*alive) return;
    auto it = own_.find(client_id);
    const bool latest = it != own_.end() && it->second.seq == seq;
    if (!sent.ok()) {
      // The other proxies cannot hear of this connection, so it is refused (CONNACK 0x88).
      logger()->warn("client {}: connection not announced on {}: {}", client_id, topic_, sent.error().to_string());
      if (latest) own_.erase(it);
      return done(false);
    }
    if (!latest) return done(true);  // announced again since: that one decides
    it->second.id = sent.value();
    auto f = foreign_while_pending_.find(client_id);
    if (f != foreign_while_pending_.end()) {
      const bool later_elsewhere = f->second > sent.value();
      foreign_while_pending_.erase(f);
      if (later_elsewhere) {
        own_.erase(it);
        release_(client_id);  // before its CONNACK: this client never hears it was admitted
      }
    }
    done(true);
  });
}

std::string ConnectionEvents::last_proxy(const std::string& client_id) const {
  auto it = last_proxy_.find(client_id);
  return it != last_proxy_.end() ? it->second : std::string();
}

void ConnectionEvents::on_event(const pc::Message& m) {
  if (!m.key) return;
  last_proxy_[*m.key] = m.payload;
  if (m.payload == instance_) return;
  const std::string& client_id = *m.key;
  auto it = own_.find(client_id);
  if (it != own_.end() && !it->second.id) {
    // Ours is on its way: its receipt says which came first.
    auto& f = foreign_while_pending_[client_id];
    f = std::max(f, m.id);
    return;
  }
  if (it != own_.end() && *it->second.id > m.id) return;  // ours is the later connection
  if (it != own_.end()) own_.erase(it);
  logger()->debug("client {} connected to proxy {}", client_id, m.payload);
  release_(client_id);
}

void ConnectionEvents::close() {
  *alive_ = false;
  if (producer_) producer_->close([](auto) {});
  if (reader_) reader_->close([](auto) {});
}

}  // namespace mop::cluster
