// subscribe_impl: one topic (maybe partitioned), a list of topics, or a pattern. A partitioned
// topic, a list or a pattern makes a MultiConsumer over one ConsumerImpl per partition / topic;
// a pattern polls GET_TOPICS_OF_NAMESPACE and subscribes to new matching topics as they appear;
// partitioned topics have their partition count read again and new partitions subscribed to.
#include "pulsar/client/consumer_impl.hpp"

namespace mop::pulsar::client {

namespace {

// "persistent://t/ns/x-partition-3" -> 3; -1 when the name is not a partition's.
std::int32_t partition_of(const std::string& topic) {
  const std::string mark = "-partition-";
  const auto at = topic.rfind(mark);
  if (at == std::string::npos) return -1;
  const std::string n = topic.substr(at + mark.size());
  if (n.empty() || n.size() > 9 || n.find_first_not_of("0123456789") != std::string::npos) return -1;
  return std::stoi(n);
}

class MultiConsumer final : public Consumer,
                            public Timed,
                            public ConnectionUser,
                            public std::enable_shared_from_this<MultiConsumer> {
public:
  MultiConsumer(Client::Impl& impl, ConsumerConfig config) : impl_(impl), cfg_(std::move(config)) {}

  // Subscribes to `topics` (full names; partitions as themselves); `done` when all did.
  void add(const std::vector<std::string>& topics, std::function<void(Result<void, Error>)> done) {
    struct Join {
      std::size_t left;
      std::optional<Error> error;
      std::function<void(Result<void, Error>)> done;
    };
    if (topics.empty()) return impl_.post([done] { done({}); });
    auto j = std::make_shared<Join>(Join{topics.size(), std::nullopt, std::move(done)});
    for (auto& t : topics) {
      auto c = std::make_shared<ConsumerImpl>(impl_, cfg_, t, partition_of(t));
      c->set_facade(this);
      children_.push_back(c);
      known_.insert(t);
      impl_.consumers.insert(c);
      std::weak_ptr<MultiConsumer> weak = shared_from_this();
      c->start([this, weak, c, j](Result<void, Error> r) {
        auto self = weak.lock();
        if (!r.ok()) {
          if (!j->error) j->error = r.error();
          if (self) {
            std::erase(children_, c);
            known_.erase(c->topic());
          }
          impl_.consumers.erase(c);
        }
        if (--j->left == 0) {
          if (j->error) j->done(*j->error);
          else j->done({});
        }
      });
    }
  }

  // Pattern mode: "persistent://tenant/ns/<regex>".
  Result<void, Error> set_pattern(const std::string& pattern) {
    const std::string scheme = "persistent://";
    if (pattern.rfind(scheme, 0) != 0) {
      return Error(ClientErrc::invalid_argument, "topics_pattern \"" + pattern + "\" must start with persistent://tenant/ns/");
    }
    const auto a = pattern.find('/', scheme.size());
    const auto b = a == std::string::npos ? a : pattern.find('/', a + 1);
    if (b == std::string::npos) {
      return Error(ClientErrc::invalid_argument, "topics_pattern \"" + pattern + "\" names no namespace");
    }
    namespace_ = pattern.substr(scheme.size(), b - scheme.size());
    try {
      regex_ = std::regex(pattern);
    } catch (const std::regex_error& e) {
      return Error(ClientErrc::invalid_argument, "topics_pattern \"" + pattern + "\": " + e.what());
    }
    pattern_ = true;
    return {};
  }

  // Lists the namespace and subscribes to matching topics not consumed yet.
  void poll(std::function<void(Result<void, Error>)> done) {
    polling_ = true;
    std::weak_ptr<MultiConsumer> weak = shared_from_this();
    list_namespace([this, weak, done](Result<std::vector<std::string>, Error> r) {
      auto self = weak.lock();
      if (!self) return;
      polling_ = false;
      next_poll_ = impl_.now() + cfg_.pattern_poll_interval;
      impl_.arm(next_poll_);
      if (!r.ok()) return done(std::move(r).error());
      if (closed_) return done({});
      add(fresh_of(*r), done);
      if (!watching_) watch();
      if (poll_again_) {
        poll_again_ = false;
        poll([](Result<void, Error>) {});
      }
    });
  }

  // WATCH_TOPIC_LIST where the broker has it: new topics come at once, not at the next poll
  // (which goes on, at its interval, as a safety net and to set the watcher up again).
  void watch() {
    watching_ = true;  // until the broker says otherwise
    std::weak_ptr<MultiConsumer> weak = shared_from_this();
    impl_.service_connection([this, weak](Result<std::shared_ptr<Connection>, Error> r) {
      auto self = weak.lock();
      if (!self) return;
      if (!r.ok() || closed_ || !(*r)->supports_topic_watchers()) {
        watching_ = false;
        return;
      }
      auto conn = *r;
      watcher_id_ = impl_.next_watcher_id++;
      conn->add_watcher(watcher_id_, this);
      watch_conn_ = conn;
      const auto id = impl_.next_request_id++;
      proto::BaseCommand cmd;
      cmd.set_type(proto::BaseCommand::WATCH_TOPIC_LIST);
      auto* w = cmd.mutable_watchtopiclist();
      w->set_request_id(id);
      w->set_watcher_id(watcher_id_);
      w->set_namespace_(namespace_);
      w->set_topics_pattern(cfg_.topics_pattern);
      conn->request(id, cmd, [this, weak, conn](Result<const proto::BaseCommand*, Error> a) {
        auto self = weak.lock();
        if (!self) return;
        if (!a.ok()) {
          conn->remove_watcher(watcher_id_);
          watch_conn_.reset();
          watching_ = false;
          return;
        }
        if (closed_) return;
        const auto& t = (*a)->watchtopiclistsuccess().topic();
        add(fresh_of({t.begin(), t.end()}), [](Result<void, Error>) {});
        // A topic created while the watcher was being set up can be in neither that list nor an
        // update: Apache Pulsar may list before its watcher listens (the Java client lists again
        // once its watcher is up for the same reason, apache/pulsar#21853). So list once more,
        // now that every later creation is reported.
        if (polling_) {
          poll_again_ = true;  // that listing may predate the watcher: one more after it
        } else {
          poll([](Result<void, Error>) {});
        }
      });
    });
  }

  // ConnectionUser: the watcher's WATCH_TOPIC_UPDATE, and its connection's end.
  void on_frame(const Frame& frame) override {
    if (closed_ || frame.command->type() != proto::BaseCommand::WATCH_TOPIC_UPDATE) return;
    const auto& n = frame.command->watchtopicupdate().new_topics();
    add(fresh_of({n.begin(), n.end()}), [](Result<void, Error>) {});
  }
  void on_disconnected() override {
    watching_ = false;
    watch_conn_.reset();
  }

  // Partitioned topics among those consumed: their partition count is read again every
  // partitions_update_interval, and new partitions are subscribed to.
  void watch_partitions(std::map<std::string, std::uint32_t> counts) {
    partition_counts_ = std::move(counts);
    if (partition_counts_.empty() || cfg_.partitions_update_interval.count() <= 0) return;
    next_partition_check_ = impl_.now() + cfg_.partitions_update_interval;
    impl_.timed.insert(shared_from_this());
    impl_.arm(next_partition_check_);
  }

  void on_tick(TimePoint now) override {
    if (!partition_counts_.empty() && !closed_ && !checking_partitions_ && now >= next_partition_check_) {
      check_partitions();
    }
    if (!pattern_ || closed_ || polling_ || now < next_poll_) return;
    poll([](Result<void, Error>) {});  // a failed poll is tried again next time
  }
  TimePoint next_deadline() const override {
    TimePoint t = pattern_ && !closed_ && !polling_ ? next_poll_ : TimePoint::max();
    if (!partition_counts_.empty() && !closed_ && !checking_partitions_) t = std::min(t, next_partition_check_);
    return t;
  }

  void acknowledge(const MessageId& id, DoneCallback done) override {
    if (auto* c = owner(id)) return c->acknowledge(id, std::move(done));
    not_held(std::move(done));
  }
  void acknowledge_cumulative(const MessageId& id, DoneCallback done) override {
    if (auto* c = owner(id)) return c->acknowledge_cumulative(id, std::move(done));
    not_held(std::move(done));
  }
  void negative_acknowledge(const MessageId& id) override {
    if (auto* c = owner(id)) c->negative_acknowledge(id);
  }
  void redeliver_unacknowledged() override {
    for (auto& c : children_) c->redeliver_unacknowledged();
  }
  void pause() override {
    for (auto& c : children_) c->pause();
  }
  void resume() override {
    for (auto& c : children_) c->resume();
  }
  void seek(const MessageId& id, DoneCallback done) override {
    if (id.partition >= 0) {
      for (auto& c : children_) {
        if (partition_of(c->topic()) == id.partition) return c->seek(id, std::move(done));
      }
    }
    all([id](ConsumerImpl& c, DoneCallback d) { c.seek(id, std::move(d)); }, std::move(done));
  }
  void seek(std::uint64_t t, DoneCallback done) override {
    all([t](ConsumerImpl& c, DoneCallback d) { c.seek(t, std::move(d)); }, std::move(done));
  }
  void get_last_message_id(Callback<MessageId> done) override {
    if (children_.size() == 1) return children_.front()->get_last_message_id(std::move(done));
    impl_.post([done] { done(Error(ClientErrc::unsupported, "get_last_message_id of several topics or partitions")); });
  }
  void unsubscribe(DoneCallback done) override {
    stop_watching();
    impl_.timed.erase(shared_from_this());
    all([](ConsumerImpl& c, DoneCallback d) { c.unsubscribe(std::move(d)); }, std::move(done));
  }
  void close(DoneCallback done) override {
    stop_watching();
    impl_.timed.erase(shared_from_this());
    all([](ConsumerImpl& c, DoneCallback d) { c.close(std::move(d)); }, std::move(done));
  }
  const std::string& subscription() const override { return cfg_.subscription; }
  std::vector<std::string> topics() const override {
    std::vector<std::string> out;
    for (auto& c : children_) out.push_back(c->topic());
    return out;
  }
  bool connected() const override {
    for (auto& c : children_) {
      if (!c->connected()) return false;
    }
    return !children_.empty();
  }

private:
  void check_partitions() {
    checking_partitions_ = true;
    auto left = std::make_shared<std::size_t>(partition_counts_.size());
    std::weak_ptr<MultiConsumer> weak = shared_from_this();
    for (auto& [topic, count] : partition_counts_) {
      impl_.partitions(topic, [this, weak, left, topic = topic](Result<std::uint32_t, Error> n) {
        auto self = weak.lock();
        if (!self) return;
        auto& known = partition_counts_[topic];
        if (n.ok() && *n > known && !closed_) {
          std::vector<std::string> added;
          for (std::uint32_t i = known; i < *n; ++i) added.push_back(partition_name(topic, i));
          known = *n;
          // A partition whose subscription fails is tried again at the next check.
          add(added, [this, weak, topic](Result<void, Error> r) {
            auto self = weak.lock();
            if (!self || r.ok()) return;
            std::uint32_t first_missing = partition_counts_[topic];
            for (std::uint32_t i = 0; i < first_missing; ++i) {
              if (!known_.count(partition_name(topic, i))) first_missing = i;
            }
            partition_counts_[topic] = first_missing;
          });
        }
        if (--*left > 0) return;
        checking_partitions_ = false;
        next_partition_check_ = impl_.now() + cfg_.partitions_update_interval;
        impl_.arm(next_partition_check_);
      });
    }
  }

  std::vector<std::string> fresh_of(const std::vector<std::string>& topics) const {
    std::vector<std::string> fresh;
    for (auto& t : topics) {
      if (!known_.count(t) && std::regex_match(t, regex_)) fresh.push_back(t);
    }
    return fresh;
  }
  void stop_watching() {
    closed_ = true;
    if (!watch_conn_) return;
    watch_conn_->remove_watcher(watcher_id_);
    const auto id = impl_.next_request_id++;
    proto::BaseCommand cmd;
    cmd.set_type(proto::BaseCommand::WATCH_TOPIC_LIST_CLOSE);
    cmd.mutable_watchtopiclistclose()->set_request_id(id);
    cmd.mutable_watchtopiclistclose()->set_watcher_id(watcher_id_);
    watch_conn_->request(id, cmd, [](Result<const proto::BaseCommand*, Error>) {});
    watch_conn_.reset();
  }
  ConsumerImpl* owner(const MessageId& id) {
    for (auto& c : children_) {
      if (c->holds(id)) return c.get();
    }
    return nullptr;
  }
  void not_held(DoneCallback done) {
    // Not handed out by any current subscription (e.g. from before a reconnect): the broker will
    // deliver it again.
    impl_.post([done] { done(Error(ClientErrc::disconnected, "ack of a message no topic of this consumer holds")); });
  }
  template <typename F>
  void all(F f, DoneCallback done) {
    struct Join {
      std::size_t left;
      std::optional<Error> error;
      DoneCallback done;
    };
    if (children_.empty()) return impl_.post([done] { done({}); });
    auto j = std::make_shared<Join>(Join{children_.size(), std::nullopt, std::move(done)});
    auto kids = children_;
    for (auto& c : kids) {
      f(*c, [j](Result<void, Error> r) {
        if (!r.ok() && !j->error) j->error = r.error();
        if (--j->left == 0) {
          if (j->error) j->done(*j->error);
          else j->done({});
        }
      });
    }
  }
  void list_namespace(std::function<void(Result<std::vector<std::string>, Error>)> cb) {
    impl_.service_connection([this, cb](Result<std::shared_ptr<Connection>, Error> r) {
      if (!r.ok()) return cb(std::move(r).error());
      const auto id = impl_.next_request_id++;
      proto::BaseCommand cmd;
      cmd.set_type(proto::BaseCommand::GET_TOPICS_OF_NAMESPACE);
      auto* g = cmd.mutable_gettopicsofnamespace();
      g->set_request_id(id);
      g->set_namespace_(namespace_);
      g->set_mode(proto::CommandGetTopicsOfNamespace::PERSISTENT);
      (*r)->request(id, cmd, [cb](Result<const proto::BaseCommand*, Error> a) {
        if (!a.ok()) return cb(std::move(a).error());
        const auto& t = (*a)->gettopicsofnamespaceresponse().topics();
        cb(std::vector<std::string>(t.begin(), t.end()));
      });
    });
  }

  Client::Impl& impl_;
  ConsumerConfig cfg_;
  std::vector<std::shared_ptr<ConsumerImpl>> children_;
  std::set<std::string> known_;
  bool pattern_ = false;
  bool polling_ = false;
  bool poll_again_ = false;  // list again once the listing under way is answered (watch())
  bool closed_ = false;
  bool watching_ = false;
  std::uint64_t watcher_id_ = 0;
  std::shared_ptr<Connection> watch_conn_;
  std::string namespace_;
  std::regex regex_;
  TimePoint next_poll_ = TimePoint::max();
  std::map<std::string, std::uint32_t> partition_counts_;  // partitioned topics: partitions subscribed
  bool checking_partitions_ = false;
  TimePoint next_partition_check_ = TimePoint::max();
};

struct Expand {
  std::size_t left;
  std::vector<std::string> topics;
  std::map<std::string, std::uint32_t> partitioned;  // topic -> partitions
  std::optional<Error> error;
};

}  // namespace

void subscribe_impl(Client::Impl& impl, ConsumerConfig config, Callback<std::shared_ptr<Consumer>> done) {
  auto refuse = [&](const std::string& why) { impl.post([done, why] { done(Error(ClientErrc::invalid_argument, why)); }); };
  const int kinds = !config.topic.empty() + !config.topics.empty() + !config.topics_pattern.empty();
  if (kinds != 1) return refuse("name exactly one of topic, topics and topics_pattern");
  if (config.subscription.empty()) return refuse("no subscription name");
  if (!config.listener) return refuse("no listener");
  if (impl.closing) return impl.post([done] { done(Error(ClientErrc::closed, "the client is closed")); });

  if (!config.topics_pattern.empty()) {
    auto multi = std::make_shared<MultiConsumer>(impl, config);
    if (auto r = multi->set_pattern(config.topics_pattern); !r.ok()) return impl.post([done, e = r.error()] { done(e); });
    impl.timed.insert(multi);
    multi->poll([&impl, multi, done](Result<void, Error> r) {
      if (!r.ok()) {
        multi->close([](Result<void, Error>) {});
        impl.timed.erase(multi);
        return done(std::move(r).error());
      }
      done(std::static_pointer_cast<Consumer>(multi));
    });
    return;
  }

  std::vector<std::string> names = config.topic.empty() ? config.topics : std::vector<std::string>{config.topic};
  for (auto& n : names) {
    auto full = full_topic_name(n);
    if (!full.ok()) return impl.post([done, e = full.error()] { done(e); });
    n = *full;
  }
  // Partitioned topics become their partitions.
  auto ex = std::make_shared<Expand>(Expand{names.size(), {}, {}, std::nullopt});
  const bool single = names.size() == 1;
  for (auto& n : names) {
    impl.partitions(n, [&impl, ex, n, single, config, done](Result<std::uint32_t, Error> r) {
      if (!r.ok()) {
        if (!ex->error) ex->error = r.error();
      } else if (*r == 0) {
        ex->topics.push_back(n);
      } else {
        for (std::uint32_t i = 0; i < *r; ++i) ex->topics.push_back(partition_name(n, i));
        ex->partitioned[n] = *r;
      }
      if (--ex->left > 0) return;
      if (ex->error) return done(*ex->error);
      if (single && ex->topics.size() == 1 && ex->topics.front() == n) {
        auto c = std::make_shared<ConsumerImpl>(impl, config, n, -1);
        impl.consumers.insert(c);
        c->start([&impl, c, done](Result<void, Error> s) {
          if (!s.ok()) {
            impl.consumers.erase(c);
            return done(std::move(s).error());
          }
          done(std::static_pointer_cast<Consumer>(c));
        });
        return;
      }
      auto multi = std::make_shared<MultiConsumer>(impl, config);
      multi->add(ex->topics, [multi, ex, done](Result<void, Error> s) {
        if (!s.ok()) {
          multi->close([](Result<void, Error>) {});
          return done(std::move(s).error());
        }
        multi->watch_partitions(ex->partitioned);
        done(std::static_pointer_cast<Consumer>(multi));
      });
    });
  }
}

}  // namespace mop::pulsar::client
