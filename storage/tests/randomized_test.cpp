// Random operation sequences applied to RocksStore and MemoryStore side by side; their whole
// content must stay equal, including across RocksStore reopens. Bounded and seeded: the seed is
// printed, and MOP_STORAGE_SEED=<n> replays one.
#include <cstdlib>
#include <iostream>
#include <map>
#include <random>

#include "storage/tests/store_fixture.hpp"

namespace mop::storage::test {
namespace {

struct Model {
  std::vector<std::uint64_t> topics;
  std::map<std::uint64_t, std::uint64_t> next;  // next entry per topic
};

// Range-for does not extend the life of the Expected a `*` is applied to: copy the value out.
template <typename T>
T value_of(Result<T, Error> e) {
  EXPECT_TRUE(e.ok()) << e.error().to_string();
  return e.ok() ? std::move(e).value() : T{};
}

std::string dump(Store& s, const std::vector<std::uint64_t>& topics) {
  std::string out;
  auto add = [&](const std::string& line) { out += line + "\n"; };
  for (const auto& t : value_of(s.topics())) add("topic " + t.name + "=" + std::to_string(t.id));
  for (const auto t : topics) {
    const auto b = *s.log_bounds(t);
    if (b) add("bounds " + b->first.to_string() + " " + b->end.to_string());
    for (const auto& e : value_of(s.log_read(t, {0, 0, -1}, {UINT64_MAX, 0, -1}, 100000))) add(e.id.to_string() + "=" + e.value);
    for (const auto& sub : value_of(s.subscriptions(t))) {
      add("sub " + sub.name + " " + std::to_string(static_cast<int>(sub.type)) + (sub.durable ? " d" : " nd"));
      const auto c = *s.cursor(t, sub.name);
      if (c) {
        add("cursor " + c->ack_floor.to_string());
        for (const auto& r : c->acked) add(" " + std::to_string(r.first) + "-" + std::to_string(r.last));
      }
    }
  }
  for (const auto& x : value_of(s.sessions())) {
    add("session " + x.client_id + " " + std::to_string(x.expiry_interval_s) + " " + std::to_string(x.subscriptions.size()) +
        " " + std::to_string(x.inbound_qos2.size()));
  }
  for (const auto& r : value_of(s.retained())) add("retained " + r.topic + "=" + std::string(r.message.payload.view()));
  for (const auto& w : value_of(s.wills())) add("will " + w.client_id + " " + w.topic + " " + std::to_string(w.delay_s));
  return out;
}

void rocks_matches_memory(const std::string& kind) {
  std::uint64_t seed = std::random_device{}();
  if (const char* env = std::getenv("MOP_STORAGE_SEED")) seed = std::strtoull(env, nullptr, 10);
  std::cout << "StoreRandomized seed: " << seed << " (replay with MOP_STORAGE_SEED=" << seed << ")\n";
  SCOPED_TRACE("seed " + std::to_string(seed));
  std::mt19937_64 rng(seed);
  auto pick = [&](std::uint64_t n) { return rng() % n; };

  StoreUnderTest rocks(kind), memory("memory");
  Model model;
  std::uint64_t completions = 0, expected = 0;
  for (int round = 0; round < 30; ++round) {
    const int writes = 1 + static_cast<int>(pick(20));
    for (int w = 0; w < writes; ++w) {
      Batch b;
      // A topic deleted in this batch must not be re-created before the delete is applied.
      bool deleted = false;
      const int ops = 1 + static_cast<int>(pick(4));
      for (int o = 0; o < ops; ++o) {
        switch (pick(12)) {
          case 0: {
            if (deleted) break;
            const std::string name = "persistent://t/n/" + std::to_string(pick(6));
            const auto a = *rocks.store->ensure_topic(name);
            const auto m = *memory.store->ensure_topic(name);
            ASSERT_EQ(a, m);
            if (!model.next.contains(a)) {
              model.topics.push_back(a);
              model.next[a] = 0;
            }
            break;
          }
          case 1: case 2: case 3: case 4: {
            if (model.topics.empty()) break;
            const auto t = model.topics[pick(model.topics.size())];
            const int n = 1 + static_cast<int>(pick(5));
            for (int i = 0; i < n; ++i) {
              b.append(t, {t, model.next[t], -1}, std::string(pick(50), static_cast<char>('a' + pick(26))));
              ++model.next[t];
            }
            break;
          }
          case 5: {
            if (model.topics.empty()) break;
            const auto t = model.topics[pick(model.topics.size())];
            b.trim(t, {t, pick(model.next[t] + 1), -1});
            break;
          }
          case 6: {
            if (model.topics.empty()) break;
            const auto t = model.topics[pick(model.topics.size())];
            const auto from = pick(model.next[t] + 1);
            b.truncate(t, {t, from, -1});
            model.next[t] = from;
            break;
          }
          case 7: {
            if (model.topics.empty()) break;
            const auto t = model.topics[pick(model.topics.size())];
            const std::string name = "s" + std::to_string(pick(3));
            if (pick(4) == 0) {
              b.delete_subscription(t, name);
            } else {
              b.put_subscription(t, {name, static_cast<service::SubscriptionType>(pick(4)), pick(2) == 0});
              const auto floor = pick(model.next[t] + 1);
              b.put_cursor(t, name, {{t, floor, -1}, {{t, floor + 2, floor + 2 + pick(3)}}});
            }
            break;
          }
          case 8: {
            SessionRecord s;
            s.client_id = "c" + std::to_string(pick(5));
            s.expiry_interval_s = static_cast<std::uint32_t>(pick(1000));
            for (std::uint64_t i = pick(3); i > 0; --i) s.subscriptions.push_back({"f/" + std::to_string(i), 1, 0, 0});
            for (std::uint64_t i = pick(3); i > 0; --i) s.inbound_qos2.push_back(static_cast<std::uint16_t>(i));
            if (pick(3) == 0) {
              b.delete_session(s.client_id);
            } else {
              b.put_session(s);
            }
            break;
          }
          case 9: {
            const std::string topic = "persistent://t/n/r" + std::to_string(pick(4));
            Message m;
            m.payload = Payload::copy_of(std::to_string(rng()));
            if (pick(3) == 0) {
              b.delete_retained(topic);
            } else {
              b.put_retained({topic, m});
            }
            break;
          }
          case 10: {
            const std::string client = "c" + std::to_string(pick(5));
            if (pick(2) == 0) {
              b.delete_will(client);
            } else {
              b.put_will({client, "persistent://t/n/w", Message{}, 1, false, static_cast<std::uint32_t>(pick(100)), 0});
            }
            break;
          }
          case 11: {
            if (model.topics.empty() || pick(3) != 0) break;
            const auto i = pick(model.topics.size());
            b.delete_topic(model.topics[i]);
            model.next.erase(model.topics[i]);
            model.topics.erase(model.topics.begin() + static_cast<std::ptrdiff_t>(i));
            deleted = true;
            break;
          }
        }
      }
      ++expected;
      rocks.store->write(b, rocks.executor, [&](const Result<void, Error>& r) {
        EXPECT_TRUE(r.ok()) << r.error().to_string();
        ++completions;
      });
      memory.store->write(std::move(b), memory.executor, nullptr);
      if (deleted) {
        ASSERT_TRUE(rocks.executor.run_until([&] { return completions == expected; }));
      }
    }
    ASSERT_TRUE(rocks.executor.run_until([&] { return completions == expected; }));
    memory.executor.run_all();
    // Deleted topics drop out of the model but their ids stay in the comparison set.
    std::vector<std::uint64_t> ids;
    for (std::uint64_t id = 1; id < 64; ++id) ids.push_back(id);
    ASSERT_EQ(dump(*rocks.store, ids), dump(*memory.store, ids)) << "round " << round;
    if (pick(5) == 0) {
      rocks.reopen();
      ASSERT_EQ(dump(*rocks.store, ids), dump(*memory.store, ids)) << "after reopen, round " << round;
    }
  }
}

TEST(StoreRandomized, RocksMatchesMemory) { rocks_matches_memory("rocks"); }
// Every log entry in the entry log (files of 64 KiB, rolled and removed as trims free them).
TEST(StoreRandomized, RocksWithEntryLogMatchesMemory) { rocks_matches_memory("rocks_entry_log"); }

}  // namespace
}  // namespace mop::storage::test
