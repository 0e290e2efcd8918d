#include "loadgen/options.hpp"

#include <arpa/inet.h>

#include <algorithm>
#include <charconv>
#include <cstdio>
#include <functional>
#include <map>
#include <optional>

namespace mop::loadgen {
namespace {

// The whole of `s` as a T; nullopt when it is not one.
template <typename T>
std::optional<T> parse_number(const std::string& s) {
  T out{};
  const char* b = s.data();
  const char* e = s.data() + s.size();
  auto [p, ec] = std::from_chars(b, e, out);
  if (ec != std::errc{} || p != e) return std::nullopt;
  return out;
}

std::optional<bool> parse_bool(const std::string& s) {
  if (s == "true" || s == "1" || s == "yes" || s == "on") return true;
  if (s == "false" || s == "0" || s == "no" || s == "off") return false;
  return std::nullopt;
}

std::optional<std::uint32_t> ipv4(const std::string& s) {
  in_addr a{};
  if (inet_pton(AF_INET, s.c_str(), &a) != 1) return std::nullopt;
  return ntohl(a.s_addr);
}

std::string ipv4_text(std::uint32_t v) {
  return std::to_string(v >> 24) + "." + std::to_string((v >> 16) & 255) + "." + std::to_string((v >> 8) & 255) +
         "." + std::to_string(v & 255);
}

}  // namespace

const char* to_string(Mode m) {
  switch (m) {
    case Mode::pub: return "pub";
    case Mode::sub: return "sub";
    case Mode::conn: return "conn";
    case Mode::pubsub: return "pubsub";
    case Mode::pulsar_produce: return "pulsar-produce";
    case Mode::pulsar_consume: return "pulsar-consume";
    case Mode::pulsar_pubsub: return "pulsar-pubsub";
  }
  return "?";
}

const char* to_string(SubType t) {
  switch (t) {
    case SubType::exclusive: return "exclusive";
    case SubType::shared: return "shared";
    case SubType::failover: return "failover";
    case SubType::key_shared: return "key_shared";
  }
  return "?";
}

const char* to_string(AckMode a) { return a == AckMode::cumulative ? "cumulative" : "individual"; }

const char* to_string(Compression c) {
  switch (c) {
    case Compression::none: return "none";
    case Compression::lz4: return "lz4";
    case Compression::zlib: return "zlib";
    case Compression::zstd: return "zstd";
    case Compression::snappy: return "snappy";
  }
  return "?";
}

Result<std::vector<std::string>, std::string> parse_source_addrs(const std::string& spec) {
  std::vector<std::string> out;
  std::size_t start = 0;
  while (start <= spec.size()) {
    std::size_t comma = spec.find(',', start);
    if (comma == std::string::npos) comma = spec.size();
    const std::string item = spec.substr(start, comma - start);
    start = comma + 1;
    if (item.empty()) continue;
    const auto dash = item.find('-');
    if (dash == std::string::npos) {
      if (!ipv4(item)) return "not an IPv4 address: '" + item + "'";
      out.push_back(item);
      continue;
    }
    const std::string lo_s = item.substr(0, dash);
    std::string hi_s = item.substr(dash + 1);
    const auto lo = ipv4(lo_s);
    if (!lo) return "not an IPv4 address: '" + lo_s + "'";
    if (hi_s.find('.') == std::string::npos) hi_s = lo_s.substr(0, lo_s.rfind('.') + 1) + hi_s;  // "-8"
    const auto hi = ipv4(hi_s);
    if (!hi) return "not an IPv4 address: '" + hi_s + "'";
    if (*hi < *lo || *hi - *lo >= 1024) return "bad address range '" + item + "' (at most 1024 addresses, low to high)";
    for (std::uint32_t v = *lo; v <= *hi; ++v) out.push_back(ipv4_text(v));
  }
  if (out.empty()) return std::string("--source-addrs: no address given");
  return out;
}

std::string usage_text() {
  return
      "usage: mop bench pub|sub|conn|pubsub [options]             MQTT 3.1/3.1.1\n"
      "       mop bench pulsar-produce|pulsar-consume|pulsar-pubsub [options]   Pulsar binary protocol\n"
      "  pub      P publishers on T topics\n"
      "  sub      S subscribers on T topics (checks sequences of whatever arrives)\n"
      "  pubsub   P publishers and S subscribers on T topics; publisher i uses topic i%T,\n"
      "           subscriber j topic j%T (fan-out: -P 1 -S 100 -T 1, fan-in: -P 100 -S 1 -T 1)\n"
      "  conn     open --conns idle connections, hold them for --duration, report connect rate\n"
      "options:\n"
      "  --host H (127.0.0.1)  --port N (1883)  -V 3|4|5 (4 = MQTT 3.1.1)  --qos 0|1|2 (0)\n"
      "  --size BYTES (64, >= 16)  --rate MSGS_PER_S per publisher (0 = unlimited)\n"
      "  --random-payload   pseudo-random payload bytes (incompressible) instead of 'x' repeated\n"
      "  --window N (100) QoS 1/2 messages in flight per publisher\n"
      "  --duration S (10)  --count N (messages per publisher; per subscriber for sub)  --warmup S (0)\n"
      "  -P N  -S N  -T N  --topic PREFIX (mop-bench)  -c|--conns N (100)\n"
      "  --source-addrs 127.0.0.1,127.0.0.2 | 127.0.0.1-127.0.0.8   bind client sockets round-robin\n"
      "  --keepalive S (60)  --clean true|false (true)  --client-prefix ID (mb<pid>)\n"
      "  --tls   TLS to the broker (mqtt+ssl / pulsar+ssl port), without verifying it\n"
      "  --cafile FILE   TLS, verifying the broker's certificate against FILE (not its name)\n"
      "  --cert FILE --key FILE   TLS with a client certificate (mTLS)\n"
      "  --ws    MQTT over WebSocket (ws://; with --tls or --cafile wss://), subprotocol mqtt\n"
      "  --ws-path PATH (/mqtt)   the WebSocket upgrade's path (implies --ws)\n"
      "  --ws-max-message BYTES (32768)   the largest WebSocket message written (--ws)\n"
      "  --broker-pid PID  sample the broker's CPU and RSS from /proc\n"
      "  --threads N (1)  --connect-concurrency N (200)  --drain-timeout S (5)\n"
      "  --json  print the final summary as one JSON object on stdout (progress goes to stderr)\n"
      "Pulsar modes (port 6650, topic persistent://public/default/mop-bench; with -T N > 1 the\n"
      "topics are <topic>-0 .. <topic>-N-1; producer i uses topic i%T, consumer j topic j%T):\n"
      "  pulsar-produce  P producers     pulsar-consume  C consumers     pulsar-pubsub  both\n"
      "  -P N producers  -C N (or -S N) consumers  --window N (1000) messages sent, not yet receipted\n"
      "  --batch N  messages per SEND (a batch; 0 = none)  --compression none|lz4|zlib|zstd|snappy\n"
      "  --subscription NAME (mop-bench)  --sub-type exclusive|shared|failover|key_shared (exclusive)\n"
      "      exclusive: consumer j subscribes as NAME-j, or NAME when -C 1 (each gets every\n"
      "      message of its topic);\n"
      "      shared, failover, key_shared: the consumers of a topic share NAME\n"
      "  --initial-position latest|earliest (latest)  --ack individual|cumulative (individual)\n"
      "  --receiver-queue N (1000) FLOW permits, refilled at half  --lookup true|false (true)\n";
}

Result<Options, std::string> parse_options(const std::vector<std::string>& args) {
  Options o;
  std::size_t i = 0;
  if (i < args.size() && !args[i].starts_with("-")) {
    const auto& m = args[i++];
    if (m == "pub") o.mode = Mode::pub, o.subscribers = 0;
    else if (m == "sub") o.mode = Mode::sub, o.publishers = 0;
    else if (m == "pubsub") o.mode = Mode::pubsub;
    else if (m == "conn") o.mode = Mode::conn, o.publishers = 0, o.subscribers = 0;
    else if (m == "pulsar-produce") o.mode = Mode::pulsar_produce, o.subscribers = 0;
    else if (m == "pulsar-consume") o.mode = Mode::pulsar_consume, o.publishers = 0;
    else if (m == "pulsar-pubsub") o.mode = Mode::pulsar_pubsub;
    else if (m == "help") return o.help = true, o;
    else return "unknown bench mode '" + m + "' (pub, sub, conn, pubsub, pulsar-produce, pulsar-consume or pulsar-pubsub)";
  } else if (i < args.size() && (args[i] == "-h" || args[i] == "--help")) {
    o.help = true;
    return o;
  } else {
    return std::string("missing bench mode: pub, sub, conn or pubsub");
  }

  using Setter = std::function<Result<void, std::string>(const std::string&)>;
  auto num = [](auto& field, const char* name, double lo, double hi) -> Setter {
    return [&field, name, lo, hi](const std::string& v) -> Result<void, std::string> {
      const auto x = parse_number<std::remove_reference_t<decltype(field)>>(v);
      if (!x || static_cast<double>(*x) < lo || static_cast<double>(*x) > hi) {
        char buf[160];
        std::snprintf(buf, sizeof buf, "%s: '%s' is not a number in %g..%g", name, v.c_str(), lo, hi);
        return buf;
      }
      field = *x;
      return {};
    };
  };
  auto boolean = [](bool& field, const char* name) -> Setter {
    return [&field, name](const std::string& v) -> Result<void, std::string> {
      if (const auto b = parse_bool(v)) {
        field = *b;
        return {};
      }
      return std::string(name) + ": '" + v + "' is not true or false";
    };
  };
  std::uint32_t port = o.port, keepalive = o.keepalive;
  const bool pulsar = is_pulsar(o.mode);
  if (pulsar) {
    port = 6650;
    o.window = 1000;
    o.topic = "persistent://public/default/mop-bench";
  }
  auto choice = [](auto& field, const char* name, auto table) -> Setter {
    return [&field, name, table](const std::string& v) -> Result<void, std::string> {
      std::string names;
      for (const auto& [text, value] : table) {
        if (v == text) {
          field = value;
          return {};
        }
        names += names.empty() ? text : std::string(", ") + text;
      }
      return std::string(name) + ": '" + v + "' is not one of " + names;
    };
  };
  using SubTypes = std::vector<std::pair<std::string, SubType>>;
  using Compressions = std::vector<std::pair<std::string, Compression>>;
  using Acks = std::vector<std::pair<std::string, AckMode>>;
  using Positions = std::vector<std::pair<std::string, bool>>;
  std::map<std::string, Setter> with_value = {
      {"--host", [&](const std::string& v) { o.host = v; return Result<void, std::string>{}; }},
      {"--port", num(port, "--port", 1, 65535)},
      {"-V", num(o.version, "-V", 3, 5)},
      {"--qos", num(o.qos, "--qos", 0, 2)},
      {"-q", num(o.qos, "-q", 0, 2)},
      {"--size", num(o.size, "--size", 16, 256.0 * 1024 * 1024 - 1024)},
      {"-s", num(o.size, "-s", 16, 256.0 * 1024 * 1024 - 1024)},
      {"--rate", num(o.rate, "--rate", 0, 1e9)},
      {"--window", num(o.window, "--window", 1, 65535)},
      {"--duration", [&](const std::string& v) { o.duration_given = true; return num(o.duration, "--duration", 0.001, 1e7)(v); }},
      {"-d", [&](const std::string& v) { o.duration_given = true; return num(o.duration, "-d", 0.001, 1e7)(v); }},
      {"--count", num(o.count, "--count", 1, 1u << 30)},
      {"-n", num(o.count, "-n", 1, 1u << 30)},
      {"-P", num(o.publishers, "-P", 0, 100000)},
      {"-S", num(o.subscribers, "-S", 0, 100000)},
      {"-T", num(o.topics, "-T", 1, 1000000)},
      {"--topic", [&](const std::string& v) { o.topic = v; return v.empty() ? Result<void, std::string>("--topic: empty") : Result<void, std::string>{}; }},
      {"-t", [&](const std::string& v) { o.topic = v; return v.empty() ? Result<void, std::string>("-t: empty") : Result<void, std::string>{}; }},
      {"--conns", num(o.conns, "--conns", 1, 1000000)},
      {"-c", num(o.conns, "-c", 1, 1000000)},
      {"--source-addrs", [&](const std::string& v) -> Result<void, std::string> {
         auto r = parse_source_addrs(v);
         if (!r.ok()) return r.error();
         o.source_addrs = r.value();
         return {};
       }},
      {"--keepalive", num(keepalive, "--keepalive", 0, 65535)},
      {"--broker-pid", num(o.broker_pid, "--broker-pid", 1, 1 << 30)},
      {"--warmup", num(o.warmup, "--warmup", 0, 1e6)},
      {"--threads", num(o.threads, "--threads", 1, 256)},
      {"--connect-concurrency", num(o.connect_concurrency, "--connect-concurrency", 1, 100000)},
      {"--drain-timeout", num(o.drain_timeout, "--drain-timeout", 0, 1e6)},
      {"--client-prefix", [&](const std::string& v) { o.client_prefix = v; return Result<void, std::string>{}; }},
      {"--cafile", [&](const std::string& v) { o.cafile = v; o.tls = true; return v.empty() ? Result<void, std::string>("--cafile: empty") : Result<void, std::string>{}; }},
      {"--cert", [&](const std::string& v) { o.cert = v; o.tls = true; return v.empty() ? Result<void, std::string>("--cert: empty") : Result<void, std::string>{}; }},
      {"--key", [&](const std::string& v) { o.key = v; o.tls = true; return v.empty() ? Result<void, std::string>("--key: empty") : Result<void, std::string>{}; }},
      {"--ws-path", [&](const std::string& v) { o.ws_path = v; o.ws = true; return v.starts_with("/") ? Result<void, std::string>{} : Result<void, std::string>("--ws-path: '" + v + "' does not start with /"); }},
      {"--ws-max-message", num(o.ws_max_message, "--ws-max-message", 16, 16 << 20)},
      {"-C", num(o.subscribers, "-C", 0, 100000)},
      {"--batch", num(o.batch, "--batch", 0, 100000)},
      {"--compression", choice(o.compression, "--compression",
                               Compressions{{"none", Compression::none}, {"lz4", Compression::lz4},
                                            {"zlib", Compression::zlib}, {"zstd", Compression::zstd},
                                            {"snappy", Compression::snappy}})},
      {"--subscription", [&](const std::string& v) { o.subscription = v; return v.empty() ? Result<void, std::string>("--subscription: empty") : Result<void, std::string>{}; }},
      {"--sub-type", choice(o.sub_type, "--sub-type",
                            SubTypes{{"exclusive", SubType::exclusive}, {"shared", SubType::shared},
                                     {"failover", SubType::failover}, {"key_shared", SubType::key_shared}})},
      {"--initial-position", choice(o.initial_earliest, "--initial-position", Positions{{"latest", false}, {"earliest", true}})},
      {"--ack", choice(o.ack, "--ack", Acks{{"individual", AckMode::individual}, {"cumulative", AckMode::cumulative}})},
      {"--receiver-queue", num(o.receiver_queue, "--receiver-queue", 2, 1000000)},
  };
  // Options that mean something in one family of modes only: given to the other, they are a
  // mistake worth telling (a --qos on a Pulsar run would otherwise be silently ignored).
  static const std::vector<std::string> mqtt_only = {"-V", "--qos", "-q", "--conns", "-c", "--source-addrs",
                                                     "--keepalive", "--clean", "--random-payload", "--ws",
                                                     "--ws-path", "--ws-max-message"};
  static const std::vector<std::string> pulsar_only = {"-C", "--batch", "--compression", "--subscription", "--sub-type",
                                                       "--initial-position", "--ack", "--receiver-queue", "--lookup"};
  // Flags: present means true; --flag=false also works.
  std::map<std::string, Setter> flags = {
      {"--json", boolean(o.json, "--json")},
      {"--tls", boolean(o.tls, "--tls")},
      {"--ws", boolean(o.ws, "--ws")},
      {"--clean", boolean(o.clean, "--clean")},
      {"--lookup", boolean(o.lookup, "--lookup")},
      {"--random-payload", boolean(o.random_payload, "--random-payload")},
  };

  for (; i < args.size(); ++i) {
    std::string key = args[i];
    std::optional<std::string> value;
    if (key == "-h" || key == "--help") {
      o.help = true;
      return o;
    }
    if (auto eq = key.find('='); key.starts_with("--") && eq != std::string::npos) {
      value = key.substr(eq + 1);
      key = key.substr(0, eq);
    }
    const auto& foreign = pulsar ? mqtt_only : pulsar_only;
    if (std::find(foreign.begin(), foreign.end(), key) != foreign.end()) {
      return "option " + key + " is for " + (pulsar ? "MQTT modes" : "Pulsar modes") + " only";
    }
    if (auto f = flags.find(key); f != flags.end()) {
      if (auto set = f->second(value.value_or("true")); !set.ok()) return set.error();
      continue;
    }
    auto s = with_value.find(key);
    if (s == with_value.end()) return "unknown option '" + key + "'";
    if (!value) {
      if (i + 1 >= args.size()) return "option " + key + " needs a value";
      value = args[++i];
    }
    if (auto set = s->second(*value); !set.ok()) return set.error();
  }
  o.port = static_cast<std::uint16_t>(port);
  o.keepalive = static_cast<std::uint16_t>(keepalive);

  if (o.mode == Mode::pub && o.publishers == 0) return std::string("pub needs -P >= 1");
  if (o.mode == Mode::sub && o.subscribers == 0) return std::string("sub needs -S >= 1");
  if (o.mode == Mode::pubsub && (o.publishers == 0 || o.subscribers == 0)) {
    return std::string("pubsub needs -P >= 1 and -S >= 1");
  }
  if (o.mode == Mode::pulsar_produce && o.publishers == 0) return std::string("pulsar-produce needs -P >= 1");
  if (o.mode == Mode::pulsar_consume && o.subscribers == 0) return std::string("pulsar-consume needs -C >= 1");
  if (o.mode == Mode::pulsar_pubsub && (o.publishers == 0 || o.subscribers == 0)) {
    return std::string("pulsar-pubsub needs -P >= 1 and -C >= 1");
  }
  if (o.mode == Mode::pulsar_produce) o.subscribers = 0;
  if (o.mode == Mode::pulsar_consume) o.publishers = 0;
  if (pulsar && o.batch > o.window) return std::string("--batch must not exceed --window (a batch is sent whole)");
  if (pulsar && o.ack == AckMode::cumulative && (o.sub_type == SubType::shared || o.sub_type == SubType::key_shared)) {
    // As Pulsar's clients refuse it: a cumulative ack would also take messages another consumer holds.
    return std::string("--ack cumulative: not allowed on shared and key_shared subscriptions");
  }
  if (o.mode == Mode::pub) o.subscribers = 0;
  if (o.mode == Mode::sub) o.publishers = 0;
  if (o.mode == Mode::conn) o.publishers = o.subscribers = 0;
  if (o.version == 5) return std::string("-V 5: MQTT 5 is not supported yet (the codec speaks 3.1 and 3.1.1)");
  return o;
}

}  // namespace mop::loadgen
