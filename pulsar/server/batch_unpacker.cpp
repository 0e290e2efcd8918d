#include "pulsar/server/batch_unpacker.hpp"

#include <string>

#include "pulsar/codec/batch.hpp"
#include "pulsar/codec/compression.hpp"

namespace mop::pulsar::server {

Result<std::vector<service::MessagePtr>> unpack_batch(const service::Message& batch, std::size_t max_size) {
  if (!batch.batch) return fail(std::make_error_code(std::errc::invalid_argument));
  const auto& info = *batch.batch;
  std::string scratch;
  std::span<const std::uint8_t> bytes = batch.payload.bytes();
  if (info.compression != proto::NONE) {
    if (auto st = decompress(static_cast<proto::CompressionType>(info.compression), bytes, info.uncompressed_size,
                             max_size, scratch);
        !st.ok()) {
      return st.error();
    }
    bytes = {reinterpret_cast<const std::uint8_t*>(scratch.data()), scratch.size()};
  }
  std::vector<service::MessagePtr> out;
  out.reserve(info.count);
  BatchReader reader(bytes, static_cast<std::int32_t>(info.count));
  proto::SingleMessageMetadata single;
  std::span<const std::uint8_t> payload;
  while (true) {
    auto more = reader.next(single, payload);
    if (!more.ok()) return more.error();
    if (!*more) break;
    auto m = std::make_shared<service::Message>();
    m->payload = Payload::copy_of(payload);
    m->producer_name = batch.producer_name;
    m->publish_time_ms = batch.publish_time_ms;
    m->mqtt_qos = batch.mqtt_qos;
    m->properties.reserve(static_cast<std::size_t>(single.properties_size()));
    for (const auto& kv : single.properties()) m->properties.emplace_back(kv.key(), kv.value());
    if (single.has_ordering_key()) m->ordering_key = single.ordering_key();
    else if (single.has_partition_key()) m->ordering_key = single.partition_key();
    out.push_back(std::move(m));
  }
  if (out.size() != info.count) return CodecError::bad_batch;
  return out;
}

}  // namespace mop::pulsar::server
