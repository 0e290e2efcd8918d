// libFuzzer target: the Pulsar server's command handling (pulsar/server Connection) over a real
// EmbeddedService with a ManualExecutor and a manual clock. Every input starts on a connection
// that has already sent CONNECT, so the bytes reach the command handlers (producers, consumers,
// acks with ack_sets, redelivery, seeks, schemas, partitioned lookups, access modes,
// deduplication). The first input byte picks the chunk size the rest is fed in; posted work and
// a keep-alive tick run after every chunk, as on the real event loop.
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>

#include "pulsar/server/connection.hpp"
#include "service/embedded_service.hpp"
#include "storage/memory_store.hpp"
#include "storage/store_state.hpp"

namespace {

using namespace mop;

struct NullStream final : net::Stream {
  explicit NullStream(std::string name) : name(std::move(name)) {}
  void output_ready() override {}
  void close_after_flush() override {}
  const std::string& peer() const override { return name; }
  std::size_t queued_bytes() const override { return 0; }
  std::string name;
};

std::string connect_frame() {
  pulsar::proto::BaseCommand c;
  c.set_type(pulsar::proto::BaseCommand::CONNECT);
  c.mutable_connect()->set_client_version("fuzz");
  c.mutable_connect()->set_protocol_version(20);
  std::string out;
  pulsar::encode_command(c, out);
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  static const std::string connect = connect_frame();
  ManualExecutor executor;
  ManualClock clock;
  service::EmbeddedService service(executor, clock);
  storage::MemoryStore state;
  storage::StoreMetadataStore metadata(state, executor);
  pulsar::server::ServerOptions options;
  options.service_url = "pulsar://127.0.0.1:6650";
  options.max_message_size = 64 * 1024;
  options.auto_create_partitioned = (data[0] & 0x80) != 0;
  options.default_num_partitions = 3;
  options.deduplication = (data[0] & 0x40) != 0;
  pulsar::server::PulsarServer server(service, metadata, clock, options);
  NullStream stream_a("a");
  NullStream stream_b("b");
  {
    // Two connections, so that cross-connection paths (fencing, waiting producers, deleted
    // subscriptions) are reachable: bytes go to one or the other by the chunk's first byte.
    pulsar::server::Connection a(server, stream_a);
    pulsar::server::Connection b(server, stream_b);
    const auto feed = [&](pulsar::server::Connection& c, std::span<const std::uint8_t> bytes) {
      c.on_bytes(bytes);
      executor.run_all();
      (void)c.output().take();
    };
    feed(a, {reinterpret_cast<const std::uint8_t*>(connect.data()), connect.size()});
    feed(b, {reinterpret_cast<const std::uint8_t*>(connect.data()), connect.size()});
    const std::size_t chunk = 1 + (data[0] & 0x3f) * 8;
    std::size_t pos = 1;
    while (pos < size) {
      const std::size_t n = std::min(chunk, size - pos);
      auto& target = (data[pos] & 1) ? b : a;
      feed(target, {data + pos, n});
      pos += n;
      clock.advance(std::chrono::seconds(5));
      a.on_tick();
      b.on_tick();
      executor.run_all();
    }
  }
  executor.run_all();
  return 0;
}
