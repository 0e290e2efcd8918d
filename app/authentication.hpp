#pragma once
// The authentication of `mop standalone`, built from the configuration: the shared providers
// (basic, token) made once, and the ordered lists each listener uses (mqttAuthenticationMethods
// for MQTT, authenticationProviders for the Pulsar port). A provider that cannot be built (a
// missing key file, a key that is not one) stops the start with an error naming the key.
#include <memory>
#include <string>

#include "app/config.hpp"
#include "auth/provider.hpp"
#include "core/result.hpp"

namespace mop::app {

struct Authentication {
  std::shared_ptr<const auth::Authenticator> mqtt;    // null: MQTT authentication off
  std::shared_ptr<const auth::Authenticator> pulsar;  // null: Pulsar authentication off
  std::shared_ptr<const auth::Provider> mqtt_token;   // the MQTT 5 enhanced method `token`, if enabled
  bool mqtt_tls = false;  // mqttAuthenticationMethods has `tls`: a verified client certificate's CN is the role
};

Result<Authentication, std::string> build_authentication(const Config& config);

}  // namespace mop::app
