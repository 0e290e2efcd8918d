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
    }
    return "unknown mqtt codec error " + std::to_string(ev);
  }
};

}  // namespace

const std::error_category& codec_category() noexcept {
  static const CodecCategory category;
  return category;
}

}  // namespace mop::mqtt
