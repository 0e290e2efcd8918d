#include "http/router.hpp"

#include <memory>
#include <utility>

#include <nlohmann/json.hpp>

#include "core/log.hpp"
#include "service/topic_name.hpp"

namespace mop::http {

std::string_view Request::path() const {
  const std::string_view t = target;
  return t.substr(0, t.find('?'));
}

std::string_view Request::query() const {
  const std::string_view t = target;
  const auto q = t.find('?');
  return q == std::string_view::npos ? std::string_view{} : t.substr(q + 1);
}

Response error_response(unsigned status, std::string_view reason) {
  Response r;
  r.status = status;
  r.content_type = "application/json";
  r.body = nlohmann::json{{"reason", reason}}.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  return r;
}

Response json_response(std::string body) {
  Response r;
  r.content_type = "application/json";
  r.body = std::move(body);
  return r;
}

std::vector<std::string_view> split_path(std::string_view path) {
  std::vector<std::string_view> out;
  std::size_t pos = 0;
  while (pos <= path.size()) {
    const auto slash = path.find('/', pos);
    const auto end = slash == std::string_view::npos ? path.size() : slash;
    if (end > pos) out.push_back(path.substr(pos, end - pos));
    pos = end + 1;
  }
  return out;
}

void Router::add(std::string method, std::string_view pattern, Handler handler) {
  Route route{std::move(method), {}, std::move(handler)};
  for (auto s : split_path(pattern)) route.segments.emplace_back(s);
  routes_.push_back(std::move(route));
}

void Router::handle(const Request& request, Respond respond) const {
  if (guard_) {
    if (auto refused = guard_(request)) return respond(std::move(*refused));
  }
  const auto segments = split_path(request.path());
  std::vector<std::string> allowed;
  for (const auto& route : routes_) {
    if (route.segments.size() != segments.size()) continue;
    Params params;
    bool match = true;
    for (std::size_t i = 0; i < segments.size() && match; ++i) {
      const std::string& want = route.segments[i];
      if (want.size() > 2 && want.front() == '{' && want.back() == '}') {
        auto decoded = service::url_decode(segments[i]);
        if (!decoded) {
          respond(error_response(400, "bad %-escape in the path"));
          return;
        }
        params.emplace(want.substr(1, want.size() - 2), std::move(*decoded));
      } else {
        match = want == segments[i];
      }
    }
    if (!match) continue;
    if (route.method != request.method) {
      allowed.push_back(route.method);
      continue;
    }
    // A handler that throws (a JSON body of an unexpected shape reaching nlohmann's checked
    // accessors, found by http_server_fuzz) answers 500 and logs why; the exception must not
    // leave the io_context, which would end the process.
    auto once = std::make_shared<Respond>(std::move(respond));
    try {
      route.handler(request, params, [once](Response r) {
        if (*once) std::exchange(*once, nullptr)(std::move(r));
      });
    } catch (const std::exception& e) {
      log::get("http")->warn("{} {}: the handler failed: {}", request.method, request.target, e.what());
      if (*once) std::exchange(*once, nullptr)(error_response(500, std::string("internal error: ") + e.what()));
    }
    return;
  }
  if (!allowed.empty()) {
    Response r = error_response(405, "Method Not Allowed");
    std::string allow;
    for (const auto& m : allowed) allow += (allow.empty() ? "" : ", ") + m;
    r.headers.emplace_back("Allow", std::move(allow));
    respond(std::move(r));
    return;
  }
  respond(error_response(404, "Not Found"));
}

}  // namespace mop::http
