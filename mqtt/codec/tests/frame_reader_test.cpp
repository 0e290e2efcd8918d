// FrameReader: splitting a byte stream into packets (MQTT 3.1.1 section 2.2).
#include "mqtt/codec/tests/helpers.hpp"

namespace mop::mqtt::test {
namespace {

constexpr auto v311 = ProtocolVersion::v311;

std::optional<Frame> next_frame(FrameReader& r) {
  auto f = r.next();
  EXPECT_TRUE(f.ok()) << f.error().message();
  return f.ok() ? *f : std::nullopt;
}

TEST(FrameReader, NeedsMoreBytes) {
  FrameReader r(1024);
  EXPECT_FALSE(next_frame(r));
  r.feed(bytes({0x30}));
  EXPECT_FALSE(next_frame(r));
  r.feed(bytes({0x05, 0x00}));
  EXPECT_FALSE(next_frame(r));
  EXPECT_EQ(r.buffered(), 3u);
}

TEST(FrameReader, FedOneByteAtATimeYieldsEachPacketWhenComplete) {
  std::string stream;
  std::vector<Packet> sent = {Connect{"MQTT", v311, true, 30, "c", std::nullopt, std::nullopt, std::nullopt},
                              Publish{false, 1, false, "a/b", 5, Payload::copy_of(std::string(200, 'z'))},
                              Pingreq{}, Subscribe{2, {{"x/#", 1}}}, Disconnect{}};
  std::vector<std::size_t> ends;
  for (const auto& p : sent) {
    encode(p, v311, stream);
    ends.push_back(stream.size());
  }
  FrameReader r(4096);
  std::size_t got = 0;
  for (std::size_t i = 0; i < stream.size(); ++i) {
    r.feed(std::span(reinterpret_cast<const std::uint8_t*>(stream.data()) + i, 1));
    auto f = next_frame(r);
    if (i + 1 == ends[got]) {
      ASSERT_TRUE(f) << "packet " << got << " not framed at byte " << i;
      auto p = decode_client_packet(*f, v311);
      ASSERT_TRUE(p.ok()) << p.error().message();
      EXPECT_EQ(describe(*p), describe(sent[got]));
      ++got;
      EXPECT_FALSE(next_frame(r));
    } else {
      ASSERT_FALSE(f) << "frame too early at byte " << i;
    }
  }
  EXPECT_EQ(got, sent.size());
  EXPECT_EQ(r.buffered(), 0u);
}

TEST(FrameReader, SeveralPacketsInOneFeed) {
  std::string stream;
  for (PacketId id = 1; id <= 3; ++id) encode(Puback{id}, v311, stream);
  stream += std::string("\x40\x02\x00", 3);  // and a partial fourth
  FrameReader r(64);
  r.feed(bytes(stream));
  for (PacketId id = 1; id <= 3; ++id) {
    auto f = next_frame(r);
    ASSERT_TRUE(f);
    EXPECT_EQ(f->type(), PacketType::puback);
    EXPECT_EQ(f->body[1], id);
  }
  EXPECT_FALSE(next_frame(r));
  EXPECT_EQ(r.buffered(), 3u);
  r.feed(bytes({0x04}));
  auto f = next_frame(r);
  ASSERT_TRUE(f);
  EXPECT_EQ(f->body[1], 4);
}

// Fixed header of a PUBLISH with the given remaining length, read through the reader.
struct Boundary {
  std::uint32_t remaining;
  Bytes length_bytes;
};

TEST(FrameReader, RemainingLengthBoundaries) {
  const std::vector<Boundary> cases = {
      {0, {0x00}},
      {127, {0x7F}},
      {128, {0x80, 0x01}},
      {16'383, {0xFF, 0x7F}},
      {16'384, {0x80, 0x80, 0x01}},
      {2'097'151, {0xFF, 0xFF, 0x7F}},
      {2'097'152, {0x80, 0x80, 0x80, 0x01}},
  };
  for (const auto& c : cases) {
    Bytes wire{0xC0};
    wire.insert(wire.end(), c.length_bytes.begin(), c.length_bytes.end());
    wire.resize(wire.size() + c.remaining, 0xAB);
    FrameReader r(kMaxRemainingLength + 5);
    r.feed(wire);
    auto f = next_frame(r);
    ASSERT_TRUE(f) << c.remaining;
    EXPECT_EQ(f->body.size(), c.remaining);
    EXPECT_EQ(r.buffered(), 0u);

    // The encoder picks the same (shortest) encoding: a PUBLISH whose remaining length is c.remaining.
    if (c.remaining >= 3) {
      Publish p{false, 0, false, "t", 0, Payload::copy_of(std::string(c.remaining - 3, 'p'))};
      std::string out;
      encode_publish_header(p, v311, out);
      EXPECT_EQ(Bytes(out.begin() + 1, out.begin() + 1 + static_cast<long>(c.length_bytes.size())), c.length_bytes);
      EXPECT_EQ(encoded_size(p, v311), 1 + c.length_bytes.size() + c.remaining);
    }
  }
}

TEST(FrameReader, LargestRemainingLengthIsFourBytes) {
  FrameReader r(kMaxRemainingLength + 5);
  r.feed(bytes({0x30, 0xFF, 0xFF, 0xFF, 0x7F}));  // 268,435,455: legal, body not here yet
  EXPECT_FALSE(next_frame(r));
}

TEST(FrameReader, FiveByteRemainingLengthIsMalformed) {
  FrameReader r(kMaxRemainingLength + 5);
  r.feed(bytes({0x30, 0xFF, 0xFF, 0xFF, 0xFF}));  // a fifth length byte would follow: refused at once
  auto f = r.next();
  ASSERT_FALSE(f.ok());
  EXPECT_EQ(f.error(), CodecError::malformed_remaining_length);
  r.feed(bytes({0x01}));
  EXPECT_EQ(r.next().error(), CodecError::malformed_remaining_length);  // stays failed
}

TEST(FrameReader, MaxPacketSizeCountsTheFixedHeader) {
  FrameReader r(10);
  r.feed(bytes({0x30, 0x08}));  // 2 + 8 = 10: allowed
  EXPECT_FALSE(next_frame(r));
  FrameReader r2(10);
  r2.feed(bytes({0x30, 0x09}));  // 2 + 9 = 11
  EXPECT_EQ(r2.next().error(), CodecError::packet_too_large);
}

TEST(FrameReader, RejectsAClaimedHugePacketBeforeBufferingOrAllocating) {
  FrameReader r(1024 * 1024);
  r.feed(bytes({0x30, 0xFF, 0xFF, 0xFF, 0x7F}));
  const std::size_t before = allocations();
  auto f = r.next();
  EXPECT_EQ(allocations(), before);
  ASSERT_FALSE(f.ok());
  EXPECT_EQ(f.error(), CodecError::packet_too_large);
  EXPECT_EQ(r.buffered(), 5u);
}

TEST(FrameReader, SteadyStreamReusesItsBuffer) {
  // Compaction: consumed bytes are dropped, so a long stream needs no new memory once warm.
  std::string stream;
  for (int i = 0; i < 3000; ++i)
    encode(Publish{false, 1, false, "a/b", 1, Payload::copy_of(std::string(60, 'x'))}, v311, stream);
  const auto* data = reinterpret_cast<const std::uint8_t*>(stream.data());
  constexpr std::size_t kChunk = 100;  // not a multiple of the packet size: partial packets carry over
  FrameReader r(1024);
  std::size_t frames = 0;
  std::size_t before = 0;
  for (std::size_t off = 0; off < stream.size(); off += kChunk) {
    if (off == 100 * kChunk) before = allocations();
    r.feed(std::span(data + off, std::min(kChunk, stream.size() - off)));
    while (true) {
      auto f = r.next();
      ASSERT_TRUE(f.ok());
      if (!*f) break;
      ++frames;
    }
  }
  EXPECT_EQ(frames, 3000u);
  EXPECT_EQ(r.buffered(), 0u);
  EXPECT_EQ(allocations(), before);
}

TEST(FrameReader, DecodesWhatItFrames) {
  FrameReader r(1024);
  r.feed(bytes({0x62, 0x02, 0x00, 0x07}));
  auto f = next_frame(r);
  ASSERT_TRUE(f);
  EXPECT_EQ(f->type(), PacketType::pubrel);
  EXPECT_EQ(f->flags(), 0x02);
  auto p = decode_client_packet(*f, v311);
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(std::get<Pubrel>(*p).packet_id, 7);
}

// A large PUBLISH that reads bring in pieces is collected in a buffer of its own, and the decoded
// payload is a slice of that buffer (no copy): it stays valid while the reader goes on and after
// it is gone. The packets around it are framed as usual, whatever the read boundaries.
TEST(FrameReader, LargeFrameHasItsOwnBufferAndThePayloadSharesIt) {
  std::string body(64 * 1024, '\0');
  for (std::size_t i = 0; i < body.size(); ++i) body[i] = static_cast<char>(i * 7 + 3);
  const Publish big{false, 1, false, "big/one", 11, Payload::copy_of(body)};
  // 100 KiB: the first large frame arrives whole in one read and is framed in the shared buffer.
  for (const std::size_t chunk : {std::size_t{1000}, std::size_t{64 * 1024}, std::size_t{100 * 1024}}) {
    std::string stream;
    encode(Puback{1}, v311, stream);
    encode(big, v311, stream);
    encode(Puback{2}, v311, stream);
    encode(big, v311, stream);
    std::vector<Packet> got;
    std::vector<std::shared_ptr<const std::string>> owners;
    {
      FrameReader r(1024 * 1024);
      for (std::size_t off = 0; off < stream.size(); off += chunk) {
        r.feed(std::span(reinterpret_cast<const std::uint8_t*>(stream.data()) + off, std::min(chunk, stream.size() - off)));
        while (auto f = next_frame(r)) {
          auto p = decode_client_packet(*f, v311);
          ASSERT_TRUE(p.ok()) << p.error().message();
          if (f->type() == PacketType::publish && chunk <= 64 * 1024) {
            ASSERT_TRUE(f->owner) << "chunk " << chunk << ": a large frame read in pieces has its own buffer";
            const auto& payload = std::get<Publish>(*p).payload;
            const auto* first = reinterpret_cast<const std::uint8_t*>(f->owner->data());
            EXPECT_GE(payload.data(), first) << "the payload is not a copy";
            EXPECT_LE(payload.data() + payload.size(), first + f->owner->size());
            owners.push_back(f->owner);
          } else if (f->type() != PacketType::publish) {
            EXPECT_FALSE(f->owner);
          }
          got.push_back(std::move(*p));
        }
      }
      EXPECT_EQ(r.buffered(), 0u);
    }
    ASSERT_EQ(got.size(), 4u) << "chunk " << chunk;
    EXPECT_EQ(describe(got[0]), describe(Packet{Puback{1}}));
    EXPECT_EQ(describe(got[2]), describe(Packet{Puback{2}}));
    owners.clear();  // the frames' buffers now live only in the payloads
    for (const std::size_t i : {std::size_t{1}, std::size_t{3}}) {
      EXPECT_EQ(std::get<Publish>(got[i]).payload.view(), body) << "chunk " << chunk;
      EXPECT_EQ(std::get<Publish>(got[i]).topic, "big/one");
    }
  }
}

// Large frames that start in the middle of a read (after whole small frames, or right after the
// end of another large frame) go straight to buffers of their own; the order of the packets holds
// whatever the read boundaries, also when the reader is fed again before the frames it framed
// were taken (a protocol that paused between packets).
TEST(FrameReader, LargeFramesStartingMidReadKeepThePacketOrder) {
  std::vector<Packet> sent;
  for (PacketId id = 1; id <= 12; ++id) {
    if (id % 3 == 0) {
      sent.push_back(Puback{id});
    } else {
      std::string body(17 * 1024 + id * 997, '\0');
      for (std::size_t i = 0; i < body.size(); ++i) body[i] = static_cast<char>(i * id + 1);
      sent.push_back(Publish{false, 1, false, "big/" + std::to_string(id), id, Payload::copy_of(body)});
    }
  }
  std::string stream;
  for (const auto& p : sent) encode(p, v311, stream);
  for (const std::size_t chunk : {std::size_t{7}, std::size_t{1500}, std::size_t{16 * 1024}, std::size_t{64 * 1024},
                                  std::size_t{100 * 1024}}) {
    for (const std::size_t take_per_feed : {std::size_t{1}, std::size_t{100}}) {
      FrameReader r(1024 * 1024);
      std::vector<std::string> got;
      auto take = [&](std::size_t most) {
        for (std::size_t n = 0; n < most; ++n) {
          auto f = next_frame(r);
          if (!f) return;
          auto p = decode_client_packet(*f, v311);
          ASSERT_TRUE(p.ok()) << p.error().message();
          got.push_back(describe(*p));
        }
      };
      for (std::size_t off = 0; off < stream.size(); off += chunk) {
        r.feed(std::span(reinterpret_cast<const std::uint8_t*>(stream.data()) + off, std::min(chunk, stream.size() - off)));
        take(take_per_feed);
      }
      take(100);
      EXPECT_EQ(r.buffered(), 0u);
      ASSERT_EQ(got.size(), sent.size()) << "chunk " << chunk << ", " << take_per_feed << " per feed";
      for (std::size_t i = 0; i < sent.size(); ++i) {
        EXPECT_EQ(got[i], describe(sent[i])) << "packet " << i << ", chunk " << chunk << ", " << take_per_feed << " per feed";
      }
    }
  }
}

// A header that claims a large frame reserves no more than a bound ahead of what has come.
TEST(FrameReader, ClaimedLargeFrameGrowsAsItsBytesArrive) {
  FrameReader r(kMaxRemainingLength + 5);
  r.feed(bytes({0x30, 0xFF, 0xFF, 0xFF, 0x7F, 0x00, 0x01, 't'}));  // 268 MB claimed, 3 bytes sent
  EXPECT_FALSE(next_frame(r));
  EXPECT_EQ(r.buffered(), 8u);
  const Bytes more(100 * 1024, 0x55);
  r.feed(more);
  EXPECT_FALSE(next_frame(r));
  EXPECT_EQ(r.buffered(), 8u + more.size());
}

TEST(Encode, AppendsWithoutAllocatingWhenOutHasRoom) {
  const Publish pub{false, 1, false, "sensors/x", 3, Payload::copy_of(std::string(64, 'v'))};
  const Packet sub = Subscribe{4, {{"a/+", 1}, {"b/#", 2}}};
  const Packet ack = Puback{9};
  std::string out;
  out.reserve(4096);
  const std::size_t before = allocations();
  for (int i = 0; i < 10; ++i) {
    encode_publish_header(pub, v311, out);
    encode(pub, v311, out);
    encode(sub, v311, out);
    encode(ack, v311, out);
  }
  EXPECT_EQ(allocations(), before);
}

}  // namespace
}  // namespace mop::mqtt::test
