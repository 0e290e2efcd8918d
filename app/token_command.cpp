#include "app/token_command.hpp"

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <iterator>
#include <map>
#include <optional>
#include <sstream>

#include <nlohmann/json.hpp>

#include "auth/key_source.hpp"
#include "auth/token.hpp"

namespace mop::app {

namespace {

constexpr const char* kUsage =
    "usage: mop token COMMAND [options]   (the commands and options of `pulsar tokens`)\n"
    "  create-secret-key [-a HS256|HS384|HS512] [-b|--base64] [-o|--output FILE]\n"
    "  create-key-pair [-a RS256|...|ES512] --output-private-key FILE --output-public-key FILE\n"
    "  create -s|--subject ROLE (-sk|--secret-key KEY | -pk|--private-key KEY) [-e|--expiry-time 1h]\n"
    "         [-a ALG] [-hs|--headers key=value]...\n"
    "  show [-i|--stdin] [-f|--token-file FILE] [TOKEN]\n"
    "  validate (-sk|--secret-key KEY | -pk|--public-key KEY [-a ALG]) [-i] [-f FILE] [TOKEN]\n"
    "KEY: data:;base64,..., file:///path, a path, or base64 (as Pulsar reads keys).\n"
    "Expiry: a number and s, m (or min), h, d, w or y.\n";

int usage_error(const std::string& why) {
  std::fprintf(stderr, "mop token: %s\n\n%s", why.c_str(), kUsage);
  return 2;
}

int failure(const std::string& why) {
  std::fprintf(stderr, "mop token: %s\n", why.c_str());
  return 1;
}

// picocli-style options: "--name value", "--name=value", "-x value", "-x=value"; flags alone.
struct Options {
  std::map<std::string, std::vector<std::string>> values;  // by canonical (long) name
  std::vector<std::string> positional;
  std::string error;

  bool has(const std::string& k) const { return values.contains(k); }
  std::optional<std::string> get(const std::string& k) const {
    const auto it = values.find(k);
    if (it == values.end() || it->second.empty()) return std::nullopt;
    return it->second.back();
  }
};

Options parse(const std::vector<std::string>& args, std::size_t from,
              const std::map<std::string, std::string>& names,  // alias -> canonical
              const std::vector<std::string>& flags) {
  Options o;
  for (std::size_t i = from; i < args.size(); ++i) {
    std::string a = args[i];
    if (a.empty() || a[0] != '-') {
      o.positional.push_back(a);
      continue;
    }
    std::optional<std::string> inline_value;
    if (const auto eq = a.find('='); eq != std::string::npos) {
      inline_value = a.substr(eq + 1);
      a = a.substr(0, eq);
    }
    const auto it = names.find(a);
    if (it == names.end()) {
      o.error = "unknown option " + a;
      return o;
    }
    const std::string& name = it->second;
    if (std::find(flags.begin(), flags.end(), name) != flags.end()) {
      o.values[name];
      continue;
    }
    if (inline_value) {
      o.values[name].push_back(*inline_value);
    } else if (i + 1 < args.size()) {
      o.values[name].push_back(args[++i]);
    } else {
      o.error = "option " + a + " needs a value";
      return o;
    }
  }
  return o;
}

Result<std::int64_t, std::string> parse_relative_seconds(const std::string& text) {
  std::size_t digits = 0;
  while (digits < text.size() && std::isdigit(static_cast<unsigned char>(text[digits]))) ++digits;
  if (digits == 0) return "expiry time " + text + " does not start with a number";
  const std::int64_t n = std::stoll(text.substr(0, digits));
  const std::string unit = text.substr(digits);
  static const std::map<std::string, std::int64_t> units = {
      {"s", 1}, {"m", 60}, {"min", 60}, {"h", 3600}, {"d", 86400}, {"w", 7 * 86400}, {"y", 365 * 86400}};
  const auto it = units.find(unit);
  if (it == units.end()) return "expiry time " + text + ": unit is not s, m, min, h, d, w or y";
  return n * it->second;
}

bool write_file(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << bytes;
  return static_cast<bool>(out);
}

std::string trim(std::string s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.pop_back();
  std::size_t i = 0;
  while (i < s.size() && std::isspace(static_cast<unsigned char>(s[i]))) ++i;
  return s.substr(i);
}

// The token of show / validate: -i (stdin), -f FILE, or the argument.
Result<std::string, auth::Fault> token_input(const Options& o) {
  if (o.has("stdin")) {
    std::string all((std::istreambuf_iterator<char>(std::cin)), std::istreambuf_iterator<char>());
    return trim(all);
  }
  if (auto f = o.get("token-file")) {
    std::ifstream in(*f, std::ios::binary);
    if (!in) return fail(auth::Fault{"cannot read " + *f});
    std::ostringstream ss;
    ss << in.rdbuf();
    return trim(ss.str());
  }
  if (o.positional.size() == 1) return trim(o.positional[0]);
  return fail(auth::Fault{"give the token as an argument, with -i (stdin) or with -f FILE"});
}

// Java's Map.toString of the claims, as `pulsar tokens validate` prints them: {sub=alice, exp=1}.
std::string java_string(const nlohmann::ordered_json& v) {
  if (v.is_string()) return v.get<std::string>();
  if (v.is_object()) {
    std::string out = "{";
    bool first = true;
    for (const auto& [k, x] : v.items()) {
      if (!first) out += ", ";
      first = false;
      out += k + "=" + java_string(x);
    }
    return out + "}";
  }
  if (v.is_array()) {
    std::string out = "[";
    for (std::size_t i = 0; i < v.size(); ++i) out += (i ? ", " : "") + java_string(v[i]);
    return out + "]";
  }
  return v.dump();
}

// The alg jjwt picks for a key, as `pulsar tokens create` signs with it.
std::string alg_for_secret(const std::string& key) {
  return key.size() >= 64 ? "HS512" : key.size() >= 48 ? "HS384" : "HS256";
}

const std::map<std::string, std::string> kKeyNames = {
    {"-a", "signature-algorithm"}, {"--signature-algorithm", "signature-algorithm"},
    {"-sk", "secret-key"},         {"--secret-key", "secret-key"},
    {"-pk", "key"},                {"--private-key", "key"},
    {"--public-key", "key"},       {"-s", "subject"},
    {"--subject", "subject"},      {"-e", "expiry-time"},
    {"--expiry-time", "expiry-time"}, {"-hs", "headers"},
    {"--headers", "headers"},      {"-i", "stdin"},
    {"--stdin", "stdin"},          {"-f", "token-file"},
    {"--token-file", "token-file"}, {"-b", "base64"},
    {"--base64", "base64"},        {"-o", "output"},
    {"--output", "output"},        {"--output-private-key", "output-private-key"},
    {"--output-public-key", "output-public-key"}, {"-h", "help"}, {"--help", "help"}};

int create_secret_key(const Options& o) {
  const std::string alg = o.get("signature-algorithm").value_or("HS256");
  auto key = auth::generate_secret_key(alg);
  if (!key.ok()) return failure(key.error().message);
  std::string bytes = o.has("base64") ? auth::base64_encode(*key) : *key;
  if (auto out = o.get("output")) {
    if (!write_file(*out, bytes)) return failure("cannot write " + *out);
    return 0;
  }
  std::fwrite(bytes.data(), 1, bytes.size(), stdout);
  return 0;
}

int create_key_pair(const Options& o) {
  const auto priv = o.get("output-private-key");
  const auto pub = o.get("output-public-key");
  if (!priv || !pub) return usage_error("create-key-pair needs --output-private-key and --output-public-key");
  auto pair = auth::generate_key_pair(o.get("signature-algorithm").value_or("RS256"));
  if (!pair.ok()) return failure(pair.error());
  if (!write_file(*priv, pair->private_der)) return failure("cannot write " + *priv);
  if (!write_file(*pub, pair->public_der)) return failure("cannot write " + *pub);
  return 0;
}

int create(const Options& o) {
  const auto subject = o.get("subject");
  if (!subject) return usage_error("create needs --subject");
  const auto secret = o.get("secret-key");
  const auto priv = o.get("key");
  if (secret.has_value() == priv.has_value()) return usage_error("create needs one of --secret-key and --private-key");
  auto key = auth::read_key(secret ? *secret : *priv);
  if (!key.ok()) return failure((secret ? "secret key " : "private key ") + key.error().message);
  std::string alg;
  if (secret) {
    alg = o.get("signature-algorithm").value_or(alg_for_secret(*key));
    if (!auth::is_hmac(alg)) alg = alg_for_secret(*key);  // -a names the key pair's algorithm; a secret is HMAC
  } else {
    alg = o.get("signature-algorithm").value_or("RS256");
  }
  nlohmann::json claims = {{"sub", *subject}};
  if (auto e = o.get("expiry-time")) {
    auto seconds = parse_relative_seconds(*e);
    if (!seconds.ok()) return usage_error(seconds.error());
    const auto now = std::chrono::duration_cast<std::chrono::seconds>(
                         std::chrono::system_clock::now().time_since_epoch()).count();
    claims["exp"] = now + *seconds;
  }
  nlohmann::json headers = nlohmann::json::object();
  if (const auto it = o.values.find("headers"); it != o.values.end()) {
    for (const auto& kv : it->second) {
      const auto eq = kv.find('=');
      if (eq == std::string::npos) return usage_error("--headers takes key=value");
      headers[kv.substr(0, eq)] = kv.substr(eq + 1);
    }
  }
  auto token = auth::sign_token(alg, *key, claims, headers);
  if (!token.ok()) return failure(token.error().message);
  std::printf("%s\n", token->c_str());
  return 0;
}

// The raw JSON of a token part, as `pulsar tokens show` prints it.
std::optional<std::string> part(const std::string& token, int index) {
  std::size_t start = 0;
  for (int i = 0; i < index; ++i) {
    start = token.find('.', start);
    if (start == std::string::npos) return std::nullopt;
    ++start;
  }
  const auto end = token.find('.', start);
  auto bytes = auth::base64url_decode(token.substr(start, end == std::string::npos ? std::string::npos : end - start));
  if (!bytes.ok()) return std::nullopt;
  return *bytes;
}

int show(const Options& o) {
  auto token = token_input(o);
  if (!token.ok()) return usage_error(token.error().message);
  auto decoded = auth::decode_token(*token);
  if (!decoded.ok()) return failure(decoded.error());
  std::printf("%s\n---\n%s\n", part(*token, 0).value_or("").c_str(), part(*token, 1).value_or("").c_str());
  return 0;
}

int validate(const Options& o) {
  auto token = token_input(o);
  if (!token.ok()) return usage_error(token.error().message);
  const auto secret = o.get("secret-key");
  const auto pub = o.get("key");
  if (secret.has_value() == pub.has_value()) return usage_error("validate needs one of --secret-key and --public-key");
  auth::TokenCheck check;
  auto key = auth::read_key(secret ? *secret : *pub);
  if (!key.ok()) return failure((secret ? "secret key " : "public key ") + key.error().message);
  if (secret) {
    check.secret = true;
    check.key = *key;
  } else {
    auto pem = auth::public_key_pem(*key);
    if (!pem.ok()) return failure("public key " + pem.error().message);
    check.key = *pem;
    check.alg = o.get("signature-algorithm").value_or("RS256");
  }
  const auto now = std::chrono::duration_cast<std::chrono::seconds>(
                       std::chrono::system_clock::now().time_since_epoch()).count();
  auto claims = auth::verify_token(*token, check, now);
  if (!claims.ok()) return failure("invalid token: " + claims.error());
  // Printed in the token's own claim order.
  auto ordered = nlohmann::ordered_json::parse(part(*token, 1).value_or("{}"), nullptr, false);
  std::printf("%s\n", java_string(ordered).c_str());
  return 0;
}

}  // namespace

int run_token_command(const std::vector<std::string>& args) {
  if (args.empty() || args[0] == "-h" || args[0] == "--help" || args[0] == "help") {
    std::fputs(kUsage, args.empty() ? stderr : stdout);
    return args.empty() ? 2 : 0;
  }
  const Options o = parse(args, 1, kKeyNames, {"stdin", "base64", "help"});
  if (!o.error.empty()) return usage_error(o.error);
  if (o.has("help")) {
    std::fputs(kUsage, stdout);
    return 0;
  }
  const std::string& cmd = args[0];
  if (cmd != "show" && cmd != "validate" && !o.positional.empty())
    return usage_error("unexpected argument " + o.positional[0]);
  if (cmd == "create-secret-key") return create_secret_key(o);
  if (cmd == "create-key-pair") return create_key_pair(o);
  if (cmd == "create") return create(o);
  if (cmd == "show") return show(o);
  if (cmd == "validate") return validate(o);
  return usage_error("unknown command " + cmd);
}

}  // namespace mop::app
