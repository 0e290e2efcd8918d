#include "service/topic_name.hpp"

#include <gtest/gtest.h>

#include "service/messaging_service.hpp"

namespace mop::service {
namespace {

TEST(TopicName, ParsesPersistentAndNonPersistent) {
  auto t = TopicName::parse("persistent://public/default/my-topic");
  ASSERT_TRUE(t);
  EXPECT_EQ(t->domain(), TopicDomain::persistent);
  EXPECT_TRUE(t->persistent());
  EXPECT_EQ(t->tenant(), "public");
  EXPECT_EQ(t->ns(), "default");
  EXPECT_EQ(t->local(), "my-topic");
  EXPECT_EQ(t->str(), "persistent://public/default/my-topic");
  EXPECT_EQ(t->namespace_name(), (NamespaceName{"public", "default"}));

  auto n = TopicName::parse("non-persistent://t1/ns1/x%2Fy");
  ASSERT_TRUE(n);
  EXPECT_EQ(n->domain(), TopicDomain::non_persistent);
  EXPECT_FALSE(n->persistent());
  EXPECT_EQ(n->local(), "x%2Fy");
  EXPECT_EQ(n->str(), "non-persistent://t1/ns1/x%2Fy");
}

TEST(TopicName, LocalNameKeepsFurtherSlashes) {
  auto t = TopicName::parse("persistent://a/b/c/d");
  ASSERT_TRUE(t);
  EXPECT_EQ(t->local(), "c/d");
}

TEST(TopicName, RejectsIncompleteNames) {
  for (const char* bad : {"", "persistent://", "persistent://a", "persistent://a/b", "persistent://a/b/",
                          "persistent:///b/c", "persistent://a//c", "kafka://a/b/c", "public/default/x",
                          "persistent:/a/b/c"}) {
    EXPECT_FALSE(TopicName::parse(bad)) << bad;
  }
}

TEST(TopicName, ConstructorFormatsAndComparesByFullName) {
  TopicName a(TopicDomain::persistent, "public", "default", "x");
  EXPECT_EQ(a.str(), "persistent://public/default/x");
  EXPECT_EQ(a, *TopicName::parse("persistent://public/default/x"));
  TopicName b(TopicDomain::non_persistent, "public", "default", "x");
  EXPECT_NE(a, b);
  EXPECT_EQ(std::hash<TopicName>{}(a), std::hash<std::string>{}(a.str()));
  EXPECT_EQ(to_string(TopicDomain::persistent), "persistent");
  EXPECT_EQ(to_string(TopicDomain::non_persistent), "non-persistent");
}

TEST(UrlEncode, MatchesJavaUrlEncoder) {
  EXPECT_EQ(url_encode("sensors/room1/temp"), "sensors%2Froom1%2Ftemp");
  EXPECT_EQ(url_encode("a b"), "a+b");
  EXPECT_EQ(url_encode("a*b.c-d_e"), "a*b.c-d_e");
  EXPECT_EQ(url_encode("AZaz09"), "AZaz09");
  EXPECT_EQ(url_encode("~!+%#$&"), "%7E%21%2B%25%23%24%26");
  EXPECT_EQ(url_encode("\xC3\xA9t\xC3\xA9"), "%C3%A9t%C3%A9");  // "été" in UTF-8
  EXPECT_EQ(url_encode(std::string_view("\0", 1)), "%00");
  EXPECT_EQ(url_encode(""), "");
}

TEST(UrlDecode, InvertsEncodeAndRejectsBadEscapes) {
  for (const char* s : {"sensors/room1/temp", "a b+c", "\xC3\xA9t\xC3\xA9", "100%", "$SYS/#", ""}) {
    auto back = url_decode(url_encode(s));
    ASSERT_TRUE(back) << s;
    EXPECT_EQ(*back, s);
  }
  EXPECT_EQ(url_decode("a+b%2fc"), "a b/c");
  EXPECT_FALSE(url_decode("%"));
  EXPECT_FALSE(url_decode("%2"));
  EXPECT_FALSE(url_decode("abc%"));
  EXPECT_FALSE(url_decode("%zz"));
  EXPECT_FALSE(url_decode("%g0"));
}

TEST(MessageId, FormatsAndOrders) {
  EXPECT_EQ((MessageId{12, 34}).to_string(), "12:34");
  EXPECT_EQ((MessageId{12, 34, 5}).to_string(), "12:34:5");
  EXPECT_LT((MessageId{1, 9}), (MessageId{2, 0}));
  EXPECT_LT((MessageId{1, 1, -1}), (MessageId{1, 1, 0}));
}

TEST(ServiceError, HasACategoryAndMessages) {
  std::error_code ec = ServiceError::consumer_busy;
  EXPECT_EQ(&ec.category(), &service_category());
  EXPECT_STREQ(ec.category().name(), "mop.service");
  EXPECT_NE(ec.message().find("busy"), std::string::npos);
  EXPECT_EQ(std::error_code(ServiceError::subscription_not_found).message(), "subscription not found");
}

}  // namespace
}  // namespace mop::service
