#include "core/on_demand.hpp"

#include <map>
#include <string>

#include <gtest/gtest.h>

namespace mop {
namespace {

struct Rare {
  std::map<std::string, int> names;
  int count = 7;
};

TEST(OnDemandTest, NothingAllocatedUntilWritten) {
  OnDemand<Rare> r;
  const auto& cr = r;
  EXPECT_EQ(cr.get(), nullptr);
  EXPECT_EQ(r.get(), nullptr);  // reading does not allocate
  EXPECT_EQ(sizeof(r), sizeof(void*));
}

TEST(OnDemandTest, WriteAllocatesADefaultValueOnceAndKeepsIt) {
  OnDemand<Rare> r;
  r->names["a"] = 1;
  ASSERT_NE(r.get(), nullptr);
  const Rare* first = r.get();
  EXPECT_EQ(r->count, 7);  // default-constructed
  (*r).names["b"] = 2;
  EXPECT_EQ(r.get(), first);  // the same value, not a new one
  EXPECT_EQ(r.get()->names.size(), 2u);
}

TEST(OnDemandTest, ResetFreesAndTheNextWriteStartsFresh) {
  OnDemand<Rare> r;
  r->names["a"] = 1;
  r.reset();
  EXPECT_EQ(r.get(), nullptr);
  EXPECT_TRUE(r->names.empty());
}

}  // namespace
}  // namespace mop
