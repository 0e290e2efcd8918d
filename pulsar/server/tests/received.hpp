#pragma once
// What a Connection under test wrote, decoded frame by frame (shared by the connection and
// restart tests).
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "pulsar/server/connection.hpp"

namespace mop::pulsar::server::test {

struct Received {
  proto::BaseCommand command;
  proto::MessageMetadata metadata;
  std::string payload;
};

// Takes everything in `c`'s output and decodes it; a frame that does not decode fails the test.
inline std::vector<Received> decode_output(Connection& c) {
  std::string bytes;
  for (const auto& s : c.output().take()) bytes.append(s.view());
  FrameReader reader;
  reader.feed({reinterpret_cast<const std::uint8_t*>(bytes.data()), bytes.size()});
  std::vector<Received> got;
  while (true) {
    auto f = reader.next();
    EXPECT_TRUE(f.ok()) << f.error().message();
    if (!f || !f->has_value()) break;
    Received r;
    r.command = *(*f)->command;
    if ((*f)->metadata) {
      r.metadata = *(*f)->metadata;
      r.payload.assign(reinterpret_cast<const char*>((*f)->payload.data()), (*f)->payload.size());
    }
    got.push_back(std::move(r));
  }
  return got;
}

}  // namespace mop::pulsar::server::test
