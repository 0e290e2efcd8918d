#include "cluster/liveness_lease.hpp"

#include "cluster/cluster_log.hpp"

namespace mop::cluster {

namespace pc = pulsar::client;

LivenessLeases::LivenessLeases(pc::Client& client, const std::string& system_namespace, std::string instance,
                               std::function<void(const Error&)> lost)
    : client_(client),
      namespace_(system_namespace),
      instance_(std::move(instance)),
      own_topic_(topic_of(instance_)),
      lost_(std::move(lost)) {}

LivenessLeases::~LivenessLeases() { *alive_ = false; }

std::string LivenessLeases::topic_of(const std::string& instance) const {
  return "persistent://" + namespace_ + "/mqtt-lease-" + instance;
}

void LivenessLeases::open(std::function<void(Result<void, Error>)> done) { create_own(std::move(done)); }

void LivenessLeases::create_own(std::function<void(Result<void, Error>)> done) {
  taking_own_ = true;
  auto alive = alive_;
  pc::ProducerConfig config;
  config.topic = own_topic_;
  config.producer_name = "mop-lease-" + instance_;
  config.access_mode = pc::AccessMode::exclusive;
  // Posted once if the broker refuses the lease on a reconnection for good (ProducerFenced:
  // another proxy's exclusive producer holds the topic, so it took this proxy for dead).
  config.on_closed = [this, alive](const Error& e) {
    if (!*alive) return;
    own_.reset();
    logger()->error("the liveness lease {} was taken by another proxy ({}): it took this proxy for dead", own_topic_,
                    e.to_string());
    if (lost_) lost_(e);
  };
  client_.create_producer(std::move(config), [this, alive, done = std::move(done)](auto made) {
    if (!*alive) return;
    taking_own_ = false;
    if (!made.ok()) {
      if (done) done(Error(made.error().code, "cannot take the liveness lease " + own_topic_ + ": " + made.error().message));
      return;
    }
    own_ = made.value();
    if (done) done({});
  });
}

void LivenessLeases::take_own_again() {
  if (own_ || taking_own_) return;
  create_own([this](Result<void, Error> r) {
    if (r.ok())
      logger()->info("the liveness lease {} is this proxy's again", own_topic_);
    else
      logger()->debug("{}", r.error().message);
  });
}

void LivenessLeases::try_take(const std::string& instance, std::function<void(bool taken)> done) {
  if (instance == instance_ || taken_.contains(instance)) return done(false);
  taken_[instance] = Taken{nullptr, std::chrono::steady_clock::now()};
  auto alive = alive_;
  pc::ProducerConfig config;
  config.topic = topic_of(instance);
  config.producer_name = "mop-lease-" + instance_ + "-for-" + instance;
  config.access_mode = pc::AccessMode::exclusive;
  // Asked once, on the connection of now: an attempt retried after the cluster came back could
  // be the first producer on the lease of a proxy still reconnecting, which then takes itself for
  // dead and closes its clients (seen with Apache Pulsar stopped and started under load).
  config.retry_first_creation = false;
  client_.create_producer(std::move(config), [this, alive, instance, done = std::move(done)](auto made) {
    if (!*alive) return;
    if (!made.ok()) {  // the owner lives (or another proxy was first), or the broker could not say
      taken_.erase(instance);
      logger()->debug("liveness lease of proxy {} not taken: {}", instance, made.error().to_string());
      return done(false);
    }
    taken_[instance] = Taken{made.value(), std::chrono::steady_clock::now()};
    done(true);
  });
}

void LivenessLeases::release_old() {
  const auto now = std::chrono::steady_clock::now();
  for (auto it = taken_.begin(); it != taken_.end();) {
    if (!it->second.producer || now - it->second.since < kTakenLeaseHold) {
      ++it;
      continue;
    }
    it->second.producer->close([](auto) {});
    it = taken_.erase(it);
  }
}

void LivenessLeases::release(const std::string& instance) {
  const auto it = taken_.find(instance);
  if (it == taken_.end() || !it->second.producer) return;
  logger()->info("liveness lease of proxy {} given back: taken while this proxy was cut off from the cluster", instance);
  it->second.producer->close([](auto) {});
  taken_.erase(it);
}

void LivenessLeases::close() {
  *alive_ = false;
  if (own_) own_->close([](auto) {});
  for (auto& [instance, t] : taken_)
    if (t.producer) t.producer->close([](auto) {});
  taken_.clear();
}

}  // namespace mop::cluster
