// The OpenSSL helpers the server side (net/tls_context.cpp) and the Pulsar client
// (pulsar/client/asio_client.cpp) share. Library mop_openssl: OpenSSL only, no Asio, so the
// client links it without the transports of mop_net.
#pragma once

#include <string>

#include <openssl/ssl.h>

#include "core/result.hpp"

namespace mop::net {

// OpenSSL's queued errors as one line ("unknown OpenSSL error" when there are none); the queue is
// emptied.
std::string openssl_errors();

// Which step of loading a certificate and its key failed.
enum class KeyPairError { certificate, key, mismatch };

// Loads a PEM certificate chain and its PEM private key into `ctx` and checks that they belong
// together. On failure OpenSSL's error queue still holds the reason (read it with openssl_errors()).
Result<void, KeyPairError> use_key_pair(SSL_CTX* ctx, const std::string& certificate_file, const std::string& key_file);

}  // namespace mop::net
