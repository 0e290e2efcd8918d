#pragma once
// Authorization as Pulsar's AuthorizationService does it: a role may `produce` to or `consume`
// from a topic when it is a super user (superUserRoles), or holds that action on the topic's
// namespace or on the topic itself (the grants of `pulsar-admin namespaces grant-permission` /
// `topics grant-permission`, managed through Pulsar's REST paths in http/permissions.cpp). A
// partition ("x-partition-3") is covered by the grants of its partitioned topic ("x").
//
// Grants are kept here in memory and written through the `Persist` hook (the metadata store's
// `put_permission`, storage/FORMAT.md) so that they survive a restart; `load` puts the stored
// ones back at start. A change applies at once; its `done` runs once the hook reports it durable
// (the HTTP answer waits for it), and a failed write puts the previous grant back.
//
// Thread: the service's (io) thread, like everything that asks it.
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

namespace mop::auth {

enum class Action : std::uint8_t { produce = 1, consume = 2 };
using Actions = std::uint8_t;  // bits of Action
// Pulsar's names: "produce", "consume"; parse returns 0 for anything else.
Actions parse_action(std::string_view name);
std::vector<std::string> action_names(Actions actions);

// One grant: `resource` is a namespace ("tenant/ns") or a topic's full name
// ("persistent://tenant/ns/local").
struct PermissionRecord {
  std::string resource;
  std::string role;
  Actions actions = 0;
  auto operator<=>(const PermissionRecord&) const = default;
};

class Permissions {
public:
  // Completion of a change: std::nullopt once it is durable, or what went wrong.
  using Stored = std::function<void(std::optional<std::string> error)>;
  // Called for every change: the record to write, or (actions == 0) to delete; it runs `stored`
  // later, once the write is durable or failed.
  using Persist = std::function<void(const PermissionRecord&, Stored stored)>;

  Permissions(std::vector<std::string> super_users, Persist persist = {})
      : super_users_(super_users.begin(), super_users.end()), persist_(std::move(persist)) {}

  bool is_super_user(const std::string& role) const { return super_users_.contains(role); }
  void load(const std::vector<PermissionRecord>& records);

  // Replaces `role`'s actions on `resource` (Pulsar's grant is a replacement too); 0 revokes.
  // `done` (may be empty) runs once the change is durable (at once without a Persist hook).
  void grant(const std::string& resource, const std::string& role, Actions actions, Stored done = {});
  void revoke(const std::string& resource, const std::string& role, Stored done = {}) {
    grant(resource, role, 0, std::move(done));
  }
  // role -> actions on one resource.
  std::map<std::string, Actions> of(const std::string& resource) const;

  // `topic` is the full name; tenant and ns its namespace.
  bool can(const std::string& role, Action action, const std::string& tenant, const std::string& ns,
           const std::string& topic) const;
  // A namespace grant (or super user): what a wildcard MQTT filter needs.
  bool can_namespace(const std::string& role, Action action, const std::string& tenant, const std::string& ns) const;

private:
  bool holds(const std::string& resource, const std::string& role, Action action) const;
  Actions actions_of(const std::string& resource, const std::string& role) const;
  void set(const std::string& resource, const std::string& role, Actions actions);

  std::set<std::string> super_users_;
  Persist persist_;
  std::map<std::string, std::map<std::string, Actions>> grants_;  // resource -> role -> actions
};

// "x-partition-3" -> "x"; other names unchanged.
std::string_view partitioned_base(std::string_view topic);

}  // namespace mop::auth
