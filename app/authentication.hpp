#pragma once
// The authentication of `mop standalone` and `mop proxy` (MQTT only there), built from the configuration: the shared providers
// (basic, token, tls) made once, and the ordered lists each listener uses (mqttAuthenticationMethods
// for MQTT, authenticationProviders for the Pulsar port). A provider that cannot be built (a
// missing key file, a key that is not one) stops the start with an error naming the key.
#include <memory>
#include <string>

#include "app/config.hpp"
#include "auth/provider.hpp"
#include "core/clock.hpp"
#include "core/result.hpp"
#include "mqtt/server/session_router.hpp"

namespace mop::app {

struct Authentication {
  std::shared_ptr<const auth::Authenticator> mqtt;    // null: MQTT authentication off
  std::shared_ptr<const auth::Authenticator> pulsar;  // null: Pulsar authentication off
  std::shared_ptr<const auth::Provider> mqtt_token;   // the MQTT 5 enhanced method `token`, if enabled
  bool mqtt_tls = false;  // mqttAuthenticationMethods has `tls`: a verified client certificate's CN is the role
};

Result<Authentication, std::string> build_authentication(const Config& config);

// The MQTT side of `authentication` into the router's options: the CONNECT login, the certificate
// login (`tls`) and the MQTT 5 enhanced method `token`; logs the methods when it is on. The same
// in both modes. `clock` outlives the router.
void set_mqtt_authentication(const Config& config, const Authentication& authentication, const Clock& clock,
                             mqtt::RouterOptions& options);

}  // namespace mop::app
