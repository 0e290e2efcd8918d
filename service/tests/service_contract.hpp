#pragma once
// The contract every MessagingService implementation meets: one parameterized GoogleTest suite,
// instantiated once per implementation. The embedded service instantiates it in
// embedded_service_test.cpp; the cluster service will do the same with its own harness:
//
//   INSTANTIATE_TEST_SUITE_P(Cluster, ServiceContract,
//                            ::testing::Values(mop::service::testing::ContractParam{"cluster", make}));
#include <cstddef>
#include <functional>
#include <memory>
#include <optional>
#include <ostream>
#include <string>
#include <string_view>

#include <gtest/gtest.h>

#include "service/messaging_service.hpp"

namespace mop::service::testing {

// What the suite needs from an implementation besides the interface itself.
class ContractHarness {
public:
  virtual ~ContractHarness() = default;
  virtual MessagingService& service() = 0;
  // Runs the service's posted work until nothing is left (for an implementation with real I/O:
  // until it is quiet). Calls and callbacks happen only on the calling thread.
  virtual void settle() = 0;
  // Tasks posted and not yet run, if the harness can tell; the "never inline" tests use it.
  virtual std::optional<std::size_t> pending_tasks() = 0;
  // Entries the topic's log holds now, if the implementation can tell (the cluster one cannot).
  virtual std::optional<std::size_t> stored_entries(const TopicName& topic) = 0;
};

struct ContractParam {
  std::string name;
  std::function<std::unique_ptr<ContractHarness>()> make;
  friend std::ostream& operator<<(std::ostream& os, const ContractParam& p) { return os << p.name; }
};

class ServiceContract : public ::testing::TestWithParam<ContractParam> {
protected:
  void SetUp() override { harness_ = GetParam().make(); }
  void TearDown() override { harness_.reset(); }

  MessagingService& svc() { return harness_->service(); }
  void settle() { harness_->settle(); }
  // Publishes, settles, and returns the id the callback reported.
  MessageId publish(const TopicName& topic, std::string_view payload);
  // Publishes "<prefix>0".."<prefix>n-1" and settles.
  void publish_n(const TopicName& topic, int n, const std::string& prefix = "m");
  // Expects the topic's log to hold `expected` entries, where the harness can tell.
  void expect_stored(const TopicName& topic, std::size_t expected, const char* why = "");

  std::unique_ptr<ContractHarness> harness_;
};

// Names the instantiations after ContractParam::name.
struct ContractParamName {
  std::string operator()(const ::testing::TestParamInfo<ContractParam>& info) const { return info.param.name; }
};

}  // namespace mop::service::testing
