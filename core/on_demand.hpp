#pragma once
// OnDemand<T>: a member most objects never use, allocated the first time it is written to. Per
// connection state is dominated by empty containers (an empty std::map or std::set is 48 bytes
// inline, an empty std::string 32); grouping the rarely used ones in a T behind one OnDemand
// costs an idle object 8 bytes instead.
//
// Writing (operator*, operator->) allocates a default T when there is none yet; reading without
// allocating goes through get(), which is nullptr until then. reset() frees it.
#include <memory>

namespace mop {

template <typename T>
class OnDemand {
public:
  T& operator*() {
    if (!p_) p_ = std::make_unique<T>();
    return *p_;
  }
  T* operator->() { return &**this; }
  // The value if it was ever written, else nullptr; never allocates.
  const T* get() const { return p_.get(); }
  T* get() { return p_.get(); }
  void reset() { p_.reset(); }

private:
  std::unique_ptr<T> p_;
};

}  // namespace mop
