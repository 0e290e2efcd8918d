#pragma once
// Key and credential values as Pulsar reads them (AuthTokenUtils.readKeyFromUrl and the
// basicAuthConf rule): `data:[type];base64,XXXX`, `file:///path`, a path to an existing file, or
// else the value itself in base64. Also the base64 / base64url helpers and the DER <-> PEM
// conversions the token code needs (Pulsar stores keys as DER, libjwt wants PEM).
#include <string>
#include <string_view>

#include "auth/provider.hpp"
#include "core/result.hpp"

namespace mop::auth {

// The bytes a key setting stands for. Errors name the form that failed, never the key bytes.
Result<std::string, Fault> read_key(std::string_view value);

std::string base64_encode(std::string_view bytes);
// Standard alphabet, padding optional; nullopt-like failure as an error string.
Result<std::string, Fault> base64_decode(std::string_view text);
std::string base64url_encode(std::string_view bytes);  // no padding, as in a JWT
Result<std::string, Fault> base64url_decode(std::string_view text);

// A public key (X.509 SubjectPublicKeyInfo) or private key (PKCS#8 or traditional), given as DER
// or PEM, as PEM. Error when it is neither.
Result<std::string, Fault> public_key_pem(std::string_view der_or_pem);
Result<std::string, Fault> private_key_pem(std::string_view der_or_pem);

}  // namespace mop::auth
