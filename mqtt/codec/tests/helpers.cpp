#include "mqtt/codec/tests/helpers.hpp"

#include <sstream>

namespace mop::mqtt::test {

Bytes packet(std::uint8_t first_byte, const Bytes& body) {
  Bytes b{first_byte};
  std::size_t n = body.size();
  do {
    std::uint8_t d = n & 0x7F;
    n >>= 7;
    if (n) d |= 0x80;
    b.push_back(d);
  } while (n);
  b.insert(b.end(), body.begin(), body.end());
  return b;
}

Result<Packet> decode(const Bytes& wire, ProtocolVersion v, Side side) {
  FrameReader reader(kMaxRemainingLength + 5);
  reader.feed(wire);
  auto frame = reader.next();
  if (!frame) return frame.error();
  EXPECT_TRUE(frame->has_value()) << "test bytes do not hold a whole packet";
  if (!frame->has_value()) return CodecError::truncated;
  EXPECT_EQ(reader.buffered(), 0u) << "test bytes hold more than one packet";
  return side == Side::client ? decode_client_packet(**frame, v) : decode_server_packet(**frame, v);
}

Bytes encode_bytes(const Packet& p, ProtocolVersion v) {
  std::string out;
  encode(p, v, out);
  return Bytes(out.begin(), out.end());
}

namespace {
std::string hex(std::string_view s) {
  std::ostringstream o;
  for (unsigned char c : s) o << std::hex << static_cast<int>(c) << ' ';
  return o.str();
}
}  // namespace

std::string describe(const Packet& packet) {
  std::ostringstream o;
  o << to_string(packet_type(packet)) << '{';
  std::visit(
      [&](const auto& p) {
        using T = std::decay_t<decltype(p)>;
        if constexpr (std::is_same_v<T, Connect>) {
          o << "name=" << p.protocol_name << " v=" << int(p.version) << " clean=" << p.clean_session
            << " ka=" << p.keep_alive << " id=" << p.client_id;
          if (p.will)
            o << " will{" << p.will->topic << ' ' << hex(p.will->payload.view()) << " q" << int(p.will->qos)
              << " r" << p.will->retain << '}';
          if (p.username) o << " user=" << *p.username;
          if (p.password) o << " pass=" << hex(*p.password);
        } else if constexpr (std::is_same_v<T, Connack>) {
          o << "sp=" << p.session_present << " rc=" << int(p.return_code);
        } else if constexpr (std::is_same_v<T, Publish>) {
          o << "dup=" << p.dup << " q" << int(p.qos) << " r=" << p.retain << " topic=" << p.topic
            << " id=" << p.packet_id << " payload=" << hex(p.payload.view());
        } else if constexpr (std::is_same_v<T, Subscribe>) {
          o << "id=" << p.packet_id;
          for (const auto& e : p.entries) o << " [" << e.filter << " q" << int(e.qos) << ']';
        } else if constexpr (std::is_same_v<T, Suback>) {
          o << "id=" << p.packet_id;
          for (auto rc : p.return_codes) o << ' ' << int(rc);
        } else if constexpr (std::is_same_v<T, Unsubscribe>) {
          o << "id=" << p.packet_id;
          for (const auto& f : p.filters) o << " [" << f << ']';
        } else if constexpr (requires { p.packet_id; }) {
          o << "id=" << p.packet_id;
        }
      },
      packet);
  o << '}';
  return o.str();
}

void expect_round_trip(const Packet& p, ProtocolVersion v, Side sender) {
  const Bytes wire = encode_bytes(p, v);
  auto back = decode(wire, v, sender);
  ASSERT_TRUE(back.ok()) << describe(p) << ": " << back.error().message();
  EXPECT_EQ(describe(*back), describe(p));
  EXPECT_EQ(encode_bytes(*back, v), wire);
}

}  // namespace mop::mqtt::test

// Counting replacement of the global allocation functions. Relaxed atomics: tests only compare
// counts taken on one thread.
#include <atomic>
#include <cstdlib>
#include <new>

namespace {
std::atomic<std::size_t> g_allocations{0};
}

std::size_t mop::mqtt::test::allocations() { return g_allocations.load(std::memory_order_relaxed); }

void* operator new(std::size_t n) {
  g_allocations.fetch_add(1, std::memory_order_relaxed);
  if (void* p = std::malloc(n ? n : 1)) return p;
  throw std::bad_alloc();
}
void* operator new[](std::size_t n) { return operator new(n); }
void operator delete(void* p) noexcept { std::free(p); }
void operator delete[](void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t) noexcept { std::free(p); }
