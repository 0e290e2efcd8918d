#include "loadgen/message_header.hpp"

#include <gtest/gtest.h>

#include <array>

namespace mop::loadgen {
namespace {

TEST(MessageHeader, RoundTrips) {
  const MessageHeader h{0x0102030405060708ull, 0xA1B2C3D4u, 77u};
  std::array<std::uint8_t, 64> buf{};
  put_header(h, buf.data());
  auto back = read_header(buf);
  ASSERT_TRUE(back);
  EXPECT_EQ(*back, h);
}

TEST(MessageHeader, IsLittleEndianOnTheWire) {
  std::array<std::uint8_t, 16> buf{};
  put_header(MessageHeader{0x0102030405060708ull, 0x11223344u, 0x55667788u}, buf.data());
  const std::array<std::uint8_t, 16> want{0x08, 0x07, 0x06, 0x05, 0x04, 0x03, 0x02, 0x01,
                                          0x44, 0x33, 0x22, 0x11, 0x88, 0x77, 0x66, 0x55};
  EXPECT_EQ(buf, want);
}

TEST(MessageHeader, ShortPayloadIsNotOurs) {
  std::array<std::uint8_t, 15> buf{};
  EXPECT_FALSE(read_header(buf));
  EXPECT_FALSE(read_header({}));
}

}  // namespace
}  // namespace mop::loadgen
