#pragma once
// RocksStore: the Store on RocksDB (format version 1, FORMAT.md). One column family per kind of
// record; log keys are big-endian (topic id, ledger, entry) so a topic's log is one contiguous,
// ordered key range.
//
// Durability by group commit, as BookKeeper's journal does: write() only queues. ONE storage
// thread takes everything queued (all topics, all connections) into one rocksdb::WriteBatch,
// writes it with WriteOptions::sync = Options::sync (journalSyncData), then posts each batch's
// completion to its caller's executor. A sync therefore covers every write that arrived while
// the previous one was in progress. With sync = false the WAL is still written before the
// completion: that survives a process crash (kill -9), not a power loss.
//
// A failed group fails every completion in it with the error and changes nothing (a WriteBatch
// is atomic). The storage thread then reopens the database before the next group (RocksDB's
// Resume() cannot clear a failed WAL writer), at most every 250 ms, so the store keeps serving
// and writes succeed again when the disk does. While the disk is still full the database cannot
// be opened for writing (recovery writes a table file), so it is opened read-only meanwhile:
// reads go on, writes fail with no_space. RocksDB's log lines go to mop's log (module
// "rocksdb"), not to a file in the store's directory.
//
// Topics: ensure_topic hands out the id at once; the topic record is written with the next
// group commit (and every later one until it succeeds), so it is durable no later than any
// record that refers to the id, and a topic first used on a full disk works once space returns.
//
// Threading: thread-safe. Reads run on the caller's thread (RocksDB is thread-safe); writes are
// applied on the storage thread this object owns; completions run on the callers' executors.
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <map>
#include <functional>
#include <vector>
#include <memory>
#include <mutex>
#include <set>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <thread>
#include <unordered_map>
#include <utility>

#include "storage/commit_stats.hpp"
#include "storage/encoding.hpp"
#include "storage/entry_log.hpp"
#include "storage/store.hpp"
#include "storage/zeroed_wal.hpp"

namespace rocksdb {
class DB;
class ColumnFamilyHandle;
class Env;
class FileSystem;
class Status;
}  // namespace rocksdb

namespace mop::storage {

class RocksStore final : public Store {
public:
  struct Options {
    // journalSyncData: fsync each group commit (true, BookKeeper's default) or only write the
    // WAL (false: survives a process crash, not a power loss).
    bool sync = true;
    bool create_if_missing = true;
    // Opens with RocksDB's read-only mode (`mop store check`): no lock taken, so a running mop's
    // store can be checked; every write fails.
    bool read_only = false;
    // `mop store check --repair`: opens a store whose records refer to missing ones (records of
    // unknown topics, cursors without subscriptions), which a normal open refuses, so that the
    // repair can see and remove them. The format version and the topics are still checked.
    bool repair = false;
    // Upper bound of one group commit, so that one sync's latency stays bounded under load.
    std::size_t max_group_bytes = 8u << 20;
    // Log entries (the `logs` column family) of at least this many bytes are kept in RocksDB's
    // blob files (integrated BlobDB) rather than in its table files, so compactions move a
    // 16-byte reference instead of the message (storeBlobMinSizeBytes; FORMAT.md, "Where the
    // bytes are"). 0: every value stays in the table files, as before.
    std::size_t blob_min_size = 4096;
    // Log entries of at least this many bytes (encoded) are written to the entry log
    // (entry_log.hpp: once, with direct I/O, synced before the RocksDB batch that refers to them
    // commits) and RocksDB keeps a reference (storeEntryLogMinSizeBytes; FORMAT.md, "Format 3").
    // 0: off. Turning it on makes the store format 3; references are read whatever the setting.
    std::size_t entry_log_min_size = 0;
    // An entry log file is closed and the next one started past this size.
    std::uint64_t entry_log_file_size = 256u << 20;
    // Tests: called on the storage thread after a group's entries are in the entry log and
    // before the RocksDB batch referring to them is written (a crash there is what it plays).
    std::function<void()> after_entry_log_write;
    // journalPreAllocSizeMB: the WAL's space is zeroed this far ahead of its appends, so that a
    // group commit's sync finds the file's blocks and size already durable (zeroed_wal.hpp).
    // 0: off (the WAL grows as it is written).
    std::uint64_t wal_zero_ahead = 0;
    // Tests: a wrapping file system to inject I/O errors. Null: the default one.
    std::shared_ptr<rocksdb::FileSystem> file_system;
  };

  // Column families, in the order of their handles. Those from kFirstAddedCf on were added to
  // format 1 later (FORMAT.md, "Additions"): created on open when missing, read as empty by a
  // read-only open of a store that lacks them.
  enum Cf : int {
    kDefault, kTopics, kLogs, kLogFloors, kSubscriptions, kCursors, kSessions, kRetained, kWills,
    kPartitioned, kSchemas, kProducerSequences, kPermissions, kTenants, kNamespaces, kEntryLogFiles, kCfCount
  };
  static constexpr int kFirstAddedCf = kPartitioned;
  static const char* cf_name(int cf);

  // Opens (or creates) the store in directory `path`. Refuses a store of a newer format
  // version; a corrupt store gives an error naming the file or the column family and key.
  static Result<std::unique_ptr<RocksStore>, Error> open(const std::string& path, Options options);
  static Result<std::unique_ptr<RocksStore>, Error> open(const std::string& path) { return open(path, Options{}); }

  RocksStore(const RocksStore&) = delete;
  RocksStore& operator=(const RocksStore&) = delete;
  // Writes everything queued, posts its completions, then closes the database.
  ~RocksStore() override;

  void write(Batch batch, Executor& executor, Completion done) override;
  Result<void, Error> flush() override;
  void begin_atomic() override;
  void end_atomic() override;
  std::uint64_t write_batches() const override { return batches_.load(); }
  // Entries per group commit and its write (sync) time, for /metrics: filled by the storage
  // thread with relaxed atomics, read by any thread.
  const CommitStats& commit_stats() const { return commit_stats_; }
  // The zeroed WAL's counters (Options::wal_zero_ahead); null when it is off.
  const WalZeroStats* wal_stats() const { return zeroed_wal_ ? &zeroed_wal_->stats() : nullptr; }
  // The store's format version as it is on disk now (after a migration at open: the new one).
  std::uint32_t format_version() const { return format_version_; }

  Result<std::uint64_t, Error> ensure_topic(const std::string& name) override;
  Result<std::optional<std::uint64_t>, Error> find_topic(const std::string& name) const override;
  Result<std::vector<TopicRecord>, Error> topics() const override;

  Result<std::optional<LogBounds>, Error> log_bounds(std::uint64_t topic) const override;
  Result<std::vector<LogEntry>, Error> log_read(std::uint64_t topic, MessageId from, MessageId end,
                                           std::size_t max) const override;

  Result<std::vector<SubscriptionRecord>, Error> subscriptions(std::uint64_t topic) const override;
  Result<std::optional<CursorRecord>, Error> cursor(std::uint64_t topic, const std::string& subscription) const override;

  Result<std::optional<SessionRecord>, Error> session(const std::string& client_id) const override;
  Result<std::vector<SessionRecord>, Error> sessions() const override;
  Result<std::vector<RetainedRecord>, Error> retained() const override;
  Result<std::vector<WillRecord>, Error> wills() const override;

  Result<std::vector<PartitionedTopicRecord>, Error> partitioned_topics() const override;
  Result<std::vector<PermissionRecord>, Error> permissions() const override;
  Result<std::vector<TenantRecord>, Error> tenants() const override;
  Result<std::vector<NamespaceRecord>, Error> namespaces() const override;
  Result<std::vector<SchemaRecord>, Error> schemas() const override;
  Result<std::optional<SchemaRecord>, Error> schema(const std::string& topic) const override;
  Result<std::vector<ProducerSequence>, Error> producer_sequences(std::uint64_t topic) const override;

  std::string describe() const override { return path_; }

  // Maintenance and tests: holds the storage thread (writes queue up but are not written) or
  // releases it. flush() while held waits for the release.
  void hold_writes(bool hold);
  // Maintenance and tests: flushes memtables to table files (the golden generator uses it so
  // that the checked-in store has its data in SST files, not only in the WAL).
  Result<void, Error> flush_memtables();

  // The bytes of a `logs` value: itself, or what its entry log reference points at (checksum
  // verified). The reason when the reference cannot be resolved (a missing or short file, a
  // checksum mismatch, an undecodable reference). Any thread.
  Result<void, std::string> resolve_log_value(std::string_view value, std::string& out) const;
  // Entry log files on disk (numbers), and those the store still refers to (tests, check).
  std::vector<std::uint64_t> entry_log_files_on_disk() const;

  // Number of failed group commits so far.
  std::uint64_t failed_batches() const { return failed_.load(); }

  // Repair only (Options::repair): writes raw records, synced, in one atomic batch. A value of
  // nullopt deletes the key.
  struct RawOp {
    int cf;
    std::string key;
    std::optional<std::string> value;
  };
  Result<void, Error> write_raw(const std::vector<RawOp>& ops);

  // Reading every record of a column family, for check tools: calls `visit(key, value)` in key
  // order; stops at the first error (a RocksDB status, e.g. a checksum mismatch).
  Result<void, Error> scan(int cf, const std::function<void(std::string_view key, std::string_view value)>& visit) const;

private:
  struct Request {
    Batch batch;
    Executor* executor;
    Completion done;
    std::uint64_t atomic = 0;  // non-zero: queued in that begin/end_atomic bracket, never split from it
  };

  RocksStore(std::string path, Options options);
  // The file whose flock(2) marks the store open for writing (lock_dir()).
  static constexpr const char* kLockFile = "mop.lock";
  Result<void, Error> lock_dir();
  Result<void, Error> open_db(bool create, bool read_only);
  void close_db();
  Result<void, Error> reopen();  // storage thread only
  Result<void, Error> load();
  void run();
  // Posts the group's completions with `result`: one task per executor, in queue order.
  void post_completions(std::vector<Request>& group, const Result<void, Error>& result);
  void add_to(void* write_batch, const Batch::Op& op);
  // For each DeleteTopic of a batch being queued: the name no longer maps to the id (mu_ held).
  void forget_deleted_topics(const Batch& batch);
  // Per group commit: where each session's last write is (request, operation), so that only
  // that one is written (storage thread only; cleared, not freed, between groups).
  std::unordered_map<std::string_view, std::pair<std::size_t, std::size_t>> last_session_write_;
  // Where each topic's last trim ended (storage thread only; forgotten after a failed group).
  std::unordered_map<std::uint64_t, MessageId> trim_floors_;
  // --- the entry log (Options::entry_log_min_size; storage thread only after open) ---------
  // Reads the entry_log_files column family and the floors of its topics; deletes files on
  // disk that nothing refers to (a crash's uncommitted tail alone in its file, a removal cut short).
  Result<void, Error> load_entry_log();
  // Files whose every entry is trimmed (or whose topics are deleted): their keys go with the
  // next group commit, the files after it.
  void find_removable_entry_log_files();
  std::unique_ptr<EntryLog> entry_log_;
  // Per entry log file: for each topic with entries in it, the last entry id it holds there.
  std::map<std::uint64_t, std::unordered_map<std::uint64_t, MessageId>> elog_files_;
  // Per topic with entries in the entry log: every entry below this id is trimmed.
  std::unordered_map<std::uint64_t, MessageId> elog_floors_;
  std::set<std::uint64_t> elog_removable_;
  // The references of the group being built, in the order of its large appends (add_to).
  std::vector<EntryRef> group_refs_;
  std::vector<bool> group_in_log_;  // per Append of the group, in order: is it in the entry log
  std::size_t group_append_ = 0;
  std::size_t group_ref_ = 0;

  Error status_error(const rocksdb::Status& s, int cf, std::string_view key, std::string_view what) const;
  Error value_error(int cf, std::string_view key, const std::string& why) const;
  Error missing_error(int cf, std::string_view key, const std::string& why) const;

  template <typename T, typename Decode>
  Result<std::vector<T>, Error> scan_decode(int cf, std::string_view lower, std::string_view upper, Decode decode) const;
  // The one record of `key` in `cf`, decoded as scan_decode does (`out` holds the key already);
  // none when absent (or when `cf` is missing from an older store opened read-only).
  template <typename T, typename Decode>
  Result<std::optional<T>, Error> get_decode(int cf, const std::string& key, std::string_view what, T out,
                                             Decode decode) const;

  const std::string path_;
  const Options options_;
  int lock_fd_ = -1;  // holds the flock on kLockFile (writable opens only)
  std::shared_ptr<ZeroedWalFileSystem> zeroed_wal_;  // before env_, which refers to it
  std::unique_ptr<rocksdb::Env> env_;
  // Replaced only by reopen() after a fatal write error, under db_mu_ held exclusively; every
  // use of db_ and cfs_ holds it shared (load() and the constructor path run before any sharing).
  mutable std::shared_mutex db_mu_;
  rocksdb::DB* db_ = nullptr;
  std::vector<rocksdb::ColumnFamilyHandle*> cfs_;

  // Topic names and ids, loaded at open; guarded by topics_mu_ (ensure_topic may race the
  // storage thread deleting a topic).
  mutable std::mutex topics_mu_;
  std::unordered_map<std::string, std::uint64_t> topic_ids_;
  std::unordered_map<std::uint64_t, std::string> topic_names_;
  std::uint64_t next_topic_id_ = 1;
  // The next id as last written: ids are never handed out twice, so the counter is written
  // whenever it moved, even when the topic that moved it was deleted before its record was.
  std::uint64_t durable_next_topic_id_ = 1;
  std::uint32_t format_version_ = 0;
  // Topics handed out by ensure_topic whose records are not durable yet: written (again) with
  // every group commit until one succeeds.
  std::map<std::uint64_t, std::string> unwritten_topics_;
  // Topics whose DeleteTopic failed (their writer was told): the broker has forgotten them and
  // their name may already be a new topic's, so their delete is written again with every group
  // commit until one succeeds (records left behind would belong to no topic, and a reopen would
  // refuse them). Storage thread only.
  std::set<std::uint64_t> undeleted_topics_;

  // The queue of the storage thread.
  std::mutex mu_;
  std::condition_variable wake_;     // the storage thread waits for work
  std::condition_variable drained_;  // flush() waits for done_seq_
  std::vector<Request> queue_;  // swapped with the storage thread's group (run())
  std::size_t queued_bytes_ = 0;  // Batch::bytes() of queue_
  std::uint64_t queued_seq_ = 0;
  std::uint64_t done_seq_ = 0;
  bool held_ = false;
  bool stopping_ = false;
  int atomic_depth_ = 0;           // open begin_atomic() brackets; the storage thread waits for 0
  std::uint64_t atomic_id_ = 0;    // the outermost open bracket's id
  std::uint64_t atomic_count_ = 0;
  // Touched by the storage thread only: a write failed, the database must be reopened first.
  bool needs_resume_ = false;
  std::chrono::steady_clock::time_point last_reopen_{};
  std::uint64_t failed_at_resume_ = 0;
  static constexpr std::chrono::milliseconds kReopenInterval{250};
  std::atomic<std::uint64_t> batches_{0};
  CommitStats commit_stats_;
  std::atomic<std::uint64_t> failed_{0};
  std::thread thread_;
};

}  // namespace mop::storage
