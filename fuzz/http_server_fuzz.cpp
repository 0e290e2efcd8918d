// libFuzzer target: the whole web service. HttpServer (Boost.Beast, as `mop standalone` runs it)
// with every route (admin reads and writes, permissions, MQTT admin, metrics, health, dashboard)
// over a real EmbeddedService on a MemoryStore (StoreLedger, StorePersistence), a PulsarServer and
// a SessionRouter, with a ManualExecutor and a ManualClock for the service.
//
// Beast's tcp_stream needs a real socket, so the connections are loopback sockets in-process: the
// server listens on 127.0.0.1:0 on the target's own io_context, the clients are non-blocking
// sockets on the same io_context, and the program polls that io_context (never run: nothing
// waits) after each op. Everything the server writes is parsed back as HTTP responses: the server
// never writes bytes that are not a response.
//
// The input is a program (fuzz/README.md): open a connection, send a chunk of raw bytes, send one
// to three well-formed requests (methods, paths, tenants, namespaces, topics, subscriptions,
// %-encoding, query strings, bodies with Content-Length or chunked, keep-alive or close), cut in
// two writes or not, half-close or close a connection, run pending executor tasks (the store's
// completions, deliveries to the health check), advance the clock, make the store fail writes,
// shut the server down.
#include <array>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>

#include "auth/permissions.hpp"
#include "core/clock.hpp"
#include "core/executor.hpp"
#include "core/log.hpp"
#include "fuzz/fuzz_input.hpp"
#include "http/admin.hpp"
#include "http/health.hpp"
#include "http/namespaces.hpp"
#include "http/permissions.hpp"
#include "http/server.hpp"
#include "mqtt/server/session_router.hpp"
#include "pulsar/server/pulsar_server.hpp"
#include "service/embedded_service.hpp"
#include "storage/memory_store.hpp"
#include "storage/store_ledger.hpp"
#include "storage/store_persistence.hpp"
#include "storage/store_state.hpp"

namespace {

using namespace mop;
namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
using tcp = asio::ip::tcp;
using fuzz::Input;

const std::vector<std::string> kMethods = {"GET", "PUT", "POST", "DELETE", "HEAD", "GET", "OPTIONS", "G%T"};
const std::vector<std::string> kTenants = {"public", "t1", "t2", "pulsar", "a%2Fb", "%", "", "t%20x"};
const std::vector<std::string> kNamespaces = {"default", "n1", "n2", "%2e%2e", "n%252F"};
const std::vector<std::string> kTopics = {"t", "p", "t-partition-0", "p-partition-1", "a%2Fb", "x%00"};
const std::vector<std::string> kSubs = {"s", "s2", "%24g", ""};
const std::vector<std::string> kDomains = {"persistent", "non-persistent", "bogus"};
const std::vector<std::string> kFixed = {"/",
                                         "/dashboard/dashboard.js",
                                         "/dashboard/index.html",
                                         "/dashboard/../x",
                                         "/metrics",
                                         "/status.html",
                                         "/admin/v2/brokers/health",
                                         "/admin/v2/brokers/ready",
                                         "/admin/v2/tenants",
                                         "/mop/stats",
                                         "/mop/clients",
                                         "/mop/clients/a",
                                         "*",
                                         "http://h/metrics",
                                         "//admin//v2/tenants/"};
const std::vector<std::string> kNsSuffix = {"", "/retention", "/messageTTL", "/backlogQuotaMap", "/backlogQuota",
                                            "/deduplication", "/permissions", "/permissions/r1"};
const std::vector<std::string> kTopicSuffix = {"",
                                               "/stats",
                                               "/partitions",
                                               "/partitioned-stats?perPartition=false",
                                               "/internalStats",
                                               "/subscriptions",
                                               "/unload",
                                               "/permissions",
                                               "/permissions/r1",
                                               "/subscription/SUB",
                                               "/subscription/SUB/skip_all",
                                               "/subscription/SUB/skip/3",
                                               "/subscription/SUB/expireMessages/10",
                                               "/subscription/SUB/resetcursor/0",
                                               "/subscription/SUB/resetcursor",
                                               "/subscription/SUB/skip/-1"};
const std::vector<std::string> kBodies = {"",
                                          "2",
                                          "0",
                                          "-1",
                                          "99999999999",
                                          "true",
                                          "{}",
                                          "[\"produce\",\"consume\"]",
                                          "[\"fly\"]",
                                          "{\"retentionTimeInMinutes\":1,\"retentionSizeInMB\":-1}",
                                          "{\"limitSize\":10,\"limitTime\":-1,\"policy\":\"producer_exception\"}",
                                          "{\"ledgerId\":0,\"entryId\":0}",
                                          "{\"adminRoles\":[],\"allowedClusters\":[\"standalone\"]}",
                                          "{\"a\":",
                                          "\xff\xfe"};

struct Client {
  explicit Client(asio::io_context& io) : socket(io) {}
  tcp::socket socket;
  std::string received;  // not yet parsed
  std::optional<bhttp::response_parser<bhttp::string_body>> parser;
  bool open = true;
};

void run_tasks(ManualExecutor& exec, std::size_t most = 100'000) {
  for (std::size_t i = 0; i < most && exec.run_one(); ++i) {
  }
}

class World {
public:
  World() {
    persistence_ = std::make_unique<storage::StorePersistence>(store_, exec_);
    service_ = std::make_unique<service::EmbeddedService>(exec_, clock_, storage::ledger_factory(store_, exec_),
                                                          persistence_.get());
    if (auto e = service_->restore(); !e.ok()) {
      std::fprintf(stderr, "restore failed: %s\n", e.error().message.c_str());
      std::abort();
    }
    pulsar_options_.service_url = "pulsar://127.0.0.1:6650";
    pulsar_ = std::make_unique<pulsar::server::PulsarServer>(*service_, metadata_, clock_, pulsar_options_);
    mqtt_ = std::make_unique<mqtt::SessionRouter>(*service_, sessions_, clock_, mqtt_options_);
    health_ = std::make_unique<http::HealthCheck>(io_, *service_,
                                                  *service::TopicName::parse("persistent://pulsar/fuzz/healthcheck"));
    registry_ = std::make_unique<http::NamespaceRegistry>(service_->broker(), &metadata_, exec_);
    context_ = std::make_unique<http::WebContext>(http::WebContext{
        service_->broker(), *health_, http::MetricsSources{.broker = &service_->broker(), .process = false},
        "public", "default", registry_.get(), &pulsar_->partitioned(), pulsar_.get(), mqtt_.get()});
    http::add_web_routes(router_, *context_);
    http::add_permission_routes(router_, permissions_context_);
    http::ServerOptions options;
    options.body_limit = 2048;  // small limits, reachable by the fuzzer (413, 431)
    options.header_limit = 1024;
    options.max_connections = 6;
    server_ = std::make_unique<http::HttpServer>(io_, router_, options);
    auto bound = server_->listen("127.0.0.1", 0);
    if (!bound.ok()) {
      std::fprintf(stderr, "listen failed: %s\n", bound.error().message().c_str());
      std::abort();
    }
    endpoint_ = *bound;
    run_tasks(exec_);
  }

  ~World() {
    health_->shutdown();
    server_->shutdown();
    for (auto& c : clients_) close(*c);
    poll();
    run_tasks(exec_);
    poll();
    clients_.clear();
    server_.reset();
    // Handlers still queued (a connection's last completion) end here, before what they use.
    io_.restart();
    io_.poll();
    health_.reset();
    mqtt_->shutdown();
    run_tasks(exec_);
    mqtt_.reset();
    pulsar_.reset();
    run_tasks(exec_);
    service_.reset();
    run_tasks(exec_);
    persistence_.reset();
  }

  void run(Input& in) {
    while (!in.done()) {
      step(in);
      poll();
    }
  }

private:
  // Runs what is ready on the io_context (accepts, reads, writes, timers due), a bounded number
  // of rounds, and reads what the server wrote.
  void poll() {
    for (int round = 0; round < 16; ++round) {
      io_.restart();
      const std::size_t ran = io_.poll();
      const bool read = drain();
      if (ran == 0 && !read) break;
    }
  }

  // Reads every client's socket and parses it as responses; false when nothing came.
  bool drain() {
    bool any = false;
    for (auto& c : clients_) {
      if (!c->open) continue;
      std::array<char, 4096> buf;
      for (;;) {
        boost::system::error_code ec;
        const std::size_t n = c->socket.read_some(asio::buffer(buf), ec);
        if (ec) break;  // would block, end of stream, reset
        any = true;
        c->received.append(buf.data(), n);
      }
      parse(*c);
    }
    return any;
  }

  static void parse(Client& c) {
    while (!c.received.empty()) {
      if (!c.parser) {
        c.parser.emplace();
        c.parser->body_limit(boost::none);
        c.parser->eager(true);
      }
      boost::system::error_code ec;
      const std::size_t used = c.parser->put(asio::buffer(c.received), ec);
      c.received.erase(0, used);
      if (ec == bhttp::error::need_more) return;
      if (ec) {
        std::fprintf(stderr, "the server wrote something that is not an HTTP response: %s\n", ec.message().c_str());
        std::abort();
      }
      if (c.parser->is_done()) {
        const unsigned status = c.parser->get().result_int();
        if (status < 200 || status > 599) {
          std::fprintf(stderr, "the server answered status %u\n", status);
          std::abort();
        }
        c.parser.reset();
      } else if (used == 0) {
        return;
      }
    }
  }

  Client* client(Input& in) {
    if (clients_.empty()) return nullptr;
    Client* c = clients_[in.byte() % clients_.size()].get();
    return c->open ? c : nullptr;
  }

  void close(Client& c) {
    if (!c.open) return;
    boost::system::error_code ec;
    c.socket.close(ec);
    c.open = false;
  }

  void send(Client& c, const std::string& bytes) {
    if (!c.open || bytes.empty()) return;
    boost::system::error_code ec;
    asio::write(c.socket, asio::buffer(bytes), ec);  // blocking, bounded: the input is small
    if (ec) close(c);
  }

  // Each operand is read in its own statement: the order of reads is the order of the program.
  std::string path(Input& in) {
    const std::uint8_t kind = in.byte() % 5;
    const std::string tenant = in.pick(kTenants);
    const std::string ns = in.pick(kNamespaces);
    switch (kind) {
      case 0:
        return in.pick(kFixed);
      case 1:
        return "/admin/v2/tenants/" + tenant;
      case 2: {
        if ((in.byte() & 1) == 0) return "/admin/v2/namespaces/" + tenant;
        const std::string suffix = in.pick(kNsSuffix);
        return "/admin/v2/namespaces/" + tenant + "/" + ns + suffix;
      }
      case 3: {
        const std::string domain = in.pick(kDomains);
        const bool partitioned = (in.byte() & 1) != 0;
        return "/admin/v2/" + domain + "/" + tenant + "/" + ns + (partitioned ? "/partitioned" : "");
      }
      default: {
        const std::string domain = in.pick(kDomains);
        const std::string topic = in.pick(kTopics);
        std::string suffix = in.pick(kTopicSuffix);
        if (auto at = suffix.find("SUB"); at != std::string::npos) suffix.replace(at, 3, in.pick(kSubs));
        return "/admin/v2/" + domain + "/" + tenant + "/" + ns + "/" + topic + suffix;
      }
    }
  }

  std::string request(Input& in) {
    const std::string method = in.pick(kMethods);
    std::string target = path(in);
    const std::uint8_t f = in.byte();
    if (f & 1) target += "?authoritative=false";
    std::string out = method + " " + target + (f & 2 ? " HTTP/1.0\r\n" : " HTTP/1.1\r\n");
    out += "Host: 127.0.0.1\r\n";
    if (f & 4) out += "Connection: close\r\n";
    if (f & 8) out += "Connection: keep-alive\r\n";
    if (f & 16) out += "Authorization: Bearer x\r\n";
    std::string body = in.pick(kBodies);
    if (f & 32) body = std::string(3000, 'b');  // over the body limit
    if (f & 64) {
      out += "Transfer-Encoding: chunked\r\n\r\n";
      // One or two chunks, then the last chunk.
      const std::size_t cut = body.size() / 2;
      for (const std::string& part : {body.substr(0, cut), body.substr(cut)}) {
        if (part.empty()) continue;
        char size[16];
        std::snprintf(size, sizeof size, "%zx", part.size());
        out += std::string(size) + "\r\n" + part + "\r\n";
      }
      out += "0\r\n\r\n";
    } else {
      if (!body.empty() || (f & 128)) out += "Content-Length: " + std::to_string(body.size()) + "\r\n";
      out += "Content-Type: application/json\r\n\r\n" + body;
    }
    return out;
  }

  void step(Input& in) {
    switch (in.byte() % 12) {
      case 0: {  // open a connection (refused once the server is shut down)
        if (clients_.size() >= 10) break;
        auto c = std::make_unique<Client>(io_);
        boost::system::error_code ec;
        c->socket.connect(endpoint_, ec);
        if (ec) break;
        c->socket.non_blocking(true, ec);
        clients_.push_back(std::move(c));
        break;
      }
      case 1: {  // a chunk of raw bytes
        Client* c = client(in);
        const std::size_t n = in.byte();
        std::string bytes = in.bytes(n);
        if (c != nullptr) send(*c, bytes);
        break;
      }
      case 2:
      case 3:
      case 4: {  // one to three well-formed requests, pipelined, in one write or cut in two
        Client* c = client(in);
        const std::uint8_t f = in.byte();
        std::string bytes;
        for (int i = 0; i <= f % 3; ++i) bytes += request(in);
        if (c == nullptr) break;
        if (f & 4) {
          const std::size_t cut = in.byte() % (bytes.size() + 1);
          send(*c, bytes.substr(0, cut));
          poll();
          send(*c, bytes.substr(cut));
        } else {
          send(*c, bytes);
        }
        break;
      }
      case 5: {  // a header over the limit
        Client* c = client(in);
        if (c != nullptr) send(*c, "GET /metrics HTTP/1.1\r\nX-Big: " + std::string(1500, 'h') + "\r\n\r\n");
        break;
      }
      case 6: {  // the client closes, or half-closes
        Client* c = client(in);
        if (c == nullptr) break;
        if (in.byte() & 1) {
          boost::system::error_code ec;
          c->socket.shutdown(tcp::socket::shutdown_send, ec);
        } else {
          close(*c);
        }
        break;
      }
      case 7:  // one pending executor task
        run_tasks(exec_, 1);
        break;
      case 8:  // all pending executor tasks
        run_tasks(exec_);
        break;
      case 9:  // time passes for the service (TTL, expiry)
        clock_.advance(std::chrono::milliseconds(1000 * (1 + in.byte())));
        service_->expire();
        break;
      case 10: {  // the store fails its next writes
        const int n = 1 + in.byte() % 3;
        const bool full = (in.byte() & 1) != 0;
        store_.fail_next_writes(n, full ? storage::StorageErrc::no_space : storage::StorageErrc::io_error);
        break;
      }
      default:
        if (in.byte() == 0xff) server_->shutdown();  // rarely: the server stops
        break;
    }
  }

  asio::io_context io_{1};
  ManualExecutor exec_;
  ManualClock clock_;
  storage::MemoryStore store_;
  storage::StoreMetadataStore metadata_{store_, exec_};
  storage::StoreSessionStore sessions_{store_, exec_};
  std::unique_ptr<storage::StorePersistence> persistence_;
  std::unique_ptr<service::EmbeddedService> service_;
  pulsar::server::ServerOptions pulsar_options_;
  std::unique_ptr<pulsar::server::PulsarServer> pulsar_;
  mqtt::RouterOptions mqtt_options_;
  std::unique_ptr<mqtt::SessionRouter> mqtt_;
  std::unique_ptr<http::HealthCheck> health_;
  std::unique_ptr<http::NamespaceRegistry> registry_;
  auth::Permissions permissions_{{"admin"}};
  http::PermissionsContext permissions_context_{permissions_, nullptr, clock_};
  std::unique_ptr<http::WebContext> context_;
  http::Router router_;
  std::unique_ptr<http::HttpServer> server_;
  tcp::endpoint endpoint_;
  std::vector<std::unique_ptr<Client>> clients_;
};

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  mop::log::set_level("off");
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  Input in(data, size);
  World world;
  world.run(in);
  return 0;
}
