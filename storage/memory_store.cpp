#include "storage/memory_store.hpp"

namespace mop::storage {

namespace {
template <class... Ts>
struct Overloaded : Ts... {
  using Ts::operator()...;
};
template <class... Ts>
Overloaded(Ts...) -> Overloaded<Ts...>;

// Erases every key of a (topic, name)-keyed map that belongs to `topic`.
template <typename Map>
void erase_topic(Map& m, std::uint64_t topic) {
  auto it = m.lower_bound({topic, std::string{}});
  while (it != m.end() && it->first.first == topic) it = m.erase(it);
}
}  // namespace

void MemoryStore::write(Batch batch, Executor& executor, Completion done) {
  Result<void, Error> result;
  {
    std::lock_guard lock(mu_);
    if (failures_ > 0) {
      --failures_;
      result = Error(failure_code_, "memory store: injected write failure");
    } else {
      for (const auto& op : batch.ops()) apply(op);
      ++batches_;
    }
  }
  if (done) executor.post([done = std::move(done), result = std::move(result)] { done(result); });
}

void MemoryStore::apply(const Batch::Op& op) {
  std::visit(Overloaded{
                 [&](const Batch::Append& a) { logs_[a.topic][{a.id.ledger, a.id.entry}] = a.value.joined(); },
                 [&](const Batch::Trim& t) {
                   auto& log = logs_[t.topic];
                   log.erase(log.begin(), log.lower_bound({t.below.ledger, t.below.entry}));
                   floors_[t.topic] = {t.below.ledger, t.below.entry};
                 },
                 [&](const Batch::Truncate& t) {
                   auto& log = logs_[t.topic];
                   log.erase(log.lower_bound({t.from.ledger, t.from.entry}), log.end());
                 },
                 [&](const Batch::PutSubscription& s) { subscriptions_[{s.topic, s.sub.name}] = s.sub; },
                 [&](const Batch::DeleteSubscription& s) {
                   subscriptions_.erase({s.topic, s.name});
                   cursors_.erase({s.topic, s.name});
                 },
                 [&](const Batch::PutCursor& c) { cursors_[{c.topic, c.subscription}] = c.cursor; },
                 [&](const Batch::PutSession& s) { sessions_[s.session.client_id] = s.session; },
                 [&](const Batch::DeleteSession& s) { sessions_.erase(s.client_id); },
                 [&](const Batch::PutRetained& r) { retained_[r.retained.topic] = r.retained; },
                 [&](const Batch::DeleteRetained& r) { retained_.erase(r.topic); },
                 [&](const Batch::PutWill& w) { wills_[w.will.client_id] = w.will; },
                 [&](const Batch::DeleteWill& w) { wills_.erase(w.client_id); },
                 [&](const Batch::DeleteTopic& t) {
                   std::erase_if(topics_, [&](const auto& kv) { return kv.second == t.topic; });
                   logs_.erase(t.topic);
                   floors_.erase(t.topic);
                   erase_topic(subscriptions_, t.topic);
                   erase_topic(cursors_, t.topic);
                   erase_topic(sequences_, t.topic);
                 },
                 [&](const Batch::PutPartitioned& p) { partitioned_[p.record.topic] = p.record; },
                 [&](const Batch::DeletePartitioned& p) { partitioned_.erase(p.topic); },
                 [&](const Batch::PutPermission& p) { permissions_[{p.record.resource, p.record.role}] = p.record; },
                 [&](const Batch::DeletePermission& p) { permissions_.erase({p.resource, p.role}); },
                 [&](const Batch::PutTenant& p) { tenants_[p.record.name] = p.record; },
                 [&](const Batch::DeleteTenant& p) { tenants_.erase(p.name); },
                 [&](const Batch::PutNamespace& p) { namespaces_[p.record.name] = p.record; },
                 [&](const Batch::DeleteNamespace& p) { namespaces_.erase(p.name); },
                 [&](const Batch::PutSchema& p) { schemas_[p.schema.topic] = p.schema; },
                 [&](const Batch::DeleteSchema& p) { schemas_.erase(p.topic); },
                 [&](const Batch::PutProducerSequence& p) { sequences_[{p.topic, p.sequence.producer}] = p.sequence; },
                 [&](const Batch::DeleteProducerSequence& p) { sequences_.erase({p.topic, p.producer}); },
             },
             op);
}

std::uint64_t MemoryStore::write_batches() const {
  std::lock_guard lock(mu_);
  return batches_;
}

void MemoryStore::fail_next_writes(int n, StorageErrc code) {
  std::lock_guard lock(mu_);
  failures_ = n;
  failure_code_ = code;
}

Result<std::uint64_t, Error> MemoryStore::ensure_topic(const std::string& name) {
  if (name.empty()) return Error(StorageErrc::invalid_argument, "empty topic name");
  std::lock_guard lock(mu_);
  const auto [it, inserted] = topics_.emplace(name, next_topic_id_);
  if (inserted) ++next_topic_id_;
  return it->second;
}

Result<std::optional<std::uint64_t>, Error> MemoryStore::find_topic(const std::string& name) const {
  std::lock_guard lock(mu_);
  const auto it = topics_.find(name);
  return it == topics_.end() ? std::optional<std::uint64_t>{} : std::optional{it->second};
}

Result<std::vector<TopicRecord>, Error> MemoryStore::topics() const {
  std::lock_guard lock(mu_);
  std::vector<TopicRecord> out;
  for (const auto& [name, id] : topics_) out.push_back({id, name});
  return out;
}

Result<std::optional<LogBounds>, Error> MemoryStore::log_bounds(std::uint64_t topic) const {
  std::lock_guard lock(mu_);
  const auto log = logs_.find(topic);
  const auto floor = floors_.find(topic);
  if (log != logs_.end() && !log->second.empty()) {
    const auto& [fl, fe] = log->second.begin()->first;
    const auto& [ll, le] = log->second.rbegin()->first;
    return std::optional{LogBounds{{fl, fe, -1}, {ll, le + 1, -1}}};
  }
  if (floor != floors_.end()) {
    const MessageId f{floor->second.first, floor->second.second, -1};
    return std::optional{LogBounds{f, f}};
  }
  return std::optional<LogBounds>{};
}

Result<std::vector<LogEntry>, Error> MemoryStore::log_read(std::uint64_t topic, MessageId from, MessageId end,
                                                      std::size_t max) const {
  std::lock_guard lock(mu_);
  std::vector<LogEntry> out;
  const auto log = logs_.find(topic);
  if (log == logs_.end()) return out;
  const Pos limit{end.ledger, end.entry};
  for (auto it = log->second.lower_bound({from.ledger, from.entry});
       it != log->second.end() && it->first < limit && out.size() < max; ++it) {
    out.push_back({{it->first.first, it->first.second, -1}, it->second});
  }
  return out;
}

Result<std::vector<SubscriptionRecord>, Error> MemoryStore::subscriptions(std::uint64_t topic) const {
  std::lock_guard lock(mu_);
  std::vector<SubscriptionRecord> out;
  for (auto it = subscriptions_.lower_bound({topic, std::string{}});
       it != subscriptions_.end() && it->first.first == topic; ++it) {
    out.push_back(it->second);
  }
  return out;
}

Result<std::optional<CursorRecord>, Error> MemoryStore::cursor(std::uint64_t topic, const std::string& subscription) const {
  std::lock_guard lock(mu_);
  const auto it = cursors_.find({topic, subscription});
  return it == cursors_.end() ? std::optional<CursorRecord>{} : std::optional{it->second};
}

Result<std::optional<SessionRecord>, Error> MemoryStore::session(const std::string& client_id) const {
  std::lock_guard lock(mu_);
  const auto it = sessions_.find(client_id);
  return it == sessions_.end() ? std::optional<SessionRecord>{} : std::optional{it->second};
}

Result<std::vector<SessionRecord>, Error> MemoryStore::sessions() const {
  std::lock_guard lock(mu_);
  std::vector<SessionRecord> out;
  for (const auto& [_, s] : sessions_) out.push_back(s);
  return out;
}

Result<std::vector<RetainedRecord>, Error> MemoryStore::retained() const {
  std::lock_guard lock(mu_);
  std::vector<RetainedRecord> out;
  for (const auto& [_, r] : retained_) out.push_back(r);
  return out;
}

Result<std::vector<WillRecord>, Error> MemoryStore::wills() const {
  std::lock_guard lock(mu_);
  std::vector<WillRecord> out;
  for (const auto& [_, w] : wills_) out.push_back(w);
  return out;
}

Result<std::vector<PermissionRecord>, Error> MemoryStore::permissions() const {
  std::lock_guard lock(mu_);
  std::vector<PermissionRecord> out;
  for (const auto& [k, r] : permissions_) out.push_back(r);
  return out;
}

Result<std::vector<TenantRecord>, Error> MemoryStore::tenants() const {
  std::lock_guard lock(mu_);
  std::vector<TenantRecord> out;
  for (const auto& [_, r] : tenants_) out.push_back(r);
  return out;
}

Result<std::vector<NamespaceRecord>, Error> MemoryStore::namespaces() const {
  std::lock_guard lock(mu_);
  std::vector<NamespaceRecord> out;
  for (const auto& [_, r] : namespaces_) out.push_back(r);
  return out;
}

Result<std::vector<PartitionedTopicRecord>, Error> MemoryStore::partitioned_topics() const {
  std::lock_guard lock(mu_);
  std::vector<PartitionedTopicRecord> out;
  for (const auto& [_, r] : partitioned_) out.push_back(r);
  return out;
}

Result<std::vector<SchemaRecord>, Error> MemoryStore::schemas() const {
  std::lock_guard lock(mu_);
  std::vector<SchemaRecord> out;
  for (const auto& [_, r] : schemas_) out.push_back(r);
  return out;
}

Result<std::optional<SchemaRecord>, Error> MemoryStore::schema(const std::string& topic) const {
  std::lock_guard lock(mu_);
  const auto it = schemas_.find(topic);
  return it == schemas_.end() ? std::optional<SchemaRecord>{} : std::optional{it->second};
}

Result<std::vector<ProducerSequence>, Error> MemoryStore::producer_sequences(std::uint64_t topic) const {
  std::lock_guard lock(mu_);
  std::vector<ProducerSequence> out;
  for (auto it = sequences_.lower_bound({topic, std::string{}}); it != sequences_.end() && it->first.first == topic; ++it) {
    out.push_back(it->second);
  }
  return out;
}

}  // namespace mop::storage
