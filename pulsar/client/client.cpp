// Client::Impl: the connection pool (one Connection per broker), the service URL's hosts, binary
// lookup with redirects, partitioned-topic metadata, namespace listing, timers; and the public
// Client methods over it.
#include <algorithm>
#include <charconv>

#include "pulsar/client/client_impl.hpp"
#include "pulsar/client/consumer_impl.hpp"
#include "pulsar/client/producer_impl.hpp"

namespace mop::pulsar::client {

Result<std::vector<Endpoint>, Error> parse_service_url(const std::string& url) {
  const std::string plain = "pulsar://", secure = "pulsar+ssl://";
  const bool tls = url.rfind(secure, 0) == 0;
  if (!tls && url.rfind(plain, 0) != 0) {
    return Error(ClientErrc::invalid_argument,
                 "service URL \"" + url + "\" does not start with pulsar:// or pulsar+ssl://");
  }
  std::string rest = url.substr(tls ? secure.size() : plain.size());
  while (!rest.empty() && rest.back() == '/') rest.pop_back();
  std::vector<Endpoint> out;
  std::size_t start = 0;
  while (start <= rest.size()) {
    const auto comma = rest.find(',', start);
    const std::string part = rest.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
    if (part.empty()) return Error(ClientErrc::invalid_argument, "service URL \"" + url + "\" names an empty host");
    Endpoint e;
    e.tls = tls;
    if (tls) e.port = 6651;
    const auto colon = part.rfind(':');
    if (colon == std::string::npos) {
      e.host = part;
    } else {
      e.host = part.substr(0, colon);
      unsigned port = 0;
      const auto* b = part.data() + colon + 1;
      const auto* end = part.data() + part.size();
      auto [p, ec] = std::from_chars(b, end, port);
      if (ec != std::errc() || p != end || port == 0 || port > 65535 || e.host.empty()) {
        return Error(ClientErrc::invalid_argument, "service URL \"" + url + "\": bad host:port \"" + part + "\"");
      }
      e.port = static_cast<std::uint16_t>(port);
    }
    out.push_back(std::move(e));
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  return out;
}

Result<std::string, Error> full_topic_name(const std::string& topic) {
  if (topic.empty()) return Error(ClientErrc::invalid_argument, "empty topic name");
  if (topic.rfind("persistent://", 0) == 0 || topic.rfind("non-persistent://", 0) == 0) return topic;
  if (topic.find("://") != std::string::npos) return Error(ClientErrc::invalid_argument, "bad topic domain in \"" + topic + "\"");
  const auto slashes = std::count(topic.begin(), topic.end(), '/');
  if (slashes == 0) return "persistent://public/default/" + topic;
  if (slashes == 2) return "persistent://" + topic;
  return Error(ClientErrc::invalid_argument, "topic \"" + topic + "\" is neither a name nor tenant/namespace/name");
}

std::string endpoint_url(const Endpoint& e) { return (e.tls ? "pulsar+ssl://" : "pulsar://") + e.key(); }

std::string partition_name(const std::string& topic, std::uint32_t partition) {
  return topic + "-partition-" + std::to_string(partition);
}

// --- Impl ---

Client::Impl::Impl(Executor& e, Clock& c, Transport& t, ClientConfig cfg)
    : executor(e), clock(c), transport(t), config(std::move(cfg)), rng(config.seed ? config.seed : std::random_device{}()) {}

void Client::Impl::post(std::function<void()> fn) {
  executor.post([alive = std::weak_ptr<bool>(alive), fn = std::move(fn)] {
    if (alive.lock()) fn();
  });
}

void Client::Impl::arm(TimePoint t) {
  if (t < reported_deadline) {
    reported_deadline = t;
    if (wakeup) wakeup();
  }
}

Millis Client::Impl::backoff(int attempt) {
  auto base = config.backoff_initial.count();
  for (int i = 0; i < attempt && base < config.backoff_max.count(); ++i) base *= 2;
  base = std::min<std::int64_t>(base, config.backoff_max.count());
  std::uniform_real_distribution<double> jitter(0.8, 1.2);
  return Millis(std::max<std::int64_t>(1, static_cast<std::int64_t>(static_cast<double>(base) * jitter(rng))));
}

void Client::Impl::connection_to(const Endpoint& physical, const std::string& logical_url, const std::string& proxy_to,
                                 std::function<void(Result<std::shared_ptr<Connection>, Error>)> cb) {
  if (closing) {
    post([cb = std::move(cb)] { cb(Error(ClientErrc::closed, "the client is closed")); });
    return;
  }
  const std::string key = physical.key() + (proxy_to.empty() ? "" : "->" + proxy_to);
  auto it = connections.find(key);
  std::shared_ptr<Connection> c;
  if (it != connections.end() && !it->second->closed()) {
    c = it->second;
  } else {
    c = std::make_shared<Connection>(*this, physical, logical_url, proxy_to);
    connections[key] = c;
    c->open();
  }
  c->when_ready([c, cb = std::move(cb)](Result<void, Error> r) {
    if (!r.ok()) return cb(std::move(r).error());
    cb(c);
  });
}

void Client::Impl::service_connection(std::function<void(Result<std::shared_ptr<Connection>, Error>)> cb, std::size_t tries) {
  const Endpoint& e = service[next_service % service.size()];
  connection_to(e, endpoint_url(e), "", [this, cb = std::move(cb), tries](Result<std::shared_ptr<Connection>, Error> r) {
    if (!r.ok() && r.error().code != make_error_code(ClientErrc::closed) && tries + 1 < service.size()) {
      ++next_service;  // this host is down: the next one, and stay with it
      return service_connection(std::move(cb), tries + 1);
    }
    cb(std::move(r));
  });
}

void Client::Impl::forget(Connection& c) {
  auto it = connections.find(c.key());
  if (it != connections.end() && it->second.get() == &c) {
    // Keep the object alive until the current call stack unwinds.
    post([keep = it->second] {});
    connections.erase(it);
  }
}

namespace {

struct LookupState {
  std::string topic;
  int redirects = 0;
  std::function<void(Result<std::shared_ptr<Connection>, Error>)> cb;
};

void lookup_on(Client::Impl& impl, std::shared_ptr<Connection> conn, bool authoritative, std::shared_ptr<LookupState> st) {
  const auto id = impl.next_request_id++;
  proto::BaseCommand cmd;
  cmd.set_type(proto::BaseCommand::LOOKUP);
  auto* q = cmd.mutable_lookuptopic();
  q->set_topic(st->topic);
  q->set_request_id(id);
  q->set_authoritative(authoritative);
  conn->request(id, cmd, [&impl, conn, st](Result<const proto::BaseCommand*, Error> r) {
    if (!r.ok()) return st->cb(std::move(r).error());
    const auto& a = (*r)->lookuptopicresponse();
    if (a.response() == proto::CommandLookupTopicResponse::Failed || !a.has_brokerserviceurl()) {
      return st->cb(server_failure("lookup of " + st->topic, a.error(), a.message()));
    }
    // A TLS client goes on over TLS: the broker's TLS URL, which it must have.
    const bool tls = impl.service.front().tls;
    if (tls && !a.has_brokerserviceurltls()) {
      return st->cb(Error(ClientErrc::protocol_error, "lookup of " + st->topic + " named no TLS URL for broker \"" +
                                                          a.brokerserviceurl() + "\""));
    }
    const std::string url = tls ? a.brokerserviceurltls() : a.brokerserviceurl();
    auto ep = parse_service_url(url);
    if (!ep.ok() || ep->size() != 1 || (*ep)[0].tls != tls) {
      return st->cb(Error(ClientErrc::protocol_error, "lookup of " + st->topic + " named a bad broker URL \"" +
                                                          url + "\""));
    }
    const bool redirect = a.response() == proto::CommandLookupTopicResponse::Redirect;
    if ((*ep)[0].key() != conn->key()) ++impl.lookup_redirects;
    const bool auth = a.authoritative();
    // Through a proxy: the same physical connection, asking the proxy to forward to the broker.
    Endpoint physical = a.proxy_through_service_url() ? impl.service[impl.next_service % impl.service.size()] : (*ep)[0];
    const std::string proxy_to = a.proxy_through_service_url() ? (*ep)[0].key() : "";
    if (redirect && ++st->redirects > impl.config.max_lookup_redirects) {
      return st->cb(Error(ClientErrc::too_many_redirects, "lookup of " + st->topic + " redirected more than " +
                                                              std::to_string(impl.config.max_lookup_redirects) + " times"));
    }
    impl.connection_to(physical, url, proxy_to, [&impl, st, redirect, auth](Result<std::shared_ptr<Connection>, Error> c) {
      if (!c.ok() || !redirect) return st->cb(std::move(c));
      lookup_on(impl, *c, auth, st);
    });
  });
}

}  // namespace

void Client::Impl::lookup_connection(const std::string& topic,
                                     std::function<void(Result<std::shared_ptr<Connection>, Error>)> cb) {
  if (!config.lookup) return service_connection(std::move(cb));
  auto st = std::make_shared<LookupState>(LookupState{topic, 0, std::move(cb)});
  service_connection([this, st](Result<std::shared_ptr<Connection>, Error> r) {
    if (!r.ok()) return st->cb(std::move(r).error());
    lookup_on(*this, *r, false, st);
  });
}

void Client::Impl::partitions(const std::string& topic, std::function<void(Result<std::uint32_t, Error>)> cb) {
  service_connection([this, topic, cb = std::move(cb)](Result<std::shared_ptr<Connection>, Error> r) {
    if (!r.ok()) return cb(std::move(r).error());
    const auto id = next_request_id++;
    proto::BaseCommand cmd;
    cmd.set_type(proto::BaseCommand::PARTITIONED_METADATA);
    cmd.mutable_partitionmetadata()->set_topic(topic);
    cmd.mutable_partitionmetadata()->set_request_id(id);
    (*r)->request(id, cmd, [topic, cb](Result<const proto::BaseCommand*, Error> a) {
      if (!a.ok()) return cb(std::move(a).error());
      const auto& m = (*a)->partitionmetadataresponse();
      if (m.response() == proto::CommandPartitionedTopicMetadataResponse::Failed) {
        return cb(server_failure("partitioned metadata of " + topic, m.error(), m.message()));
      }
      cb(m.partitions());
    });
  });
}

void Client::Impl::on_tick() {
  const auto now = clock.now();
  reported_deadline = TimePoint::max();
  std::vector<std::shared_ptr<Connection>> conns;
  for (auto& [k, c] : connections) conns.push_back(c);
  for (auto& c : conns) c->on_tick(now);
  std::vector<std::shared_ptr<ProducerImpl>> ps(producers.begin(), producers.end());
  for (auto& p : ps) p->on_tick(now);
  std::vector<std::shared_ptr<ConsumerImpl>> cs(consumers.begin(), consumers.end());
  for (auto& c : cs) c->on_tick(now);
  std::vector<std::shared_ptr<Timed>> ts(timed.begin(), timed.end());
  for (auto& t : ts) t->on_tick(now);
  reported_deadline = next_deadline();
}

TimePoint Client::Impl::next_deadline() const {
  TimePoint t = TimePoint::max();
  for (auto& [k, c] : connections) t = std::min(t, c->next_deadline());
  for (auto& p : producers) t = std::min(t, p->next_deadline());
  for (auto& c : consumers) t = std::min(t, c->next_deadline());
  for (auto& x : timed) t = std::min(t, x->next_deadline());
  return t;
}

// --- Client ---

Client::Client(Executor& executor, Clock& clock, Transport& transport, ClientConfig config)
    : impl_(std::make_unique<Impl>(executor, clock, transport, std::move(config))) {}

Client::~Client() {
  *impl_->alive = false;
  impl_->alive.reset();
  for (auto& p : impl_->producers) p->detach();
  for (auto& c : impl_->consumers) c->detach();
  auto connections = std::move(impl_->connections);
  impl_->connections.clear();
  for (auto& [k, c] : connections) c->close("client destroyed");
}

Result<void, Error> Client::start() {
  auto eps = parse_service_url(impl_->config.service_url);
  if (!eps.ok()) return std::move(eps).error();
  impl_->service = std::move(*eps);
  if (impl_->config.operation_timeout.count() <= 0 || impl_->config.keep_alive.count() <= 0 ||
      impl_->config.connect_timeout.count() <= 0) {
    return Error(ClientErrc::invalid_argument, "timeouts must be positive");
  }
  return {};
}

std::uint64_t Client::lookup_redirects() const { return impl_->lookup_redirects; }
std::size_t Client::operations_in_flight() const {
  std::size_t n = 0;
  for (const auto& [key, c] : impl_->connections) n += c->in_flight();
  for (const auto& p : impl_->producers) n += p->in_flight();
  for (const auto& c : impl_->consumers) n += c->in_flight();
  return n;
}
void Client::set_wakeup(std::function<void()> wakeup) { impl_->wakeup = std::move(wakeup); }
void Client::on_tick() { impl_->on_tick(); }
TimePoint Client::next_deadline() const { return impl_->next_deadline(); }

void Client::lookup(const std::string& topic, Callback<std::string> done) {
  auto full = full_topic_name(topic);
  if (!full.ok()) return impl_->post([done, e = full.error()] { done(e); });
  impl_->lookup_connection(*full, [done = std::move(done)](Result<std::shared_ptr<Connection>, Error> r) {
    if (!r.ok()) return done(std::move(r).error());
    done((*r)->url());
  });
}

void Client::get_partitioned_topic_metadata(const std::string& topic, Callback<std::uint32_t> done) {
  auto full = full_topic_name(topic);
  if (!full.ok()) return impl_->post([done, e = full.error()] { done(e); });
  impl_->partitions(*full, std::move(done));
}

void Client::get_topics_of_namespace(const std::string& ns, Callback<std::vector<std::string>> done) {
  Impl& impl = *impl_;
  impl.service_connection([&impl, ns, done = std::move(done)](Result<std::shared_ptr<Connection>, Error> r) {
    if (!r.ok()) return done(std::move(r).error());
    const auto id = impl.next_request_id++;
    proto::BaseCommand cmd;
    cmd.set_type(proto::BaseCommand::GET_TOPICS_OF_NAMESPACE);
    auto* g = cmd.mutable_gettopicsofnamespace();
    g->set_request_id(id);
    g->set_namespace_(ns);
    g->set_mode(proto::CommandGetTopicsOfNamespace::PERSISTENT);
    (*r)->request(id, cmd, [done](Result<const proto::BaseCommand*, Error> a) {
      if (!a.ok()) return done(std::move(a).error());
      const auto& t = (*a)->gettopicsofnamespaceresponse().topics();
      done(std::vector<std::string>(t.begin(), t.end()));
    });
  });
}

void Client::create_producer(ProducerConfig config, Callback<std::shared_ptr<Producer>> done) {
  create_producer_impl(*impl_, std::move(config), std::move(done));
}

void Client::subscribe(ConsumerConfig config, Callback<std::shared_ptr<Consumer>> done) {
  subscribe_impl(*impl_, std::move(config), std::move(done));
}

void Client::create_reader(ReaderConfig config, Callback<std::shared_ptr<Consumer>> done) {
  ConsumerConfig c;
  c.topic = std::move(config.topic);
  c.subscription = config.reader_name.empty() ? "reader-" + std::to_string(impl_->rng() % 1'000'000'000'000ULL)
                                              : config.reader_name;
  c.consumer_name = config.reader_name;
  c.type = proto::CommandSubscribe::Exclusive;
  c.durable = false;
  c.start_message_id = config.start_message_id;
  c.start_inclusive = config.start_inclusive;
  c.read_compacted = config.read_compacted;
  c.receiver_queue = config.receiver_queue;
  c.listener = std::move(config.listener);
  subscribe_impl(*impl_, std::move(c), std::move(done));
}

void Client::close(DoneCallback done) {
  Impl& impl = *impl_;
  impl.closing = true;
  struct Waiter {
    std::size_t left = 1;
    DoneCallback done;
    Impl* impl;
    void one() {
      if (--left > 0) return;
      for (auto& [k, c] : std::map(impl->connections)) c->close("client closed");
      done({});
    }
  };
  auto w = std::make_shared<Waiter>(Waiter{1, std::move(done), &impl});
  std::vector<std::shared_ptr<ProducerImpl>> ps(impl.producers.begin(), impl.producers.end());
  std::vector<std::shared_ptr<ConsumerImpl>> cs(impl.consumers.begin(), impl.consumers.end());
  w->left += ps.size() + cs.size();
  for (auto& p : ps) p->close([w](Result<void, Error>) { w->one(); });
  for (auto& c : cs) c->close([w](Result<void, Error>) { w->one(); });
  impl.post([w] { w->one(); });
}

}  // namespace mop::pulsar::client
