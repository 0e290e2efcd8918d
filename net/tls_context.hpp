#pragma once
// The server side of TLS for one kind of listener (mqtt+ssl, mqtt+ssl+psk, ws+ssl, pulsar+ssl):
// an OpenSSL 3 context built from Pulsar's / MoP's settings (PEM certificate, key and trusted
// CAs, protocol versions, ciphers, client certificates, pre-shared keys), re-read when the
// certificate files change.
//
// Thread: the io_context's thread (current() may rebuild the context).
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <boost/asio/ssl/context.hpp>

#include "core/result.hpp"

namespace mop::net {

struct TlsOptions {
  std::string certificate_file;  // PEM chain; may be empty only with PSK
  std::string key_file;          // PEM private key
  std::string trust_certs_file;  // PEM CAs that sign client certificates; empty: none
  // "TLSv1.2", "TLSv1.3" (also TLSv1, TLSv1.1); empty: OpenSSL's defaults.
  std::vector<std::string> protocols;
  // OpenSSL names (ECDHE-RSA-AES128-GCM-SHA256) or the IANA / JDK names Pulsar's configurations
  // use (TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256); TLS 1.3 suites (TLS_AES_128_GCM_SHA256) too.
  // Empty: OpenSSL's defaults.
  std::vector<std::string> ciphers;
  // A client certificate that does not verify against trust_certs_file is let in (it is then
  // not used as an identity).
  bool allow_insecure_connection = false;
  // Every client must present a certificate that verifies against trust_certs_file (mTLS).
  bool require_trusted_client_cert = false;
  // TLS-PSK: identity -> secret (the secret's bytes are the key, as MoP reads it).
  bool psk = false;
  std::string psk_identity_hint;
  std::map<std::string, std::string> psk_identities;
  // How often current() looks at the files' modification times; 0: at every new connection.
  std::chrono::seconds refresh_check{300};
};

// Parses MoP's PSK identities: "identity:secret" entries separated by ';' (mqttTlsPskIdentity)
// or by newlines (mqttTlsPskIdentityFile; blank lines and lines starting with '#' are skipped).
// Adds them to `out`; returns what is wrong with which entry.
Result<void, std::string> parse_psk_identities(std::string_view text, char separator,
                                               std::map<std::string, std::string>& out);

class TlsContext {
public:
  // Builds the context, or says what is wrong (which file, what OpenSSL said). `name` is what
  // messages call it ("mqtt+ssl").
  static Result<std::shared_ptr<TlsContext>, std::string> create(std::string name, TlsOptions options);

  // The context for a new connection: rebuilt first if refresh_check has passed and a
  // certificate, key or CA file changed since it was built (a rebuild that fails is logged and
  // the previous context stays). Connections keep the context they started with.
  std::shared_ptr<boost::asio::ssl::context> current();
  // Rebuilds now if a file changed; true if it rebuilt.
  bool reload_if_changed();
  const TlsOptions& options() const { return options_; }
  std::uint64_t reloads() const { return reloads_; }

private:
  TlsContext(std::string name, TlsOptions options) : name_(std::move(name)), options_(std::move(options)) {}
  Result<std::shared_ptr<boost::asio::ssl::context>, std::string> build() const;
  std::vector<std::filesystem::file_time_type> stamps() const;

  std::string name_;
  TlsOptions options_;
  std::shared_ptr<boost::asio::ssl::context> context_;
  std::vector<std::filesystem::file_time_type> stamps_;
  std::chrono::steady_clock::time_point checked_;
  std::uint64_t reloads_ = 0;
};

}  // namespace mop::net
