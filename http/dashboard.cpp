#include "http/dashboard.hpp"

#include <string>

namespace mop::http {

namespace {

const DashboardFile* find_file(std::string_view name) {
  for (const auto& f : dashboard_files()) {
    if (f.name == name) return &f;
  }
  return nullptr;
}

Response file_response(const DashboardFile& f) {
  Response r;
  r.content_type = std::string(dashboard_content_type(f.name));
  r.body = std::string(f.data);
  r.headers.emplace_back("Cache-Control", "no-cache");
  r.headers.emplace_back("X-Content-Type-Options", "nosniff");
  r.headers.emplace_back("Content-Security-Policy", std::string(dashboard_csp));
  return r;
}

// GET /: the page.
void get_index(const Request&, const Params&, Respond respond) {
  const DashboardFile* f = find_file("index.html");
  if (f == nullptr) return respond(error_response(500, "the dashboard was not built in"));
  respond(file_response(*f));
}

// GET /dashboard/{file}: a stylesheet, script or image of the page.
void get_asset(const Request&, const Params& p, Respond respond) {
  const std::string& name = p.find("file")->second;
  const DashboardFile* f = find_file(name);
  if (f == nullptr || name == "index.html") return respond(error_response(404, "No dashboard file " + name));
  respond(file_response(*f));
}

}  // namespace

std::string_view dashboard_content_type(std::string_view name) {
  if (name.ends_with(".html")) return "text/html; charset=utf-8";
  if (name.ends_with(".css")) return "text/css; charset=utf-8";
  if (name.ends_with(".js")) return "text/javascript; charset=utf-8";
  if (name.ends_with(".svg")) return "image/svg+xml";
  return "application/octet-stream";
}

void add_dashboard_routes(Router& router) {
  router.add("GET", "/", get_index);
  router.add("GET", "/dashboard/{file}", get_asset);
}

}  // namespace mop::http
