#pragma once
// ZeroedWalFileSystem: RocksDB's write-ahead log written over disk space that is already zeroed
// (journalPreAllocSizeMB; storage/README.md, "The WAL over zeroed space").
//
// A sync of a file that grew (or that filled space fallocate reserved) also commits the file
// system's journal: its new size and extents. A sync of bytes written over blocks the file already
// has writes those bytes and flushes the device, nothing else: on this project's machines
// 75-110 us against 107-170 us. Every group commit syncs the WAL, so this is most of a QoS 1
// message's latency with journalSyncData. A thread per WAL file therefore writes zeros ahead of
// RocksDB's appends (real zeros, synced, left in the page cache), and the appends land on them.
//
// Why zeros are safe for recovery: RocksDB's log reader skips a record header of all zeros (its
// "zero type": what preallocated files hold) without reporting anything, up to the end of the
// file; a WAL cut short by a crash therefore reads as its records followed by nothing. A clean
// close cuts the file to what was appended. Never stale bytes: the space is zeroed by us, never
// an old log's blocks (RocksDB's own log recycling is refused under point-in-time recovery).
//
// Only files RocksDB names NNNNNN.log in `dir` are wrapped; every other file is the base file
// system's. Errors of the zeroing thread only stop the zeroing (appends then grow the file as
// before): logged once per file. So does a disk with less than 256 MiB (or 16 times `ahead`)
// free: the zeros must not take the last space the store's own files need.
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include <rocksdb/file_system.h>

#include "storage/commit_stats.hpp"

namespace mop::storage {

class ZeroedWalFileSystem final : public rocksdb::FileSystemWrapper {
public:
  // `ahead`: how far past the last append the space is kept zeroed (rounded up to a page; to
  // turn the zeroing off, do not wrap), in chunks of 1 MiB (or half of it if less), each
  // written once a whole chunk fits. `before_zero_write` (tests): called on the zeroing thread after it
  // took a chunk and before it writes it, to widen the window in which an append may reach it.
  ZeroedWalFileSystem(std::shared_ptr<rocksdb::FileSystem> base, std::string dir, std::uint64_t ahead,
                      std::function<void()> before_zero_write = {});

  static const char* kClassName() { return "MopZeroedWalFileSystem"; }
  const char* Name() const override { return kClassName(); }

  rocksdb::IOStatus NewWritableFile(const std::string& fname, const rocksdb::FileOptions& options,
                                    std::unique_ptr<rocksdb::FSWritableFile>* result,
                                    rocksdb::IODebugContext* dbg) override;

  const WalZeroStats& stats() const { return *stats_; }

  // True for RocksDB's WAL file names (digits, then ".log"), the only files wrapped.
  static bool is_wal_name(const std::string& filename);

private:
  std::string dir_;
  std::uint64_t ahead_;
  std::shared_ptr<WalZeroStats> stats_;
  std::function<void()> before_zero_write_;
};

}  // namespace mop::storage
