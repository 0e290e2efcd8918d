// The one shutdown wiring of `mop standalone` and `mop proxy`: the first SIGINT or SIGTERM is
// logged ("signal N received: shutting down") and runs the mode's `stop` on the io_context.
#pragma once

#include <functional>

#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>

namespace mop::app {

class ShutdownOnSignal {
public:
  // Waits from now on, for as long as this object lives; `stop` runs at most once.
  ShutdownOnSignal(boost::asio::io_context& io, std::function<void()> stop);

private:
  boost::asio::signal_set signals_;
  std::function<void()> stop_;
};

}  // namespace mop::app
