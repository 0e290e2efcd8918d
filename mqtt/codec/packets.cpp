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
        else {
          static_assert(std::is_same_v<T, Disconnect>, "a packet type is missing here");
          return PacketType::disconnect;
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

}  // namespace mop::mqtt
