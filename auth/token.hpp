#pragma once
// JSON Web Tokens as Apache Pulsar makes and checks them (`pulsar tokens`, the broker's
// AuthenticationProviderToken): HS256/384/512 with a secret key (raw bytes), RS256/384/512 and
// ES256/384/512 with a key pair (DER, as Pulsar writes them, or PEM). Signing and signature
// checks go through libjwt; the header and claims are read here, so that the algorithm is checked
// against the configured one before any signature is looked at (never `none`, never an HMAC
// token checked with a public key).
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "auth/provider.hpp"

namespace mop::auth {

// A token split and decoded, not verified.
struct DecodedToken {
  nlohmann::json header;
  nlohmann::json claims;
};
Result<DecodedToken, std::string> decode_token(std::string_view token);

bool is_hmac(std::string_view alg);       // HS256, HS384, HS512
bool is_supported_alg(std::string_view alg);  // the nine above

// Signs `claims` with `alg`. `key`: the raw secret for HS*, a private key (DER or PEM) otherwise.
// `headers` (an object, may be null) are added to the header.
Result<std::string, Fault> sign_token(std::string_view alg, std::string_view key, const nlohmann::json& claims,
                                            const nlohmann::json& headers = nullptr);

// New keys as `pulsar tokens` makes them: a secret of the algorithm's size (32/48/64 bytes), a
// key pair as DER (private PKCS#8, public X.509 SubjectPublicKeyInfo).
Result<std::string, Fault> generate_secret_key(std::string_view alg);
struct KeyPairDer {
  std::string private_der;
  std::string public_der;
};
Result<KeyPairDer, std::string> generate_key_pair(std::string_view alg);

// Checks a token's signature with exactly `alg` and `key` (secret, or public key DER/PEM), then
// `nbf` / `exp` against `now`. Returns the claims.
struct TokenCheck {
  std::string alg;        // what the token must be signed with (any HS* for a secret key)
  bool secret = false;    // key is an HMAC secret
  std::string key;        // secret bytes, or the public key as PEM
};
Result<nlohmann::json, std::string> verify_token(std::string_view token, const TokenCheck& check, std::int64_t now);

// `token`: Pulsar's AuthenticationProviderToken.
struct TokenSettings {
  std::string secret_key;          // tokenSecretKey (data:, file:, path or base64)
  std::string public_key;          // tokenPublicKey
  std::string public_alg = "RS256";  // tokenPublicAlg
  std::string auth_claim = "sub";  // tokenAuthClaim
  std::string audience_claim;      // tokenAudienceClaim (default "aud")
  std::string audience;            // tokenAudience: required in the audience claim when set
};

class TokenProvider final : public Provider {
public:
  static Result<std::shared_ptr<TokenProvider>, std::string> create(const TokenSettings& settings);
  TokenProvider(TokenCheck check, TokenSettings settings) : check_(std::move(check)), settings_(std::move(settings)) {}

  const std::string& method() const override;
  // `data`: the JWT, optionally after "Bearer " (HTTP).
  Result<Principal, AuthFailure> authenticate(std::string_view data, std::int64_t now) const override;

private:
  TokenCheck check_;
  TokenSettings settings_;
};

}  // namespace mop::auth
