#include "auth/provider.hpp"

namespace mop::auth {

const Provider* Authenticator::find(std::string_view method) const {
  for (const auto& p : providers_)
    if (p->method() == method) return p.get();
  return nullptr;
}

Result<Principal, AuthFailure> Authenticator::anonymous() const {
  if (anonymous_role_.empty())
    return AuthFailure{AuthFailure::Kind::not_authorized, "no credentials given and anonymousUserRole is not set"};
  return Principal{anonymous_role_, "anonymous", std::nullopt};
}

Result<Principal, AuthFailure> Authenticator::authenticate(std::string_view method, std::string_view data,
                                                           std::int64_t now) const {
  if (method.empty() || method == "none") {
    if (data.empty()) return anonymous();
  }
  const Provider* p = find(method);
  if (p == nullptr)
    return AuthFailure{AuthFailure::Kind::not_authorized,
                       "authentication method '" + std::string(method) + "' is not enabled"};
  return p->authenticate(data, now);
}

Result<Principal, AuthFailure> Authenticator::authenticate_login(const std::optional<std::string>& user,
                                                                 const std::optional<std::string>& password,
                                                                 std::int64_t now) const {
  if (!password || password->empty()) return anonymous();
  // Every method is tried; a refusal names each method's reason ("basic: ...; token: ..."), so
  // the log says why a token was refused even when basic was tried first.
  std::optional<AuthFailure> refused;
  for (const auto& p : providers_) {
    std::string data;
    AuthFailure why;
    if (p->method() == "basic") {
      if (!user || user->empty()) {
        why = AuthFailure{AuthFailure::Kind::bad_credentials, "basic: no user name given"};
      } else {
        data = *user + ":" + *password;
      }
    } else {
      data = *password;
    }
    if (why.reason.empty()) {
      auto r = p->authenticate(data, now);
      if (r.ok()) return r;
      why = std::move(r).error();
    }
    if (!refused) {
      refused = std::move(why);
    } else {
      refused->reason += "; " + why.reason;
    }
  }
  if (!refused) return AuthFailure{AuthFailure::Kind::not_authorized, "no authentication method is enabled"};
  return std::move(*refused);
}

}  // namespace mop::auth
