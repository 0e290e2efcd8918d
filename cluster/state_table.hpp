#pragma once
// StateTable: a keyed Pulsar topic read as a table (Pulsar's "table view"): key -> the latest
// value written under it; an empty value deletes the key, as Pulsar's topic compaction does
// (compaction needs the namespace's compaction threshold or a manual `pulsar-admin topics
// compact`; without it the reader replays the whole topic at start, with the same result).
//
// A durable subscription, `mop-state-keeper`, that nobody reads keeps every message stored
// whatever the namespace's retention (so the topics grow with every write until compaction with
// retention replaces it; see cluster/README.md).
//
// Every proxy opens a reader of the topic from its start (read_compacted) and keeps folding what
// it reads into the table, so what another proxy writes shows here shortly after; writes go
// through one producer and complete after the broker's SEND_RECEIPT, and the written value is in
// the table from that moment (a read issued after a completed write sees it; the reader's echo
// of an older write of the same key does not bring the old value back).
//
// Threading: the Client's thread; callbacks come from the client's posted callbacks.
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <system_error>
#include <utility>
#include <vector>

#include "core/result.hpp"
#include "pulsar/client/client.hpp"

namespace mop::cluster {

class StateTable {
public:
  StateTable(pulsar::client::Client& client, std::string topic);
  ~StateTable();
  StateTable(const StateTable&) = delete;
  StateTable& operator=(const StateTable&) = delete;

  // Creates the producer and the reader and reads to the end of the topic as it is now; `done`
  // then, or with the error (the namespace does not exist, the cluster cannot be reached).
  void open(std::function<void(Result<void, Error>)> done);
  // Stores `value` under `key` (empty: deletes it); `done` after the broker's receipt, with the
  // error otherwise (the table is then unchanged). Before open() completed: service_not_ready.
  void write(const std::string& key, std::string value, std::function<void(Result<void, Error>)> done);
  // `done` once this table has read everything written to the topic before the call, by any
  // proxy: it writes a marker under kSyncKey and reads up to it (one marker in flight at a time;
  // callers waiting meanwhile share the next). With the error if the marker cannot be written.
  void sync(std::function<void(Result<void, Error>)> done);
  const std::map<std::string, std::string>& rows() const { return rows_; }
  const std::string& topic() const { return topic_; }
  // Whether the table's producer is connected to its broker now (false before open(), and while
  // it reconnects after the cluster or its broker went away).
  bool connected() const { return producer_ && producer_->connected(); }
  // Closes the producer and the reader; no callback runs after it.
  void close();

private:
  void open_producer(std::function<void(Result<void, Error>)> done);
  void send_sync_marker();
  void apply(const pulsar::client::Message& m);
  void set(const std::string& key, const std::string& value);

  pulsar::client::Client& client_;
  std::string topic_;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
  std::shared_ptr<pulsar::client::Producer> producer_;
  std::shared_ptr<pulsar::client::Consumer> reader_;
  std::map<std::string, std::string> rows_;
  // Per key, the id of this table's latest completed write: older messages the reader brings
  // for that key are not applied.
  std::map<std::string, pulsar::client::MessageId> written_;
  std::optional<pulsar::client::MessageId> target_;  // open()'s marker: read up to it, caught up
  std::function<void(Result<void, Error>)> caught_up_;
  // sync(): callers waiting for the next marker, whether one is being written, and the markers
  // written and not yet read, each with its callers.
  std::vector<std::function<void(Result<void, Error>)>> sync_waiting_;
  bool sync_writing_ = false;
  std::vector<std::pair<pulsar::client::MessageId, std::vector<std::function<void(Result<void, Error>)>>>> sync_targets_;
  std::optional<pulsar::client::MessageId> last_read_;
};

}  // namespace mop::cluster
