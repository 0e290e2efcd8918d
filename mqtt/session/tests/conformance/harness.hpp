#pragma once
// Byte-level MQTT 5 conformance harness: raw bytes into the sans-I/O Protocol, raw bytes out.
// The handler accepts every CONNECT with a fresh session, grants every subscription and
// completes every publish at once with `publish_result`, so a test sees exactly what the
// protocol itself puts on the wire. Each test names the normative statements it checks.
#include <gtest/gtest.h>

#include <string>
#include <string_view>

#include "mqtt/session/protocol.hpp"

namespace mop::mqtt::conformance {

struct ConformanceHandler : ProtocolHandler {
  void output_ready() override {}
  void close(CloseReason r, const std::string&) override {
    closed = true;
    reason = r;
  }
  void on_connect(const Connect& c) override {
    if (accept) proto->accept(std::make_shared<Session>(c.client_id, c.clean_session), false);
  }
  void on_publish(const Publish& p, PublishDone done) override {
    ++published;
    last_topic = p.topic;
    if (done) done(publish_result);
  }
  void on_subscribe(const Subscribe& s, std::function<void(std::vector<std::uint8_t>)> done) override {
    std::vector<std::uint8_t> codes;
    for (const auto& e : s.entries) codes.push_back(e.qos);
    done(std::move(codes));
  }
  void on_subscribed(const Subscribe&, const std::vector<std::uint8_t>&) override {}
  std::vector<ReasonCode> on_unsubscribe(const Unsubscribe& u) override {
    return std::vector<ReasonCode>(u.filters.size(), ReasonCode::success);
  }
  void on_delivery_acked(const DeliveryOrigin&) override {}
  void on_inflight_freed(const DeliveryOrigin&) override {}

  Protocol* proto = nullptr;
  bool accept = true;
  bool closed = false;
  CloseReason reason = CloseReason::network_error;
  int published = 0;
  std::string last_topic;
  PublishResult publish_result;
};

class Conformance : public ::testing::Test {
protected:
  Conformance() { handler.proto = proto.get(); }
  void in(std::string_view bytes) {
    proto->on_bytes({reinterpret_cast<const std::uint8_t*>(bytes.data()), bytes.size()});
  }
  // Everything written since the last call.
  std::string out() {
    std::string all;
    for (auto& s : proto->output().take()) all.append(s.view());
    return all;
  }
  // The reason code of the one DISCONNECT in `bytes` (0xFF when it is not exactly that).
  static int disconnect_reason(const std::string& bytes) {
    FrameReader reader(kMaxRemainingLength);
    reader.feed({reinterpret_cast<const std::uint8_t*>(bytes.data()), bytes.size()});
    auto f = reader.next();
    if (!f.ok() || !f->has_value()) return 0xFF;
    auto p = decode_server_packet(**f, ProtocolVersion::v5);
    if (!p.ok() || !std::holds_alternative<Disconnect>(*p)) return 0xFF;
    return static_cast<int>(std::get<Disconnect>(*p).reason_code);
  }
  // CONNECT level 5, clean start, keep alive 60, client id "c", with `props` (the property
  // bytes, without their length); returns the CONNACK bytes.
  std::string connect(std::string_view props = {}) {
    std::string body = std::string("\x00\x04MQTT\x05\x02\x00\x3c", 10);
    body += static_cast<char>(props.size());
    body += props;
    body += std::string("\x00\x01" "c", 3);
    std::string pkt = "\x10";
    pkt += static_cast<char>(body.size());
    in(pkt + body);
    return out();
  }

  ManualClock clock;
  ConformanceHandler handler;
  std::shared_ptr<Protocol> proto = std::make_shared<Protocol>(handler, clock, ProtocolLimits{1024, std::chrono::seconds(10)});
};

inline std::string b(std::initializer_list<int> bytes) {
  std::string s;
  for (int x : bytes) s.push_back(static_cast<char>(x));
  return s;
}

}  // namespace mop::mqtt::conformance
