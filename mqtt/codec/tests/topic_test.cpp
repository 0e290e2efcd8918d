// Topic names, filters and matching (MQTT 3.1.1 section 4.7; shared filters from MQTT 5 4.8.2).
#include "mqtt/codec/tests/helpers.hpp"
#include "mqtt/codec/topic.hpp"

namespace mop::mqtt::test {
namespace {

TEST(TopicName, Validity_MQTT_4_7_3_1_and_3_3_2_2) {
  for (std::string_view ok : {"a", "/", "a/b", "a//b", "/finance", "$SYS/x", " ", "sport/"})
    EXPECT_TRUE(valid_topic_name(ok)) << ok;
  for (std::string_view bad : {"", "a/+", "#", "a/#", "a+b", "x#"}) EXPECT_FALSE(valid_topic_name(bad)) << bad;
}

TEST(TopicFilter, Valid_MQTT_4_7_1_2_and_4_7_1_3) {
  for (std::string_view ok : {"#", "+", "a/#", "+/+", "/+", "+/tennis/#", "sport/+/player1", "a//b", "/", "$SYS/#",
                              "$share/g/a/+"})
    EXPECT_TRUE(valid_topic_filter(ok)) << ok;
}

TEST(TopicFilter, Invalid_MQTT_4_7_1_2_and_4_7_1_3) {
  for (std::string_view bad : {"", "a/#/b", "a#", "#/a", "a/b+", "+a", "sport/tennis#", "sport+", "##", "++", "a/#/"})
    EXPECT_FALSE(valid_topic_filter(bad)) << bad;
}

TEST(TopicMatch, MultiLevelWildcardMatchesTheParent_MQTT_4_7_1_2) {
  EXPECT_TRUE(topic_matches("a/#", "a"));
  EXPECT_TRUE(topic_matches("a/#", "a/b"));
  EXPECT_TRUE(topic_matches("a/#", "a/b/c"));
  EXPECT_TRUE(topic_matches("a/#", "a/"));
  EXPECT_TRUE(topic_matches("sport/tennis/player1/#", "sport/tennis/player1"));
  EXPECT_TRUE(topic_matches("sport/tennis/player1/#", "sport/tennis/player1/score/wimbledon"));
  EXPECT_FALSE(topic_matches("a/#", "ab"));
  EXPECT_FALSE(topic_matches("a/#", "b/a"));
  EXPECT_TRUE(topic_matches("#", "a/b/c"));
  EXPECT_TRUE(topic_matches("#", "/"));
}

TEST(TopicMatch, SingleLevelWildcard_MQTT_4_7_1_3) {
  EXPECT_TRUE(topic_matches("sport/tennis/+", "sport/tennis/player1"));
  EXPECT_FALSE(topic_matches("sport/tennis/+", "sport/tennis/player1/ranking"));
  EXPECT_FALSE(topic_matches("sport/tennis/+", "sport/tennis"));
  EXPECT_TRUE(topic_matches("sport/+", "sport/"));  // an empty level is a level
  EXPECT_FALSE(topic_matches("sport/+", "sport"));
  EXPECT_TRUE(topic_matches("a/+/b", "a//b"));
  EXPECT_TRUE(topic_matches("+/+", "/finance"));
  EXPECT_TRUE(topic_matches("/+", "/finance"));
  EXPECT_FALSE(topic_matches("+", "/finance"));
  EXPECT_TRUE(topic_matches("+/+/#", "a/b"));
  EXPECT_TRUE(topic_matches("+/b/#", "a/b"));
}

TEST(TopicMatch, ExactLevels) {
  EXPECT_TRUE(topic_matches("a/b", "a/b"));
  EXPECT_FALSE(topic_matches("a/b", "a/b/"));
  EXPECT_FALSE(topic_matches("a/b", "a"));
  EXPECT_FALSE(topic_matches("a", "a/b"));
  EXPECT_FALSE(topic_matches("A/b", "a/b"));  // case-sensitive [MQTT-4.7.3-4]
  EXPECT_TRUE(topic_matches("/", "/"));
}

TEST(TopicMatch, LeadingWildcardsDoNotMatchDollarTopics_MQTT_4_7_2_1) {
  EXPECT_FALSE(topic_matches("#", "$SYS/x"));
  EXPECT_FALSE(topic_matches("+/x", "$SYS/x"));
  EXPECT_FALSE(topic_matches("+/#", "$SYS/x"));
  EXPECT_FALSE(topic_matches("+", "$SYS"));
  EXPECT_TRUE(topic_matches("$SYS/#", "$SYS/x"));
  EXPECT_TRUE(topic_matches("$SYS/+", "$SYS/x"));
  EXPECT_TRUE(topic_matches("a/+", "a/$x"));  // only the first level is special
}

TEST(SharedFilter, Parses) {
  auto s = parse_shared_filter("$share/g/a/+");
  ASSERT_TRUE(s.has_value());
  EXPECT_EQ(s->group, "g");
  EXPECT_EQ(s->filter, "a/+");
  s = parse_shared_filter("$share/consumers/#");
  ASSERT_TRUE(s.has_value());
  EXPECT_EQ(s->group, "consumers");
  EXPECT_EQ(s->filter, "#");
}

TEST(SharedFilter, NotShared_MQTT_4_8_2_1_and_4_8_2_2) {
  for (std::string_view f : {"a/b", "$share", "$share/", "$share/g", "$share/g/", "$share//a", "$share/g+/a",
                             "$share/#/a", "$SHARE/g/a", "share/g/a"})
    EXPECT_FALSE(parse_shared_filter(f).has_value()) << f;
}

}  // namespace
}  // namespace mop::mqtt::test
