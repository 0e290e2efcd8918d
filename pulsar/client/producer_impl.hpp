#pragma once
// Internal: the producer of one topic or partition (ProducerImpl) and of a partitioned topic
// (PartitionedProducer, one ProducerImpl per partition).
#include <deque>

#include "pulsar/client/client_impl.hpp"

namespace mop::pulsar::client {

class ProducerImpl final : public Producer, public ConnectionUser, public std::enable_shared_from_this<ProducerImpl> {
public:
  // `partition`: -1 for a non-partitioned topic.
  ProducerImpl(Client::Impl& client, ProducerConfig config, std::string topic, std::int32_t partition);
  // Destroyed while its connection still lists it (a partitioned parent dropped after a failed
  // start, found by pulsar_client_fuzz): the connection must not call it back.
  ~ProducerImpl() override {
    if (conn_) conn_->remove_producer(id_);
  }

  // Creates the producer on its broker; `done` once PRODUCER_SUCCESS came (or it failed for good).
  void start(std::function<void(Result<void, Error>)> done);

  void send(OutgoingMessage message, Callback<MessageId> done) override;
  void flush(DoneCallback done) override;
  void close(DoneCallback done) override;
  const std::string& topic() const override { return topic_; }
  const std::string& producer_name() const override { return name_; }
  std::int64_t last_sequence_id() const override { return last_acked_; }
  bool connected() const override { return state_ == State::ready; }
  std::size_t pending_messages() const override { return pending_; }
  // Messages awaiting a receipt, plus 1 while (re)connecting (Client::operations_in_flight).
  std::size_t in_flight() const { return pending_ + (state_ == State::connecting || state_ == State::closing ? 1 : 0); }

  void on_frame(const Frame& frame) override;
  void on_disconnected() override;
  void on_tick(TimePoint now);
  TimePoint next_deadline() const;
  // The client is being destroyed: forget the connection, and drop every callback not yet run
  // (they may hold this object, which would then never be freed).
  void detach() {
    conn_.reset();
    state_ = State::closed;
    start_done_ = nullptr;
    ops_.clear();
    batch_.clear();
    flushes_.clear();
    close_waiters_.clear();
    cfg_.on_closed = nullptr;
  }

private:
  enum class State { connecting, ready, closing, closed };
  struct Op {  // one SEND: one message, or one batch
    std::uint64_t sequence_id = 0;
    std::uint64_t highest_sequence_id = 0;
    std::uint32_t messages = 1;
    bool batch = false;
    proto::MessageMetadata metadata;
    std::string payload;  // compressed if so configured
    std::vector<Callback<MessageId>> callbacks;
  };
  struct Batched {
    OutgoingMessage message;
    std::uint64_t sequence_id;
    Callback<MessageId> done;
  };
  void connect();
  void created(const proto::CommandProducerSuccess& success);
  void failed(const Error& e);
  void fail_all(const Error& e);
  void schedule_reconnect();
  void close_batch();
  void push_op();  // the SEND just built at the back of ops_: compressed if so configured, then sent
  void pump();
  void write(const Op& op);
  void receipt(const proto::CommandSendReceipt& r);
  void check_flushes();
  void finish_close();

  Client::Impl& client_;
  ProducerConfig cfg_;
  std::string topic_;
  std::int32_t partition_;
  std::uint64_t id_;
  State state_ = State::connecting;
  std::shared_ptr<Connection> conn_;
  std::string name_;
  bool named_by_user_;
  bool created_once_ = false;
  std::uint64_t epoch_ = 0;
  // The topic's epoch the broker gave an exclusive producer: sent back when reconnecting, so
  // that a broker where another producer fenced us since refuses us (ProducerFenced).
  std::optional<std::uint64_t> topic_epoch_;
  int attempts_ = 0;
  TimePoint reconnect_at_ = TimePoint::max();
  TimePoint give_up_at_ = TimePoint::max();  // first creation only
  std::function<void(Result<void, Error>)> start_done_;

  std::deque<Op> ops_;        // oldest first; the first `sent_` have been written on conn_
  std::size_t sent_ = 0;
  std::uint32_t sent_messages_ = 0;
  std::size_t pending_ = 0;   // messages in ops_ and batch_
  std::vector<Batched> batch_;
  std::size_t batch_bytes_ = 0;
  TimePoint batch_deadline_ = TimePoint::max();
  std::uint64_t next_sequence_id_ = 0;
  std::int64_t last_acked_ = -1;
  std::vector<std::pair<std::uint64_t, DoneCallback>> flushes_;  // wait until last_acked_ >= first
  std::vector<DoneCallback> close_waiters_;
};

// Creates the producer of a topic (looking up whether it is partitioned) and hands it out.
void create_producer_impl(Client::Impl& impl, ProducerConfig config, Callback<std::shared_ptr<Producer>> done);

}  // namespace mop::pulsar::client
