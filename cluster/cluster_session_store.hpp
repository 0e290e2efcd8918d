#pragma once
// ClusterSessionStore: the service::SessionStore of `mop proxy`: MQTT session records and wills
// as keyed messages (key: the client id) on two topics of the system namespace, mqtt-sessions
// and mqtt-wills, each read back by every proxy as a StateTable (state_table.hpp). A write
// completes after the broker's receipt; reads answer from the table, which holds everything
// read so far plus this proxy's completed writes.
//
// Values: one byte 0x01, then the record as MessagePack (nlohmann-json's encoding; a will's
// message payload as binary). An empty value deletes the client's record. A will and a session
// record also name their owner: the instance id of the proxy that wrote them, whose liveness
// lease covers them (the wills and sessions of a proxy that died are taken over by another one,
// cluster/README.md); values written before owners existed name none and are nobody's to take
// over.
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "cluster/state_table.hpp"
#include "core/executor.hpp"
#include "service/session_store.hpp"

namespace mop::cluster {

class ClusterSessionStore final : public service::SessionStore {
public:
  // `owner`: this proxy's instance id, written into every will and session record it stores.
  ClusterSessionStore(Executor& executor, pulsar::client::Client& client, const std::string& system_namespace,
                      std::string owner);

  // Opens both tables and reads them to their end (see StateTable::open).
  void open(std::function<void(Result<void, Error>)> done);
  void close();
  // Whether both tables can be written now (their producers are connected).
  bool connected() const { return sessions_.connected() && wills_.connected(); }

  void put_session(service::SessionRecord session, service::StateDone done) override;
  void delete_session(const std::string& client_id, service::StateDone done) override;
  void put_will(service::WillRecord will, service::StateDone done) override;
  void delete_will(const std::string& client_id, service::StateDone done) override;
  void load(std::function<void(Result<service::SessionSnapshot, Error>)> done) override;
  void get_session(const std::string& client_id,
                   std::function<void(Result<std::optional<service::SessionRecord>, Error>)> done) override;
  void get_will(const std::string& client_id,
                std::function<void(Result<std::optional<service::WillRecord>, Error>)> done) override;

  // The client's session record as the table holds it now (std::nullopt: none, or undecodable).
  std::optional<service::SessionRecord> find_session(const std::string& client_id) const;
  // Completes once the sessions table has read everything stored before the call (StateTable::sync).
  void sync_sessions(std::function<void(Result<void, Error>)> done) { sessions_.sync(std::move(done)); }
  // What the tables hold now (decodable records only).
  std::vector<service::SessionRecord> sessions() const;
  std::vector<service::WillRecord> wills() const;
  // The wills the table holds now by owner, other than this proxy's and those naming no owner.
  std::map<std::string, std::vector<service::WillRecord>> wills_of_others() const;
  // The session records the table holds now whose owner is `owner`.
  std::vector<service::SessionRecord> sessions_of(const std::string& owner) const;
  // The owners named by the wills and session records the table holds now, other than this proxy.
  std::set<std::string> others() const;
  // Whether the table holds a will of the client id now (whoever wrote it), and whether it is
  // this proxy's.
  bool has_will(const std::string& client_id) const;
  bool owns_will(const std::string& client_id) const;

  // The value encodings (unit-tested on their own).
  static std::string encode_session(const service::SessionRecord& s, const std::string& owner = {});
  // `owner` (may be null) gets the owner named by the value ("" when none).
  static std::optional<service::SessionRecord> decode_session(std::string_view value, std::string* owner = nullptr);
  static std::string encode_will(const service::WillRecord& w, const std::string& owner = {});
  // `owner` (may be null) gets the owner named by the value ("" when none).
  static std::optional<service::WillRecord> decode_will(std::string_view value, std::string* owner = nullptr);
  // A message with extra string fields (a retained message: none; a will: its own fields).
  static std::string encode_message(const service::Message& m, const std::map<std::string, std::string>& extra);
  static std::optional<service::Message> decode_message(std::string_view value,
                                                        std::map<std::string, std::string>* extra);

private:
  void write(StateTable& table, const std::string& key, std::string value, service::StateDone done);

  Executor& executor_;
  std::string owner_;
  StateTable sessions_;
  StateTable wills_;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

}  // namespace mop::cluster
