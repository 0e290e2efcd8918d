#include "auth/permissions.hpp"

#include <cctype>

namespace mop::auth {

Actions parse_action(std::string_view name) {
  if (name == "produce") return static_cast<Actions>(Action::produce);
  if (name == "consume") return static_cast<Actions>(Action::consume);
  return 0;
}

std::vector<std::string> action_names(Actions actions) {
  std::vector<std::string> out;
  if (actions & static_cast<Actions>(Action::produce)) out.emplace_back("produce");
  if (actions & static_cast<Actions>(Action::consume)) out.emplace_back("consume");
  return out;
}

std::string_view partitioned_base(std::string_view topic) {
  constexpr std::string_view kSuffix = "-partition-";
  const auto at = topic.rfind(kSuffix);
  if (at == std::string_view::npos) return topic;
  const auto digits = topic.substr(at + kSuffix.size());
  if (digits.empty()) return topic;
  for (char c : digits)
    if (!std::isdigit(static_cast<unsigned char>(c))) return topic;
  return topic.substr(0, at);
}

void Permissions::load(const std::vector<PermissionRecord>& records) {
  for (const auto& r : records) {
    if (r.actions != 0) {
      grants_[r.resource][r.role] = r.actions;
    } else if (auto it = grants_.find(r.resource); it != grants_.end()) {
      it->second.erase(r.role);
      if (it->second.empty()) grants_.erase(it);
    }
  }
}

void Permissions::set(const std::string& resource, const std::string& role, Actions actions) {
  if (actions == 0) {
    auto it = grants_.find(resource);
    if (it != grants_.end()) {
      it->second.erase(role);
      if (it->second.empty()) grants_.erase(it);
    }
  } else {
    grants_[resource][role] = actions;
  }
}

Actions Permissions::actions_of(const std::string& resource, const std::string& role) const {
  const auto it = grants_.find(resource);
  if (it == grants_.end()) return 0;
  const auto r = it->second.find(role);
  return r == it->second.end() ? 0 : r->second;
}

void Permissions::grant(const std::string& resource, const std::string& role, Actions actions, Stored done) {
  const Actions before = actions_of(resource, role);
  set(resource, role, actions);
  if (!persist_) {
    if (done) done(std::nullopt);
    return;
  }
  persist_(PermissionRecord{resource, role, actions},
           [this, resource, role, before, actions, done = std::move(done)](std::optional<std::string> error) {
             // Not stored: what was in force before comes back, unless a later change replaced it.
             if (error && actions_of(resource, role) == actions) set(resource, role, before);
             if (done) done(std::move(error));
           });
}

std::map<std::string, Actions> Permissions::of(const std::string& resource) const {
  const auto it = grants_.find(resource);
  return it == grants_.end() ? std::map<std::string, Actions>{} : it->second;
}

bool Permissions::holds(const std::string& resource, const std::string& role, Action action) const {
  const auto it = grants_.find(resource);
  if (it == grants_.end()) return false;
  const auto r = it->second.find(role);
  return r != it->second.end() && (r->second & static_cast<Actions>(action)) != 0;
}

bool Permissions::can_namespace(const std::string& role, Action action, const std::string& tenant,
                                const std::string& ns) const {
  if (is_super_user(role)) return true;
  return holds(tenant + "/" + ns, role, action);
}

bool Permissions::can(const std::string& role, Action action, const std::string& tenant, const std::string& ns,
                      const std::string& topic) const {
  if (can_namespace(role, action, tenant, ns)) return true;
  if (holds(topic, role, action)) return true;
  const auto base = partitioned_base(topic);
  return base.size() != topic.size() && holds(std::string(base), role, action);
}

}  // namespace mop::auth
