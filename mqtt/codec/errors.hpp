#pragma once
// Why the codec refused bytes. Every code means "malformed packet or protocol violation": the
// connection is closed (MQTT 3.1.1 has no way to say why; MQTT 5 says it with the reason code that
// reason_for() gives, in a CONNACK or DISCONNECT). The message names the rule that was broken.
#include <system_error>

#include "mqtt/codec/packets.hpp"

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
  // MQTT 5 (appended: the values above are stable)
  invalid_property,                 // unknown identifier, not allowed on this packet or in this
                                    // direction, or a value that is not of the property's type [2.2.2.2]
  duplicate_property,               // a property other than user property / subscription identifier
                                    // (server PUBLISH) appears twice [2.2.2.2]
  invalid_property_value,           // e.g. receive maximum 0, maximum QoS 2, a flag not 0/1,
                                    // subscription identifier 0, auth data without auth method
  invalid_topic_alias,              // topic alias 0 [MQTT-3.3.2-8]
  empty_topic_without_alias,        // zero-length topic name and no topic alias [3.3.2.3.4]
  invalid_reason_code,              // a reason code the packet type does not define
  invalid_subscribe_option_value,   // retain handling 3, QoS 3, no local on a shared subscription
                                    // [MQTT-3.8.3-4, 3.8.3.1]
  payload_format_invalid,           // payload format indicator 1 with a payload that is not UTF-8
                                    // [MQTT-3.3.2-4]; for the session, which decides whether to check
};

// The MQTT 5 reason code a server sends (in CONNACK before a session exists, DISCONNECT after)
// for a packet the codec refused: 0x81 malformed, 0x82 protocol error, 0x95 packet too large,
// 0x84 for a CONNECT of a version we do not speak, ... The one place where that mapping lives.
ReasonCode reason_for(CodecError e) noexcept;

const std::error_category& codec_category() noexcept;
inline std::error_code make_error_code(CodecError e) noexcept { return {static_cast<int>(e), codec_category()}; }

}  // namespace mop::mqtt

template <>
struct std::is_error_code_enum<mop::mqtt::CodecError> : std::true_type {};
