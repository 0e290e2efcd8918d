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
  // The namespace the cases call `name` ("default", "other-ns"). In memory every harness starts
  // empty, so public/<name>; a harness over a shared backend (a Pulsar cluster that outlives the
  // case) gives each case namespaces of its own, so that cases never see each other's topics.
  virtual NamespaceName namespace_named(const std::string& name) { return {"public", name}; }
  // Whether the implementation is itself the broker: it picks which receiver of a subscription
  // gets a message by the receivers' permits, counts every redelivery (a closed or detached
  // receiver's messages too), trims what every subscription acknowledged and knows every
  // subscription. True for the in-process implementations. False for the cluster one, where an
  // Apache Pulsar broker does all that by its own rules: the assertions that state the
  // in-process rules run only where this is true (service/README.md, "Embedded-only").
  virtual bool in_process() { return true; }
};

struct ContractParam {
  std::string name;
  std::function<std::unique_ptr<ContractHarness>()> make;
  friend std::ostream& operator<<(std::ostream& os, const ContractParam& p) { return os << p.name; }
};

class ServiceContract : public ::testing::TestWithParam<ContractParam> {
protected:
  void SetUp() override {
    harness_ = GetParam().make();
    kDefault = harness_->namespace_named("default");
  }
  void TearDown() override { harness_.reset(); }

  MessagingService& svc() { return harness_->service(); }
  // A persistent topic of the harness's namespace `ns` (namespace_named).
  TopicName topic(const std::string& local, const std::string& ns = "default") {
    const auto n = harness_->namespace_named(ns);
    return TopicName(TopicDomain::persistent, n.tenant, n.ns, local);
  }
  void settle() { harness_->settle(); }
  // Publishes, settles, and returns the id the callback reported.
  MessageId publish(const TopicName& topic, std::string_view payload);
  // Publishes "<prefix>0".."<prefix>n-1" and settles.
  void publish_n(const TopicName& topic, int n, const std::string& prefix = "m");
  // Expects the topic's log to hold `expected` entries, where the harness can tell.
  void expect_stored(const TopicName& topic, std::size_t expected, const char* why = "");
  // Whether the in-process rules apply (ContractHarness::in_process).
  bool in_process() { return harness_->in_process(); }

  std::unique_ptr<ContractHarness> harness_;
  NamespaceName kDefault;  // namespace_named("default")
};

// Names the instantiations after ContractParam::name.
struct ContractParamName {
  std::string operator()(const ::testing::TestParamInfo<ContractParam>& info) const { return info.param.name; }
};

}  // namespace mop::service::testing
