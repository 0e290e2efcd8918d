#pragma once
// Test clients of SessionRouter: a ClientConnection on a fake stream, fed encoded packets and
// read back decoded, with a manual executor run after every step (deterministic).
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "core/executor.hpp"
#include "mqtt/server/session_router.hpp"

namespace mop::mqtt::test_support {

// The socket side as net::TcpConnection would be: the test reads the output itself.
class FakeStream final : public net::Stream {
public:
  void output_ready() override {}
  void close_after_flush() override { closed = true; }
  const std::string& peer() const override { return peer_; }
  std::size_t queued_bytes() const override { return queued; }
  bool closed = false;
  std::size_t queued = 0;

private:
  std::string peer_ = "test:1";
};

class TestClient {
public:
  TestClient(SessionRouter& router, ManualExecutor& exec, ProtocolVersion v = ProtocolVersion::v311)
      : exec_(exec), version_(v), conn_(std::make_unique<ClientConnection>(router, stream_)) {}

  void send(const Packet& p) {
    std::string bytes;
    encode(p, version_, bytes);
    conn_->protocol().on_bytes({reinterpret_cast<const std::uint8_t*>(bytes.data()), bytes.size()});
    exec_.run_all();
  }
  // Bytes as one read from the socket: several packets, or a packet and garbage.
  void send_bytes(const std::string& bytes) {
    conn_->protocol().on_bytes({reinterpret_cast<const std::uint8_t*>(bytes.data()), bytes.size()});
    exec_.run_all();
  }
  // Bytes read from the socket, the executor not run: what they cause waits in it.
  void feed(const std::string& bytes) {
    conn_->protocol().on_bytes({reinterpret_cast<const std::uint8_t*>(bytes.data()), bytes.size()});
  }
  // The encoding of a CONNECT as connect() sends it.
  std::string connect_bytes(std::string id, bool clean = true, std::optional<Will> will = std::nullopt) const {
    std::string bytes;
    encode(connect_packet(std::move(id), clean, std::move(will)), version_, bytes);
    return bytes;
  }
  Connect connect_packet(std::string id, bool clean = true, std::optional<Will> will = std::nullopt) const {
    Connect c;
    c.protocol_name = "MQTT";
    c.client_id = std::move(id);
    c.clean_session = clean;
    c.will = std::move(will);
    c.version = version_;
    c.properties = connect_properties;
    return c;
  }
  Connack connect(std::string id, bool clean = true, std::optional<Will> will = std::nullopt) {
    send(connect_packet(std::move(id), clean, std::move(will)));
    auto r = received();
    EXPECT_FALSE(r.empty());
    if (r.empty()) return Connack{};
    // Whatever followed the CONNACK (resent or queued messages) is kept for the next read.
    early_.assign(std::make_move_iterator(r.begin() + 1), std::make_move_iterator(r.end()));
    return std::get<Connack>(r[0]);
  }
  std::vector<Packet> received() {
    exec_.run_all();
    std::vector<Packet> out = std::exchange(early_, {});
    std::string all;
    for (auto& s : conn_->protocol().output().take()) all.append(s.view());
    FrameReader reader(kMaxRemainingLength);
    reader.feed({reinterpret_cast<const std::uint8_t*>(all.data()), all.size()});
    for (;;) {
      auto f = reader.next();
      if (!f.ok() || !f->has_value()) break;
      auto p = decode_server_packet(**f, version_);
      EXPECT_TRUE(p.ok());
      if (p.ok()) out.push_back(std::move(*p));
    }
    return out;
  }
  std::vector<Publish> publishes() {
    std::vector<Publish> out;
    for (auto& p : received())
      if (auto* pub = std::get_if<Publish>(&p)) out.push_back(*pub);
    return out;
  }
  void drop() {  // the network connection is lost
    conn_->protocol().on_closed();
    exec_.run_all();
    conn_.reset();
  }
  bool closed() const { return stream_.closed; }
  void set_queued_bytes(std::size_t n) { stream_.queued = n; }
  // The socket wrote everything out (what net::TcpConnection reports after a full write).
  void drained() {
    stream_.queued = 0;
    conn_->on_output_drained();
    exec_.run_all();
  }
  const ClientConnection& connection() const { return *conn_; }

  Properties connect_properties;  // MQTT 5 CONNECT properties for the next connect()

private:
  ManualExecutor& exec_;
  ProtocolVersion version_;
  std::vector<Packet> early_;
  FakeStream stream_;
  std::unique_ptr<ClientConnection> conn_;
};

}  // namespace mop::mqtt::test_support
