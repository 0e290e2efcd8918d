#include "storage/zeroed_wal.hpp"

#include <algorithm>
#include <cerrno>
#include <condition_variable>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <functional>
#include <mutex>
#include <thread>

#include <fcntl.h>
#include <pthread.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <fmt/format.h>

#include "core/log.hpp"

namespace mop::storage {

namespace {

constexpr std::uint64_t kChunk = 1u << 20;  // zeros per write of the zeroing thread
constexpr std::uint64_t kPage = 4096;       // direct I/O alignment (offsets, lengths, buffer)

std::uint64_t round_up(std::uint64_t n, std::uint64_t to) { return (n + to - 1) / to * to; }

rocksdb::IOStatus io_status(int err, const std::string& what) {
  auto message = fmt::format("{}: {}", what, std::strerror(err));
  return err == ENOSPC ? rocksdb::IOStatus::NoSpace(message) : rocksdb::IOStatus::IOError(message);
}

// One megabyte of zeros for every zeroing thread, never written.
const char* zeros() {
  static const std::unique_ptr<char[]> buffer(new char[kChunk]());
  return buffer.get();
}

// A WAL file: RocksDB appends through the page cache, as to its own files; a thread of the file's
// own writes zeros into [zeroed_, zeroed_ + chunk), always past every append already reserved, and
// syncs them. The zeros go through the page cache too, and stay there: an append of a few hundred
// bytes into a page the cache does not hold would read that page from disk first (into a file
// that merely grows, the kernel fills the page itself).
class ZeroedWalFile final : public rocksdb::FSWritableFile {
public:
  ZeroedWalFile(std::string path, int fd, std::uint64_t ahead, std::shared_ptr<WalZeroStats> stats,
                std::function<void()> before_zero_write, const rocksdb::FileOptions& options)
      : rocksdb::FSWritableFile(options), path_(std::move(path)), fd_(fd), ahead_(round_up(ahead, kPage)),
        chunk_(std::max(kPage, std::min(kChunk, ahead_ / 2 / kPage * kPage))), stats_(std::move(stats)),
        before_zero_write_(std::move(before_zero_write)) {
    thread_ = std::thread([this] { zero_ahead(); });
  }

  ~ZeroedWalFile() override {
    stop();
    if (fd_ >= 0) ::close(fd_);
  }

  rocksdb::IOStatus Append(const rocksdb::Slice& data, const rocksdb::IOOptions&, rocksdb::IODebugContext*) override {
    std::uint64_t at;
    {
      std::unique_lock lock(mu_);
      at = end_;
      // The zeroing thread writes only past what was reserved when it took its chunk; an append
      // reaching into that chunk waits for it (the zeros must land first, not over this data).
      if (zeroing_ && at + data.size() > zero_from_) {
        stats_->waits.fetch_add(1, std::memory_order_relaxed);
        idle_.wait(lock, [&] { return !zeroing_; });
      }
      end_ = at + data.size();
      if (end_ > zeroed_) stats_->unzeroed_bytes.fetch_add(end_ - std::max(at, zeroed_), std::memory_order_relaxed);
      if (!stopping_ && wants_chunk()) wake_.notify_one();
    }
    const char* p = data.data();
    std::size_t left = data.size();
    while (left > 0) {
      const auto n = ::pwrite(fd_, p, left, static_cast<off_t>(at));
      if (n < 0) {
        if (errno == EINTR) continue;
        return io_status(errno, fmt::format("cannot write WAL {}", path_));
      }
      p += n;
      at += static_cast<std::uint64_t>(n);
      left -= static_cast<std::size_t>(n);
    }
    return rocksdb::IOStatus::OK();
  }

  rocksdb::IOStatus Append(const rocksdb::Slice& data, const rocksdb::IOOptions& options,
                           const rocksdb::DataVerificationInfo&, rocksdb::IODebugContext* dbg) override {
    return Append(data, options, dbg);
  }

  rocksdb::IOStatus Flush(const rocksdb::IOOptions&, rocksdb::IODebugContext*) override {
    return rocksdb::IOStatus::OK();  // nothing is buffered here: Append wrote to the page cache
  }

  // fdatasync makes whatever the zeroing thread wrote and did not sync yet durable too; only
  // then is it slow, which is why that thread syncs its own chunks.
  rocksdb::IOStatus Sync(const rocksdb::IOOptions&, rocksdb::IODebugContext*) override {
    if (::fdatasync(fd_) != 0) return io_status(errno, fmt::format("cannot sync WAL {}", path_));
    return rocksdb::IOStatus::OK();
  }
  rocksdb::IOStatus Fsync(const rocksdb::IOOptions&, rocksdb::IODebugContext*) override {
    if (::fsync(fd_) != 0) return io_status(errno, fmt::format("cannot sync WAL {}", path_));
    return rocksdb::IOStatus::OK();
  }
  bool IsSyncThreadSafe() const override { return true; }

  // The zeros past the last append are cut off: a closed WAL is as long as what it holds.
  rocksdb::IOStatus Close(const rocksdb::IOOptions&, rocksdb::IODebugContext*) override {
    stop();
    if (fd_ < 0) return rocksdb::IOStatus::OK();
    const int fd = std::exchange(fd_, -1);
    if (::ftruncate(fd, static_cast<off_t>(end_)) != 0) {
      const int err = errno;
      ::close(fd);
      return io_status(err, fmt::format("cannot cut WAL {} to its length", path_));
    }
    if (::close(fd) != 0) return io_status(errno, fmt::format("cannot close WAL {}", path_));
    return rocksdb::IOStatus::OK();
  }

  rocksdb::IOStatus Truncate(std::uint64_t size, const rocksdb::IOOptions&, rocksdb::IODebugContext*) override {
    std::unique_lock lock(mu_);
    idle_.wait(lock, [&] { return !zeroing_; });
    if (::ftruncate(fd_, static_cast<off_t>(size)) != 0) return io_status(errno, fmt::format("cannot truncate WAL {}", path_));
    end_ = size;
    zeroed_ = std::min(zeroed_, round_up(size, kPage));
    return rocksdb::IOStatus::OK();
  }

  std::uint64_t GetFileSize(const rocksdb::IOOptions&, rocksdb::IODebugContext*) override {
    std::lock_guard lock(mu_);
    return end_;
  }

private:
  void stop() {
    {
      std::lock_guard lock(mu_);
      if (stopping_) return;
      stopping_ = true;
    }
    wake_.notify_one();
    if (thread_.joinable()) thread_.join();
  }

  void zero_ahead() {
    pthread_setname_np(pthread_self(), "mop-wal-zero");
    std::unique_lock lock(mu_);
    for (;;) {
      wake_.wait(lock, [&] { return stopping_ || wants_chunk(); });
      if (stopping_) return;
      // Past everything reserved, on a page boundary (the partial page before it, if any, is
      // the appends' own).
      const auto from = std::max(zeroed_, round_up(end_, kPage));
      const auto length = chunk_;
      if (const auto free = free_bytes(); free < min_free()) {
        log::get("storage")->info("WAL {}: {} MiB free on its disk, under {} MiB: no zeros ahead of this file "
                                  "(it grows as it is written)", path_, free >> 20, min_free() >> 20);
        return;
      }
      zeroing_ = true;
      zero_from_ = from;
      lock.unlock();
      if (before_zero_write_) before_zero_write_();
      const int err = write_zeros(from, length);
      lock.lock();
      zeroing_ = false;
      idle_.notify_all();
      if (err != 0) {
        log::get("storage")->warn("WAL {}: cannot write zeros ahead of it ({}); its appends grow the file from here",
                                  path_, std::strerror(err));
        return;
      }
      zeroed_ = from + length;
      stats_->zeroed_bytes.fetch_add(length, std::memory_order_relaxed);
    }
  }

  // A whole chunk fits between the zeroed space's end and `ahead_` past the appends: the thread
  // zeroes (and syncs) a chunk at a time, not a sliver per append.
  bool wants_chunk() const { return zeroed_ + chunk_ <= end_ + ahead_; }

  // Near a full disk the zeros would take the last space the store's own files need (and be
  // given back at each close, as the file is cut): they are written only while the disk has
  // this much free, checked before each chunk. Below it, zeroing stops for this file.
  std::uint64_t min_free() const { return std::max<std::uint64_t>(256u << 20, 16 * ahead_); }
  std::uint64_t free_bytes() const {
    struct statvfs st {};
    if (::fstatvfs(fd_, &st) != 0) return 0;
    return static_cast<std::uint64_t>(st.f_bavail) * st.f_frsize;
  }

  // 0 or an errno. Synced here so that the appends' own syncs find nothing but their bytes.
  int write_zeros(std::uint64_t at, std::uint64_t length) {
    std::uint64_t done = 0;
    while (done < length) {
      const auto n = ::pwrite(fd_, zeros(), length - done, static_cast<off_t>(at + done));
      if (n < 0) {
        if (errno == EINTR) continue;
        return errno;
      }
      if (n == 0) return EIO;
      done += static_cast<std::uint64_t>(n);
    }
    return ::fdatasync(fd_) == 0 ? 0 : errno;
  }

  const std::string path_;
  int fd_;
  const std::uint64_t ahead_;
  const std::uint64_t chunk_;  // zeros per write: 1 MiB, or half of `ahead_` if less (a page at least)
  std::shared_ptr<WalZeroStats> stats_;
  std::function<void()> before_zero_write_;

  std::mutex mu_;
  std::condition_variable wake_;  // the zeroing thread: appends moved on, or stop
  std::condition_variable idle_;  // appends and Truncate: the chunk being zeroed is done
  std::uint64_t end_ = 0;         // bytes appended (reserved: written or being written)
  std::uint64_t zeroed_ = 0;      // zeros are on disk from the appends' end up to here
  std::uint64_t zero_from_ = 0;   // while zeroing_: where the chunk being written starts
  bool zeroing_ = false;
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace

ZeroedWalFileSystem::ZeroedWalFileSystem(std::shared_ptr<rocksdb::FileSystem> base, std::string dir, std::uint64_t ahead,
                                         std::function<void()> before_zero_write)
    : FileSystemWrapper(std::move(base)), dir_(std::move(dir)), ahead_(ahead),
      stats_(std::make_shared<WalZeroStats>()), before_zero_write_(std::move(before_zero_write)) {}

bool ZeroedWalFileSystem::is_wal_name(const std::string& filename) {
  constexpr std::string_view kSuffix = ".log";
  if (filename.size() <= kSuffix.size() || !filename.ends_with(kSuffix)) return false;
  return std::all_of(filename.begin(), filename.end() - static_cast<std::ptrdiff_t>(kSuffix.size()),
                     [](char c) { return c >= '0' && c <= '9'; });
}

rocksdb::IOStatus ZeroedWalFileSystem::NewWritableFile(const std::string& fname, const rocksdb::FileOptions& options,
                                                       std::unique_ptr<rocksdb::FSWritableFile>* result,
                                                       rocksdb::IODebugContext* dbg) {
  const std::filesystem::path path(fname);
  std::error_code ec;
  if (!is_wal_name(path.filename().string()) || !std::filesystem::equivalent(path.parent_path(), dir_, ec)) {
    return target()->NewWritableFile(fname, options, result, dbg);
  }
  const int fd = ::open(fname.c_str(), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return io_status(errno, fmt::format("cannot create WAL {}", fname));
  stats_->files.fetch_add(1, std::memory_order_relaxed);
  *result = std::make_unique<ZeroedWalFile>(fname, fd, ahead_, stats_, before_zero_write_, options);
  return rocksdb::IOStatus::OK();
}

}  // namespace mop::storage
