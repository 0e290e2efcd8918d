#pragma once
// The Executor that lower layers post to, backed by an io_context.
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>

#include "core/executor.hpp"

namespace mop::app {

class AsioExecutor final : public Executor {
public:
  explicit AsioExecutor(boost::asio::io_context& io) : io_(io) {}
  void post(Task task) override { boost::asio::post(io_, std::move(task)); }

private:
  boost::asio::io_context& io_;
};

}  // namespace mop::app
