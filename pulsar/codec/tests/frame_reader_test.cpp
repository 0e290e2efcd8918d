// FrameReader: splitting a byte stream into frames, the size limit, and every framing error.
#include <vector>

#include "pulsar/codec/crc32c.hpp"
#include "pulsar/codec/tests/helpers.hpp"

namespace mop::pulsar::test {
namespace {

using proto::BaseCommand;

std::string flow_frame(std::uint64_t consumer, std::uint32_t permits) {
  BaseCommand c;
  c.set_type(BaseCommand::FLOW);
  c.mutable_flow()->set_consumer_id(consumer);
  c.mutable_flow()->set_messagepermits(permits);
  std::string out;
  encode_command(c, out);
  return out;
}

std::string send_frame(std::uint64_t producer, std::uint64_t sequence, std::string_view payload,
                       Checksum checksum = Checksum::crc32c) {
  BaseCommand c;
  c.set_type(BaseCommand::SEND);
  c.mutable_send()->set_producer_id(producer);
  c.mutable_send()->set_sequence_id(sequence);
  proto::MessageMetadata m;
  m.set_producer_name("producer-" + std::to_string(producer));
  m.set_sequence_id(sequence);
  m.set_publish_time(1'700'000'000'000);
  auto* p = m.add_properties();
  p->set_key("k");
  p->set_value("v");
  std::string out;
  encode_payload_command(c, m, span_of(payload), out, checksum);
  return out;
}

// A frame from raw command bytes (which need not parse), for the error cases.
std::string raw_frame(std::string_view command, std::string_view rest = {}) {
  std::string out;
  const auto total = static_cast<std::uint32_t>(4 + command.size() + rest.size());
  const auto cmd = static_cast<std::uint32_t>(command.size());
  for (int s = 24; s >= 0; s -= 8) out.push_back(static_cast<char>(total >> s));
  for (int s = 24; s >= 0; s -= 8) out.push_back(static_cast<char>(cmd >> s));
  out.append(command);
  out.append(rest);
  return out;
}

std::error_code error_of(std::string_view bytes, std::uint32_t max = kDefaultMaxFrameSize) {
  FrameReader r(max);
  r.feed(span_of(bytes));
  auto f = r.next();
  return f.ok() ? std::error_code{} : f.error();
}

TEST(FrameReader, NeedsMoreBytes) {
  FrameReader r;
  auto f = r.next();
  ASSERT_TRUE(f.ok());
  EXPECT_FALSE(*f);
  const std::string frame = flow_frame(1, 1000);
  r.feed(span_of(std::string_view(frame).substr(0, 3)));
  EXPECT_FALSE(*r.next());
  r.feed(span_of(std::string_view(frame).substr(3, frame.size() - 4)));
  EXPECT_FALSE(*r.next());
  EXPECT_EQ(r.buffered(), frame.size() - 1);
  r.feed(span_of(std::string_view(frame).substr(frame.size() - 1)));
  auto done = r.next();
  ASSERT_TRUE(done.ok() && *done);
  EXPECT_EQ((*done)->command->flow().messagepermits(), 1000u);
}

TEST(FrameReader, FedOneByteAtATimeYieldsEachFrameWhenComplete) {
  std::string stream;
  std::vector<std::size_t> ends;
  stream += flow_frame(1, 1000);
  ends.push_back(stream.size());
  stream += send_frame(2, 0, std::string(300, 'x'));
  ends.push_back(stream.size());
  stream += send_frame(2, 1, "", Checksum::none);
  ends.push_back(stream.size());
  stream += flow_frame(3, 500);
  ends.push_back(stream.size());

  FrameReader r;
  std::size_t got = 0;
  for (std::size_t i = 0; i < stream.size(); ++i) {
    r.feed(span_of(std::string_view(stream).substr(i, 1)));
    auto f = r.next();
    ASSERT_TRUE(f.ok()) << f.error().message() << " at byte " << i;
    if (i + 1 == ends[got]) {
      ASSERT_TRUE(*f) << "frame " << got << " not complete at byte " << i;
      const Frame& frame = **f;
      EXPECT_EQ(frame.size, ends[got] - (got ? ends[got - 1] : 0));
      switch (got) {
        case 0: EXPECT_EQ(frame.command->flow().consumer_id(), 1u); break;
        case 1:
          EXPECT_EQ(frame.command->send().sequence_id(), 0u);
          EXPECT_TRUE(frame.has_checksum);
          EXPECT_EQ(frame.metadata->properties(0).key(), "k");
          EXPECT_EQ(view_of(frame.payload), std::string(300, 'x'));
          break;
        case 2:
          EXPECT_EQ(frame.command->send().sequence_id(), 1u);
          EXPECT_FALSE(frame.has_checksum);
          EXPECT_TRUE(frame.payload.empty());
          break;
        case 3: EXPECT_EQ(frame.command->flow().messagepermits(), 500u); break;
      }
      ++got;
      auto again = r.next();
      ASSERT_TRUE(again.ok());
      EXPECT_FALSE(*again);
    } else {
      ASSERT_FALSE(*f) << "frame too early at byte " << i;
    }
  }
  EXPECT_EQ(got, ends.size());
  EXPECT_EQ(r.buffered(), 0u);
}

TEST(FrameReader, SeveralFramesInOneFeed) {
  std::string stream = flow_frame(1, 1) + flow_frame(2, 2) + flow_frame(3, 3);
  const std::string partial = flow_frame(4, 4);
  stream += partial.substr(0, 5);
  FrameReader r;
  r.feed(span_of(stream));
  for (std::uint64_t id = 1; id <= 3; ++id) {
    auto f = r.next();
    ASSERT_TRUE(f.ok() && *f);
    EXPECT_EQ((*f)->command->flow().consumer_id(), id);
  }
  EXPECT_FALSE(*r.next());
  EXPECT_EQ(r.buffered(), 5u);
  r.feed(span_of(std::string_view(partial).substr(5)));
  auto f = r.next();
  ASSERT_TRUE(f.ok() && *f);
  EXPECT_EQ((*f)->command->flow().consumer_id(), 4u);
}

// The limit counts the whole frame, size field included (as Pulsar's frame decoder does).
TEST(FrameReader, FrameOfExactlyTheLimitIsAccepted) {
  const std::string frame = send_frame(1, 1, std::string(1000, 'a'));
  EXPECT_FALSE(error_of(frame, static_cast<std::uint32_t>(frame.size())));
  EXPECT_EQ(error_of(frame, static_cast<std::uint32_t>(frame.size() - 1)), CodecError::frame_too_large);
}

// A peer that claims a 4 GiB frame is refused as soon as the 4 size bytes are in: nothing of the
// claimed size is waited for or allocated.
TEST(FrameReader, OversizeIsRejectedFromTheSizeFieldAloneWithoutAllocating) {
  FrameReader r(64 * 1024);
  AllocationProbe probe;
  r.feed(span_of(hex("ff ff ff f0")));
  auto f = r.next();
  ASSERT_FALSE(f.ok());
  EXPECT_EQ(f.error(), CodecError::frame_too_large);
  EXPECT_LT(probe.largest(), 4096u);
  // The error is sticky: the stream has no frame boundary left to resume at.
  r.feed(span_of(flow_frame(1, 1)));
  EXPECT_EQ(r.next().error(), CodecError::frame_too_large);
}

TEST(FrameReader, DefaultLimitIsFiveMiBPlusPadding) {
  EXPECT_EQ(FrameReader().max_frame_size(), 5u * 1024 * 1024 + 10 * 1024);
  // total size field = limit - 4 is fine (incomplete), one more is too large
  const std::uint32_t ok = kDefaultMaxFrameSize - 4;
  std::string header = {static_cast<char>(ok >> 24), static_cast<char>(ok >> 16), static_cast<char>(ok >> 8),
                        static_cast<char>(ok)};
  FrameReader r;
  r.feed(span_of(header));
  auto f = r.next();
  ASSERT_TRUE(f.ok());
  EXPECT_FALSE(*f);
  header[3] = static_cast<char>(ok + 1);
  EXPECT_EQ(error_of(header), CodecError::frame_too_large);
}

TEST(FrameReader, ChecksumMismatchIsReportedAndTheStreamContinues) {
  std::string bad = send_frame(9, 42, "payload");
  bad[bad.size() - 1] ^= 0x01;  // corrupt the payload
  const std::string stream = bad + flow_frame(5, 10);
  FrameReader r;
  r.feed(span_of(stream));
  auto f = r.next();
  ASSERT_FALSE(f.ok());
  EXPECT_EQ(f.error(), CodecError::checksum_mismatch);
  // What the server needs to answer SEND_ERROR(ChecksumError):
  EXPECT_EQ(r.command().type(), BaseCommand::SEND);
  EXPECT_EQ(r.command().send().producer_id(), 9u);
  EXPECT_EQ(r.command().send().sequence_id(), 42u);
  auto next = r.next();
  ASSERT_TRUE(next.ok()) << next.error().message();
  ASSERT_TRUE(*next);
  EXPECT_EQ((*next)->command->flow().consumer_id(), 5u);
}

TEST(FrameReader, CorruptMetadataIsAChecksumMismatchToo) {
  std::string bad = send_frame(1, 1, "x");
  // The metadata starts after total(4) cmd size(4) command magic(2) crc(4) metadata size(4).
  const std::size_t command_size = static_cast<unsigned char>(bad[7]);
  bad[4 + 4 + command_size + 2 + 4 + 4 + 1] ^= 0x40;
  EXPECT_EQ(error_of(bad), CodecError::checksum_mismatch);
}

TEST(FrameReader, WrongChecksumValueIsAMismatch) {
  std::string bad = send_frame(1, 1, "x");
  const std::size_t command_size = static_cast<unsigned char>(bad[7]);
  bad[4 + 4 + command_size + 2] ^= 0x80;  // first checksum byte
  EXPECT_EQ(error_of(bad), CodecError::checksum_mismatch);
}

TEST(FrameReader, TotalSizeTooSmallForTheCommandSize) {
  EXPECT_EQ(error_of(hex("00 00 00 02  00 00")), CodecError::truncated);
  EXPECT_EQ(error_of(hex("00 00 00 06  00 00 00 05  08 12")), CodecError::truncated);
  EXPECT_EQ(error_of(hex("00 00 00 04  ff ff ff ff")), CodecError::truncated);
}

TEST(FrameReader, BadCommands) {
  // not protobuf at all
  EXPECT_EQ(error_of(raw_frame(hex("ff ff ff"))), CodecError::bad_command);
  // an empty command: the required type is missing
  EXPECT_EQ(error_of(raw_frame("")), CodecError::bad_command);
  // a type we do not know (99) is a missing required field for proto2
  EXPECT_EQ(error_of(raw_frame(hex("08 63"))), CodecError::bad_command);
  // FLOW without its body
  EXPECT_EQ(error_of(raw_frame(hex("08 0b"))), CodecError::bad_command);
  // FLOW whose body lacks the required messagePermits: 5a 02 08 01 (field 11, consumer_id 1)
  EXPECT_EQ(error_of(raw_frame(hex("08 0b 5a 02 08 01"))), CodecError::bad_command);
  // the same with messagePermits: fine
  EXPECT_FALSE(error_of(raw_frame(hex("08 0b 5a 04 08 01 10 02"))));
  // a non-payload command followed by stray bytes
  EXPECT_EQ(error_of(raw_frame(hex("08 12 92 01 00"), "x")), CodecError::bad_command);
  // a length-delimited field running past the command
  EXPECT_EQ(error_of(raw_frame(hex("08 0b 5a 09 08 01 10 02"))), CodecError::bad_command);
}

TEST(FrameReader, TypesWithoutDefinedBodiesStillParse) {
  // NEW_TXN (50) with its body (field 50 = tag 92 03) kept as unknown fields: the server can
  // answer "not supported" instead of dropping the connection.
  FrameReader r;
  r.feed(span_of(raw_frame(hex("08 32 92 03 02 08 01"))));
  auto f = r.next();
  ASSERT_TRUE(f.ok()) << f.error().message();
  ASSERT_TRUE(*f);
  EXPECT_EQ((*f)->command->type(), BaseCommand::NEW_TXN);
}

TEST(FrameReader, PayloadCommandErrors) {
  const std::string send = hex("08 06 32 04 08 01 10 00");
  // no metadata at all
  EXPECT_EQ(error_of(raw_frame(send)), CodecError::truncated);
  // magic and half a checksum
  EXPECT_EQ(error_of(raw_frame(send, hex("0e 01 00 00"))), CodecError::truncated);
  // metadata size past the end (no checksum)
  EXPECT_EQ(error_of(raw_frame(send, hex("00 00 00 09 0a 01 70"))), CodecError::truncated);
  // metadata that is not protobuf (no checksum)
  EXPECT_EQ(error_of(raw_frame(send, hex("00 00 00 02 ff ff"))), CodecError::bad_metadata);
  // metadata lacking required fields: only producer_name
  EXPECT_EQ(error_of(raw_frame(send, hex("00 00 00 03 0a 01 70"))), CodecError::bad_metadata);
  // valid checksum over metadata that does not parse: still bad metadata
  const std::string bad_meta = hex("00 00 00 02 ff ff");
  const std::uint32_t crc = crc32c(span_of(bad_meta));
  const std::string crc_bytes = {static_cast<char>(crc >> 24), static_cast<char>(crc >> 16),
                                 static_cast<char>(crc >> 8), static_cast<char>(crc)};
  EXPECT_EQ(error_of(raw_frame(send, hex("0e 01") + crc_bytes + bad_meta)), CodecError::bad_metadata);
  // broker entry metadata whose size runs past the end
  EXPECT_EQ(error_of(raw_frame(send, hex("0e 02 00 00 00 10 08 01"))), CodecError::truncated);
  // broker entry metadata that does not parse
  EXPECT_EQ(error_of(raw_frame(send, hex("0e 02 00 00 00 01 ff 00 00 00 07") + hex("0a 01 70 10 00 18 01"))),
            CodecError::bad_metadata);
}

TEST(FrameReader, FatalErrorsAreSticky) {
  FrameReader r;
  r.feed(span_of(raw_frame(hex("ff"))));
  r.feed(span_of(flow_frame(1, 1)));
  EXPECT_EQ(r.next().error(), CodecError::bad_command);
  EXPECT_EQ(r.next().error(), CodecError::bad_command);
}

TEST(FrameReader, ErrorsHaveMessagesInThePulsarCodecCategory) {
  const std::error_code ec = CodecError::checksum_mismatch;
  EXPECT_STREQ(ec.category().name(), "pulsar_codec");
  EXPECT_NE(ec.message().find("CRC32C"), std::string::npos);
  for (int e = 1; e <= static_cast<int>(CodecError::uncompressed_too_large); ++e) {
    EXPECT_EQ(std::error_code(e, codec_category()).message().find("unknown pulsar codec error"), std::string::npos)
        << e;
  }
}

// A large frame fed in socket-sized pieces: the buffer is sized once for it (no repeated
// doubling), and the frame comes out intact.
TEST(FrameReader, LargeFrameInPieces) {
  const std::string payload(3 * 1024 * 1024, 'z');
  const std::string frame = send_frame(1, 1, payload);
  FrameReader r;
  std::size_t frames = 0;
  for (std::size_t off = 0; off < frame.size(); off += 65536) {
    r.feed(span_of(std::string_view(frame).substr(off, 65536)));
    auto f = r.next();
    ASSERT_TRUE(f.ok()) << f.error().message();
    if (*f) {
      ++frames;
      EXPECT_EQ((*f)->payload.size(), payload.size());
    }
  }
  EXPECT_EQ(frames, 1u);
}

}  // namespace
}  // namespace mop::pulsar::test
