// mop's rocksdb::crc32c::Extend (crc32c.cpp): the same values as the library's own, and the one
// RocksDB itself calls when it checksums what it writes.
#include <dlfcn.h>

#include <filesystem>
#include <random>
#include <string>

#include <gtest/gtest.h>
#include <rocksdb/db.h>

#include "storage/crc32c.hpp"

namespace mop::storage {
namespace {

TEST(Crc32c, SameValuesAsTheLibrarysOwn) {
  const auto library = reinterpret_cast<Crc32cExtend>(::dlsym(RTLD_NEXT, kCrc32cExtendSymbol));
  ASSERT_NE(library, nullptr);
  ASSERT_NE(library, &rocksdb::crc32c::Extend) << "the library's definition, not this executable's";
  EXPECT_EQ(rocksdb::crc32c::Extend(0, "123456789", 9), 0xE3069283u);  // CRC32C's check value
  std::mt19937_64 gen(18);
  std::string bytes(70000, '\0');
  for (auto& c : bytes) c = static_cast<char>(gen());
  // Every length up to 64 and then random ones, at every alignment, chained from random values.
  for (std::size_t i = 0; i < 3000; ++i) {
    const std::size_t offset = i % 8;
    const std::size_t n = i < 520 ? i / 8 : static_cast<std::size_t>(gen() % 66000);
    const auto init = static_cast<std::uint32_t>(gen());
    ASSERT_EQ(rocksdb::crc32c::Extend(init, bytes.data() + offset, n), library(init, bytes.data() + offset, n))
        << "length " << n << " at offset " << offset;
  }
  // Around the lengths where the three-lane paths start and end (3 x 256, 3 x 8192 and their
  // sums with the tails), and the size of a 64 KiB message's entry.
  for (const std::size_t base : {768u, 1536u, 24576u, 25344u, 49152u, 65536u, 65536u + 32u + 40u}) {
    for (std::size_t n = base - 9; n <= base + 9; ++n) {
      const std::size_t offset = n % 8;
      const auto init = static_cast<std::uint32_t>(gen());
      ASSERT_EQ(rocksdb::crc32c::Extend(init, bytes.data() + offset, n), library(init, bytes.data() + offset, n))
          << "length " << n << " at offset " << offset;
    }
  }
}

TEST(Crc32c, RocksDBChecksumsWithMopsDefinition) {
  EXPECT_EQ(::dlsym(RTLD_DEFAULT, kCrc32cExtendSymbol), reinterpret_cast<void*>(&rocksdb::crc32c::Extend))
      << "the executable exports its definition, so the library binds to it";
  const auto dir = std::filesystem::temp_directory_path() / ("mop-crc32c-" + std::to_string(::getpid()));
  std::filesystem::remove_all(dir);
  rocksdb::Options options;
  options.create_if_missing = true;
  rocksdb::DB* db = nullptr;
  ASSERT_TRUE(rocksdb::DB::Open(options, dir.string(), &db).ok());
  const auto before = crc32c_calls();
  // A write-ahead log record and, at the flush, a table file: both checksummed by RocksDB.
  ASSERT_TRUE(db->Put(rocksdb::WriteOptions(), "key", std::string(100000, 'v')).ok());
  ASSERT_TRUE(db->Flush(rocksdb::FlushOptions()).ok());
  EXPECT_GT(crc32c_calls(), before) << "RocksDB's own checksums went to the library's tables";
  std::string value;
  ASSERT_TRUE(db->Get(rocksdb::ReadOptions(), "key", &value).ok());
  EXPECT_EQ(value, std::string(100000, 'v'));
  delete db;
  std::filesystem::remove_all(dir);
  if (__builtin_cpu_supports("sse4.2")) {
    EXPECT_EQ(crc32c_implementation(), "sse4.2");
  }
}

}  // namespace
}  // namespace mop::storage
