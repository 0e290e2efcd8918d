#include "storage/store_repair.hpp"

#include <map>
#include <set>

#include <fmt/format.h>

#include "storage/encoding.hpp"

namespace mop::storage {

namespace {

struct EntryState {
  MessageId id;
  bool sound;
};

std::string sub_label(const std::map<std::uint64_t, std::string>& topics, std::string_view k) {
  const auto id = key::get_be64(k);
  const auto it = topics.find(id);
  return fmt::format("'{}' of topic {}", key::printable(k.substr(8)),
                     it == topics.end() ? fmt::format("id {}", id) : it->second);
}

}  // namespace

RepairReport repair_store(RocksStore& store) {
  RepairReport r;
  std::vector<RocksStore::RawOp> ops;
  auto change = [&](int cf, std::string key, std::optional<std::string> value, std::string what) {
    ops.push_back({cf, std::move(key), std::move(value)});
    r.changes.push_back(std::move(what));
  };
  const std::string where = store.describe();

  std::map<std::uint64_t, std::string> topics;  // id -> name
  if (auto t = store.topics(); !t.ok()) {
    r.refused.push_back(t.error().to_string());
    return r;
  } else {
    for (const auto& rec : *t) topics.emplace(rec.id, rec.name);
  }

  auto scan = [&](int cf, const std::function<void(std::string_view, std::string_view)>& visit) {
    if (auto scanned = store.scan(cf, visit); !scanned.ok()) r.refused.push_back(scanned.error().to_string());
  };

  // --- logs: every entry decoded; per topic, where the sound contiguous run ends ------------
  std::map<std::uint64_t, std::vector<EntryState>> logs;
  scan(RocksStore::kLogs, [&](std::string_view k, std::string_view v) {
    const auto parsed = key::parse_log(k);
    if (!parsed) {
      r.refused.push_back(fmt::format("malformed key \"{}\" in column family 'logs' of store {}: it cannot be told "
                                      "whether it holds a message; not repaired",
                                      key::printable(k), where));
      return;
    }
    if (!topics.contains(parsed->first)) {
      r.refused.push_back(fmt::format("log entry {} of topic id {}, which has no topic record, in store {}: its "
                                      "messages belong to no known topic; not repaired (deleting them would lose them)",
                                      parsed->second.to_string(), parsed->first, where));
      return;
    }
    // An entry in the entry log is sound when its bytes are there, match their checksum and decode.
    Message m;
    std::string bytes;
    logs[parsed->first].push_back({parsed->second, store.resolve_log_value(v, bytes).ok() && decode_message(bytes, m).ok()});
  });
  // Topics whose log is cut at `end`: acknowledgements at or above it are forgotten below.
  std::map<std::uint64_t, MessageId> cut;
  for (const auto& [topic, entries] : logs) {
    const std::string& name = topics.at(topic);
    std::size_t bad = entries.size();  // index of the first undecodable entry or of the entry after a gap
    MessageId end{};                   // where the sound contiguous run ends
    for (std::size_t i = 0; i < entries.size(); ++i) {
      const auto& e = entries[i];
      if (!e.sound) {
        bad = i;
        end = e.id;
        break;
      }
      if (i > 0 && e.id.ledger == entries[i - 1].id.ledger && e.id.entry != entries[i - 1].id.entry + 1) {
        bad = i;
        end = {entries[i - 1].id.ledger, entries[i - 1].id.entry + 1, -1};
        break;
      }
    }
    if (bad == entries.size()) continue;
    std::size_t sound_after = 0;
    for (std::size_t i = bad; i < entries.size(); ++i) sound_after += entries[i].sound ? 1 : 0;
    if (sound_after > 0) {
      r.refused.push_back(fmt::format("topic {} (id {}): the log is damaged at {} but {} sound entries follow; "
                                      "truncating would lose them, so it is not repaired",
                                      name, topic, end.to_string(), sound_after));
      continue;
    }
    // Only undecodable entries from `end` on: what the damage destroyed. Drop them.
    for (std::size_t i = bad; i < entries.size(); ++i) {
      change(RocksStore::kLogs, key::log(topic, entries[i].id), std::nullopt,
             fmt::format("topic {}: undecodable log entry {} deleted (its message was lost to the damage)", name,
                         entries[i].id.to_string()));
    }
    if (bad == 0) {
      // Nothing sound is left: the floor keeps entry ids from going back below `end`.
      change(RocksStore::kLogFloors, key::topic_prefix(topic), encode_position(end),
             fmt::format("topic {}: log floor set to {} (its log is now empty)", name, end.to_string()));
    }
    r.changes.push_back(fmt::format("topic {}: log truncated to end at {} (the last sound contiguous entry is the "
                                    "one before)",
                                    name, end.to_string()));
    cut.emplace(topic, end);
  }

  // --- log floors ----------------------------------------------------------------------------
  scan(RocksStore::kLogFloors, [&](std::string_view k, std::string_view v) {
    if (k.size() != 8 || !topics.contains(key::get_be64(k))) {
      change(RocksStore::kLogFloors, std::string(k), std::nullopt,
             fmt::format("log floor \"{}\" of no known topic deleted", key::printable(k)));
      return;
    }
    MessageId floor;
    if (const auto why = decode_position(v, floor); !why.ok()) {
      const auto topic = key::get_be64(k);
      const auto it = logs.find(topic);
      if (it != logs.end() && !it->second.empty() && !cut.contains(topic)) {
        change(RocksStore::kLogFloors, std::string(k), std::nullopt,
               fmt::format("topic {}: undecodable log floor deleted ({}; the log's entries give its bounds)",
                           topics.at(topic), why.error()));
      } else {
        r.refused.push_back(fmt::format("topic {}: the log floor is undecodable ({}) and no entry tells where the log "
                                        "ends; entry ids could be reused under acknowledged positions; not repaired",
                                        topics.at(topic), why.error()));
      }
    }
  });

  // --- subscriptions -------------------------------------------------------------------------
  std::set<std::string> subscriptions;  // keys that stay
  scan(RocksStore::kSubscriptions, [&](std::string_view k, std::string_view v) {
    if (k.size() < 8 || !topics.contains(key::get_be64(k))) {
      change(RocksStore::kSubscriptions, std::string(k), std::nullopt,
             fmt::format("subscription \"{}\" of no known topic deleted", key::printable(k)));
      return;
    }
    SubscriptionRecord s;
    if (const auto why = decode_subscription(v, s); !why.ok()) {
      SubscriptionRecord fixed;
      fixed.name.assign(k.substr(8));
      change(RocksStore::kSubscriptions, std::string(k), encode_subscription(fixed),
             fmt::format("subscription {}: undecodable record ({}) rewritten as a durable Shared subscription",
                         sub_label(topics, k), why.error()));
    }
    subscriptions.emplace(k);
  });

  // --- cursors -------------------------------------------------------------------------------
  scan(RocksStore::kCursors, [&](std::string_view k, std::string_view v) {
    if (k.size() < 8 || !topics.contains(key::get_be64(k))) {
      change(RocksStore::kCursors, std::string(k), std::nullopt,
             fmt::format("cursor \"{}\" of no known topic deleted", key::printable(k)));
      return;
    }
    if (!subscriptions.contains(std::string(k))) {
      change(RocksStore::kCursors, std::string(k), std::nullopt,
             fmt::format("cursor {} without a subscription record deleted", sub_label(topics, k)));
      return;
    }
    CursorRecord c;
    if (const auto why = decode_cursor(v, c); !why.ok()) {
      change(RocksStore::kCursors, std::string(k), std::nullopt,
             fmt::format("cursor {}: undecodable ({}); reset to the start of the log, so its stored messages are "
                         "delivered again (acknowledged ones too: redelivery, not loss)",
                         sub_label(topics, k), why.error()));
      return;
    }
    const auto it = cut.find(key::get_be64(k));
    if (it == cut.end()) return;
    // Entry ids from the cut on go to new messages: acknowledgements there must not cover them.
    const MessageId end = it->second;
    CursorRecord fixed = c;
    if (end < fixed.ack_floor) fixed.ack_floor = end;
    std::vector<AckRange> kept;
    for (auto range : fixed.acked) {
      if (range.ledger > end.ledger || (range.ledger == end.ledger && range.first >= end.entry)) continue;
      if (range.ledger == end.ledger && range.last >= end.entry) range.last = end.entry - 1;
      kept.push_back(range);
    }
    fixed.acked = std::move(kept);
    if (fixed != c) {
      change(RocksStore::kCursors, std::string(k), encode_cursor(fixed),
             fmt::format("cursor {}: acknowledgements at or above {} forgotten (the truncated log hands those ids to "
                         "new messages)",
                         sub_label(topics, k), end.to_string()));
    }
  });

  // --- MQTT state and retained messages: a damaged record is dropped, and named ---------------
  scan(RocksStore::kRetained, [&](std::string_view k, std::string_view v) {
    Message m;
    if (const auto why = decode_message(v, m); !why.ok()) {
      change(RocksStore::kRetained, std::string(k), std::nullopt,
             fmt::format("retained message of topic {} undecodable ({}): deleted; the topic has no retained message "
                         "until one is published",
                         key::printable(k), why.error()));
    }
  });
  scan(RocksStore::kWills, [&](std::string_view k, std::string_view v) {
    WillRecord w;
    if (const auto why = decode_will(v, w); !why.ok()) {
      change(RocksStore::kWills, std::string(k), std::nullopt,
             fmt::format("will of client {} undecodable ({}): deleted; it will not be published", key::printable(k),
                         why.error()));
    }
  });
  scan(RocksStore::kSessions, [&](std::string_view k, std::string_view v) {
    SessionRecord s;
    if (const auto why = decode_session(v, s); !why.ok()) {
      change(RocksStore::kSessions, std::string(k), std::nullopt,
             fmt::format("MQTT session of client {} undecodable ({}): deleted; the client gets session present 0 and "
                         "must subscribe again (the messages stored for it stay, in the subscriptions named after the "
                         "client id); its QoS 2 exchanges in flight are forgotten",
                         key::printable(k), why.error()));
    }
  });

  // --- Pulsar state ---------------------------------------------------------------------------
  scan(RocksStore::kProducerSequences, [&](std::string_view k, std::string_view v) {
    if (k.size() < 8 || !topics.contains(key::get_be64(k))) {
      change(RocksStore::kProducerSequences, std::string(k), std::nullopt,
             fmt::format("producer sequence \"{}\" of no known topic deleted", key::printable(k)));
      return;
    }
    ProducerSequence p;
    if (const auto why = decode_producer_sequence(v, p); !why.ok()) {
      change(RocksStore::kProducerSequences, std::string(k), std::nullopt,
             fmt::format("producer sequence {} undecodable ({}): deleted; deduplication of that producer starts "
                         "afresh (a resend of its last message may be stored twice)",
                         sub_label(topics, k), why.error()));
    }
  });
  scan(RocksStore::kSchemas, [&](std::string_view k, std::string_view v) {
    SchemaRecord sr;
    if (const auto why = decode_schema(v, sr); !why.ok()) {
      change(RocksStore::kSchemas, std::string(k), std::nullopt,
             fmt::format("schema of topic {} undecodable ({}): deleted; the next producer's schema becomes the "
                         "topic's",
                         key::printable(k), why.error()));
    }
  });
  // The admin API's tenants and namespaces: an unreadable one is deleted (an operator creates it
  // again; until then a namespace's topics get the broker's policies).
  scan(RocksStore::kTenants, [&](std::string_view k, std::string_view v) {
    TenantRecord t;
    if (const auto why = decode_tenant(v, t); !why.ok()) {
      change(RocksStore::kTenants, std::string(k), std::nullopt,
             fmt::format("tenant {} undecodable ({}): deleted; create it again through the admin API",
                         key::printable(k), why.error()));
    }
  });
  scan(RocksStore::kNamespaces, [&](std::string_view k, std::string_view v) {
    NamespaceRecord n;
    if (const auto why = decode_namespace(v, n); !why.ok()) {
      change(RocksStore::kNamespaces, std::string(k), std::nullopt,
             fmt::format("namespace {} undecodable ({}): deleted with its policies; its topics get the broker's "
                         "policies until they are set again",
                         key::printable(k), why.error()));
    }
  });
  scan(RocksStore::kPartitioned, [&](std::string_view k, std::string_view v) {
    PartitionedTopicRecord pt;
    if (const auto why = decode_partitioned(v, pt); !why.ok()) {
      r.refused.push_back(fmt::format("the partition count of topic {} is undecodable ({}) in store {}: it cannot be "
                                      "guessed (the partitions' topics keep their messages); not repaired",
                                      key::printable(k), why.error(), where));
    }
  });

  if (!r.refused.empty() || ops.empty()) return r;
  if (auto written = store.write_raw(ops); !written.ok()) {
    r.refused.push_back(written.error().to_string());
    return r;
  }
  r.applied = true;
  return r;
}

}  // namespace mop::storage
