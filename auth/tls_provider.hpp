#pragma once
// `tls`: Apache Pulsar's AuthenticationProviderTls. The role is the common name of the client
// certificate the TLS listener verified against its trusted CAs (net::verified_certificate_cn).
//
// The credential is never something the client sends: the Pulsar port and HTTP pass the
// connection's verified common name as `data` (empty when there is none: a plain connection, no
// certificate, or one let in unverified by tlsAllowInsecureConnection), whatever auth_data the
// client put in its CONNECT.
#include "auth/provider.hpp"

namespace mop::auth {

class TlsProvider final : public Provider {
public:
  const std::string& method() const override;
  // `data`: the verified certificate's common name, from the transport; empty refuses.
  Result<Principal, AuthFailure> authenticate(std::string_view data, std::int64_t now) const override;
};

}  // namespace mop::auth
