// Fuzzes the MQTT FrameReader's buffering, differentially: a stream of frames of every size (large
// ones, which a read rarely brings whole, go to a buffer of their own: FrameReader::kOwnBufferFrom)
// is fed in reads of sizes the input chooses, with next() called as the input says between reads
// (a protocol that pauses between packets leaves frames buffered when the next read comes). The
// frames that come out must be the frames that went in, in order, byte for byte; a frame over the
// size limit or a malformed length must be reported where it starts, after every frame before it.
//
// mqtt_decoder_fuzz cannot reach the large-frame path: its reader's limit is 512 bytes, and its
// inputs are the stream itself. Here the input is a program (fuzz_input.hpp): frame sizes and
// first bytes, read sizes, and how many frames to take after each read.
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "fuzz/fuzz_input.hpp"
#include "mqtt/codec/codec.hpp"

namespace {

using mop::fuzz::Input;
using mop::mqtt::FrameReader;

constexpr std::uint32_t kMaxPacket = 80'000;

[[noreturn]] void fail(const char* what, std::size_t frame) {
  std::fprintf(stderr, "frame_reader_fuzz: %s (frame %zu)\n", what, frame);
  std::abort();
}

struct Expected {
  std::uint8_t first_byte;
  std::string body;
};

// A body length around the sizes where the reader's paths change.
std::size_t body_size(Input& in) {
  const std::size_t fine = in.byte() | (std::size_t{in.byte()} << 8);
  switch (in.byte() % 6) {
    case 0: return fine % 200;                                               // small
    case 1: return FrameReader::kOwnBufferFrom - 64 + fine % 128;            // at the own-buffer bound
    case 2: return FrameReader::kOwnBufferFrom + fine % 50'000;              // large
    case 3: return kMaxPacket - 8 + fine % 16;                               // at the size limit
    case 4: return fine % 4096;                                              // medium
    default: return 127 + fine % 4;                                          // length bytes 1 -> 2
  }
}

void put_length(std::string& out, std::size_t n) {
  do {
    std::uint8_t digit = n % 128;
    n /= 128;
    if (n > 0) digit |= 0x80;
    out.push_back(static_cast<char>(digit));
  } while (n > 0);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  Input in(data, size);

  // The stream: up to 8 frames, then perhaps a malformed length (five continuation bytes).
  std::vector<Expected> frames;
  std::string stream;
  std::size_t error_at = SIZE_MAX;  // the frame index where the reader must report an error
  const std::size_t count = 1 + in.byte() % 8;
  for (std::size_t i = 0; i < count; ++i) {
    Expected f{static_cast<std::uint8_t>(in.byte() | 0x10), std::string(body_size(in), '\0')};
    const std::uint8_t seed = in.byte();
    for (std::size_t k = 0; k < f.body.size(); ++k) f.body[k] = static_cast<char>(seed + k * 31 + i * 7);
    const std::size_t start = stream.size();
    stream.push_back(static_cast<char>(f.first_byte));
    put_length(stream, f.body.size());
    stream += f.body;
    if (error_at == SIZE_MAX && stream.size() - start > kMaxPacket) error_at = frames.size();  // nothing after it
    frames.push_back(std::move(f));
  }
  if (error_at == SIZE_MAX && in.byte() % 8 == 0) {
    stream += std::string("\x30\xff\xff\xff\xff\x01", 6);
    error_at = frames.size();
  }

  FrameReader reader(kMaxPacket);
  std::size_t fed = 0;
  std::size_t got = 0;
  bool errored = false;
  // Takes up to `limit` frames (0: all there are); false once the reader reported an error.
  auto take = [&](std::size_t limit) {
    for (std::size_t n = 0; limit == 0 || n < limit; ++n) {
      auto frame = reader.next();
      if (!frame.ok()) {
        if (got != error_at) fail("an error where the stream has none", got);
        errored = true;
        return false;
      }
      if (!frame->has_value()) return true;
      if (got >= frames.size() || got >= error_at) fail("a frame past the end or past the error", got);
      const auto& want = frames[got];
      const auto& f = **frame;
      if (f.first_byte != want.first_byte) fail("first byte differs", got);
      if (f.body.size() != want.body.size() ||
          std::string_view(reinterpret_cast<const char*>(f.body.data()), f.body.size()) != want.body) {
        fail("body differs", got);
      }
      ++got;
    }
    return true;
  };

  while (fed < stream.size()) {
    std::size_t chunk = 0;
    switch (in.byte() % 5) {
      case 0: chunk = 1 + in.byte() % 16; break;
      case 1: chunk = 1 + (in.byte() | (std::size_t{in.byte()} << 8)) % 4096; break;
      case 2: chunk = 1 + (in.byte() | (std::size_t{in.byte()} << 8)); break;  // up to 64 KiB
      case 3: chunk = stream.size() - fed; break;
      default: chunk = 4096; break;
    }
    chunk = std::min(chunk, stream.size() - fed);
    reader.feed(std::span(reinterpret_cast<const std::uint8_t*>(stream.data()) + fed, chunk));
    fed += chunk;
    // A frame's body stays valid only until the next feed: take() compares it at once.
    const std::uint8_t how = in.byte() % 4;
    if (how == 0) continue;  // the protocol is paused: nothing taken before the next read
    if (!take(how == 1 ? 1 : 0)) break;
    if (how == 3) reader.release_if_empty();
  }
  if (!errored) take(0);

  if (error_at == SIZE_MAX) {
    if (got != frames.size()) fail("frames missing at the end of the stream", got);
    if (reader.buffered() != 0) fail("bytes left buffered after every frame was taken", got);
  } else if (!errored) {
    fail("no error for a frame over the limit or a malformed length", got);
  }
  return 0;
}
