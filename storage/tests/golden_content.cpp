#include "storage/tests/golden_content.hpp"

#include <fmt/format.h>

#include "storage/encoding.hpp"

namespace mop::storage::golden {

namespace {

constexpr const char* kTopic = "persistent://public/default/sensors%2Froom1";
constexpr const char* kOtherTopic = "persistent://public/default/empty";
constexpr const char* kBatchTopic = "persistent://public/default/batched";  // format 2

Message message(int i) {
  Message m;
  m.payload = Payload::copy_of(fmt::format("reading {}", i));
  m.publish_time_ms = 1'700'000'000'000ULL + static_cast<std::uint64_t>(i);
  m.producer_name = "sensor-1";
  m.mqtt_qos = static_cast<std::uint8_t>(i % 3);
  if (i % 2) m.ordering_key = "room1";
  if (i == 3) m.properties = {{"unit", "C"}, {"unit", "F"}};
  return m;
}

SessionRecord session() {
  SessionRecord s;
  s.client_id = "client-a";
  s.clean_start = false;
  s.protocol_version = 5;
  s.expiry_interval_s = 3600;
  s.disconnected_at_ms = 1'700'000'123'000ULL;
  s.subscriptions = {{"sensors/#", 1, 0, 0}, {"alerts/+", 2, 0x04, 7}};
  s.inbound_qos2 = {17, 300};
  s.outbound = {{5, kTopic, "mqtt-client-a", {1, 3, -1}, 1, OutboundState::publish_sent},
                {6, kTopic, "mqtt-client-a", {1, 4, -1}, 2, OutboundState::pubrel_sent}};
  return s;
}

WillRecord will() {
  WillRecord w;
  w.client_id = "client-a";
  w.topic = "persistent://public/default/status%2Fclient-a";
  w.message = message(100);
  w.qos = 1;
  w.retain = true;
  w.delay_s = 30;
  w.due_at_ms = 0;
  return w;
}

CursorRecord cursor() { return {{1, 2, -1}, {{1, 4, 4}, {1, 6, 7}}, {}}; }

// Format 2: entries of Pulsar batches (the payload is opaque to the store).
Message batch_message(int i) {
  Message m;
  m.payload = Payload::copy_of(fmt::format("batch {} as the producer compressed it", i));
  m.publish_time_ms = 1'700'000'500'000ULL + static_cast<std::uint64_t>(i);
  m.producer_name = "pulsar-producer";
  m.mqtt_qos = 1;
  m.batch = service::BatchInfo{static_cast<std::uint32_t>(i + 2), static_cast<std::uint8_t>(i % 2 ? 1 : 0),
                               static_cast<std::uint32_t>(100 + i)};
  if (i == 1) m.properties = {{"batch-prop", "x"}};
  return m;
}

// Entry 0 fully acked (the floor is 1), entry 1 (3 messages) has indexes 0 and 2 acked, entry 2
// (4 messages, ids above 64 bits do not occur) index 3.
CursorRecord batch_cursor() { return {{3, 1, -1}, {}, {{1, {0b101}}, {2, {0b1000}}}}; }

SessionRecord batch_session() {
  SessionRecord s;
  s.client_id = "client-b";
  s.protocol_version = 4;
  s.expiry_interval_s = 0xFFFFFFFF;
  s.subscriptions = {{"batched", 1, 0, 0}};
  s.outbound = {{9, kBatchTopic, "client-b", {3, 1, 1}, 1, OutboundState::publish_sent},
                {10, kBatchTopic, "client-b", {3, 2, -1}, 1, OutboundState::publish_sent}};
  return s;
}

template <typename T>
std::string differ(const char* what, const T& a, const T& b) {
  return a == b ? std::string{} : fmt::format("{} differs", what);
}

}  // namespace

void write(Store& store, Executor& executor, int version) {
  const auto topic = store.ensure_topic(kTopic);
  const auto other = store.ensure_topic(kOtherTopic);
  (void)other;
  Batch b;
  if (version >= 2) {
    const auto batched = store.ensure_topic(kBatchTopic);
    for (int i = 0; i < 3; ++i) {
      b.append(*batched, {*batched, static_cast<std::uint64_t>(i), -1}, encode_message(batch_message(i)));
    }
    b.put_subscription(*batched, {"pulsar-sub", service::SubscriptionType::shared, true});
    b.put_cursor(*batched, "pulsar-sub", batch_cursor());
    b.put_session(batch_session());
  }
  // Entries 0..9 appended, 0..1 trimmed: the log holds 2..9 and remembers its floor.
  for (int i = 0; i < 10; ++i) b.append(*topic, {*topic, static_cast<std::uint64_t>(i), -1}, encode_message(message(i)));
  b.trim(*topic, {*topic, 2, -1});
  b.put_subscription(*topic, {"mqtt-client-a", service::SubscriptionType::shared, true});
  b.put_cursor(*topic, "mqtt-client-a", cursor());
  b.put_subscription(*topic, {"reader", service::SubscriptionType::exclusive, false});
  b.put_session(session());
  b.put_retained({kTopic, message(9)});
  b.put_will(will());
  store.write(std::move(b), executor, nullptr);
}

std::string check(const Store& store, int version) {
  const auto topics = store.topics();
  if (!topics.ok()) return topics.error().to_string();
  if (topics->size() != (version >= 2 ? 3u : 2u)) return fmt::format("{} topics", topics->size());
  const auto id = store.find_topic(kTopic);
  if (!id.ok() || !*id) return "topic missing";
  const std::uint64_t t = **id;
  if (t != 1) return fmt::format("topic id {}", t);
  const auto bounds = store.log_bounds(t);
  if (!bounds.ok()) return bounds.error().to_string();
  if (!*bounds || **bounds != LogBounds{{1, 2, -1}, {1, 10, -1}}) return "log bounds differ";
  const auto entries = store.log_read(t, {1, 0, -1}, {1, 100, -1}, 100);
  if (!entries.ok()) return entries.error().to_string();
  if (entries->size() != 8) return fmt::format("{} entries", entries->size());
  for (std::size_t i = 0; i < entries->size(); ++i) {
    const auto& e = (*entries)[i];
    if (e.id != MessageId{1, i + 2, -1}) return fmt::format("entry {} id", i);
    Message m;
    if (auto why = decode_message(e.value, m); !why.ok()) return "entry: " + why.error();
    if (!(m == message(static_cast<int>(i) + 2))) return fmt::format("entry {} content", i);
  }
  const auto other = store.find_topic(kOtherTopic);
  if (!other.ok() || !*other) return "other topic missing";
  const auto other_bounds = store.log_bounds(**other);
  if (!other_bounds.ok() || *other_bounds) return "other topic has a log";
  const auto subs = store.subscriptions(t);
  if (!subs.ok()) return subs.error().to_string();
  const std::vector<SubscriptionRecord> want_subs{{"mqtt-client-a", service::SubscriptionType::shared, true},
                                                  {"reader", service::SubscriptionType::exclusive, false}};
  if (auto d = differ("subscriptions", *subs, want_subs); !d.empty()) return d;
  const auto c = store.cursor(t, "mqtt-client-a");
  if (!c.ok()) return c.error().to_string();
  if (!*c || **c != cursor()) return "cursor differs";
  const auto sessions = store.sessions();
  if (!sessions.ok()) return sessions.error().to_string();
  const auto want_sessions = version >= 2 ? std::vector{session(), batch_session()} : std::vector{session()};
  if (auto d = differ("sessions", *sessions, want_sessions); !d.empty()) return d;
  const auto retained = store.retained();
  if (!retained.ok()) return retained.error().to_string();
  if (retained->size() != 1 || !((*retained)[0] == RetainedRecord{kTopic, message(9)})) return "retained differs";
  const auto wills = store.wills();
  if (!wills.ok()) return wills.error().to_string();
  if (wills->size() != 1 || !((*wills)[0] == will())) return "wills differ";
  if (version < 2) return {};
  const auto batched = store.find_topic(kBatchTopic);
  if (!batched.ok() || !*batched) return "batch topic missing";
  const std::uint64_t bt = **batched;
  const auto batch_entries = store.log_read(bt, {bt, 0, -1}, {bt, 100, -1}, 100);
  if (!batch_entries.ok()) return batch_entries.error().to_string();
  if (batch_entries->size() != 3) return fmt::format("{} batch entries", batch_entries->size());
  for (std::size_t i = 0; i < batch_entries->size(); ++i) {
    Message m;
    if (auto why = decode_message((*batch_entries)[i].value, m); !why.ok()) return "batch entry: " + why.error();
    if (!(m == batch_message(static_cast<int>(i)))) return fmt::format("batch entry {} content", i);
  }
  const auto bc = store.cursor(bt, "pulsar-sub");
  if (!bc.ok()) return bc.error().to_string();
  if (!*bc || **bc != batch_cursor()) return "batch cursor differs";
  return {};
}

}  // namespace mop::storage::golden
