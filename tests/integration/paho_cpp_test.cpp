// Black-box integration tests with the Paho C++ client (Debian libpaho-mqttpp-dev 1.2.0) against
// a running broker. The program starts the broker itself, like harness.py does:
//   MOP_BIN=<path to mop>   -> `mop standalone` started by mop_launch.hpp (port 0 for every
//                               listener, the MQTT port read from its start-up line) with
//                               --dataDir=<tmp> --logLevel=debug; SIGTERM at the end, exit code 0
//                               required;
//   BROKER=mosquitto        -> the Debian mosquitto on a free port (cross-check of the tests);
//   MOP_PORT=<port>         -> use a broker that is already listening on 127.0.0.1:<port>.
// The will test re-executes this binary as a child (`--will-child`) that connects with a will and
// is then killed with SIGKILL, so the connection drops without DISCONNECT.

#include <gtest/gtest.h>
#include <mqtt/async_client.h>
#include <mqtt/client.h>

#include "mop_launch.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <optional>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

namespace fs = std::filesystem;
using namespace std::chrono_literals;

namespace {

constexpr auto kWait = 5s;

int free_port() {
    int s = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = 0;
    if (::bind(s, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
        ::close(s);
        return -1;
    }
    socklen_t len = sizeof a;
    ::getsockname(s, reinterpret_cast<sockaddr*>(&a), &len);
    ::close(s);
    return ntohs(a.sin_port);
}

bool port_open(int port) {
    int s = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = htons(static_cast<uint16_t>(port));
    bool ok = ::connect(s, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
    ::close(s);
    return ok;
}

// "m" + std::to_string(i) trips GCC 12's -Wrestrict false positive (GCC bug 105651) at -O2.
std::string numbered(const char* prefix, int i) {
    std::string s = prefix;
    s += std::to_string(i);
    return s;
}

std::string unique(const std::string& tag) {
    static std::mt19937_64 rng{std::random_device{}()};
    std::ostringstream o;
    o << tag << "-" << std::hex << (rng() & 0xffffffffffULL);
    return o.str();
}

// The broker under test, one per program run.
class Broker {
public:
    int port = -1;
    bool is_mop = false;
    fs::path dir;
    fs::path log;
    pid_t pid = -1;

    std::string start() {
        if (const char* p = std::getenv("MOP_PORT"); p && *p) {
            port = std::atoi(p);
            return port_open(port) ? "" : "MOP_PORT=" + std::string(p) + " is not listening";
        }
        const char* kind = std::getenv("BROKER");
        std::string broker = kind ? kind : "mop";
        char tmpl[] = "/tmp/mop-paho-cpp-XXXXXX";
        if (!::mkdtemp(tmpl)) return "mkdtemp failed";
        dir = tmpl;
        fs::create_directories(dir / "data");
        log = dir / "broker.log";
        if (broker == "mop") {
            const char* bin = std::getenv("MOP_BIN");
            if (!bin || !*bin) return "MOP_BIN is not set (or use BROKER=mosquitto / MOP_PORT)";
            is_mop = true;
            auto started = mop_launch::launch(fs::absolute(bin).string(), (dir / "data").string(), log.string(),
                                              {"--logLevel=debug"});
            if (!started.error.empty()) return started.error + "\n" + log_text();
            pid = started.pid;
            port = started.mqtt_port();
            return "";
        }
        if (broker != "mosquitto") return "unknown BROKER=" + broker;
        for (int attempt = 0; attempt < 3; ++attempt) {  // a free port can be taken in between
            port = free_port();
            fs::path conf = dir / "mosquitto.conf";
            std::ofstream(conf) << "listener " << port << " 127.0.0.1\nallow_anonymous true\n"
                                << "persistence false\nlog_dest stderr\nlog_type all\n";
            std::vector<std::string> args = {"/usr/sbin/mosquitto", "-c", conf.string()};
            pid = ::fork();
            if (pid == 0) {
                FILE* f = std::fopen(log.c_str(), "a");
                if (f) {
                    ::dup2(::fileno(f), 1);
                    ::dup2(::fileno(f), 2);
                }
                std::vector<char*> argv;
                for (auto& a : args) argv.push_back(a.data());
                argv.push_back(nullptr);
                ::execv(argv[0], argv.data());
                std::perror("execv");
                ::_exit(127);
            }
            auto deadline = std::chrono::steady_clock::now() + 10s;
            while (std::chrono::steady_clock::now() < deadline) {
                if (port_open(port)) return "";
                int st;
                if (::waitpid(pid, &st, WNOHANG) == pid) {
                    pid = -1;
                    break;
                }
                std::this_thread::sleep_for(20ms);
            }
            kill9();
        }
        return "broker did not start listening within 10 s\n" + log_text();
    }

    std::string log_text() const {
        if (log.empty()) return "(no broker log)";
        std::ifstream in(log);
        std::stringstream ss;
        ss << in.rdbuf();
        return ss.str();
    }

    // SIGTERM; returns the exit code (or 128+signal).
    int stop() {
        if (pid <= 0) return 0;
        ::kill(pid, SIGTERM);
        int st = 0;
        auto deadline = std::chrono::steady_clock::now() + 10s;
        while (::waitpid(pid, &st, WNOHANG) == 0) {
            if (std::chrono::steady_clock::now() > deadline) {
                kill9();
                return -1;
            }
            std::this_thread::sleep_for(20ms);
        }
        pid = -1;
        return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
    }

    void kill9() {
        if (pid > 0) {
            ::kill(pid, SIGKILL);
            ::waitpid(pid, nullptr, 0);
            pid = -1;
        }
    }

    bool alive() const { return pid <= 0 || ::kill(pid, 0) == 0; }
};

Broker g_broker;
std::string g_self_exe;

class BrokerEnv : public ::testing::Environment {
public:
    void SetUp() override {
        std::string err = g_broker.start();
        if (!err.empty()) {
            std::cerr << err << std::endl;
            std::exit(1);
        }
    }
    void TearDown() override {
        bool failed = ::testing::UnitTest::GetInstance()->failed_test_count() > 0;
        int rc = g_broker.stop();
        if (g_broker.is_mop) {
            EXPECT_EQ(rc, 0) << "mop exit code after SIGTERM";
            failed = failed || rc != 0;
        }
        if (failed) std::cerr << "---- broker log ----\n" << g_broker.log_text() << "---- end ----\n";
        if (!g_broker.dir.empty()) fs::remove_all(g_broker.dir);
    }
};

std::string uri() { return "tcp://127.0.0.1:" + std::to_string(g_broker.port); }

mqtt::connect_options opts(bool clean, std::optional<mqtt::will_options> will = std::nullopt) {
    auto b = mqtt::connect_options_builder()
                 .clean_session(clean)
                 .keep_alive_interval(20s)
                 .connect_timeout(5s)
                 .mqtt_version(MQTTVERSION_3_1_1);
    if (will) b.will(*will);
    return b.finalize();
}

// A connected sync client whose incoming messages are queued for try_consume_message_for.
struct Client {
    mqtt::client cli;
    bool session_present = false;
    Client(const std::string& id, bool clean = true) : cli(uri(), id) {
        cli.start_consuming();
        session_present = cli.connect(opts(clean)).is_session_present();
    }
    ~Client() {
        try {
            if (cli.is_connected()) cli.disconnect();
        } catch (...) {
        }
    }
    mqtt::const_message_ptr get(std::chrono::milliseconds d = kWait) {
        mqtt::const_message_ptr m;
        if (!cli.try_consume_message_for(&m, d)) return nullptr;
        return m;
    }
};

class PahoCpp : public ::testing::Test {
protected:
    std::string prefix;
    void SetUp() override {
        prefix = unique(std::string("cpp/") +
                        ::testing::UnitTest::GetInstance()->current_test_info()->name());
    }
    void TearDown() override { EXPECT_TRUE(g_broker.alive()) << "broker died during the test"; }
};

TEST_F(PahoCpp, SeedExampleQoS1) {
    const std::string topic = "persistent://public/default/my-topic";
    Client sub(unique("seed-s"));
    auto sr = sub.cli.subscribe(topic, 1);
    ASSERT_EQ(sr.get_reason_codes().size(), 1u);
    EXPECT_EQ(sr.get_reason_codes()[0], 1);
    Client pub(unique("seed-p"));
    pub.cli.publish(mqtt::make_message(topic, "Hello MOP!", 1, false));
    auto m = sub.get();
    ASSERT_TRUE(m) << "no message within 5 s";
    EXPECT_EQ(m->get_topic(), topic);
    EXPECT_EQ(m->to_string(), "Hello MOP!");
    EXPECT_EQ(m->get_qos(), 1);
    EXPECT_FALSE(m->is_retained());
    EXPECT_FALSE(sub.get(500ms)) << "delivered more than once";
}

TEST_F(PahoCpp, QoS2PublishSubscribe) {
    const std::string topic = prefix + "/q2";
    Client s2(unique("q2s2"));
    Client s1(unique("q2s1"));
    EXPECT_EQ(s2.cli.subscribe(topic, 2).get_reason_codes().at(0), 2);
    EXPECT_EQ(s1.cli.subscribe(topic, 1).get_reason_codes().at(0), 1);
    Client pub(unique("q2p"));
    for (int i = 0; i < 20; ++i)
        pub.cli.publish(mqtt::make_message(topic, numbered("m", i), 2, false));
    for (int i = 0; i < 20; ++i) {
        auto a = s2.get();
        ASSERT_TRUE(a) << "QoS 2 subscriber: message " << i << " missing";
        EXPECT_EQ(a->to_string(), numbered("m", i));
        EXPECT_EQ(a->get_qos(), 2);
        auto b = s1.get();
        ASSERT_TRUE(b) << "QoS 1 subscriber: message " << i << " missing";
        EXPECT_EQ(b->to_string(), numbered("m", i));
        EXPECT_EQ(b->get_qos(), 1) << "granted QoS = min(2, 1)";
    }
    EXPECT_FALSE(s2.get(500ms)) << "QoS 2 message delivered twice";
}

TEST_F(PahoCpp, RetainedMessageDelivery) {
    const std::string topic = prefix + "/ret";
    {
        Client pub(unique("rp"));
        pub.cli.publish(mqtt::make_message(topic, "first", 1, true));
        pub.cli.publish(mqtt::make_message(topic, "second", 1, true));
    }
    {
        Client sub(unique("rs"));
        sub.cli.subscribe(topic, 1);
        auto m = sub.get();
        ASSERT_TRUE(m) << "retained message not delivered on subscribe";
        EXPECT_EQ(m->to_string(), "second");
        EXPECT_TRUE(m->is_retained());
        EXPECT_FALSE(sub.get(500ms)) << "only the latest retained message is kept";
        // An established subscription gets a retained publish with RETAIN 0.
        Client pub(unique("rp2"));
        pub.cli.publish(mqtt::make_message(topic, "third", 1, true));
        m = sub.get();
        ASSERT_TRUE(m);
        EXPECT_EQ(m->to_string(), "third");
        EXPECT_FALSE(m->is_retained());
        pub.cli.publish(mqtt::make_message(topic, "", 1, true));  // clear
        m = sub.get();
        ASSERT_TRUE(m);
        EXPECT_EQ(m->to_string(), "");
    }
    Client late(unique("rl"));
    late.cli.subscribe(topic, 1);
    EXPECT_FALSE(late.get(700ms)) << "an empty retained publish must clear the retained message";
}

TEST_F(PahoCpp, PersistentSessionQueuedDelivery) {
    const std::string topic = prefix + "/ps";
    const std::string id = unique("ps");
    {
        Client sub(id, /*clean=*/false);
        EXPECT_FALSE(sub.session_present);
        sub.cli.subscribe(topic, 2);
        sub.cli.disconnect();
    }
    {
        Client pub(unique("psp"));
        pub.cli.publish(mqtt::make_message(topic, "while-away-1", 1, false));
        pub.cli.publish(mqtt::make_message(topic, "while-away-2", 2, false));
    }
    Client sub(id, /*clean=*/false);
    EXPECT_TRUE(sub.session_present);
    auto a = sub.get();
    ASSERT_TRUE(a) << "queued QoS 1 message not delivered on reconnect";
    EXPECT_EQ(a->to_string(), "while-away-1");
    EXPECT_EQ(a->get_qos(), 1);
    auto b = sub.get();
    ASSERT_TRUE(b) << "queued QoS 2 message not delivered on reconnect";
    EXPECT_EQ(b->to_string(), "while-away-2");
    EXPECT_EQ(b->get_qos(), 2);
    EXPECT_FALSE(sub.get(500ms));
    sub.cli.disconnect();
    Client clean(id, /*clean=*/true);  // discard the session
    EXPECT_FALSE(clean.session_present);
}

TEST_F(PahoCpp, WillOnAbruptDisconnect) {
    const std::string will_topic = prefix + "/will";
    Client watcher(unique("ww"));
    watcher.cli.subscribe(will_topic, 1);

    int out[2];
    ASSERT_EQ(::pipe(out), 0);
    pid_t child = ::fork();
    if (child == 0) {
        ::dup2(out[1], 1);
        ::close(out[0]);
        std::string port = std::to_string(g_broker.port);
        ::execl(g_self_exe.c_str(), g_self_exe.c_str(), "--will-child", port.c_str(),
                will_topic.c_str(), static_cast<char*>(nullptr));
        ::_exit(127);
    }
    ::close(out[1]);
    std::string got;
    char buf[64];
    auto deadline = std::chrono::steady_clock::now() + kWait;
    while (got.find("CONNECTED") == std::string::npos &&
           std::chrono::steady_clock::now() < deadline) {
        ssize_t n = ::read(out[0], buf, sizeof buf);
        if (n <= 0) break;
        got.append(buf, static_cast<size_t>(n));
    }
    ::close(out[0]);
    ASSERT_NE(got.find("CONNECTED"), std::string::npos) << "will child did not connect: " << got;
    EXPECT_FALSE(watcher.get(200ms)) << "will published while the client is alive";
    ::kill(child, SIGKILL);
    ::waitpid(child, nullptr, 0);
    auto m = watcher.get();
    ASSERT_TRUE(m) << "no will message after the client was killed";
    EXPECT_EQ(m->get_topic(), will_topic);
    EXPECT_EQ(m->to_string(), "cpp client died");
    EXPECT_EQ(m->get_qos(), 1);
}

TEST_F(PahoCpp, NoWillAfterNormalDisconnect) {
    const std::string will_topic = prefix + "/will";
    Client watcher(unique("nw"));
    watcher.cli.subscribe(will_topic, 1);
    {
        mqtt::client c(uri(), unique("nwc"));
        c.connect(opts(true, mqtt::will_options(will_topic, std::string("should not"), 1, false)));
        c.disconnect();
    }
    Client marker(unique("nwm"));
    marker.cli.publish(mqtt::make_message(will_topic, "marker", 1, false));
    auto m = watcher.get();
    ASSERT_TRUE(m);
    EXPECT_EQ(m->to_string(), "marker") << "will published after a normal DISCONNECT";
    EXPECT_FALSE(watcher.get(500ms));
}

TEST_F(PahoCpp, AsyncClientOrderedQoS1) {
    const std::string topic = prefix + "/async";
    Client sub(unique("as"));
    sub.cli.subscribe(topic, 1);
    mqtt::async_client pub(uri(), unique("ap"));
    pub.connect(opts(true))->wait();
    // Paho C buffers at most 100 unsent publish commands: keep up to 50 in flight.
    std::vector<mqtt::delivery_token_ptr> toks;
    for (int i = 0; i < 200; ++i) {
        if (i >= 50) {
            ASSERT_TRUE(toks[i - 50]->wait_for(10s)) << "PUBACK missing for " << i - 50;
        }
        toks.push_back(pub.publish(topic, std::to_string(i), 1, false));
    }
    for (auto& t : toks) ASSERT_TRUE(t->wait_for(10s)) << "PUBACK missing";
    for (int i = 0; i < 200; ++i) {
        auto m = sub.get();
        ASSERT_TRUE(m) << "message " << i << " missing";
        ASSERT_EQ(m->to_string(), std::to_string(i)) << "order per topic per publisher";
    }
    pub.disconnect()->wait();
}

// Child mode for WillOnAbruptDisconnect: connect with a will, report, wait to be killed.
int will_child(const std::string& port, const std::string& topic) {
    try {
        mqtt::client c("tcp://127.0.0.1:" + port, unique("wchild"));
        c.connect(opts(true, mqtt::will_options(topic, std::string("cpp client died"), 1, false)));
        std::printf("CONNECTED\n");
        std::fflush(stdout);
        for (;;) std::this_thread::sleep_for(1s);
    } catch (const std::exception& e) {
        std::printf("ERROR %s\n", e.what());
        return 1;
    }
}

}  // namespace

int main(int argc, char** argv) {
    if (argc == 4 && std::string(argv[1]) == "--will-child") return will_child(argv[2], argv[3]);
    g_self_exe = fs::read_symlink("/proc/self/exe").string();
    ::testing::InitGoogleTest(&argc, argv);
    ::testing::AddGlobalTestEnvironment(new BrokerEnv);
    return RUN_ALL_TESTS();
}
