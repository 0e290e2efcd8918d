#include "net/openssl.hpp"

#include <openssl/err.h>

namespace mop::net {

std::string openssl_errors() {
  std::string out;
  while (const unsigned long e = ERR_get_error()) {
    char buf[256];
    ERR_error_string_n(e, buf, sizeof buf);
    if (!out.empty()) out += "; ";
    out += buf;
  }
  return out.empty() ? "unknown OpenSSL error" : out;
}

Result<void, KeyPairError> use_key_pair(SSL_CTX* ctx, const std::string& certificate_file, const std::string& key_file) {
  if (SSL_CTX_use_certificate_chain_file(ctx, certificate_file.c_str()) != 1) return KeyPairError::certificate;
  if (SSL_CTX_use_PrivateKey_file(ctx, key_file.c_str(), SSL_FILETYPE_PEM) != 1) return KeyPairError::key;
  if (SSL_CTX_check_private_key(ctx) != 1) return KeyPairError::mismatch;
  return {};
}

}  // namespace mop::net
