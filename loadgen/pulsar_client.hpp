#pragma once
// The client side of the Pulsar binary protocol, sans I/O, for `mop bench pulsar-*`: one
// connection that carries one producer or one consumer, as the official clients speak it.
// Bytes from the broker go in through feed(); commands to send are appended to an output string;
// what happens is told to a ClientListener. No sockets, no clock: publish times are passed in.
//
//   CONNECT -> CONNECTED -> [PARTITIONED_METADATA -> LOOKUP] -> PRODUCER -> PRODUCER_SUCCESS
//                                                            -> SUBSCRIBE -> SUCCESS -> FLOW
//
// Producer: send() appends a message; without batching each message is one SEND, with batching
// `batch` messages make one SEND (SingleMessageMetadata each, compression over the whole batch).
// Sequence ids count messages from the broker's last_sequence_id + 1; SEND_RECEIPTs must come
// back in order (a receipt for an id below the oldest pending one is a duplicate and ignored).
// Consumer: MESSAGEs (batched or not, compressed or not) are handed out message by message; FLOW
// permits count messages and are refilled once half of the receiver queue is used; acks gathered
// since the last flush_acks() go out as one ACK (individual: every id; cumulative: the last).
//
// Not thread-safe: owned by the thread of its connection.
#include <cstdint>
#include <deque>
#include <span>
#include <string>
#include <vector>

#include "pulsar/codec/codec.hpp"

namespace mop::loadgen {

struct PulsarClientConfig {
  enum class Role { producer, consumer };
  Role role = Role::producer;
  std::string topic;
  // The URL this connection went to, "pulsar://host:port": a LOOKUP answer naming another URL
  // makes the client report a redirect instead of carrying on here.
  std::string service_url;
  bool lookup = true;          // false: PRODUCER / SUBSCRIBE right after CONNECTED
  bool authoritative = false;  // LOOKUP after a Redirect answer
  std::string client_version = "mop-bench/0.1";
  std::uint32_t max_frame_size = pulsar::kDefaultMaxFrameSize;
  // producer
  std::string producer_name;   // empty: the broker assigns one
  std::uint32_t batch = 0;     // messages per SEND; 0 or 1 = no batching
  pulsar::proto::CompressionType compression = pulsar::proto::NONE;
  // consumer
  std::string subscription;
  std::string consumer_name;
  pulsar::proto::CommandSubscribe::SubType sub_type = pulsar::proto::CommandSubscribe::Exclusive;
  pulsar::proto::CommandSubscribe::InitialPosition initial_position = pulsar::proto::CommandSubscribe::Latest;
  std::uint32_t receiver_queue = 1000;
  pulsar::proto::CommandAck::AckType ack_type = pulsar::proto::CommandAck::Individual;
};

class ClientListener {
public:
  virtual ~ClientListener() = default;
  // The producer or consumer exists (consumer: its first FLOW has been queued).
  virtual void on_ready() = 0;
  // The broker stored the oldest `messages` pending messages (one SEND).
  virtual void on_receipt(std::uint32_t messages) = 0;
  // One message (of a batch, maybe), uncompressed. Valid during the call only.
  virtual void on_message(std::span<const std::uint8_t> payload) = 0;
  // LOOKUP named another broker: connect there. `lookup_again` for a Redirect answer (look up
  // again there, with `authoritative`); a Connect answer means create the producer/consumer there.
  virtual void on_redirect(const std::string& url, bool lookup_again, bool authoritative) = 0;
  // The connection cannot go on (ERROR, SEND_ERROR, CLOSE_* from the broker, a protocol breach).
  virtual void on_failed(const std::string& why) = 0;
};

class PulsarClient {
public:
  enum class State { idle, connecting, metadata, lookup, creating, ready, failed, redirected };

  explicit PulsarClient(PulsarClientConfig config);

  // Appends CONNECT.
  void start(std::string& out);
  // Bytes from the broker. Answers (PONG, PRODUCER, SUBSCRIBE, FLOW, ...) are appended to `out`.
  // Returns false once the client failed or was redirected (the listener has been told).
  bool feed(std::span<const std::uint8_t> bytes, std::string& out, ClientListener& l);

  State state() const { return state_; }
  bool ready() const { return state_ == State::ready; }

  // --- producer ---
  // Adds one message; a SEND is appended when the batch is full (at once without batching).
  // `publish_time_ms` goes into the metadata. Only when ready().
  void send(std::span<const std::uint8_t> payload, std::uint64_t publish_time_ms, std::string& out);
  // Sends the partial batch, if any.
  void flush_batch(std::uint64_t publish_time_ms, std::string& out);
  // Messages handed to send() that have no receipt yet (including a partial batch).
  std::uint64_t pending_messages() const { return pending_messages_ + batch_count_; }
  std::uint32_t messages_in_batch() const { return batch_count_; }
  const std::string& producer_name() const { return producer_name_; }
  std::uint64_t next_sequence_id() const { return next_sequence_id_; }

  // --- consumer ---
  // Appends the ACK for what arrived since the last call (nothing if nothing did).
  void flush_acks(std::string& out);

  // Best-effort orderly end: CLOSE_PRODUCER or CLOSE_CONSUMER.
  void close(std::string& out);

private:
  bool handle(const pulsar::Frame& f, std::string& out, ClientListener& l);
  void fail(ClientListener& l, const std::string& why);
  void after_connected(std::string& out);
  void send_lookup(std::string& out);
  void create(std::string& out);
  void encode_send(std::uint64_t publish_time_ms, std::string& out);
  bool on_message(const pulsar::Frame& f, std::string& out, ClientListener& l);

  static constexpr std::uint64_t kProducerId = 1, kConsumerId = 1;

  PulsarClientConfig cfg_;
  State state_ = State::idle;
  pulsar::FrameReader reader_;
  pulsar::Checksum checksum_ = pulsar::Checksum::crc32c;
  std::uint64_t next_request_id_ = 1;
  std::uint64_t create_request_id_ = 0;
  pulsar::proto::BaseCommand cmd_;  // reused for every command we send
  // producer
  std::string producer_name_;
  std::uint64_t next_sequence_id_ = 0;
  struct PendingSend {
    std::uint64_t sequence_id;
    std::uint32_t messages;
  };
  std::deque<PendingSend> pending_;
  std::uint64_t pending_messages_ = 0;
  std::string batch_;              // the batch being built ([u32][SingleMessageMetadata][payload] ...)
  std::uint32_t batch_count_ = 0;
  std::uint64_t batch_first_seq_ = 0;
  std::string compressed_;
  pulsar::proto::MessageMetadata metadata_;
  pulsar::proto::SingleMessageMetadata single_;
  // consumer
  std::uint32_t consumed_ = 0;     // messages since the last FLOW
  std::vector<pulsar::proto::MessageIdData> acks_;
  std::string scratch_;            // decompression
  pulsar::proto::SingleMessageMetadata rx_single_;
};

}  // namespace mop::loadgen
