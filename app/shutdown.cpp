#include "app/shutdown.hpp"

#include <csignal>

#include "core/log.hpp"

namespace mop::app {

ShutdownOnSignal::ShutdownOnSignal(boost::asio::io_context& io, std::function<void()> stop)
    : signals_(io, SIGINT, SIGTERM), stop_(std::move(stop)) {
  signals_.async_wait([this](boost::system::error_code ec, int signo) {
    if (ec) return;
    log::get("mop")->info("signal {} received: shutting down", signo);
    stop_();
  });
}

}  // namespace mop::app
