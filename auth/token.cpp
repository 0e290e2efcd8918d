#include "auth/token.hpp"

#include <cstdlib>
#include <memory>

#include <jwt.h>
#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>

#include "auth/key_source.hpp"

namespace mop::auth {

namespace {

const std::string kMethod = "token";

struct JwtFree {
  void operator()(jwt_t* j) const { jwt_free(j); }
};
using Jwt = std::unique_ptr<jwt_t, JwtFree>;

Result<nlohmann::json, std::string> json_part(std::string_view b64, const char* what) {
  auto bytes = base64url_decode(b64);
  if (!bytes.ok()) return std::string("its ") + what + " " + bytes.error().message;
  auto j = nlohmann::json::parse(*bytes, nullptr, false);
  if (j.is_discarded() || !j.is_object()) return std::string("its ") + what + " is not a JSON object";
  return j;
}

std::string bio_bytes(BIO* b) {
  char* data = nullptr;
  const long n = BIO_get_mem_data(b, &data);
  return std::string(data, static_cast<std::size_t>(n));
}

}  // namespace

bool is_hmac(std::string_view alg) { return alg == "HS256" || alg == "HS384" || alg == "HS512"; }

bool is_supported_alg(std::string_view alg) {
  return is_hmac(alg) || alg == "RS256" || alg == "RS384" || alg == "RS512" || alg == "ES256" || alg == "ES384" ||
         alg == "ES512";
}

Result<DecodedToken, std::string> decode_token(std::string_view token) {
  const auto d1 = token.find('.');
  const auto d2 = d1 == std::string_view::npos ? d1 : token.find('.', d1 + 1);
  if (d2 == std::string_view::npos || token.find('.', d2 + 1) != std::string_view::npos)
    return std::string("token is not three dot-separated parts");
  auto header = json_part(token.substr(0, d1), "header");
  if (!header.ok()) return header.error();
  auto claims = json_part(token.substr(d1 + 1, d2 - d1 - 1), "claims");
  if (!claims.ok()) return claims.error();
  if (!header->contains("alg") || !(*header)["alg"].is_string()) return std::string("token header has no alg");
  return DecodedToken{std::move(header).value(), std::move(claims).value()};
}

Result<std::string, Fault> sign_token(std::string_view alg, std::string_view key, const nlohmann::json& claims,
                                            const nlohmann::json& headers) {
  if (!is_supported_alg(alg)) return fail(Fault{"algorithm " + std::string(alg) + " is not supported"});
  std::string key_bytes(key);
  if (!is_hmac(alg)) {
    auto pem = private_key_pem(key);
    if (!pem.ok()) return fail(Fault{"private key " + pem.error().message});
    key_bytes = std::move(pem).value();
  } else if (key_bytes.empty()) {
    return fail(Fault{"the secret key is empty"});
  }
  jwt_t* raw = nullptr;
  if (jwt_new(&raw) != 0) return fail(Fault{"out of memory"});
  Jwt jwt(raw);
  if (!claims.is_object() || jwt_add_grants_json(jwt.get(), claims.dump().c_str()) != 0)
    return fail(Fault{"claims are not a JSON object"});
  if (headers.is_object() && !headers.empty() && jwt_add_headers_json(jwt.get(), headers.dump().c_str()) != 0)
    return fail(Fault{"headers are not a JSON object"});
  const std::string alg_s(alg);
  if (jwt_set_alg(jwt.get(), jwt_str_alg(alg_s.c_str()), reinterpret_cast<const unsigned char*>(key_bytes.data()),
                  static_cast<int>(key_bytes.size())) != 0)
    return fail(Fault{"the key does not suit " + alg_s});
  char* out = jwt_encode_str(jwt.get());
  if (out == nullptr) return fail(Fault{"signing with " + alg_s + " failed (does the key suit the algorithm?)"});
  std::string token(out);
  std::free(out);
  return token;
}

Result<std::string, Fault> generate_secret_key(std::string_view alg) {
  const std::size_t n = alg == "HS256" ? 32 : alg == "HS384" ? 48 : alg == "HS512" ? 64 : 0;
  if (n == 0) return fail(Fault{"algorithm " + std::string(alg) + " is not an HMAC algorithm (HS256, HS384, HS512)"});
  std::string key(n, '\0');
  if (RAND_bytes(reinterpret_cast<unsigned char*>(key.data()), static_cast<int>(n)) != 1)
    return fail(Fault{"no random bytes"});
  return key;
}

Result<KeyPairDer, std::string> generate_key_pair(std::string_view alg) {
  EVP_PKEY* pkey = nullptr;
  if (alg == "RS256" || alg == "RS384" || alg == "RS512") {
    pkey = EVP_RSA_gen(2048);
  } else if (alg == "ES256" || alg == "ES384" || alg == "ES512") {
    const char* curve = alg == "ES256" ? "P-256" : alg == "ES384" ? "P-384" : "P-521";
    pkey = EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", curve);
  } else {
    return "algorithm " + std::string(alg) + " is not an RSA or ECDSA algorithm (RS256..RS512, ES256..ES512)";
  }
  if (pkey == nullptr) return std::string("key generation failed");
  std::unique_ptr<EVP_PKEY, void (*)(EVP_PKEY*)> owned(pkey, EVP_PKEY_free);
  std::unique_ptr<BIO, int (*)(BIO*)> priv(BIO_new(BIO_s_mem()), BIO_free);
  std::unique_ptr<BIO, int (*)(BIO*)> pub(BIO_new(BIO_s_mem()), BIO_free);
  if (i2d_PKCS8PrivateKey_bio(priv.get(), pkey, nullptr, nullptr, 0, nullptr, nullptr) != 1 ||
      i2d_PUBKEY_bio(pub.get(), pkey) != 1)
    return std::string("cannot encode the key pair as DER");
  return KeyPairDer{bio_bytes(priv.get()), bio_bytes(pub.get())};
}

Result<nlohmann::json, std::string> verify_token(std::string_view token, const TokenCheck& check, std::int64_t now) {
  auto decoded = decode_token(token);
  if (!decoded.ok()) return decoded.error();
  const std::string alg = decoded->header["alg"].get<std::string>();
  if (alg == "none" || alg.empty()) return std::string("unsigned token (alg none) refused");
  if (check.secret ? !is_hmac(alg) : alg != check.alg)
    return "token signed with " + alg + ", expected " + (check.secret ? std::string("HS256/HS384/HS512") : check.alg);
  jwt_t* raw = nullptr;
  const std::string t(token);
  const int rc = jwt_decode(&raw, t.c_str(), reinterpret_cast<const unsigned char*>(check.key.data()),
                            static_cast<int>(check.key.size()));
  Jwt jwt(raw);
  if (rc != 0 || !jwt || jwt_get_alg(jwt.get()) != jwt_str_alg(alg.c_str()))
    return "token signature does not verify (" + alg + ")";
  auto& claims = decoded->claims;
  if (claims.contains("nbf")) {
    if (!claims["nbf"].is_number()) return std::string("token nbf is not a number");
    if (now < claims["nbf"].get<std::int64_t>()) return std::string("token is not valid yet (nbf)");
  }
  if (claims.contains("exp")) {
    if (!claims["exp"].is_number()) return std::string("token exp is not a number");
    if (now >= claims["exp"].get<std::int64_t>())
      return "token expired " + std::to_string(now - claims["exp"].get<std::int64_t>()) + " s ago";
  }
  return std::move(claims);
}

Result<std::shared_ptr<TokenProvider>, std::string> TokenProvider::create(const TokenSettings& s) {
  TokenCheck check;
  if (!s.secret_key.empty()) {
    auto key = read_key(s.secret_key);
    if (!key.ok()) return "tokenSecretKey " + key.error().message;
    if (key->empty()) return std::string("tokenSecretKey is empty");
    check.secret = true;
    check.alg = "HS256";
    check.key = std::move(key).value();
  } else if (!s.public_key.empty()) {
    if (!is_supported_alg(s.public_alg) || is_hmac(s.public_alg))
      return "tokenPublicAlg " + s.public_alg + " is not one of RS256, RS384, RS512, ES256, ES384, ES512";
    auto key = read_key(s.public_key);
    if (!key.ok()) return "tokenPublicKey " + key.error().message;
    auto pem = public_key_pem(*key);
    if (!pem.ok()) return "tokenPublicKey " + pem.error().message;
    check.alg = s.public_alg;
    check.key = std::move(pem).value();
  } else {
    return std::string("token authentication needs tokenSecretKey or tokenPublicKey");
  }
  if (s.auth_claim.empty()) return std::string("tokenAuthClaim is empty");
  return std::make_shared<TokenProvider>(std::move(check), s);
}

const std::string& TokenProvider::method() const { return kMethod; }

Result<Principal, AuthFailure> TokenProvider::authenticate(std::string_view data, std::int64_t now) const {
  if (data.starts_with("Bearer ")) data.remove_prefix(7);
  auto fail = [](std::string why) { return AuthFailure{AuthFailure::Kind::bad_credentials, "token: " + std::move(why)}; };
  if (data.empty()) return fail("empty token");
  auto claims = verify_token(data, check_, now);
  if (!claims.ok()) return fail(claims.error());
  const auto& c = *claims;
  if (!settings_.audience.empty()) {
    const std::string aud_claim = settings_.audience_claim.empty() ? "aud" : settings_.audience_claim;
    bool found = false;
    if (c.contains(aud_claim)) {
      const auto& a = c[aud_claim];
      if (a.is_string()) found = a.get<std::string>() == settings_.audience;
      else if (a.is_array())
        for (const auto& x : a) found = found || (x.is_string() && x.get<std::string>() == settings_.audience);
    }
    if (!found) return fail("audience claim '" + aud_claim + "' does not name this broker (tokenAudience)");
  }
  if (!c.contains(settings_.auth_claim) || !c[settings_.auth_claim].is_string() ||
      c[settings_.auth_claim].get<std::string>().empty())
    return fail("no role in claim '" + settings_.auth_claim + "' (tokenAuthClaim)");
  Principal p{c[settings_.auth_claim].get<std::string>(), kMethod, std::nullopt};
  if (c.contains("exp")) p.expires_at = c["exp"].get<std::int64_t>();
  return p;
}

}  // namespace mop::auth
