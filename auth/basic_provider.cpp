#include "auth/basic_provider.hpp"

#include <crypt.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "auth/key_source.hpp"

namespace mop::auth {

namespace {

const std::string kMethod = "basic";
constexpr std::string_view kApr1 = "$apr1$";
constexpr char kItoa64[] = "./0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

class Md5 {
public:
  Md5() : ctx_(EVP_MD_CTX_new()) { EVP_DigestInit_ex(ctx_, EVP_md5(), nullptr); }
  ~Md5() { EVP_MD_CTX_free(ctx_); }
  Md5(const Md5&) = delete;
  Md5& operator=(const Md5&) = delete;
  Md5& add(std::string_view s) {
    EVP_DigestUpdate(ctx_, s.data(), s.size());
    return *this;
  }
  std::string done() {
    unsigned char out[16];
    unsigned int n = 0;
    EVP_DigestFinal_ex(ctx_, out, &n);
    return std::string(reinterpret_cast<char*>(out), 16);
  }

private:
  EVP_MD_CTX* ctx_;
};

void to64(std::string& out, unsigned v, int n) {
  while (n-- > 0) {
    out += kItoa64[v & 0x3f];
    v >>= 6;
  }
}

}  // namespace

std::string apr1_crypt(std::string_view pw, std::string_view setting) {
  if (setting.starts_with(kApr1)) setting.remove_prefix(kApr1.size());
  std::string_view salt = setting.substr(0, std::min<std::size_t>(setting.find('$'), 8));
  Md5 ctx;
  ctx.add(pw).add(kApr1).add(salt);
  std::string fin = Md5().add(pw).add(salt).add(pw).done();
  for (std::size_t left = pw.size(); left > 0; left -= std::min<std::size_t>(left, 16))
    ctx.add(std::string_view(fin).substr(0, std::min<std::size_t>(left, 16)));
  for (std::size_t i = pw.size(); i != 0; i >>= 1)
    ctx.add((i & 1) ? std::string_view("\0", 1) : pw.substr(0, 1));
  fin = ctx.done();
  for (int i = 0; i < 1000; ++i) {
    Md5 r;
    if (i & 1) r.add(pw); else r.add(fin);
    if (i % 3) r.add(salt);
    if (i % 7) r.add(pw);
    if (i & 1) r.add(fin); else r.add(pw);
    fin = r.done();
  }
  auto b = [&](int k) { return static_cast<unsigned>(static_cast<unsigned char>(fin[k])); };
  std::string out(kApr1);
  out += salt;
  out += '$';
  to64(out, (b(0) << 16) | (b(6) << 8) | b(12), 4);
  to64(out, (b(1) << 16) | (b(7) << 8) | b(13), 4);
  to64(out, (b(2) << 16) | (b(8) << 8) | b(14), 4);
  to64(out, (b(3) << 16) | (b(9) << 8) | b(15), 4);
  to64(out, (b(4) << 16) | (b(10) << 8) | b(5), 4);
  to64(out, b(11), 2);
  return out;
}

bool password_matches(std::string_view password, const std::string& hash) {
  std::string computed;
  if (hash.starts_with(kApr1)) {
    computed = apr1_crypt(password, hash);
  } else {
    crypt_data data{};
    const std::string pw(password);
    const char* r = crypt_r(pw.c_str(), hash.c_str(), &data);
    if (r == nullptr || r[0] == '*') return false;  // an unusable hash never matches
    computed = r;
  }
  return computed.size() == hash.size() && CRYPTO_memcmp(computed.data(), hash.data(), hash.size()) == 0;
}

Result<std::shared_ptr<BasicProvider>, std::string> BasicProvider::create(std::string_view conf) {
  auto text = read_key(conf);
  if (!text.ok()) return "basicAuthConf " + text.error().message;
  std::map<std::string, std::string> users;
  std::string_view rest = *text;
  int line_no = 0;
  while (!rest.empty()) {
    const auto nl = rest.find('\n');
    std::string_view line = rest.substr(0, nl);
    rest = nl == std::string_view::npos ? std::string_view{} : rest.substr(nl + 1);
    ++line_no;
    while (!line.empty() && (line.back() == '\r' || line.back() == ' ')) line.remove_suffix(1);
    if (line.empty() || line.front() == '#') continue;
    const auto colon = line.find(':');
    if (colon == 0 || colon == std::string_view::npos || colon + 1 == line.size())
      return "basicAuthConf line " + std::to_string(line_no) + " is not user:hash";
    users[std::string(line.substr(0, colon))] = std::string(line.substr(colon + 1));
  }
  if (users.empty()) return std::string("basicAuthConf lists no users");
  return std::make_shared<BasicProvider>(std::move(users));
}

const std::string& BasicProvider::method() const { return kMethod; }

Result<Principal, AuthFailure> BasicProvider::authenticate(std::string_view data, std::int64_t) const {
  const auto colon = data.find(':');
  if (colon == std::string_view::npos)
    return AuthFailure{AuthFailure::Kind::bad_credentials, "basic: credentials are not user:password"};
  const std::string user(data.substr(0, colon));
  const auto it = users_.find(user);
  // An unknown user costs a hash too, so the answer's timing does not tell which users exist.
  const bool ok = password_matches(data.substr(colon + 1), it != users_.end() ? it->second : std::string("$apr1$mop$x"));
  if (it == users_.end() || !ok)
    return AuthFailure{AuthFailure::Kind::bad_credentials, "basic: bad user name or password for user '" + user + "'"};
  return Principal{user, kMethod, std::nullopt};
}

}  // namespace mop::auth
