#pragma once
// Why the codec refused bytes. Every code means "malformed packet or protocol violation": the
// connection is closed (MQTT 3.1.1 has no way to say why; MQTT 5 will map these to reason codes
// 0x81/0x82/0x95 in one place). The message names the rule that was broken.
#include <system_error>

namespace mop::mqtt {

enum class CodecError {
  // framing
  malformed_remaining_length = 1,   // more than 4 bytes of variable length integer
  packet_too_large,                 // remaining length above the configured maximum
  reserved_packet_type,             // packet type 0, or 15 before MQTT 5
  invalid_fixed_header_flags,       // reserved flag bits not as the spec fixes them [MQTT-2.2.2-1/2]
  truncated,                        // a field runs past the end of the packet
  trailing_bytes,                   // bytes left over after the last field
  // field rules
  invalid_utf8,                     // ill-formed UTF-8 or U+0000 in a string [MQTT-1.5.3-1/2]
  invalid_qos,                      // QoS 3 [MQTT-3.3.1-4]
  zero_packet_id,                   // packet identifier 0 [MQTT-2.3.1-1]
  invalid_topic_name,               // empty, or contains wildcards [MQTT-3.3.2-1/2]
  invalid_topic_filter,             // ill-formed filter in UNSUBSCRIBE [MQTT-4.7.1-1/2/3]
  empty_subscription_list,          // SUBSCRIBE/UNSUBSCRIBE with no filter [MQTT-3.8.3-3, 3.10.3-2]
  invalid_subscribe_options,        // reserved bits in the requested QoS byte [MQTT-3.8.3-4]
  // CONNECT
  unsupported_protocol_name,        // neither "MQTT" nor "MQIsdp" [MQTT-3.1.2-1]
  unsupported_protocol_level,       // answer CONNACK 0x01 then close [MQTT-3.1.2-2]
  invalid_connect_flags,            // reserved bit set, will flags inconsistent, password without user
  invalid_client_id,                // MQTT 3.1: not 1..23 characters
  first_packet_not_connect,         // [MQTT-3.1.0-1]
  second_connect,                   // [MQTT-3.1.0-2]
  unexpected_packet,                // a packet a client may not send (CONNACK, SUBACK, ...)
};

const std::error_category& codec_category() noexcept;
inline std::error_code make_error_code(CodecError e) noexcept { return {static_cast<int>(e), codec_category()}; }

}  // namespace mop::mqtt

template <>
struct std::is_error_code_enum<mop::mqtt::CodecError> : std::true_type {};
