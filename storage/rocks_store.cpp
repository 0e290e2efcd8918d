#include "storage/rocks_store.hpp"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <chrono>
#include <cstdarg>
#include <cstdio>
#include <filesystem>
#include <iterator>
#include <set>
#include <shared_mutex>

#include <pthread.h>
#include <sched.h>

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <fmt/format.h>
#include <rocksdb/db.h>
#include <rocksdb/env.h>
#include <rocksdb/file_system.h>
#include <rocksdb/options.h>
#include <rocksdb/perf_level.h>
#include <rocksdb/write_batch.h>

#include "core/log.hpp"
#include "storage/crc32c.hpp"
#include "storage/encoding.hpp"

namespace mop::storage {

namespace {

// RocksDB's informational log goes to mop's log (module "rocksdb"), not to a LOG file in the
// data directory: on a full disk that file's writer fails, and Debian's RocksDB (built with
// assertions) then aborts the process at the next line it logs (the error handler logs the
// very write error that filled the disk). One level lower than RocksDB says: its INFO lines
// (option dumps, flushes, compactions) are mop's debug, its warnings info and its errors
// warnings, since what matters to a user (a failed write) is logged by the store itself, at
// error level, naming what failed.
class SpdlogRocksLogger final : public rocksdb::Logger {
public:
  SpdlogRocksLogger() : rocksdb::Logger(rocksdb::InfoLogLevel::INFO_LEVEL), log_(log::get("rocksdb")) {}

  using rocksdb::Logger::Logv;
  void Logv(const char* format, va_list ap) override { Logv(rocksdb::InfoLogLevel::INFO_LEVEL, format, ap); }
  void Logv(const rocksdb::InfoLogLevel level, const char* format, va_list ap) override {
    const auto to = level == rocksdb::InfoLogLevel::HEADER_LEVEL  ? spdlog::level::debug
                    : level >= rocksdb::InfoLogLevel::FATAL_LEVEL ? spdlog::level::err
                    : level >= rocksdb::InfoLogLevel::ERROR_LEVEL ? spdlog::level::warn
                    : level >= rocksdb::InfoLogLevel::WARN_LEVEL  ? spdlog::level::info
                                                                  : spdlog::level::debug;
    if (!log_->should_log(to)) return;
    char buf[1024];
    va_list copy;
    va_copy(copy, ap);
    const int n = std::vsnprintf(buf, sizeof buf, format, copy);
    va_end(copy);
    if (n < 0) return;
    if (static_cast<std::size_t>(n) < sizeof buf) {
      log_->log(to, "{}", std::string_view(buf, static_cast<std::size_t>(n)));
      return;
    }
    std::string big(static_cast<std::size_t>(n) + 1, '\0');
    std::vsnprintf(big.data(), big.size(), format, ap);
    big.resize(static_cast<std::size_t>(n));
    log_->log(to, "{}", big);
  }

protected:
  rocksdb::Status CloseImpl() override { return rocksdb::Status::OK(); }

private:
  std::shared_ptr<spdlog::logger> log_;
};

constexpr std::string_view kFormatVersionKey = "format_version";
constexpr std::string_view kNextTopicIdKey = "next_topic_id";

template <class... Ts>
struct Overloaded : Ts... {
  using Ts::operator()...;
};
template <class... Ts>
Overloaded(Ts...) -> Overloaded<Ts...>;

StorageErrc errc_of(const rocksdb::Status& s) {
  if (s.IsCorruption()) return StorageErrc::corruption;
  if (s.IsNoSpace()) return StorageErrc::no_space;
  if (s.IsInvalidArgument()) return StorageErrc::invalid_argument;
  return StorageErrc::io_error;
}

std::string be32(std::uint32_t v) {
  std::string s(4, '\0');
  for (int i = 0; i < 4; ++i) s[static_cast<std::size_t>(i)] = static_cast<char>((v >> (24 - 8 * i)) & 0xFF);
  return s;
}

rocksdb::Slice slice(std::string_view s) { return {s.data(), s.size()}; }
std::string_view view(const rocksdb::Slice& s) { return {s.data(), s.size()}; }

// The exclusive upper bound of every key that starts with topic `id`'s 8-byte prefix.
std::string topic_end(std::uint64_t id) {
  return id == UINT64_MAX ? std::string(9, '\xff') : key::topic_prefix(id + 1);
}

}  // namespace

const char* RocksStore::cf_name(int cf) {
  static constexpr const char* names[kCfCount] = {"default",  "topics",   "logs",     "log_floors",
                                                  "subscriptions", "cursors", "sessions", "retained",
                                                  "wills",    "partitioned_topics", "schemas", "producer_sequences",
                                                  "permissions", "tenants", "namespaces", "entry_log_files"};
  return cf >= 0 && cf < kCfCount ? names[cf] : "?";
}

RocksStore::RocksStore(std::string path, Options options) : path_(std::move(path)), options_(std::move(options)) {}

Error RocksStore::status_error(const rocksdb::Status& s, int cf, std::string_view k, std::string_view what) const {
  return Error(errc_of(s), fmt::format("{} in column family '{}'{} of store {}: {}", what, cf_name(cf),
                                       k.empty() ? std::string{} : fmt::format(" at key \"{}\"", key::printable(k)),
                                       path_, s.ToString()));
}

Error RocksStore::value_error(int cf, std::string_view k, const std::string& why) const {
  return Error(StorageErrc::corruption, fmt::format("undecodable value in column family '{}' key \"{}\" of store {}: {}",
                                                    cf_name(cf), key::printable(k), path_, why));
}

Error RocksStore::missing_error(int cf, std::string_view k, const std::string& why) const {
  return Error(StorageErrc::missing_record, fmt::format("column family '{}' key \"{}\" of store {}: {}", cf_name(cf),
                                                        key::printable(k), path_, why));
}

namespace {

// RocksDB's own data files: NNNNNN.sst, NNNNNN.blob, NNNNNN.log (write-ahead log), MANIFEST-NNNNNN. Other
// files in the directory (an operator's mop.log, say) are not store data.
bool is_rocksdb_data_file(const std::string& name) {
  if (name.starts_with("MANIFEST-")) return true;
  for (const std::string_view ext : {std::string_view(".sst"), std::string_view(".blob"), std::string_view(".log")}) {
    if (!name.ends_with(ext) || name.size() == ext.size()) continue;
    const std::string_view stem(name.data(), name.size() - ext.size());
    if (std::all_of(stem.begin(), stem.end(), [](char c) { return c >= '0' && c <= '9'; })) return true;
  }
  return false;
}

}  // namespace

Result<std::unique_ptr<RocksStore>, Error> RocksStore::open(const std::string& path, Options options) {
  namespace fs = std::filesystem;
  std::unique_ptr<RocksStore> store(new RocksStore(path, std::move(options)));
  const Options& o = store->options_;

  std::error_code fec;
  const bool exists = fs::exists(fs::path(path) / "CURRENT", fec);
  if (!exists) {
    // A directory with table files or a manifest but no CURRENT is a damaged store: RocksDB would
    // create a new, empty database over it and the data would be silently gone.
    if (fs::is_directory(path, fec)) {
      for (const auto& e : fs::directory_iterator(path, fec)) {
        const auto name = e.path().filename().string();
        if (is_rocksdb_data_file(name)) {
          return Error(StorageErrc::corruption,
                       fmt::format("store {} has data files (e.g. {}) but no CURRENT file: truncated or damaged", path, name));
        }
      }
      for (const auto& e : fs::directory_iterator(fs::path(path) / "entrylog", fec)) {
        return Error(StorageErrc::corruption,
                     fmt::format("store {} has entry log files (e.g. entrylog/{}) but no CURRENT file: truncated or damaged",
                                 path, e.path().filename().string()));
      }
    }
    if (!o.create_if_missing || o.read_only) return Error(StorageErrc::closed, fmt::format("no store at {}", path));
  }
  if (!o.read_only) {
    if (auto locked = store->lock_dir(); !locked.ok()) return std::move(locked).error();
  }
  if (auto opened = store->open_db(!exists, o.read_only); !opened.ok()) return std::move(opened).error();

  if (!exists) {
    rocksdb::WriteBatch wb;
    wb.Put(store->cfs_[kDefault], slice(kFormatVersionKey),
           be32(o.entry_log_min_size > 0 ? kFormatVersion : kFormatVersionWithoutEntryLog));
    std::string next;
    key::put_be64(next, 1);
    wb.Put(store->cfs_[kDefault], slice(kNextTopicIdKey), next);
    rocksdb::WriteOptions wo;
    wo.sync = true;
    const auto ws = store->db_->Write(wo, &wb);
    if (!ws.ok()) return store->status_error(ws, kDefault, kFormatVersionKey, "cannot initialize the store");
  }

  if (auto loaded = store->load(); !loaded.ok()) return std::move(loaded).error();
  if (auto loaded = store->load_entry_log(); !loaded.ok()) return std::move(loaded).error();
  store->thread_ = std::thread([s = store.get()] { s->run(); });
  return store;
}

// An exclusive flock(2) on <dir>/mop.lock, held while this RocksStore lives, so that a second
// writer (another mop, `mop store check --repair`, a second RocksStore in this process: a flock
// belongs to the open file, not to the process) fails with StorageErrc::locked. RocksDB's own
// LOCK file cannot tell us this: a held lock comes back as a plain IOError, distinguishable from
// a failing disk only by its text, and closing a second descriptor of that file would drop
// RocksDB's fcntl lock for the whole process.
Result<void, Error> RocksStore::lock_dir() {
  std::error_code fec;
  std::filesystem::create_directories(path_, fec);
  if (fec) return Error(StorageErrc::io_error, fmt::format("cannot create the directory of store {}: {}", path_, fec.message()));
  const std::string file = (std::filesystem::path(path_) / kLockFile).string();
  const int fd = ::open(file.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) {
    const int err = errno;
    return Error(err == ENOSPC ? StorageErrc::no_space : StorageErrc::io_error,
                 fmt::format("cannot open {}: {}", file, std::strerror(err)));
  }
  if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
    const int err = errno;
    ::close(fd);
    if (err == EWOULDBLOCK) {
      return Error(StorageErrc::locked, fmt::format("store {} is open for writing elsewhere ({} is locked)", path_, file));
    }
    return Error(StorageErrc::io_error, fmt::format("cannot lock {}: {}", file, std::strerror(err)));
  }
  lock_fd_ = fd;
  return {};
}

Result<void, Error> RocksStore::open_db(bool create, bool read_only) {
  // Every checksum RocksDB computes runs on mop's CRC32C (crc32c.cpp), not the library's tables.
  log::get("storage")->debug("store {}: CRC32C on {}", path_, crc32c_implementation());
  rocksdb::DBOptions db;
  db.paranoid_checks = true;
  // A torn WAL tail (a crash in the middle of a write nobody was told about) is dropped; any
  // other WAL damage stops recovery with an error rather than skipping data.
  db.wal_recovery_mode = rocksdb::WALRecoveryMode::kPointInTimeRecovery;
  db.info_log = std::make_shared<SpdlogRocksLogger>();
  db.info_log_level = rocksdb::InfoLogLevel::INFO_LEVEL;
  // The WAL kept for recovery is bounded: a write-ahead log file is deleted only once every
  // column family with data in it is flushed, and the rarely written ones (cursors, sessions)
  // would otherwise keep gigabytes of the logs' WAL alive (RocksDB's default bound is four
  // times the memtables of every column family), all of it read back after a crash.
  db.max_total_wal_size = 128u << 20;
  if (!env_) {
    auto file_system = options_.file_system;
    if (!read_only && options_.wal_zero_ahead > 0) {
      // The WAL's appends land on zeros already on disk, so each group commit's sync writes
      // the bytes and nothing of the file system's own (zeroed_wal.hpp).
      zeroed_wal_ = std::make_shared<ZeroedWalFileSystem>(file_system ? file_system : rocksdb::FileSystem::Default(),
                                                          path_, options_.wal_zero_ahead);
      file_system = zeroed_wal_;
    }
    if (file_system) env_ = rocksdb::NewCompositeEnv(file_system);
  }
  if (env_) db.env = env_.get();
  db.create_if_missing = create;
  // Column families added to the format later are created in an older store on open (a
  // read-only open cannot, and reads them as empty).
  db.create_missing_column_families = !read_only;

  std::vector<std::string> names;
  if (!create) {
    const auto s = rocksdb::DB::ListColumnFamilies(db, path_, &names);
    if (!s.ok()) return Error(errc_of(s), fmt::format("cannot read the manifest of store {}: {}", path_, s.ToString()));
    if (!read_only) {
      for (int i = kFirstAddedCf; i < kCfCount; ++i) {
        if (std::find(names.begin(), names.end(), cf_name(i)) == names.end()) names.emplace_back(cf_name(i));
      }
    }
  } else {
    for (int i = 0; i < kCfCount; ++i) names.emplace_back(cf_name(i));
  }
  std::vector<rocksdb::ColumnFamilyDescriptor> descriptors;
  for (const auto& n : names) {
    rocksdb::ColumnFamilyOptions cf;
    if (n == cf_name(kLogs) && options_.blob_min_size > 0) {
      // Large log entries go to blob files at flush (integrated BlobDB): the table files keep
      // the key and a reference, so compactions copy references, not payloads. Blob files are
      // written once, sequentially; a trimmed range's blobs become garbage and the files are
      // deleted once all of theirs is (garbage collection relocates the live rest of the oldest
      // quarter of files during compactions). Not compressed: MQTT and Pulsar payloads are
      // often compressed already (a Pulsar batch is, as its producer chose).
      cf.enable_blob_files = true;
      cf.min_blob_size = options_.blob_min_size;
      cf.blob_file_size = 256u << 20;
      cf.blob_compression_type = rocksdb::kNoCompression;
      cf.enable_blob_garbage_collection = true;
    }
    // Either way a store opens: blob files already written stay readable when blob_min_size is 0
    // (new entries then stay in the table files), and a store without any gets them from now on.
    descriptors.emplace_back(n, cf);
  }
  std::vector<rocksdb::ColumnFamilyHandle*> handles;
  const auto s = read_only ? rocksdb::DB::OpenForReadOnly(db, path_, descriptors, &handles, &db_)
                            : rocksdb::DB::Open(db, path_, descriptors, &handles, &db_);
  if (!s.ok()) {
    db_ = nullptr;
    return Error(errc_of(s), fmt::format("cannot open store {}: {}", path_, s.ToString()));
  }

  // Handles by our column family numbers; extra ones (unknown to v1) are released at once.
  cfs_.assign(kCfCount, nullptr);
  for (std::size_t i = 0; i < names.size(); ++i) {
    int cf = -1;
    for (int c = 0; c < kCfCount; ++c) {
      if (names[i] == cf_name(c)) cf = c;
    }
    if (cf >= 0) {
      cfs_[static_cast<std::size_t>(cf)] = handles[i];
    } else {
      db_->DestroyColumnFamilyHandle(handles[i]);
    }
  }
  return {};
}

void RocksStore::close_db() {
  if (!db_) return;
  for (auto*& h : cfs_) {
    if (h) db_->DestroyColumnFamilyHandle(h);
    h = nullptr;
  }
  db_->Close();
  delete db_;
  db_ = nullptr;
}

Result<void, Error> RocksStore::reopen() {
  // Exclusive: readers on other threads hold db_mu_ shared while they use db_.
  std::unique_lock lock(db_mu_);
  close_db();
  auto e = open_db(false, options_.read_only);
  if (!e.ok() && !options_.read_only) {
    // Opening for writing fails while the disk is still full (recovery flushes the WAL it
    // replays to a table file). A read-only instance writes nothing: subscribers keep reading
    // their backlog meanwhile, and the next group commit tries writing again.
    if (auto ro = open_db(false, true); !ro.ok()) {
      log::get("storage")->error("store {} cannot be opened read-only either: {}", path_, ro.error().to_string());
    }
  }
  return e;
}

Result<void, Error> RocksStore::load() {
  // The format version first: a newer store is refused before anything else is interpreted.
  std::string v;
  auto s = db_->Get(rocksdb::ReadOptions{}, cfs_[kDefault], slice(kFormatVersionKey), &v);
  if (s.IsNotFound()) {
    return missing_error(kDefault, kFormatVersionKey, "no format version record: not a mop store, or damaged");
  }
  if (!s.ok()) return status_error(s, kDefault, kFormatVersionKey, "cannot read the format version");
  if (v.size() != 4) return value_error(kDefault, kFormatVersionKey, "format version is not 4 bytes");
  const auto version = static_cast<std::uint32_t>(key::get_be64(std::string(4, '\0') + v));
  if (version > kFormatVersion) {
    return Error(StorageErrc::newer_format,
                 fmt::format("store {} has format version {}, this mop reads format versions up to {}: refusing to "
                             "open it (use a newer mop)",
                             path_, version, kFormatVersion));
  }
  if (version == 0) return value_error(kDefault, kFormatVersionKey, "format version 0");
  format_version_ = version;
  for (int cf = 0; cf < kFirstAddedCf; ++cf) {
    if (!cfs_[static_cast<std::size_t>(cf)]) {
      return Error(StorageErrc::missing_record,
                   fmt::format("store {} lacks column family '{}' required by format version {}", path_, cf_name(cf), version));
    }
  }

  s = db_->Get(rocksdb::ReadOptions{}, cfs_[kDefault], slice(kNextTopicIdKey), &v);
  if (s.IsNotFound()) return missing_error(kDefault, kNextTopicIdKey, "no next topic id record");
  if (!s.ok()) return status_error(s, kDefault, kNextTopicIdKey, "cannot read the next topic id");
  if (v.size() != 8) return value_error(kDefault, kNextTopicIdKey, "next topic id is not 8 bytes");
  next_topic_id_ = key::get_be64(v);
  durable_next_topic_id_ = next_topic_id_;

  // Topics: every record decoded now, so that a damaged one stops the start instead of its
  // topic silently coming back empty.
  std::optional<Error> error;
  auto err = scan(kTopics, [&](std::string_view k, std::string_view value) {
    if (error) return;
    std::uint64_t id = 0;
    if (auto why = decode_topic_value(value, id); !why.ok()) {
      error = value_error(kTopics, k, why.error());
      return;
    }
    if (id == 0 || id >= next_topic_id_) {
      error = value_error(kTopics, k, fmt::format("topic id {} outside [1, next topic id {})", id, next_topic_id_));
      return;
    }
    if (!topic_names_.emplace(id, std::string(k)).second) {
      error = value_error(kTopics, k, fmt::format("topic id {} used twice", id));
      return;
    }
    topic_ids_.emplace(std::string(k), id);
  });
  if (!err.ok()) return err;
  if (error) return *error;
  if (options_.repair) return {};  // the references below are what a repair looks at

  // Every record keyed by a topic id must belong to a known topic (a torn or partial store
  // otherwise shows up as a topic whose history is silently ignored). One seek per topic id.
  for (const int cf : {kLogs, kLogFloors, kSubscriptions, kCursors, kProducerSequences}) {
    if (!cfs_[static_cast<std::size_t>(cf)]) continue;  // an added CF in a read-only open of an older store
    std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions{}, cfs_[static_cast<std::size_t>(cf)]));
    for (it->SeekToFirst(); it->Valid();) {
      const auto k = view(it->key());
      if (k.size() < 8 || (cf == kLogs && k.size() != 24) || (cf == kLogFloors && k.size() != 8)) {
        return Error(StorageErrc::corruption, fmt::format("malformed key \"{}\" in column family '{}' of store {}",
                                                          key::printable(k), cf_name(cf), path_));
      }
      const auto id = key::get_be64(k);
      if (!topic_names_.contains(id)) {
        return missing_error(cf, k, fmt::format("refers to topic id {}, which has no record in 'topics'", id));
      }
      if (id == UINT64_MAX) break;
      it->Seek(slice(key::topic_prefix(id + 1)));
    }
    if (!it->status().ok()) return status_error(it->status(), cf, {}, "cannot scan");
  }
  // A cursor without its subscription record is a partial write of the pair.
  std::set<std::string> subs;
  err = scan(kSubscriptions, [&](std::string_view k, std::string_view) { subs.emplace(k); });
  if (!err.ok()) return err;
  err = scan(kCursors, [&](std::string_view k, std::string_view) {
    if (!error && !subs.contains(std::string(k))) error = missing_error(kCursors, k, "cursor without a subscription record");
  });
  if (!err.ok()) return err;
  if (error) return *error;
  // Migration from format 1: every format 1 value is a valid format 2 value (format 2 only added
  // value versions), so the store becomes format 2 by its version record alone, once it has
  // been read through without error. A read-only open (mop store check) leaves it as it is.
  // Format 3 only once the entry log is on (FORMAT.md, "Format 3"): a store that never used it
  // stays readable by a format 2 mop.
  const std::uint32_t target = options_.entry_log_min_size > 0 ? kFormatVersion : kFormatVersionWithoutEntryLog;
  if (version < target && !options_.read_only) {
    rocksdb::WriteOptions wo;
    wo.sync = true;
    const auto ws = db_->Put(wo, cfs_[kDefault], slice(kFormatVersionKey), be32(target));
    if (!ws.ok()) return status_error(ws, kDefault, kFormatVersionKey, "cannot migrate the store to the new format");
    log::get("storage")->info("store {}: migrated from format version {} to {} (no record rewritten)", path_, version,
                              target);
    format_version_ = target;
  }
  return {};
}

RocksStore::~RocksStore() {
  if (thread_.joinable()) {
    {
      std::lock_guard lock(mu_);
      stopping_ = true;
      held_ = false;
    }
    wake_.notify_all();
    thread_.join();
  }
  // A clean close leaves nothing to replay: the memtables go to table files now, so the next
  // open does not read the write-ahead log back (seconds with a large backlog). Not after a
  // failed write (the database is not trusted with more writes then) nor read-only.
  if (db_ && !options_.read_only && !needs_resume_) {
    rocksdb::FlushOptions fo;
    fo.wait = true;
    std::vector<rocksdb::ColumnFamilyHandle*> all;
    for (auto* h : cfs_) {
      if (h) all.push_back(h);
    }
    if (const auto s = db_->Flush(fo, all); !s.ok()) {
      log::get("storage")->warn("store {}: flushing memtables at close failed ({}); the next open replays the "
                                "write-ahead log",
                                path_, s.ToString());
    }
  }
  close_db();
  if (lock_fd_ >= 0) ::close(lock_fd_);
}

void RocksStore::write(Batch batch, Executor& executor, Completion done) {
  {
    std::lock_guard lock(mu_);
    if (stopping_) {
      if (done) {
        executor.post([done = std::move(done), p = path_] {
          done(Result<void, Error>(Error(StorageErrc::closed, "store " + p + " is closing")));
        });
      }
      return;
    }
    forget_deleted_topics(batch);
    queued_bytes_ += batch.bytes();
    queue_.push_back({std::move(batch), &executor, std::move(done), atomic_depth_ > 0 ? atomic_id_ : 0});
    ++queued_seq_;
  }
  wake_.notify_one();
}

void RocksStore::forget_deleted_topics(const Batch& batch) {
  // A deleted topic's name is free from now on: ensure_topic() of the same name (a publish
  // recreating it) gets a fresh id, whose records the queued DeleteTopic does not touch. The id's
  // name stays known until the delete is written (add_to needs it for the topic record).
  for (const auto& op : batch.ops()) {
    const auto* t = std::get_if<Batch::DeleteTopic>(&op);
    if (t == nullptr) continue;
    std::lock_guard lock(topics_mu_);
    unwritten_topics_.erase(t->topic);  // everything of the id goes with the delete anyway
    const auto it = topic_names_.find(t->topic);
    if (it == topic_names_.end()) continue;
    if (const auto id = topic_ids_.find(it->second); id != topic_ids_.end() && id->second == t->topic) {
      topic_ids_.erase(id);
    }
  }
}

void RocksStore::begin_atomic() {
  std::lock_guard lock(mu_);
  if (atomic_depth_++ == 0) atomic_id_ = ++atomic_count_;
}

void RocksStore::end_atomic() {
  {
    std::lock_guard lock(mu_);
    if (atomic_depth_ > 0) --atomic_depth_;
  }
  wake_.notify_all();
}

Result<void, Error> RocksStore::flush() {
  std::unique_lock lock(mu_);
  const auto target = queued_seq_;
  drained_.wait(lock, [&] { return done_seq_ >= target; });
  return {};
}

void RocksStore::hold_writes(bool hold) {
  {
    std::lock_guard lock(mu_);
    held_ = hold;
  }
  wake_.notify_all();
}

void RocksStore::add_to(void* write_batch, const Batch::Op& op) {
  auto& wb = *static_cast<rocksdb::WriteBatch*>(write_batch);
  auto* logs = cfs_[kLogs];
  std::visit(
      Overloaded{
          [&](const Batch::Append& a) {
            // The value's parts go into the write batch as they are: the payload is copied there
            // straight from the message's buffer (no encoded copy of it in between).
            char k[key::kLogKeySize];
            key::log_into(k, a.topic, a.id);
            const rocksdb::Slice key_part(k, sizeof k);
            // A large entry already in the entry log (run()): RocksDB keeps its reference.
            const bool in_log = group_append_ < group_in_log_.size() && group_in_log_[group_append_];
            ++group_append_;
            if (in_log && group_ref_ < group_refs_.size()) {
              wb.Put(logs, key_part, encode_entry_ref(group_refs_[group_ref_++]));
              return;
            }
            const rocksdb::Slice parts[] = {rocksdb::Slice(a.value.head),
                                            rocksdb::Slice(a.value.payload.view().data(), a.value.payload.size()),
                                            rocksdb::Slice(a.value.tail)};
            wb.Put(logs, rocksdb::SliceParts(&key_part, 1), rocksdb::SliceParts(parts, 3));
          },
          [&](const Batch::Trim& t) {
            // From where the previous trim of this topic ended: RocksDB fragments overlapping range
            // tombstones at every flush and read, so trims that all started at 0 cost quadratic
            // time and memory (a flush of a few seconds of acknowledged QoS 1 traffic took minutes
            // and gigabytes). Disjoint ranges cost one fragment each.
            auto floor = trim_floors_.try_emplace(t.topic, MessageId{0, 0, -1}).first;
            const auto lo = key::log(t.topic, floor->second), hi = key::log(t.topic, t.below);
            if (lo < hi) {  // keys are big-endian: byte order is id order
              wb.DeleteRange(logs, lo, hi);
              floor->second = t.below;
            }
            wb.Put(cfs_[kLogFloors], key::topic_prefix(t.topic), encode_position(t.below));
          },
          [&](const Batch::Truncate& t) {
            wb.DeleteRange(logs, key::log(t.topic, t.from), topic_end(t.topic));
            trim_floors_.erase(t.topic);  // ids below the last trim may be written again
          },
          [&](const Batch::PutSubscription& s) {
            wb.Put(cfs_[kSubscriptions], key::topic_named(s.topic, s.sub.name), encode_subscription(s.sub));
          },
          [&](const Batch::DeleteSubscription& s) {
            wb.Delete(cfs_[kSubscriptions], key::topic_named(s.topic, s.name));
            wb.Delete(cfs_[kCursors], key::topic_named(s.topic, s.name));
          },
          [&](const Batch::PutCursor& c) {
            wb.Put(cfs_[kCursors], key::topic_named(c.topic, c.subscription), encode_cursor(c.cursor));
          },
          [&](const Batch::PutSession& s) { wb.Put(cfs_[kSessions], s.session.client_id, encode_session(s.session)); },
          [&](const Batch::DeleteSession& s) { wb.Delete(cfs_[kSessions], s.client_id); },
          [&](const Batch::PutRetained& r) { wb.Put(cfs_[kRetained], r.retained.topic, encode_message(r.retained.message)); },
          [&](const Batch::DeleteRetained& r) { wb.Delete(cfs_[kRetained], r.topic); },
          [&](const Batch::PutWill& w) { wb.Put(cfs_[kWills], w.will.client_id, encode_will(w.will)); },
          [&](const Batch::DeleteWill& w) { wb.Delete(cfs_[kWills], w.client_id); },
          [&](const Batch::DeleteTopic& t) {
            const auto lo = key::topic_prefix(t.topic), hi = topic_end(t.topic);
            wb.DeleteRange(logs, lo, hi);
            wb.Delete(cfs_[kLogFloors], lo);
            trim_floors_.erase(t.topic);
            wb.DeleteRange(cfs_[kSubscriptions], lo, hi);
            wb.DeleteRange(cfs_[kCursors], lo, hi);
            if (cfs_[kProducerSequences]) wb.DeleteRange(cfs_[kProducerSequences], lo, hi);
            // The topic record, unless the name was given to a new topic since (its own record,
            // written with this group or an earlier one, replaces the old one).
            std::lock_guard lock(topics_mu_);
            if (const auto it = topic_names_.find(t.topic); it != topic_names_.end() && !topic_ids_.contains(it->second))
              wb.Delete(cfs_[kTopics], it->second);
          },
          // The added CFs are missing only in a read-only store, whose writes fail anyway.
          [&](const Batch::PutPermission& p) {
            if (cfs_[kPermissions])
              wb.Put(cfs_[kPermissions], permission_key(p.record.resource, p.record.role), encode_permission(p.record));
          },
          [&](const Batch::DeletePermission& p) {
            if (cfs_[kPermissions]) wb.Delete(cfs_[kPermissions], permission_key(p.resource, p.role));
          },
          [&](const Batch::PutTenant& p) {
            if (cfs_[kTenants]) wb.Put(cfs_[kTenants], p.record.name, encode_tenant(p.record));
          },
          [&](const Batch::DeleteTenant& p) {
            if (cfs_[kTenants]) wb.Delete(cfs_[kTenants], p.name);
          },
          [&](const Batch::PutNamespace& p) {
            if (cfs_[kNamespaces]) wb.Put(cfs_[kNamespaces], p.record.name, encode_namespace(p.record));
          },
          [&](const Batch::DeleteNamespace& p) {
            if (cfs_[kNamespaces]) wb.Delete(cfs_[kNamespaces], p.name);
          },
          [&](const Batch::PutPartitioned& p) {
            if (cfs_[kPartitioned]) wb.Put(cfs_[kPartitioned], p.record.topic, encode_partitioned(p.record));
          },
          [&](const Batch::DeletePartitioned& p) {
            if (cfs_[kPartitioned]) wb.Delete(cfs_[kPartitioned], p.topic);
          },
          [&](const Batch::PutSchema& p) {
            if (cfs_[kSchemas]) wb.Put(cfs_[kSchemas], p.schema.topic, encode_schema(p.schema));
          },
          [&](const Batch::DeleteSchema& p) {
            if (cfs_[kSchemas]) wb.Delete(cfs_[kSchemas], p.topic);
          },
          [&](const Batch::PutProducerSequence& p) {
            if (cfs_[kProducerSequences]) {
              wb.Put(cfs_[kProducerSequences], key::topic_named(p.topic, p.sequence.producer),
                     encode_producer_sequence(p.sequence));
            }
          },
          [&](const Batch::DeleteProducerSequence& p) {
            if (cfs_[kProducerSequences]) wb.Delete(cfs_[kProducerSequences], key::topic_named(p.topic, p.producer));
          },
      },
      op);
}

void RocksStore::post_completions(std::vector<Request>& group, const Result<void, Error>& result) {
  // Few executors per group (usually one: the broker's thread), so a linear search is cheapest.
  std::vector<std::pair<Executor*, std::vector<Completion>>> by_executor;
  for (auto& r : group) {
    if (!r.done || !r.executor) continue;
    auto it = std::find_if(by_executor.begin(), by_executor.end(), [&](const auto& e) { return e.first == r.executor; });
    if (it == by_executor.end()) it = by_executor.insert(by_executor.end(), {r.executor, {}});
    it->second.push_back(std::move(r.done));
  }
  for (auto& [executor, dones] : by_executor) {
    executor->post([dones = std::move(dones), result] {
      for (const auto& done : dones) done(result);
    });
  }
}

void RocksStore::run() {
  // Named for top -H, perf and gdb (and for test_hostile.py, which stalls this thread alone to
  // play a disk whose syncs hang).
  pthread_setname_np(pthread_self(), "mop-store");
  // SCHED_BATCH (no privilege needed, the same CPU share as any thread): woken by a queued write,
  // this thread takes an idle core or waits for one, instead of preempting the thread that woke
  // it. That is most often
  // the broker's io_context thread, in the middle of a read with more packets to hand on, or of
  // the PUBACKs and deliveries of the previous group. QoS 1 at 10,000 msg/s with the sync: p99
  // 557 against 647 us (median of 9 interleaved runs each), throughput shapes unchanged
  // (README.md, "Who runs first when a write wakes this thread").
  if (const sched_param param{}; pthread_setschedparam(pthread_self(), SCHED_BATCH, &param) != 0) {
    log::get("storage")->debug("store {}: the storage thread keeps its scheduling policy (SCHED_BATCH refused)", path_);
  }
  // No perf context counting on this thread: nothing reads it, and each of the memtable's key
  // comparisons would otherwise count itself in a thread-local of the shared library (a call to
  // __tls_get_addr each): a fifth of this thread's instructions under QoS 1 (README.md).
  rocksdb::SetPerfLevel(rocksdb::PerfLevel::kDisable);
  rocksdb::WriteOptions wo;
  wo.sync = options_.sync;
  rocksdb::WriteOptions wo_unsynced;  // a group in which no write waits for a sync (store.hpp)
  // One write batch for the thread's life: cleared, not freed, between groups. A fresh one per
  // group grew its buffer by doubling up to the group's size (megabytes under load), and every
  // group touched new pages: page faults and page clearing were a quarter of this thread's time
  // under fan-in (storage/README.md).
  rocksdb::WriteBatch wb;
  std::vector<Request> group;
  for (;;) {
    {
      std::unique_lock lock(mu_);
      // Not while an atomic bracket is open: its writes are still being queued (a few
      // microseconds of synchronous code on the caller's thread).
      wake_.wait(lock, [&] { return stopping_ || (!held_ && !queue_.empty() && atomic_depth_ == 0); });
      if (queue_.empty()) return;  // stopping with nothing left
      // Everything queued joins this group (bounded in bytes, but never splitting the writes of
      // one atomic bracket): one sync for all of it. When all of it fits, the queue and the
      // group's emptied vector trade places, so the threads queuing writes wait for this lock no
      // longer than that: a move per request, under load thousands of them, had them block on it
      // (storage/README.md).
      if (queued_bytes_ <= options_.max_group_bytes) {
        group.swap(queue_);
        queued_bytes_ = 0;
      } else {
        std::size_t bytes = 0;
        std::size_t n = 0;
        while (n < queue_.size() &&
               (n == 0 || bytes + queue_[n].batch.bytes() <= options_.max_group_bytes ||
                (queue_[n].atomic != 0 && queue_[n].atomic == queue_[n - 1].atomic))) {
          bytes += queue_[n].batch.bytes();
          ++n;
        }
        const auto taken = queue_.begin() + static_cast<std::ptrdiff_t>(n);
        group.assign(std::make_move_iterator(queue_.begin()), std::make_move_iterator(taken));
        queue_.erase(queue_.begin(), taken);
        queued_bytes_ -= bytes;
      }
    }

    Result<void, Error> result;
    if (needs_resume_) {
      // After a failed write the DB instance is not trusted again: RocksDB's WAL writer keeps
      // its error (and Debian's build asserts if it is written again), and DB::Resume() cannot
      // clear every kind of error. Reopening recovers from the WAL exactly what was written
      // before, starts a fresh WAL, and writes go on; if the disk still fails, this group fails
      // and a later one tries again, at most every kReopenInterval (groups queue up meanwhile,
      // so a full disk costs one reopen attempt per interval, not one per publish).
      const auto next_try = last_reopen_ + kReopenInterval;
      if (std::chrono::steady_clock::now() < next_try) {
        std::unique_lock lock(mu_);
        wake_.wait_until(lock, next_try, [&] { return stopping_; });
      }
      last_reopen_ = std::chrono::steady_clock::now();
      if (auto e = reopen(); !e.ok()) {
        result = Error(e.error().code, fmt::format("store {} is not writable (reopening after a failed write: {})",
                                                   path_, e.error().message));
      } else {
        needs_resume_ = false;
        log::get("storage")->warn("store {}: writes resumed after {} failed group commit(s)", path_,
                                  failed_.load() - failed_at_resume_);
        failed_at_resume_ = failed_.load();
      }
    }

    wb.Clear();
    std::size_t ops = 0;
    // Topic records not yet durable go first (a DeleteTopic in this group then removes one).
    std::vector<std::uint64_t> topics_in_group;
    std::uint64_t next_id_in_group = 0;
    {
      std::lock_guard lock(topics_mu_);
      for (const auto& [id, name] : unwritten_topics_) {
        wb.Put(cfs_[kTopics], name, encode_topic_value(id));
        topics_in_group.push_back(id);
      }
      if (next_topic_id_ != durable_next_topic_id_) {
        next_id_in_group = next_topic_id_;
        std::string next;
        key::put_be64(next, next_id_in_group);
        wb.Put(cfs_[kDefault], slice(kNextTopicIdKey), next);
      }
    }
    // Topic deletes that failed before go again, in every group until one succeeds.
    const std::vector<std::uint64_t> deletes_in_group(undeleted_topics_.begin(), undeleted_topics_.end());
    for (const auto id : deletes_in_group) add_to(&wb, Batch::DeleteTopic{id});
    std::size_t appended = 0;  // log entries in this group (CommitStats)
    // A session written several times in one group (a QoS 2 publisher's record with each
    // message's packet id, atomic with the message) goes into the batch once, its last write:
    // the group is one atomic write batch, so the earlier values could never be read anyway, and
    // encoding, logging and inserting each of them was most of this thread's work under QoS 2
    // with sessions that outlive their connection (README.md).
    last_session_write_.clear();
    std::size_t session_ops = 0;
    for (std::size_t i = 0; i < group.size(); ++i) {
      const auto& batch_ops = group[i].batch.ops();
      for (std::size_t j = 0; j < batch_ops.size(); ++j) {
        if (const auto* put = std::get_if<Batch::PutSession>(&batch_ops[j])) {
          last_session_write_[put->session.client_id] = {i, j};
          ++session_ops;
        } else if (const auto* del = std::get_if<Batch::DeleteSession>(&batch_ops[j])) {
          last_session_write_[del->client_id] = {i, j};
          ++session_ops;
        }
      }
    }
    const bool skip_superseded = session_ops > last_session_write_.size();
    // Large entries go to the entry log first, written and synced before the batch that refers
    // to them: a crash in between leaves bytes nothing refers to (FORMAT.md, "Format 3").
    group_refs_.clear();
    group_in_log_.clear();
    group_append_ = group_ref_ = 0;
    std::map<std::pair<std::uint64_t, std::uint64_t>, MessageId> elog_touched;  // (file, topic) -> last id
    if (result.ok() && options_.entry_log_min_size > 0 && entry_log_ && !options_.read_only) {
      std::vector<EntryLog::Item> items;
      for (const auto& r : group) {
        for (const auto& op : r.batch.ops()) {
          if (const auto* a = std::get_if<Batch::Append>(&op)) {
            const bool large = a->value.size() >= options_.entry_log_min_size;
            group_in_log_.push_back(large);
            if (large) items.push_back({a->topic, a->id, &a->value});
          }
        }
      }
      if (!items.empty()) {
        if (auto written = entry_log_->append(items, group_refs_); !written.ok()) {
          result = Error(written.error().code, fmt::format("store {}: {}", path_, written.error().message));
        } else {
          for (std::size_t i = 0; i < items.size(); ++i) {
            auto& last = elog_touched[{group_refs_[i].file, items[i].topic}];
            last = std::max(last, items[i].id);
          }
          if (options_.after_entry_log_write) options_.after_entry_log_write();
        }
      }
    }
    bool waited_for = false;  // some write of the group waits for a sync (store.hpp)
    for (std::size_t i = 0; i < group.size(); ++i) {
      const auto& batch_ops = group[i].batch.ops();
      for (std::size_t j = 0; j < batch_ops.size(); ++j) {
        const auto& op = batch_ops[j];
        if (skip_superseded) {
          const std::string* client = nullptr;
          if (const auto* put = std::get_if<Batch::PutSession>(&op)) client = &put->session.client_id;
          if (const auto* del = std::get_if<Batch::DeleteSession>(&op)) client = &del->client_id;
          if (client && last_session_write_[*client] != std::pair{i, j}) continue;  // a later one wins
        }
        add_to(&wb, op);
        appended += std::holds_alternative<Batch::Append>(op) ? 1 : 0;
      }
      ops += group[i].batch.size();
      waited_for |= group[i].batch.waits_for_sync();
    }
    // The entry log's bookkeeping, in the same atomic batch: what each file holds, and the keys
    // of the files whose every entry is trimmed (deleted from disk once this batch commits).
    for (auto& [file_topic, last] : elog_touched) {
      if (const auto f = elog_files_.find(file_topic.first); f != elog_files_.end()) {
        if (const auto t = f->second.find(file_topic.second); t != f->second.end()) last = std::max(last, t->second);
      }
      std::string k;
      key::put_be64(k, file_topic.first);
      key::put_be64(k, file_topic.second);
      wb.Put(cfs_[kEntryLogFiles], k, encode_position(last));
    }
    const std::vector<std::uint64_t> elog_removing(elog_removable_.begin(), elog_removable_.end());
    for (const auto file : elog_removing) {
      for (const auto& [topic, last] : elog_files_[file]) {
        std::string k;
        key::put_be64(k, file);
        key::put_be64(k, topic);
        wb.Delete(cfs_[kEntryLogFiles], k);
      }
    }
    // Synced if any write of the group waits for it, and whenever entry log files are deleted
    // after it: the trims that free them must be durable first. A retried topic delete too.
    const bool syncs = waited_for || !elog_removing.empty() || !deletes_in_group.empty();
    rocksdb::Status s;
    std::chrono::steady_clock::duration took{};
    if (result.ok() && wb.Count() > 0) {
      std::shared_lock lock(db_mu_);
      const auto start = std::chrono::steady_clock::now();
      s = db_ ? db_->Write(syncs ? wo : wo_unsynced, &wb) : rocksdb::Status::IOError("store is not open");
      took = std::chrono::steady_clock::now() - start;
    }
    if (result.ok() && s.ok()) {
      if (wb.Count() > 0) {
        ++batches_;
        // Once per group commit, off the publishers' threads: a few relaxed increments.
        commit_stats_.entries.observe(static_cast<double>(appended));
        commit_stats_.sync_seconds.observe(std::chrono::duration<double>(took).count());
        commit_stats_.session_writes_stored.fetch_add(last_session_write_.size(), std::memory_order_relaxed);
        commit_stats_.session_writes_superseded.fetch_add(session_ops - last_session_write_.size(),
                                                          std::memory_order_relaxed);
      }
      if (!topics_in_group.empty() || next_id_in_group != 0) {
        std::lock_guard lock(topics_mu_);
        for (const auto id : topics_in_group) unwritten_topics_.erase(id);
        if (next_id_in_group != 0) durable_next_topic_id_ = next_id_in_group;
      }
      for (const auto& r : group) {
        for (const auto& op : r.batch.ops()) {
          if (const auto* t = std::get_if<Batch::DeleteTopic>(&op)) {
            std::lock_guard lock(topics_mu_);
            topic_names_.erase(t->topic);  // its name was forgotten by write()
          }
        }
      }
      for (const auto id : deletes_in_group) {
        undeleted_topics_.erase(id);
        std::lock_guard lock(topics_mu_);
        topic_names_.erase(id);
      }
      // The entry log's bookkeeping follows what this batch made durable.
      for (const auto& [file_topic, last] : elog_touched) elog_files_[file_topic.first][file_topic.second] = last;
      for (const auto file : elog_removing) {
        elog_files_.erase(file);
        elog_removable_.erase(file);
        entry_log_->remove(file);
      }
      bool freed = !deletes_in_group.empty();
      for (const auto& r : group) {
        for (const auto& op : r.batch.ops()) {
          if (const auto* t = std::get_if<Batch::Trim>(&op)) {
            auto [it, fresh] = elog_floors_.try_emplace(t->topic, t->below);
            if (!fresh) it->second = std::max(it->second, t->below);
            freed = true;
          } else if (const auto* c = std::get_if<Batch::Truncate>(&op)) {
            // Ids from c->from on may be written again, below the last trim: those entries (in
            // files of their own) are live although under the old floor.
            if (auto it = elog_floors_.find(c->topic); it != elog_floors_.end()) it->second = std::min(it->second, c->from);
          } else if (const auto* d = std::get_if<Batch::DeleteTopic>(&op)) {
            elog_floors_.erase(d->topic);  // its files are free whatever its floor was
            freed = true;
          }
        }
      }
      if (freed && !elog_files_.empty()) find_removable_entry_log_files();
    } else {
      for (const auto& r : group) {
        for (const auto& op : r.batch.ops()) {
          if (const auto* t = std::get_if<Batch::DeleteTopic>(&op)) undeleted_topics_.insert(t->topic);
        }
      }
      if (!needs_resume_) {
        log::get("storage")->error("store {}: a write failed ({}); writes fail until it can be reopened, tried "
                                   "every {} ms",
                                   path_, result.ok() ? s.ToString() : result.error().message, kReopenInterval.count());
      }
      needs_resume_ = true;
      ++failed_;
      trim_floors_.clear();  // this group's trims did not happen: the next ones start from 0
      if (result.ok()) {
        result = Error(errc_of(s), fmt::format("group commit of {} writes ({} operations) to store {} failed: {}",
                                               group.size(), ops, path_, s.ToString()));
      }
    }
    // Completions go to the callers' executors in queue order: per caller, in write() order.
    // One task per executor for the whole group, not one per write: under fan-in a group holds
    // thousands of appends, and a post each (an allocation, the executor's lock, a wake-up)
    // cost the broker's thread more than running the completions themselves.
    post_completions(group, result);
    {
      std::lock_guard lock(mu_);
      done_seq_ += group.size();
    }
    drained_.notify_all();
    group.clear();  // the batches' memory goes now, not when the next group starts
  }
}

Result<std::uint64_t, Error> RocksStore::ensure_topic(const std::string& name) {
  if (name.empty()) return Error(StorageErrc::invalid_argument, "empty topic name");
  if (options_.read_only) return Error(StorageErrc::closed, "store " + path_ + " is open read-only");
  std::uint64_t id = 0;
  {
    std::lock_guard lock(topics_mu_);
    if (const auto it = topic_ids_.find(name); it != topic_ids_.end()) return it->second;
    // The id is handed out now; its record (with the next id) joins every group commit until
    // one succeeds, so it is durable no later than any record that refers to the id (those are
    // written after this call). Nothing here waits for the disk: a topic first used while the
    // disk is full works once it is back, and the broker's thread never waits for a sync.
    id = next_topic_id_++;
    topic_ids_.emplace(name, id);
    topic_names_.emplace(id, name);
    unwritten_topics_.emplace(id, name);
  }
  // An empty write: the record goes out with the next group even if nothing else is queued.
  {
    std::lock_guard lock(mu_);
    if (!stopping_) {
      queue_.push_back({Batch{}, nullptr, {}, 0});
      ++queued_seq_;
    }
  }
  wake_.notify_one();
  return id;
}

Result<std::optional<std::uint64_t>, Error> RocksStore::find_topic(const std::string& name) const {
  std::lock_guard lock(topics_mu_);
  const auto it = topic_ids_.find(name);
  return it == topic_ids_.end() ? std::optional<std::uint64_t>{} : std::optional{it->second};
}

Result<std::vector<TopicRecord>, Error> RocksStore::topics() const {
  std::lock_guard lock(topics_mu_);
  std::vector<TopicRecord> out;
  for (const auto& [name, id] : topic_ids_) out.push_back({id, name});
  std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return a.name < b.name; });
  return out;
}

Result<void, Error> RocksStore::scan(int cf, const std::function<void(std::string_view, std::string_view)>& visit) const {
  std::shared_lock db_lock(db_mu_);
  if (!db_) return Error(StorageErrc::closed, "store " + path_ + " is not open");
  if (!cfs_[static_cast<std::size_t>(cf)]) return {};  // an added CF missing in a read-only open: empty
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions{}, cfs_[static_cast<std::size_t>(cf)]));
  std::string last;
  for (it->SeekToFirst(); it->Valid(); it->Next()) {
    last.assign(view(it->key()));
    visit(view(it->key()), view(it->value()));
  }
  if (!it->status().ok()) {
    return status_error(it->status(), cf, last, last.empty() ? "cannot read" : "cannot read past the key");
  }
  return {};
}

template <typename T, typename Decode>
Result<std::vector<T>, Error> RocksStore::scan_decode(int cf, std::string_view lower, std::string_view upper,
                                                 Decode decode) const {
  std::shared_lock db_lock(db_mu_);
  if (!db_) return Error(StorageErrc::closed, "store " + path_ + " is not open");
  // A column family added to the format later, in a read-only open of an older store: empty.
  if (!cfs_[static_cast<std::size_t>(cf)]) return std::vector<T>{};
  rocksdb::ReadOptions ro;
  const rocksdb::Slice ub = slice(upper);
  if (!upper.empty()) ro.iterate_upper_bound = &ub;
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(ro, cfs_[static_cast<std::size_t>(cf)]));
  std::vector<T> out;
  std::string last(lower);
  for (it->Seek(slice(lower)); it->Valid(); it->Next()) {
    last.assign(view(it->key()));
    T value;
    if (auto why = decode(view(it->key()), view(it->value()), value); !why.ok()) return value_error(cf, last, why.error());
    out.push_back(std::move(value));
  }
  if (!it->status().ok()) return status_error(it->status(), cf, last, "cannot read");
  return out;
}

Result<std::optional<LogBounds>, Error> RocksStore::log_bounds(std::uint64_t topic) const {
  {
    // A topic whose record is not written yet has nothing stored (see ensure_topic).
    std::lock_guard lock(topics_mu_);
    if (unwritten_topics_.contains(topic)) return std::optional<LogBounds>{};
  }
  std::shared_lock db_lock(db_mu_);
  if (!db_) return Error(StorageErrc::closed, "store " + path_ + " is not open");
  const auto lower = key::topic_prefix(topic), upper = topic_end(topic);
  rocksdb::ReadOptions ro;
  const rocksdb::Slice lb = slice(lower), ub = slice(upper);
  ro.iterate_lower_bound = &lb;
  ro.iterate_upper_bound = &ub;
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(ro, cfs_[kLogs]));
  it->SeekToFirst();
  if (!it->status().ok()) return status_error(it->status(), kLogs, lower, "cannot read the first entry");
  if (it->Valid()) {
    const auto first = key::parse_log(view(it->key()));
    if (!first) return value_error(kLogs, view(it->key()), "log key is not 24 bytes");
    it->SeekToLast();
    if (!it->status().ok()) return status_error(it->status(), kLogs, lower, "cannot read the last entry");
    const auto last = it->Valid() ? key::parse_log(view(it->key())) : std::nullopt;
    if (!last) return value_error(kLogs, lower, "cannot find the last entry");
    return std::optional{LogBounds{first->second, {last->second.ledger, last->second.entry + 1, -1}}};
  }
  std::string v;
  const auto s = db_->Get(rocksdb::ReadOptions{}, cfs_[kLogFloors], lower, &v);
  if (s.IsNotFound()) return std::optional<LogBounds>{};
  if (!s.ok()) return status_error(s, kLogFloors, lower, "cannot read the log floor");
  MessageId floor;
  if (auto why = decode_position(v, floor); !why.ok()) return value_error(kLogFloors, lower, why.error());
  floor.batch = -1;
  return std::optional{LogBounds{floor, floor}};
}

Result<std::vector<LogEntry>, Error> RocksStore::log_read(std::uint64_t topic, MessageId from, MessageId end,
                                                     std::size_t max) const {
  std::shared_lock db_lock(db_mu_);
  if (!db_) return Error(StorageErrc::closed, "store " + path_ + " is not open");
  const auto lower = key::log(topic, from), upper = key::log(topic, end);
  rocksdb::ReadOptions ro;
  const rocksdb::Slice ub = slice(upper);
  ro.iterate_upper_bound = &ub;
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(ro, cfs_[kLogs]));
  std::vector<LogEntry> out;
  std::string last = lower;
  for (it->Seek(slice(lower)); it->Valid() && out.size() < max; it->Next()) {
    last.assign(view(it->key()));
    const auto k = key::parse_log(last);
    if (!k) return value_error(kLogs, last, "log key is not 24 bytes");
    const auto value = view(it->value());
    if (is_entry_ref(value)) {
      std::string bytes;
      if (auto why = resolve_log_value(value, bytes); !why.ok()) return value_error(kLogs, last, why.error());
      out.push_back({k->second, std::move(bytes)});
    } else {
      out.push_back({k->second, std::string(value)});
    }
  }
  if (!it->status().ok()) return status_error(it->status(), kLogs, last, "cannot read the log");
  return out;
}

Result<void, std::string> RocksStore::resolve_log_value(std::string_view value, std::string& out) const {
  if (!is_entry_ref(value)) {
    out.assign(value);
    return {};
  }
  EntryRef ref;
  if (auto why = decode_entry_ref(value, ref); !why.ok()) return "entry log reference: " + why.error();
  if (!entry_log_) return std::string("an entry log reference, but the store has no entry log open");
  return entry_log_->read(ref, out);
}

std::vector<std::uint64_t> RocksStore::entry_log_files_on_disk() const {
  return entry_log_ ? entry_log_->files() : std::vector<std::uint64_t>{};
}

Result<void, Error> RocksStore::load_entry_log() {
  const auto dir = (std::filesystem::path(path_) / "entrylog").string();
  auto opened = EntryLog::open(dir, !options_.read_only && options_.entry_log_min_size > 0, options_.sync,
                               options_.entry_log_file_size);
  if (!opened.ok()) return std::move(opened).error();
  entry_log_ = std::move(*opened);
  if (!cfs_[kEntryLogFiles]) return {};  // a read-only open of a store without the column family
  std::optional<Error> error;
  auto scanned = scan(kEntryLogFiles, [&](std::string_view k, std::string_view v) {
    if (error) return;
    MessageId last;
    if (k.size() != 16) {
      error = value_error(kEntryLogFiles, k, "key is not 16 bytes (file, topic id)");
    } else if (auto why = decode_position(v, last); !why.ok()) {
      error = value_error(kEntryLogFiles, k, why.error());
    } else {
      last.batch = -1;
      elog_files_[key::get_be64(k)][key::get_be64(k.substr(8))] = last;
    }
  });
  if (!scanned.ok()) return scanned;
  if (error) return *error;
  for (const auto& [file, topics] : elog_files_) {
    for (const auto& [topic, last] : topics) {
      if (elog_floors_.contains(topic)) continue;
      // The first entry the log holds (or, for an empty log, its floor): every id below it is gone.
      // Not the last trim's floor alone: after a truncate, ids under it may have been written again.
      auto bounds = log_bounds(topic);
      if (!bounds.ok()) {
        if (options_.repair) continue;  // the repair deals with it; the file stays meanwhile
        return std::move(bounds).error();
      }
      if (!*bounds) continue;
      MessageId floor = (*bounds)->first;
      floor.batch = -1;
      elog_floors_[topic] = floor;
    }
  }
  if (options_.read_only) return {};
  // Files nothing refers to: a group written before a crash and never committed, alone in its
  // file, or a removal whose unlink did not happen.
  const auto present = entry_log_->files();
  for (const auto file : present) {
    if (elog_files_.contains(file)) continue;
    log::get("storage")->info("store {}: removing entry log file {}, which no entry refers to", path_,
                              entry_log_->file_path(file));
    entry_log_->remove(file);
  }
  find_removable_entry_log_files();
  // Files that live entries refer to and that are gone (deleted by hand, a copy of the data
  // directory without entrylog/): said once here, with what to do, rather than only as each
  // entry fails to be read.
  for (const auto& [file, topics] : elog_files_) {
    if (elog_removable_.contains(file) || std::find(present.begin(), present.end(), file) != present.end()) continue;
    log::get("storage")->error(
        "store {}: entry log file {} is missing: entries of {} topic(s) stored in it cannot be read (`mop store "
        "check` lists them; `mop store check --repair`, with mop stopped, deletes them)",
        path_, entry_log_->file_path(file), topics.size());
  }
  return {};
}

void RocksStore::find_removable_entry_log_files() {
  std::lock_guard lock(topics_mu_);
  for (const auto& [file, topics] : elog_files_) {
    if (file == entry_log_->current_file() || elog_removable_.contains(file)) continue;
    const bool dead = std::all_of(topics.begin(), topics.end(), [&](const auto& topic_last) {
      if (!topic_names_.contains(topic_last.first)) return true;  // a deleted topic
      const auto floor = elog_floors_.find(topic_last.first);
      return floor != elog_floors_.end() && topic_last.second < floor->second;
    });
    if (dead) elog_removable_.insert(file);
  }
}

Result<std::vector<SubscriptionRecord>, Error> RocksStore::subscriptions(std::uint64_t topic) const {
  return scan_decode<SubscriptionRecord>(kSubscriptions, key::topic_prefix(topic), topic_end(topic),
                                         [](std::string_view k, std::string_view v, SubscriptionRecord& out) {
                                           out.name.assign(k.substr(8));
                                           const auto name = out.name;
                                           auto why = decode_subscription(v, out);
                                           out.name = name;
                                           return why;
                                         });
}

Result<std::optional<CursorRecord>, Error> RocksStore::cursor(std::uint64_t topic, const std::string& subscription) const {
  std::shared_lock db_lock(db_mu_);
  if (!db_) return Error(StorageErrc::closed, "store " + path_ + " is not open");
  const auto k = key::topic_named(topic, subscription);
  std::string v;
  const auto s = db_->Get(rocksdb::ReadOptions{}, cfs_[kCursors], k, &v);
  if (s.IsNotFound()) return std::optional<CursorRecord>{};
  if (!s.ok()) return status_error(s, kCursors, k, "cannot read the cursor");
  CursorRecord c;
  if (auto why = decode_cursor(v, c); !why.ok()) return value_error(kCursors, k, why.error());
  return std::optional{std::move(c)};
}

template <typename T, typename Decode>
Result<std::optional<T>, Error> RocksStore::get_decode(int cf, const std::string& key, std::string_view what, T out,
                                                     Decode decode) const {
  std::shared_lock db_lock(db_mu_);
  if (!db_) return Error(StorageErrc::closed, "store " + path_ + " is not open");
  if (!cfs_[static_cast<std::size_t>(cf)]) return std::optional<T>{};
  std::string v;
  const auto s = db_->Get(rocksdb::ReadOptions{}, cfs_[static_cast<std::size_t>(cf)], key, &v);
  if (s.IsNotFound()) return std::optional<T>{};
  if (!s.ok()) return status_error(s, cf, key, what);
  if (auto why = decode(v, out); !why.ok()) return value_error(cf, key, why.error());
  return std::optional{std::move(out)};
}

Result<std::optional<SessionRecord>, Error> RocksStore::session(const std::string& client_id) const {
  SessionRecord r;
  r.client_id = client_id;
  return get_decode(kSessions, client_id, "cannot read the session", std::move(r),
                    [](std::string_view v, SessionRecord& out) { return decode_session(v, out); });
}

Result<std::vector<SessionRecord>, Error> RocksStore::sessions() const {
  return scan_decode<SessionRecord>(kSessions, {}, {}, [](std::string_view k, std::string_view v, SessionRecord& out) {
    out.client_id.assign(k);
    return decode_session(v, out);
  });
}

Result<std::vector<RetainedRecord>, Error> RocksStore::retained() const {
  return scan_decode<RetainedRecord>(kRetained, {}, {}, [](std::string_view k, std::string_view v, RetainedRecord& out) {
    out.topic.assign(k);
    return decode_message(v, out.message);
  });
}

Result<std::vector<WillRecord>, Error> RocksStore::wills() const {
  return scan_decode<WillRecord>(kWills, {}, {}, [](std::string_view k, std::string_view v, WillRecord& out) {
    out.client_id.assign(k);
    return decode_will(v, out);
  });
}

Result<std::vector<PartitionedTopicRecord>, Error> RocksStore::partitioned_topics() const {
  return scan_decode<PartitionedTopicRecord>(kPartitioned, {}, {},
                                             [](std::string_view k, std::string_view v, PartitionedTopicRecord& out) {
                                               out.topic.assign(k);
                                               return decode_partitioned(v, out);
                                             });
}

Result<std::vector<PermissionRecord>, Error> RocksStore::permissions() const {
  return scan_decode<PermissionRecord>(kPermissions, {}, {}, [](std::string_view k, std::string_view v, PermissionRecord& out) {
    return decode_permission(k, v, out);
  });
}

Result<std::vector<TenantRecord>, Error> RocksStore::tenants() const {
  return scan_decode<TenantRecord>(kTenants, {}, {}, [](std::string_view k, std::string_view v, TenantRecord& out) {
    out.name.assign(k);
    return decode_tenant(v, out);
  });
}

Result<std::vector<NamespaceRecord>, Error> RocksStore::namespaces() const {
  return scan_decode<NamespaceRecord>(kNamespaces, {}, {}, [](std::string_view k, std::string_view v, NamespaceRecord& out) {
    out.name.assign(k);
    return decode_namespace(v, out);
  });
}

Result<std::vector<SchemaRecord>, Error> RocksStore::schemas() const {
  return scan_decode<SchemaRecord>(kSchemas, {}, {}, [](std::string_view k, std::string_view v, SchemaRecord& out) {
    out.topic.assign(k);
    return decode_schema(v, out);
  });
}

Result<std::optional<SchemaRecord>, Error> RocksStore::schema(const std::string& topic) const {
  SchemaRecord r;
  r.topic = topic;
  return get_decode(kSchemas, topic, "cannot read the schema", std::move(r),
                    [](std::string_view v, SchemaRecord& out) { return decode_schema(v, out); });
}

Result<std::vector<ProducerSequence>, Error> RocksStore::producer_sequences(std::uint64_t topic) const {
  return scan_decode<ProducerSequence>(kProducerSequences, key::topic_prefix(topic), topic_end(topic),
                                       [](std::string_view k, std::string_view v, ProducerSequence& out) {
                                         out.producer.assign(k.substr(8));
                                         return decode_producer_sequence(v, out);
                                       });
}

Result<void, Error> RocksStore::write_raw(const std::vector<RawOp>& ops) {
  if (!options_.repair || options_.read_only) {
    return Error(StorageErrc::invalid_argument, "store " + path_ + " was not opened for repair");
  }
  (void)flush();
  std::shared_lock db_lock(db_mu_);
  if (!db_) return Error(StorageErrc::closed, "store " + path_ + " is not open");
  rocksdb::WriteBatch wb;
  for (const auto& op : ops) {
    auto* cf = cfs_[static_cast<std::size_t>(op.cf)];
    if (op.value) {
      wb.Put(cf, op.key, *op.value);
    } else {
      wb.Delete(cf, op.key);
    }
  }
  rocksdb::WriteOptions wo;
  wo.sync = true;
  const auto s = db_->Write(wo, &wb);
  if (!s.ok()) return status_error(s, kDefault, {}, "cannot write the repair");
  return {};
}

Result<void, Error> RocksStore::flush_memtables() {
  std::shared_lock db_lock(db_mu_);
  if (!db_) return Error(StorageErrc::closed, "store " + path_ + " is not open");
  rocksdb::FlushOptions fo;
  fo.wait = true;
  std::vector<rocksdb::ColumnFamilyHandle*> all;
  for (auto* h : cfs_) {
    if (h) all.push_back(h);
  }
  const auto s = db_->Flush(fo, all);
  if (!s.ok()) return status_error(s, kDefault, {}, "cannot flush memtables");
  return {};
}

}  // namespace mop::storage
