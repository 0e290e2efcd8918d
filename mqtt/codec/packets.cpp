#include "mqtt/codec/packets.hpp"

#include <type_traits>

namespace mop::mqtt {

PacketType packet_type(const Packet& p) {
  // A visitor over the type, not the variant index, so reordering the variant cannot
  // silently change the mapping.
  return std::visit(
      [](const auto& v) {
        using T = std::decay_t<decltype(v)>;
        if constexpr (std::is_same_v<T, Connect>) return PacketType::connect;
        else if constexpr (std::is_same_v<T, Connack>) return PacketType::connack;
        else if constexpr (std::is_same_v<T, Publish>) return PacketType::publish;
        else if constexpr (std::is_same_v<T, Puback>) return PacketType::puback;
        else if constexpr (std::is_same_v<T, Pubrec>) return PacketType::pubrec;
        else if constexpr (std::is_same_v<T, Pubrel>) return PacketType::pubrel;
        else if constexpr (std::is_same_v<T, Pubcomp>) return PacketType::pubcomp;
        else if constexpr (std::is_same_v<T, Subscribe>) return PacketType::subscribe;
        else if constexpr (std::is_same_v<T, Suback>) return PacketType::suback;
        else if constexpr (std::is_same_v<T, Unsubscribe>) return PacketType::unsubscribe;
        else if constexpr (std::is_same_v<T, Unsuback>) return PacketType::unsuback;
        else if constexpr (std::is_same_v<T, Pingreq>) return PacketType::pingreq;
        else if constexpr (std::is_same_v<T, Pingresp>) return PacketType::pingresp;
        else if constexpr (std::is_same_v<T, Disconnect>) return PacketType::disconnect;
        else {
          static_assert(std::is_same_v<T, Auth>, "a packet type is missing here");
          return PacketType::auth;
        }
      },
      p);
}

const char* to_string(PacketType t) {
  switch (t) {
    case PacketType::connect: return "CONNECT";
    case PacketType::connack: return "CONNACK";
    case PacketType::publish: return "PUBLISH";
    case PacketType::puback: return "PUBACK";
    case PacketType::pubrec: return "PUBREC";
    case PacketType::pubrel: return "PUBREL";
    case PacketType::pubcomp: return "PUBCOMP";
    case PacketType::subscribe: return "SUBSCRIBE";
    case PacketType::suback: return "SUBACK";
    case PacketType::unsubscribe: return "UNSUBSCRIBE";
    case PacketType::unsuback: return "UNSUBACK";
    case PacketType::pingreq: return "PINGREQ";
    case PacketType::pingresp: return "PINGRESP";
    case PacketType::disconnect: return "DISCONNECT";
    case PacketType::auth: return "AUTH";
  }
  // Type 0 and out-of-range values only reach here from a cast of wire bytes.
  return "RESERVED";
}

const char* to_string(ReasonCode rc) {
  switch (static_cast<std::uint8_t>(rc)) {
    case 0x00: return "Success";
    case 0x01: return "Granted QoS 1";
    case 0x02: return "Granted QoS 2";
    case 0x04: return "Disconnect with Will Message";
    case 0x10: return "No matching subscribers";
    case 0x11: return "No subscription existed";
    case 0x18: return "Continue authentication";
    case 0x19: return "Re-authenticate";
    case 0x80: return "Unspecified error";
    case 0x81: return "Malformed Packet";
    case 0x82: return "Protocol Error";
    case 0x83: return "Implementation specific error";
    case 0x84: return "Unsupported Protocol Version";
    case 0x85: return "Client Identifier not valid";
    case 0x86: return "Bad User Name or Password";
    case 0x87: return "Not authorized";
    case 0x88: return "Server unavailable";
    case 0x89: return "Server busy";
    case 0x8A: return "Banned";
    case 0x8B: return "Server shutting down";
    case 0x8C: return "Bad authentication method";
    case 0x8D: return "Keep Alive timeout";
    case 0x8E: return "Session taken over";
    case 0x8F: return "Topic Filter invalid";
    case 0x90: return "Topic Name invalid";
    case 0x91: return "Packet Identifier in use";
    case 0x92: return "Packet Identifier not found";
    case 0x93: return "Receive Maximum exceeded";
    case 0x94: return "Topic Alias invalid";
    case 0x95: return "Packet too large";
    case 0x96: return "Message rate too high";
    case 0x97: return "Quota exceeded";
    case 0x98: return "Administrative action";
    case 0x99: return "Payload format invalid";
    case 0x9A: return "Retain not supported";
    case 0x9B: return "QoS not supported";
    case 0x9C: return "Use another server";
    case 0x9D: return "Server moved";
    case 0x9E: return "Shared Subscriptions not supported";
    case 0x9F: return "Connection rate exceeded";
    case 0xA0: return "Maximum connect time";
    case 0xA1: return "Subscription Identifiers not supported";
    case 0xA2: return "Wildcard Subscriptions not supported";
  }
  return "Unknown reason code";
}

// MQTT 5.0 table 3-1 (and 2-6): the reason codes a CONNACK may carry.
bool connack_allows(ReasonCode rc) {
  switch (static_cast<std::uint8_t>(rc)) {
    case 0x00: case 0x80: case 0x81: case 0x82: case 0x83: case 0x84: case 0x85: case 0x86:
    case 0x87: case 0x88: case 0x89: case 0x8A: case 0x8C: case 0x90: case 0x95: case 0x97:
    case 0x99: case 0x9A: case 0x9B: case 0x9C: case 0x9D: case 0x9F:
      return true;
    default:
      return false;
  }
}

ReasonCode connack_reason(const Connack& c) {
  if (c.reason_code != ReasonCode::success) return c.reason_code;
  // The MQTT 5 equivalents of the 3.1.1 return codes (MQTT 5.0 table 3-1 against 3.1.1 table 3.1).
  switch (c.return_code) {
    case ConnectReturnCode::accepted: return ReasonCode::success;
    case ConnectReturnCode::unacceptable_protocol_version: return ReasonCode::unsupported_protocol_version;
    case ConnectReturnCode::identifier_rejected: return ReasonCode::client_identifier_not_valid;
    case ConnectReturnCode::server_unavailable: return ReasonCode::server_unavailable;
    case ConnectReturnCode::bad_username_or_password: return ReasonCode::bad_user_name_or_password;
    case ConnectReturnCode::not_authorized: return ReasonCode::not_authorized;
  }
  return ReasonCode::unspecified_error;  // a return code 3.1.1 does not define
}

ConnectReturnCode connect_return_code_for(ReasonCode rc) {
  switch (rc) {
    case ReasonCode::success: return ConnectReturnCode::accepted;
    case ReasonCode::unsupported_protocol_version: return ConnectReturnCode::unacceptable_protocol_version;
    case ReasonCode::client_identifier_not_valid: return ConnectReturnCode::identifier_rejected;
    case ReasonCode::bad_user_name_or_password: return ConnectReturnCode::bad_username_or_password;
    case ReasonCode::not_authorized:
    case ReasonCode::banned:
    case ReasonCode::bad_authentication_method:
      return ConnectReturnCode::not_authorized;
    default:
      // Busy, unavailable, moved, quota, rate...: "the MQTT service is unavailable" is the nearest.
      return ConnectReturnCode::server_unavailable;
  }
}

}  // namespace mop::mqtt
