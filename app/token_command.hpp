#pragma once
// `mop token create-secret-key | create-key-pair | create | show | validate`: Apache Pulsar's
// `pulsar tokens`, with its options and output forms, so that a user can make keys and tokens
// without a JVM and each tool accepts what the other makes (tests/integration/test_auth.py runs
// Pulsar's own TokensCliUtils against mop's output and the other way round). Keys are written as
// Pulsar writes them: a raw secret (or base64 with -b), DER key pairs (PKCS#8 private, X.509
// public). Exit code 0 on success, 1 when a token does not validate or a key cannot be used, 2 on
// a usage error.
#include <string>
#include <vector>

namespace mop::app {

int run_token_command(const std::vector<std::string>& args);

}  // namespace mop::app
