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

}  // namespace
