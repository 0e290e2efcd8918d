#pragma once
// An entry of a topic's log: the position it was stored at and the message, shared (never
// copied) by the log, every subscription that reads it and every socket that sends it.
#include "service/messaging_service.hpp"

namespace mop::broker {

using service::MessageId;
using service::MessagePtr;

struct Entry {
  MessageId id;
  MessagePtr message;
};

}  // namespace mop::broker
