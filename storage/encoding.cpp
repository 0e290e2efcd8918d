#include "storage/encoding.hpp"

#include <fmt/format.h>

#include <algorithm>

namespace mop::storage {

namespace key {

void put_be64(std::string& out, std::uint64_t v) {
  // Eight bytes in one append: a push_back each (a capacity check and a terminator per byte)
  // was a tenth of the storage thread's own instructions under QoS 1 (README.md).
  char b[8];
  for (int i = 7; i >= 0; --i, v >>= 8) b[i] = static_cast<char>(v & 0xFF);
  out.append(b, sizeof b);
}

std::uint64_t get_be64(std::string_view in) {
  std::uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v = (v << 8) | static_cast<std::uint8_t>(in[static_cast<std::size_t>(i)]);
  return v;
}

std::string topic_prefix(std::uint64_t topic_id) {
  std::string k;
  put_be64(k, topic_id);
  return k;
}

void log_into(char (&out)[kLogKeySize], std::uint64_t topic_id, MessageId id) {
  const std::uint64_t parts[] = {topic_id, id.ledger, id.entry};
  for (std::size_t p = 0; p < 3; ++p) {
    std::uint64_t v = parts[p];
    for (std::size_t i = 8; i-- > 0; v >>= 8) out[p * 8 + i] = static_cast<char>(v & 0xFF);
  }
}

std::string log(std::uint64_t topic_id, MessageId id) {
  char k[kLogKeySize];
  log_into(k, topic_id, id);
  return std::string(k, sizeof k);
}

std::optional<std::pair<std::uint64_t, MessageId>> parse_log(std::string_view k) {
  if (k.size() != 24) return std::nullopt;
  return std::pair{get_be64(k), MessageId{get_be64(k.substr(8)), get_be64(k.substr(16)), -1}};
}

std::string topic_named(std::uint64_t topic_id, std::string_view name) {
  std::string k = topic_prefix(topic_id);
  k.append(name);
  return k;
}

std::string printable(std::string_view k) {
  std::string out;
  for (const char c : k) {
    const auto u = static_cast<unsigned char>(c);
    if (u >= 0x20 && u < 0x7F && c != '\\') {
      out.push_back(c);
    } else {
      out += fmt::format("\\x{:02x}", u);
    }
  }
  return out;
}

}  // namespace key

namespace {

// Appends primitives to a value.
class Writer {
public:
  explicit Writer(std::uint8_t version = kValueVersion) { out_.push_back(static_cast<char>(version)); }
  // A writer of bytes that continue another writer's value: no version byte of its own.
  static Writer continuation() {
    Writer w;
    w.out_.clear();
    return w;
  }
  void u8(std::uint8_t v) { out_.push_back(static_cast<char>(v)); }
  void varint(std::uint64_t v) {
    char b[10];
    std::size_t n = 0;
    while (v >= 0x80) {
      b[n++] = static_cast<char>((v & 0x7F) | 0x80);
      v >>= 7;
    }
    b[n++] = static_cast<char>(v);
    out_.append(b, n);
  }
  void bytes(std::string_view s) {
    varint(s.size());
    out_.append(s);
  }
  std::string take() { return std::move(out_); }
  std::string& raw() { return out_; }

private:
  std::string out_;
};

// Reads primitives with bounds checks. The first failure sticks and is reported once.
class Reader {
public:
  explicit Reader(std::string_view in) : in_(in) {}
  // Consumes and checks the version byte: 1 up to `max` (the newest this kind of value has).
  bool version(std::uint8_t max = 1) {
    std::uint8_t v = 0;
    if (!u8(v)) return false;
    if (v == 0 || v > max) return fail(fmt::format("unsupported value version {}", v));
    version_ = v;
    return true;
  }
  std::uint8_t value_version() const { return version_; }
  bool u8(std::uint8_t& v) {
    if (pos_ >= in_.size()) return fail("truncated value");
    v = static_cast<std::uint8_t>(in_[pos_++]);
    return true;
  }
  bool varint(std::uint64_t& v) {
    v = 0;
    for (int shift = 0; shift < 64; shift += 7) {
      std::uint8_t b = 0;
      if (!u8(b)) return false;
      v |= static_cast<std::uint64_t>(b & 0x7F) << shift;
      if (!(b & 0x80)) return true;
    }
    return fail("varint too long");
  }
  template <typename T>
  bool varint_as(T& out, std::uint64_t max) {
    std::uint64_t v = 0;
    if (!varint(v)) return false;
    if (v > max) return fail("integer out of range");
    out = static_cast<T>(v);
    return true;
  }
  bool bytes(std::string& s) {
    std::uint64_t n = 0;
    if (!varint(n)) return false;
    if (n > in_.size() - pos_) return fail("truncated string");
    s.assign(in_.substr(pos_, n));
    pos_ += n;
    return true;
  }
  // A count of elements that each take at least one byte: bounds allocations on corrupt input.
  bool count(std::uint64_t& n) {
    if (!varint(n)) return false;
    if (n > in_.size() - pos_) return fail("element count exceeds value size");
    return true;
  }
  bool boolean(bool& b) {
    std::uint8_t v = 0;
    if (!u8(v)) return false;
    if (v > 1) return fail("bad boolean");
    b = v == 1;
    return true;
  }
  bool fail(std::string why) {
    if (!error_) error_ = fmt::format("{} at byte {}", why, pos_);
    return false;
  }
  // The final verdict: trailing bytes are corruption too (a v1 decoder knows every v1 field).
  Result<void, std::string> finish(bool ok) {
    if (ok && pos_ != in_.size()) fail(fmt::format("{} trailing bytes", in_.size() - pos_));
    if (!ok && !error_) error_ = "bad value";
    if (error_) return *error_;
    return {};
  }
  bool done() const { return pos_ == in_.size(); }

private:
  std::string_view in_;
  std::size_t pos_ = 0;
  std::uint8_t version_ = 0;
  std::optional<std::string> error_;
};

// Everything of a message body up to its payload's bytes (their length included).
void write_message_head(Writer& w, const Message& m) {
  w.varint(m.publish_time_ms);
  w.bytes(m.producer_name);
  w.u8(m.mqtt_qos);
  w.u8(m.ordering_key ? 1 : 0);
  if (m.ordering_key) w.bytes(*m.ordering_key);
  w.varint(m.properties.size());
  for (const auto& [k, v] : m.properties) {
    w.bytes(k);
    w.bytes(v);
  }
  w.varint(m.payload.size());
}

void write_message_body(Writer& w, const Message& m) {
  write_message_head(w, m);
  w.raw().append(m.payload.view());
}

bool read_message_body(Reader& r, Message& m) {
  m = Message{};
  bool has_key = false;
  std::string producer, payload;
  std::uint64_t nprops = 0;
  if (!r.varint(m.publish_time_ms) || !r.bytes(producer) || !r.u8(m.mqtt_qos) || !r.boolean(has_key)) return false;
  if (m.mqtt_qos > 2) return r.fail("bad QoS");
  m.producer_name = std::move(producer);
  if (has_key) {
    std::string k;
    if (!r.bytes(k)) return false;
    m.ordering_key = std::move(k);
  }
  if (!r.count(nprops)) return false;
  m.properties.reserve(nprops);
  for (std::uint64_t i = 0; i < nprops; ++i) {
    std::string k, v;
    if (!r.bytes(k) || !r.bytes(v)) return false;
    m.properties.emplace_back(std::move(k), std::move(v));
  }
  if (!r.bytes(payload)) return false;
  m.payload = Payload::adopt(std::move(payload));
  return true;
}

bool read_position(Reader& r, MessageId& id) {
  id = MessageId{};
  return r.varint(id.ledger) && r.varint(id.entry);
}

}  // namespace

// Each value is written in the lowest version that holds it: a message without a batch, a cursor
// without partly acknowledged batches, a session without batch indexes stay version 1, byte for
// byte what format 1 wrote.
EncodedMessage encode_message_parts(const Message& m) {
  EncodedMessage out;
  Writer head(m.batch ? kMessageVersion : 1);
  // Room for all of it at once (lengths and fixed fields take at most 48 bytes): growing from
  // the short-string buffer took up to three allocations per message with a client id as
  // producer name and ordering key.
  std::size_t size = 48 + m.producer_name.size() + (m.ordering_key ? m.ordering_key->size() : 0);
  for (const auto& [k, v] : m.properties) size += k.size() + v.size() + 20;
  head.raw().reserve(size);
  write_message_head(head, m);
  out.head = head.take();
  out.payload = m.payload;
  if (m.batch) {
    Writer tail = Writer::continuation();
    tail.varint(m.batch->count);
    tail.u8(m.batch->compression);
    tail.varint(m.batch->uncompressed_size);
    out.tail = tail.take();
  }
  return out;
}

std::string encode_message(const Message& m) { return encode_message_parts(m).joined(); }

Result<void, std::string> decode_message(std::string_view in, Message& out) {
  Reader r(in);
  bool ok = r.version(kMessageVersion) && read_message_body(r, out);
  if (ok && r.value_version() >= 2) {
    service::BatchInfo b;
    ok = r.varint_as(b.count, UINT32_MAX) && r.u8(b.compression) && r.varint_as(b.uncompressed_size, UINT32_MAX);
    if (ok && b.count == 0) ok = r.fail("batch of 0 messages");
    out.batch = b;
  }
  return r.finish(ok);
}

std::string encode_entry_ref(const EntryRef& ref) {
  Writer w(kEntryRefVersion);
  w.varint(ref.file);
  w.varint(ref.offset);
  w.varint(ref.length);
  w.varint(ref.crc);
  return w.take();
}

bool is_entry_ref(std::string_view value) {
  return !value.empty() && static_cast<std::uint8_t>(value[0]) == kEntryRefVersion;
}

Result<void, std::string> decode_entry_ref(std::string_view in, EntryRef& out) {
  if (!is_entry_ref(in)) return std::string("not an entry log reference");
  Reader r(in.substr(1));
  const bool ok = r.varint(out.file) && r.varint(out.offset) && r.varint_as(out.length, UINT32_MAX) &&
                  r.varint_as(out.crc, UINT32_MAX);
  if (ok && out.file == 0) return std::string("entry log reference to file 0");
  return r.finish(ok);
}

std::string encode_topic_value(std::uint64_t id) {
  Writer w;
  w.varint(id);
  return w.take();
}

Result<void, std::string> decode_topic_value(std::string_view in, std::uint64_t& id) {
  Reader r(in);
  return r.finish(r.version() && r.varint(id));
}

std::string encode_position(MessageId id) {
  Writer w;
  w.varint(id.ledger);
  w.varint(id.entry);
  return w.take();
}

Result<void, std::string> decode_position(std::string_view in, MessageId& out) {
  Reader r(in);
  return r.finish(r.version() && read_position(r, out));
}

std::string encode_subscription(const SubscriptionRecord& s) {
  Writer w;
  w.u8(static_cast<std::uint8_t>(s.type));
  w.u8(s.durable ? 1 : 0);
  return w.take();
}

Result<void, std::string> decode_subscription(std::string_view in, SubscriptionRecord& out) {
  Reader r(in);
  std::uint8_t type = 0;
  bool ok = r.version() && r.u8(type) && r.boolean(out.durable);
  if (ok && type > static_cast<std::uint8_t>(service::SubscriptionType::key_shared)) ok = r.fail("bad subscription type");
  out.type = static_cast<service::SubscriptionType>(type);
  return r.finish(ok);
}

std::string encode_cursor(const CursorRecord& c) {
  Writer w(c.batch_acked.empty() ? 1 : kCursorVersion);
  w.varint(c.ack_floor.ledger);
  w.varint(c.ack_floor.entry);
  w.varint(c.acked.size());
  for (const auto& a : c.acked) {
    w.varint(a.ledger);
    w.varint(a.first);
    w.varint(a.last - a.first);  // a length, not a second id: smaller, and never negative
  }
  if (!c.batch_acked.empty()) {
    w.varint(c.batch_acked.size());
    for (const auto& b : c.batch_acked) {
      w.varint(b.entry);
      w.varint(b.acked.size());
      for (const auto word : b.acked) w.varint(word);
    }
  }
  return w.take();
}

Result<void, std::string> decode_cursor(std::string_view in, CursorRecord& out) {
  Reader r(in);
  out = CursorRecord{};
  std::uint64_t n = 0;
  bool ok = r.version(kCursorVersion) && read_position(r, out.ack_floor) && r.count(n);
  for (std::uint64_t i = 0; ok && i < n; ++i) {
    AckRange a;
    std::uint64_t len = 0;
    ok = r.varint(a.ledger) && r.varint(a.first) && r.varint(len);
    if (ok && a.first + len < a.first) ok = r.fail("ack range overflows");
    a.last = a.first + len;
    out.acked.push_back(a);
  }
  if (ok && r.value_version() >= 2) {
    ok = r.count(n);
    for (std::uint64_t i = 0; ok && i < n; ++i) {
      BatchAcks b;
      std::uint64_t words = 0;
      ok = r.varint(b.entry) && r.count(words);
      for (std::uint64_t k = 0; ok && k < words; ++k) {
        std::uint64_t word = 0;
        ok = r.varint(word);
        b.acked.push_back(word);
      }
      out.batch_acked.push_back(std::move(b));
    }
  }
  return r.finish(ok);
}

std::string encode_session(const SessionRecord& s) {
  const bool batch_indexes =
      std::any_of(s.outbound.begin(), s.outbound.end(), [](const OutboundInflight& o) { return o.message_id.batch >= 0; });
  Writer w(batch_indexes ? kSessionVersion : 1);
  w.u8(s.clean_start ? 1 : 0);
  w.u8(s.protocol_version);
  w.varint(s.expiry_interval_s);
  w.varint(s.disconnected_at_ms);
  w.varint(s.subscriptions.size());
  for (const auto& sub : s.subscriptions) {
    w.bytes(sub.filter);
    w.u8(sub.qos);
    w.u8(sub.options);
    w.varint(sub.subscription_id);
  }
  w.varint(s.inbound_qos2.size());
  for (const auto id : s.inbound_qos2) w.varint(id);
  w.varint(s.outbound.size());
  for (const auto& o : s.outbound) {
    w.varint(o.packet_id);
    w.bytes(o.topic);
    w.bytes(o.subscription);
    w.varint(o.message_id.ledger);
    w.varint(o.message_id.entry);
    if (batch_indexes) w.varint(static_cast<std::uint64_t>(o.message_id.batch + 1));  // 0: none
    w.u8(o.qos);
    w.u8(static_cast<std::uint8_t>(o.state));
  }
  return w.take();
}

Result<void, std::string> decode_session(std::string_view in, SessionRecord& out) {
  Reader r(in);
  const std::string client = std::move(out.client_id);
  out = SessionRecord{};
  out.client_id = client;
  std::uint64_t n = 0;
  bool ok = r.version(kSessionVersion) && r.boolean(out.clean_start) && r.u8(out.protocol_version) &&
            r.varint_as(out.expiry_interval_s, UINT32_MAX) && r.varint(out.disconnected_at_ms) && r.count(n);
  for (std::uint64_t i = 0; ok && i < n; ++i) {
    SessionSubscription s;
    ok = r.bytes(s.filter) && r.u8(s.qos) && r.u8(s.options) && r.varint_as(s.subscription_id, UINT32_MAX);
    if (ok && s.qos > 2) ok = r.fail("bad QoS");
    out.subscriptions.push_back(std::move(s));
  }
  ok = ok && r.count(n);
  for (std::uint64_t i = 0; ok && i < n; ++i) {
    std::uint16_t id = 0;
    ok = r.varint_as(id, UINT16_MAX);
    out.inbound_qos2.push_back(id);
  }
  ok = ok && r.count(n);
  for (std::uint64_t i = 0; ok && i < n; ++i) {
    OutboundInflight o;
    std::uint8_t state = 0;
    ok = r.varint_as(o.packet_id, UINT16_MAX) && r.bytes(o.topic) && r.bytes(o.subscription) &&
         read_position(r, o.message_id);
    if (ok && r.value_version() >= 2) {
      std::uint32_t batch = 0;
      ok = r.varint_as(batch, INT32_MAX);
      o.message_id.batch = static_cast<std::int32_t>(batch) - 1;
    }
    ok = ok && r.u8(o.qos) && r.u8(state);
    if (ok && (state > 1 || o.qos < 1 || o.qos > 2)) ok = r.fail("bad in-flight state");
    o.state = static_cast<OutboundState>(state);
    out.outbound.push_back(std::move(o));
  }
  return r.finish(ok);
}

std::string encode_will(const WillRecord& w) {
  Writer out;
  out.bytes(w.topic);
  out.u8(w.qos);
  out.u8(w.retain ? 1 : 0);
  out.varint(w.delay_s);
  out.varint(w.due_at_ms);
  write_message_body(out, w.message);
  return out.take();
}

Result<void, std::string> decode_will(std::string_view in, WillRecord& out) {
  Reader r(in);
  const std::string client = std::move(out.client_id);
  out = WillRecord{};
  out.client_id = client;
  bool ok = r.version() && r.bytes(out.topic) && r.u8(out.qos) && r.boolean(out.retain) &&
            r.varint_as(out.delay_s, UINT32_MAX) && r.varint(out.due_at_ms) && read_message_body(r, out.message);
  if (ok && out.qos > 2) ok = r.fail("bad QoS");
  return r.finish(ok);
}

std::string encode_partitioned(const PartitionedTopicRecord& r) {
  Writer w;
  w.varint(r.partitions);
  return w.take();
}

Result<void, std::string> decode_partitioned(std::string_view in, PartitionedTopicRecord& out) {
  Reader r(in);
  bool ok = r.version() && r.varint_as(out.partitions, UINT32_MAX);
  if (ok && out.partitions == 0) ok = r.fail("partition count 0");
  return r.finish(ok);
}

std::string permission_key(const std::string& resource, const std::string& role) {
  std::string k = resource;
  k += '\0';
  k += role;
  return k;
}

std::string encode_permission(const PermissionRecord& p) {
  Writer w;
  w.varint(p.actions);
  return w.take();
}

Result<void, std::string> decode_permission(std::string_view key, std::string_view in, PermissionRecord& out) {
  const auto nul = key.find('\0');
  if (nul == std::string_view::npos || nul == 0 || nul + 1 == key.size())
    return std::string("permission key is not resource NUL role");
  out.resource.assign(key.substr(0, nul));
  out.role.assign(key.substr(nul + 1));
  Reader r(in);
  bool ok = r.version() && r.varint_as(out.actions, 3);
  if (ok && out.actions == 0) ok = r.fail("no actions");
  return r.finish(ok);
}

std::string encode_tenant(const TenantRecord& t) {
  Writer w;
  w.bytes(t.info);
  return w.take();
}

Result<void, std::string> decode_tenant(std::string_view in, TenantRecord& out) {
  Reader r(in);
  const bool ok = r.version() && r.bytes(out.info);
  return r.finish(ok);
}

namespace {

// Which policies a namespace value holds (FORMAT.md, namespace).
constexpr std::uint8_t kHasRetention = 1, kHasTtl = 2, kHasBacklogQuota = 4, kHasDeduplication = 8;
constexpr std::uint8_t kAllPolicies = kHasRetention | kHasTtl | kHasBacklogQuota | kHasDeduplication;

// Signed integers (Pulsar's -1 = no limit) as zigzag varints: 0, -1, 1, -2 ... -> 0, 1, 2, 3 ...
void put_signed(Writer& w, std::int64_t v) {
  w.varint((static_cast<std::uint64_t>(v) << 1) ^ static_cast<std::uint64_t>(v >> 63));
}

bool get_signed(Reader& r, std::int64_t& v) {
  std::uint64_t u = 0;
  if (!r.varint(u)) return false;
  v = static_cast<std::int64_t>(u >> 1) ^ -static_cast<std::int64_t>(u & 1);
  return true;
}

}  // namespace

std::string encode_namespace(const NamespaceRecord& n) {
  const auto& p = n.policies;
  Writer w;
  w.u8((p.retention ? kHasRetention : 0) | (p.message_ttl_seconds ? kHasTtl : 0) |
       (p.backlog_quota ? kHasBacklogQuota : 0) | (p.deduplication ? kHasDeduplication : 0));
  if (p.retention) {
    put_signed(w, p.retention->minutes);
    put_signed(w, p.retention->size_mb);
  }
  if (p.message_ttl_seconds) put_signed(w, *p.message_ttl_seconds);
  if (p.backlog_quota) {
    put_signed(w, p.backlog_quota->limit_size);
    put_signed(w, p.backlog_quota->limit_time);
    w.u8(p.backlog_quota->policy == "consumer_backlog_eviction" ? 1 : 0);
  }
  if (p.deduplication) w.u8(*p.deduplication ? 1 : 0);
  return w.take();
}

Result<void, std::string> decode_namespace(std::string_view in, NamespaceRecord& out) {
  Reader r(in);
  auto& p = out.policies;
  p = {};
  std::uint8_t has = 0;
  bool ok = r.version() && r.u8(has);
  if (ok && (has & ~kAllPolicies) != 0) ok = r.fail("unknown policy bits");
  if (ok && (has & kHasRetention)) {
    p.retention.emplace();
    ok = get_signed(r, p.retention->minutes) && get_signed(r, p.retention->size_mb);
    if (ok && (p.retention->minutes < -1 || p.retention->size_mb < -1)) ok = r.fail("retention below -1");
  }
  if (ok && (has & kHasTtl)) {
    p.message_ttl_seconds.emplace();
    ok = get_signed(r, *p.message_ttl_seconds);
    if (ok && *p.message_ttl_seconds < 0) ok = r.fail("negative message TTL");
  }
  if (ok && (has & kHasBacklogQuota)) {
    p.backlog_quota.emplace();
    std::uint8_t policy = 0;
    ok = get_signed(r, p.backlog_quota->limit_size) && get_signed(r, p.backlog_quota->limit_time) && r.u8(policy);
    if (ok && policy > 1) ok = r.fail("unknown backlog quota policy");
    if (ok) p.backlog_quota->policy = policy == 1 ? "consumer_backlog_eviction" : "producer_exception";
  }
  if (ok && (has & kHasDeduplication)) {
    p.deduplication.emplace();
    ok = r.boolean(*p.deduplication);
  }
  return r.finish(ok);
}

std::string encode_schema(const SchemaRecord& s) {
  Writer w;
  w.varint(s.version);
  w.varint(s.type);
  w.bytes(s.name);
  w.bytes(s.data);
  w.varint(s.properties.size());
  for (const auto& [k, v] : s.properties) {
    w.bytes(k);
    w.bytes(v);
  }
  return w.take();
}

Result<void, std::string> decode_schema(std::string_view in, SchemaRecord& out) {
  Reader r(in);
  const std::string topic = std::move(out.topic);
  out = SchemaRecord{};
  out.topic = topic;
  std::uint64_t n = 0;
  bool ok = r.version() && r.varint(out.version) && r.varint_as(out.type, UINT32_MAX) && r.bytes(out.name) &&
            r.bytes(out.data) && r.count(n);
  for (std::uint64_t i = 0; ok && i < n; ++i) {
    std::string k, v;
    ok = r.bytes(k) && r.bytes(v);
    out.properties.emplace_back(std::move(k), std::move(v));
  }
  return r.finish(ok);
}

std::string encode_producer_sequence(const ProducerSequence& p) {
  Writer w;
  w.varint(static_cast<std::uint64_t>(p.sequence_id));
  return w.take();
}

Result<void, std::string> decode_producer_sequence(std::string_view in, ProducerSequence& out) {
  Reader r(in);
  const std::string producer = std::move(out.producer);
  out = ProducerSequence{};
  out.producer = producer;
  // Only sequence ids that were stored are recorded: never negative.
  return r.finish(r.version() && r.varint_as(out.sequence_id, static_cast<std::uint64_t>(INT64_MAX)));
}

}  // namespace mop::storage
