#pragma once
// Batched payloads. When MessageMetadata has num_messages_in_batch set, the (decompressed) payload
// is a sequence of messages, each [u32 size][SingleMessageMetadata of that size][payload_size
// bytes]. Pulsar producers batch by default, so even a single message may arrive this way.
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "core/result.hpp"
#include "pulsar/codec/errors.hpp"
#include "pulsar/codec/proto/pulsar_api.pb.h"

namespace mop::pulsar {

// Walks a batch one message at a time without allocating; payload spans point into the batch.
class BatchReader {
public:
  BatchReader(std::span<const std::uint8_t> batch, std::int32_t count) : rest_(batch), left_(count < 0 ? 0 : count) {}

  // Parses the next message into `metadata` and `payload`. Returns false after the last one;
  // bad_batch if a size runs past the end, the metadata does not parse, or bytes are left over
  // after the count claimed by the metadata.
  Result<bool> next(proto::SingleMessageMetadata& metadata, std::span<const std::uint8_t>& payload);
  std::int32_t remaining() const { return left_; }

private:
  std::span<const std::uint8_t> rest_;
  std::int32_t left_;
};

struct BatchMessage {
  proto::SingleMessageMetadata metadata;
  std::span<const std::uint8_t> payload;  // into the batch passed to parse_batch
};

// All `count` messages of a batch (count = MessageMetadata::num_messages_in_batch). Clears `out`
// first; on error `out` holds the messages before the bad one.
Result<void> parse_batch(std::span<const std::uint8_t> batch, std::int32_t count, std::vector<BatchMessage>& out);

// Appends one message to a batch being built. Sets metadata.payload_size from `payload`, which is
// why it takes the metadata by non-const reference.
void append_batch_message(proto::SingleMessageMetadata& metadata, std::span<const std::uint8_t> payload,
                          std::string& batch);

}  // namespace mop::pulsar
