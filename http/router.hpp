#pragma once
// Router: the HTTP routes of the web service, independent of the transport (server.hpp feeds it
// requests parsed by Boost.Beast). A route is a method and a path pattern of literal segments
// and `{name}` segments; a `{name}` segment matches one whole path segment, which reaches the
// handler %-decoded as Pulsar's REST API decodes it (Java's URLDecoder: `+` is a space), so a
// topic `a%2Fb` is written `a%252Fb` in a URL. Unknown paths answer 404, a known path with
// another method 405 (with Allow), both with Pulsar's `{"reason": "..."}` body.
//
// Handlers answer through `Respond`, now or later (the health check waits for a message);
// exactly once. Thread: the io_context's.
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace mop::http {

struct Request {
  std::string method;  // "GET", ...
  std::string target;  // as sent: path and query
  std::string body;
  std::string authorization;  // the Authorization header ("Bearer ...", "Basic ..."), if any
  // The path (before `?`) and the query (after it, without the `?`).
  std::string_view path() const;
  std::string_view query() const;
};

struct Response {
  unsigned status = 200;
  std::string content_type = "text/plain; charset=utf-8";
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;
};

using Params = std::map<std::string, std::string, std::less<>>;
using Respond = std::function<void(Response)>;
using Handler = std::function<void(const Request&, const Params&, Respond)>;

// A JSON body {"reason": reason} with `status` (Pulsar's error shape).
Response error_response(unsigned status, std::string_view reason);
// A JSON body with status 200.
Response json_response(std::string body);

class Router {
public:
  // Adds a route; a pattern starts with `/`. Routes are tried in the order they were added.
  void add(std::string method, std::string_view pattern, Handler handler);
  // Answers `request` through the matching route's handler, or 404/405.
  void handle(const Request& request, Respond respond) const;
  // Runs before every route (authentication when authenticationEnabled): an answer refuses the
  // request with it, nothing lets it through.
  using Guard = std::function<std::optional<Response>(const Request&)>;
  void set_guard(Guard guard) { guard_ = std::move(guard); }

private:
  struct Route {
    std::string method;
    std::vector<std::string> segments;  // "{name}" or a literal
    Handler handler;
  };
  std::vector<Route> routes_;
  Guard guard_;
};

// The path's segments, split on `/` (empty ones dropped), not decoded.
std::vector<std::string_view> split_path(std::string_view path);

}  // namespace mop::http
