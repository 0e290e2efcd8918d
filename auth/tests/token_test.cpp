// Tokens: signing and checking as Pulsar's token provider does, and every way a token is refused.
#include <gtest/gtest.h>

#include "auth/key_source.hpp"
#include "auth/token.hpp"

namespace mop::auth {
namespace {

constexpr std::int64_t kNow = 1'800'000'000;

std::shared_ptr<TokenProvider> provider(TokenSettings s) {
  auto p = TokenProvider::create(s);
  EXPECT_TRUE(p.ok()) << p.error();
  return p.ok() ? *p : nullptr;
}

TokenSettings secret_settings(const std::string& secret) {
  TokenSettings s;
  s.secret_key = "data:;base64," + base64_encode(secret);
  return s;
}

std::string unsigned_token(const nlohmann::json& claims) {
  return base64url_encode(R"({"alg":"none"})") + "." + base64url_encode(claims.dump()) + ".";
}

TEST(Token, SecretKeyRoundTrip) {
  auto secret = generate_secret_key("HS256").value();
  EXPECT_EQ(secret.size(), 32u);
  auto p = provider(secret_settings(secret));
  for (const char* alg : {"HS256", "HS384", "HS512"}) {
    auto t = sign_token(alg, secret, {{"sub", "alice"}, {"exp", kNow + 60}});
    ASSERT_TRUE(t.ok()) << t.error().message;
    auto r = p->authenticate(*t, kNow);
    ASSERT_TRUE(r.ok()) << alg << ": " << r.error().reason;
    EXPECT_EQ(r->role, "alice");
    EXPECT_EQ(r->expires_at, kNow + 60);
    EXPECT_TRUE(p->authenticate("Bearer " + *t, kNow).ok());  // HTTP form
  }
}

TEST(Token, KeyPairsRoundTripAsDerAndPem) {
  for (const char* alg : {"RS256", "ES256", "ES384"}) {
    auto pair = generate_key_pair(alg);
    ASSERT_TRUE(pair.ok()) << pair.error();
    TokenSettings s;
    s.public_key = base64_encode(pair->public_der);  // plain base64, as Pulsar allows
    s.public_alg = alg;
    auto p = provider(s);
    auto t = sign_token(alg, pair->private_der, {{"sub", "bob"}});
    ASSERT_TRUE(t.ok()) << t.error().message;
    auto r = p->authenticate(*t, kNow);
    ASSERT_TRUE(r.ok()) << alg << ": " << r.error().reason;
    EXPECT_EQ(r->role, "bob");
    EXPECT_FALSE(r->expires_at.has_value());
    s.public_key = "data:;base64," + base64_encode(public_key_pem(pair->public_der).value());  // PEM works too
    EXPECT_TRUE(provider(s)->authenticate(*t, kNow).ok());
  }
}

TEST(Token, RefusesUnsignedWronglySignedExpiredAndForeignTokens) {
  const std::string secret(32, 's');
  auto p = provider(secret_settings(secret));
  auto expect_refused = [&](const std::string& token, const std::string& because) {
    auto r = p->authenticate(token, kNow);
    ASSERT_FALSE(r.ok()) << because;
    EXPECT_EQ(r.error().kind, AuthFailure::Kind::bad_credentials);
    EXPECT_NE(r.error().reason.find(because), std::string::npos) << r.error().reason;
    if (!token.empty()) {
      EXPECT_EQ(r.error().reason.find(token), std::string::npos) << "the token leaked into the reason";
    }
  };
  expect_refused(unsigned_token({{"sub", "admin"}}), "alg none");
  expect_refused(sign_token("HS256", std::string(32, 'x'), {{"sub", "admin"}}).value(), "signature");
  expect_refused(sign_token("HS256", secret, {{"sub", "a"}, {"exp", kNow - 5}}).value(), "expired");
  expect_refused(sign_token("HS256", secret, {{"sub", "a"}, {"exp", kNow}}).value(), "expired");
  expect_refused(sign_token("HS256", secret, {{"sub", "a"}, {"nbf", kNow + 100}}).value(), "not valid yet");
  expect_refused(sign_token("HS256", secret, {{"role", "a"}}).value(), "no role");
  expect_refused("not-a-token", "three");
  expect_refused("a.b.c", "token");
  expect_refused("", "empty");
  // A signature over altered claims.
  auto good = sign_token("HS256", secret, {{"sub", "alice"}}).value();
  auto dot = good.find('.');
  auto tampered = good.substr(0, dot + 1) + base64url_encode(R"({"sub":"root"})") + good.substr(good.rfind('.'));
  expect_refused(tampered, "signature");
}

TEST(Token, PublicKeyAcceptsOnlyTheConfiguredAlgorithm) {
  auto pair = generate_key_pair("RS256").value();
  TokenSettings s;
  s.public_key = base64_encode(pair.public_der);
  s.public_alg = "RS256";
  auto p = provider(s);
  // HMAC signed with the public key's own PEM bytes: the classic key-confusion forgery.
  auto pem = public_key_pem(pair.public_der).value();
  auto forged = sign_token("HS256", pem, {{"sub", "admin"}}).value();
  auto r = p->authenticate(forged, kNow);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().reason.find("expected RS256"), std::string::npos) << r.error().reason;
  // Same key pair, another RSA algorithm: still not the configured one.
  EXPECT_FALSE(p->authenticate(sign_token("RS512", pair.private_der, {{"sub", "a"}}).value(), kNow).ok());
  EXPECT_FALSE(p->authenticate(unsigned_token({{"sub", "a"}}), kNow).ok());
}

TEST(Token, AudienceAndCustomRoleClaim) {
  const std::string secret(32, 'a');
  auto s = secret_settings(secret);
  s.audience = "mop-broker";
  s.auth_claim = "principal";
  auto p = provider(s);
  EXPECT_TRUE(p->authenticate(sign_token("HS256", secret, {{"principal", "x"}, {"aud", "mop-broker"}}).value(), kNow).ok());
  EXPECT_TRUE(p->authenticate(
                   sign_token("HS256", secret, {{"principal", "x"}, {"aud", {"other", "mop-broker"}}}).value(), kNow)
                  .ok());
  auto wrong = p->authenticate(sign_token("HS256", secret, {{"principal", "x"}, {"aud", "other"}}).value(), kNow);
  ASSERT_FALSE(wrong.ok());
  EXPECT_NE(wrong.error().reason.find("audience"), std::string::npos);
  EXPECT_FALSE(p->authenticate(sign_token("HS256", secret, {{"principal", "x"}}).value(), kNow).ok());
  s.audience_claim = "scope";
  EXPECT_TRUE(provider(s)->authenticate(sign_token("HS256", secret, {{"principal", "x"}, {"scope", "mop-broker"}}).value(), kNow).ok());
}

TEST(Token, BadSettingsAreErrors) {
  EXPECT_FALSE(TokenProvider::create({}).ok());
  TokenSettings s;
  s.public_key = base64_encode("not a key");
  EXPECT_FALSE(TokenProvider::create(s).ok());
  s.public_key = base64_encode(generate_key_pair("RS256")->public_der);
  s.public_alg = "HS256";
  EXPECT_FALSE(TokenProvider::create(s).ok());
  s.public_alg = "none";
  EXPECT_FALSE(TokenProvider::create(s).ok());
}

}  // namespace
}  // namespace mop::auth
