// The ordered list of providers: MQTT logins tried in the configured order, anonymous clients.
#include <gtest/gtest.h>

#include "auth/basic_provider.hpp"
#include "auth/key_source.hpp"
#include "auth/token.hpp"

namespace mop::auth {
namespace {

std::shared_ptr<const Provider> basic() {
  return BasicProvider::create(base64_encode("alice:$apr1$saltsalt$zh.DxR2dV1URhkoDCSFo6.\n")).value();
}

TEST(Authenticator, LoginTriesEachMethodInOrder) {
  const std::string secret(32, 'k');
  TokenSettings ts;
  ts.secret_key = "data:;base64," + base64_encode(secret);
  std::shared_ptr<const Provider> token = TokenProvider::create(ts).value();
  Authenticator a({basic(), token});
  auto jwt = sign_token("HS256", secret, {{"sub", "robot"}}).value();

  auto by_password = a.authenticate_login("alice", "secret-pass", 100);
  ASSERT_TRUE(by_password.ok());
  EXPECT_EQ(by_password->role, "alice");
  auto by_token = a.authenticate_login("anything", jwt, 100);
  ASSERT_TRUE(by_token.ok());
  EXPECT_EQ(by_token->role, "robot");
  EXPECT_EQ(by_token->method, "token");
  auto no_user = a.authenticate_login(std::nullopt, jwt, 100);
  ASSERT_TRUE(no_user.ok());

  auto wrong = a.authenticate_login("alice", "nope", 100);
  ASSERT_FALSE(wrong.ok());
  EXPECT_EQ(wrong.error().kind, AuthFailure::Kind::bad_credentials);
  EXPECT_NE(wrong.error().reason.find("basic: bad user name or password"), std::string::npos);  // each method's reason
  EXPECT_NE(wrong.error().reason.find("token: "), std::string::npos);
}

TEST(Authenticator, AnonymousNeedsAnonymousUserRole) {
  Authenticator strict({basic()});
  auto r = strict.authenticate_login(std::nullopt, std::nullopt, 0);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().kind, AuthFailure::Kind::not_authorized);
  EXPECT_FALSE(strict.authenticate("", "", 0).ok());

  Authenticator lenient({basic()}, "guest");
  auto g = lenient.authenticate_login("someone", std::nullopt, 0);
  ASSERT_TRUE(g.ok());
  EXPECT_EQ(g->role, "guest");
  ASSERT_TRUE(lenient.authenticate("", "", 0).ok());
  // A wrong password is not anonymous.
  EXPECT_FALSE(lenient.authenticate_login("alice", "nope", 0).ok());
}

TEST(Authenticator, ByMethodName) {
  Authenticator a({basic()});
  EXPECT_TRUE(a.authenticate("basic", "alice:secret-pass", 0).ok());
  auto r = a.authenticate("token", "x.y.z", 0);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().kind, AuthFailure::Kind::not_authorized);
}

}  // namespace
}  // namespace mop::auth
