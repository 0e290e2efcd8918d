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
  if (!frame.ok()) return frame.error();
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
template <typename T>
void field(std::ostringstream& o, const char* name, const std::optional<T>& v) {
  if (!v) return;
  o << ' ' << name << '=';
  if constexpr (std::is_same_v<T, std::string>) o << '"' << hex(*v) << '"';
  else o << static_cast<std::uint64_t>(*v);
}
}  // namespace

std::string describe(const Properties& p) {
  std::ostringstream o;
  o << "props{";
  field(o, "pfi", p.payload_format_indicator);
  field(o, "expiry", p.message_expiry_interval);
  field(o, "ctype", p.content_type);
  field(o, "resp_topic", p.response_topic);
  field(o, "corr", p.correlation_data);
  for (auto id : p.subscription_identifiers) o << " subid=" << id;
  field(o, "sess_expiry", p.session_expiry_interval);
  field(o, "assigned_id", p.assigned_client_identifier);
  field(o, "server_ka", p.server_keep_alive);
  field(o, "auth_method", p.authentication_method);
  field(o, "auth_data", p.authentication_data);
  field(o, "req_problem", p.request_problem_information);
  field(o, "will_delay", p.will_delay_interval);
  field(o, "req_resp", p.request_response_information);
  field(o, "resp_info", p.response_information);
  field(o, "server_ref", p.server_reference);
  field(o, "reason", p.reason_string);
  field(o, "recv_max", p.receive_maximum);
  field(o, "alias_max", p.topic_alias_maximum);
  field(o, "alias", p.topic_alias);
  field(o, "max_qos", p.maximum_qos);
  field(o, "retain_avail", p.retain_available);
  for (const auto& [k, v] : p.user_properties) o << " user[" << k << '=' << v << ']';
  field(o, "max_packet", p.maximum_packet_size);
  field(o, "wildcard_avail", p.wildcard_subscription_available);
  field(o, "subid_avail", p.subscription_identifier_available);
  field(o, "shared_avail", p.shared_subscription_available);
  o << '}';
  return o.str();
}

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
              << " r" << p.will->retain << ' ' << describe(p.will->properties) << '}';
          if (p.username) o << " user=" << *p.username;
          if (p.password) o << " pass=" << hex(*p.password);
        } else if constexpr (std::is_same_v<T, Connack>) {
          o << "sp=" << p.session_present << " rc=" << int(p.return_code) << " reason=" << int(p.reason_code);
        } else if constexpr (std::is_same_v<T, Publish>) {
          o << "dup=" << p.dup << " q" << int(p.qos) << " r=" << p.retain << " topic=" << p.topic
            << " id=" << p.packet_id << " payload=" << hex(p.payload.view());
        } else if constexpr (std::is_same_v<T, Subscribe>) {
          o << "id=" << p.packet_id;
          for (const auto& e : p.entries)
            o << " [" << e.filter << " q" << int(e.qos) << " nl" << e.no_local << " rap" << e.retain_as_published
              << " rh" << int(e.retain_handling) << ']';
        } else if constexpr (std::is_same_v<T, Suback>) {
          o << "id=" << p.packet_id;
          for (auto rc : p.return_codes) o << ' ' << int(rc);
        } else if constexpr (std::is_same_v<T, Unsubscribe>) {
          o << "id=" << p.packet_id;
          for (const auto& f : p.filters) o << " [" << f << ']';
        } else if constexpr (std::is_same_v<T, Unsuback>) {
          o << "id=" << p.packet_id;
          for (auto rc : p.reason_codes) o << ' ' << int(rc);
        } else if constexpr (requires { p.packet_id; }) {
          o << "id=" << p.packet_id;
        }
        if constexpr (requires { p.reason_code; }) {
          if constexpr (!std::is_same_v<T, Connack>) o << " reason=" << int(p.reason_code);
        }
        if constexpr (requires { p.properties; }) o << ' ' << describe(p.properties);
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
