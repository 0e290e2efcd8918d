#include "cluster/state_table.hpp"

#include <chrono>
#include <cstdint>

#include "cluster/cluster_log.hpp"
#include "service/messaging_service.hpp"

namespace mop::cluster {

namespace pc = pulsar::client;

StateTable::StateTable(pc::Client& client, std::string topic) : client_(client), topic_(std::move(topic)) {}

StateTable::~StateTable() { *alive_ = false; }

// Where the end of the topic is: this table writes a marker under kSyncKey and reads until it
// sees it (or a later value of that key, if compaction kept only the later one). A topic's last
// id would not do: with read_compacted, a last message that compaction removed (a deletion) is
// never read.
constexpr const char* kSyncKey = "__mop_sync";

// The durable subscription that keeps a table's messages stored whatever the namespace's
// retention says (a message no subscription holds may be deleted, by Pulsar when its ledger is
// trimmed, by mop standalone at once). Nobody reads or acknowledges on it.
constexpr const char* kKeeper = "mop-state-keeper";

void StateTable::open(std::function<void(Result<void, Error>)> done) {
  auto alive = alive_;
  pc::ConsumerConfig keeper;
  keeper.topic = topic_;
  keeper.subscription = kKeeper;
  keeper.type = pulsar::proto::CommandSubscribe::Shared;
  keeper.initial_position = pulsar::proto::CommandSubscribe::Earliest;
  keeper.receiver_queue = 2;
  keeper.listener = [](pc::Consumer&, const pc::Message&) {};
  client_.subscribe(std::move(keeper), [this, alive, done](auto kept) {
    if (!*alive) return;
    if (!kept.ok()) return done(Error(kept.error().code, "cannot open " + topic_ + ": " + kept.error().message));
    auto consumer = kept.value();
    consumer->close([consumer](auto) {});
    open_producer(done);
  });
}

void StateTable::open_producer(std::function<void(Result<void, Error>)> done) {
  auto alive = alive_;
  client_.create_producer(pc::ProducerConfig{.topic = topic_}, [this, alive, done](auto made) {
    if (!*alive) return;
    if (!made.ok()) return done(Error(made.error().code, "cannot write " + topic_ + ": " + made.error().message));
    producer_ = made.value();
    logger()->debug("{}: producer {} ready", topic_, producer_->producer_name());
    pc::OutgoingMessage marker;
    marker.key = kSyncKey;
    marker.payload = "sync";
    producer_->send(std::move(marker), [this, alive, done](auto sent) {
      if (!*alive) return;
      if (!sent.ok()) return done(Error(sent.error().code, "cannot write " + topic_ + ": " + sent.error().message));
      target_ = sent.value();
      logger()->debug("{}: marker at {}:{}:{}; reading up to it", topic_, target_->ledger, target_->entry,
                      target_->batch_index);
      caught_up_ = done;
      // A reader: a non-durable Exclusive subscription from the earliest message (read_compacted
      // where the namespace compacts), named after this table instance.
      pc::ConsumerConfig rc;
      rc.topic = topic_;
      rc.subscription = "mop-table-" + std::to_string(reinterpret_cast<std::uintptr_t>(this) % 1'000'000'007) + "-" +
                        std::to_string(std::chrono::steady_clock::now().time_since_epoch().count() % 1'000'000'007);
      rc.type = pulsar::proto::CommandSubscribe::Exclusive;
      rc.initial_position = pulsar::proto::CommandSubscribe::Earliest;
      rc.durable = false;
      rc.read_compacted = true;
      rc.listener = [this, alive](pc::Consumer&, const pc::Message& m) {
        if (*alive) apply(m);
      };
      client_.subscribe(std::move(rc), [this, alive](auto reader) {
        if (!*alive) return;
        if (!reader.ok()) {
          if (caught_up_) {
            auto d = std::move(caught_up_);
            caught_up_ = nullptr;
            d(Error(reader.error().code, "cannot read " + topic_ + ": " + reader.error().message));
          }
          return;
        }
        reader_ = reader.value();
        logger()->debug("{}: reader ready", topic_);
      });
    });
  });
}

void StateTable::write(const std::string& key, std::string value, std::function<void(Result<void, Error>)> done) {
  if (!producer_) {
    return done(Error(service::ServiceError::service_not_ready, topic_ + " is not open"));
  }
  pc::OutgoingMessage m;
  m.key = key;
  m.payload = value;
  auto alive = alive_;
  producer_->send(std::move(m), [this, alive, key, value = std::move(value), done](auto sent) {
    if (!*alive) return;
    if (!sent.ok()) {
      return done(Error(sent.error().code, "cannot write " + key + " to " + topic_ + ": " + sent.error().message));
    }
    written_[key] = sent.value();
    set(key, value);
    done({});
  });
}

void StateTable::sync(std::function<void(Result<void, Error>)> done) {
  if (!producer_) return done(Error(service::ServiceError::service_not_ready, topic_ + " is not open"));
  sync_waiting_.push_back(std::move(done));
  if (!sync_writing_) send_sync_marker();
}

void StateTable::send_sync_marker() {
  sync_writing_ = true;
  auto waiting = std::move(sync_waiting_);
  sync_waiting_.clear();
  pc::OutgoingMessage marker;
  marker.key = kSyncKey;
  marker.payload = "sync";
  auto alive = alive_;
  producer_->send(std::move(marker), [this, alive, waiting = std::move(waiting)](auto sent) mutable {
    if (!*alive) return;
    sync_writing_ = false;
    if (!sent.ok()) {
      const Error e(sent.error().code, "cannot write " + topic_ + ": " + sent.error().message);
      for (auto& w : waiting) w(e);
    } else if (last_read_ && *last_read_ >= sent.value()) {
      for (auto& w : waiting) w({});
    } else {
      sync_targets_.emplace_back(sent.value(), std::move(waiting));
    }
    if (!sync_waiting_.empty()) send_sync_marker();
  });
}

void StateTable::close() {
  *alive_ = false;
  if (producer_) producer_->close([](auto) {});
  if (reader_) reader_->close([](auto) {});
}

void StateTable::apply(const pc::Message& m) {
  logger()->trace("{}: read {}:{}:{} key {}", topic_, m.id.ledger, m.id.entry, m.id.batch_index, m.key.value_or("-"));
  if (m.key && *m.key == kSyncKey) {
    // the marker: not a row
  } else if (m.key) {
    auto w = written_.find(*m.key);
    if (w == written_.end()) {
      set(*m.key, m.payload);
    } else if (m.id >= w->second) {
      set(*m.key, m.payload);
      written_.erase(w);
    }
  }
  last_read_ = m.id;
  while (!sync_targets_.empty() && m.id >= sync_targets_.front().first) {
    auto waiting = std::move(sync_targets_.front().second);
    sync_targets_.erase(sync_targets_.begin());
    for (auto& w : waiting) w({});
  }
  if (caught_up_ && target_ && m.id >= *target_) {
    logger()->debug("{}: caught up ({} keys)", topic_, rows_.size());
    auto done = std::move(caught_up_);
    caught_up_ = nullptr;
    done({});
  }
}

void StateTable::set(const std::string& key, const std::string& value) {
  if (value.empty()) {
    rows_.erase(key);
  } else {
    rows_[key] = value;
  }
}

}  // namespace mop::cluster
