// Routing: literal and {name} segments, %-decoding of parameters, 404 / 405 / 400 with Pulsar's
// {"reason": ...} body, the query ignored for matching.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "http/router.hpp"

namespace mop::http {
namespace {

Response call(const Router& router, std::string method, std::string target) {
  Response out;
  bool answered = false;
  router.handle(Request{std::move(method), std::move(target), {}}, [&](Response r) {
    EXPECT_FALSE(answered);
    answered = true;
    out = std::move(r);
  });
  EXPECT_TRUE(answered);
  return out;
}

Handler echo(std::string what) {
  return [what](const Request& req, const Params& p, Respond respond) {
    std::string body = what;
    for (const auto& [k, v] : p) body += " " + k + "=" + v;
    body += " q=" + std::string(req.query());
    Response r;
    r.body = body;
    respond(std::move(r));
  };
}

Router make_router() {
  Router r;
  r.add("GET", "/admin/v2/tenants", echo("tenants"));
  r.add("GET", "/admin/v2/persistent/{tenant}/{namespace}", echo("topics"));
  r.add("GET", "/admin/v2/persistent/{tenant}/{namespace}/{topic}/stats", echo("stats"));
  r.add("PUT", "/admin/v2/persistent/{tenant}/{namespace}/{topic}", echo("create"));
  return r;
}

TEST(Router, MatchesLiteralAndParameterSegments) {
  const Router r = make_router();
  EXPECT_EQ(call(r, "GET", "/admin/v2/tenants").body, "tenants q=");
  EXPECT_EQ(call(r, "GET", "/admin/v2/persistent/public/default").body, "topics namespace=default tenant=public q=");
  EXPECT_EQ(call(r, "GET", "/admin/v2/persistent/public/default/t1/stats?getPreciseBacklog=true").body,
            "stats namespace=default tenant=public topic=t1 q=getPreciseBacklog=true");
  // A trailing or doubled slash does not change the segments.
  EXPECT_EQ(call(r, "GET", "/admin/v2//tenants/").body, "tenants q=");
}

TEST(Router, DecodesParametersAsPulsarDoes) {
  const Router r = make_router();
  // An MQTT topic a/b is stored as a%2Fb; in a URL its %'s are escaped once more.
  EXPECT_EQ(call(r, "GET", "/admin/v2/persistent/public/default/a%252Fb/stats").body,
            "stats namespace=default tenant=public topic=a%2Fb q=");
  EXPECT_EQ(call(r, "GET", "/admin/v2/persistent/public/default/a+b%21/stats").body,
            "stats namespace=default tenant=public topic=a b! q=");
  const Response bad = call(r, "GET", "/admin/v2/persistent/public/default/a%2/stats");
  EXPECT_EQ(bad.status, 400u);
}

TEST(Router, UnknownPathIs404WithReason) {
  const Router r = make_router();
  const Response res = call(r, "GET", "/admin/v2/nothing");
  EXPECT_EQ(res.status, 404u);
  EXPECT_EQ(res.content_type, "application/json");
  EXPECT_EQ(nlohmann::json::parse(res.body).at("reason"), "Not Found");
  EXPECT_EQ(call(r, "GET", "/admin/v2/persistent/public/default/t1/stats/more").status, 404u);
}

TEST(Router, KnownPathWithOtherMethodIs405WithAllow) {
  const Router r = make_router();
  const Response res = call(r, "DELETE", "/admin/v2/tenants");
  EXPECT_EQ(res.status, 405u);
  EXPECT_EQ(nlohmann::json::parse(res.body).at("reason"), "Method Not Allowed");
  ASSERT_EQ(res.headers.size(), 1u);
  EXPECT_EQ(res.headers[0].first, "Allow");
  EXPECT_EQ(res.headers[0].second, "GET");
  EXPECT_EQ(call(r, "PUT", "/admin/v2/persistent/public/default/t1").body,
            "create namespace=default tenant=public topic=t1 q=");
  EXPECT_EQ(call(r, "GET", "/admin/v2/persistent/public/default/t1/stats").status, 200u);
}

TEST(Router, SplitsPaths) {
  EXPECT_EQ(split_path("/a/b/c"), (std::vector<std::string_view>{"a", "b", "c"}));
  EXPECT_EQ(split_path("/"), std::vector<std::string_view>{});
  EXPECT_EQ(split_path(""), std::vector<std::string_view>{});
  EXPECT_EQ(split_path("//a//"), std::vector<std::string_view>{"a"});
}

}  // namespace
}  // namespace mop::http
