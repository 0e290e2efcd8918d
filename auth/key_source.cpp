#include "auth/key_source.hpp"

#include <cctype>
#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>

#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

namespace mop::auth {

namespace {

constexpr char kB64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

int b64_value(char c, bool url) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == (url ? '-' : '+')) return 62;
  if (c == (url ? '_' : '/')) return 63;
  return -1;
}

std::string encode(std::string_view bytes, bool url) {
  std::string out;
  out.reserve((bytes.size() + 2) / 3 * 4);
  std::size_t i = 0;
  auto at = [&](std::size_t k) { return static_cast<unsigned char>(bytes[k]); };
  for (; i + 3 <= bytes.size(); i += 3) {
    const unsigned v = (at(i) << 16) | (at(i + 1) << 8) | at(i + 2);
    for (int s = 18; s >= 0; s -= 6) out += kB64[(v >> s) & 63];
  }
  const std::size_t rest = bytes.size() - i;
  if (rest > 0) {
    unsigned v = at(i) << 16;
    if (rest == 2) v |= at(i + 1) << 8;
    out += kB64[(v >> 18) & 63];
    out += kB64[(v >> 12) & 63];
    if (rest == 2) out += kB64[(v >> 6) & 63];
    if (!url) out.append(3 - rest, '=');
  }
  if (url)
    for (auto& c : out) c = c == '+' ? '-' : c == '/' ? '_' : c;
  return out;
}

Result<std::string, Fault> decode(std::string_view text, bool url) {
  while (!text.empty() && text.back() == '=') text.remove_suffix(1);
  std::string out;
  unsigned acc = 0;
  int bits = 0;
  for (char c : text) {
    if (!url && (c == '\n' || c == '\r' || c == ' ' || c == '\t')) continue;
    const int v = b64_value(c, url);
    if (v < 0) return fail(Fault{"is not valid base64"});
    acc = (acc << 6) | static_cast<unsigned>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out += static_cast<char>((acc >> bits) & 0xFF);
    }
  }
  if (bits >= 6) return fail(Fault{"is not valid base64 (truncated)"});
  return out;
}

std::string percent_decode(std::string_view s) {
  std::string out;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%' && i + 2 < s.size()) {
      auto hex = [](char c) { return std::isxdigit(static_cast<unsigned char>(c)) ? (c <= '9' ? c - '0' : (c | 0x20) - 'a' + 10) : -1; };
      const int hi = hex(s[i + 1]), lo = hex(s[i + 2]);
      if (hi >= 0 && lo >= 0) {
        out += static_cast<char>(hi * 16 + lo);
        i += 2;
        continue;
      }
    }
    out += s[i];
  }
  return out;
}

Result<std::string, Fault> read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return fail(Fault{"cannot read file " + path});
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

struct BioFree {
  void operator()(BIO* b) const { BIO_free(b); }
};
struct PkeyFree {
  void operator()(EVP_PKEY* k) const { EVP_PKEY_free(k); }
};
using Bio = std::unique_ptr<BIO, BioFree>;
using Pkey = std::unique_ptr<EVP_PKEY, PkeyFree>;

std::string bio_string(BIO* b) {
  char* data = nullptr;
  const long n = BIO_get_mem_data(b, &data);
  return std::string(data, static_cast<std::size_t>(n));
}

Bio mem_bio(std::string_view bytes) { return Bio(BIO_new_mem_buf(bytes.data(), static_cast<int>(bytes.size()))); }

}  // namespace

std::string base64_encode(std::string_view bytes) { return encode(bytes, false); }
Result<std::string, Fault> base64_decode(std::string_view text) { return decode(text, false); }
std::string base64url_encode(std::string_view bytes) { return encode(bytes, true); }
Result<std::string, Fault> base64url_decode(std::string_view text) { return decode(text, true); }

Result<std::string, Fault> read_key(std::string_view value) {
  if (value.starts_with("data:")) {
    const auto comma = value.find(',');
    if (comma == std::string_view::npos) return fail(Fault{"data: URL without a ','"});
    const auto meta = value.substr(5, comma - 5);
    const auto body = value.substr(comma + 1);
    if (meta.ends_with(";base64")) {
      auto d = base64_decode(body);
      if (!d.ok()) return fail(Fault{"data: URL payload " + d.error().message});
      return d;
    }
    return percent_decode(body);
  }
  if (value.starts_with("file:")) {
    std::string_view path = value.substr(5);
    // file:///abs/path and file:/abs/path both name /abs/path.
    if (path.starts_with("//")) path.remove_prefix(2);
    return read_file(percent_decode(path));
  }
  std::error_code ec;
  if (std::filesystem::is_regular_file(std::string(value), ec)) return read_file(std::string(value));
  auto d = base64_decode(value);
  if (!d.ok()) return fail(Fault{"is neither data:, file:, an existing file nor base64 (" + d.error().message + ")"});
  return d;
}

Result<std::string, Fault> public_key_pem(std::string_view key) {
  Pkey pkey;
  if (key.find("-----BEGIN") != std::string_view::npos) {
    auto in = mem_bio(key);
    pkey.reset(PEM_read_bio_PUBKEY(in.get(), nullptr, nullptr, nullptr));
  } else {
    const auto* p = reinterpret_cast<const unsigned char*>(key.data());
    pkey.reset(d2i_PUBKEY(nullptr, &p, static_cast<long>(key.size())));
  }
  if (!pkey) return fail(Fault{"is not a public key (X.509 SubjectPublicKeyInfo, DER or PEM)"});
  Bio out(BIO_new(BIO_s_mem()));
  if (PEM_write_bio_PUBKEY(out.get(), pkey.get()) != 1) return fail(Fault{"cannot be written as PEM"});
  return bio_string(out.get());
}

Result<std::string, Fault> private_key_pem(std::string_view key) {
  Pkey pkey;
  if (key.find("-----BEGIN") != std::string_view::npos) {
    auto in = mem_bio(key);
    pkey.reset(PEM_read_bio_PrivateKey(in.get(), nullptr, nullptr, nullptr));
  } else {
    const auto* p = reinterpret_cast<const unsigned char*>(key.data());
    pkey.reset(d2i_AutoPrivateKey(nullptr, &p, static_cast<long>(key.size())));
  }
  if (!pkey) return fail(Fault{"is not a private key (PKCS#8, DER or PEM)"});
  Bio out(BIO_new(BIO_s_mem()));
  if (PEM_write_bio_PrivateKey(out.get(), pkey.get(), nullptr, nullptr, 0, nullptr, nullptr) != 1)
    return fail(Fault{"cannot be written as PEM"});
  return bio_string(out.get());
}

}  // namespace mop::auth
