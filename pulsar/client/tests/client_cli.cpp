// mop_pulsar_client_cli: drives the client library from the integration suite
// (tests/integration/test_pulsar_client.py) against a real broker. One mode per run; every event
// is one JSON line on stdout, flushed at once, so the test can act while the run goes on.
//
//   produce URL TOPIC COUNT [--batch N] [--compression lz4|zlib|zstd|snappy] [--interval-ms N]
//           [--prefix S] [--keys N] [--name NAME] [--access shared|exclusive|fencing|wait]
//           [--timeout-s S]
//       {"ready":true}, then {"ack":i,"seq":s,"id":[l,e,b,p]} per message (in acknowledgement
//       order), {"error":i,"what":"..."} for a failed send, {"closed":"..."} if the producer
//       stops for good (fenced, ...), finally {"acked":n,"failed":n}.
//   consume URL (--topic T | --pattern P) SUB COUNT [--type exclusive|shared|failover|key_shared]
//           [--initial earliest|latest] [--ack individual|cumulative|none] [--nack-first]
//           [--reader earliest|latest|L:E] [--compacted] [--poll-ms N] [--idle-ms N] [--timeout-s S]
//       {"ready":true}, then {"payload":...,"topic":...,"key":...,"id":[...],"redelivery":n} per
//       message handed to the listener, finally {"received":n}. Stops after COUNT or the timeout.
//   last-id URL TOPIC   -> {"id":[l,e,b,p]} (through a reader at latest)
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <cstdio>
#include <iostream>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <string>

#include "pulsar/client/asio_client.hpp"

using namespace mop::pulsar::client;
using mop::Result;
using json = nlohmann::json;

namespace {

void emit(const json& j) {
  std::cout << j.dump() << "\n";
  std::cout.flush();
}

json id_json(const MessageId& id) { return json::array({id.ledger, id.entry, id.batch_index, id.partition}); }

std::map<std::string, std::string> options(int argc, char** argv, int first, std::vector<std::string>& positional) {
  std::map<std::string, std::string> o;
  for (int i = first; i < argc; ++i) {
    std::string a = argv[i];
    if (a.rfind("--", 0) == 0) {
      const std::string k = a.substr(2);
      if (k == "nack-first" || k == "compacted") o[k] = "1";
      else if (i + 1 < argc) o[k] = argv[++i];
    } else {
      positional.push_back(a);
    }
  }
  return o;
}

std::string opt(const std::map<std::string, std::string>& o, const std::string& k, const std::string& d) {
  auto it = o.find(k);
  return it == o.end() ? d : it->second;
}

int fail(const std::string& why) {
  emit({{"fatal", why}});
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 3) {
    std::cerr << "usage: see the comment at the top of client_cli.cpp\n";
    return 2;
  }
  const std::string mode = argv[1];
  std::vector<std::string> pos;
  auto o = options(argc, argv, 2, pos);
  boost::asio::io_context io;
  ClientConfig cfg;
  cfg.service_url = pos.at(0);
  cfg.operation_timeout = Millis(std::stoi(opt(o, "op-timeout-ms", "30000")));
  cfg.backoff_max = Millis(2000);
  auto made = make_asio_client(io, cfg);
  if (!made.ok()) return fail(made.error().to_string());
  Client& client = made.value()->client();
  const auto timeout = std::chrono::seconds(std::stoi(opt(o, "timeout-s", "60")));
  boost::asio::steady_timer deadline(io, timeout);
  boost::asio::steady_timer pace(io);
  // consume --idle-ms N: stop once nothing came for N ms (draining a topic of unknown length).
  const int idle_ms = std::stoi(opt(o, "idle-ms", "0"));
  boost::asio::steady_timer idle(io);
  std::uint64_t acked = 0, failed = 0, received = 0, count = 0, sent = 0;
  int rc = 0;
  bool finished = false;
  auto finish = [&](int code) {
    if (finished) return;
    finished = true;
    rc = code;
    deadline.cancel();
    idle.cancel();
    pace.cancel();
    client.close([&](Result<void, mop::Error>) { io.stop(); });
  };
  std::function<void()> arm_idle = [&] {
    idle.expires_after(Millis(idle_ms));
    idle.async_wait([&](const boost::system::error_code& ec) {
      if (ec) return;
      emit({{"received", received}, {"idle", true}});
      finish(0);
    });
  };
  deadline.async_wait([&](const boost::system::error_code& ec) {
    if (!ec) finish(3);
  });

  std::shared_ptr<Producer> producer;
  std::shared_ptr<Consumer> consumer;
  std::function<void()> send_next;

  if (mode == "produce") {
    ProducerConfig p;
    p.topic = pos.at(1);
    count = std::stoull(pos.at(2));
    p.batching_max_messages = static_cast<std::uint32_t>(std::stoul(opt(o, "batch", "0")));
    p.batching_max_delay = Millis(5);
    const std::string comp = opt(o, "compression", "none");
    p.compression = comp == "lz4" ? mop::pulsar::proto::LZ4 : comp == "zlib" ? mop::pulsar::proto::ZLIB
                  : comp == "zstd" ? mop::pulsar::proto::ZSTD : comp == "snappy" ? mop::pulsar::proto::SNAPPY
                                                                  : mop::pulsar::proto::NONE;
    p.producer_name = opt(o, "name", "");
    const std::string access = opt(o, "access", "shared");
    p.access_mode = access == "exclusive" ? AccessMode::exclusive : access == "fencing" ? AccessMode::exclusive_with_fencing
                  : access == "wait" ? AccessMode::wait_for_exclusive : AccessMode::shared;
    p.max_pending_messages = 100'000;
    p.on_closed = [](const mop::Error& e) { emit({{"closed", e.to_string()}}); };
    const std::string prefix = opt(o, "prefix", "m");
    const int keys = std::stoi(opt(o, "keys", "0"));
    const int interval = std::stoi(opt(o, "interval-ms", "0"));
    send_next = [&, prefix, keys, interval] {
      while (sent < count) {
        const std::uint64_t i = sent++;
        OutgoingMessage m;
        m.payload = prefix + "-" + std::to_string(i);
        if (keys > 0) m.key = "k" + std::to_string(i % static_cast<std::uint64_t>(keys));
        producer->send(std::move(m), [&, i](Result<MessageId, mop::Error> r) {
          if (r.ok()) {
            ++acked;
            emit({{"ack", i}, {"id", id_json(*r)}});
          } else {
            ++failed;
            emit({{"error", i}, {"what", r.error().to_string()}});
          }
          if (acked + failed == count) {
            emit({{"acked", acked}, {"failed", failed}});
            finish(failed == 0 ? 0 : 4);
          }
        });
        if (interval > 0) {
          pace.expires_after(Millis(interval));
          pace.async_wait([&](const boost::system::error_code& ec) {
            if (!ec) send_next();
          });
          return;
        }
      }
    };
    client.create_producer(p, [&](Result<std::shared_ptr<Producer>, mop::Error> r) {
      if (!r.ok()) {
        emit({{"fatal", r.error().to_string()}});
        return finish(1);
      }
      producer = *r;
      emit({{"ready", true}, {"name", producer->producer_name()}});
      if (count == 0) return finish(0);
      send_next();
    });
  } else if (mode == "consume" || mode == "last-id") {
    ConsumerConfig c;
    if (mode == "last-id") {
      c.topic = pos.at(1);
      c.subscription = "last-id-probe";
      c.durable = false;
      c.start_message_id = kLatest;
    } else {
      c.topic = opt(o, "topic", "");
      c.topics_pattern = opt(o, "pattern", "");
      c.pattern_poll_interval = Millis(std::stoi(opt(o, "poll-ms", "60000")));
      c.subscription = pos.at(1);
      count = std::stoull(pos.at(2));
    }
    const std::string type = opt(o, "type", "exclusive");
    c.type = type == "shared" ? mop::pulsar::proto::CommandSubscribe::Shared
           : type == "failover" ? mop::pulsar::proto::CommandSubscribe::Failover
           : type == "key_shared" ? mop::pulsar::proto::CommandSubscribe::Key_Shared
                                  : mop::pulsar::proto::CommandSubscribe::Exclusive;
    c.initial_position = opt(o, "initial", "latest") == "earliest" ? mop::pulsar::proto::CommandSubscribe::Earliest
                                                                    : mop::pulsar::proto::CommandSubscribe::Latest;
    const std::string reader = opt(o, "reader", "");
    if (!reader.empty()) {
      c.durable = false;
      if (reader == "earliest") c.start_message_id = kEarliest;
      else if (reader == "latest") c.start_message_id = kLatest;
      else {
        const auto colon = reader.find(':');
        c.start_message_id = MessageId{std::stoull(reader.substr(0, colon)), std::stoull(reader.substr(colon + 1))};
      }
    }
    c.read_compacted = o.count("compacted") > 0;
    c.negative_ack_delay = Millis(200);
    const std::string ack = opt(o, "ack", "individual");
    const bool nack_first = o.count("nack-first") > 0;
    auto nacked = std::make_shared<std::set<std::string>>();
    c.listener = [&, ack, nack_first, nacked](Consumer& self, const Message& m) {
      if (finished) return;
      if (nack_first && !nacked->count(m.payload)) {
        nacked->insert(m.payload);
        emit({{"nacked", m.payload}});
        self.negative_acknowledge(m.id);
        return;
      }
      ++received;
      json j{{"payload", m.payload}, {"topic", m.topic}, {"id", id_json(m.id)}, {"redelivery", m.redelivery_count}};
      if (m.key) j["key"] = *m.key;
      emit(j);
      if (idle_ms > 0) arm_idle();
      if (ack == "individual") self.acknowledge(m.id, [](Result<void, mop::Error>) {});
      else if (ack == "cumulative") self.acknowledge_cumulative(m.id, [](Result<void, mop::Error>) {});
      if (received == count) {
        emit({{"received", received}});
        finish(0);
      }
    };
    client.subscribe(c, [&, mode](Result<std::shared_ptr<Consumer>, mop::Error> r) {
      if (!r.ok()) {
        emit({{"fatal", r.error().to_string()}});
        return finish(1);
      }
      consumer = *r;
      if (mode == "last-id") {
        consumer->get_last_message_id([&](Result<MessageId, mop::Error> id) {
          if (!id.ok()) {
            emit({{"fatal", id.error().to_string()}});
            return finish(1);
          }
          emit({{"id", id_json(*id)}});
          finish(0);
        });
        return;
      }
      emit({{"ready", true}, {"topics", consumer->topics()}});
      if (idle_ms > 0) arm_idle();
      else if (count == 0) finish(0);
    });
  } else {
    return fail("unknown mode " + mode);
  }
  io.run();
  if (rc == 3) {
    emit({{"timeout", true}, {"acked", acked}, {"failed", failed}, {"received", received}});
  }
  return rc;
}
