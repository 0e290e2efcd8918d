// net::parse_psk_identities (MoP's identity:secret lists) and net::TlsContext's refusals of
// settings it cannot use, each naming what is wrong. Certificates are exercised end to end by
// tests/integration/test_tls.py.
#include "net/tls_context.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace mop::net {
namespace {

using ::testing::HasSubstr;

TEST(PskIdentities, MopsSemicolonListAndFileLines) {
  std::map<std::string, std::string> ids;
  ASSERT_TRUE(parse_psk_identities("mqtt:mqtt123; other:a:b ;", ';', ids).ok());
  EXPECT_EQ(ids.at("mqtt"), "mqtt123");
  EXPECT_EQ(ids.at("other"), "a:b");  // the secret is everything after the first colon
  ASSERT_TRUE(parse_psk_identities("# comment\n\nfile:secret\r\n", '\n', ids).ok());
  EXPECT_EQ(ids.at("file"), "secret");
  EXPECT_EQ(ids.size(), 3u);
}

TEST(PskIdentities, BadEntriesAreNamedWithoutTheirSecret) {
  std::map<std::string, std::string> ids;
  auto r = parse_psk_identities("good:x;nocolon", ';', ids);
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(r.error(), HasSubstr("nocolon"));
  r = parse_psk_identities("empty:", ';', ids);
  ASSERT_FALSE(r.ok());
  r = parse_psk_identities("long:" + std::string(600, 'k'), ';', ids);
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(r.error(), HasSubstr("longer than"));
  EXPECT_THAT(r.error(), ::testing::Not(HasSubstr("kkkk")));
}

TEST(TlsContext, RefusesWhatItCannotUse) {
  TlsOptions o;
  auto r = TlsContext::create("mqtt+ssl", o);
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(r.error(), HasSubstr("certificate file and a key file are required"));
  o.certificate_file = "/nonexistent/cert.pem";
  o.key_file = "/nonexistent/key.pem";
  r = TlsContext::create("mqtt+ssl", o);
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(r.error(), HasSubstr("/nonexistent/cert.pem"));
  TlsOptions psk;
  psk.psk = true;
  r = TlsContext::create("mqtt+ssl+psk", psk);
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(r.error(), HasSubstr("no PSK identity"));
  psk.psk_identities["a"] = "secret";
  psk.protocols = {"TLSv1.2", "SSLv3"};
  r = TlsContext::create("mqtt+ssl+psk", psk);
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(r.error(), HasSubstr("SSLv3"));
  psk.protocols = {"TLSv1.2", "TLSv1.3"};
  psk.ciphers = {"TLS_PSK_WITH_AES_128_GCM_SHA256"};  // IANA name, mapped to OpenSSL's
  r = TlsContext::create("mqtt+ssl+psk", psk);
  EXPECT_TRUE(r.ok()) << r.error();
  TlsOptions mtls;
  mtls.certificate_file = "c.pem";
  mtls.key_file = "k.pem";
  mtls.require_trusted_client_cert = true;
  r = TlsContext::create("mqtt+ssl", mtls);
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(r.error(), HasSubstr("no trusted CA file"));
}

}  // namespace
}  // namespace mop::net
