// Hot-path costs of the MQTT codec: what every message pays on the way in and out.
#include <benchmark/benchmark.h>

#include <string>
#include <vector>

#include "mqtt/codec/codec.hpp"
#include "mqtt/codec/topic.hpp"

namespace {

using namespace mop;
using namespace mop::mqtt;

// A QoS 1 PUBLISH of 64 bytes on the wire: 2 fixed header + 2+14 topic + 2 id + 44 payload.
Publish sample_publish() {
  return Publish{false, 1, false, "sensors/room/1", 42, Payload::copy_of(std::string(44, 'p'))};
}

std::string encoded(const Packet& p) {
  std::string out;
  encode(p, ProtocolVersion::v311, out);
  return out;
}

void BM_DecodePublish64(benchmark::State& state) {
  const std::string wire = encoded(sample_publish());
  Frame frame;
  frame.first_byte = static_cast<std::uint8_t>(wire[0]);
  frame.body = std::span(reinterpret_cast<const std::uint8_t*>(wire.data()) + 2, wire.size() - 2);
  for (auto _ : state) {
    auto p = decode_client_packet(frame, ProtocolVersion::v311);
    benchmark::DoNotOptimize(p);
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * wire.size()));
}
BENCHMARK(BM_DecodePublish64);

void BM_EncodePublishHeader(benchmark::State& state) {
  const Publish p = sample_publish();
  std::string out;
  out.reserve(64);
  for (auto _ : state) {
    out.clear();
    encode_publish_header(p, ProtocolVersion::v311, out);
    benchmark::DoNotOptimize(out.data());
  }
}
BENCHMARK(BM_EncodePublishHeader);

// Many small packets arriving in socket-sized reads that cut packets in two.
void BM_FrameReaderStream(benchmark::State& state) {
  std::string stream;
  const std::string one = encoded(sample_publish());
  const std::string ack = encoded(Puback{7});
  while (stream.size() < (1u << 20)) {
    stream += one;
    stream += ack;
  }
  const auto* data = reinterpret_cast<const std::uint8_t*>(stream.data());
  const std::size_t chunk = static_cast<std::size_t>(state.range(0));
  std::size_t frames = 0;
  for (auto _ : state) {
    FrameReader reader(1 << 20);
    for (std::size_t off = 0; off < stream.size(); off += chunk) {
      reader.feed(std::span(data + off, std::min(chunk, stream.size() - off)));
      while (true) {
        auto f = reader.next();
        if (!f.ok() || !*f) break;
        ++frames;
        benchmark::DoNotOptimize((*f)->body.data());
      }
    }
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * stream.size()));
  state.counters["frames/s"] = benchmark::Counter(static_cast<double>(frames), benchmark::Counter::kIsRate);
}
BENCHMARK(BM_FrameReaderStream)->Arg(1500)->Arg(16384);

void BM_TopicMatches(benchmark::State& state) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"sensors/+/temperature", "sensors/room1/temperature"},
      {"sensors/#", "sensors/building7/floor3/room12/humidity"},
      {"home/kitchen/light", "home/kitchen/light"},
      {"a/+/c/+/e", "a/b/c/d/x"},
      {"#", "$SYS/broker/load"},
      {"devices/+/status", "devices/abc123/telemetry"},
  };
  for (auto _ : state) {
    for (const auto& [filter, name] : cases) benchmark::DoNotOptimize(topic_matches(filter, name));
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * cases.size()));
}
BENCHMARK(BM_TopicMatches);

// MQTT 5: the same 64-byte message with the properties a typical v5 publisher sets (payload
// format, message expiry, content type, one user property), and a bare one, to show what the
// property block costs on the way in and out.
Publish sample_publish_v5(bool with_properties) {
  Publish p = sample_publish();
  if (with_properties) {
    p.properties.payload_format_indicator = 1;
    p.properties.message_expiry_interval = 3600;
    p.properties.content_type = "application/json";
    p.properties.user_properties = {{"trace", "abc123"}};
  }
  return p;
}

void BM_DecodePublishV5(benchmark::State& state) {
  std::string wire;
  encode(sample_publish_v5(state.range(0) != 0), ProtocolVersion::v5, wire);
  FrameReader reader(1 << 20);
  reader.feed(std::span(reinterpret_cast<const std::uint8_t*>(wire.data()), wire.size()));
  const Frame frame = **reader.next();
  for (auto _ : state) {
    auto p = decode_client_packet(frame, ProtocolVersion::v5);
    benchmark::DoNotOptimize(p);
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * wire.size()));
}
BENCHMARK(BM_DecodePublishV5)->Arg(0)->Arg(1);

void BM_EncodePublishHeaderV5(benchmark::State& state) {
  const Publish p = sample_publish_v5(state.range(0) != 0);
  std::string out;
  out.reserve(256);
  for (auto _ : state) {
    out.clear();
    encode_publish_header(p, ProtocolVersion::v5, out);
    benchmark::DoNotOptimize(out.data());
  }
}
BENCHMARK(BM_EncodePublishHeaderV5)->Arg(0)->Arg(1);

// A v5 PUBACK with a reason code: the ack every QoS 1 message costs on a v5 connection.
void BM_DecodePubackV5(benchmark::State& state) {
  std::string wire;
  encode(Puback{7, ReasonCode::no_matching_subscribers}, ProtocolVersion::v5, wire);
  FrameReader reader(1 << 20);
  reader.feed(std::span(reinterpret_cast<const std::uint8_t*>(wire.data()), wire.size()));
  const Frame frame = **reader.next();
  for (auto _ : state) {
    auto p = decode_client_packet(frame, ProtocolVersion::v5);
    benchmark::DoNotOptimize(p);
  }
}
BENCHMARK(BM_DecodePubackV5);

}  // namespace
