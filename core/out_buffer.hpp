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
      segments_.push_back(Segment{{}, p});
    }
  }
  bool empty() const { return segments_.empty(); }
  std::size_t segments() const { return segments_.size(); }
  // Bytes queued, for back-pressure decisions.
  std::size_t bytes() const {
    std::size_t n = 0;
    for (const auto& s : segments_) n += s.view().size();
    return n;
  }

  std::vector<Segment> take() { return std::exchange(segments_, {}); }

private:
  std::vector<Segment> segments_;
};

}  // namespace mop
