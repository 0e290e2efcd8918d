#pragma once
// Attachment: the link between one Subscription and one Receiver attached to it. Owned by the
// Subscription; the Receiver keeps a pointer to it while it is attached and, while the
// subscription waits for this receiver's permits, in its ready queue. Broker thread.
#include <list>

namespace mop::broker {

class Subscription;
class Receiver;

struct Attachment {
  Subscription* subscription = nullptr;
  Receiver* receiver = nullptr;
  // Every message dispatched to this receiver counts as acknowledged at once (an MQTT QoS 0
  // subscription of a clean session: nothing is redelivered, so nothing is remembered).
  bool acks_on_dispatch = false;
  // In the receiver's ready queue (at `queue_pos`): the subscription has messages for this
  // receiver and waits for its permits.
  bool parked = false;
  std::list<Attachment*>::iterator queue_pos;
};

}  // namespace mop::broker
