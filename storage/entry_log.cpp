#include "storage/entry_log.hpp"

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <fmt/format.h>

#include "core/log.hpp"
#include "storage/crc32c.hpp"

namespace mop::storage {

namespace {

constexpr char kMagic[4] = {'M', 'O', 'P', 'E'};
constexpr std::string_view kSuffix = ".elog";
constexpr std::string_view kSpareSuffix = ".spare";

std::size_t round_up(std::size_t n, std::size_t to) { return (n + to - 1) / to * to; }

Error io_error(int err, std::string what) {
  return Error(err == ENOSPC ? StorageErrc::no_space : StorageErrc::io_error,
               fmt::format("{}: {}", what, std::strerror(err)));
}

// NNNNNN.elog -> NNNNNN; 0 for any other name.
std::uint64_t number_of(const std::string& name) {
  if (!name.ends_with(kSuffix) || name.size() == kSuffix.size()) return 0;
  std::uint64_t n = 0;
  for (std::size_t i = 0; i + kSuffix.size() < name.size(); ++i) {
    if (name[i] < '0' || name[i] > '9' || n > UINT64_MAX / 10) return 0;
    n = n * 10 + static_cast<std::uint64_t>(name[i] - '0');
  }
  return n;
}

void put_u32(char* out, std::uint32_t v) {
  for (int i = 0; i < 4; ++i) out[i] = static_cast<char>((v >> (24 - 8 * i)) & 0xFF);
}

}  // namespace

Result<std::unique_ptr<EntryLog>, Error> EntryLog::open(const std::string& dir, bool writable, bool sync,
                                                        std::uint64_t file_size) {
  std::unique_ptr<EntryLog> log(new EntryLog(dir, writable, sync, std::max<std::uint64_t>(file_size, kAlign)));
  std::error_code ec;
  if (writable) {
    std::filesystem::create_directories(dir, ec);
    if (ec) return Error(StorageErrc::io_error, fmt::format("cannot create the entry log {}: {}", dir, ec.message()));
  }
  for (const auto n : log->files()) log->next_number_ = std::max(log->next_number_, n + 1);
  if (writable) {
    // A spare left by the last run is the spare again; more than one (none is made so) are deleted.
    for (const auto& e : std::filesystem::directory_iterator(dir, ec)) {
      if (!e.path().filename().string().ends_with(kSpareSuffix)) continue;
      if (log->spare_.empty()) {
        log->spare_ = e.path().string();
      } else {
        ::unlink(e.path().c_str());
      }
    }
  }
  return log;
}

EntryLog::~EntryLog() {
  if (write_fd_ >= 0) ::close(write_fd_);
  std::free(buffer_);
}

std::string EntryLog::file_path(std::uint64_t number) const {
  return fmt::format("{}/{:06}{}", dir_, number, kSuffix);
}

std::vector<std::uint64_t> EntryLog::files() const {
  std::vector<std::uint64_t> out;
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator(dir_, ec)) {
    if (const auto n = number_of(e.path().filename().string()); n != 0) out.push_back(n);
  }
  std::sort(out.begin(), out.end());
  return out;
}

int EntryLog::open_for_writes(const std::string& path, bool create) {
  const int flags = O_WRONLY | O_CLOEXEC | (create ? O_CREAT | O_EXCL : 0);
  int fd = ::open(path.c_str(), flags | O_DIRECT, 0644);
  if (fd < 0 && errno == EINVAL) {
    // A file system without direct I/O (tmpfs): the same aligned writes through the page cache.
    if (!warned_buffered_) {
      log::get("storage")->warn("entry log {}: the file system has no direct I/O; writing through the page cache",
                                dir_);
      warned_buffered_ = true;
    }
    // The failed open may have made the file.
    fd = ::open(path.c_str(), create ? O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC : O_WRONLY | O_CLOEXEC, 0644);
  }
  return fd;
}

Result<void, Error> EntryLog::start_file() {
  const auto number = next_number_;
  const auto path = file_path(number);
  int fd = -1;
  if (!spare_.empty()) {
    // Written over from its start; its old bytes past what the groups write are never referred to.
    if (::rename(spare_.c_str(), path.c_str()) == 0) {
      fd = open_for_writes(path, /*create=*/false);
      if (fd < 0) ::unlink(path.c_str());  // made below like any new file
    } else {
      log::get("storage")->warn("entry log {}: cannot reuse the spare file {}: {}", dir_, spare_, std::strerror(errno));
      ::unlink(spare_.c_str());
    }
    spare_.clear();
  }
  if (fd < 0) fd = open_for_writes(path, /*create=*/true);
  if (fd < 0) return io_error(errno, fmt::format("cannot create entry log file {}", path));
  // The new name must survive a crash before any reference to the file does.
  const int dfd = ::open(dir_.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd < 0 || (sync_ && ::fsync(dfd) != 0)) {
    const int err = errno;
    if (dfd >= 0) ::close(dfd);
    ::close(fd);
    return io_error(err, fmt::format("cannot sync the entry log directory {}", dir_));
  }
  ::close(dfd);
  if (write_fd_ >= 0) ::close(write_fd_);
  write_fd_ = fd;
  write_offset_ = 0;
  current_ = number;
  next_number_ = number + 1;
  return {};
}

Result<void, Error> EntryLog::append(std::span<const Item> items, std::vector<EntryRef>& refs) {
  refs.clear();
  if (items.empty()) return {};
  if (!writable_) return Error(StorageErrc::closed, fmt::format("entry log {} is open read-only", dir_));
  std::size_t bytes = 0;
  for (const auto& item : items) bytes += kHeaderSize + item.value->size();
  const std::size_t padded = round_up(bytes, kAlign);
  if (write_fd_ < 0 || (write_offset_ > 0 && write_offset_ + padded > file_size_)) {
    if (auto started = start_file(); !started.ok()) return started;
  }
  if (buffer_size_ < padded) {
    std::free(buffer_);
    buffer_ = nullptr;
    buffer_size_ = 0;
    void* p = nullptr;
    if (::posix_memalign(&p, kAlign, padded) != 0) {
      return Error(StorageErrc::io_error, fmt::format("cannot allocate {} bytes for an entry log write", padded));
    }
    buffer_ = static_cast<char*>(p);
    buffer_size_ = padded;
  }
  // One pass over each entry: into the aligned buffer, with its checksum.
  char* at = buffer_;
  refs.reserve(items.size());
  for (const auto& item : items) {
    const auto& v = *item.value;
    std::memcpy(at, kMagic, 4);
    put_u32(at + 4, static_cast<std::uint32_t>(v.size()));
    const auto k = key::log(item.topic, item.id);
    std::memcpy(at + 8, k.data(), 24);
    char* value = at + kHeaderSize;
    std::memcpy(value, v.head.data(), v.head.size());
    if (!v.payload.empty()) std::memcpy(value + v.head.size(), v.payload.view().data(), v.payload.size());
    std::memcpy(value + v.head.size() + v.payload.size(), v.tail.data(), v.tail.size());
    const auto crc = rocksdb::crc32c::Extend(0, value, v.size());
    refs.push_back({current_, write_offset_ + static_cast<std::uint64_t>(value - buffer_),
                    static_cast<std::uint32_t>(v.size()), crc});
    at = value + v.size();
  }
  std::memset(at, 0, padded - bytes);
  std::size_t done = 0;
  while (done < padded) {
    const auto n = ::pwrite(write_fd_, buffer_ + done, padded - done, static_cast<off_t>(write_offset_ + done));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      const int err = n < 0 ? errno : EIO;
      refs.clear();
      // Nothing refers to the bytes from write_offset_ on: the next group writes over them, in
      // the same file (a full disk then costs no new file per attempt).
      return io_error(err, fmt::format("cannot write entry log file {}", file_path(current_)));
    }
    done += static_cast<std::size_t>(n);
  }
  if (sync_ && ::fdatasync(write_fd_) != 0) {
    const int err = errno;
    refs.clear();
    // After a failed sync the kernel may have dropped what it could not write and report the
    // next sync as clean: this file takes nothing more, the next group starts a new one.
    ::close(write_fd_);
    write_fd_ = -1;
    return io_error(err, fmt::format("cannot sync entry log file {}", file_path(current_)));
  }
  write_offset_ += padded;
  return {};
}

std::shared_ptr<int> EntryLog::reader(std::uint64_t number) const {
  std::lock_guard lock(readers_mu_);
  if (auto it = readers_.find(number); it != readers_.end()) return it->second;
  const int fd = ::open(file_path(number).c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return nullptr;
  auto shared = std::shared_ptr<int>(new int(fd), [](int* p) {
    ::close(*p);
    delete p;
  });
  readers_.emplace(number, shared);
  return shared;
}

Result<void, std::string> EntryLog::read(const EntryRef& ref, std::string& out) const {
  const auto fd = reader(ref.file);
  if (!fd) {
    return fmt::format("entry log file {} cannot be opened: {}", file_path(ref.file), std::strerror(errno));
  }
  out.resize(ref.length);
  std::size_t done = 0;
  while (done < ref.length) {
    const auto n = ::pread(*fd, out.data() + done, ref.length - done, static_cast<off_t>(ref.offset + done));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return fmt::format("cannot read entry log file {}: {}", file_path(ref.file), std::strerror(errno));
    if (n == 0) {
      return fmt::format("entry log file {} is short: {} bytes at offset {} referenced, the file ends at {}",
                         file_path(ref.file), ref.length, ref.offset, ref.offset + done);
    }
    done += static_cast<std::size_t>(n);
  }
  if (const auto crc = rocksdb::crc32c::Extend(0, out.data(), out.size()); crc != ref.crc) {
    return fmt::format("checksum mismatch in entry log file {} at offset {} ({} bytes): stored {:08x}, computed {:08x}",
                       file_path(ref.file), ref.offset, ref.length, ref.crc, crc);
  }
  return {};
}

void EntryLog::remove(std::uint64_t number) {
  if (number == current_) return;
  {
    std::lock_guard lock(readers_mu_);
    readers_.erase(number);
  }
  const auto path = file_path(number);
  struct statvfs fs {};
  const bool room = ::statvfs(dir_.c_str(), &fs) == 0 &&
                    static_cast<std::uint64_t>(fs.f_bavail) * fs.f_frsize >= 2 * file_size_;
  if (spare_.empty() && room && writable_) {
    auto spare = fmt::format("{}/{:06}{}", dir_, number, kSpareSuffix);
    if (::rename(path.c_str(), spare.c_str()) == 0) {
      spare_ = std::move(spare);
      return;
    }
  }
  ::unlink(path.c_str());
}

}  // namespace mop::storage
