// The MessagingService contract (service/tests/service_contract.hpp) against ClusterService over
// a real Pulsar: Apache Pulsar standalone when PULSAR_URL and PULSAR_HTTP are set (ctest starts
// one for the suite with scripts/pulsar-standalone, see tests/integration/CMakeLists.txt), else
// `mop standalone` from MOP_BIN, started here once for the process on free ports.
//
// Each case gets a fresh ClusterService and Client, and namespaces of its own (created over the
// admin API as a user would), so that cases never see each other's topics, subscriptions or
// retained messages; the retained table lives in one system namespace per process.
//
// settle(): the harness runs the io_context until the client has nothing in flight
// (Client::operations_in_flight: requests, receipts, (re)connects, acks and negative acks not yet
// sent), lists the watched namespaces (ClusterService::poll_topics, what `mop proxy` does on a
// timer), and then until kQuiet has passed without any handler running: deliveries are the
// broker's own initiative, so that window is what lets a dispatch that follows a receipt arrive.
// Every wait is bounded (kSettleBound); a case that waits for something that never comes fails
// on its expectations, not on a hang.
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <thread>

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <gtest/gtest.h>

#include "cluster/cluster_service.hpp"
#include "mop_launch.hpp"
#include "net/asio_executor.hpp"
#include "pulsar/client/asio_client.hpp"
#include "service/tests/service_contract.hpp"

namespace mop::service::testing {
namespace {

namespace asio = boost::asio;
namespace http = boost::beast::http;
using namespace std::chrono_literals;

constexpr auto kQuiet = 150ms;         // no handler at all for this long: quiet
constexpr auto kSettleBound = 30s;     // one settle() never takes longer
constexpr auto kStartBound = 60s;      // the retained table read at start, a shutdown

// The backend, shared by every case of the process.
struct Backend {
  std::string url;   // pulsar://127.0.0.1:PORT
  std::string host;  // the admin API: host and port
  std::string port;
  pid_t mop_pid = -1;
  std::string data_dir;
  std::string prefix;  // of every namespace this process makes
  int next_case = 0;
};
Backend backend;

// PUT /admin/v2/namespaces/public/NAME: 204 made, 409 there already. Apache Pulsar answers 404
// until its `public` tenant exists, a little after its health check: retried, bounded.
void create_namespace(const std::string& name) {
  const auto deadline = std::chrono::steady_clock::now() + kStartBound;
  for (;;) {
    asio::io_context io;
    asio::ip::tcp::resolver resolver(io);
    boost::beast::tcp_stream stream(io);
    stream.connect(resolver.resolve(backend.host, backend.port));
    http::request<http::empty_body> req{http::verb::put, "/admin/v2/namespaces/public/" + name, 11};
    req.set(http::field::host, backend.host);
    http::write(stream, req);
    boost::beast::flat_buffer buf;
    http::response<http::string_body> res;
    http::read(stream, buf, res);
    const int status = static_cast<int>(res.result_int());
    if (status == 204 || status == 200 || status == 409) return;
    if (status != 404 || std::chrono::steady_clock::now() > deadline) {
      throw std::runtime_error("PUT namespace public/" + name + ": HTTP " + std::to_string(status) + " " +
                               res.body());
    }
    std::this_thread::sleep_for(500ms);
  }
}

class ClusterHarness final : public ContractHarness {
public:
  ClusterHarness() : executor_(io_), case_(std::to_string(backend.next_case++)) {
    auto made = pulsar::client::make_asio_client(io_, {.service_url = backend.url});
    if (!made.ok()) throw std::runtime_error("client: " + made.error().to_string());
    client_ = std::move(made.value());
    cluster::ClusterOptions options;
    options.system_namespace = "public/" + backend.prefix + "-sys";
    service_ = std::make_unique<cluster::ClusterService>(executor_, client_->client(), options);
    std::optional<Result<void, Error>> started;
    service_->start([&](Result<void, Error> r) { started = std::move(r); });
    net::run_until(io_, [&] { return started.has_value(); }, kStartBound);
    if (!started || !started->ok()) {
      throw std::runtime_error("ClusterService::start: " + (started ? started->error().message : "timed out"));
    }
  }

  ~ClusterHarness() override {
    // The case's listeners are gone by now: the service goes first, so that nothing still on its
    // way (a SUBSCRIBE the case did not wait for) reaches them; the client then closes every
    // producer and consumer on the broker.
    service_.reset();
    bool closed = false;
    client_->client().close([&](auto) { closed = true; });
    net::run_until(io_, [&] { return closed; }, kStartBound);
    client_.reset();
  }

  MessagingService& service() override { return *service_; }

  void settle() override {
    const auto deadline = std::chrono::steady_clock::now() + kSettleBound;
    for (;;) {
      busy(deadline);
      service_->poll_topics();
      busy(deadline);
      // Quiet: nothing in flight, and no handler at all for kQuiet.
      bool active = false;
      const auto quiet_until = std::chrono::steady_clock::now() + kQuiet;
      while (!active && std::chrono::steady_clock::now() < quiet_until) {
        active = io_.run_one_until(quiet_until) > 0;
      }
      if (!active || std::chrono::steady_clock::now() > deadline) return;
    }
  }

  std::optional<std::size_t> pending_tasks() override { return std::nullopt; }
  std::optional<std::size_t> stored_entries(const TopicName&) override { return std::nullopt; }
  bool in_process() override { return false; }

  NamespaceName namespace_named(const std::string& name) override {
    const std::string ns = backend.prefix + "-" + case_ + "-" + name;
    if (created_.insert(ns).second) create_namespace(ns);
    return {"public", ns};
  }

private:
  // Runs handlers until the client has nothing in flight and nothing is ready to run.
  void busy(std::chrono::steady_clock::time_point deadline) {
    while (std::chrono::steady_clock::now() < deadline) {
      const bool ran = io_.poll() > 0;
      if (!ran && client_->client().operations_in_flight() == 0) return;
      if (!ran) io_.run_one_for(10ms);
    }
  }

  asio::io_context io_;
  net::AsioExecutor executor_;
  std::string case_;
  std::set<std::string> created_;
  std::unique_ptr<pulsar::client::AsioClient> client_;
  std::unique_ptr<cluster::ClusterService> service_;
};

}  // namespace

INSTANTIATE_TEST_SUITE_P(Cluster, ServiceContract,
                         ::testing::Values(ContractParam{"cluster", [] { return std::make_unique<ClusterHarness>(); }}),
                         ContractParamName{});

namespace {

// Starts the backend before the first case and stops what it started after the last.
int start_backend() {
  backend.prefix = "cc" + std::to_string(::getpid()) + "-" +
                   std::to_string(std::chrono::system_clock::now().time_since_epoch() / 1s % 100000);
  const char* url = std::getenv("PULSAR_URL");
  const char* admin = std::getenv("PULSAR_HTTP");
  if (url != nullptr && admin != nullptr) {
    backend.url = url;
    std::string http = admin;  // http://127.0.0.1:PORT
    if (http.starts_with("http://")) http = http.substr(7);
    const auto colon = http.rfind(':');
    backend.host = http.substr(0, colon);
    backend.port = http.substr(colon + 1);
    std::cout << "backend: Apache Pulsar at " << backend.url << "\n";
  } else {
    const char* bin = std::getenv("MOP_BIN");
    if (bin == nullptr) {
      std::cerr << "set MOP_BIN (mop standalone as the backend) or PULSAR_URL and PULSAR_HTTP\n";
      return 2;
    }
    char tmpl[] = "/tmp/mop-cluster-contract-XXXXXX";
    if (::mkdtemp(tmpl) == nullptr) return 2;
    backend.data_dir = tmpl;
    auto started = mop_launch::launch(bin, backend.data_dir + "/data", backend.data_dir + "/mop.log",
                                         // Retention, as a Pulsar cluster has in effect until a ledger is
                                         // trimmed (test_proxy.py); without a time limit, as the cases
                                         // publish with times of 2023.
                                         {"--defaultRetentionTimeInMinutes=-1", "--defaultRetentionSizeInMB=-1"});
    if (!started.error.empty()) {
      std::cerr << "mop standalone: " << started.error << " (log: " << backend.data_dir << "/mop.log)\n";
      return 2;
    }
    backend.mop_pid = started.pid;
    backend.url = "pulsar://127.0.0.1:" + std::to_string(started.pulsar_port());
    backend.host = "127.0.0.1";
    backend.port = std::to_string(started.ready.at("web").at("port").get<int>());
    std::cout << "backend: mop standalone at " << backend.url << " (log: " << backend.data_dir << "/mop.log)\n";
  }
  try {
    create_namespace(backend.prefix + "-sys");
  } catch (const std::exception& e) {
    std::cerr << e.what() << "\n";
    return 2;
  }
  return 0;
}

void stop_backend(bool keep_log) {
  if (backend.mop_pid > 0) {
    ::kill(backend.mop_pid, SIGTERM);
    ::waitpid(backend.mop_pid, nullptr, 0);
    backend.mop_pid = -1;
  }
  if (!backend.data_dir.empty() && !keep_log) std::filesystem::remove_all(backend.data_dir);
}

}  // namespace
}  // namespace mop::service::testing

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  if (const int rc = mop::service::testing::start_backend(); rc != 0) {
    mop::service::testing::stop_backend(true);
    return rc;
  }
  const int rc = RUN_ALL_TESTS();
  mop::service::testing::stop_backend(rc != 0);
  return rc;
}
