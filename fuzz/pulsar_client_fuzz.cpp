// Fuzzes mop's Pulsar client (pulsar/client) from the broker's side: a hostile or broken broker
// answers the sans-I/O core with whatever the input says. The input is a program (fuzz_input.hpp):
// a configuration byte, then ops that either call the library (producers, consumers, readers,
// lookups, sends, acks of the messages it handed out, seeks, closes) or play the broker on one of
// the links the client opened: connect or refuse, feed raw bytes, or feed a well-formed frame with
// fuzzed fields (CONNECTED, LOOKUP_RESPONSE with redirects and bad URLs, partition counts,
// PRODUCER_SUCCESS, SUCCESS, ERROR, SEND_RECEIPT with sequence ids near the ones sent, SEND_ERROR,
// CLOSE_PRODUCER / CLOSE_CONSUMER, MESSAGE with single or batched payloads, broken batches, wrong
// compression sizes and ack sets, PING / PONG, AUTH_CHALLENGE, ACK_RESPONSE, GET_LAST_MESSAGE_ID,
// topic lists and watcher updates), whole or cut in two reads. Request, producer, consumer and
// watcher ids come from what the client wrote, so the answers reach deep. Ops also drop a link,
// advance the clock (timeouts, keep-alive, backoff, batch delays, partition checks) and run some
// or all posted callbacks.
//
// Checks: no crash, no sanitizer report, no leak; every byte the client writes decodes as Pulsar
// frames; a link the client closed is never written to.
#include <cstdio>
#include <cstdlib>
#include <deque>
#include <memory>
#include <string>
#include <vector>

#include "fuzz/fuzz_input.hpp"
#include "pulsar/client/client.hpp"
#include "pulsar/codec/batch.hpp"
#include "pulsar/codec/codec.hpp"
#include "pulsar/codec/compression.hpp"

namespace {

using namespace mop;
using namespace mop::pulsar;
using namespace mop::pulsar::client;
using T = proto::BaseCommand;
using fuzz::Input;

[[noreturn]] void fail(const char* what) {
  std::fprintf(stderr, "pulsar_client_fuzz: %s\n", what);
  std::abort();
}

std::span<const std::uint8_t> span_of(const std::string& s) {
  return {reinterpret_cast<const std::uint8_t*>(s.data()), s.size()};
}

// Ids seen in what the client wrote (the last few of each kind).
struct Seen {
  std::deque<std::uint64_t> requests, producers, consumers, watchers, sequences;
  static void keep(std::deque<std::uint64_t>& d, std::uint64_t v) {
    d.push_back(v);
    if (d.size() > 16) d.pop_front();
  }
  static std::uint64_t pick(Input& in, const std::deque<std::uint64_t>& d) {
    const std::uint8_t b = in.byte();
    if (d.empty() || b >= 240) return b;  // now and then an id nobody asked for
    return d[b % d.size()];
  }
};

class FuzzLink final : public Link {
public:
  FuzzLink(Seen& seen, LinkHandler& handler) : seen_(seen), handler_(&handler) {}

  void write(std::string bytes) override {
    if (closed_) fail("write on a closed link");
    reader_.feed(span_of(bytes));
    for (;;) {
      auto r = reader_.next();
      if (!r.ok()) fail("the client wrote bytes that do not decode");
      if (!*r) break;
      note(*(*r)->command);
    }
  }
  void close() override { closed_ = true; }

  // The handler, if the client still listens on this link.
  LinkHandler* handler() { return closed_ || dead_ ? nullptr : handler_; }
  bool connected = false;
  void kill() { dead_ = true; }

private:
  void note(const T& c) {
    switch (c.type()) {
      case T::LOOKUP: Seen::keep(seen_.requests, c.lookuptopic().request_id()); break;
      case T::PARTITIONED_METADATA: Seen::keep(seen_.requests, c.partitionmetadata().request_id()); break;
      case T::PRODUCER:
        Seen::keep(seen_.requests, c.producer().request_id());
        Seen::keep(seen_.producers, c.producer().producer_id());
        break;
      case T::SUBSCRIBE:
        Seen::keep(seen_.requests, c.subscribe().request_id());
        Seen::keep(seen_.consumers, c.subscribe().consumer_id());
        break;
      case T::SEND: Seen::keep(seen_.sequences, c.send().sequence_id()); break;
      case T::CLOSE_PRODUCER: Seen::keep(seen_.requests, c.close_producer().request_id()); break;
      case T::CLOSE_CONSUMER: Seen::keep(seen_.requests, c.close_consumer().request_id()); break;
      case T::SEEK: Seen::keep(seen_.requests, c.seek().request_id()); break;
      case T::UNSUBSCRIBE: Seen::keep(seen_.requests, c.unsubscribe().request_id()); break;
      case T::GET_LAST_MESSAGE_ID: Seen::keep(seen_.requests, c.getlastmessageid().request_id()); break;
      case T::GET_TOPICS_OF_NAMESPACE: Seen::keep(seen_.requests, c.gettopicsofnamespace().request_id()); break;
      case T::WATCH_TOPIC_LIST:
        Seen::keep(seen_.requests, c.watchtopiclist().request_id());
        Seen::keep(seen_.watchers, c.watchtopiclist().watcher_id());
        break;
      case T::ACK:
        if (c.ack().has_request_id()) Seen::keep(seen_.requests, c.ack().request_id());
        break;
      default: break;
    }
  }

  Seen& seen_;
  LinkHandler* handler_;
  FrameReader reader_;
  bool closed_ = false;
  bool dead_ = false;  // refused or dropped by the broker: no more handler calls
};

class FuzzTransport final : public Transport {
public:
  explicit FuzzTransport(Seen& seen) : seen_(seen) {}
  std::unique_ptr<Link> open(const std::string&, std::uint16_t, LinkHandler& handler) override {
    return make(handler);
  }
  std::unique_ptr<Link> open_tls(const std::string&, std::uint16_t, LinkHandler& handler) override {
    return make(handler);
  }
  std::vector<FuzzLink*> links;  // owned by the client (a handle), kept here for the broker side

private:
  // The client owns a handle; the link itself lives as long as the transport.
  class Handle final : public Link {
  public:
    explicit Handle(FuzzLink& l) : l_(l) {}
    ~Handle() override { l_.close(); }
    void write(std::string bytes) override { l_.write(std::move(bytes)); }
    void close() override { l_.close(); }

  private:
    FuzzLink& l_;
  };
  std::unique_ptr<Link> make(LinkHandler& handler) {
    owned_.push_back(std::make_unique<FuzzLink>(seen_, handler));
    links.push_back(owned_.back().get());
    return std::make_unique<Handle>(*owned_.back());
  }
  Seen& seen_;
  std::vector<std::unique_ptr<FuzzLink>> owned_;
};

const std::vector<std::string> kTopics = {"t", "persistent://public/default/u", "pt", "other/ns/x", "bad/name",
                                          "persistent://public/default/t-partition-1"};
const std::vector<std::string> kUrls = {"pulsar://b1:6650", "pulsar://b2:6650",  "pulsar+ssl://b2:6651",
                                        "pulsar://b1:0",    "http://b1:80",      "pulsar://",
                                        "pulsar://b3:6650,b4:6650"};
const std::vector<proto::CompressionType> kCompressions = {proto::NONE, proto::LZ4, proto::ZLIB, proto::ZSTD,
                                                           proto::SNAPPY};

// A MESSAGE for `consumer`: one message or a batch, maybe compressed, maybe broken.
std::string message_frame(Input& in, std::uint64_t consumer) {
  T c;
  c.set_type(T::MESSAGE);
  auto* m = c.mutable_message();
  m->set_consumer_id(consumer);
  m->mutable_message_id()->set_ledgerid(in.byte() % 3);
  m->mutable_message_id()->set_entryid(in.byte() % 8);
  if (in.byte() % 4 == 0) m->set_redelivery_count(in.byte());
  if (in.byte() % 4 == 0) m->add_ack_set(static_cast<std::int64_t>(in.byte()) * 0x0101010101LL);
  proto::MessageMetadata meta;
  meta.set_producer_name("p");
  meta.set_sequence_id(in.byte());
  meta.set_publish_time(1);
  std::string body;
  const std::uint8_t shape = in.byte() % 4;
  if (shape == 0) {
    body = in.bytes(in.byte() % 32);  // one message
  } else if (shape == 1) {
    const int n = 1 + in.byte() % 6;  // a well-formed batch
    for (int i = 0; i < n; ++i) {
      proto::SingleMessageMetadata s;
      if (in.byte() % 2) s.set_partition_key("k" + std::to_string(i));
      if (in.byte() % 8 == 0) s.set_compacted_out(true);
      append_batch_message(s, span_of(in.bytes(in.byte() % 8)), body);
    }
    meta.set_num_messages_in_batch(in.byte() % 4 == 0 ? in.byte() % 10 : n);
  } else {
    body = in.bytes(in.byte() % 48);  // a "batch" of raw bytes
    meta.set_num_messages_in_batch(in.byte() % 10);
  }
  const auto comp = in.pick(kCompressions);
  if (comp != proto::NONE && in.byte() % 4 != 0) {
    std::string packed;
    if (compress(comp, span_of(body), packed).ok()) {
      meta.set_compression(comp);
      meta.set_uncompressed_size(in.byte() % 8 == 0 ? in.byte() : static_cast<std::uint32_t>(body.size()));
      body = std::move(packed);
    }
  } else if (comp != proto::NONE) {
    meta.set_compression(comp);  // claims a compression the bytes do not have
    meta.set_uncompressed_size(in.byte());
  }
  std::string out;
  encode_payload_command(c, meta, span_of(body), out);
  return out;
}

// A frame as a broker would send it, with fields from the input.
std::string broker_frame(Input& in, Seen& seen) {
  T c;
  const std::uint8_t kind = in.byte() % 20;
  switch (kind) {
    case 0: {
      c.set_type(T::CONNECTED);
      auto* x = c.mutable_connected();
      x->set_server_version("fuzz");
      x->set_protocol_version(in.byte() % 22);
      if (in.byte() % 2) x->set_max_message_size(in.byte() * 64);
      if (in.byte() % 2) x->mutable_feature_flags()->set_supports_topic_watchers(true);
      break;
    }
    case 1: {
      c.set_type(T::LOOKUP_RESPONSE);
      auto* x = c.mutable_lookuptopicresponse();
      x->set_request_id(Seen::pick(in, seen.requests));
      x->set_response(static_cast<proto::CommandLookupTopicResponse::LookupType>(in.byte() % 3));
      if (in.byte() % 8) x->set_brokerserviceurl(in.pick(kUrls));
      if (in.byte() % 2) x->set_brokerserviceurltls(in.pick(kUrls));
      x->set_authoritative(in.byte() % 2);
      x->set_proxy_through_service_url(in.byte() % 4 == 0);
      if (x->response() == proto::CommandLookupTopicResponse::Failed) x->set_error(static_cast<proto::ServerError>(in.byte() % 25));
      break;
    }
    case 2: {
      c.set_type(T::PARTITIONED_METADATA_RESPONSE);
      auto* x = c.mutable_partitionmetadataresponse();
      x->set_request_id(Seen::pick(in, seen.requests));
      x->set_partitions(in.byte() % 5);
      if (in.byte() % 8 == 0) x->set_response(proto::CommandPartitionedTopicMetadataResponse::Failed);
      break;
    }
    case 3: {
      c.set_type(T::PRODUCER_SUCCESS);
      auto* x = c.mutable_producer_success();
      x->set_request_id(Seen::pick(in, seen.requests));
      x->set_producer_name("p-" + std::to_string(in.byte() % 3));
      x->set_last_sequence_id(static_cast<std::int64_t>(in.byte()) - 2);
      if (in.byte() % 4 == 0) x->set_producer_ready(false);
      if (in.byte() % 2) x->set_topic_epoch(in.byte());
      break;
    }
    case 4:
      c.set_type(T::SUCCESS);
      c.mutable_success()->set_request_id(Seen::pick(in, seen.requests));
      break;
    case 5:
      c.set_type(T::ERROR);
      c.mutable_error()->set_request_id(Seen::pick(in, seen.requests));
      c.mutable_error()->set_error(static_cast<proto::ServerError>(in.byte() % 25));
      c.mutable_error()->set_message("no");
      break;
    case 6: {
      c.set_type(T::SEND_RECEIPT);
      auto* x = c.mutable_send_receipt();
      x->set_producer_id(Seen::pick(in, seen.producers));
      x->set_sequence_id(Seen::pick(in, seen.sequences) + (in.byte() % 4 == 0 ? in.byte() % 3 : 0));
      if (in.byte() % 4 == 0) x->set_highest_sequence_id(x->sequence_id() + in.byte() % 4);
      x->mutable_message_id()->set_ledgerid(in.byte() % 3);
      x->mutable_message_id()->set_entryid(in.byte());
      break;
    }
    case 7:
      c.set_type(T::SEND_ERROR);
      c.mutable_send_error()->set_producer_id(Seen::pick(in, seen.producers));
      c.mutable_send_error()->set_sequence_id(Seen::pick(in, seen.sequences));
      c.mutable_send_error()->set_error(static_cast<proto::ServerError>(in.byte() % 25));
      c.mutable_send_error()->set_message("no");
      break;
    case 8:
      c.set_type(T::CLOSE_PRODUCER);
      c.mutable_close_producer()->set_producer_id(Seen::pick(in, seen.producers));
      c.mutable_close_producer()->set_request_id(0);
      break;
    case 9:
      c.set_type(T::CLOSE_CONSUMER);
      c.mutable_close_consumer()->set_consumer_id(Seen::pick(in, seen.consumers));
      c.mutable_close_consumer()->set_request_id(0);
      break;
    case 10:
    case 11:
      return message_frame(in, Seen::pick(in, seen.consumers));
    case 12:
      c.set_type(in.byte() % 2 ? T::PING : T::PONG);
      if (c.type() == T::PING) c.mutable_ping();
      else c.mutable_pong();
      break;
    case 13:
      c.set_type(T::AUTH_CHALLENGE);
      c.mutable_authchallenge()->mutable_challenge()->set_auth_method_name("token");
      c.mutable_authchallenge()->mutable_challenge()->set_auth_data("x");
      break;
    case 14:
      c.set_type(T::ACK_RESPONSE);
      c.mutable_ackresponse()->set_consumer_id(Seen::pick(in, seen.consumers));
      c.mutable_ackresponse()->set_request_id(Seen::pick(in, seen.requests));
      if (in.byte() % 4 == 0) c.mutable_ackresponse()->set_error(proto::UnknownError);
      break;
    case 15:
      c.set_type(T::GET_LAST_MESSAGE_ID_RESPONSE);
      c.mutable_getlastmessageidresponse()->set_request_id(Seen::pick(in, seen.requests));
      c.mutable_getlastmessageidresponse()->mutable_last_message_id()->set_ledgerid(in.byte());
      c.mutable_getlastmessageidresponse()->mutable_last_message_id()->set_entryid(in.byte());
      if (in.byte() % 2) c.mutable_getlastmessageidresponse()->mutable_last_message_id()->set_batch_index(in.byte() % 5);
      break;
    case 16:
      c.set_type(T::ACTIVE_CONSUMER_CHANGE);
      c.mutable_active_consumer_change()->set_consumer_id(Seen::pick(in, seen.consumers));
      c.mutable_active_consumer_change()->set_is_active(in.byte() % 2);
      break;
    case 17:
      c.set_type(T::REACHED_END_OF_TOPIC);
      c.mutable_reachedendoftopic()->set_consumer_id(Seen::pick(in, seen.consumers));
      break;
    case 18: {
      c.set_type(T::GET_TOPICS_OF_NAMESPACE_RESPONSE);
      auto* x = c.mutable_gettopicsofnamespaceresponse();
      x->set_request_id(Seen::pick(in, seen.requests));
      for (int i = in.byte() % 4; i > 0; --i) x->add_topics("persistent://public/default/" + in.pick(kTopics));
      break;
    }
    default: {
      if (in.byte() % 2) {
        c.set_type(T::WATCH_TOPIC_LIST_SUCCESS);
        auto* x = c.mutable_watchtopiclistsuccess();
        x->set_request_id(Seen::pick(in, seen.requests));
        x->set_watcher_id(Seen::pick(in, seen.watchers));
        x->add_topic("persistent://public/default/t" + std::to_string(in.byte() % 3));
        x->set_topics_hash("h");
      } else {
        c.set_type(T::WATCH_TOPIC_UPDATE);
        auto* x = c.mutable_watchtopicupdate();
        x->set_watcher_id(Seen::pick(in, seen.watchers));
        x->add_new_topics("persistent://public/default/t" + std::to_string(in.byte() % 3));
        x->set_topics_hash("h");
      }
      break;
    }
  }
  std::string out;
  encode_command(c, out);
  return out;
}

struct World {
  explicit World(Input& in) : transport(seen) {
    ClientConfig cfg;
    const std::uint8_t conf = in.byte();
    cfg.service_url = conf & 1 ? "pulsar://b1:6650,b2:6650" : (conf & 2 ? "pulsar+ssl://b1:6651" : "pulsar://b1:6650");
    cfg.lookup = (conf & 4) == 0;
    cfg.operation_timeout = Millis(1'000);
    cfg.connect_timeout = Millis(1'000);
    cfg.keep_alive = Millis(2'000);
    cfg.backoff_max = Millis(500);
    cfg.max_lookup_redirects = 3;
    if (conf & 8) {
      cfg.auth_method = "token";
      cfg.auth_data = [] { return std::string("tok"); };
    }
    cfg.seed = 1;
    batch_index_ack = (conf & 16) != 0;
    client = std::make_unique<Client>(exec, clock, transport, cfg);
    if (!client->start().ok()) fail("the client refused its own configuration");
  }

  Seen seen;
  FuzzTransport transport;
  ManualExecutor exec;
  ManualClock clock;
  std::unique_ptr<Client> client;
  bool batch_index_ack = false;
  // After the client: destroyed before it.
  std::vector<std::shared_ptr<Producer>> producers;
  std::vector<std::shared_ptr<Consumer>> consumers;
  std::deque<MessageId> received;

  Producer* producer(Input& in) { return producers.empty() ? nullptr : producers[in.byte() % producers.size()].get(); }
  Consumer* consumer(Input& in) { return consumers.empty() ? nullptr : consumers[in.byte() % consumers.size()].get(); }
  MessageId some_id(Input& in) {
    if (received.empty() || in.byte() >= 240) return MessageId{in.byte() % 3u, in.byte() % 8u, in.byte() % 4 - 1, -1};
    return received[in.byte() % received.size()];
  }

  void library_op(Input& in) {
    const std::uint8_t op = in.byte() % 14;
    switch (op) {
      case 0: {
        ProducerConfig p;
        p.topic = in.pick(kTopics);
        p.access_mode = static_cast<AccessMode>(in.byte() % 4);
        p.send_window = 1 + in.byte() % 4;
        p.max_pending_messages = 1 + in.byte() % 8;
        if (in.byte() % 2) p.batching_max_messages = 2 + in.byte() % 4;
        p.compression = in.pick(kCompressions);
        p.partitions_update_interval = Millis(in.byte() % 2 ? 3'000 : 0);
        client->create_producer(p, [this](Result<std::shared_ptr<Producer>, Error> r) {
          if (r.ok()) producers.push_back(*r);
        });
        break;
      }
      case 1:
      case 2: {
        ConsumerConfig c;
        const std::uint8_t which = in.byte() % 4;
        if (which == 0) c.topics = {in.pick(kTopics), in.pick(kTopics)};
        else if (which == 1) c.topics_pattern = in.byte() % 4 ? "persistent://public/default/t.*" : "persistent://x(";
        else c.topic = in.pick(kTopics);
        c.subscription = "s";
        c.type = static_cast<proto::CommandSubscribe::SubType>(in.byte() % 4);
        c.receiver_queue = in.byte() % 6;
        c.ack_receipts = in.byte() % 2;
        c.batch_index_ack = batch_index_ack;
        c.pattern_poll_interval = Millis(2'000);
        c.partitions_update_interval = Millis(in.byte() % 2 ? 3'000 : 0);
        c.negative_ack_delay = Millis(300);
        c.listener = [this](Consumer&, const Message& m) {
          received.push_back(m.id);
          if (received.size() > 32) received.pop_front();
        };
        if (op == 2) {
          client->create_reader({.topic = c.topic.empty() ? "t" : c.topic,
                                 .start_message_id = in.byte() % 2 ? kEarliest : some_id(in),
                                 .start_inclusive = in.byte() % 2 == 0,
                                 .read_compacted = in.byte() % 2 == 0,
                                 .receiver_queue = c.receiver_queue,
                                 .listener = c.listener},
                                [this](Result<std::shared_ptr<Consumer>, Error> r) {
                                  if (r.ok()) consumers.push_back(*r);
                                });
        } else {
          client->subscribe(c, [this](Result<std::shared_ptr<Consumer>, Error> r) {
            if (r.ok()) consumers.push_back(*r);
          });
        }
        break;
      }
      case 3:
        if (in.byte() % 2) client->lookup(in.pick(kTopics), [](Result<std::string, Error>) {});
        else client->get_partitioned_topic_metadata(in.pick(kTopics), [](Result<std::uint32_t, Error>) {});
        break;
      case 4:
        client->get_topics_of_namespace("public/default", [](Result<std::vector<std::string>, Error>) {});
        break;
      case 5:
      case 6:
        if (auto* p = producer(in)) {
          OutgoingMessage m;
          m.payload = in.bytes(in.byte() % 16);
          if (in.byte() % 2) m.key = "k" + std::to_string(in.byte() % 3);
          if (in.byte() % 8 == 0) m.sequence_id = in.byte();
          p->send(std::move(m), [](Result<MessageId, Error>) {});
        }
        break;
      case 7:
        if (auto* p = producer(in)) {
          if (in.byte() % 2) p->flush([](Result<void, Error>) {});
          else p->close([](Result<void, Error>) {});
        }
        break;
      case 8:
      case 9:
        if (auto* c = consumer(in)) {
          const auto id = some_id(in);
          switch (in.byte() % 4) {
            case 0: c->acknowledge(id, [](Result<void, Error>) {}); break;
            case 1: c->acknowledge_cumulative(id, [](Result<void, Error>) {}); break;
            case 2: c->negative_acknowledge(id); break;
            default: c->redeliver_unacknowledged(); break;
          }
        }
        break;
      case 10:
        if (auto* c = consumer(in)) {
          switch (in.byte() % 6) {
            case 0: c->pause(); break;
            case 1: c->resume(); break;
            case 2: c->seek(some_id(in), [](Result<void, Error>) {}); break;
            case 3: c->seek(static_cast<std::uint64_t>(in.byte()), [](Result<void, Error>) {}); break;
            case 4: c->get_last_message_id([](Result<MessageId, Error>) {}); break;
            default: c->unsubscribe([](Result<void, Error>) {}); break;
          }
        }
        break;
      case 11:
        if (auto* c = consumer(in)) c->close([](Result<void, Error>) {});
        break;
      case 12:
        if (in.byte() % 16 == 0) client->close([](Result<void, Error>) {});
        break;
      default:
        break;
    }
  }

  void broker_op(Input& in) {
    if (transport.links.empty()) return;
    FuzzLink& l = *transport.links[in.byte() % transport.links.size()];
    LinkHandler* h = l.handler();
    if (!h) return;
    const std::uint8_t op = in.byte() % 8;
    if (!l.connected) {
      // The TCP connect (or TLS handshake) first: accepted, or refused.
      if (op == 7) {
        l.kill();
        h->on_connected("refused");
      } else {
        l.connected = true;
        h->on_connected("");
      }
      return;
    }
    if (op == 7) {
      l.kill();
      h->on_closed("reset by the broker");
      return;
    }
    const std::string bytes = op == 6 ? in.bytes(in.byte() % 64) : broker_frame(in, seen);
    if (in.byte() % 4 == 0 && bytes.size() > 1) {
      const std::size_t cut = 1 + in.byte() % (bytes.size() - 1);
      h->on_bytes(span_of(bytes).subspan(0, cut));
      if (!l.handler()) return;
      h->on_bytes(span_of(bytes).subspan(cut));
    } else {
      h->on_bytes(span_of(bytes));
    }
  }

  void step(Input& in) {
    const std::uint8_t op = in.byte() % 10;
    if (op < 3) {
      library_op(in);
    } else if (op < 7) {
      broker_op(in);
    } else if (op == 7) {
      clock.advance(Millis(50 * (1 + in.byte() % 40)));
      client->on_tick();
    } else if (op == 8) {
      for (int n = 1 + in.byte() % 4; n > 0 && exec.run_one();) --n;
    } else {
      exec.run_all();
    }
  }
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  Input in(data, size);
  World w(in);
  for (int steps = 0; !in.done() && steps < 2000; ++steps) w.step(in);
  w.exec.run_all();
  w.producers.clear();
  w.consumers.clear();
  w.client.reset();
  return 0;
}
