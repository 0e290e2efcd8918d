#pragma once
// MQTT control packets as plain values. One struct per packet type; `Packet` is their variant.
// The same structs serve 3.1 (MQIsdp, level 3), 3.1.1 (level 4) and 5.0 (level 5). What only MQTT 5
// carries (properties, reason codes, subscription options) is appended to each struct with a
// default that encodes to nothing, so 3.1/3.1.1 code never has to mention it; the 3.1/3.1.1
// encoders ignore those fields.
#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include "core/payload.hpp"

namespace mop::mqtt {

enum class ProtocolVersion : std::uint8_t { v31 = 3, v311 = 4, v5 = 5 };

enum class PacketType : std::uint8_t {
  connect = 1, connack = 2, publish = 3, puback = 4, pubrec = 5, pubrel = 6, pubcomp = 7,
  subscribe = 8, suback = 9, unsubscribe = 10, unsuback = 11, pingreq = 12, pingresp = 13,
  disconnect = 14, auth = 15,
};

using PacketId = std::uint16_t;  // never 0 on the wire

// CONNACK return codes of 3.1/3.1.1 (MQTT 3.1.1 table 3.1).
enum class ConnectReturnCode : std::uint8_t {
  accepted = 0x00,
  unacceptable_protocol_version = 0x01,
  identifier_rejected = 0x02,
  server_unavailable = 0x03,
  bad_username_or_password = 0x04,
  not_authorized = 0x05,
};

// MQTT 5 reason codes (MQTT 5.0 table 2-6). Several names share a value in the spec (0x00 is
// Success, Normal disconnection and Granted QoS 0); the aliases are spelled out so call sites say
// which one they mean. Which codes a packet may carry is checked by the decoder.
enum class ReasonCode : std::uint8_t {
  success = 0x00,
  normal_disconnection = 0x00,
  granted_qos_0 = 0x00,
  granted_qos_1 = 0x01,
  granted_qos_2 = 0x02,
  disconnect_with_will_message = 0x04,
  no_matching_subscribers = 0x10,
  no_subscription_existed = 0x11,
  continue_authentication = 0x18,
  re_authenticate = 0x19,
  unspecified_error = 0x80,
  malformed_packet = 0x81,
  protocol_error = 0x82,
  implementation_specific_error = 0x83,
  unsupported_protocol_version = 0x84,
  client_identifier_not_valid = 0x85,
  bad_user_name_or_password = 0x86,
  not_authorized = 0x87,
  server_unavailable = 0x88,
  server_busy = 0x89,
  banned = 0x8A,
  server_shutting_down = 0x8B,
  bad_authentication_method = 0x8C,
  keep_alive_timeout = 0x8D,
  session_taken_over = 0x8E,
  topic_filter_invalid = 0x8F,
  topic_name_invalid = 0x90,
  packet_identifier_in_use = 0x91,
  packet_identifier_not_found = 0x92,
  receive_maximum_exceeded = 0x93,
  topic_alias_invalid = 0x94,
  packet_too_large = 0x95,
  message_rate_too_high = 0x96,
  quota_exceeded = 0x97,
  administrative_action = 0x98,
  payload_format_invalid = 0x99,
  retain_not_supported = 0x9A,
  qos_not_supported = 0x9B,
  use_another_server = 0x9C,
  server_moved = 0x9D,
  shared_subscriptions_not_supported = 0x9E,
  connection_rate_exceeded = 0x9F,
  maximum_connect_time = 0xA0,
  subscription_identifiers_not_supported = 0xA1,
  wildcard_subscriptions_not_supported = 0xA2,
};

// The spec's name of the code ("Malformed Packet"); "Unknown reason code" for values not in
// table 2-6. For 0x00 it is "Success" (the same byte as Normal disconnection / Granted QoS 0).
const char* to_string(ReasonCode rc);

// MQTT 5 properties (MQTT 5.0 section 2.2.2.2, table 2-4). One field per property; an absent one
// costs no allocation (empty optional, empty vector). The decoder enforces which properties a
// packet may carry and how often; the encoder writes only the properties allowed on the packet
// being encoded, in identifier order, so a stray field can never produce a malformed packet.
// 3.1/3.1.1 packets never carry properties: their encoders ignore this struct.
struct Properties {
  std::optional<std::uint8_t> payload_format_indicator;    // 0x01: 0 unspecified bytes, 1 UTF-8
  std::optional<std::uint32_t> message_expiry_interval;    // 0x02: seconds
  std::optional<std::string> content_type;                 // 0x03
  std::optional<std::string> response_topic;               // 0x08: a topic name, no wildcards
  std::optional<std::string> correlation_data;             // 0x09: binary data
  // 0x0B: variable byte integer 1..268435455. SUBSCRIBE carries at most one; a PUBLISH from the
  // server carries one per matching subscription; a PUBLISH from a client carries none.
  std::vector<std::uint32_t> subscription_identifiers;
  std::optional<std::uint32_t> session_expiry_interval;    // 0x11: seconds, 0xFFFFFFFF = never
  std::optional<std::string> assigned_client_identifier;   // 0x12
  std::optional<std::uint16_t> server_keep_alive;          // 0x13: seconds
  std::optional<std::string> authentication_method;        // 0x15
  std::optional<std::string> authentication_data;          // 0x16: binary data
  std::optional<bool> request_problem_information;         // 0x17
  std::optional<std::uint32_t> will_delay_interval;        // 0x18: seconds
  std::optional<bool> request_response_information;        // 0x19
  std::optional<std::string> response_information;         // 0x1A
  std::optional<std::string> server_reference;             // 0x1C
  std::optional<std::string> reason_string;                // 0x1F
  std::optional<std::uint16_t> receive_maximum;            // 0x21: 1..65535
  std::optional<std::uint16_t> topic_alias_maximum;        // 0x22
  std::optional<std::uint16_t> topic_alias;                // 0x23: 1..65535
  std::optional<std::uint8_t> maximum_qos;                 // 0x24: 0 or 1 (absent = 2)
  std::optional<bool> retain_available;                    // 0x25
  std::vector<std::pair<std::string, std::string>> user_properties;  // 0x26: order kept, repeats allowed
  std::optional<std::uint32_t> maximum_packet_size;        // 0x27: 1..
  std::optional<bool> wildcard_subscription_available;     // 0x28
  std::optional<bool> subscription_identifier_available;   // 0x29
  std::optional<bool> shared_subscription_available;       // 0x2A

  bool operator==(const Properties&) const = default;
};

struct Will {
  std::string topic;
  Payload payload;
  std::uint8_t qos = 0;
  bool retain = false;
  Properties properties;  // MQTT 5 will properties (will delay interval, message properties)
};

struct Connect {
  std::string protocol_name;  // "MQTT" (level 4 and 5) or "MQIsdp" (level 3)
  ProtocolVersion version = ProtocolVersion::v311;
  bool clean_session = true;  // "Clean Start" in MQTT 5 (same bit, session lifetime is a property)
  std::uint16_t keep_alive = 0;  // seconds, 0 = off
  std::string client_id;
  std::optional<Will> will;
  std::optional<std::string> username;
  std::optional<std::string> password;  // binary data, kept in a string
  Properties properties;  // MQTT 5 only
};

// One CONNACK for every version. 3.1/3.1.1 put `return_code` on the wire; MQTT 5 puts
// `reason_code` there, except that a `reason_code` left at success with a refusing `return_code`
// sends the MQTT 5 equivalent of that return code (see connack_reason), so code written for
// 3.1.1 refuses a 5.0 client correctly too. Decoding MQTT 5 fills both: `reason_code` as sent and
// `return_code` as its nearest 3.1.1 equivalent.
struct Connack {
  bool session_present = false;
  ConnectReturnCode return_code = ConnectReturnCode::accepted;
  ReasonCode reason_code = ReasonCode::success;  // MQTT 5 only
  Properties properties;                          // MQTT 5 only
};

// The reason code an MQTT 5 CONNACK carries for `c` (reason_code, or else return_code mapped).
ReasonCode connack_reason(const Connack& c);
// The 3.1.1 return code nearest to an MQTT 5 CONNACK reason code (accepted for success).
ConnectReturnCode connect_return_code_for(ReasonCode rc);
// Whether an MQTT 5 CONNACK may carry `rc` (MQTT 5.0 table 3-1).
bool connack_allows(ReasonCode rc);

struct Publish {
  bool dup = false;
  std::uint8_t qos = 0;
  bool retain = false;
  std::string topic;
  PacketId packet_id = 0;  // only when qos > 0
  Payload payload;
  // MQTT 5 only. An empty topic is valid in MQTT 5 only together with properties.topic_alias.
  Properties properties;
};

// QoS 1/2 acknowledgements. In MQTT 5 they carry a reason code and properties; a success code
// without properties is sent in the short form (remaining length 2) that 3.1.1 also uses.
struct Puback {
  PacketId packet_id = 0;
  ReasonCode reason_code = ReasonCode::success;  // MQTT 5 only
  Properties properties;                          // MQTT 5 only: reason string, user properties
};
struct Pubrec {
  PacketId packet_id = 0;
  ReasonCode reason_code = ReasonCode::success;
  Properties properties;
};
struct Pubrel {
  PacketId packet_id = 0;
  ReasonCode reason_code = ReasonCode::success;
  Properties properties;
};
struct Pubcomp {
  PacketId packet_id = 0;
  ReasonCode reason_code = ReasonCode::success;
  Properties properties;
};

struct SubscribeEntry {
  std::string filter;
  std::uint8_t qos = 0;  // requested maximum QoS
  // MQTT 5 subscription options (the rest of the byte whose low bits are the QoS).
  bool no_local = false;             // do not send my own messages back to me
  bool retain_as_published = false;  // keep the RETAIN flag of forwarded messages
  std::uint8_t retain_handling = 0;  // 0 send retained, 1 only for a new subscription, 2 never
};

struct Subscribe {
  PacketId packet_id = 0;
  std::vector<SubscribeEntry> entries;  // at least one
  Properties properties;                // MQTT 5 only: subscription identifier, user properties
};

inline constexpr std::uint8_t kSubackFailure = 0x80;

struct Suback {
  PacketId packet_id = 0;
  // 3.1/3.1.1: granted QoS 0..2 or kSubackFailure. MQTT 5: the reason code of each entry (granted
  // QoS 0..2 are the reason codes 0x00..0x02; failures are ReasonCode values >= 0x80).
  std::vector<std::uint8_t> return_codes;
  Properties properties;  // MQTT 5 only
};

struct Unsubscribe {
  PacketId packet_id = 0;
  std::vector<std::string> filters;  // at least one
  Properties properties;             // MQTT 5 only: user properties
};

struct Unsuback {
  PacketId packet_id = 0;
  std::vector<ReasonCode> reason_codes;  // MQTT 5 only: one per filter of the UNSUBSCRIBE
  Properties properties;                 // MQTT 5 only
};
struct Pingreq {};
struct Pingresp {};

// MQTT 5 DISCONNECT goes both ways and says why; 3.1/3.1.1 DISCONNECT is empty (client only).
// Normal disconnection without properties is sent as the short form (remaining length 0).
struct Disconnect {
  ReasonCode reason_code = ReasonCode::normal_disconnection;  // MQTT 5 only
  Properties properties;                                      // MQTT 5 only
};

// MQTT 5 AUTH (type 15): one step of enhanced authentication. Reason 0x00, 0x18 or 0x19.
struct Auth {
  ReasonCode reason_code = ReasonCode::success;
  Properties properties;  // authentication method/data, reason string, user properties
};

// Auth is last so that the indices of the 3.1.1 alternatives are unchanged.
using Packet = std::variant<Connect, Connack, Publish, Puback, Pubrec, Pubrel, Pubcomp, Subscribe,
                            Suback, Unsubscribe, Unsuback, Pingreq, Pingresp, Disconnect, Auth>;

PacketType packet_type(const Packet& p);
const char* to_string(PacketType t);

}  // namespace mop::mqtt
