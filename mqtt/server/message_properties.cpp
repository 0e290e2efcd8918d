#include "mqtt/server/message_properties.hpp"

#include <optional>
#include <string_view>

namespace mop::mqtt {

namespace {

constexpr std::string_view kPayloadFormat = "__mqtt_payload_format";
constexpr std::string_view kMessageExpiry = "__mqtt_message_expiry";
constexpr std::string_view kContentType = "__mqtt_content_type";
constexpr std::string_view kResponseTopic = "__mqtt_response_topic";
constexpr std::string_view kCorrelationData = "__mqtt_correlation_data";
constexpr std::string_view kRetain = "__mqtt_retain";

std::string to_hex(std::string_view bytes) {
  static constexpr char digits[] = "0123456789abcdef";
  std::string out;
  out.reserve(bytes.size() * 2);
  for (unsigned char c : bytes) {
    out.push_back(digits[c >> 4]);
    out.push_back(digits[c & 15]);
  }
  return out;
}

std::optional<std::string> from_hex(std::string_view hex) {
  if (hex.size() % 2) return std::nullopt;
  auto nibble = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  std::string out;
  out.reserve(hex.size() / 2);
  for (std::size_t i = 0; i < hex.size(); i += 2) {
    int hi = nibble(hex[i]), lo = nibble(hex[i + 1]);
    if (hi < 0 || lo < 0) return std::nullopt;
    out.push_back(static_cast<char>(hi * 16 + lo));
  }
  return out;
}

std::optional<std::uint64_t> to_u64(std::string_view s) {
  std::uint64_t v = 0;
  if (s.empty()) return std::nullopt;
  for (char c : s) {
    if (c < '0' || c > '9') return std::nullopt;
    v = v * 10 + static_cast<std::uint64_t>(c - '0');
  }
  return v;
}

}  // namespace

void to_message_properties(const Properties& in, std::uint64_t now_ms, bool retain,
                           std::vector<std::pair<std::string, std::string>>& out) {
  if (in.payload_format_indicator) out.emplace_back(kPayloadFormat, std::to_string(*in.payload_format_indicator));
  if (in.message_expiry_interval)
    out.emplace_back(kMessageExpiry, std::to_string(now_ms + std::uint64_t{*in.message_expiry_interval} * 1000));
  if (in.content_type) out.emplace_back(kContentType, *in.content_type);
  if (in.response_topic) out.emplace_back(kResponseTopic, *in.response_topic);
  // Binary: hex keeps Pulsar clients (whose properties are strings) able to read it.
  if (in.correlation_data) out.emplace_back(kCorrelationData, to_hex(*in.correlation_data));
  if (retain) out.emplace_back(kRetain, "1");
  for (const auto& kv : in.user_properties) out.push_back(kv);
}

bool from_message_properties(const std::vector<std::pair<std::string, std::string>>& in, std::uint64_t now_ms,
                             Properties& out, bool& retain, std::uint64_t* expires_at_ms) {
  for (const auto& [k, v] : in) {
    if (!k.starts_with("__mqtt_")) {
      out.user_properties.emplace_back(k, v);
    } else if (k == kPayloadFormat) {
      if (v == "0" || v == "1") out.payload_format_indicator = static_cast<std::uint8_t>(v[0] - '0');
    } else if (k == kMessageExpiry) {
      if (auto at = to_u64(v)) {
        if (*at <= now_ms) return false;  // [MQTT-3.3.2-5]: expired, not delivered
        if (expires_at_ms) *expires_at_ms = *at;
        // [MQTT-3.3.2-6]: the remaining interval, rounded up so it never reads 0 while alive.
        out.message_expiry_interval = static_cast<std::uint32_t>((*at - now_ms + 999) / 1000);
      }
    } else if (k == kContentType) {
      out.content_type = v;
    } else if (k == kResponseTopic) {
      out.response_topic = v;
    } else if (k == kCorrelationData) {
      if (auto bytes = from_hex(v)) out.correlation_data = std::move(*bytes);
    } else if (k == kRetain) {
      retain = v == "1";
    }
  }
  return true;
}

}  // namespace mop::mqtt
