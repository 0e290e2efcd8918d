// The start-up line of `mop standalone` (app/ready_line.hpp): one line, the fixed prefix, JSON
// that a standard parser reads back field by field. The process-level checks (it is printed once,
// after every listener listens, with the bound ports) are in tests/integration/test_server.py.
#include "app/ready_line.hpp"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

namespace mop::app {
namespace {

nlohmann::json parse(const std::string& line) {
  EXPECT_TRUE(line.starts_with(kReadyPrefix)) << line;
  EXPECT_EQ(line.find('\n'), std::string::npos) << line;
  return nlohmann::json::parse(line.substr(kReadyPrefix.size()));
}

TEST(ReadyLine, CarriesEveryListenerWithItsBoundPort) {
  ReadyInfo info;
  info.pid = 4242;
  info.mqtt.push_back({"127.0.0.1", 41883, "mqtt://127.0.0.1:41883"});
  info.mqtt.push_back({"::1", 41884, "mqtt://[::1]:41884"});
  info.pulsar = BoundListener{"127.0.0.1", 46650, "pulsar://broker.example:46650"};
  info.web = BoundListener{"127.0.0.1", 48080, "http://127.0.0.1:48080"};
  info.web_tls = BoundListener{"127.0.0.1", 48443, "https://127.0.0.1:48443"};
  const auto j = parse(ready_line(info));
  EXPECT_EQ(j.at("pid"), 4242);
  ASSERT_EQ(j.at("mqtt").size(), 2u);
  EXPECT_EQ(j.at("mqtt")[0].at("host"), "127.0.0.1");
  EXPECT_EQ(j.at("mqtt")[0].at("port"), 41883);
  EXPECT_EQ(j.at("mqtt")[0].at("url"), "mqtt://127.0.0.1:41883");
  EXPECT_EQ(j.at("mqtt")[1].at("host"), "::1");
  EXPECT_EQ(j.at("mqtt")[1].at("port"), 41884);
  EXPECT_EQ(j.at("mqtt")[1].at("url"), "mqtt://[::1]:41884");
  EXPECT_EQ(j.at("pulsar").at("host"), "127.0.0.1");
  EXPECT_EQ(j.at("pulsar").at("port"), 46650);
  EXPECT_EQ(j.at("pulsar").at("url"), "pulsar://broker.example:46650");
  EXPECT_EQ(j.at("web").at("host"), "127.0.0.1");
  EXPECT_EQ(j.at("web").at("port"), 48080);
  EXPECT_EQ(j.at("web").at("url"), "http://127.0.0.1:48080");
  EXPECT_EQ(j.at("webTls").at("port"), 48443);
  EXPECT_EQ(j.at("webTls").at("url"), "https://127.0.0.1:48443");
}

TEST(ReadyLine, PulsarAndWebAreNullWhenTheirListenersDidNotStartAndMqttMayBeEmpty) {
  ReadyInfo info;
  info.pid = 7;
  const auto j = parse(ready_line(info));
  EXPECT_TRUE(j.at("pulsar").is_null());
  EXPECT_TRUE(j.at("web").is_null());
  EXPECT_TRUE(j.at("webTls").is_null());
  EXPECT_TRUE(j.at("mqtt").is_array());
  EXPECT_TRUE(j.at("mqtt").empty());
}

TEST(ReadyLine, StaysOneLineWhateverTheHostNameHolds) {
  // Host names come from the configuration; even an odd one cannot split or break the line.
  ReadyInfo info;
  info.mqtt.push_back({"a\"b\nc", 1, "mqtt://a\"b\nc:1"});
  const auto j = parse(ready_line(info));
  EXPECT_EQ(j.at("mqtt")[0].at("host"), "a\"b\nc");
}

}  // namespace
}  // namespace mop::app
