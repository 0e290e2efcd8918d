#pragma once
// PrometheusWriter: Prometheus' text exposition format (version 0.0.4), written by hand because
// it is a few lines: per metric family one `# HELP` and one `# TYPE` line, then its samples,
// `name{label="value",...} value`, each family's samples together. Label values and help texts
// are escaped as the format requires (backslash, double quote in labels, newline).
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace mop::http {

enum class MetricType { counter, gauge, histogram };

using Label = std::pair<std::string_view, std::string_view>;
using Labels = std::vector<Label>;

class PrometheusWriter {
public:
  // Starts a family: its # HELP and # TYPE lines. The samples written after it, until the next
  // family, are its own. A name is written once per exposition: the caller groups samples.
  void family(std::string_view name, MetricType type, std::string_view help);
  // A sample of the current family.
  void sample(std::uint64_t value, const Labels& labels = {});
  void sample(double value, const Labels& labels = {});
  // The samples of a histogram family (after family(..., histogram, ...)): `<name>_bucket` per
  // upper bound with its cumulative count (`le`), `le="+Inf"` with the total, `<name>_sum`,
  // `<name>_count`. `cumulative` has one more element than `bounds` (the +Inf bucket).
  void histogram(const std::vector<double>& bounds, const std::vector<std::uint64_t>& cumulative, double sum);

  const std::string& text() const { return out_; }
  std::string take() { return std::move(out_); }

private:
  void sample_name(const Labels& labels, std::string_view suffix = {});
  std::string out_;
  std::string name_;
};

// The Content-Type of the text format.
inline constexpr std::string_view kPrometheusContentType = "text/plain; version=0.0.4; charset=utf-8";

// `\` -> `\\`, `"` -> `\"`, newline -> `\n` (label values).
std::string escape_label_value(std::string_view v);
// `\` -> `\\`, newline -> `\n` (help text).
std::string escape_help(std::string_view v);
// A float as the format spells it: integers without a fraction, NaN, +Inf, -Inf.
std::string format_value(double v);

}  // namespace mop::http
