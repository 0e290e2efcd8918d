#include <string>
#include <system_error>

#include "service/messaging_service.hpp"

namespace mop::service {

namespace {
class ServiceCategory final : public std::error_category {
public:
  const char* name() const noexcept override { return "mop.service"; }
  std::string message(int ev) const override {
    switch (static_cast<ServiceError>(ev)) {
      case ServiceError::consumer_busy: return "consumer busy: the exclusive subscription already has a consumer";
      case ServiceError::subscription_not_found: return "subscription not found";
      case ServiceError::topic_not_found: return "topic not found";
      case ServiceError::persistence_error: return "persistence error";
      case ServiceError::service_not_ready: return "service not ready";
      case ServiceError::backlog_quota_exceeded:
        return "the topic's backlog is over its quota (backlogQuotaDefaultLimitBytes): publishing is refused until "
               "subscribers catch up";
    }
    return "unknown service error " + std::to_string(ev);
  }
};
}  // namespace

const std::error_category& service_category() noexcept {
  static const ServiceCategory category;
  return category;
}

}  // namespace mop::service
