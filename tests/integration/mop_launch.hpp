// Starts `mop standalone` for the C++ integration tests, the way harness.py (Python) and
// mop_launch.js (JS) do: port 0 for every listener, then the test's arguments, and the bound
// ports read from mop's start-up line (`mop-ready {json}` on stdout, see app/README.md), never
// from log text. Header-only; needs nlohmann_json (Debian nlohmann-json3-dev).
#pragma once

#include <nlohmann/json.hpp>

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <optional>
#include <sstream>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

namespace mop_launch {

// The same prefix and arguments as harness.py (READY_PREFIX, MOP_PORT0_ARGS) and mop_launch.js.
inline constexpr std::string_view kReadyPrefix = "mop-ready ";
inline const std::vector<std::string> kPort0Args = {"--mqttListeners=mqtt://127.0.0.1:0", "--brokerServicePort=0",
                                                    "--webServicePort=0"};
inline constexpr auto kStartTimeout = std::chrono::seconds(10);

// The start-up line's JSON from mop's output `text`, if a whole line of it starts with the prefix.
inline std::optional<nlohmann::json> parse_ready(const std::string& text) {
    std::size_t at = 0;
    while (at < text.size()) {
        const std::size_t end = text.find('\n', at);
        if (end == std::string::npos) break;  // an incomplete last line: not yet
        const std::string_view line(text.data() + at, end - at);
        if (line.starts_with(kReadyPrefix)) return nlohmann::json::parse(line.substr(kReadyPrefix.size()));
        at = end + 1;
    }
    return std::nullopt;
}

// The flags that put a restarted mop back on the ports an earlier start-up line reports.
inline std::vector<std::string> bound_args(const nlohmann::json& ready) {
    std::vector<std::string> args;
    std::string urls;
    for (const auto& l : ready.at("mqtt")) {
        if (!urls.empty()) urls += ',';
        urls += l.at("url").get<std::string>();
    }
    if (!urls.empty()) args.push_back("--mqttListeners=" + urls);
    if (!ready.at("pulsar").is_null()) {
        args.push_back("--brokerServicePort=" + std::to_string(ready.at("pulsar").at("port").get<int>()));
    }
    return args;
}

struct Started {
    pid_t pid = -1;         // mop's process (the caller stops it: SIGTERM, waitpid)
    nlohmann::json ready;   // the start-up line: ready["mqtt"][i]["port"], ready["pulsar"]["port"]
    std::string error;      // empty when mop started; otherwise why not (mop is killed then)

    int mqtt_port(std::size_t i = 0) const { return ready.at("mqtt").at(i).at("port").get<int>(); }
    int pulsar_port() const { return ready.at("pulsar").at("port").get<int>(); }
};

// Starts `bin standalone <port-0 args> --dataDir=<data_dir> <args> [bound ports of same_as]` with
// stdout and stderr appended to `log`, and waits for its start-up line.
inline Started launch(const std::string& bin, const std::string& data_dir, const std::string& log,
                      const std::vector<std::string>& args, const nlohmann::json* same_as = nullptr) {
    std::vector<std::string> argv = {bin, "standalone"};
    argv.insert(argv.end(), kPort0Args.begin(), kPort0Args.end());
    argv.push_back("--dataDir=" + data_dir);
    argv.insert(argv.end(), args.begin(), args.end());
    if (same_as) {
        const auto again = bound_args(*same_as);
        argv.insert(argv.end(), again.begin(), again.end());
    }
    std::streamoff offset = 0;
    {
        std::ifstream in(log, std::ios::binary | std::ios::ate);
        if (in) offset = in.tellg();
    }
    Started s;
    s.pid = ::fork();
    if (s.pid == 0) {
        if (FILE* f = std::fopen(log.c_str(), "a")) {
            ::dup2(::fileno(f), 1);
            ::dup2(::fileno(f), 2);
        }
        std::vector<char*> raw;
        for (auto& a : argv) raw.push_back(a.data());
        raw.push_back(nullptr);
        ::execv(raw[0], raw.data());
        std::perror("execv");
        ::_exit(127);
    }
    const auto deadline = std::chrono::steady_clock::now() + kStartTimeout;
    for (;;) {
        int status = 0;
        const bool exited = ::waitpid(s.pid, &status, WNOHANG) == s.pid;
        std::ifstream in(log, std::ios::binary);
        in.seekg(offset);
        std::stringstream text;
        text << in.rdbuf();
        if (auto ready = parse_ready(text.str())) {
            s.ready = std::move(*ready);
            if (same_as && bound_args(s.ready) != bound_args(*same_as)) {
                s.error = "mop came back on other ports: " + s.ready.dump() + ", not " + same_as->dump();
            }
            return s;
        }
        if (exited) {
            s.pid = -1;
            s.error = "mop exited before its start-up line";
            return s;
        }
        if (std::chrono::steady_clock::now() > deadline) {
            ::kill(s.pid, SIGKILL);
            ::waitpid(s.pid, nullptr, 0);
            s.pid = -1;
            s.error = "mop printed no start-up line within 10 s";
            return s;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
}

}  // namespace mop_launch
