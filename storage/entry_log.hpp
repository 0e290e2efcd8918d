#pragma once
// EntryLog: large log entries written once, with direct I/O, outside RocksDB (FORMAT.md,
// "Format 3: the entry log"). RocksStore writes a group commit's large entries here first, as
// one aligned O_DIRECT write (synced when the store syncs), and only then commits the RocksDB
// batch holding their references (EntryRef: file, offset, length, CRC32C), so a crash between
// the two leaves bytes nobody refers to, never a reference to bytes that are not there.
//
// Files: <dataDir>/entrylog/NNNNNN.elog, appended until they reach `file_size`, then the next
// number. Each group starts at a 4 KiB boundary (direct I/O), and each entry in it is a 32-byte
// header (magic "MOPE", u32 length, the 24-byte log key) followed by the encoded message, which
// is what a reference points at. A fresh file is started at every open: the tail of the last
// one (a group written before a crash and never committed) is never written over.
//
// Spare files: a file removed while none is spare is renamed NNNNNN.spare instead of deleted
// (while the file system has at least twice `file_size` free), and the next file is that one
// renamed to its new number: the groups then write over blocks the file already has, so a
// group's sync writes data only (no block allocation, no size change to commit), and the removal
// costs no discard of the file's blocks (the root file system here is mounted with `discard`: a
// deleted 256 MiB file was a 256 MiB discard competing with the writes). What a spare held
// before is never read: references point only at groups written since (each checked by CRC).
//
// Threading: append() and the file bookkeeping (roll, remove) on the storage thread only;
// read() from any thread (pread on a shared descriptor, kept open until the file is removed).
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <vector>

#include "core/result.hpp"
#include "storage/encoding.hpp"
#include "storage/errors.hpp"
#include "storage/records.hpp"

namespace mop::storage {

class EntryLog {
public:
  struct Item {
    std::uint64_t topic;
    MessageId id;
    const EncodedMessage* value;
  };

  // Opens the entry log in `dir` (created when `writable`). `sync`: fdatasync after each group.
  static Result<std::unique_ptr<EntryLog>, Error> open(const std::string& dir, bool writable, bool sync,
                                                       std::uint64_t file_size);
  ~EntryLog();
  EntryLog(const EntryLog&) = delete;
  EntryLog& operator=(const EntryLog&) = delete;

  // Writes `items` as one group (one write, then a sync if the log syncs), filling `refs` in
  // the same order. Storage thread only. A failure leaves no reference to what was written.
  Result<void, Error> append(std::span<const Item> items, std::vector<EntryRef>& refs);
  // The encoded message `ref` points at, its checksum verified. The reason on failure ("file
  // ... missing", "short", "checksum mismatch").
  Result<void, std::string> read(const EntryRef& ref, std::string& out) const;

  // Entry log files on disk, by number.
  std::vector<std::uint64_t> files() const;
  // The file being appended to (0 before the first append).
  std::uint64_t current_file() const { return current_; }
  // Deletes file `number`, or keeps it as the spare (storage thread only; never the current one).
  void remove(std::uint64_t number);
  // The spare file's path, empty when there is none.
  std::string spare_path() const { return spare_; }
  std::string file_path(std::uint64_t number) const;
  const std::string& dir() const { return dir_; }

  static constexpr std::size_t kAlign = 4096;
  static constexpr std::size_t kHeaderSize = 32;

private:
  EntryLog(std::string dir, bool writable, bool sync, std::uint64_t file_size)
      : dir_(std::move(dir)), writable_(writable), sync_(sync), file_size_(file_size) {}
  Result<void, Error> start_file();
  // `path` opened for writing with direct I/O, or through the page cache where the file system
  // has none; made (it must not exist) when `create`. -1 with errno set on failure.
  int open_for_writes(const std::string& path, bool create);
  // A read descriptor of file `number` (opened on first use), or -1 with errno set.
  std::shared_ptr<int> reader(std::uint64_t number) const;

  const std::string dir_;
  const bool writable_;
  const bool sync_;
  const std::uint64_t file_size_;
  std::uint64_t next_number_ = 1;
  std::uint64_t current_ = 0;
  int write_fd_ = -1;
  bool warned_buffered_ = false;
  std::uint64_t write_offset_ = 0;
  std::string spare_;  // a removed file kept to be the next one (NNNNNN.spare), or empty
  // The group's aligned buffer, kept between groups (grown, never shrunk below its largest use).
  char* buffer_ = nullptr;
  std::size_t buffer_size_ = 0;
  mutable std::mutex readers_mu_;
  mutable std::map<std::uint64_t, std::shared_ptr<int>> readers_;
};

}  // namespace mop::storage
