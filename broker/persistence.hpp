#pragma once
// Persistence: the state that must survive a restart besides the topic logs (those go through
// Ledger): MQTT sessions and wills handed over by the service. The seam for storage/ (issue
// 4), which implements it over its Store (storage::StorePersistence); without one, the service
// keeps this state in memory only.
//
// Threading: owned by the broker's thread. Every write's completion is posted to that thread's
// executor once the write is durable (or failed), never run inline, in call order.
#include <functional>
#include <string>
#include <system_error>
#include <vector>

#include "service/messaging_service.hpp"

namespace mop::broker {

using PersistCallback = std::function<void(std::error_code)>;

class Persistence {
public:
  virtual ~Persistence() = default;

  virtual void put_session(service::SessionRecord session, PersistCallback done) = 0;
  virtual void delete_session(const std::string& client_id, PersistCallback done) = 0;
  virtual void put_will(service::WillRecord will, PersistCallback done) = 0;
  virtual void delete_will(const std::string& client_id, PersistCallback done) = 0;

  // Everything stored, read once at start.
  struct Restored {
    std::vector<service::SessionRecord> sessions;  // by client id
    std::vector<service::WillRecord> wills;        // by client id
  };
  // An error names what could not be read (the record's key, the store's path).
  struct LoadError {
    std::error_code code;
    std::string message;
    explicit operator bool() const { return static_cast<bool>(code); }
  };
  virtual LoadError load(Restored& out) = 0;
};

}  // namespace mop::broker
