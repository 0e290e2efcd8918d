#include "http/prometheus.hpp"

#include <cmath>

#include <fmt/format.h>

namespace mop::http {

std::string escape_label_value(std::string_view v) {
  std::string out;
  out.reserve(v.size());
  for (char c : v) {
    switch (c) {
      case '\\': out += "\\\\"; break;
      case '"': out += "\\\""; break;
      case '\n': out += "\\n"; break;
      default: out += c;
    }
  }
  return out;
}

std::string escape_help(std::string_view v) {
  std::string out;
  out.reserve(v.size());
  for (char c : v) {
    switch (c) {
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      default: out += c;
    }
  }
  return out;
}

std::string format_value(double v) {
  if (std::isnan(v)) return "NaN";
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  if (v == std::floor(v) && std::fabs(v) < 9.007199254740992e15) return fmt::format("{}", static_cast<std::int64_t>(v));
  return fmt::format("{}", v);  // shortest form that reads back as the same double
}

void PrometheusWriter::family(std::string_view name, MetricType type, std::string_view help) {
  name_ = name;
  fmt::format_to(std::back_inserter(out_), "# HELP {} {}\n# TYPE {} {}\n", name, escape_help(help), name,
                 type == MetricType::counter ? "counter" : type == MetricType::gauge ? "gauge" : "histogram");
}

void PrometheusWriter::sample_name(const Labels& labels, std::string_view suffix) {
  out_ += name_;
  out_ += suffix;
  if (labels.empty()) {
    out_ += ' ';
    return;
  }
  out_ += '{';
  bool first = true;
  for (const auto& [k, v] : labels) {
    if (!first) out_ += ',';
    first = false;
    out_ += k;
    out_ += "=\"";
    out_ += escape_label_value(v);
    out_ += '"';
  }
  out_ += "} ";
}

void PrometheusWriter::sample(std::uint64_t value, const Labels& labels) {
  sample_name(labels);
  fmt::format_to(std::back_inserter(out_), "{}\n", value);
}

void PrometheusWriter::sample(double value, const Labels& labels) {
  sample_name(labels);
  out_ += format_value(value);
  out_ += '\n';
}

void PrometheusWriter::histogram(const std::vector<double>& bounds, const std::vector<std::uint64_t>& cumulative,
                                 double sum) {
  for (std::size_t i = 0; i < cumulative.size(); ++i) {
    const std::string le = i < bounds.size() ? format_value(bounds[i]) : "+Inf";
    sample_name({{"le", le}}, "_bucket");
    fmt::format_to(std::back_inserter(out_), "{}\n", cumulative[i]);
  }
  sample_name({}, "_sum");
  out_ += format_value(sum);
  out_ += '\n';
  sample_name({}, "_count");
  fmt::format_to(std::back_inserter(out_), "{}\n", cumulative.empty() ? 0 : cumulative.back());
}

}  // namespace mop::http
