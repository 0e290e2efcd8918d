#pragma once
// OutBuffer: bytes waiting to be written to one socket. Small packets are appended into a text
// segment; large payloads are kept as shared Payload segments so they are never copied. The
// transport drains every segment with one gather write per wakeup.
#include <cstddef>
#include <string>
#include <utility>
#include <vector>

#include "core/payload.hpp"

namespace mop {

class OutBuffer {
public:
  // Payloads smaller than this are copied into the text segment: a copy is cheaper than a
  // separate iovec entry for them.
  static constexpr std::size_t kShareThreshold = 512;

  struct Segment {
    std::string text;  // used when payload is empty
    Payload payload;
    std::string_view view() const { return payload.empty() ? std::string_view(text) : payload.view(); }
  };

  // The segment to append encoded bytes to.
  std::string& text() {
    if (segments_.empty() || !segments_.back().payload.empty()) segments_.emplace_back();
    return segments_.back().text;
  }
  void append_payload(const Payload& p) {
    if (p.empty()) return;
    if (p.size() < kShareThreshold) {
      text().append(p.view());
    } else {
      if (!segments_.empty() && segments_.back().payload.empty()) sealed_ += segments_.back().text.size();
      segments_.push_back(Segment{{}, p});
      sealed_ += p.size();
    }
  }
  bool empty() const { return segments_.empty(); }
  std::size_t segments() const { return segments_.size(); }
  // Bytes queued, for back-pressure decisions. O(1): asked before every QoS 0 delivery, when
  // the buffer may hold a thousand large payloads.
  std::size_t bytes() const {
    if (segments_.empty() || !segments_.back().payload.empty()) return sealed_;
    return sealed_ + segments_.back().text.size();  // the open text segment still grows
  }

  std::vector<Segment> take() {
    sealed_ = 0;
    return std::exchange(segments_, {});
  }

private:
  std::vector<Segment> segments_;
  std::size_t sealed_ = 0;  // bytes of every segment but an open text segment at the end
};

}  // namespace mop
