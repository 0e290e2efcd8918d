#include "http/health.hpp"

#include <boost/asio/steady_timer.hpp>
#include <fmt/format.h>

namespace mop::http {

class HealthCheck::Run final : public service::ReceiverListener, public std::enable_shared_from_this<Run> {
public:
  Run(HealthCheck& owner, std::uint64_t id, Done done)
      : owner_(owner), timer_(owner.io_), done_(std::move(done)),
        subscription_(fmt::format("healthCheck-{}", id)),
        payload_(fmt::format("mop-health-check-{}-{}", id,
                             std::chrono::steady_clock::now().time_since_epoch().count())) {}

  void start() {
    auto& service = owner_.service_;
    receiver_ = service.open_receiver(*this);
    service::SubscriptionOptions options;
    options.type = service::SubscriptionType::exclusive;
    options.initial_position = service::InitialPosition::latest;
    options.durable = false;
    if (const auto r = service.subscribe(owner_.topic_, subscription_, options, receiver_); !r.ok()) {
      return finish(fmt::format("cannot subscribe to {}: {}", owner_.topic_.str(), r.error().message()));
    }
    service.flow(receiver_, 16);
    timer_.expires_after(owner_.timeout_);
    timer_.async_wait([weak = weak_from_this()](boost::system::error_code ec) {
      if (ec) return;
      if (const auto self = weak.lock()) self->finish("the health-check message was not delivered in time");
    });
    auto message = std::make_shared<service::Message>();
    message->payload = Payload::copy_of(payload_);
    message->producer_name = "mop-health-check";
    service.publish(owner_.topic_, std::move(message),
                    [weak = weak_from_this()](std::error_code ec, service::MessageId) {
                      if (!ec) return;
                      if (const auto self = weak.lock()) {
                        self->finish(fmt::format("cannot publish the health-check message: {}", ec.message()));
                      }
                    });
  }

  void on_message(const service::TopicName& topic, const std::string& subscription, service::MessageId id,
                  const service::MessagePtr& message, std::uint32_t) override {
    if (finished_) return;
    owner_.service_.ack(topic, subscription, id);
    owner_.service_.flow(receiver_, 1);
    if (message->payload.view() == payload_) finish({});
  }

  void finish(Result<void, std::string> result) {
    if (finished_) return;
    finished_ = true;
    timer_.cancel();
    // The subscription is non-durable: closing its only receiver removes it.
    if (receiver_ != 0) owner_.service_.close_receiver(receiver_);
    auto done = std::move(done_);
    auto self = shared_from_this();  // keeps this alive until the end of this call
    owner_.running_.erase(self);
    done(std::move(result));
  }

private:
  HealthCheck& owner_;
  boost::asio::steady_timer timer_;
  Done done_;
  std::string subscription_;
  std::string payload_;
  service::ReceiverId receiver_ = 0;
  bool finished_ = false;
};

HealthCheck::HealthCheck(boost::asio::io_context& io, service::MessagingService& service, service::TopicName topic,
                         std::chrono::milliseconds timeout)
    : io_(io), service_(service), topic_(std::move(topic)), timeout_(timeout) {}

HealthCheck::~HealthCheck() { shutdown(); }

void HealthCheck::run(Done done) {
  auto run = std::make_shared<Run>(*this, next_id_++, std::move(done));
  running_.insert(run);
  run->start();
}

void HealthCheck::shutdown() {
  while (!running_.empty()) (*running_.begin())->finish("mop is shutting down");
}

}  // namespace mop::http
