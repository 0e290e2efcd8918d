// OutBuffer: small payloads join the text segment, large ones are shared, bytes() counts both.
#include "core/out_buffer.hpp"

#include <gtest/gtest.h>

#include <string>

namespace mop {
namespace {

std::string joined(const std::vector<OutBuffer::Segment>& segments) {
  std::string s;
  for (const auto& seg : segments) s.append(seg.view());
  return s;
}

TEST(OutBuffer, CountsTextAndSharedPayloads) {
  OutBuffer out;
  EXPECT_EQ(out.bytes(), 0u);
  out.text().append("head");
  EXPECT_EQ(out.bytes(), 4u);
  const auto big = Payload::copy_of(std::string(OutBuffer::kShareThreshold, 'x'));
  out.append_payload(big);
  EXPECT_EQ(out.segments(), 2u) << "a large payload is its own segment, not copied";
  EXPECT_EQ(out.bytes(), 4u + OutBuffer::kShareThreshold);
  out.text().append("mid");
  out.append_payload(Payload::copy_of("small"));  // joins the open text segment
  EXPECT_EQ(out.segments(), 3u);
  EXPECT_EQ(out.bytes(), 4u + OutBuffer::kShareThreshold + 8u);
  out.append_payload(big);
  out.append_payload(big);
  EXPECT_EQ(out.segments(), 5u);
  EXPECT_EQ(out.bytes(), 4u + 3 * OutBuffer::kShareThreshold + 8u);

  const auto segments = out.take();
  const std::string all = joined(segments);
  EXPECT_EQ(all.size(), 4u + 3 * OutBuffer::kShareThreshold + 8u) << "bytes() matched what is written";
  EXPECT_EQ(all.substr(0, 4), "head");
  EXPECT_TRUE(out.empty());
  EXPECT_EQ(out.bytes(), 0u);
  out.text().append("again");
  EXPECT_EQ(out.bytes(), 5u);
}

TEST(OutBuffer, EmptyPayloadAddsNothing) {
  OutBuffer out;
  out.append_payload(Payload{});
  EXPECT_TRUE(out.empty());
  EXPECT_EQ(out.bytes(), 0u);
}

}  // namespace
}  // namespace mop
