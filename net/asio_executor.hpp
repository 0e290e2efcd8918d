#pragma once
// An io_context seen as a core::Executor (what the layers below app/ and pulsar/client's core are
// given). Header only (library mop_asio_executor): Boost.Asio and core/, nothing else of net/.
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>

#include "core/executor.hpp"

namespace mop::net {

class AsioExecutor final : public Executor {
public:
  explicit AsioExecutor(boost::asio::io_context& io) : io_(io) {}
  void post(Task task) override { boost::asio::post(io_, std::move(task)); }

private:
  boost::asio::io_context& io_;
};

}  // namespace mop::net
