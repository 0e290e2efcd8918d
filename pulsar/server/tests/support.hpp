#pragma once
// What the Pulsar server tests share (connection_test.cpp, restart_test.cpp): a fake socket for a
// Connection, SEND frames, and the decoding of what a connection wrote.
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <gtest/gtest.h>

#include "net/stream.hpp"
#include "pulsar/codec/batch.hpp"
#include "pulsar/server/connection.hpp"

namespace mop::pulsar::server::test {

// The socket side of a Connection under test: output stays in the connection's OutBuffer (read
// it with decode_output), a close is only noted.
struct FakeStream final : net::Stream {
  void output_ready() override {}
  void close_after_flush() override { closed = true; }
  const std::string& peer() const override { return peer_name; }
  std::size_t queued_bytes() const override { return 0; }
  std::optional<std::string> peer_certificate_cn() const override { return certificate_cn; }
  void input_released() override { ++released; }
  bool closed = false;
  int released = 0;  // input_released() calls
  std::string peer_name = "test";
  std::optional<std::string> certificate_cn;  // as a pulsar+ssl connection with a verified certificate
};

struct SendOptions {
  // > 0: a batch of this many messages, with payloads payload + "0", payload + "1", ...
  int batch = 0;
  // A batch's SEND names seq + batch - 1 as its highest sequence id, as clients do.
  bool highest_sequence_id = false;
  // Properties of the message metadata.
  std::vector<std::pair<std::string, std::string>> properties;
};

// A SEND frame for `producer` with sequence id `seq`, producer name "p", publish time 1234.
inline std::string send_frame(std::uint64_t producer, std::uint64_t seq, const std::string& payload,
                              const SendOptions& options = {}) {
  proto::BaseCommand cmd;
  cmd.set_type(proto::BaseCommand::SEND);
  cmd.mutable_send()->set_producer_id(producer);
  cmd.mutable_send()->set_sequence_id(seq);
  proto::MessageMetadata meta;
  meta.set_producer_name("p");
  meta.set_sequence_id(seq);
  meta.set_publish_time(1234);
  for (const auto& [k, v] : options.properties) {
    auto* kv = meta.add_properties();
    kv->set_key(k);
    kv->set_value(v);
  }
  std::string body = payload;
  if (options.batch > 0) {
    body.clear();
    meta.set_num_messages_in_batch(options.batch);
    if (options.highest_sequence_id) {
      cmd.mutable_send()->set_highest_sequence_id(seq + static_cast<std::uint64_t>(options.batch) - 1);
    }
    for (int i = 0; i < options.batch; ++i) {
      proto::SingleMessageMetadata s;
      std::string p = payload + std::to_string(i);
      append_batch_message(s, {reinterpret_cast<const std::uint8_t*>(p.data()), p.size()}, body);
    }
  }
  std::string out;
  encode_payload_command(cmd, meta, {reinterpret_cast<const std::uint8_t*>(body.data()), body.size()}, out);
  return out;
}

struct Received {
  proto::BaseCommand command;
  proto::MessageMetadata metadata;
  std::string payload;
};

// Takes everything in `c`'s output and decodes it; a frame that does not decode fails the test.
inline std::vector<Received> decode_output(Connection& c) {
  std::string bytes;
  for (const auto& s : c.output().take()) bytes.append(s.view());
  FrameReader reader;
  reader.feed({reinterpret_cast<const std::uint8_t*>(bytes.data()), bytes.size()});
  std::vector<Received> got;
  while (true) {
    auto f = reader.next();
    EXPECT_TRUE(f.ok()) << f.error().message();
    if (!f.ok() || !f->has_value()) break;
    Received r;
    r.command = *(*f)->command;
    if ((*f)->metadata) {
      r.metadata = *(*f)->metadata;
      r.payload.assign(reinterpret_cast<const char*>((*f)->payload.data()), (*f)->payload.size());
    }
    got.push_back(std::move(r));
  }
  return got;
}

}  // namespace mop::pulsar::server::test
