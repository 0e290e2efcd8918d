// Payload: copies own their bytes; a shared slice keeps its whole buffer alive, without a copy.
#include "core/payload.hpp"

#include <gtest/gtest.h>

#include <memory>
#include <string>

namespace mop {
namespace {

TEST(Payload, CopyAndAdoptOwnTheirBytes) {
  std::string s = "hello";
  const auto copy = Payload::copy_of(std::string_view(s));
  s[0] = 'j';
  EXPECT_EQ(copy.view(), "hello");
  EXPECT_EQ(copy.size(), 5u);
  EXPECT_TRUE(Payload().empty());
  EXPECT_EQ(Payload().data(), nullptr);
  const auto adopted = Payload::adopt(std::string(100, 'a'));
  EXPECT_EQ(adopted.view(), std::string(100, 'a'));
  EXPECT_EQ(copy, Payload::copy_of(std::string_view("hello")));
}

TEST(Payload, ShareKeepsTheWholeBufferAliveAndCopiesNothing) {
  auto buffer = std::make_shared<std::string>("header|the payload bytes|trailer");
  const std::weak_ptr<std::string> watch = buffer;
  const auto* part = reinterpret_cast<const std::uint8_t*>(buffer->data()) + 7;
  Payload p = Payload::share(buffer, {part, 17});
  buffer.reset();  // the frame reader and the frame are gone
  EXPECT_FALSE(watch.expired()) << "the payload keeps its buffer";
  EXPECT_EQ(p.data(), part) << "a slice, not a copy";
  EXPECT_EQ(p.view(), "the payload bytes");
  {
    const Payload second = p;  // shared by a second holder (a subscriber's queue, the store)
    p = Payload();
    EXPECT_FALSE(watch.expired());
    EXPECT_EQ(second.view(), "the payload bytes");
  }
  EXPECT_TRUE(watch.expired()) << "freed with the last payload of it";
}

}  // namespace
}  // namespace mop
