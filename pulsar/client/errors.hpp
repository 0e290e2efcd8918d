#pragma once
// Errors of the Pulsar client. Every failing operation completes with a mop::Error (core/result.hpp):
// a std::error_code plus a message naming the topic / broker / request. The code is one of two
// categories:
//   - `pulsar_client` (ClientErrc): what went wrong on our side or on the way (timeout, lost
//     connection, closed object, too many redirects, full producer queue, protocol breach);
//   - `pulsar_server`: the broker answered with a Pulsar ServerError (ERROR, SEND_ERROR, a Failed
//     LOOKUP or PARTITIONED_METADATA answer). server_error_of(code) gives the proto::ServerError
//     back, so a caller can branch on ProducerFenced, ProducerBusy, TopicNotFound, ... exactly as
//     Pulsar names them.
#include <optional>
#include <string>
#include <system_error>

#include "core/result.hpp"
#include "pulsar/codec/proto/pulsar_api.pb.h"

namespace mop::pulsar::client {

enum class ClientErrc {
  timeout = 1,           // no answer within ClientConfig::operation_timeout (or connect_timeout)
  disconnected,          // the connection carrying the request was lost before the answer
  closed,                // the client, producer or consumer was closed (by us or for good by the broker)
  connect_failed,        // no host of the service URL (or the looked-up broker) accepted a connection
  too_many_redirects,    // LOOKUP redirected more than ClientConfig::max_lookup_redirects times
  protocol_error,        // the broker sent bytes or a command we cannot make sense of
  producer_queue_full,   // ProducerConfig::max_pending_messages messages already wait for receipts
  invalid_argument,      // a bad topic name, URL, configuration value or message id
  message_too_large,     // a message (or batch) above the broker's max_message_size
  unsupported,           // the broker lacks a feature the call needs (e.g. an old protocol version)
};

const std::error_category& client_category() noexcept;
inline std::error_code make_error_code(ClientErrc e) noexcept { return {static_cast<int>(e), client_category()}; }

// The category of errors answered by the broker. The code's value is ServerError + 1 (an
// error_code of value 0 would mean "no error", and UnknownError is 0 on the wire).
const std::error_category& server_category() noexcept;
std::error_code server_error(proto::ServerError e) noexcept;
// The ServerError carried by `code`, if it is one of server_category().
std::optional<proto::ServerError> server_error_of(const std::error_code& code) noexcept;

// True for errors after which the same operation may succeed later without any change by the
// caller (timeouts, lost connections, ServiceNotReady, TooManyRequests, ...). The producer and
// consumer use it themselves to decide between reconnecting and failing for good.
bool is_retriable(const std::error_code& code) noexcept;

}  // namespace mop::pulsar::client

template <>
struct std::is_error_code_enum<mop::pulsar::client::ClientErrc> : std::true_type {};
