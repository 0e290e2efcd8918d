#pragma once
// MQTT control packets as plain values. One struct per packet type; `Packet` is their variant.
// The same structs serve 3.1 (MQIsdp, level 3) and 3.1.1 (level 4); MQTT 5 adds properties later.
#include <cstdint>
#include <optional>
#include <string>
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

struct Will {
  std::string topic;
  Payload payload;
  std::uint8_t qos = 0;
  bool retain = false;
};

struct Connect {
  std::string protocol_name;  // "MQTT" (level 4) or "MQIsdp" (level 3)
  ProtocolVersion version = ProtocolVersion::v311;
  bool clean_session = true;
  std::uint16_t keep_alive = 0;  // seconds, 0 = off
  std::string client_id;
  std::optional<Will> will;
  std::optional<std::string> username;
  std::optional<std::string> password;  // binary data, kept in a string
};

struct Connack {
  bool session_present = false;
  ConnectReturnCode return_code = ConnectReturnCode::accepted;
};

struct Publish {
  bool dup = false;
  std::uint8_t qos = 0;
  bool retain = false;
  std::string topic;
  PacketId packet_id = 0;  // only when qos > 0
  Payload payload;
};

struct Puback { PacketId packet_id = 0; };
struct Pubrec { PacketId packet_id = 0; };
struct Pubrel { PacketId packet_id = 0; };
struct Pubcomp { PacketId packet_id = 0; };

struct SubscribeEntry {
  std::string filter;
  std::uint8_t qos = 0;  // requested maximum QoS
};

struct Subscribe {
  PacketId packet_id = 0;
  std::vector<SubscribeEntry> entries;  // at least one
};

inline constexpr std::uint8_t kSubackFailure = 0x80;

struct Suback {
  PacketId packet_id = 0;
  std::vector<std::uint8_t> return_codes;  // granted QoS 0..2 or kSubackFailure
};

struct Unsubscribe {
  PacketId packet_id = 0;
  std::vector<std::string> filters;  // at least one
};

struct Unsuback { PacketId packet_id = 0; };
struct Pingreq {};
struct Pingresp {};
struct Disconnect {};

using Packet = std::variant<Connect, Connack, Publish, Puback, Pubrec, Pubrel, Pubcomp, Subscribe,
                            Suback, Unsubscribe, Unsuback, Pingreq, Pingresp, Disconnect>;

PacketType packet_type(const Packet& p);
const char* to_string(PacketType t);

}  // namespace mop::mqtt
