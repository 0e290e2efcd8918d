// Grants as Pulsar applies them: super users, namespace and topic grants, partitions.
#include <gtest/gtest.h>

#include "auth/permissions.hpp"

namespace mop::auth {
namespace {

constexpr Action P = Action::produce;
constexpr Action C = Action::consume;
const std::string kTopic = "persistent://acme/iot/temp";

TEST(Permissions, SuperUsersNamespaceAndTopicGrants) {
  std::vector<PermissionRecord> written;
  Permissions p({"admin"}, [&](const PermissionRecord& r, const Permissions::Stored& stored) {
    written.push_back(r);
    stored(std::nullopt);
  });
  EXPECT_TRUE(p.can("admin", P, "acme", "iot", kTopic));
  EXPECT_FALSE(p.can("alice", P, "acme", "iot", kTopic));

  p.grant("acme/iot", "alice", parse_action("produce"));
  EXPECT_TRUE(p.can("alice", P, "acme", "iot", kTopic));
  EXPECT_FALSE(p.can("alice", C, "acme", "iot", kTopic));
  EXPECT_FALSE(p.can("alice", P, "acme", "other", "persistent://acme/other/temp"));
  EXPECT_TRUE(p.can_namespace("alice", P, "acme", "iot"));

  p.grant(kTopic, "bob", parse_action("consume") | parse_action("produce"));
  EXPECT_TRUE(p.can("bob", C, "acme", "iot", kTopic));
  EXPECT_TRUE(p.can("bob", C, "acme", "iot", kTopic + "-partition-2"));  // the partitioned topic's grant
  EXPECT_FALSE(p.can("bob", C, "acme", "iot", kTopic + "-partition-x"));
  EXPECT_FALSE(p.can("bob", C, "acme", "iot", "persistent://acme/iot/other"));
  EXPECT_FALSE(p.can_namespace("bob", C, "acme", "iot"));

  EXPECT_EQ(p.of(kTopic).at("bob"), 3);
  p.revoke(kTopic, "bob");
  EXPECT_FALSE(p.can("bob", C, "acme", "iot", kTopic));
  EXPECT_TRUE(p.of(kTopic).empty());
  ASSERT_EQ(written.size(), 3u);
  EXPECT_EQ(written.back(), (PermissionRecord{kTopic, "bob", 0}));

  Permissions restored({}, {});
  restored.load(written);  // the last record of a key wins, as in the store
  EXPECT_TRUE(restored.can("alice", P, "acme", "iot", kTopic));
  EXPECT_FALSE(restored.can("bob", C, "acme", "iot", kTopic));
}

TEST(Permissions, ChangeAnswersOnceDurableAndAFailedWriteIsUndone) {
  std::vector<Permissions::Stored> pending;
  Permissions p({}, [&](const PermissionRecord&, Permissions::Stored stored) { pending.push_back(std::move(stored)); });
  std::vector<std::optional<std::string>> answers;
  p.grant(kTopic, "bob", parse_action("consume"), [&](std::optional<std::string> e) { answers.push_back(e); });
  EXPECT_TRUE(p.can("bob", C, "acme", "iot", kTopic));  // in force at once
  EXPECT_TRUE(answers.empty());                          // answered only once stored
  ASSERT_EQ(pending.size(), 1u);
  pending[0](std::nullopt);
  ASSERT_EQ(answers.size(), 1u);
  EXPECT_FALSE(answers[0].has_value());

  p.grant(kTopic, "bob", parse_action("produce"), [&](std::optional<std::string> e) { answers.push_back(e); });
  ASSERT_EQ(pending.size(), 2u);
  pending[1](std::string("disk full"));
  ASSERT_EQ(answers.size(), 2u);
  EXPECT_EQ(answers[1], std::optional<std::string>("disk full"));
  EXPECT_TRUE(p.can("bob", C, "acme", "iot", kTopic));  // the earlier grant is back
  EXPECT_FALSE(p.can("bob", P, "acme", "iot", kTopic));
}

TEST(Permissions, ActionNames) {
  EXPECT_EQ(parse_action("produce"), 1);
  EXPECT_EQ(parse_action("consume"), 2);
  EXPECT_EQ(parse_action("functions"), 0);
  EXPECT_EQ(action_names(3), (std::vector<std::string>{"produce", "consume"}));
  EXPECT_EQ(partitioned_base("a-partition-12"), "a");
  EXPECT_EQ(partitioned_base("a-partition-"), "a-partition-");
}

}  // namespace
}  // namespace mop::auth
