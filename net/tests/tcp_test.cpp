// net::TcpListener with a small line protocol over real sockets on 127.0.0.1: bytes in, output
// out in one write, close after flush, keep-alive ticks, shutdown and the connection registry.
#include "net/tcp.hpp"

#include <algorithm>
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include <boost/asio/read.hpp>
#include <boost/asio/write.hpp>

namespace mop::net {
namespace {

namespace asio = boost::asio;
using asio::ip::tcp;
using namespace std::chrono_literals;

struct Events {
  std::size_t queued_after_request = 0;
  int opened = 0;
  int closed = 0;
  int ticks = 0;
  std::vector<int> ticks_of;  // by connection, in the order they opened
  std::chrono::milliseconds tick_every{50};  // each handler's deadline, from its start and ticks
  int drained = 0;
  std::size_t most_queued_at_drain = 0;  // must stay 0: drained means nothing is left
  std::size_t most_queued_after_read = 0;
  std::size_t bytes_read = 0;
  bool holding = false;     // what the handler's input_held() answers
  Stream* stream = nullptr;  // the last connection's, to release it
};

// Echoes every byte; "q" makes it answer "bye" and close; "b" queues kBig bytes (more than the
// socket takes at once); a deadline 50 ms ahead makes ticks.
constexpr std::size_t kBig = 8 * 1024 * 1024;

class Echo final : public StreamHandler {
public:
  Echo(Stream& stream, Events& events) : stream_(stream), events_(events), index_(events.opened) {
    ++events_.opened;
    events_.stream = &stream;
    events_.ticks_of.push_back(0);
  }
  void on_bytes(std::span<const std::uint8_t> bytes) override {
    const std::string s(bytes.begin(), bytes.end());
    if (s.find('q') != std::string::npos) {
      out_.text().append("bye");
      closed_ = true;
      stream_.close_after_flush();
      return;
    }
    if (s == "b") {
      // Half in one text segment, half as shared payload segments: both paths of a write.
      std::string& t = out_.text();
      for (std::size_t i = 0; i < kBig / 2; ++i) t.push_back(static_cast<char>('a' + i % 26));
      const auto chunk = Payload::copy_of(std::string(64 * 1024, 'z'));
      for (std::size_t i = 0; i < kBig / 2 / (64 * 1024); ++i) out_.append_payload(chunk);
      events_.queued_after_request = stream_.queued_bytes();
      stream_.output_ready();
      return;
    }
    out_.text().append(s);
    events_.bytes_read += s.size();
    events_.most_queued_after_read = std::max(events_.most_queued_after_read, stream_.queued_bytes());
    stream_.output_ready();
  }
  void on_closed() override { ++events_.closed; }
  void on_output_drained() override {
    ++events_.drained;
    events_.most_queued_at_drain = std::max(events_.most_queued_at_drain, stream_.queued_bytes());
  }
  void on_tick() override {
    ++events_.ticks;
    ++events_.ticks_of[index_];
    deadline_ = std::chrono::steady_clock::now() + events_.tick_every;
  }
  TimePoint next_deadline() const override { return deadline_; }
  bool input_held() const override { return events_.holding; }
  bool closed() const override { return closed_; }
  OutBuffer& output() override { return out_; }

private:
  Stream& stream_;
  Events& events_;
  std::size_t index_;
  OutBuffer out_;
  bool closed_ = false;
  TimePoint deadline_ = std::chrono::steady_clock::now() + events_.tick_every;
};

class TcpListenerTest : public ::testing::Test {
protected:
  TcpListenerTest()
      : listener_(io_, [this](Stream& s) { return std::make_unique<Echo>(s, events_); }, "test") {}

  std::uint16_t listen() {
    auto ep = listener_.listen("127.0.0.1", 0);
    EXPECT_TRUE(ep.ok());
    return ep.ok() ? ep->port() : 0;
  }

  // Runs the server's io_context until `done` holds or 5 s pass.
  template <typename F>
  void run_until(F done) {
    const auto limit = std::chrono::steady_clock::now() + 5s;
    while (!done() && std::chrono::steady_clock::now() < limit) io_.run_for(5ms);
  }

  asio::io_context io_;
  Events events_;
  TcpListener listener_;
};

TEST_F(TcpListenerTest, EchoesAndClosesAfterFlush) {
  const auto port = listen();
  std::string echoed, last;
  bool eof = false;
  std::thread client([&] {
    asio::io_context cio;
    tcp::socket s(cio);
    s.connect({asio::ip::make_address("127.0.0.1"), port});
    asio::write(s, asio::buffer(std::string("hello")));
    echoed.resize(5);
    asio::read(s, asio::buffer(echoed));
    asio::write(s, asio::buffer(std::string("q")));
    boost::system::error_code ec;
    char buf[16];
    for (;;) {
      const auto n = s.read_some(asio::buffer(buf), ec);
      if (ec) break;
      last.append(buf, n);
    }
    eof = ec == asio::error::eof;
  });
  run_until([&] { return events_.opened == 1 && listener_.connection_count() == 0; });
  client.join();
  EXPECT_EQ(echoed, "hello");
  EXPECT_EQ(last, "bye") << "queued output is written before the close";
  EXPECT_TRUE(eof);
  EXPECT_EQ(listener_.connection_count(), 0u) << "a closed connection leaves the registry";
}

// A slow reader: the output is larger than the socket buffers, so the writer has to wait for
// writability, resume where it stopped, and keep the bytes in order.
TEST_F(TcpListenerTest, LargeOutputReachesASlowReaderIntactAndInOrder) {
  const auto port = listen();
  std::string got;
  std::atomic<bool> done{false};
  std::thread client([&] {
    asio::io_context cio;
    tcp::socket s(cio);
    s.connect({asio::ip::make_address("127.0.0.1"), port});
    asio::write(s, asio::buffer(std::string("b")));
    std::this_thread::sleep_for(300ms);  // let the socket fill up
    got.resize(kBig);
    boost::system::error_code ec;
    asio::read(s, asio::buffer(got), ec);
    done = true;
  });
  run_until([&] { return done.load(); });
  client.join();
  EXPECT_EQ(events_.queued_after_request, kBig);
  ASSERT_EQ(got.size(), kBig);
  for (std::size_t i = 0; i < kBig / 2; ++i)
    ASSERT_EQ(got[i], static_cast<char>('a' + i % 26)) << "at byte " << i;
  EXPECT_EQ(got.find_first_not_of('z', kBig / 2), std::string::npos);
  run_until([&] { return events_.drained > 0; });
  EXPECT_GE(events_.drained, 1) << "the handler hears that its output has left";
  EXPECT_EQ(events_.most_queued_at_drain, 0u) << "and only once nothing is left to write";
}

TEST_F(TcpListenerTest, PeerCloseIsReportedOnceAndTicksRun) {
  const auto port = listen();
  std::thread client([&] {
    asio::io_context cio;
    tcp::socket s(cio);
    s.connect({asio::ip::make_address("127.0.0.1"), port});
    std::this_thread::sleep_for(200ms);
  });
  run_until([&] { return events_.closed == 1; });
  client.join();
  io_.run_for(20ms);
  EXPECT_EQ(events_.opened, 1);
  EXPECT_EQ(events_.closed, 1);
  EXPECT_GE(events_.ticks, 1) << "the deadline 50 ms ahead fired while the client stayed 200 ms";
  EXPECT_EQ(listener_.connection_count(), 0u);
}

TEST_F(TcpListenerTest, EveryConnectionTicksFromTheOneDeadlineTimer) {
  // The listener keeps every connection's deadline in one heap under one timer: each connection
  // ticks, and those that stay keep ticking after others left (their entries removed mid-heap).
  const auto port = listen();
  constexpr int kShort = 3, kLong = 3;
  std::atomic<int> connected{0};
  std::vector<std::thread> clients;
  for (int i = 0; i < kShort + kLong; ++i) {
    const bool stays = i % 2 == 1;  // short and long ones interleaved in the heap
    clients.emplace_back([&, stays] {
      asio::io_context cio;
      tcp::socket s(cio);
      s.connect({asio::ip::make_address("127.0.0.1"), port});
      ++connected;
      std::this_thread::sleep_for(stays ? 600ms : 120ms);
    });
  }
  run_until([&] { return events_.closed == kShort; });
  EXPECT_EQ(events_.closed, kShort);
  const auto ticks_when_short_left = events_.ticks_of;
  run_until([&] { return events_.closed == kShort + kLong; });
  for (auto& c : clients) c.join();
  ASSERT_EQ(events_.opened, kShort + kLong);
  EXPECT_EQ(events_.closed, kShort + kLong);
  int kept_ticking = 0;
  for (int i = 0; i < kShort + kLong; ++i) {
    EXPECT_GE(events_.ticks_of[i], 1) << "connection " << i << " never ticked";
    if (events_.ticks_of[i] > ticks_when_short_left[i]) ++kept_ticking;
  }
  EXPECT_EQ(kept_ticking, kLong) << "the connections that stayed tick on, the others no more";
  EXPECT_EQ(listener_.connection_count(), 0u);
}

TEST_F(TcpListenerTest, NoWaitIsLeftOnceEveryConnectionClosed) {
  // mop's SIGTERM stops accepting, closes the connections and waits for the io_context to run
  // out of work: the deadline timer must not keep it running once no connection is left, even
  // when it was armed for a deadline far ahead.
  events_.tick_every = std::chrono::hours(1);
  const auto port = listen();
  std::thread client([&] {
    asio::io_context cio;
    tcp::socket s(cio);
    s.connect({asio::ip::make_address("127.0.0.1"), port});
    std::this_thread::sleep_for(20ms);
  });
  run_until([&] { return events_.closed == 1; });
  client.join();
  ASSERT_EQ(events_.closed, 1);
  listener_.stop_accepting();
  for (int i = 0; i < 10 && !io_.stopped(); ++i) io_.poll();  // what is ready runs; no waiting
  EXPECT_TRUE(io_.stopped()) << "work left behind after the last connection closed";
}

TEST_F(TcpListenerTest, ShutdownClosesEveryConnection) {
  const auto port = listen();
  asio::io_context cio;
  std::vector<tcp::socket> clients;
  for (int i = 0; i < 3; ++i) {
    clients.emplace_back(cio);
    clients.back().connect({asio::ip::make_address("127.0.0.1"), port});
  }
  run_until([&] { return listener_.connection_count() == 3; });
  ASSERT_EQ(listener_.connection_count(), 3u);
  listener_.shutdown();
  EXPECT_EQ(events_.closed, 3);
  EXPECT_EQ(listener_.connection_count(), 0u);
  for (auto& c : clients) {
    char b;
    boost::system::error_code ec;
    c.read_some(asio::buffer(&b, 1), ec);
    EXPECT_TRUE(ec) << "the server side is closed";
  }
  // Nothing is accepted after shutdown.
  tcp::socket late(cio);
  boost::system::error_code ec;
  late.connect({asio::ip::make_address("127.0.0.1"), port}, ec);
  EXPECT_TRUE(ec);
}

// While the gate is closed a connection stops after the read in hand; bytes sent meanwhile wait
// in the socket and arrive once the gate opens.
TEST_F(TcpListenerTest, ClosedReadGateHoldsReadsUntilItOpens) {
  ReadGate gate;
  listener_.set_read_gate(&gate);
  const auto port = listen();
  asio::io_context cio;
  tcp::socket c(cio);
  c.connect({asio::ip::make_address("127.0.0.1"), port});
  auto echo = [&](const std::string& s) {
    asio::write(c, asio::buffer(s));
  };
  auto read_n = [&](std::size_t n) {
    std::string got(n, '\0');
    asio::read(c, asio::buffer(got));
    return got;
  };
  echo("one");
  run_until([&] { return events_.opened == 1 && c.available() >= 3; });
  EXPECT_EQ(read_n(3), "one");

  gate.close();
  echo("two");  // read, echoed, and then the connection stops at the gate
  run_until([&] { return gate.waiting() == 1; });
  EXPECT_EQ(gate.waiting(), 1u);
  run_until([&] { return c.available() >= 3; });
  EXPECT_EQ(read_n(3), "two");
  echo("three");
  io_.run_for(100ms);
  EXPECT_EQ(c.available(), 0u) << "nothing read while the gate is closed";

  gate.open();
  EXPECT_EQ(gate.waiting(), 0u);
  run_until([&] { return c.available() >= 5; });
  EXPECT_EQ(read_n(5), "three");
}

// A handler that holds its input (an MQTT SUBSCRIBE waiting for the store): the connection
// finishes the read in hand and reads nothing more until the handler releases it.
TEST_F(TcpListenerTest, HeldInputStopsReadingUntilReleased) {
  const auto port = listen();
  asio::io_context cio;
  tcp::socket c(cio);
  c.connect({asio::ip::make_address("127.0.0.1"), port});
  auto read_n = [&](std::size_t n) {
    std::string got(n, '\0');
    asio::read(c, asio::buffer(got));
    return got;
  };
  asio::write(c, asio::buffer(std::string("one")));
  run_until([&] { return events_.opened == 1 && c.available() >= 3; });
  EXPECT_EQ(read_n(3), "one");

  events_.holding = true;
  asio::write(c, asio::buffer(std::string("two")));  // read and echoed; then the handler holds
  run_until([&] { return c.available() >= 3; });
  EXPECT_EQ(read_n(3), "two");
  asio::write(c, asio::buffer(std::string("three")));
  io_.run_for(100ms);
  EXPECT_EQ(c.available(), 0u) << "nothing read while the handler holds its input";
  EXPECT_EQ(events_.bytes_read, 6u);

  events_.holding = false;
  events_.stream->input_released();
  run_until([&] { return c.available() >= 5; });
  EXPECT_EQ(read_n(5), "three");
  events_.stream->input_released();  // once more: harmless
  asio::write(c, asio::buffer(std::string("four")));
  run_until([&] { return c.available() >= 4; });
  EXPECT_EQ(read_n(4), "four");
}

// A peer that sends and never reads its answers: past the high water mark the connection stops
// reading, so what the server holds for it stays bounded; once the peer reads, it goes on.
TEST_F(TcpListenerTest, UnreadOutputAboveTheHighWaterMarkPausesReading) {
  constexpr std::size_t kHigh = 256 * 1024, kLow = 64 * 1024, kRead = 64 * 1024;  // kRead: one read
  constexpr std::size_t kCap = 64 * 1024 * 1024;  // what the peer tries to send
  listener_.set_write_buffer_water_marks(kHigh, kLow);
  const auto port = listen();
  std::size_t written = 0;
  std::string got;
  std::atomic<bool> done{false};
  std::thread client([&] {
    asio::io_context cio;
    tcp::socket s(cio);
    s.connect({asio::ip::make_address("127.0.0.1"), port});
    s.non_blocking(true);
    const std::string chunk(64 * 1024, 'e');
    auto progress = std::chrono::steady_clock::now();
    while (written < kCap && std::chrono::steady_clock::now() - progress < 500ms) {
      boost::system::error_code ec;
      const auto n = s.write_some(asio::buffer(chunk), ec);
      if (ec == asio::error::would_block || ec == asio::error::try_again) {
        std::this_thread::sleep_for(2ms);
        continue;
      }
      if (ec) break;
      written += n;
      progress = std::chrono::steady_clock::now();
    }
    // Now read: everything sent comes back, so the server read on after the pause.
    s.non_blocking(false);
    got.resize(written);
    boost::system::error_code ec;
    asio::read(s, asio::buffer(got), ec);
    done = true;
  });
  run_until([&] { return done.load(); });
  client.join();
  EXPECT_LT(written, kCap) << "the peer's writes were held back";
  EXPECT_LE(events_.most_queued_after_read, kHigh + kRead) << "at most one read past the high water mark";
  EXPECT_EQ(events_.bytes_read, written) << "reading resumed once the peer read";
  EXPECT_EQ(got.size(), written);
  EXPECT_EQ(got.find_first_not_of('e'), std::string::npos);
}

// A connection closing after a flush whose peer never reads: the socket closes at the close
// timeout instead of waiting for the peer forever (which also held up mop's SIGTERM).
TEST_F(TcpListenerTest, CloseAfterFlushGivesUpOnAPeerThatNeverReads) {
  listener_.set_close_timeout(300ms);
  const auto port = listen();
  asio::io_context cio;
  tcp::socket c(cio);
  c.connect({asio::ip::make_address("127.0.0.1"), port});
  asio::write(c, asio::buffer(std::string("b")));  // 8 MiB queued: more than the sockets hold
  run_until([&] { return events_.queued_after_request > 0; });
  asio::write(c, asio::buffer(std::string("q")));  // "bye" and close after the flush
  const auto start = std::chrono::steady_clock::now();
  run_until([&] { return listener_.connection_count() == 0; });
  EXPECT_EQ(listener_.connection_count(), 0u) << "closed although the peer never read";
  EXPECT_GE(std::chrono::steady_clock::now() - start, 250ms) << "not before the close timeout";
  EXPECT_EQ(events_.closed, 1);
}

TEST_F(TcpListenerTest, BadAddressIsAnError) {
  EXPECT_FALSE(listener_.listen("256.1.1.1.invalid", 0).ok());
  EXPECT_EQ(listener_.connection_count(), 0u);
}

}  // namespace
}  // namespace mop::net
