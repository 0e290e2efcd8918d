#include "auth/tls_provider.hpp"

namespace mop::auth {

const std::string& TlsProvider::method() const {
  static const std::string name = "tls";
  return name;
}

Result<Principal, AuthFailure> TlsProvider::authenticate(std::string_view data, std::int64_t) const {
  if (data.empty())
    return AuthFailure{AuthFailure::Kind::not_authorized,
                       "tls: no verified client certificate (connect over TLS with a certificate signed by "
                       "tlsTrustCertsFilePath)"};
  return Principal{std::string(data), "tls", std::nullopt};
}

}  // namespace mop::auth
