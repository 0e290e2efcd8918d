// Consumers: SUBSCRIBE with the subscription type and initial position, FLOW permits refilled as
// the listener consumes, batch unpacking, individual / cumulative acks (batch messages: the entry
// is acknowledged once all of it is, or at once with an ack_set for batch-index acks), negative acks, seek, GET_LAST_MESSAGE_ID, and resubscribe
// after CLOSE_CONSUMER or a lost connection. MultiConsumer is in multi_consumer.cpp.
#include "pulsar/client/consumer_impl.hpp"
#include "pulsar/codec/batch.hpp"
#include "pulsar/codec/compression.hpp"

namespace mop::pulsar::client {

namespace {

bool fatal_after_reconnect(const Error& e) {
  auto s = server_error_of(e.code);
  if (!s) return e.code == make_error_code(ClientErrc::closed) || e.code == make_error_code(ClientErrc::invalid_argument);
  switch (*s) {
    case proto::SubscriptionNotFound:
    case proto::TopicNotFound:
    case proto::NotAllowedError:
    case proto::AuthorizationError:
    case proto::AuthenticationError:
    case proto::InvalidTopicName:
    case proto::IncompatibleSchema:
      return true;
    default:
      return false;
  }
}

bool retry_first_subscribe(const Error& e) {
  auto s = server_error_of(e.code);
  if (s && *s == proto::ConsumerBusy) return false;
  return is_retriable(e.code);
}

std::map<std::string, std::string> props(const google::protobuf::RepeatedPtrField<proto::KeyValue>& kvs) {
  std::map<std::string, std::string> m;
  for (auto& kv : kvs) m[kv.key()] = kv.value();
  return m;
}

}  // namespace

ConsumerImpl::ConsumerImpl(Client::Impl& client, ConsumerConfig config, std::string topic, std::int32_t partition)
    : client_(client), cfg_(std::move(config)), topic_(std::move(topic)), partition_(partition), id_(client.next_consumer_id++) {
  if (cfg_.receiver_queue < 2) cfg_.receiver_queue = 2;
  if (cfg_.start_message_id) {
    start_ = cfg_.start_message_id;
    start_inclusive_ = cfg_.start_inclusive;
  }
}

void ConsumerImpl::start(std::function<void(Result<void, Error>)> done) {
  start_done_ = std::move(done);
  give_up_at_ = client_.now() + client_.config.operation_timeout;
  connect();
}

void ConsumerImpl::connect() {
  state_ = State::connecting;
  if (!cfg_.durable && last_delivered_) {
    // A reader goes on after the last message it handed out.
    start_ = last_delivered_;
    start_inclusive_ = false;
  }
  std::weak_ptr<ConsumerImpl> weak = shared_from_this();
  client_.lookup_connection(topic_, [this, weak](Result<std::shared_ptr<Connection>, Error> r) {
    auto self = weak.lock();
    if (!self || state_ != State::connecting) return;
    if (!r.ok()) return failed(r.error());
    conn_ = *r;
    conn_->add_consumer(id_, this);
    const auto request_id = client_.next_request_id++;
    proto::BaseCommand cmd;
    cmd.set_type(proto::BaseCommand::SUBSCRIBE);
    auto* s = cmd.mutable_subscribe();
    s->set_topic(topic_);
    s->set_subscription(cfg_.subscription);
    s->set_subtype(cfg_.type);
    s->set_consumer_id(id_);
    s->set_request_id(request_id);
    if (!cfg_.consumer_name.empty()) s->set_consumer_name(cfg_.consumer_name);
    if (cfg_.priority_level) s->set_priority_level(cfg_.priority_level);
    s->set_durable(cfg_.durable);
    s->set_initialposition(cfg_.initial_position);
    if (cfg_.read_compacted) s->set_read_compacted(true);
    if (start_ && !cfg_.durable) {
      MessageId at = *start_;
      at.partition = -1;
      at.batch_index = -1;  // the broker delivers from the entry; batch messages before it are dropped here
      to_proto(at, *s->mutable_start_message_id());
    }
    if (cfg_.type == proto::CommandSubscribe::Key_Shared) s->mutable_keysharedmeta()->set_keysharedmode(proto::AUTO_SPLIT);
    for (auto& [k, v] : cfg_.properties) {
      auto* kv = s->add_metadata();
      kv->set_key(k);
      kv->set_value(v);
    }
    auto conn = conn_;
    conn_->request(request_id, cmd, [this, weak, conn](Result<const proto::BaseCommand*, Error> a) {
      auto self = weak.lock();
      if (!self || conn != conn_ || state_ != State::connecting) return;
      if (!a.ok()) {
        conn_->remove_consumer(id_);
        conn_.reset();
        return failed(a.error());
      }
      subscribed();
    });
  });
}

void ConsumerImpl::subscribed() {
  state_ = State::ready;
  attempts_ = 0;
  reset_local_queue();
  // Paused: the whole queue's permits go out with resume() (a consumer paused before a
  // resubscribe would otherwise never ask for messages again).
  if (!paused_) flow(cfg_.receiver_queue);
  else consumed_ = cfg_.receiver_queue;
  if (start_done_) {
    auto done = std::move(start_done_);
    start_done_ = nullptr;
    client_.post([done] { done({}); });
  }
}

void ConsumerImpl::reset_local_queue() {
  // What was received and not handed out comes again from the broker after a resubscribe.
  queue_.clear();
  consumed_ = 0;
  batches_.clear();
  outstanding_.clear();
}

void ConsumerImpl::failed(const Error& e) {
  if (state_ == State::closed || state_ == State::closing) return;
  if (start_done_) {
    if (retry_first_subscribe(e) && client_.now() < give_up_at_) return schedule_reconnect();
    auto done = std::move(start_done_);
    start_done_ = nullptr;
    state_ = State::closed;
    client_.post([done, e] { done(e); });
    return;
  }
  if (fatal_after_reconnect(e)) {
    state_ = State::closed;
    if (cfg_.on_closed) client_.post([cb = cfg_.on_closed, e] { cb(e); });
    client_.consumers.erase(shared_from_this());
    return;
  }
  schedule_reconnect();
}

void ConsumerImpl::schedule_reconnect() {
  state_ = State::connecting;
  reconnect_at_ = client_.now() + client_.backoff(attempts_++);
  client_.arm(reconnect_at_);
}

void ConsumerImpl::on_disconnected() {
  conn_.reset();
  if (state_ == State::ready || state_ == State::connecting) schedule_reconnect();
  else if (state_ == State::closing) finish_close();
}

void ConsumerImpl::flow(std::uint32_t permits) {
  if (!conn_ || permits == 0) return;
  proto::BaseCommand cmd;
  cmd.set_type(proto::BaseCommand::FLOW);
  cmd.mutable_flow()->set_consumer_id(id_);
  cmd.mutable_flow()->set_messagepermits(permits);
  conn_->send(cmd);
}

void ConsumerImpl::on_frame(const Frame& frame) {
  const auto& c = *frame.command;
  switch (c.type()) {
    case proto::BaseCommand::MESSAGE:
      return on_message(frame);
    case proto::BaseCommand::CLOSE_CONSUMER:
      conn_.reset();
      if (state_ == State::closing) return finish_close();
      if (state_ == State::ready || state_ == State::connecting) {
        attempts_ = 0;
        schedule_reconnect();
      }
      return;
    default:
      return;  // ACTIVE_CONSUMER_CHANGE, REACHED_END_OF_TOPIC: nothing to do
  }
}

void ConsumerImpl::on_message(const Frame& frame) {
  if (state_ != State::ready) return;
  const auto& m = frame.command->message();
  const auto& meta = *frame.metadata;
  std::string scratch;
  auto body = uncompressed_payload(meta, frame.payload, conn_ ? conn_->max_message_size() + kFramePadding : kDefaultMaxFrameSize,
                                   scratch);
  if (!body.ok()) {
    // Pulsar's clients ack such a message with a validation error; we drop the connection so the
    // broker redelivers, and say why.
    if (conn_) conn_->close("undecodable MESSAGE on " + topic_ + ": " + body.error().message());
    return;
  }
  auto make = [&](std::span<const std::uint8_t> payload) {
    Message out;
    out.topic = topic_;
    out.id.ledger = m.message_id().ledgerid();
    out.id.entry = m.message_id().entryid();
    out.id.partition = partition_;
    out.payload.assign(reinterpret_cast<const char*>(payload.data()), payload.size());
    out.producer_name = meta.producer_name();
    out.sequence_id = meta.sequence_id();
    out.publish_time = meta.publish_time();
    out.event_time = meta.event_time();
    out.redelivery_count = m.redelivery_count();
    if (meta.has_partition_key()) out.key = meta.partition_key();
    out.properties = props(meta.properties());
    return out;
  };
  auto skip = [&](const MessageId& id) {
    if (!start_ || is_earliest(*start_) || is_latest(*start_)) return false;
    const MessageId& s = *start_;
    if (s.batch_index < 0 || id.batch_index < 0) {
      if (id.ledger != s.ledger) return id.ledger < s.ledger;
      if (id.entry != s.entry) return id.entry < s.entry;
      return !start_inclusive_;
    }
    return start_inclusive_ ? id < s : id <= s;
  };
  std::uint32_t skipped = 0;
  if (meta.has_num_messages_in_batch()) {
    const std::int32_t n = meta.num_messages_in_batch();
    BatchReader batch(*body, n);
    proto::SingleMessageMetadata single;
    for (std::int32_t i = 0;; ++i) {
      std::span<const std::uint8_t> payload;
      auto more = batch.next(single, payload);
      if (!more.ok()) {
        if (conn_) conn_->close("bad batch in MESSAGE on " + topic_ + ": " + more.error().message());
        return;
      }
      if (!*more) break;
      // Already acknowledged at batch-index level on the broker, or compacted out: skipped.
      if ((m.ack_set_size() > 0 && ack_set_is_acked(words_of(m.ack_set()), i)) || single.compacted_out()) {
        ++skipped;
        continue;
      }
      Message msg = make(payload);
      msg.id.batch_index = i;
      if (skip(msg.id)) {
        ++skipped;
        continue;
      }
      if (single.has_partition_key()) msg.key = single.partition_key();
      else msg.key.reset();
      msg.properties = props(single.properties());
      if (single.has_sequence_id()) msg.sequence_id = single.sequence_id();
      if (single.has_event_time()) msg.event_time = single.event_time();
      if (cfg_.durable) batches_.try_emplace({msg.id.ledger, msg.id.entry}, n, ack_set_all_unacked(n));
      queue_.push_back(std::move(msg));
    }
  } else {
    Message msg = make(*body);
    if (skip(msg.id)) ++skipped;
    else queue_.push_back(std::move(msg));
  }
  // Permits of messages never handed out come back at once.
  consumed_ += skipped;
  if (consumed_ >= cfg_.receiver_queue / 2 && !paused_) {
    flow(consumed_);
    consumed_ = 0;
  }
  schedule_delivery();
}

void ConsumerImpl::schedule_delivery() {
  if (delivery_posted_ || paused_ || queue_.empty() || state_ != State::ready) return;
  delivery_posted_ = true;
  std::weak_ptr<ConsumerImpl> weak = shared_from_this();
  client_.post([weak] {
    if (auto self = weak.lock()) self->deliver_one();
  });
}

void ConsumerImpl::deliver_one() {
  delivery_posted_ = false;
  auto self = shared_from_this();
  // Everything queued now, one listener call at a time; messages arriving meanwhile wait for the
  // next posted round, so other work of the executor gets its turn.
  std::size_t n = queue_.size();
  while (n-- > 0 && !paused_ && !queue_.empty() && state_ == State::ready) {
    Message msg = std::move(queue_.front());
    queue_.pop_front();
    last_delivered_ = msg.id;
    // Readers do not acknowledge: nothing to remember for them.
    if (cfg_.durable) outstanding_.insert({msg.id.ledger, msg.id.entry});
    if (cfg_.listener) cfg_.listener(*facade_, msg);
    if (state_ != State::ready) return;
    if (++consumed_ >= cfg_.receiver_queue / 2 && !paused_) {
      flow(consumed_);
      consumed_ = 0;
    }
  }
  schedule_delivery();
}

void ConsumerImpl::pause() { paused_ = true; }

void ConsumerImpl::resume() {
  if (!paused_) return;
  paused_ = false;
  if (consumed_ >= cfg_.receiver_queue / 2) {
    flow(consumed_);
    consumed_ = 0;
  }
  schedule_delivery();
}

void ConsumerImpl::request(proto::BaseCommand& cmd, std::uint64_t request_id, RequestCallback cb, const char* what) {
  if (!conn_ || state_ != State::ready) {
    client_.post([cb = std::move(cb), what, t = topic_] {
      cb(Error(ClientErrc::disconnected, std::string(what) + " on " + t + ": the consumer is not connected"));
    });
    return;
  }
  conn_->request(request_id, cmd, std::move(cb));
}

void ConsumerImpl::put_ack(const WireAck& a, proto::MessageIdData& out) {
  out.set_ledgerid(a.id.ledger);
  out.set_entryid(a.id.entry);
  if (a.ack_set.empty()) return;
  for (auto w : a.ack_set) out.add_ack_set(w);
  out.set_batch_size(a.batch_size);
}

void ConsumerImpl::send_ack(WireAck ack, proto::CommandAck::AckType type, DoneCallback done) {
  if (!cfg_.ack_receipts) {
    if (!conn_ || state_ != State::ready) {
      // The broker will redeliver: at-least-once, and the caller is told.
      client_.post([done, t = topic_] { done(Error(ClientErrc::disconnected, "ack on " + t + ": not connected")); });
      return;
    }
    // Gathered: every ack made during one round of the executor leaves as one ACK command
    // (individual: all ids; cumulative: the last).
    if (type == proto::CommandAck::Cumulative) {
      pending_cumulative_ = std::move(ack);
    } else {
      pending_acks_.push_back(std::move(ack));
    }
    pending_ack_done_.push_back(std::move(done));
    if (!ack_flush_posted_) {
      ack_flush_posted_ = true;
      std::weak_ptr<ConsumerImpl> weak = shared_from_this();
      client_.post([weak] {
        if (auto self = weak.lock()) self->flush_acks();
      });
    }
    return;
  }
  proto::BaseCommand cmd;
  cmd.set_type(proto::BaseCommand::ACK);
  auto* a = cmd.mutable_ack();
  a->set_consumer_id(id_);
  a->set_ack_type(type);
  put_ack(ack, *a->add_message_id());
  const auto request_id = client_.next_request_id++;
  a->set_request_id(request_id);
  request(cmd, request_id, [done](Result<const proto::BaseCommand*, Error> r) {
    if (!r.ok()) return done(std::move(r).error());
    done({});
  }, "ack");
}

void ConsumerImpl::flush_acks() {
  ack_flush_posted_ = false;
  auto dones = std::move(pending_ack_done_);
  pending_ack_done_.clear();
  const bool connected = conn_ && state_ == State::ready;
  auto send = [&](proto::CommandAck::AckType type, const std::vector<WireAck>& acks) {
    if (acks.empty() || !connected) return;
    proto::BaseCommand cmd;
    cmd.set_type(proto::BaseCommand::ACK);
    auto* a = cmd.mutable_ack();
    a->set_consumer_id(id_);
    a->set_ack_type(type);
    for (auto& ack : acks) put_ack(ack, *a->add_message_id());
    conn_->send(cmd);
  };
  send(proto::CommandAck::Individual, pending_acks_);
  if (pending_cumulative_) send(proto::CommandAck::Cumulative, {*pending_cumulative_});
  pending_acks_.clear();
  pending_cumulative_.reset();
  for (auto& d : dones) {
    if (connected) d({});
    else d(Error(ClientErrc::disconnected, "ack on " + topic_ + ": not connected"));
  }
}

void ConsumerImpl::acknowledge(const MessageId& id, DoneCallback done) {
  const EntryKey key{id.ledger, id.entry};
  WireAck ack{id, {}, 0};
  if (id.batch_index >= 0) {
    auto it = batches_.find(key);
    if (it != batches_.end()) {
      ack_set_mark_acked(it->second.second, id.batch_index);
      if (!ack_set_all_acked(it->second.second, it->second.first)) {
        if (cfg_.batch_index_ack) {
          // Told to the broker now, with every index of the entry acknowledged so far.
          return send_ack(WireAck{id, it->second.second, it->second.first}, proto::CommandAck::Individual, std::move(done));
        }
        client_.post([done] { done({}); });  // the entry is acknowledged with its last message
        return;
      }
      batches_.erase(it);
    }
  }
  outstanding_.erase(key);
  send_ack(std::move(ack), proto::CommandAck::Individual, std::move(done));
}

void ConsumerImpl::acknowledge_cumulative(const MessageId& id, DoneCallback done) {
  if (cfg_.type == proto::CommandSubscribe::Shared || cfg_.type == proto::CommandSubscribe::Key_Shared) {
    client_.post([done] { done(Error(ClientErrc::invalid_argument, "cumulative ack on a Shared or Key_Shared subscription")); });
    return;
  }
  WireAck ack{id, {}, 0};
  MessageId& at = ack.id;
  const EntryKey key{id.ledger, id.entry};
  if (id.batch_index >= 0) {
    auto it = batches_.find(key);
    if (it != batches_.end() && id.batch_index + 1 < it->second.first) {
      for (std::int32_t i = 0; i <= id.batch_index; ++i) ack_set_mark_acked(it->second.second, i);
      if (cfg_.batch_index_ack) {
        // Up to this entry, and within it the indexes up to this message.
        ack.ack_set = it->second.second;
        ack.batch_size = it->second.first;
        at.entry = id.entry - 1;  // what is wholly acknowledged locally: the entries before
      } else {
        // Part of a batch: everything before its entry (as Pulsar's clients do without batch-index acks).
        at.entry = id.entry - 1;  // (ledger, -1) means "before entry 0", as on the wire
      }
    }
  }
  for (auto it = outstanding_.begin(); it != outstanding_.end() && *it <= EntryKey{at.ledger, at.entry};) it = outstanding_.erase(it);
  for (auto it = batches_.begin(); it != batches_.end() && it->first <= EntryKey{at.ledger, at.entry};) it = batches_.erase(it);
  if (!ack.ack_set.empty()) at.entry = id.entry;  // on the wire: the entry itself, with its ack_set
  send_ack(std::move(ack), proto::CommandAck::Cumulative, std::move(done));
}

void ConsumerImpl::negative_acknowledge(const MessageId& id) {
  const auto at = client_.now() + cfg_.negative_ack_delay;
  nacks_.emplace_back(at, id);
  client_.arm(at);
}

void ConsumerImpl::redeliver_unacknowledged() {
  if (!conn_ || state_ != State::ready) return;
  // Acks made before it leave before it: an acknowledged message is not sent again.
  if (ack_flush_posted_) flush_acks();
  proto::BaseCommand cmd;
  cmd.set_type(proto::BaseCommand::REDELIVER_UNACKNOWLEDGED_MESSAGES);
  cmd.mutable_redeliverunacknowledgedmessages()->set_consumer_id(id_);
  conn_->send(cmd);
  // The broker sends everything again: what waits here is dropped, and its permits come back.
  const auto waiting = static_cast<std::uint32_t>(queue_.size());
  queue_.clear();
  batches_.clear();
  outstanding_.clear();
  consumed_ += waiting;
  if (!paused_) {
    flow(consumed_);
    consumed_ = 0;
  }
}

void ConsumerImpl::seek(const MessageId& id, DoneCallback done) {
  const auto request_id = client_.next_request_id++;
  proto::BaseCommand cmd;
  cmd.set_type(proto::BaseCommand::SEEK);
  auto* s = cmd.mutable_seek();
  s->set_consumer_id(id_);
  s->set_request_id(request_id);
  MessageId at = id;
  at.partition = -1;
  at.batch_index = -1;
  to_proto(at, *s->mutable_message_id());
  std::weak_ptr<ConsumerImpl> weak = shared_from_this();
  request(cmd, request_id, [this, weak, id, done](Result<const proto::BaseCommand*, Error> r) {
    if (!r.ok()) return done(std::move(r).error());
    if (auto self = weak.lock()) {
      // The broker closes the consumer and it resubscribes; a reader starts at the seek position.
      last_delivered_.reset();
      if (!cfg_.durable) {
        start_ = id;
        start_inclusive_ = true;
      }
      queue_.clear();
    }
    done({});
  }, "seek");
}

void ConsumerImpl::seek(std::uint64_t publish_time_ms, DoneCallback done) {
  const auto request_id = client_.next_request_id++;
  proto::BaseCommand cmd;
  cmd.set_type(proto::BaseCommand::SEEK);
  cmd.mutable_seek()->set_consumer_id(id_);
  cmd.mutable_seek()->set_request_id(request_id);
  cmd.mutable_seek()->set_message_publish_time(publish_time_ms);
  std::weak_ptr<ConsumerImpl> weak = shared_from_this();
  request(cmd, request_id, [this, weak, done](Result<const proto::BaseCommand*, Error> r) {
    if (!r.ok()) return done(std::move(r).error());
    if (auto self = weak.lock()) {
      last_delivered_.reset();
      start_.reset();
      queue_.clear();
    }
    done({});
  }, "seek");
}

void ConsumerImpl::get_last_message_id(Callback<MessageId> done) {
  const auto request_id = client_.next_request_id++;
  proto::BaseCommand cmd;
  cmd.set_type(proto::BaseCommand::GET_LAST_MESSAGE_ID);
  cmd.mutable_getlastmessageid()->set_consumer_id(id_);
  cmd.mutable_getlastmessageid()->set_request_id(request_id);
  request(cmd, request_id, [done, p = partition_](Result<const proto::BaseCommand*, Error> r) {
    if (!r.ok()) return done(std::move(r).error());
    MessageId id = from_proto((*r)->getlastmessageidresponse().last_message_id());
    id.partition = p;
    done(id);
  }, "get last message id");
}

void ConsumerImpl::unsubscribe(DoneCallback done) {
  const auto request_id = client_.next_request_id++;
  proto::BaseCommand cmd;
  cmd.set_type(proto::BaseCommand::UNSUBSCRIBE);
  cmd.mutable_unsubscribe()->set_consumer_id(id_);
  cmd.mutable_unsubscribe()->set_request_id(request_id);
  std::weak_ptr<ConsumerImpl> weak = shared_from_this();
  request(cmd, request_id, [this, weak, done](Result<const proto::BaseCommand*, Error> r) {
    if (!r.ok()) return done(std::move(r).error());
    if (auto self = weak.lock()) {
      state_ = State::closing;
      finish_close();
    }
    done({});
  }, "unsubscribe");
}

void ConsumerImpl::close(DoneCallback done) {
  if (state_ == State::closed) {
    client_.post([done] { done({}); });
    return;
  }
  close_waiters_.push_back(std::move(done));
  if (state_ == State::closing) return;
  const bool was_ready = state_ == State::ready && conn_;
  state_ = State::closing;
  reconnect_at_ = TimePoint::max();
  nacks_.clear();
  if (start_done_) {
    auto d = std::move(start_done_);
    start_done_ = nullptr;
    client_.post([d, t = topic_] { d(Error(ClientErrc::closed, "consumer of " + t + " closed before it subscribed")); });
  }
  if (!was_ready) return finish_close();
  if (ack_flush_posted_) {
    // Acks made before close() leave before CLOSE_CONSUMER.
    state_ = State::ready;
    flush_acks();
    state_ = State::closing;
  }
  const auto request_id = client_.next_request_id++;
  proto::BaseCommand cmd;
  cmd.set_type(proto::BaseCommand::CLOSE_CONSUMER);
  cmd.mutable_close_consumer()->set_consumer_id(id_);
  cmd.mutable_close_consumer()->set_request_id(request_id);
  std::weak_ptr<ConsumerImpl> weak = shared_from_this();
  conn_->request(request_id, cmd, [this, weak](Result<const proto::BaseCommand*, Error>) {
    if (auto self = weak.lock()) finish_close();
  });
}

void ConsumerImpl::finish_close() {
  if (state_ == State::closed) return;
  state_ = State::closed;
  queue_.clear();
  if (conn_) conn_->remove_consumer(id_);
  conn_.reset();
  for (auto& w : close_waiters_) client_.post([w = std::move(w)] { w({}); });
  close_waiters_.clear();
  client_.consumers.erase(shared_from_this());
}

void ConsumerImpl::on_tick(TimePoint now) {
  if (now >= reconnect_at_) {
    reconnect_at_ = TimePoint::max();
    if (state_ == State::connecting) connect();
  }
  if (!nacks_.empty() && state_ == State::ready && conn_) {
    proto::BaseCommand cmd;
    cmd.set_type(proto::BaseCommand::REDELIVER_UNACKNOWLEDGED_MESSAGES);
    auto* r = cmd.mutable_redeliverunacknowledgedmessages();
    r->set_consumer_id(id_);
    std::set<EntryKey> entries;
    for (auto it = nacks_.begin(); it != nacks_.end();) {
      if (it->first <= now) {
        entries.insert({it->second.ledger, it->second.entry});
        it = nacks_.erase(it);
      } else {
        ++it;
      }
    }
    if (!entries.empty()) {
      if (cfg_.type == proto::CommandSubscribe::Shared || cfg_.type == proto::CommandSubscribe::Key_Shared) {
        for (auto& [l, e] : entries) {
          auto* id = r->add_message_ids();
          id->set_ledgerid(l);
          id->set_entryid(e);
          outstanding_.erase({l, e});
          batches_.erase({l, e});
        }
        conn_->send(cmd);
      } else {
        redeliver_unacknowledged();  // one active consumer: the broker rewinds to the first unacked
      }
    }
  }
}

TimePoint ConsumerImpl::next_deadline() const {
  TimePoint t = reconnect_at_;
  for (auto& [at, id] : nacks_) t = std::min(t, at);
  return t;
}

}  // namespace mop::pulsar::client
