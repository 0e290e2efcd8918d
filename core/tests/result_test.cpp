// Result<T, E>: the one error style (core/result.hpp).
#include "core/result.hpp"

#include <gtest/gtest.h>

#include <memory>
#include <string>

namespace mop {
namespace {

enum class TestErrc { broken = 1 };

class TestCategory final : public std::error_category {
public:
  const char* name() const noexcept override { return "test"; }
  std::string message(int) const override { return "broken"; }
};
const std::error_category& test_category() {
  static const TestCategory c;
  return c;
}
std::error_code make_error_code(TestErrc e) { return {static_cast<int>(e), test_category()}; }

}  // namespace
}  // namespace mop

template <>
struct std::is_error_code_enum<mop::TestErrc> : std::true_type {};

namespace mop {
namespace {

Result<int> half(int n) {
  if (n % 2 != 0) return TestErrc::broken;
  return n / 2;
}

Result<void> check(int n) {
  if (n < 0) return TestErrc::broken;
  return {};
}

Result<void, std::string> named(int n) {
  if (n < 0) return "negative: " + std::to_string(n);
  if (n == 0) return "zero";  // a literal converts to the std::string error
  return {};
}

Result<std::string, Error> open_file(bool present) {
  if (!present) return Error(TestErrc::broken, "file /x is missing");
  return std::string("contents");
}

TEST(Result, ValueOrErrorCode) {
  const auto a = half(4);
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(a.value(), 2);
  EXPECT_EQ(*a, 2);
  const auto b = half(3);
  ASSERT_FALSE(b.ok());
  EXPECT_EQ(b.error(), TestErrc::broken);
  EXPECT_EQ(b.error().message(), "broken");
}

TEST(Result, VoidIsSuccessOrError) {
  EXPECT_TRUE(check(1).ok());
  const auto r = check(-1);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error(), make_error_code(TestErrc::broken));
}

TEST(Result, StringErrorFromALiteralOrAString) {
  EXPECT_TRUE(named(1).ok());
  EXPECT_EQ(named(0).error(), "zero");
  EXPECT_EQ(named(-2).error(), "negative: -2");
}

TEST(Result, ErrorWithAMessage) {
  const auto ok = open_file(true);
  ASSERT_TRUE(ok.ok());
  EXPECT_EQ(ok.value(), "contents");
  const auto bad = open_file(false);
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error().code, TestErrc::broken);
  EXPECT_EQ(bad.error().to_string(), "broken: file /x is missing");
}

TEST(Result, FailMakesTheErrorWhereATCouldBeMadeToo) {
  // A bool can be made of an error_code too; fail() says which is meant.
  const Result<bool> r = fail(make_error_code(TestErrc::broken));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error(), TestErrc::broken);
}

TEST(Result, MovesTheValueOut) {
  Result<std::unique_ptr<int>> r = std::make_unique<int>(7);
  ASSERT_TRUE(r.ok());
  const std::unique_ptr<int> p = std::move(r).value();
  EXPECT_EQ(*p, 7);
}

TEST(Result, HasNoTruthiness) {
  static_assert(!std::is_constructible_v<bool, Result<void>>);
  static_assert(!std::is_constructible_v<bool, Result<void, Error>>);
  static_assert(!std::is_constructible_v<bool, Result<void, std::string>>);
}

}  // namespace
}  // namespace mop
