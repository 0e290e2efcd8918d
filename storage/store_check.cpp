#include "storage/store_check.hpp"

#include <fmt/format.h>

#include "storage/encoding.hpp"

namespace mop::storage {

CheckReport check_store(const Store& store) {
  CheckReport r;
  auto problem = [&r](const Error& e) { r.problems.push_back(e.to_string()); };

  auto topics = store.topics();
  if (!topics.ok()) {
    problem(topics.error());
  } else {
    r.topics = topics->size();
    for (const auto& t : *topics) {
      auto bounds = store.log_bounds(t.id);
      if (!bounds.ok()) {
        problem(bounds.error());
      } else if (*bounds) {
        // Every entry, in chunks, through the message decoder; ids must be contiguous.
        const LogBounds b = **bounds;
        MessageId next = b.first;
        while (next < b.end) {
          auto chunk = store.log_read(t.id, next, b.end, 1024);
          if (!chunk.ok()) {
            problem(chunk.error());
            break;
          }
          if (chunk->empty()) {
            r.problems.push_back(fmt::format("missing_record: topic {} (id {}) has no entries from {} to {} although its "
                                             "log ends at {} in store {}",
                                             t.name, t.id, next.to_string(), b.end.to_string(), b.end.to_string(),
                                             store.describe()));
            break;
          }
          for (const auto& e : *chunk) {
            if (e.id != next) {
              r.problems.push_back(fmt::format("missing_record: topic {} (id {}) lacks entry {} (next stored: {}) in "
                                               "store {}",
                                               t.name, t.id, next.to_string(), e.id.to_string(), store.describe()));
            }
            Message m;
            if (auto why = decode_message(e.value, m); !why.ok()) {
              r.problems.push_back(fmt::format("corruption: undecodable entry {} of topic {} (id {}) in column family "
                                               "'logs' of store {}: {}",
                                               e.id.to_string(), t.name, t.id, store.describe(), why.error()));
            } else {
              ++r.entries;
              r.entry_bytes += e.value.size();
            }
            next = {e.id.ledger, e.id.entry + 1, -1};
          }
        }
      }
      if (auto seqs = store.producer_sequences(t.id); !seqs.ok()) {
        problem(seqs.error());
      } else {
        r.producer_sequences += seqs->size();
      }
      auto subs = store.subscriptions(t.id);
      if (!subs.ok()) {
        problem(subs.error());
        continue;
      }
      r.subscriptions += subs->size();
      for (const auto& s : *subs) {
        auto c = store.cursor(t.id, s.name);
        if (!c.ok()) {
          problem(c.error());
        } else if (*c) {
          ++r.cursors;
        }
      }
    }
  }
  if (auto s = store.sessions(); !s.ok()) {
    problem(s.error());
  } else {
    r.sessions = s->size();
  }
  if (auto s = store.retained(); !s.ok()) {
    problem(s.error());
  } else {
    r.retained = s->size();
  }
  if (auto s = store.wills(); !s.ok()) {
    problem(s.error());
  } else {
    r.wills = s->size();
  }
  if (auto s = store.partitioned_topics(); !s.ok()) {
    problem(s.error());
  } else {
    r.partitioned_topics = s->size();
  }
  if (auto s = store.schemas(); !s.ok()) {
    problem(s.error());
  } else {
    r.schemas = s->size();
  }
  if (auto s = store.permissions(); !s.ok()) {
    problem(s.error());
  } else {
    r.permissions = s->size();
  }
  if (auto s = store.tenants(); !s.ok()) {
    problem(s.error());
  } else {
    r.tenants = s->size();
  }
  if (auto s = store.namespaces(); !s.ok()) {
    problem(s.error());
  } else {
    r.namespaces = s->size();
  }
  return r;
}

}  // namespace mop::storage
