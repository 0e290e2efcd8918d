// storage_golden_generator ROOT: writes the golden stores of the current format versions under
// ROOT (storage/tests/golden): v2/ with the known content of golden_content.cpp, and v3/ with
// the same content written with the entry log on (every log entry in entrylog/). The golden
// stores of older formats (v1/ and its damaged copies v1-truncated/, v1-corrupt/,
// v1-bad-value/, written by the format 1 generator) are checked in and never rewritten: they
// are what older mops left behind. `--damaged` also writes v2-truncated/ (largest table file cut
// in half), v2-corrupt/ (a byte flipped in every table file's first data block) and
// v2-bad-value/ (a session record that does not decode); the checked-in damaged copies are
// format 1's, which test the same checks. Test-only; run by hand when a format version is
// added, never in CI.
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>

#include <rocksdb/db.h>

#include "storage/encoding.hpp"
#include "storage/rocks_store.hpp"
#include "storage/tests/golden_content.hpp"

namespace fs = std::filesystem;
using namespace mop::storage;

namespace {

class InlineExecutor final : public mop::Executor {
public:
  void post(mop::Task task) override { task(); }  // only posted to by the storage thread here
};

// The files a store needs to open; logs and option snapshots are left out to keep it small.
void tidy(const fs::path& dir) {
  for (const auto& e : fs::directory_iterator(dir)) {
    const auto name = e.path().filename().string();
    if (name.starts_with("LOG") || name.starts_with("OPTIONS-") || name == "LOCK" || name == "mop.lock") fs::remove(e.path());
  }
}

// entry_log_min_size > 0: the store is format 3, its log entries of that size and more in the
// entry log (entrylog/).
bool write_store(const fs::path& dir, std::size_t entry_log_min_size = 0) {
  fs::remove_all(dir);
  RocksStore::Options o;
  o.entry_log_min_size = entry_log_min_size;
  auto store = RocksStore::open(dir.string(), o);
  if (!store.ok()) {
    std::cerr << store.error().to_string() << "\n";
    return false;
  }
  InlineExecutor ex;
  golden::write(**store, ex);
  (void)(*store)->flush();
  if (auto flushed = (*store)->flush_memtables(); !flushed.ok()) {
    std::cerr << flushed.error().to_string() << "\n";
    return false;
  }
  store->reset();
  tidy(dir);
  return true;
}

std::vector<fs::path> tables(const fs::path& dir) {
  std::vector<fs::path> out;
  for (const auto& e : fs::directory_iterator(dir)) {
    if (e.path().extension() == ".sst") out.push_back(e.path());
  }
  std::sort(out.begin(), out.end());
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  const bool damaged = argc == 3 && std::string(argv[2]) == "--damaged";
  if (argc != 2 && !damaged) {
    std::cerr << "usage: storage_golden_generator ROOT [--damaged]\n";
    return 2;
  }
  const fs::path root = argv[1];
  // Both current formats: v2 (the entry log off) and v3 (every log entry in the entry log).
  const fs::path with_entry_log = root / ("v" + std::to_string(kFormatVersion));
  if (!write_store(with_entry_log, 1)) return 1;
  std::cout << "wrote " << with_entry_log << "\n";
  const std::string v = "v" + std::to_string(kFormatVersionWithoutEntryLog);
  const fs::path good = root / v;
  if (!write_store(good)) return 1;
  if (!damaged) {
    std::cout << "wrote " << good << "\n";
    return 0;
  }

  const fs::path truncated = root / (v + "-truncated");
  fs::remove_all(truncated);
  fs::copy(good, truncated);
  auto ts = tables(truncated);
  const auto largest = *std::max_element(ts.begin(), ts.end(), [](auto& a, auto& b) { return fs::file_size(a) < fs::file_size(b); });
  fs::resize_file(largest, fs::file_size(largest) / 2);

  const fs::path corrupt = root / (v + "-corrupt");
  fs::remove_all(corrupt);
  fs::copy(good, corrupt);
  for (const auto& t : tables(corrupt)) {
    std::fstream f(t, std::ios::in | std::ios::out | std::ios::binary);
    f.seekg(10);
    char c = 0;
    f.get(c);
    f.seekp(10);
    f.put(static_cast<char>(c ^ 0x5A));
  }

  // A value that does not decode, written through RocksDB itself so that every checksum holds.
  const fs::path bad = root / (v + "-bad-value");
  fs::remove_all(bad);
  fs::copy(good, bad);
  {
    rocksdb::DBOptions o;
    std::vector<std::string> names;
    rocksdb::DB::ListColumnFamilies(o, bad.string(), &names);
    std::vector<rocksdb::ColumnFamilyDescriptor> ds;
    for (auto& n : names) ds.emplace_back(n, rocksdb::ColumnFamilyOptions{});
    std::vector<rocksdb::ColumnFamilyHandle*> hs;
    rocksdb::DB* db = nullptr;
    if (!rocksdb::DB::Open(o, bad.string(), ds, &hs, &db).ok()) return 1;
    for (std::size_t i = 0; i < names.size(); ++i) {
      if (names[i] == "sessions") db->Put(rocksdb::WriteOptions{}, hs[i], "client-a", std::string("\x01\x07\x05", 3));
    }
    db->Flush(rocksdb::FlushOptions{}, hs);
    for (auto* h : hs) db->DestroyColumnFamilyHandle(h);
    db->Close();
    delete db;
  }
  tidy(bad);
  std::cout << "wrote golden stores under " << root << "\n";
  return 0;
}
