#include "net/tls_context.hpp"

#include <algorithm>
#include <cstring>
#include <system_error>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "core/log.hpp"
#include "net/openssl.hpp"

namespace mop::net {

namespace asio = boost::asio;

namespace {

std::string trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t' || s.front() == '\r')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) s.remove_suffix(1);
  return std::string(s);
}

// Where each SSL_CTX keeps its PSK identities (asio's context uses the app data slot).
int psk_index() {
  static const int index = SSL_CTX_get_ex_new_index(0, nullptr, nullptr, nullptr, nullptr);
  return index;
}

unsigned int psk_server_callback(SSL* ssl, const char* identity, unsigned char* psk, unsigned int max_len) {
  const auto* ids = static_cast<const std::map<std::string, std::string>*>(
      SSL_CTX_get_ex_data(SSL_get_SSL_CTX(ssl), psk_index()));
  if (ids == nullptr || identity == nullptr) return 0;
  const auto it = ids->find(identity);
  if (it == ids->end() || it->second.size() > max_len) {
    // No secret: the handshake fails with "unknown PSK identity"; the listener logs the failure.
    log::get("tls")->warn("TLS-PSK: unknown identity \"{}\"", identity);
    return 0;
  }
  std::memcpy(psk, it->second.data(), it->second.size());
  return static_cast<unsigned int>(it->second.size());
}

Result<int, std::string> protocol_version(const std::string& name) {
  std::string n = name;
  std::transform(n.begin(), n.end(), n.begin(), [](unsigned char c) { return std::tolower(c); });
  if (n == "tlsv1.3") return TLS1_3_VERSION;
  if (n == "tlsv1.2") return TLS1_2_VERSION;
  if (n == "tlsv1.1") return TLS1_1_VERSION;
  if (n == "tlsv1" || n == "tlsv1.0") return TLS1_VERSION;
  return "unknown TLS protocol \"" + name + "\" (expected TLSv1.2 or TLSv1.3)";
}

bool is_tls13_suite(const std::string& name) {
  return name == "TLS_AES_128_GCM_SHA256" || name == "TLS_AES_256_GCM_SHA384" ||
         name == "TLS_CHACHA20_POLY1305_SHA256" || name == "TLS_AES_128_CCM_SHA256" ||
         name == "TLS_AES_128_CCM_8_SHA256";
}

}  // namespace

Result<void, std::string> parse_psk_identities(std::string_view text, char separator,
                                               std::map<std::string, std::string>& out) {
  std::size_t start = 0;
  while (start <= text.size()) {
    const auto end = std::min(text.find(separator, start), text.size());
    const std::string entry = trim(text.substr(start, end - start));
    start = end + 1;
    if (entry.empty() || (separator == '\n' && entry.front() == '#')) continue;
    const auto colon = entry.find(':');
    if (colon == std::string::npos || colon == 0 || colon + 1 == entry.size()) {
      // The secret is not repeated in the message.
      return "PSK entry \"" + entry.substr(0, colon) + "\" is not identity:secret";
    }
    if (colon + 1 + PSK_MAX_PSK_LEN < entry.size())
      return "PSK identity \"" + entry.substr(0, colon) + "\": the secret is longer than " +
             std::to_string(PSK_MAX_PSK_LEN) + " bytes";
    out[entry.substr(0, colon)] = entry.substr(colon + 1);
  }
  return {};
}

std::optional<std::string> verified_certificate_cn(SSL* ssl) {
  X509* cert = SSL_get0_peer_certificate(ssl);
  if (cert == nullptr || SSL_get_verify_result(ssl) != X509_V_OK) return std::nullopt;
  char cn[256];
  const int n = X509_NAME_get_text_by_NID(X509_get_subject_name(cert), NID_commonName, cn, sizeof cn);
  if (n < 0) return std::nullopt;
  return std::string(cn, static_cast<std::size_t>(n));
}

Result<std::shared_ptr<TlsContext>, std::string> TlsContext::create(std::string name, TlsOptions options) {
  if (!options.psk && (options.certificate_file.empty() || options.key_file.empty()))
    return name + ": a certificate file and a key file are required";
  if (options.require_trusted_client_cert && options.trust_certs_file.empty())
    return name + ": client certificates are required but no trusted CA file is set";
  if (options.psk && options.psk_identities.empty()) return name + ": TLS-PSK is on but no PSK identity is set";
  std::shared_ptr<TlsContext> ctx(new TlsContext(std::move(name), std::move(options)));
  auto built = ctx->build();
  if (!built.ok()) return built.error();
  ctx->context_ = std::move(built).value();
  ctx->stamps_ = ctx->stamps();
  ctx->checked_ = std::chrono::steady_clock::now();
  return ctx;
}

std::vector<std::filesystem::file_time_type> TlsContext::stamps() const {
  std::vector<std::filesystem::file_time_type> out;
  for (const auto* f : {&options_.certificate_file, &options_.key_file, &options_.trust_certs_file}) {
    std::error_code ec;
    out.push_back(f->empty() ? std::filesystem::file_time_type{} : std::filesystem::last_write_time(*f, ec));
  }
  return out;
}

bool TlsContext::reload_if_changed() {
  auto now = stamps();
  if (now == stamps_) return false;
  auto built = build();
  if (!built.ok()) {
    log::get("tls")->error("{}: the changed certificate files cannot be used, keeping the previous ones: {}", name_,
                           built.error());
    stamps_ = std::move(now);  // not again until they change again
    return false;
  }
  context_ = std::move(built).value();
  stamps_ = std::move(now);
  ++reloads_;
  log::get("tls")->info("{}: certificate files changed, reloaded", name_);
  return true;
}

std::shared_ptr<asio::ssl::context> TlsContext::current() {
  const auto now = std::chrono::steady_clock::now();
  if (now - checked_ >= options_.refresh_check) {
    checked_ = now;
    reload_if_changed();
  }
  return context_;
}

Result<std::shared_ptr<asio::ssl::context>, std::string> TlsContext::build() const {
  auto ctx = std::make_shared<asio::ssl::context>(asio::ssl::context::tls_server);
  SSL_CTX* native = ctx->native_handle();
  ERR_clear_error();
  SSL_CTX_set_options(native, SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE);
  // Idle connections give their read and write buffers back.
  SSL_CTX_set_mode(native, SSL_MODE_RELEASE_BUFFERS);
  if (!options_.certificate_file.empty()) {
    if (auto pair = use_key_pair(native, options_.certificate_file, options_.key_file); !pair.ok()) {
      switch (pair.error()) {
        case KeyPairError::certificate:
          return name_ + ": cannot use certificate file \"" + options_.certificate_file + "\": " + openssl_errors();
        case KeyPairError::key:
          return name_ + ": cannot use key file \"" + options_.key_file + "\" with certificate file \"" +
                 options_.certificate_file + "\": " + openssl_errors();
        case KeyPairError::mismatch:
          return name_ + ": key file \"" + options_.key_file + "\" does not match certificate file \"" +
                 options_.certificate_file + "\": " + openssl_errors();
      }
    }
  }
  if (!options_.trust_certs_file.empty()) {
    if (SSL_CTX_load_verify_locations(native, options_.trust_certs_file.c_str(), nullptr) != 1)
      return name_ + ": cannot use trusted CA file \"" + options_.trust_certs_file + "\": " + openssl_errors();
    // Clients are told which CAs are trusted (mosquitto and openssl pick their certificate by it).
    if (STACK_OF(X509_NAME)* names = SSL_load_client_CA_file(options_.trust_certs_file.c_str()))
      SSL_CTX_set_client_CA_list(native, names);
    int mode = SSL_VERIFY_PEER;
    if (options_.require_trusted_client_cert) mode |= SSL_VERIFY_FAIL_IF_NO_PEER_CERT;
    // With allow_insecure_connection an unverifiable certificate does not fail the handshake;
    // the stream then reports no certificate name (verify result != X509_V_OK).
    SSL_CTX_set_verify(native, mode,
                       options_.allow_insecure_connection && !options_.require_trusted_client_cert
                           ? +[](int, X509_STORE_CTX*) { return 1; }
                           : nullptr);
  }
  if (!options_.protocols.empty()) {
    int lo = 0, hi = 0;
    for (const auto& p : options_.protocols) {
      auto v = protocol_version(p);
      if (!v.ok()) return name_ + ": " + v.error();
      lo = lo == 0 ? *v : std::min(lo, *v);
      hi = std::max(hi, *v);
    }
    SSL_CTX_set_min_proto_version(native, lo);
    SSL_CTX_set_max_proto_version(native, hi);
  }
  std::string list, suites;
  for (const auto& c : options_.ciphers) {
    if (is_tls13_suite(c)) {
      suites += (suites.empty() ? "" : ":") + c;
      continue;
    }
    const char* openssl_name = OPENSSL_cipher_name(c.c_str());  // IANA -> OpenSSL name
    const std::string n = (openssl_name != nullptr && std::strcmp(openssl_name, "(NONE)") != 0) ? openssl_name : c;
    list += (list.empty() ? "" : ":") + n;
  }
  if (options_.psk && list.empty()) list = "PSK:DHE-PSK:ECDHE-PSK:RSA-PSK";
  if (!list.empty() && SSL_CTX_set_cipher_list(native, list.c_str()) != 1)
    return name_ + ": none of the ciphers \"" + list + "\" is known to OpenSSL";
  if (!suites.empty() && SSL_CTX_set_ciphersuites(native, suites.c_str()) != 1)
    return name_ + ": the TLS 1.3 cipher suites \"" + suites + "\" are not known to OpenSSL";
  if (options_.psk) {
    SSL_CTX_set_ex_data(native, psk_index(), const_cast<std::map<std::string, std::string>*>(&options_.psk_identities));
    SSL_CTX_set_psk_server_callback(native, psk_server_callback);
    if (!options_.psk_identity_hint.empty()) SSL_CTX_use_psk_identity_hint(native, options_.psk_identity_hint.c_str());
  }
  return ctx;
}

}  // namespace mop::net
