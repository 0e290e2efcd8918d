// The web service end to end in one process: HttpServer on 127.0.0.1:0 with the real routes over
// a real EmbeddedService, driven by a Boost.Beast client on another thread: the admin JSON
// shapes, the health check's publish and consume, keep-alive, the size limits, the idle timeout.
#include <future>
#include <map>
#include <thread>

#include <sys/socket.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "net/asio_executor.hpp"
#include "core/clock.hpp"
#include "http/admin.hpp"
#include "http/dashboard.hpp"
#include "http/server.hpp"
#include "service/embedded_service.hpp"

namespace mop::http {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
using tcp = asio::ip::tcp;
using nlohmann::json;

struct Collector : service::ReceiverListener {
  std::vector<service::MessageId> ids;
  void on_message(const service::TopicName&, const std::string&, service::MessageId id, const service::MessagePtr&,
                  std::uint32_t) override {
    ids.push_back(id);
  }
};

class WebTest : public ::testing::Test {
protected:
  void SetUp() override {
    ServerOptions options;
    options.body_limit = 1024;
    options.header_limit = 2048;
    options.idle_timeout = std::chrono::milliseconds(300);
    server_ = std::make_unique<HttpServer>(io_, router_, options);
    add_web_routes(router_, context_);
    auto bound = server_->listen("127.0.0.1", 0);
    ASSERT_TRUE(bound.ok()) << bound.error().message();
    port_ = bound->port();
    thread_ = std::thread([this] { io_.run(); });
  }

  void TearDown() override {
    on_io([this] {
      health_.shutdown();
      server_->shutdown();
      if (receiver_ != 0) service_.close_receiver(receiver_);
      work_.reset();
    });
    thread_.join();
  }

  // Runs `f` on the io thread and waits for it.
  template <typename F>
  void on_io(F f) {
    std::promise<void> done;
    asio::post(io_, [&] {
      f();
      done.set_value();
    });
    done.get_future().get();
  }

  tcp::socket connect() {
    tcp::socket s(client_io_);
    s.connect({asio::ip::make_address("127.0.0.1"), port_});
    return s;
  }

  bhttp::response<bhttp::string_body> get(tcp::socket& s, const std::string& target, bool keep_alive = true) {
    bhttp::request<bhttp::string_body> req(bhttp::verb::get, target, 11);
    req.set(bhttp::field::host, "127.0.0.1");
    req.keep_alive(keep_alive);
    bhttp::write(s, req);
    beast::flat_buffer buffer;
    bhttp::response<bhttp::string_body> res;
    bhttp::read(s, buffer, res);
    return res;
  }

  bhttp::response<bhttp::string_body> get(const std::string& target) {
    auto s = connect();
    return get(s, target, false);
  }

  void publish(const std::string& topic, int n) {
    on_io([&] {
      for (int i = 0; i < n; ++i) {
        auto m = std::make_shared<service::Message>();
        m->payload = Payload::copy_of(std::string_view("0123456789"));
        service_.publish(*service::TopicName::parse(topic), std::move(m), {});
      }
    });
    on_io([] {});  // the posted completions and deliveries have run
  }

  asio::io_context io_{1};
  std::optional<asio::executor_work_guard<asio::io_context::executor_type>> work_{asio::make_work_guard(io_)};
  net::AsioExecutor executor_{io_};
  SystemClock clock_;
  service::EmbeddedService service_{executor_, clock_};
  HealthCheck health_{io_, service_, *service::TopicName::parse("persistent://pulsar/127.0.0.1:0/healthcheck")};
  WebContext context_{service_.broker(), health_, MetricsSources{.broker = &service_.broker(), .process = false}};
  Router router_;
  std::unique_ptr<HttpServer> server_;
  std::uint16_t port_ = 0;
  std::thread thread_;
  asio::io_context client_io_;
  Collector collector_;
  service::ReceiverId receiver_ = 0;
};

TEST_F(WebTest, StatusReadyAndHealth) {
  auto status = get("/status.html");
  EXPECT_EQ(status.result_int(), 200);
  EXPECT_EQ(status.body(), "OK");
  EXPECT_EQ(get("/admin/v2/brokers/ready").body(), "ok");
  auto health = get("/admin/v2/brokers/health");
  EXPECT_EQ(health.result_int(), 200);
  EXPECT_EQ(health.body(), "ok");
  // It really went through the broker: the health-check topic got the message, and its
  // subscription is gone afterwards.
  auto stats = json::parse(get("/admin/v2/persistent/pulsar/127.0.0.1:0/healthcheck/stats").body());
  EXPECT_EQ(stats.at("msgInCounter"), 1);
  EXPECT_TRUE(stats.at("subscriptions").empty());
}

TEST_F(WebTest, AdminListsAndTopicStats) {
  on_io([this] {
    receiver_ = service_.open_receiver(collector_);
    service::SubscriptionOptions options;
    options.type = service::SubscriptionType::failover;
    ASSERT_TRUE(service_.subscribe(*service::TopicName::parse("persistent://public/default/a%2Fb"), "s1", options,
                                    receiver_).ok());
    service_.flow(receiver_, 1);
  });
  publish("persistent://public/default/a%2Fb", 3);
  publish("non-persistent://acme/iot/x", 1);

  EXPECT_EQ(json::parse(get("/admin/v2/tenants").body()), json({"acme", "public"}));
  EXPECT_EQ(json::parse(get("/admin/v2/namespaces/acme").body()), json({"acme/iot"}));
  EXPECT_EQ(json::parse(get("/admin/v2/namespaces/public").body()), json({"public/default"}));
  EXPECT_EQ(get("/admin/v2/namespaces/nobody").result_int(), 404);
  EXPECT_EQ(json::parse(get("/admin/v2/persistent/public/default").body()),
            json({"persistent://public/default/a%2Fb"}));
  EXPECT_EQ(json::parse(get("/admin/v2/non-persistent/acme/iot").body()), json({"non-persistent://acme/iot/x"}));
  EXPECT_EQ(json::parse(get("/admin/v2/persistent/acme/iot").body()), json::array());
  EXPECT_EQ(get("/admin/v2/persistent/acme/none").result_int(), 404);

  const auto res = get("/admin/v2/persistent/public/default/a%252Fb/stats");
  ASSERT_EQ(res.result_int(), 200) << res.body();
  EXPECT_EQ(res[bhttp::field::content_type], "application/json");
  const auto stats = json::parse(res.body());
  EXPECT_EQ(stats.at("msgInCounter"), 3);
  EXPECT_EQ(stats.at("bytesInCounter"), 30);
  EXPECT_EQ(stats.at("storageSize"), 30);
  const auto& sub = stats.at("subscriptions").at("s1");
  EXPECT_EQ(sub.at("msgBacklog"), 3);
  EXPECT_EQ(sub.at("unackedMessages"), 1);
  EXPECT_EQ(sub.at("type"), "Failover");
  EXPECT_EQ(sub.at("msgOutCounter"), 1);
  ASSERT_EQ(sub.at("consumers").size(), 1u);
  EXPECT_EQ(sub.at("consumers")[0].at("availablePermits"), 0);

  const auto missing = get("/admin/v2/persistent/public/default/nope/stats");
  EXPECT_EQ(missing.result_int(), 404);
  EXPECT_EQ(json::parse(missing.body()).at("reason"), "Topic persistent://public/default/nope not found");
}

// The dashboard: the page at / and each embedded file under /dashboard/, with its type, caching
// and a Content-Security-Policy that allows only this origin.
TEST_F(WebTest, DashboardPageAndAssetsAreServedWithTheirTypes) {
  const std::map<std::string, std::string> expected_types = {
      {"index.html", "text/html; charset=utf-8"},
      {"dashboard.css", "text/css; charset=utf-8"},
      {"dashboard.js", "text/javascript; charset=utf-8"},
      {"icon.svg", "image/svg+xml"},
  };
  std::map<std::string, std::string> embedded;
  for (const auto& f : dashboard_files()) embedded.emplace(f.name, f.data);
  ASSERT_EQ(embedded.size(), expected_types.size());
  const auto check_headers = [](const bhttp::response<bhttp::string_body>& res) {
    EXPECT_EQ(res[bhttp::field::cache_control], "no-cache");
    EXPECT_EQ(res["X-Content-Type-Options"], "nosniff");
    const std::string csp(res["Content-Security-Policy"]);
    EXPECT_EQ(csp, dashboard_csp);
    EXPECT_NE(csp.find("default-src 'none'"), std::string::npos);
    EXPECT_EQ(csp.find("http"), std::string::npos) << "no external source";
    EXPECT_EQ(csp.find("unsafe"), std::string::npos) << "no inline script or style";
  };

  const auto page = get("/");
  ASSERT_EQ(page.result_int(), 200) << page.body();
  EXPECT_EQ(page[bhttp::field::content_type], "text/html; charset=utf-8");
  check_headers(page);
  ASSERT_TRUE(embedded.contains("index.html"));
  EXPECT_EQ(page.body(), embedded["index.html"]);
  EXPECT_NE(page.body().find("<canvas"), std::string::npos);

  for (const auto& [name, type] : expected_types) {
    if (name == "index.html") continue;
    ASSERT_TRUE(embedded.contains(name)) << name;
    // The page refers to each of its files.
    EXPECT_NE(page.body().find("\"/dashboard/" + name + "\""), std::string::npos) << name;
    const auto res = get("/dashboard/" + name);
    ASSERT_EQ(res.result_int(), 200) << name;
    EXPECT_EQ(res[bhttp::field::content_type], type) << name;
    check_headers(res);
    EXPECT_FALSE(res.body().empty()) << name;
    EXPECT_EQ(res.body(), embedded[name]) << name;
  }

  // Nothing else is served from there, and the page is read-only.
  const auto missing = get("/dashboard/nope.js");
  EXPECT_EQ(missing.result_int(), 404);
  EXPECT_EQ(json::parse(missing.body()).at("reason"), "No dashboard file nope.js");
  EXPECT_EQ(get("/dashboard/index.html").result_int(), 404);
  EXPECT_EQ(get("/dashboard/..%2Fserver.cpp").result_int(), 404);
  auto s = connect();
  bhttp::request<bhttp::string_body> post(bhttp::verb::post, "/", 11);
  post.set(bhttp::field::host, "127.0.0.1");
  post.keep_alive(false);
  bhttp::write(s, post);
  beast::flat_buffer buffer;
  bhttp::response<bhttp::string_body> refused;
  bhttp::read(s, buffer, refused);
  EXPECT_EQ(refused.result_int(), 405);
  EXPECT_EQ(refused[bhttp::field::allow], "GET");
}

TEST_F(WebTest, KeepAliveServesSeveralRequestsOnOneConnection) {
  auto s = connect();
  for (int i = 0; i < 3; ++i) {
    auto res = get(s, "/status.html");
    EXPECT_EQ(res.body(), "OK");
    EXPECT_TRUE(res.keep_alive());
  }
  auto last = get(s, "/status.html", false);
  EXPECT_FALSE(last.keep_alive());
  // The server closes after a Connection: close exchange.
  beast::flat_buffer buffer;
  bhttp::response<bhttp::string_body> res;
  beast::error_code ec;
  bhttp::read(s, buffer, res, ec);
  EXPECT_EQ(ec, bhttp::error::end_of_stream);
}

TEST_F(WebTest, MethodNotAllowedAndSizeLimits) {
  {
    auto s = connect();
    bhttp::request<bhttp::string_body> req(bhttp::verb::delete_, "/admin/v2/tenants", 11);
    req.set(bhttp::field::host, "x");
    bhttp::write(s, req);
    beast::flat_buffer buffer;
    bhttp::response<bhttp::string_body> res;
    bhttp::read(s, buffer, res);
    EXPECT_EQ(res.result_int(), 405);
    EXPECT_EQ(res[bhttp::field::allow], "GET");
  }
  {
    auto s = connect();
    bhttp::request<bhttp::string_body> req(bhttp::verb::post, "/admin/v2/tenants", 11);
    req.set(bhttp::field::host, "x");
    req.body() = std::string(4096, 'x');
    req.prepare_payload();
    bhttp::write(s, req);
    beast::flat_buffer buffer;
    bhttp::response<bhttp::string_body> res;
    bhttp::read(s, buffer, res);
    EXPECT_EQ(res.result_int(), 413);
    EXPECT_FALSE(res.keep_alive());
  }
  {
    auto s = connect();
    bhttp::request<bhttp::string_body> req(bhttp::verb::get, "/status.html", 11);
    req.set(bhttp::field::host, "x");
    req.set("X-Filler", std::string(4096, 'y'));
    bhttp::write(s, req);
    beast::flat_buffer buffer;
    bhttp::response<bhttp::string_body> res;
    bhttp::read(s, buffer, res);
    EXPECT_EQ(res.result_int(), 431);
  }
}

// Bytes that are no HTTP request (a bad request line, a bad header, a bad chunk size) get a 400
// with Pulsar's {"reason"} and the connection is closed; before, it was closed without a word.
TEST_F(WebTest, UnparseableRequestIsAnswered400ThenClosed) {
  for (const std::string& bad : {std::string("\x16\x03\x01\x00\x05hello\r\n\r\n"),
                                std::string("GET /status.html HTTP/1.1\r\nBad Header\r\n\r\n"),
                                std::string("GET /status.html HTTP/9.9\r\n\r\n"),
                                std::string("POST /admin/v2/tenants HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
                                            "zz\r\n")}) {
    SCOPED_TRACE(bad);
    auto s = connect();
    asio::write(s, asio::buffer(bad));
    beast::flat_buffer buffer;
    bhttp::response<bhttp::string_body> res;
    bhttp::read(s, buffer, res);
    EXPECT_EQ(res.result_int(), 400);
    EXPECT_FALSE(res.keep_alive());
    EXPECT_TRUE(json::parse(res.body()).contains("reason")) << res.body();
    std::array<char, 16> more{};
    boost::system::error_code ec;
    s.read_some(asio::buffer(more), ec);
    EXPECT_EQ(ec, asio::error::eof);
  }
  // The server still answers.
  EXPECT_EQ(get("/status.html").body(), "OK");
}

// A name that %-decodes to bytes that are not UTF-8 (found by http_server_fuzz): the JSON of the
// answer replaces them (U+FFFD) rather than throw out of the handler, which ended the io_context
// and with it the process.
TEST_F(WebTest, NamesThatAreNotUtf8AreAnsweredNotThrown) {
  for (const std::string target : {"/admin/v2/persistent/t/n/a%b00/stats", "/admin/v2/tenants/%ff",
                                   "/admin/v2/namespaces/%c3"}) {
    SCOPED_TRACE(target);
    const auto res = get(target);
    EXPECT_EQ(res.result_int(), 404);
    EXPECT_TRUE(json::parse(res.body()).contains("reason")) << res.body();
  }
  EXPECT_EQ(get("/status.html").body(), "OK");
}

TEST_F(WebTest, IdleConnectionIsClosed) {
  auto s = connect();
  EXPECT_EQ(get(s, "/status.html").body(), "OK");
  // Nothing more is sent: after the idle timeout (300 ms here) the server closes the connection.
  // (A receive timeout turns a server that never closes into a failure rather than a hang.)
  timeval limit{20, 0};
  ASSERT_EQ(::setsockopt(s.native_handle(), SOL_SOCKET, SO_RCVTIMEO, &limit, sizeof limit), 0);
  std::array<char, 16> buf{};
  boost::system::error_code ec;
  s.read_some(asio::buffer(buf), ec);
  EXPECT_EQ(ec, asio::error::eof);
  // Beast closes the socket when the timer fires and ends the connection when the cancelled read
  // completes, a moment later.
  std::size_t open = 1;
  for (int i = 0; i < 500 && open != 0; ++i) {
    on_io([&] { open = server_->connection_count(); });
    if (open != 0) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_EQ(open, 0u);
}

}  // namespace
}  // namespace mop::http
