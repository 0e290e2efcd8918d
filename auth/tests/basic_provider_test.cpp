// basic: Pulsar's basicAuthConf file. Hashes below were made by `openssl passwd` (apr1, -1, -6)
// and Python's crypt (DES), i.e. by tools we did not write.
#include <fstream>

#include <gtest/gtest.h>

#include "auth/basic_provider.hpp"
#include "auth/key_source.hpp"

namespace mop::auth {
namespace {

TEST(Apr1, MatchesOpenSslPasswd) {
  EXPECT_EQ(apr1_crypt("secret-pass", "$apr1$saltsalt$"), "$apr1$saltsalt$zh.DxR2dV1URhkoDCSFo6.");
  EXPECT_EQ(apr1_crypt("x", "$apr1$ab$eIePjsejfBGR8ITtu2z0U1"), "$apr1$ab$eIePjsejfBGR8ITtu2z0U1");
}

TEST(PasswordMatches, EveryHashKind) {
  EXPECT_TRUE(password_matches("secret-pass", "$apr1$saltsalt$zh.DxR2dV1URhkoDCSFo6."));
  EXPECT_FALSE(password_matches("secret-pasS", "$apr1$saltsalt$zh.DxR2dV1URhkoDCSFo6."));
  EXPECT_TRUE(password_matches("pw6", "$6$sixsalt$97rNj1Gcf6vv774eASsiKkBzPToyoBY5G291uklKkFo2m0AtePNBD8AZUmc5274DgmLnrdaaq5hm0xG0uN58A/"));
  EXPECT_FALSE(password_matches("pw7", "$6$sixsalt$97rNj1Gcf6vv774eASsiKkBzPToyoBY5G291uklKkFo2m0AtePNBD8AZUmc5274DgmLnrdaaq5hm0xG0uN58A/"));
  EXPECT_TRUE(password_matches("pw1", "$1$s1$Rrwdo7ub0dOwaxXXrTSrx."));
  EXPECT_TRUE(password_matches("desword", "abnCI/AfqDLGo"));
  EXPECT_FALSE(password_matches("desword", "garbage"));
  EXPECT_FALSE(password_matches("", "*"));
}

const char kConf[] =
    "# users\n"
    "alice:$apr1$saltsalt$zh.DxR2dV1URhkoDCSFo6.\r\n"
    "bob:$6$sixsalt$97rNj1Gcf6vv774eASsiKkBzPToyoBY5G291uklKkFo2m0AtePNBD8AZUmc5274DgmLnrdaaq5hm0xG0uN58A/\n"
    "\n";

TEST(BasicProvider, ReadsFileAndBase64AndDataUrl) {
  const std::string path = testing::TempDir() + "/basic_auth_conf";
  std::ofstream(path) << kConf;
  for (const std::string& setting :
       {path, "file://" + path, base64_encode(kConf), "data:;base64," + base64_encode(kConf)}) {
    auto p = BasicProvider::create(setting);
    ASSERT_TRUE(p.ok()) << setting << ": " << p.error();
    EXPECT_EQ((*p)->user_count(), 2u);
    auto ok = (*p)->authenticate("alice:secret-pass", 0);
    ASSERT_TRUE(ok.ok());
    EXPECT_EQ(ok->role, "alice");
    EXPECT_EQ(ok->method, "basic");
    EXPECT_TRUE((*p)->authenticate("bob:pw6", 0).ok());
  }
}

TEST(BasicProvider, RefusalsNeverCarryThePassword) {
  auto p = BasicProvider::create(base64_encode(kConf));
  ASSERT_TRUE(p.ok());
  for (const char* bad : {"alice:wrong-secret", "mallory:secret-pass", "alice", "bob:secret-pass"}) {
    auto r = (*p)->authenticate(bad, 0);
    ASSERT_FALSE(r.ok()) << bad;
    EXPECT_EQ(r.error().kind, AuthFailure::Kind::bad_credentials);
    EXPECT_EQ(r.error().reason.find("secret"), std::string::npos) << r.error().reason;
  }
}

TEST(BasicProvider, BadConfigurationIsAnError) {
  EXPECT_FALSE(BasicProvider::create(base64_encode("no-colon-here\n")).ok());
  EXPECT_FALSE(BasicProvider::create(base64_encode("# only a comment\n")).ok());
  EXPECT_FALSE(BasicProvider::create("file:///nonexistent/basic.conf").ok());
  EXPECT_FALSE(BasicProvider::create("!!not base64!!").ok());
}

}  // namespace
}  // namespace mop::auth
