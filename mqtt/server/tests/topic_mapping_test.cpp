#include "mqtt/server/topic_mapping.hpp"

#include <gtest/gtest.h>

namespace mop::mqtt {
namespace {

using service::TopicDomain;
using service::TopicName;

TopicMapper mapper() { return TopicMapper(TopicDefaults{}); }

TEST(TopicMapping, PlainTopicGoesToTheDefaultNamespaceUrlEncoded) {
  auto t = mapper().to_pulsar("sensors/room1/temp");
  ASSERT_TRUE(t);
  EXPECT_EQ(t->str(), "persistent://public/default/sensors%2Froom1%2Ftemp");
}

TEST(TopicMapping, FullPulsarNameIsUsedAsIs) {
  auto t = mapper().to_pulsar("persistent://public/default/my-topic");
  ASSERT_TRUE(t);
  EXPECT_EQ(t->str(), "persistent://public/default/my-topic");
  auto n = mapper().to_pulsar("non-persistent://acme/iot/a/b");
  ASSERT_TRUE(n);
  EXPECT_EQ(n->domain(), TopicDomain::non_persistent);
  EXPECT_EQ(n->tenant(), "acme");
  EXPECT_EQ(n->ns(), "iot");
  EXPECT_EQ(n->local(), "a%2Fb");
}

TEST(TopicMapping, ConfiguredDefaultsApply) {
  TopicMapper m(TopicDefaults{TopicDomain::non_persistent, "acme", "iot"});
  EXPECT_EQ(m.to_pulsar("x")->str(), "non-persistent://acme/iot/x");
}

TEST(TopicMapping, IncompleteFullNameIsRefused) {
  EXPECT_FALSE(mapper().to_pulsar("persistent://public/default"));
  EXPECT_FALSE(mapper().to_pulsar("persistent://public//x"));
  EXPECT_FALSE(mapper().to_pulsar("persistent:///default/x"));
}

TEST(TopicMapping, FilterScopeMatchesDecodedNames) {
  auto sc = mapper().scope("sensors/+/temp");
  ASSERT_TRUE(sc);
  EXPECT_TRUE(sc->matches(*mapper().to_pulsar("sensors/room1/temp")));
  EXPECT_FALSE(sc->matches(*mapper().to_pulsar("sensors/room1/humidity")));
  EXPECT_FALSE(sc->matches(*mapper().to_pulsar("non-persistent://public/default/sensors/room1/temp")));
  EXPECT_EQ(sc->mqtt_name(*mapper().to_pulsar("sensors/room1/temp")), "sensors/room1/temp");
}

TEST(TopicMapping, HashMatchesParentLevel) {
  auto sc = mapper().scope("a/#");
  EXPECT_TRUE(sc->matches(*mapper().to_pulsar("a")));
  EXPECT_TRUE(sc->matches(*mapper().to_pulsar("a/b/c")));
}

TEST(TopicMapping, FullFormFilterAnswersInFullForm) {
  auto sc = mapper().scope("persistent://public/default/#");
  ASSERT_TRUE(sc);
  auto t = *mapper().to_pulsar("a/b");
  EXPECT_TRUE(sc->matches(t));
  EXPECT_EQ(sc->mqtt_name(t), "persistent://public/default/a/b");
  auto exact = mapper().scope("persistent://public/default/my-topic");
  EXPECT_EQ(exact->mqtt_name(*mapper().to_pulsar("my-topic")), "persistent://public/default/my-topic");
}

TEST(TopicMapping, WildcardInTenantOrNamespaceIsRefused) {
  EXPECT_FALSE(mapper().scope("persistent://+/default/x"));
  EXPECT_FALSE(mapper().scope("persistent://public/#"));
}

TEST(TopicMapping, DollarTopicsNotMatchedByLeadingWildcard) {
  auto sc = mapper().scope("#");
  EXPECT_FALSE(sc->matches(*mapper().to_pulsar("$SYS/x")));
  EXPECT_TRUE(mapper().scope("$SYS/#")->matches(*mapper().to_pulsar("$SYS/x")));
}

}  // namespace
}  // namespace mop::mqtt
