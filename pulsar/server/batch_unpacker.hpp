#pragma once
// Unpacking a stored Pulsar batch entry (service::Message with `batch`) into its messages, for
// receivers that take messages one by one (MQTT sessions): what the service's BatchUnpacker
// runs. Pure; any thread.
#include <cstddef>
#include <vector>

#include "core/result.hpp"
#include "service/messaging_service.hpp"

namespace mop::pulsar::server {

// The messages of `batch`, in index order: each with its own payload, properties and ordering
// key (partition key when it has none), and the entry's producer name, publish time and QoS.
// Errors: the codec's (corrupt compressed data, a bad batch, more than `max_size` bytes once
// decompressed, fewer or more messages than the batch says).
Result<std::vector<service::MessagePtr>> unpack_batch(const service::Message& batch, std::size_t max_size);

}  // namespace mop::pulsar::server
