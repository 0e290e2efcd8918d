// Producers: the SEND window, batching and compression, sequence ids, receipts in order, and
// reconnect + resend of everything unacknowledged (same sequence ids, same order) after
// CLOSE_PRODUCER or a lost connection. PartitionedProducer spreads messages over partitions.
#include <atomic>
#include <map>

#include "pulsar/client/producer_impl.hpp"
#include "pulsar/codec/batch.hpp"
#include "pulsar/codec/compression.hpp"

namespace mop::pulsar::client {

namespace {

proto::ProducerAccessMode to_proto(AccessMode m) {
  switch (m) {
    case AccessMode::shared: return proto::Shared;
    case AccessMode::exclusive: return proto::Exclusive;
    case AccessMode::wait_for_exclusive: return proto::WaitForExclusive;
    case AccessMode::exclusive_with_fencing: return proto::ExclusiveWithFencing;
  }
  return proto::Shared;
}

// Errors after which a producer that worked once stops reconnecting.
bool fatal_after_reconnect(const Error& e) {
  auto s = server_error_of(e.code);
  if (!s) return e.code == make_error_code(ClientErrc::closed) || e.code == make_error_code(ClientErrc::invalid_argument);
  switch (*s) {
    case proto::ProducerFenced:
    case proto::TopicTerminatedError:
    case proto::NotAllowedError:
    case proto::AuthorizationError:
    case proto::AuthenticationError:
    case proto::InvalidTopicName:
    case proto::IncompatibleSchema:
    case proto::ProducerBlockedQuotaExceededException:
      return true;
    default:
      return false;
  }
}

// Errors after which the first creation is tried again (within the operation timeout).
bool retry_first_creation(const Error& e) {
  auto s = server_error_of(e.code);
  if (s && (*s == proto::ProducerBusy || *s == proto::ConsumerBusy)) return false;
  return is_retriable(e.code);
}

}  // namespace

ProducerImpl::ProducerImpl(Client::Impl& client, ProducerConfig config, std::string topic, std::int32_t partition)
    : client_(client),
      cfg_(std::move(config)),
      topic_(std::move(topic)),
      partition_(partition),
      id_(client.next_producer_id++),
      name_(cfg_.producer_name),
      named_by_user_(!cfg_.producer_name.empty()) {
  if (cfg_.send_window == 0) cfg_.send_window = 1;
}

void ProducerImpl::start(std::function<void(Result<void, Error>)> done) {
  start_done_ = std::move(done);
  give_up_at_ = client_.now() + client_.config.operation_timeout;
  connect();
}

void ProducerImpl::connect() {
  state_ = State::connecting;
  std::weak_ptr<ProducerImpl> weak = shared_from_this();
  client_.lookup_connection(topic_, [this, weak](Result<std::shared_ptr<Connection>, Error> r) {
    auto self = weak.lock();
    if (!self || state_ != State::connecting) return;
    if (!r.ok()) return failed(r.error());
    conn_ = *r;
    conn_->add_producer(id_, this);
    const auto request_id = client_.next_request_id++;
    proto::BaseCommand cmd;
    cmd.set_type(proto::BaseCommand::PRODUCER);
    auto* p = cmd.mutable_producer();
    p->set_topic(topic_);
    p->set_producer_id(id_);
    p->set_request_id(request_id);
    if (!name_.empty()) p->set_producer_name(name_);
    p->set_user_provided_producer_name(named_by_user_);
    p->set_epoch(epoch_);
    p->set_producer_access_mode(to_proto(cfg_.access_mode));
    if (topic_epoch_ && cfg_.access_mode != AccessMode::shared) p->set_topic_epoch(*topic_epoch_);
    for (auto& [k, v] : cfg_.properties) {
      auto* kv = p->add_metadata();
      kv->set_key(k);
      kv->set_value(v);
    }
    auto conn = conn_;
    conn_->request(request_id, cmd, [this, weak, conn](Result<const proto::BaseCommand*, Error> a) {
      auto self = weak.lock();
      if (!self || conn != conn_) return;
      if (state_ != State::connecting) {
        // Closed while the PRODUCER was on its way: nothing to do (close() handles the broker side).
        return;
      }
      if (!a.ok()) {
        conn_->remove_producer(id_);
        conn_.reset();
        return failed(a.error());
      }
      created((*a)->producer_success());
    });
  });
}

void ProducerImpl::created(const proto::CommandProducerSuccess& s) {
  name_ = s.producer_name();
  if (s.has_topic_epoch()) topic_epoch_ = s.topic_epoch();
  if (!created_once_) {
    created_once_ = true;
    const std::int64_t broker_last = s.last_sequence_id();
    if (broker_last >= 0) {
      next_sequence_id_ = static_cast<std::uint64_t>(broker_last) + 1;
      last_acked_ = broker_last;
    } else if (cfg_.initial_sequence_id) {
      next_sequence_id_ = *cfg_.initial_sequence_id;
      last_acked_ = static_cast<std::int64_t>(next_sequence_id_) - 1;
    }
  }
  state_ = State::ready;
  attempts_ = 0;
  ++epoch_;
  // Everything unacknowledged goes again, in order, with its sequence ids.
  sent_ = 0;
  sent_messages_ = 0;
  pump();
  if (start_done_) {
    auto done = std::move(start_done_);
    start_done_ = nullptr;
    client_.post([done] { done({}); });
  }
}

void ProducerImpl::failed(const Error& e) {
  if (state_ == State::closed || state_ == State::closing) return;
  if (start_done_) {
    if (cfg_.retry_first_creation && retry_first_creation(e) && client_.now() < give_up_at_) return schedule_reconnect();
    auto done = std::move(start_done_);
    start_done_ = nullptr;
    state_ = State::closed;
    client_.post([done, e] { done(e); });
    return;
  }
  if (fatal_after_reconnect(e)) {
    state_ = State::closed;
    fail_all(e);
    if (cfg_.on_closed) client_.post([cb = cfg_.on_closed, e] { cb(e); });
    client_.producers.erase(shared_from_this());
    return;
  }
  schedule_reconnect();
}

void ProducerImpl::schedule_reconnect() {
  state_ = State::connecting;
  reconnect_at_ = client_.now() + client_.backoff(attempts_++);
  client_.arm(reconnect_at_);
}

void ProducerImpl::on_disconnected() {
  conn_.reset();
  if (start_done_ && !cfg_.retry_first_creation && state_ == State::connecting) {
    return failed(Error(ClientErrc::disconnected, "the connection to the broker of " + topic_ +
                                                      " was lost before the producer was created"));
  }
  if (state_ == State::ready || state_ == State::connecting) schedule_reconnect();
  else if (state_ == State::closing) finish_close();
}

void ProducerImpl::on_frame(const Frame& frame) {
  const auto& c = *frame.command;
  switch (c.type()) {
    case proto::BaseCommand::SEND_RECEIPT:
      return receipt(c.send_receipt());
    case proto::BaseCommand::SEND_ERROR: {
      const auto& e = c.send_error();
      if (e.error() == proto::ChecksumError) {
        // The broker kept the connection: resend from the failed message on.
        sent_ = 0;
        sent_messages_ = 0;
        return pump();
      }
      // As the official clients do: drop the connection, reconnect, resend.
      if (conn_) conn_->close("SEND_ERROR " + proto::ServerError_Name(e.error()) + " on " + topic_ + ": " + e.message());
      return;
    }
    case proto::BaseCommand::CLOSE_PRODUCER:
      // The connection has already forgotten us (topic unloaded, fenced, broker shutting down).
      conn_.reset();
      if (state_ == State::closing) return finish_close();
      if (state_ == State::ready || state_ == State::connecting) {
        attempts_ = 0;
        schedule_reconnect();
      }
      return;
    default:
      return;
  }
}

void ProducerImpl::receipt(const proto::CommandSendReceipt& r) {
  if (ops_.empty() || sent_ == 0 || r.sequence_id() < ops_.front().sequence_id) return;  // a duplicate
  if (r.sequence_id() != ops_.front().sequence_id) {
    if (conn_) {
      conn_->close("SEND_RECEIPT out of order on " + topic_ + ": sequence id " + std::to_string(r.sequence_id()) +
                   ", expected " + std::to_string(ops_.front().sequence_id));
    }
    return;
  }
  // Read where it lies and dropped after: an Op's MessageMetadata costs as much to move as to
  // build (a move is a construction and a swap, and the moved-from one is destroyed too).
  Op& op = ops_.front();
  --sent_;
  sent_messages_ -= op.messages;
  pending_ -= op.messages;
  last_acked_ = static_cast<std::int64_t>(op.highest_sequence_id);
  MessageId id;
  id.ledger = r.message_id().ledgerid();
  id.entry = r.message_id().entryid();
  id.partition = partition_;
  for (std::size_t i = 0; i < op.callbacks.size(); ++i) {
    MessageId mid = id;
    mid.batch_index = op.batch ? static_cast<std::int32_t>(i) : -1;
    if (op.callbacks[i]) client_.post([cb = std::move(op.callbacks[i]), mid] { cb(mid); });
  }
  ops_.pop_front();
  check_flushes();
  pump();
}

void ProducerImpl::check_flushes() {
  for (auto it = flushes_.begin(); it != flushes_.end();) {
    if (last_acked_ >= static_cast<std::int64_t>(it->first)) {
      client_.post([cb = std::move(it->second)] { cb({}); });
      it = flushes_.erase(it);
    } else {
      ++it;
    }
  }
}

void ProducerImpl::send(OutgoingMessage message, Callback<MessageId> done) {
  if (state_ == State::closed || state_ == State::closing) {
    client_.post([done, t = topic_] { done(Error(ClientErrc::closed, "producer of " + t + " is closed")); });
    return;
  }
  if (pending_ >= cfg_.max_pending_messages) {
    client_.post([done, t = topic_, n = cfg_.max_pending_messages] {
      done(Error(ClientErrc::producer_queue_full, "producer of " + t + " has " + std::to_string(n) + " messages pending"));
    });
    return;
  }
  if (conn_ && message.payload.size() > conn_->max_message_size()) {
    client_.post([done, t = topic_, n = message.payload.size()] {
      done(Error(ClientErrc::message_too_large, std::to_string(n) + " bytes for " + t));
    });
    return;
  }
  std::uint64_t seq;
  if (message.sequence_id) {
    seq = *message.sequence_id;
    if (seq >= next_sequence_id_) next_sequence_id_ = seq + 1;
  } else {
    seq = next_sequence_id_++;
  }
  ++pending_;
  if (cfg_.batching_max_messages > 1) {
    batch_bytes_ += message.payload.size();
    batch_.push_back(Batched{std::move(message), seq, std::move(done)});
    if (batch_.size() == 1) {
      batch_deadline_ = client_.now() + cfg_.batching_max_delay;
      client_.arm(batch_deadline_);
    }
    if (batch_.size() >= cfg_.batching_max_messages || batch_bytes_ >= cfg_.batching_max_bytes) close_batch();
    return;
  }
  Op& op = ops_.emplace_back();  // built in place, for the reason given in receipt()
  op.sequence_id = op.highest_sequence_id = seq;
  op.metadata.set_producer_name(name_);
  op.metadata.set_sequence_id(seq);
  op.metadata.set_publish_time(message.publish_time != 0 ? message.publish_time : client_.clock.wall_ms());
  if (message.key) op.metadata.set_partition_key(*message.key);
  if (message.event_time) op.metadata.set_event_time(message.event_time);
  for (auto& [k, v] : message.properties) {
    auto* kv = op.metadata.add_properties();
    kv->set_key(k);
    kv->set_value(v);
  }
  op.payload = std::move(message.payload);
  op.callbacks.push_back(std::move(done));
  push_op();
}

void ProducerImpl::close_batch() {
  batch_deadline_ = TimePoint::max();
  if (batch_.empty()) return;
  Op& op = ops_.emplace_back();
  op.batch = true;
  op.messages = static_cast<std::uint32_t>(batch_.size());
  op.sequence_id = batch_.front().sequence_id;
  op.highest_sequence_id = batch_.back().sequence_id;
  op.metadata.set_producer_name(name_);
  op.metadata.set_sequence_id(op.sequence_id);
  op.metadata.set_highest_sequence_id(op.highest_sequence_id);
  op.metadata.set_publish_time(client_.clock.wall_ms());
  op.metadata.set_num_messages_in_batch(static_cast<std::int32_t>(batch_.size()));
  std::string body;
  for (auto& b : batch_) {
    proto::SingleMessageMetadata single;
    single.set_sequence_id(b.sequence_id);
    if (b.message.key) single.set_partition_key(*b.message.key);
    if (b.message.event_time) single.set_event_time(b.message.event_time);
    for (auto& [k, v] : b.message.properties) {
      auto* kv = single.add_properties();
      kv->set_key(k);
      kv->set_value(v);
    }
    append_batch_message(single, {reinterpret_cast<const std::uint8_t*>(b.message.payload.data()), b.message.payload.size()},
                         body);
    op.callbacks.push_back(std::move(b.done));
  }
  batch_.clear();
  batch_bytes_ = 0;
  op.payload = std::move(body);
  push_op();
}

void ProducerImpl::push_op() {
  Op& op = ops_.back();
  if (cfg_.compression != proto::NONE) {
    std::string compressed;
    auto r = compress(cfg_.compression,
                      {reinterpret_cast<const std::uint8_t*>(op.payload.data()), op.payload.size()}, compressed);
    if (r.ok()) {
      op.metadata.set_compression(cfg_.compression);
      op.metadata.set_uncompressed_size(static_cast<std::uint32_t>(op.payload.size()));
      op.payload = std::move(compressed);
    }
  }
  pump();
}

void ProducerImpl::pump() {
  if (state_ != State::ready || !conn_) return;
  while (sent_ < ops_.size() && sent_messages_ < cfg_.send_window) {
    write(ops_[sent_]);
    sent_messages_ += ops_[sent_].messages;
    ++sent_;
  }
}

void ProducerImpl::write(const Op& op) {
  proto::BaseCommand cmd;
  cmd.set_type(proto::BaseCommand::SEND);
  auto* s = cmd.mutable_send();
  s->set_producer_id(id_);
  s->set_sequence_id(op.sequence_id);
  if (op.batch) {
    s->set_num_messages(static_cast<std::int32_t>(op.messages));
    s->set_highest_sequence_id(op.highest_sequence_id);
  }
  std::string bytes;
  encode_payload_command(cmd, op.metadata, {reinterpret_cast<const std::uint8_t*>(op.payload.data()), op.payload.size()},
                         bytes, conn_->checksum());
  conn_->send_raw(std::move(bytes));
}

void ProducerImpl::flush(DoneCallback done) {
  close_batch();
  if (ops_.empty()) {
    client_.post([done] { done({}); });
    return;
  }
  flushes_.emplace_back(ops_.back().highest_sequence_id, std::move(done));
}

void ProducerImpl::fail_all(const Error& e) {
  for (auto& b : batch_) {
    if (b.done) client_.post([cb = std::move(b.done), e] { cb(e); });
  }
  batch_.clear();
  for (auto& op : ops_) {
    for (auto& cb : op.callbacks) {
      if (cb) client_.post([cb = std::move(cb), e] { cb(e); });
    }
  }
  ops_.clear();
  sent_ = 0;
  sent_messages_ = 0;
  pending_ = 0;
  for (auto& [s, cb] : flushes_) client_.post([cb = std::move(cb), e] { cb(e); });
  flushes_.clear();
}

void ProducerImpl::close(DoneCallback done) {
  if (state_ == State::closed) {
    client_.post([done] { done({}); });
    return;
  }
  close_waiters_.push_back(std::move(done));
  if (state_ == State::closing) return;
  const bool was_ready = state_ == State::ready && conn_;
  state_ = State::closing;
  reconnect_at_ = TimePoint::max();
  fail_all(Error(ClientErrc::closed, "producer of " + topic_ + " closed"));
  if (start_done_) {
    auto d = std::move(start_done_);
    start_done_ = nullptr;
    client_.post([d, t = topic_] { d(Error(ClientErrc::closed, "producer of " + t + " closed before it was created")); });
  }
  if (!was_ready) return finish_close();
  const auto request_id = client_.next_request_id++;
  proto::BaseCommand cmd;
  cmd.set_type(proto::BaseCommand::CLOSE_PRODUCER);
  cmd.mutable_close_producer()->set_producer_id(id_);
  cmd.mutable_close_producer()->set_request_id(request_id);
  std::weak_ptr<ProducerImpl> weak = shared_from_this();
  conn_->request(request_id, cmd, [this, weak](Result<const proto::BaseCommand*, Error>) {
    if (auto self = weak.lock()) finish_close();
  });
}

void ProducerImpl::finish_close() {
  if (state_ == State::closed) return;
  state_ = State::closed;
  if (conn_) conn_->remove_producer(id_);
  conn_.reset();
  for (auto& w : close_waiters_) client_.post([w = std::move(w)] { w({}); });
  close_waiters_.clear();
  client_.producers.erase(shared_from_this());
}

void ProducerImpl::on_tick(TimePoint now) {
  if (now >= batch_deadline_) close_batch();
  if (now >= reconnect_at_) {
    reconnect_at_ = TimePoint::max();
    if (state_ == State::connecting) connect();
  }
}

TimePoint ProducerImpl::next_deadline() const { return std::min(batch_deadline_, reconnect_at_); }

// --- partitioned topics ---

namespace {

// 32-bit FNV-1a of the key: a stable partition for each key.
std::uint32_t key_hash(const std::string& key) {
  std::uint32_t h = 2166136261u;
  for (unsigned char ch : key) {
    h ^= ch;
    h *= 16777619u;
  }
  return h;
}

// One ProducerImpl per partition; a Timed that reads the partition count again every
// partitions_update_interval and adds producers for partitions created since.
class PartitionedProducer final : public Producer, public Timed, public std::enable_shared_from_this<PartitionedProducer> {
public:
  PartitionedProducer(Client::Impl& impl, ProducerConfig config, std::string topic,
                      std::vector<std::shared_ptr<ProducerImpl>> parts)
      : impl_(impl), cfg_(std::move(config)), topic_(std::move(topic)), parts_(std::move(parts)) {
    if (cfg_.partitions_update_interval.count() > 0) next_check_ = impl_.now() + cfg_.partitions_update_interval;
  }

  void on_tick(TimePoint now) override {
    if (closed_ || checking_ || now < next_check_) return;
    checking_ = true;
    std::weak_ptr<PartitionedProducer> weak = shared_from_this();
    impl_.partitions(topic_, [this, weak](Result<std::uint32_t, Error> n) {
      auto self = weak.lock();
      if (!self) return;
      if (!n.ok() || closed_ || *n <= parts_.size() + adding_) return done_checking();  // tried again later
      const std::uint32_t from = static_cast<std::uint32_t>(parts_.size() + adding_);
      for (std::uint32_t i = from; i < *n; ++i) {
        auto p = std::make_shared<ProducerImpl>(impl_, cfg_, partition_name(topic_, i), static_cast<std::int32_t>(i));
        impl_.producers.insert(p);
        ++adding_;
        // Routed to only once it is ready (then in partition order: a later one waits for the
        // ones before it), so that hash(key) % partitions moves keys only once.
        p->start([this, weak, p, i](Result<void, Error> r) {
          auto self = weak.lock();
          if (!self) return;
          if (!r.ok() || closed_) {
            p->close([](Result<void, Error>) {});
            impl_.producers.erase(p);
          } else {
            ready_.emplace(i, p);
          }
          --adding_;
          while (!ready_.empty() && ready_.begin()->first == parts_.size()) {
            parts_.push_back(ready_.begin()->second);
            ready_.erase(ready_.begin());
          }
          if (adding_ == 0) {
            // A partition that failed: the ones after it are dropped and tried at the next check.
            for (auto& [k, q] : ready_) {
              q->close([](Result<void, Error>) {});
              impl_.producers.erase(q);
            }
            ready_.clear();
            done_checking();
          }
        });
      }
    });
  }
  TimePoint next_deadline() const override { return closed_ || checking_ ? TimePoint::max() : next_check_; }

  void send(OutgoingMessage message, Callback<MessageId> done) override {
    const std::size_t p = message.key ? key_hash(*message.key) % parts_.size() : next_++ % parts_.size();
    parts_[p]->send(std::move(message), std::move(done));
  }
  void flush(DoneCallback done) override { all([](ProducerImpl& p, DoneCallback d) { p.flush(std::move(d)); }, std::move(done)); }
  void close(DoneCallback done) override {
    closed_ = true;
    impl_.timed.erase(shared_from_this());
    all([](ProducerImpl& p, DoneCallback d) { p.close(std::move(d)); }, std::move(done));
  }
  const std::string& topic() const override { return topic_; }
  const std::string& producer_name() const override { return parts_.front()->producer_name(); }
  std::int64_t last_sequence_id() const override {
    std::int64_t m = -1;
    for (auto& p : parts_) m = std::max(m, p->last_sequence_id());
    return m;
  }
  bool connected() const override {
    for (auto& p : parts_) {
      if (!p->connected()) return false;
    }
    return true;
  }
  std::size_t pending_messages() const override {
    std::size_t n = 0;
    for (auto& p : parts_) n += p->pending_messages();
    return n;
  }

private:
  template <typename F>
  void all(F f, DoneCallback done) {
    struct Join {
      std::size_t left;
      DoneCallback done;
      std::optional<Error> error;
    };
    auto j = std::make_shared<Join>(Join{parts_.size(), std::move(done), std::nullopt});
    for (auto& p : parts_) {
      f(*p, [j](Result<void, Error> r) {
        if (!r.ok() && !j->error) j->error = r.error();
        if (--j->left == 0) {
          if (j->error) j->done(*j->error);
          else j->done({});
        }
      });
    }
  }

  void done_checking() {
    checking_ = false;
    if (cfg_.partitions_update_interval.count() <= 0) return;
    next_check_ = impl_.now() + cfg_.partitions_update_interval;
    impl_.arm(next_check_);
  }

  Client::Impl& impl_;
  ProducerConfig cfg_;
  std::string topic_;
  std::vector<std::shared_ptr<ProducerImpl>> parts_;
  std::size_t next_ = 0;
  bool closed_ = false;
  bool checking_ = false;
  std::size_t adding_ = 0;
  std::map<std::uint32_t, std::shared_ptr<ProducerImpl>> ready_;
  TimePoint next_check_ = TimePoint::max();
};

}  // namespace

void create_producer_impl(Client::Impl& impl, ProducerConfig config, Callback<std::shared_ptr<Producer>> done) {
  auto full = full_topic_name(config.topic);
  if (!full.ok()) return impl.post([done, e = full.error()] { done(e); });
  if (impl.closing) return impl.post([done] { done(Error(ClientErrc::closed, "the client is closed")); });
  const std::string topic = *full;
  impl.partitions(topic, [&impl, topic, config, done](Result<std::uint32_t, Error> n) {
    if (!n.ok()) return done(std::move(n).error());
    const std::uint32_t partitions = *n;
    std::vector<std::shared_ptr<ProducerImpl>> parts;
    if (partitions == 0) {
      parts.push_back(std::make_shared<ProducerImpl>(impl, config, topic, -1));
    } else {
      for (std::uint32_t i = 0; i < partitions; ++i) {
        parts.push_back(std::make_shared<ProducerImpl>(impl, config, partition_name(topic, i), static_cast<std::int32_t>(i)));
      }
    }
    struct Join {
      std::size_t left;
      std::optional<Error> error;
    };
    auto j = std::make_shared<Join>(Join{parts.size(), std::nullopt});
    for (auto& p : parts) {
      impl.producers.insert(p);
      p->start([&impl, j, parts, topic, partitions, config, done](Result<void, Error> r) {
        if (!r.ok() && !j->error) j->error = r.error();
        if (--j->left > 0) return;
        if (j->error) {
          for (auto& q : parts) q->close([](Result<void, Error>) {});
          for (auto& q : parts) impl.producers.erase(q);
          return done(*j->error);
        }
        if (partitions == 0) return done(std::static_pointer_cast<Producer>(parts.front()));
        auto pp = std::make_shared<PartitionedProducer>(impl, config, topic, parts);
        if (config.partitions_update_interval.count() > 0) {
          impl.timed.insert(pp);
          impl.arm(pp->next_deadline());
        }
        done(std::static_pointer_cast<Producer>(pp));
      });
    }
  });
}

}  // namespace mop::pulsar::client
