#include "mqtt/codec/errors.hpp"

#include <string>

namespace mop::mqtt {
namespace {

// Each message names the normative statement(s) broken, so that a log line of a closed
// connection tells the operator (or the client's author) exactly which rule the peer violated.
class CodecCategory final : public std::error_category {
public:
  const char* name() const noexcept override { return "mqtt.codec"; }
  std::string message(int ev) const override {
    switch (static_cast<CodecError>(ev)) {
      case CodecError::malformed_remaining_length:
        return "remaining length uses more than 4 bytes [MQTT-2.2.3]";
      case CodecError::packet_too_large:
        return "packet larger than the configured maximum packet size";
      case CodecError::reserved_packet_type:
        return "reserved control packet type 0 or 15 [MQTT-2.2.1]";
      case CodecError::invalid_fixed_header_flags:
        return "reserved fixed header flags: PUBREL, SUBSCRIBE and UNSUBSCRIBE must be 0010, other "
               "packets 0000 [MQTT-2.2.2-1, MQTT-2.2.2-2, MQTT-3.6.1-1, MQTT-3.8.1-1, MQTT-3.10.1-1]; "
               "DUP must be 0 for QoS 0 PUBLISH [MQTT-3.3.1-2]";
      case CodecError::truncated:
        return "a field runs past the end of the packet (remaining length too short) [MQTT-2.2.3]";
      case CodecError::trailing_bytes:
        return "bytes left after the last field of the packet (remaining length too long) [MQTT-2.2.3]";
      case CodecError::invalid_utf8:
        return "string is not well-formed UTF-8, encodes a surrogate or contains U+0000 "
               "[MQTT-1.5.3-1, MQTT-1.5.3-2]";
      case CodecError::invalid_qos:
        return "QoS 3 is reserved [MQTT-3.3.1-4, MQTT-3.1.2-14]; SUBACK return code not 0, 1, 2 or 0x80";
      case CodecError::zero_packet_id:
        return "packet identifier 0 [MQTT-2.3.1-1]";
      case CodecError::invalid_topic_name:
        return "topic name is empty or contains wildcard characters [MQTT-4.7.3-1, MQTT-3.3.2-2]";
      case CodecError::invalid_topic_filter:
        return "ill-formed topic filter [MQTT-4.7.1-1, MQTT-4.7.1-2, MQTT-4.7.1-3, MQTT-4.7.3-1]";
      case CodecError::empty_subscription_list:
        return "SUBSCRIBE or UNSUBSCRIBE without a topic filter [MQTT-3.8.3-3, MQTT-3.10.3-2]; "
               "SUBACK without a return code";
      case CodecError::invalid_subscribe_options:
        return "reserved bits of the requested QoS byte must be 0 and QoS at most 2 [MQTT-3.8.3-4]";
      case CodecError::unsupported_protocol_name:
        return "protocol name is neither \"MQTT\" nor \"MQIsdp\" [MQTT-3.1.2-1]";
      case CodecError::unsupported_protocol_level:
        return "protocol level not supported (\"MQTT\" needs level 4, \"MQIsdp\" level 3); "
               "answer CONNACK 0x01 [MQTT-3.1.2-2]";
      case CodecError::invalid_connect_flags:
        return "CONNECT flags: reserved bit set [MQTT-3.1.2-3], will QoS/retain set without will "
               "flag [MQTT-3.1.2-11, MQTT-3.1.2-13, MQTT-3.1.2-15] or password without user name "
               "[MQTT-3.1.2-22]; CONNACK: reserved acknowledge flags [MQTT-3.2.2-1]";
      case CodecError::invalid_client_id:
        return "client identifier rejected: MQTT 3.1 needs 1..23 characters, MQTT 3.1.1 an empty "
               "one needs clean session [MQTT-3.1.3-8]; answer CONNACK 0x02";
      case CodecError::first_packet_not_connect:
        return "first packet from the client is not CONNECT [MQTT-3.1.0-1]";
      case CodecError::second_connect:
        return "second CONNECT on one network connection [MQTT-3.1.0-2]";
      case CodecError::unexpected_packet:
        return "packet type the sender may not send (e.g. CONNACK, SUBACK, UNSUBACK or PINGRESP "
               "from a client)";
      case CodecError::invalid_property:
        return "property identifier unknown or not allowed on this packet [MQTT-2.2.2.2, table 2-4], "
               "subscription identifier in a PUBLISH from a client [MQTT-3.3.4-6], session expiry in a "
               "DISCONNECT from the server [MQTT-3.14.2-2], or property length/value of the wrong form";
      case CodecError::duplicate_property:
        return "property included more than once (only user property, and subscription identifier "
               "in a PUBLISH from the server, may repeat) [MQTT-2.2.2.2]";
      case CodecError::invalid_property_value:
        return "property value out of range: receive maximum 0 or maximum packet size 0 [3.1.2.11], "
               "maximum QoS not 0/1, a 0/1 flag with another value, subscription identifier 0, "
               "response topic with wildcards [MQTT-3.3.2-14], or authentication data without "
               "authentication method";
      case CodecError::invalid_topic_alias:
        return "topic alias 0 [MQTT-3.3.2-8]";
      case CodecError::empty_topic_without_alias:
        return "zero-length topic name without a topic alias [MQTT-3.3.2-1, 3.3.2.3.4]";
      case CodecError::invalid_reason_code:
        return "reason code not defined for this packet type [MQTT-2.4, table 2-6]";
      case CodecError::invalid_subscribe_option_value:
        return "subscription options: retain handling 3 or maximum QoS 3 [3.8.3.1], or no local on a "
               "shared subscription [MQTT-3.8.3-4]";
      case CodecError::payload_format_invalid:
        return "payload format indicator says UTF-8 but the payload is not [MQTT-3.3.2-4]";
    }
    return "unknown mqtt codec error " + std::to_string(ev);
  }
};

}  // namespace

ReasonCode reason_for(CodecError e) noexcept {
  switch (e) {
    // Framing, field encodings and reserved bits: "data that cannot be parsed according to this
    // specification" is a Malformed Packet (MQTT 5.0 4.13, 1.5.4, 2.1.3, 2.2.2.2).
    case CodecError::malformed_remaining_length:
    case CodecError::reserved_packet_type:
    case CodecError::invalid_fixed_header_flags:
    case CodecError::truncated:
    case CodecError::trailing_bytes:
    case CodecError::invalid_utf8:
    case CodecError::invalid_qos:             // PUBLISH QoS 3 [MQTT-3.3.1-4], will QoS 3 [MQTT-3.1.2-12]
    case CodecError::zero_packet_id:
    case CodecError::invalid_subscribe_options:  // reserved option bits [MQTT-3.8.3-5]
    case CodecError::invalid_connect_flags:   // reserved flag [MQTT-3.1.2-3], will bits [MQTT-3.1.2-11/13]
    case CodecError::invalid_property:        // identifier not valid for the packet [2.2.2.2]
    case CodecError::unsupported_protocol_name:  // not MQTT: we cannot read the rest
      return ReasonCode::malformed_packet;
    // Well-formed, but a rule of the exchange is broken: a Protocol Error.
    case CodecError::empty_subscription_list:  // [MQTT-3.8.3-2, MQTT-3.10.3-2]
    case CodecError::first_packet_not_connect:
    case CodecError::second_connect:           // [MQTT-3.1.0-2]
    case CodecError::unexpected_packet:
    case CodecError::duplicate_property:
    case CodecError::invalid_property_value:
    case CodecError::empty_topic_without_alias:
    case CodecError::invalid_reason_code:
    case CodecError::invalid_subscribe_option_value:
      return ReasonCode::protocol_error;
    case CodecError::packet_too_large: return ReasonCode::packet_too_large;  // [MQTT-3.2.2.3.6]
    case CodecError::unsupported_protocol_level: return ReasonCode::unsupported_protocol_version;
    case CodecError::invalid_client_id: return ReasonCode::client_identifier_not_valid;
    case CodecError::invalid_topic_name: return ReasonCode::topic_name_invalid;
    case CodecError::invalid_topic_filter: return ReasonCode::topic_filter_invalid;
    case CodecError::invalid_topic_alias: return ReasonCode::topic_alias_invalid;
    case CodecError::payload_format_invalid: return ReasonCode::payload_format_invalid;
  }
  return ReasonCode::unspecified_error;  // not a CodecError value
}

const std::error_category& codec_category() noexcept {
  static const CodecCategory category;
  return category;
}

}  // namespace mop::mqtt
