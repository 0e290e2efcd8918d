// BufferPool: buffers handed out, taken back when their last owner lets go, handed out again;
// bounded, and trimmed of what stayed unused.
#include "mqtt/codec/buffer_pool.hpp"

#include <thread>

#include <gtest/gtest.h>

#include "mqtt/codec/codec.hpp"

namespace mop::mqtt::test {
namespace {

using namespace std::chrono_literals;
using Clock = BufferPool::Clock;

constexpr std::size_t kSize = 64 * 1024;

BufferPool::Limits limits(std::size_t max_buffers) { return {max_buffers * kSize, 4 * kSize, 5s}; }

// Takes `n` buffers at `t`, all held at once, then lets them all go.
void take_and_let_go(BufferPool& pool, int n, Clock::time_point t) {
  std::vector<std::shared_ptr<std::string>> held;
  for (int i = 0; i < n; ++i) held.push_back(pool.take(kSize, t));
}

TEST(BufferPool, ABufferLetGoIsHandedOutAgainEmpty) {
  BufferPool pool(limits(4));
  const auto t = Clock::now();
  auto a = pool.take(kSize, t);
  ASSERT_GE(a->capacity(), kSize);
  a->assign(1000, 'x');
  const char* memory = a->data();
  a.reset();
  EXPECT_EQ(pool.pooled_buffers(), 1u);
  auto b = pool.take(kSize, t);
  EXPECT_EQ(b->data(), memory) << "the same memory, not a fresh allocation";
  EXPECT_TRUE(b->empty());
  EXPECT_EQ(pool.pooled_buffers(), 0u);
}

TEST(BufferPool, TheLastOwnerGivesItBackOnItsOwnThread) {
  BufferPool pool(limits(4));
  auto a = pool.take(kSize);
  std::shared_ptr<const std::string> other_owner = a;
  a.reset();
  EXPECT_EQ(pool.pooled_buffers(), 0u) << "still owned";
  std::thread([owner = std::move(other_owner)]() mutable { owner.reset(); }).join();
  EXPECT_EQ(pool.pooled_buffers(), 1u);
}

TEST(BufferPool, KeepsNoMoreThanItsBoundAndNoGrownBuffer) {
  BufferPool pool(limits(2));
  const auto t = Clock::now();
  take_and_let_go(pool, 3, t);
  EXPECT_EQ(pool.pooled_buffers(), 2u);
  EXPECT_LE(pool.pooled_bytes(), 2 * kSize + 2 * 64);  // capacity may round up a little

  BufferPool small(limits(8));
  auto grown = small.take(kSize, t);
  grown->resize(8 * kSize);  // beyond max_capacity (4 x 64 KiB)
  grown.reset();
  EXPECT_EQ(small.pooled_buffers(), 0u);
}

TEST(BufferPool, BuffersUnusedForAWholeIntervalAreFreed) {
  BufferPool pool(limits(8));
  const auto t0 = Clock::now();
  take_and_let_go(pool, 3, t0);
  ASSERT_EQ(pool.pooled_buffers(), 3u);

  // An interval in which one of the three is used: the two others stayed unused...
  pool.trim(t0 + 1s);
  EXPECT_EQ(pool.pooled_buffers(), 3u) << "not before the interval has passed";
  take_and_let_go(pool, 1, t0 + 6s);  // a new interval starts, then one is taken
  pool.trim(t0 + 8s);
  EXPECT_EQ(pool.pooled_buffers(), 3u);
  // ...and are freed at the end of it; the one in use stays.
  pool.trim(t0 + 12s);
  EXPECT_EQ(pool.pooled_buffers(), 1u);
  // Nothing used in the next interval: the last one goes too.
  pool.trim(t0 + 18s);
  EXPECT_EQ(pool.pooled_buffers(), 0u);
  EXPECT_EQ(pool.pooled_bytes(), 0u);
}

// FrameReader takes large frames' buffers from BufferPool::large_frames(): the next large frame
// gets the memory of one let go before.
TEST(BufferPool, FrameReaderReusesALargeFramesBufferLetGo) {
  std::string stream;
  encode(Publish{false, 1, false, "big", 1, Payload::copy_of(std::string(kSize, 'a'))}, ProtocolVersion::v311, stream);
  const auto frame_memory = [&] {
    FrameReader r(1024 * 1024);
    const auto* p = reinterpret_cast<const std::uint8_t*>(stream.data());
    r.feed(std::span(p, 1000));  // in two reads: collected in a buffer of its own
    r.feed(std::span(p + 1000, stream.size() - 1000));
    auto f = r.next();
    EXPECT_TRUE(f.ok() && *f && (*f)->owner);
    return (f.ok() && *f && (*f)->owner) ? (*f)->owner->data() : nullptr;
  };
  const char* first = frame_memory();  // its frame let go when the lambda returns
  ASSERT_NE(first, nullptr);
  EXPECT_EQ(frame_memory(), first);
}

}  // namespace
}  // namespace mop::mqtt::test
