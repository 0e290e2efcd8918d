#pragma once
// Internal: the consumer of one topic or partition (ConsumerImpl), and MultiConsumer over several
// (a partitioned topic, a list of topics, or a pattern).
#include <deque>
#include <regex>

#include "pulsar/client/client_impl.hpp"

namespace mop::pulsar::client {

class ConsumerImpl final : public Consumer, public ConnectionUser, public std::enable_shared_from_this<ConsumerImpl> {
public:
  // `facade`: the Consumer the listener is handed (a MultiConsumer over this one, or this);
  // `partition`: -1 unless the topic is a partition.
  ConsumerImpl(Client::Impl& client, ConsumerConfig config, std::string topic, std::int32_t partition);
  // Destroyed while its connection still lists it (a partitioned parent dropped after a failed
  // start, found by pulsar_client_fuzz): the connection must not call it back.
  ~ConsumerImpl() override {
    if (conn_) conn_->remove_consumer(id_);
  }
  void set_facade(Consumer* facade) { facade_ = facade; }

  void start(std::function<void(Result<void, Error>)> done);

  void acknowledge(const MessageId& id, DoneCallback done) override;
  void acknowledge_cumulative(const MessageId& id, DoneCallback done) override;
  void negative_acknowledge(const MessageId& id) override;
  void redeliver_unacknowledged() override;
  void pause() override;
  void resume() override;
  void seek(const MessageId& id, DoneCallback done) override;
  void seek(std::uint64_t publish_time_ms, DoneCallback done) override;
  void get_last_message_id(Callback<MessageId> done) override;
  void unsubscribe(DoneCallback done) override;
  void close(DoneCallback done) override;
  const std::string& subscription() const override { return cfg_.subscription; }
  std::vector<std::string> topics() const override { return {topic_}; }
  bool connected() const override { return state_ == State::ready; }
  // (Re)connecting, received and not yet handed out (unless paused), acks and negative acks not
  // yet sent (Client::operations_in_flight).
  std::size_t in_flight() const {
    return (state_ == State::connecting || state_ == State::closing ? 1 : 0) + (paused_ ? 0 : queue_.size()) +
           nacks_.size() + pending_acks_.size() + (pending_cumulative_ ? 1 : 0);
  }

  const std::string& topic() const { return topic_; }
  // Whether a message of this entry was handed out and not acknowledged (for routing acks).
  bool holds(const MessageId& id) const { return outstanding_.count({id.ledger, id.entry}) > 0; }

  void on_frame(const Frame& frame) override;
  void on_disconnected() override;
  void on_tick(TimePoint now);
  TimePoint next_deadline() const;
  // The client is going: drop the connection and every callback not yet run (they may hold this
  // object, which would then never be freed).
  void detach() {
    conn_.reset();
    state_ = State::closed;
    start_done_ = nullptr;
    close_waiters_.clear();
    pending_ack_done_.clear();
    cfg_.listener = nullptr;
    cfg_.on_closed = nullptr;
  }

private:
  enum class State { connecting, ready, closing, closed };
  using EntryKey = std::pair<std::uint64_t, std::uint64_t>;
  void connect();
  void subscribed();
  void failed(const Error& e);
  void schedule_reconnect();
  void on_message(const Frame& frame);
  void schedule_delivery();
  void deliver_one();
  void flow(std::uint32_t permits);
  // An ack as it goes on the wire: the entry, and for a batch-index ack the entry's ack_set
  // (bit set = not yet acknowledged) and batch size.
  struct WireAck {
    MessageId id;
    std::vector<std::int64_t> ack_set;
    std::int32_t batch_size = 0;
  };
  static void put_ack(const WireAck& a, proto::MessageIdData& out);
  void send_ack(WireAck ack, proto::CommandAck::AckType type, DoneCallback done);
  void flush_acks();
  void request(proto::BaseCommand& cmd, std::uint64_t request_id, RequestCallback cb, const char* what);
  void reset_local_queue();
  void finish_close();

  Client::Impl& client_;
  ConsumerConfig cfg_;
  std::string topic_;
  std::int32_t partition_;
  std::uint64_t id_;
  Consumer* facade_ = this;
  State state_ = State::connecting;
  std::shared_ptr<Connection> conn_;
  int attempts_ = 0;
  TimePoint reconnect_at_ = TimePoint::max();
  TimePoint give_up_at_ = TimePoint::max();
  std::function<void(Result<void, Error>)> start_done_;
  std::vector<DoneCallback> close_waiters_;

  std::deque<Message> queue_;    // received, not yet handed to the listener
  bool delivery_posted_ = false;
  bool paused_ = false;
  std::uint32_t consumed_ = 0;   // messages handed out since the last FLOW
  std::optional<MessageId> start_;          // readers: where (re)subscribing starts
  bool start_inclusive_ = false;
  std::optional<MessageId> last_delivered_;
  // Batches with some messages acknowledged: entry -> (batch size, ack set: set bit = not acked).
  std::map<EntryKey, std::pair<std::int32_t, std::vector<std::int64_t>>> batches_;
  std::set<EntryKey> outstanding_;
  std::vector<std::pair<TimePoint, MessageId>> nacks_;
  // Acks (without receipts) gathered until the posted flush_acks().
  std::vector<WireAck> pending_acks_;
  std::optional<WireAck> pending_cumulative_;
  std::vector<DoneCallback> pending_ack_done_;
  bool ack_flush_posted_ = false;
};

void subscribe_impl(Client::Impl& impl, ConsumerConfig config, Callback<std::shared_ptr<Consumer>> done);

}  // namespace mop::pulsar::client
