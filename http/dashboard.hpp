#pragma once
// The dashboard at `GET /` of the web service: one HTML page and its assets under
// `/dashboard/{file}` (http/dashboard/: HTML, CSS, JavaScript, an SVG icon), embedded in the
// binary at build time (http/dashboard/embed.cmake writes them into a generated .cpp in the
// build dir). The page itself only reads the existing JSON and text routes (`/mop/stats`,
// `/mop/clients`, `/metrics`) and kicks through `DELETE /mop/clients/{clientId}`; behind the
// Router's guard like every route when HTTP authentication is on.
//
// Every answer has its Content-Type, `Cache-Control: no-cache` (the names are not versioned, so
// a browser revalidates after an upgrade), `X-Content-Type-Options: nosniff`, and a
// Content-Security-Policy that allows this origin only (no inline script or style, no external
// source, no framing).
#include <span>
#include <string_view>

#include "http/router.hpp"

namespace mop::http {

// One embedded file: its name under http/dashboard/ and its bytes (generated .cpp).
struct DashboardFile {
  std::string_view name;
  std::string_view data;
};
std::span<const DashboardFile> dashboard_files();

// The Content-Type of a dashboard file, by its extension.
std::string_view dashboard_content_type(std::string_view name);
// The Content-Security-Policy sent with every dashboard answer.
inline constexpr std::string_view dashboard_csp =
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; "
    "base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

// Adds `GET /` (index.html) and `GET /dashboard/{file}` (404 for a name that is not embedded).
void add_dashboard_routes(Router& router);

}  // namespace mop::http
