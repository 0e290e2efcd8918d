#pragma once
// HealthCheck: Pulsar's broker health check, through the messaging service as any client would
// use it: a non-durable subscription at `latest` on the health-check topic, a publish of a
// unique payload, and the wait for that payload to be delivered. It answers "ok" once the
// message came back, or an error (publish failed, nothing delivered within the timeout).
//
// Thread: the io_context's, which is the service's.
#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <set>
#include <string>

#include <boost/asio/io_context.hpp>

#include "core/result.hpp"
#include "service/messaging_service.hpp"

namespace mop::http {

class HealthCheck {
public:
  // The result: ok when healthy, else what went wrong.
  using Done = std::function<void(Result<void, std::string> result)>;

  // `topic` is where the check publishes (Pulsar: persistent://pulsar/<broker>/healthcheck).
  HealthCheck(boost::asio::io_context& io, service::MessagingService& service, service::TopicName topic,
              std::chrono::milliseconds timeout = std::chrono::seconds(10));
  ~HealthCheck();
  HealthCheck(const HealthCheck&) = delete;
  HealthCheck& operator=(const HealthCheck&) = delete;

  // Starts one check; `done` runs once, later. Checks may overlap (each has its own subscription).
  void run(Done done);
  // Ends every running check with an error (server shutdown).
  void shutdown();
  const service::TopicName& topic() const { return topic_; }

  class Run;

private:
  friend class Run;
  boost::asio::io_context& io_;
  service::MessagingService& service_;
  service::TopicName topic_;
  std::chrono::milliseconds timeout_;
  std::uint64_t next_id_ = 1;
  std::set<std::shared_ptr<Run>> running_;
};

}  // namespace mop::http
