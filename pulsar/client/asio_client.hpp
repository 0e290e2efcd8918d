#pragma once
// The thin Boost.Asio driver: a Client whose brokers are reached over TCP sockets of `io` and
// whose callbacks and timers run on `io` (its executor). Everything in client.hpp applies.
#include <memory>

#include <boost/asio/io_context.hpp>

#include "pulsar/client/client.hpp"

namespace mop::pulsar::client {

// Owns the client, its TCP transport, its executor and its tick timer. Destroy it on io's thread.
class AsioClient {
public:
  virtual ~AsioClient() = default;
  virtual Client& client() = 0;
};

// invalid_argument if config.service_url is unusable.
Result<std::unique_ptr<AsioClient>, Error> make_asio_client(boost::asio::io_context& io, ClientConfig config);

}  // namespace mop::pulsar::client
