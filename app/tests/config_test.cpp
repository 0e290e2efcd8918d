#include "app/config.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>

namespace mop::app {
namespace {

using ::testing::HasSubstr;

// Loads `text` as if it were the file "test.conf"; fails the test if loading failed.
Config load_ok(std::string_view text, const Overrides& overrides = {},
               std::vector<std::string>* warnings = nullptr) {
  std::vector<std::string> local;
  auto r = load_config_text(text, "test.conf", overrides, warnings ? warnings : &local);
  if (!r.ok()) {
    const auto* errs = &r.error();
    std::string all;
    for (const auto& e : *errs) all += e.message + "\n";
    ADD_FAILURE() << "unexpected errors:\n" << all;
    return Config{};
  }
  return std::move(r).value();
}

// Loads `text`, expecting failure; returns the errors.
std::vector<ConfigError> load_err(std::string_view text, const Overrides& overrides = {}) {
  std::vector<std::string> warnings;
  auto r = load_config_text(text, "test.conf", overrides, &warnings);
  if (r.ok()) {
    ADD_FAILURE() << "loading succeeded, errors expected for:\n" << text;
    return {};
  }
  return std::move(r).error();
}

// The single error of a one-key failure, checked to name the key, the value and the source.
void expect_one_error(std::string_view text, const std::string& key, const std::string& value,
                      const std::string& source = "test.conf:1") {
  SCOPED_TRACE(std::string(text));
  const auto errs = load_err(text);
  ASSERT_EQ(errs.size(), 1u);
  EXPECT_EQ(errs[0].key, key);
  EXPECT_THAT(errs[0].message, HasSubstr(key));
  EXPECT_THAT(errs[0].message, HasSubstr("\"" + value + "\""));
  EXPECT_THAT(errs[0].message, HasSubstr(source));
  EXPECT_THAT(errs[0].message, HasSubstr("expected"));
}

std::string read_file(const std::filesystem::path& p) {
  std::ifstream in(p);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

TEST(ConfigDefaults, MatchTheDocumentedValues) {
  const Config c = load_ok("");
  EXPECT_EQ(c.messagingProtocols, std::vector<std::string>{"mqtt"});
  ASSERT_EQ(c.mqttListeners.size(), 1u);
  EXPECT_EQ(c.mqttListeners[0], (Listener{"mqtt", "127.0.0.1", 1883}));
  EXPECT_EQ(c.advertisedAddress, "");
  EXPECT_EQ(c.brokerServicePort, 6650);
  EXPECT_EQ(c.webServicePort, 8080);
  EXPECT_EQ(c.defaultTenant, "public");
  EXPECT_EQ(c.defaultNamespace, "default");
  EXPECT_EQ(c.defaultTopicDomain, TopicDomain::persistent);
  EXPECT_EQ(c.mqttMessageMaxLength, 1048576u);
  EXPECT_EQ(c.receiveMaximum, 1000);
  EXPECT_EQ(c.dataDir, "./data");
  EXPECT_EQ(c.logLevel, "info");
  EXPECT_FALSE(c.mqttProxyEnabled);
  EXPECT_EQ(c.mqttProxyPort, 5682);
  EXPECT_FALSE(c.mqttAuthenticationEnabled);
  EXPECT_TRUE(c.journalSyncData);
  EXPECT_TRUE(c.allowAutoTopicCreation);
  EXPECT_EQ(c.maxMessageSize, 5242880u);
  EXPECT_TRUE(c.sources.empty());
  EXPECT_TRUE(c.serves_mqtt());
}

TEST(ConfigDefaults, NoFileLoadsDefaultsWithoutWarnings) {
  std::vector<std::string> warnings;
  auto r = load_config(std::nullopt, {}, &warnings);
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(warnings.empty());
  EXPECT_EQ(r.value().describe(), Config{}.describe());
}

TEST(ConfigDefaults, KeyDocsPrintTheStructDefaults) {
  std::map<std::string, std::string> defaults;
  for (const auto& k : config_keys()) {
    defaults[k.name] = k.default_value;
    EXPECT_FALSE(k.description.empty()) << k.name;
    EXPECT_FALSE(k.expected.empty()) << k.name;
  }
  EXPECT_EQ(defaults["mqttListeners"], "mqtt://127.0.0.1:1883");
  EXPECT_EQ(defaults["mqttMessageMaxLength"], "1048576");
  EXPECT_EQ(defaults["defaultTopicDomain"], "persistent");
  EXPECT_EQ(defaults["journalSyncData"], "true");
  EXPECT_EQ(defaults["advertisedAddress"], "");
  EXPECT_EQ(defaults["receiveMaximum"], "1000");
  EXPECT_EQ(defaults["mqttTopicAliasMaximum"], "10");
  EXPECT_EQ(defaults["mqttServerKeepAlive"], "0");
  EXPECT_EQ(defaults["mqttMaxConnections"], "0");
  EXPECT_EQ(defaults["mqttMaxQueuedBytes"], "1048576");
  EXPECT_EQ(defaults["allowAutoTopicCreationType"], "non-partitioned");
  EXPECT_EQ(defaults["defaultNumPartitions"], "1");
  EXPECT_EQ(defaults["brokerDeduplicationEnabled"], "false");
  EXPECT_EQ(defaults["maxMessagePublishBufferSizeInMB"], "64");
  EXPECT_EQ(defaults["defaultRetentionTimeInMinutes"], "0");
  EXPECT_EQ(defaults["defaultRetentionSizeInMB"], "0");
  EXPECT_EQ(defaults["ttlDurationDefaultInSeconds"], "0");
  EXPECT_EQ(defaults["statsUpdateFrequencyInSecs"], "60");
  EXPECT_EQ(defaults["sysInterval"], "0");
  EXPECT_EQ(defaults["backlogQuotaDefaultLimitBytes"], "-1");
  EXPECT_EQ(defaults["backlogQuotaDefaultRetentionPolicy"], "producer_exception");
  EXPECT_EQ(defaults["pulsarChannelWriteBufferHighWaterMark"], "4194304");
  EXPECT_EQ(defaults["pulsarChannelWriteBufferLowWaterMark"], "1048576");
  EXPECT_EQ(defaults["keepAliveIntervalSeconds"], "30");
  EXPECT_EQ(defaults["brokerServicePortTls"], "-1");
  EXPECT_EQ(defaults["webServicePortTls"], "-1");
  EXPECT_EQ(defaults["tlsCertRefreshCheckDurationSec"], "300");
  EXPECT_EQ(defaults["mqttTlsCertRefreshCheckDurationSec"], "300");
  EXPECT_EQ(defaults["webSocketPath"], "/mqtt");
  EXPECT_EQ(defaults["webSocketMaxFrameSize"], "65535");
  EXPECT_EQ(defaults["tokenPublicAlg"], "RS256");
  EXPECT_EQ(defaults["tokenAuthClaim"], "sub");
  EXPECT_EQ(defaults["authenticationRefreshCheckSeconds"], "60");
  EXPECT_EQ(defaults["mqttAuthenticationMethods"], "");
  EXPECT_EQ(defaults["superUserRoles"], "");
  EXPECT_EQ(defaults["storeBlobMinSizeBytes"], "4096");
  EXPECT_EQ(defaults["storeEntryLogMinSizeBytes"], "16384");
  EXPECT_EQ(defaults["journalPreAllocSizeMB"], "4");
  EXPECT_EQ(config_keys().size(), 79u);
}

TEST(ConfigFile, PartitionedAutoCreation) {
  const Config c = load_ok("allowAutoTopicCreationType=Partitioned\ndefaultNumPartitions=4\n");
  EXPECT_TRUE(c.autoTopicCreationPartitioned);
  EXPECT_EQ(c.defaultNumPartitions, 4u);
  EXPECT_FALSE(load_ok("allowAutoTopicCreationType=non-partitioned\n").autoTopicCreationPartitioned);
  expect_one_error("allowAutoTopicCreationType=sharded\n", "allowAutoTopicCreationType", "sharded");
  expect_one_error("defaultNumPartitions=0\n", "defaultNumPartitions", "0");
  EXPECT_TRUE(load_ok("brokerDeduplicationEnabled=true\n").brokerDeduplicationEnabled);
}

TEST(ConfigFile, CommentsBlankLinesWhitespaceAndEqualsInValue) {
  const Config c = load_ok(
      "# a comment line\n"
      "\n"
      "   # an indented comment with key=value in it\n"
      "  defaultTenant   =   acme  \n"
      "\t\n"
      "dataDir=/var/lib/mop/a=b\n"
      "defaultNamespace=ns\r\n");  // CRLF from an editor on Windows
  EXPECT_EQ(c.defaultTenant, "acme");
  EXPECT_EQ(c.dataDir, "/var/lib/mop/a=b");
  EXPECT_EQ(c.defaultNamespace, "ns");
  EXPECT_EQ(c.sources.at("defaultTenant"), "test.conf:4");
  EXPECT_EQ(c.sources.at("dataDir"), "test.conf:6");
}

TEST(ConfigFile, HashInsideAValueIsNotAComment) {
  // Pulsar reads whole-line comments only; a trailing "# note" is part of the value.
  const auto errs = load_err("brokerServicePort=6650 # pulsar\n");
  ASSERT_EQ(errs.size(), 1u);
  EXPECT_EQ(errs[0].key, "brokerServicePort");
}

TEST(ConfigFile, EmptyValueMeansDefaultForScalarsAndEmptyForLists) {
  std::vector<std::string> warnings;
  const Config c = load_ok(
      "brokerServicePort=7000\n"
      "brokerServicePort=\n"
      "advertisedAddress=\n"
      "messagingProtocols=\n",
      {}, &warnings);
  EXPECT_EQ(c.brokerServicePort, 6650);
  EXPECT_EQ(c.advertisedAddress, "");
  EXPECT_TRUE(c.messagingProtocols.empty());
  EXPECT_FALSE(c.serves_mqtt());
  bool warned = false;
  for (const auto& w : warnings) warned |= w.find("does not list mqtt") != std::string::npos;
  EXPECT_TRUE(warned);
}

TEST(ConfigFile, KeySetTwiceWarnsAndTheLaterWins) {
  std::vector<std::string> warnings;
  const Config c = load_ok("webServicePort=1\nwebServicePort=2\n", {}, &warnings);
  EXPECT_EQ(c.webServicePort, 2);
  ASSERT_EQ(warnings.size(), 1u);
  EXPECT_THAT(warnings[0], HasSubstr("test.conf:2"));
  EXPECT_THAT(warnings[0], HasSubstr("test.conf:1"));
}

TEST(ConfigFile, LineWithoutEqualsIsAnError) {
  const auto errs = load_err("defaultTenant=a\njust some words\n=value\n");
  ASSERT_EQ(errs.size(), 2u);
  EXPECT_THAT(errs[0].message, HasSubstr("test.conf:2"));
  EXPECT_THAT(errs[1].message, HasSubstr("test.conf:3"));
}

TEST(ConfigFile, MissingFileIsAnError) {
  auto r = load_config(std::string("/nonexistent/mop.conf"), {}, nullptr);
  ASSERT_FALSE(r.ok());
  const auto& errs = r.error();
  ASSERT_EQ(errs.size(), 1u);
  EXPECT_THAT(errs[0].message, HasSubstr("/nonexistent/mop.conf"));
}

TEST(ConfigFile, RealFileNamesItselfInMessages) {
  const auto path = std::filesystem::temp_directory_path() / "mop_config_test.conf";
  std::ofstream(path) << "# header\nreceiveMaximum=abc\n";
  auto r = load_config(path.string(), {}, nullptr);
  std::filesystem::remove(path);
  ASSERT_FALSE(r.ok());
  const auto& errs = r.error();
  ASSERT_EQ(errs.size(), 1u);
  EXPECT_THAT(errs[0].message, HasSubstr(path.string() + ":2"));
  EXPECT_THAT(errs[0].message, HasSubstr("receiveMaximum"));
}

TEST(ConfigOverrides, BeatTheFile) {
  const Config c = load_ok("defaultTenant=fromfile\nwebServicePort=9000\n",
                           {{"defaultTenant", "fromflag"}, {"logLevel", "DEBUG"}});
  EXPECT_EQ(c.defaultTenant, "fromflag");
  EXPECT_EQ(c.webServicePort, 9000);
  EXPECT_EQ(c.logLevel, "debug");
  EXPECT_EQ(c.sources.at("defaultTenant"), "command line");
  EXPECT_EQ(c.sources.at("webServicePort"), "test.conf:2");
}

TEST(ConfigOverrides, BadValueNamesTheCommandLine) {
  const auto errs = load_err("", {{"webServicePort", "http"}});
  ASSERT_EQ(errs.size(), 1u);
  EXPECT_EQ(errs[0].key, "webServicePort");
  EXPECT_THAT(errs[0].message, HasSubstr("command line"));
  EXPECT_THAT(errs[0].message, HasSubstr("\"http\""));
}

TEST(ConfigOverrides, EveryKeyCanBeOverridden) {
  // The generic --anyKey=value form: setting each key to its own default from the command line
  // must work and be recorded as coming from there.
  Overrides all;
  for (const auto& k : config_keys()) all.emplace_back(k.name, k.default_value);
  const Config c = load_ok("", all);
  for (const auto& k : config_keys()) EXPECT_EQ(c.sources.at(k.name), "command line") << k.name;
  Config expected;
  expected.sources = c.sources;
  EXPECT_EQ(c.describe(), expected.describe());
}

TEST(ConfigCommandLine, ParsesBothFormsConfigFileAndHelp) {
  const std::vector<std::string> args = {
      "-c",     "my.conf", "--defaultTenant=t=1",           "--dataDir",
      "/tmp/d", "--help",  "--mqttListeners=mqtt://[::1]:0"};
  auto r = parse_command_line(args);
  ASSERT_TRUE(r.ok());
  const auto& cl = r.value();
  EXPECT_EQ(cl.config_file, "my.conf");
  EXPECT_TRUE(cl.help);
  const Overrides expected = {
      {"defaultTenant", "t=1"}, {"dataDir", "/tmp/d"}, {"mqttListeners", "mqtt://[::1]:0"}};
  EXPECT_EQ(cl.overrides, expected);

  for (const auto& form :
       {std::vector<std::string>{"--config=x.conf"}, std::vector<std::string>{"--config", "x.conf"},
        std::vector<std::string>{"-cx.conf"}}) {
    auto r2 = parse_command_line(form);
    ASSERT_TRUE(r2.ok()) << form[0];
    EXPECT_EQ(r2.value().config_file, "x.conf");
  }
}

TEST(ConfigCommandLine, RejectsMissingValuesAndStrayArguments) {
  const std::vector<std::string> args = {"--dataDir", "--logLevel=info", "stray", "-c"};
  auto r = parse_command_line(args);
  ASSERT_FALSE(r.ok());
  const auto& errs = r.error();
  ASSERT_EQ(errs.size(), 3u);
  EXPECT_THAT(errs[0].message, HasSubstr("--dataDir"));
  EXPECT_THAT(errs[1].message, HasSubstr("stray"));
  EXPECT_THAT(errs[2].message, HasSubstr("-c"));
}

TEST(ConfigWarnings, UnknownKeyWarnsWithFileLineAndSuggestion) {
  std::vector<std::string> warnings;
  const Config c = load_ok("\nmqttListener=mqtt://0.0.0.0:1883\nfrobnicate=1\n", {}, &warnings);
  EXPECT_EQ(c.mqttListeners, Config{}.mqttListeners);  // the typo changed nothing
  ASSERT_EQ(warnings.size(), 2u);
  EXPECT_THAT(warnings[0], HasSubstr("test.conf:2"));
  EXPECT_THAT(warnings[0], HasSubstr("mqttListener"));
  EXPECT_THAT(warnings[0], HasSubstr("did you mean mqttListeners"));
  EXPECT_THAT(warnings[1], HasSubstr("test.conf:3"));
  EXPECT_THAT(warnings[1], HasSubstr("frobnicate"));
}

TEST(ConfigWarnings, UnknownKeyOnTheCommandLineWarns) {
  std::vector<std::string> warnings;
  load_ok("", {{"noSuchKey", "1"}}, &warnings);
  ASSERT_EQ(warnings.size(), 1u);
  EXPECT_THAT(warnings[0], HasSubstr("command line"));
  EXPECT_THAT(warnings[0], HasSubstr("noSuchKey"));
}

TEST(ConfigWarnings, CompatibilityKeysAreAcceptedWithANote) {
  std::vector<std::string> warnings;
  load_ok(
      "clusterName=standalone\n"
      "managedLedgerDefaultEnsembleSize=1\n"
      "bookkeeperClientTimeoutInSeconds=30\n"
      "tlsEnabledWithKeyStore=false\n"
      "bindAddress=0.0.0.0\n",
      {}, &warnings);
  ASSERT_EQ(warnings.size(), 5u);
  for (const auto& w : warnings) EXPECT_THAT(w, HasSubstr("compatibility"));
  EXPECT_THAT(warnings[1], HasSubstr("test.conf:2"));
  EXPECT_THAT(warnings[1], HasSubstr("managedLedgerDefaultEnsembleSize"));
}

TEST(ConfigErrors, EachBadValueKindNamesKeyValueAndSource) {
  expect_one_error("brokerServicePort=abc\n", "brokerServicePort", "abc");
  expect_one_error("brokerServicePort=65536\n", "brokerServicePort", "65536");
  expect_one_error("webServicePort=-1\n", "webServicePort", "-1");
  expect_one_error("receiveMaximum=0\n", "receiveMaximum", "0");
  expect_one_error("maxMessageSize=99999999999999999999999\n", "maxMessageSize",
                   "99999999999999999999999");
  expect_one_error("journalSyncData=yes\n", "journalSyncData", "yes");
  expect_one_error("mqttListeners=tcp://127.0.0.1:1883\n", "mqttListeners", "tcp://127.0.0.1:1883");
  expect_one_error("defaultTopicDomain=durable\n", "defaultTopicDomain", "durable");
  expect_one_error("logLevel=verbose\n", "logLevel", "verbose");
  expect_one_error("defaultTenant=a/b\n", "defaultTenant", "a/b");
  expect_one_error("advertisedAddress=my host\n", "advertisedAddress", "my host");
  expect_one_error("# c\nmqttProxyPort=1.5\n", "mqttProxyPort", "1.5", "test.conf:2");
}

TEST(ConfigErrors, AllErrorsAreCollected) {
  const auto errs = load_err(
      "brokerServicePort=x\n"
      "journalSyncData=1\n"
      "defaultTopicDomain=p\n",
      {{"mqttMessageMaxLength", "8"}});
  ASSERT_EQ(errs.size(), 4u);
  EXPECT_EQ(errs[0].key, "brokerServicePort");
  EXPECT_EQ(errs[1].key, "journalSyncData");
  EXPECT_EQ(errs[2].key, "defaultTopicDomain");
  EXPECT_EQ(errs[3].key, "mqttMessageMaxLength");
}

TEST(ConfigRetention, PulsarKeysAndTheirChecks) {
  const Config d = load_ok("");
  EXPECT_EQ(d.defaultRetentionTimeInMinutes, 0);
  EXPECT_EQ(d.defaultRetentionSizeInMB, 0);
  EXPECT_EQ(d.ttlDurationDefaultInSeconds, 0u);
  EXPECT_EQ(d.backlogQuotaDefaultLimitBytes, -1);
  EXPECT_FALSE(d.backlogQuotaEviction);
  const Config c = load_ok(
      "defaultRetentionTimeInMinutes=-1\ndefaultRetentionSizeInMB=100\nttlDurationDefaultInSeconds=3600\n"
      "backlogQuotaDefaultLimitBytes=1073741824\nbacklogQuotaDefaultRetentionPolicy=Consumer_Backlog_Eviction\n");
  EXPECT_EQ(c.defaultRetentionTimeInMinutes, -1);
  EXPECT_EQ(c.defaultRetentionSizeInMB, 100);
  EXPECT_EQ(c.ttlDurationDefaultInSeconds, 3600u);
  EXPECT_EQ(c.backlogQuotaDefaultLimitBytes, 1073741824);
  EXPECT_TRUE(c.backlogQuotaEviction);
  // One retention limit at 0 and the other not: refused, as pulsar-admin does.
  auto errs = load_err("defaultRetentionTimeInMinutes=60\n");
  ASSERT_EQ(errs.size(), 1u);
  EXPECT_THAT(errs[0].message, HasSubstr("both"));
  errs = load_err("backlogQuotaDefaultRetentionPolicy=producer_request_hold\n");
  ASSERT_EQ(errs.size(), 1u);
  EXPECT_EQ(errs[0].key, "backlogQuotaDefaultRetentionPolicy");
  EXPECT_THAT(errs[0].message, HasSubstr("not supported"));
  EXPECT_EQ(load_err("defaultRetentionSizeInMB=-2\ndefaultRetentionTimeInMinutes=1\n")[0].key, "defaultRetentionSizeInMB");
}

TEST(ConfigWriteBuffer, WaterMarksAndTheirCheck) {
  const Config c = load_ok("pulsarChannelWriteBufferHighWaterMark=65536\npulsarChannelWriteBufferLowWaterMark=32768\n");
  EXPECT_EQ(c.pulsarChannelWriteBufferHighWaterMark, 65536u);
  EXPECT_EQ(c.pulsarChannelWriteBufferLowWaterMark, 32768u);
  EXPECT_EQ(load_ok("pulsarChannelWriteBufferHighWaterMark=0\n").pulsarChannelWriteBufferHighWaterMark, 0u);
  // A low mark above the high one would never let a paused connection read again.
  const auto errs = load_err("pulsarChannelWriteBufferHighWaterMark=65536\npulsarChannelWriteBufferLowWaterMark=65537\n");
  ASSERT_EQ(errs.size(), 1u);
  EXPECT_EQ(errs[0].key, "pulsarChannelWriteBufferLowWaterMark");
  EXPECT_THAT(errs[0].message, HasSubstr("must not exceed"));
}

TEST(ConfigBool, TrueAndFalseInAnyCaseOnly) {
  EXPECT_TRUE(load_ok("allowAutoTopicCreation=TRUE\n").allowAutoTopicCreation);
  EXPECT_FALSE(load_ok("allowAutoTopicCreation=False\n").allowAutoTopicCreation);
  EXPECT_FALSE(load_ok("journalSyncData=false\n").journalSyncData);
  for (const char* bad : {"1", "0", "on", "yes", "t", "truee"}) {
    const auto errs = load_err(std::string("allowAutoTopicCreation=") + bad + "\n");
    ASSERT_EQ(errs.size(), 1u) << bad;
    EXPECT_EQ(errs[0].key, "allowAutoTopicCreation");
  }
}

TEST(ConfigBool, OldProxyKeyNameIsRead) {
  std::vector<std::string> warnings;
  const Config c = load_ok("mqttProxyEnable=true\n", {}, &warnings);
  EXPECT_TRUE(c.mqttProxyEnabled);
  EXPECT_EQ(c.sources.at("mqttProxyEnabled"), "test.conf:1");
  // Accepted, but the user learns that it does nothing in standalone yet.
  ASSERT_EQ(warnings.size(), 1u);
  EXPECT_THAT(warnings[0], HasSubstr("mqttProxyEnabled"));
}

TEST(ConfigLimits, MqttMessageMaxLength) {
  EXPECT_EQ(load_ok("mqttMessageMaxLength=16\n").mqttMessageMaxLength, 16u);
  EXPECT_EQ(load_ok("mqttMessageMaxLength=268435460\n").mqttMessageMaxLength, 268435460u);
  EXPECT_EQ(load_ok("mqttMessageMaxLength=8092\n").mqttMessageMaxLength, 8092u);
  expect_one_error("mqttMessageMaxLength=15\n", "mqttMessageMaxLength", "15");
  expect_one_error("mqttMessageMaxLength=268435461\n", "mqttMessageMaxLength", "268435461");
  expect_one_error("mqttMessageMaxLength=1MB\n", "mqttMessageMaxLength", "1MB");
}

TEST(ConfigListeners, SeveralIncludingIpv6) {
  const Config c = load_ok(
      "mqttListeners= mqtt://127.0.0.1:1883 , mqtt://[::1]:1883,mqtt://0.0.0.0:0,"
      "MQTT://[fe80::1%eth0]:2000,mqtt://broker.example.com:65535\n");
  const std::vector<Listener> expected = {{"mqtt", "127.0.0.1", 1883},
                                          {"mqtt", "::1", 1883},
                                          {"mqtt", "0.0.0.0", 0},
                                          {"mqtt", "fe80::1%eth0", 2000},
                                          {"mqtt", "broker.example.com", 65535}};
  EXPECT_EQ(c.mqttListeners, expected);
  EXPECT_EQ(c.mqttListeners[1].to_string(), "mqtt://[::1]:1883");
  EXPECT_EQ(c.mqttListeners[0].to_string(), "mqtt://127.0.0.1:1883");
}

TEST(ConfigListeners, ParserAcceptsEveryMopScheme) {
  auto r = parse_listeners("mqtt+ssl://h:8883,mqtt+ssl+psk://h:8884,ws://h:8083,ws+ssl://h:8084");
  ASSERT_TRUE(r.ok());
  const auto& ls = r.value();
  ASSERT_EQ(ls.size(), 4u);
  EXPECT_EQ(ls[0].scheme, "mqtt+ssl");
  EXPECT_EQ(ls[1].scheme, "mqtt+ssl+psk");
  EXPECT_EQ(ls[2].scheme, "ws");
  EXPECT_EQ(ls[3].scheme, "ws+ssl");
}

TEST(ConfigListeners, TlsListenersNeedACertificateAndPskListenersIdentities) {
  auto errs = load_err(
      "mqttListeners=mqtt://127.0.0.1:1883,ws://127.0.0.1:8083,"
      "mqtt+ssl://127.0.0.1:8883\n");
  ASSERT_EQ(errs.size(), 1u);
  EXPECT_EQ(errs[0].key, "mqttTlsCertificateFilePath");
  EXPECT_THAT(errs[0].message, HasSubstr("tlsCertificateFilePath"));
  // MoP's fallback: Pulsar's unprefixed keys serve the MQTT listeners too.
  auto c = load_ok(
      "mqttListeners=ws+ssl://127.0.0.1:8084\ntlsCertificateFilePath=/c.pem\ntlsKeyFilePath=/k.pem\n"
      "mqttTlsKeyFilePath=/mk.pem\ntlsRequireTrustedClientCertOnConnect=true\ntlsTrustCertsFilePath=/ca.pem\n");
  EXPECT_EQ(c.mqtt_tls().certificate_file, "/c.pem");
  EXPECT_EQ(c.mqtt_tls().key_file, "/mk.pem");
  EXPECT_TRUE(c.mqtt_tls().require_trusted_client_cert);
  EXPECT_EQ(c.pulsar_tls().key_file, "/k.pem");
  errs = load_err("mqttListeners=mqtt+ssl+psk://127.0.0.1:8884\n");
  ASSERT_EQ(errs.size(), 1u);
  EXPECT_EQ(errs[0].key, "mqttTlsPskEnabled");
  errs = load_err("mqttListeners=mqtt+ssl+psk://127.0.0.1:8884\nmqttTlsPskEnabled=true\n");
  ASSERT_EQ(errs.size(), 1u);
  EXPECT_EQ(errs[0].key, "mqttTlsPskIdentity");
  c = load_ok("mqttListeners=mqtt+ssl+psk://127.0.0.1:8884\ntlsPskEnabled=true\nmqttTlsPskIdentity=a:b\n");
  EXPECT_TRUE(c.mqttTlsPskEnabled);
  errs = load_err("mqttTlsProtocols=TLSv1.2,SSLv3\n");
  ASSERT_EQ(errs.size(), 1u);
  EXPECT_THAT(errs[0].message, HasSubstr("SSLv3"));
  errs = load_err("brokerServicePortTls=0\n");
  ASSERT_EQ(errs.size(), 1u);
  EXPECT_EQ(errs[0].key, "tlsCertificateFilePath");
  errs = load_err("webServicePortTls=0\n");
  ASSERT_EQ(errs.size(), 1u);
  EXPECT_EQ(errs[0].key, "tlsCertificateFilePath");
  EXPECT_THAT(errs[0].message, HasSubstr("webServicePortTls"));
  errs = load_err("webServicePortTls=0\ntlsCertificateFilePath=/c.pem\ntlsKeyFilePath=/k.pem\n"
                  "tlsRequireTrustedClientCertOnConnect=true\n");
  ASSERT_EQ(errs.size(), 1u);
  EXPECT_EQ(errs[0].key, "tlsTrustCertsFilePath");
  errs = load_err("webServicePortTls=9443\nbrokerServicePortTls=9443\ntlsCertificateFilePath=/c.pem\n"
                  "tlsKeyFilePath=/k.pem\n");
  ASSERT_EQ(errs.size(), 1u);
  EXPECT_EQ(errs[0].key, "webServicePortTls");
  c = load_ok("webServicePortTls=0\ntlsCertificateFilePath=/c.pem\ntlsKeyFilePath=/k.pem\n");
  EXPECT_EQ(c.webServicePortTls, 0);
}

TEST(ConfigListeners, MalformedEntriesAreRejected) {
  for (const char* bad : {"127.0.0.1:1883", "mqtt://127.0.0.1", "mqtt://:1883", "mqtt://::1:1883",
                          "mqtt://[::1:1883", "mqtt://[::1]1883", "mqtt://[nothex]:1", "mqtt://h:x",
                          "mqtt://h:70000", "mqtt://h:1883/path", "mqtt://a b:1"}) {
    auto r = parse_listeners(bad);
    EXPECT_FALSE(r.ok()) << bad;
  }
  auto r = parse_listeners("mqtt://::1:1883");
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(r.error(), HasSubstr("brackets"));
}

TEST(ConfigListeners, ErrorNamesTheBadEntryOfSeveral) {
  const auto errs = load_err("mqttListeners=mqtt://127.0.0.1:1883,mqtt://h:99999\n");
  ASSERT_EQ(errs.size(), 1u);
  EXPECT_THAT(errs[0].message, HasSubstr("bad entry \"mqtt://h:99999\""));
  EXPECT_THAT(errs[0].message, HasSubstr("out of range"));
}

TEST(ConfigListeners, DuplicatesAndPortClashesAreErrors) {
  auto errs = load_err("mqttListeners=mqtt://127.0.0.1:1883,mqtt://127.0.0.1:1883\n");
  ASSERT_EQ(errs.size(), 1u);
  EXPECT_THAT(errs[0].message, HasSubstr("twice"));
  // Same port on different addresses is fine, and so is port 0 twice.
  load_ok("mqttListeners=mqtt://127.0.0.1:1883,mqtt://[::1]:1883,mqtt://[::1]:0,mqtt://[::1]:0\n");
  errs = load_err("mqttListeners=mqtt://0.0.0.0:6650\n");
  ASSERT_EQ(errs.size(), 1u);
  EXPECT_THAT(errs[0].message, HasSubstr("brokerServicePort"));
  errs = load_err("webServicePort=6650\n");
  ASSERT_EQ(errs.size(), 1u);
  EXPECT_EQ(errs[0].key, "webServicePort");
}

TEST(ConfigListeners, EmptyListIsAnErrorWhenMqttIsServed) {
  const auto errs = load_err("mqttListeners=\n");
  ASSERT_EQ(errs.size(), 1u);
  EXPECT_EQ(errs[0].key, "mqttListeners");
}

TEST(ConfigValidate, AuthenticationNeedsMethodsAndTheirKeys) {
  auto errs = load_err("mqttAuthenticationEnabled=true\n");
  ASSERT_EQ(errs.size(), 1u);
  EXPECT_EQ(errs[0].key, "mqttAuthenticationMethods");
  errs = load_err("mqttAuthenticationEnabled=true\nmqttAuthenticationMethods=basic,kerberos\n");
  ASSERT_EQ(errs.size(), 2u);  // kerberos, and basic without basicAuthConf
  EXPECT_THAT(errs[0].message, HasSubstr("kerberos"));
  EXPECT_EQ(errs[1].key, "basicAuthConf");
  errs = load_err("authenticationEnabled=true\n"
                  "authenticationProviders=org.apache.pulsar.broker.authentication.AuthenticationProviderToken\n");
  ASSERT_EQ(errs.size(), 1u);
  EXPECT_EQ(errs[0].key, "tokenSecretKey");
  errs = load_err("authenticationEnabled=true\nauthenticationProviders=com.example.Custom\ntokenSecretKey=abc\n");
  ASSERT_EQ(errs.size(), 1u);
  EXPECT_THAT(errs[0].message, HasSubstr("com.example.Custom"));
  const Config c = load_ok(
      "mqttAuthenticationEnabled=true\nmqttAuthenticationMethods=token, basic\nbasicAuthConf=/etc/users\n"
      "tokenSecretKey=file:///etc/secret.key\nauthenticationEnabled=true\n"
      "authenticationProviders=org.apache.pulsar.broker.authentication.AuthenticationProviderBasic,"
      "org.apache.pulsar.broker.authentication.AuthenticationProviderToken\n");
  EXPECT_EQ(c.mqttAuthenticationMethods, (std::vector<std::string>{"token", "basic"}));
  EXPECT_EQ(c.pulsar_authentication_methods(), (std::vector<std::string>{"basic", "token"}));
  expect_one_error("tokenPublicAlg=HS256\n", "tokenPublicAlg", "HS256");
  load_ok("mqttAuthenticationEnabled=false\n");
  errs = load_err("mqttAuthorizationEnabled=true\n");
  ASSERT_EQ(errs.size(), 1u);
  EXPECT_THAT(errs[0].message, HasSubstr("needs mqttAuthenticationEnabled"));
  errs = load_err("authorizationEnabled=true\n");
  ASSERT_EQ(errs.size(), 1u);
  EXPECT_THAT(errs[0].message, HasSubstr("needs authenticationEnabled"));
}

TEST(ConfigValidate, TlsAuthenticationNeedsNoKeysButPulsarsTlsProviderNeedsTrustedCas) {
  // mTLS as MQTT authentication (Pulsar's method name `tls`): the listener's trusted CAs do the
  // checking, so no basicAuthConf or token key is needed.
  Config c = load_ok("mqttAuthenticationEnabled=true\nmqttAuthenticationMethods=tls\n");
  EXPECT_EQ(c.mqttAuthenticationMethods, (std::vector<std::string>{"tls"}));
  // Pulsar's AuthenticationProviderTls on the Pulsar port and HTTP: the CAs must be there.
  const auto errs = load_err(
      "authenticationEnabled=true\n"
      "authenticationProviders=org.apache.pulsar.broker.authentication.AuthenticationProviderTls\n");
  ASSERT_EQ(errs.size(), 1u);
  EXPECT_EQ(errs[0].key, "tlsTrustCertsFilePath");
  c = load_ok(
      "authenticationEnabled=true\ntlsTrustCertsFilePath=/ca.pem\n"
      "authenticationProviders=org.apache.pulsar.broker.authentication.AuthenticationProviderTls,token\n"
      "tokenSecretKey=abc\n");
  EXPECT_EQ(c.pulsar_authentication_methods(), (std::vector<std::string>{"tls", "token"}));
}

TEST(ConfigValidate, AdvertisedAddressDefaultsToListenerHost) {
  Config c = load_ok("");
  EXPECT_EQ(c.advertised_host(c.mqttListeners[0]), "127.0.0.1");
  c = load_ok("advertisedAddress=[::1]\n");
  EXPECT_EQ(c.advertisedAddress, "::1");
  c = load_ok("advertisedAddress=mop.example.com\n");
  EXPECT_EQ(c.advertised_host(c.mqttListeners[0]), "mop.example.com");
}

TEST(ConfigDescribe, PrintsEveryKeyAndRoundTrips) {
  const Config c = load_ok("defaultTopicDomain=non-persistent\nmqttListeners=mqtt://[::1]:0\n",
                           {{"receiveMaximum", "10"}});
  const std::string text = c.describe();
  for (const auto& k : config_keys()) EXPECT_THAT(text, HasSubstr("\n" + k.name + "=")) << k.name;
  EXPECT_THAT(text, HasSubstr("# test.conf:1\ndefaultTopicDomain=non-persistent\n"));
  EXPECT_THAT(text, HasSubstr("# command line\nreceiveMaximum=10\n"));
  // describe() is itself a loadable file that gives the same configuration.
  std::vector<std::string> warnings;
  const Config again = load_ok(text, {}, &warnings);
  EXPECT_TRUE(warnings.empty());
  EXPECT_EQ(again.mqttListeners, c.mqttListeners);
  EXPECT_EQ(again.defaultTopicDomain, TopicDomain::non_persistent);
  EXPECT_EQ(again.receiveMaximum, 10);
}

TEST(ConfigShipped, StandaloneConfLoadsWithoutWarningsAndDocumentsEveryKey) {
  const std::filesystem::path path = std::filesystem::path(MOP_SOURCE_DIR) / "conf/standalone.conf";
  std::vector<std::string> warnings;
  auto r = load_config(path.string(), {}, &warnings);
  ASSERT_TRUE(r.ok());
  for (const auto& w : warnings) ADD_FAILURE() << "warning: " << w;
  // The shipped file sets every key, to its default.
  const auto& c = r.value();
  for (const auto& k : config_keys()) EXPECT_TRUE(c.sources.contains(k.name)) << k.name;
  Config defaults;
  defaults.sources = c.sources;
  EXPECT_EQ(c.describe(), defaults.describe());
  // ... in the order of config_keys(), so that the file, --help and README read alike.
  std::istringstream text(read_file(path));
  std::vector<std::string> order;
  for (std::string line; std::getline(text, line);) {
    if (!line.empty() && line[0] != '#') order.push_back(line.substr(0, line.find('=')));
  }
  std::vector<std::string> expected;
  for (const auto& k : config_keys()) expected.push_back(k.name);
  EXPECT_EQ(order, expected);
}

TEST(ConfigShipped, ReadmeCarriesTheGeneratedKeyTable) {
  const auto readme = read_file(std::filesystem::path(MOP_SOURCE_DIR) / "app/README.md");
  EXPECT_THAT(readme, HasSubstr(config_keys_markdown()))
      << "app/README.md is out of date; paste config_keys_markdown():\n"
      << config_keys_markdown();
}

TEST(ConfigShipped, HelpListsEveryKey) {
  const auto help = config_keys_help();
  for (const auto& k : config_keys()) EXPECT_THAT(help, HasSubstr("--" + k.name + "=")) << k.name;
}

TEST(ConfigCompat, MopStyleSnippetLoads) {
  // The lines MoP's README tells users to add to Pulsar's standalone.conf.
  std::vector<std::string> warnings;
  const Config c = load_ok(
      "messagingProtocols=mqtt\n"
      "protocolHandlerDirectory=./protocols\n"
      "mqttListeners=mqtt://127.0.0.1:1883\n"
      "advertisedAddress=127.0.0.1\n",
      {}, &warnings);
  EXPECT_TRUE(c.serves_mqtt());
  EXPECT_EQ(c.mqttListeners, (std::vector<Listener>{{"mqtt", "127.0.0.1", 1883}}));
  EXPECT_EQ(c.advertisedAddress, "127.0.0.1");
  ASSERT_EQ(warnings.size(), 1u);  // protocolHandlerDirectory: read, not used
  EXPECT_THAT(warnings[0], HasSubstr("protocolHandlerDirectory"));
}

TEST(ConfigCompat, OtherProtocolHandlersAreIgnoredWithAWarning) {
  std::vector<std::string> warnings;
  const Config c = load_ok("messagingProtocols=mqtt, kafka\n", {}, &warnings);
  EXPECT_TRUE(c.serves_mqtt());
  ASSERT_EQ(warnings.size(), 1u);
  EXPECT_THAT(warnings[0], HasSubstr("kafka"));
}

// --- mop proxy ---------------------------------------------------------------------------------

Config load_proxy_ok(std::string_view text, const Overrides& overrides = {},
                     std::vector<std::string>* warnings = nullptr) {
  std::vector<std::string> local;
  auto r = load_config_text(text, "proxy.conf", overrides, warnings ? warnings : &local, Mode::proxy);
  if (!r.ok()) {
    std::string all;
    for (const auto& e : r.error()) all += e.message + "\n";
    ADD_FAILURE() << "unexpected errors:\n" << all;
    return Config{};
  }
  return std::move(r).value();
}

std::vector<ConfigError> load_proxy_err(std::string_view text) {
  std::vector<std::string> warnings;
  auto r = load_config_text(text, "proxy.conf", {}, &warnings, Mode::proxy);
  if (r.ok()) {
    ADD_FAILURE() << "loading succeeded, errors expected for:\n" << text;
    return {};
  }
  return std::move(r).error();
}

TEST(ConfigProxy, Defaults) {
  const Config c = load_proxy_ok("");
  EXPECT_EQ(c.mode, Mode::proxy);
  EXPECT_EQ(c.brokerServiceURL, (std::vector<ServiceAddress>{{"127.0.0.1", 6650}}));
  EXPECT_EQ(c.mqttProxySystemNamespace, "public/mop-system");
  // Without mqttListeners the proxy listens where MoP's does: every interface, mqttProxyPort.
  EXPECT_EQ(c.proxy_listeners(), (std::vector<Listener>{{"mqtt", "0.0.0.0", 5682}}));
  EXPECT_EQ(load_proxy_ok("mqttProxyPort=0\n").proxy_listeners(), (std::vector<Listener>{{"mqtt", "0.0.0.0", 0}}));
  EXPECT_EQ(load_proxy_ok("mqttListeners=\n").proxy_listeners(), (std::vector<Listener>{{"mqtt", "0.0.0.0", 5682}}));
  EXPECT_EQ(load_proxy_ok("mqttListeners=mqtt://127.0.0.1:0,mqtt://[::1]:1884\n").proxy_listeners(),
            (std::vector<Listener>{{"mqtt", "127.0.0.1", 0}, {"mqtt", "::1", 1884}}));
}

TEST(ConfigProxy, KeysOfTheOtherModeAreWarningsAndIgnored) {
  std::vector<std::string> warnings;
  const Config c = load_proxy_ok("dataDir=/var/lib/mop\nbrokerServicePort=7000\n", {}, &warnings);
  EXPECT_EQ(c.dataDir, Config{}.dataDir);
  EXPECT_EQ(c.brokerServicePort, Config{}.brokerServicePort);
  ASSERT_EQ(warnings.size(), 2u);
  EXPECT_THAT(warnings[0], HasSubstr("proxy.conf:1: dataDir is not used by mop proxy"));
  EXPECT_THAT(warnings[1], HasSubstr("proxy.conf:2: brokerServicePort is not used by mop proxy"));

  warnings.clear();
  const Config s = load_ok("brokerServiceURL=pulsar://pulsar-1:6650\n", {}, &warnings);
  EXPECT_EQ(s.brokerServiceURL, Config{}.brokerServiceURL);
  ASSERT_EQ(warnings.size(), 1u);
  EXPECT_THAT(warnings[0], HasSubstr("brokerServiceURL is not used by mop standalone"));
}

TEST(ConfigProxy, ServiceUrlForms) {
  EXPECT_EQ(load_proxy_ok("brokerServiceURL=pulsar://pulsar-1:6651\n").brokerServiceURL,
            (std::vector<ServiceAddress>{{"pulsar-1", 6651}}));
  // Pulsar's multi-host form, a port left out, IPv6, a trailing slash, entries with schemes.
  EXPECT_EQ(load_proxy_ok("brokerServiceURL=pulsar://a:6650,b,[::1]:6652\n").brokerServiceURL,
            (std::vector<ServiceAddress>{{"a", 6650}, {"b", 6650}, {"::1", 6652}}));
  EXPECT_EQ(load_proxy_ok("brokerServiceURL=pulsar://a/, pulsar://[::1]\n").brokerServiceURL,
            (std::vector<ServiceAddress>{{"a", 6650}, {"::1", 6650}}));
  EXPECT_EQ((ServiceAddress{"::1", 6650}).to_string(), "pulsar://[::1]:6650");
  // TLS: 6651 when no port is given, later entries without a scheme take the first one's.
  EXPECT_EQ(load_proxy_ok("brokerServiceURL=pulsar+ssl://a,b:7651,pulsar+ssl://[::1]\n").brokerServiceURL,
            (std::vector<ServiceAddress>{{"a", 6651, true}, {"b", 7651, true}, {"::1", 6651, true}}));
  EXPECT_EQ((ServiceAddress{"h", 6651, true}).to_string(), "pulsar+ssl://h:6651");
  const std::pair<const char*, const char*> bad[] = {
      {"pulsar+ssl://a:6651,pulsar://b:6650", "mixes pulsar:// and pulsar+ssl://"},
      {"pulsar://a:6650,pulsar+ssl://b:6651", "mixes pulsar:// and pulsar+ssl://"},
      {"http://a:8080", "unknown scheme"},
      {"a:6650", "not of the form pulsar://host:port"},
      {"pulsar://a:0", "out of range"},
      {"pulsar://a:x", "not an integer"},
      {"pulsar://a:", "not an integer"},
      {"pulsar://a b:6650", "is not a host name"},
      {"pulsar://[zz]:6650", "IPv6"},
  };
  for (const auto& [value, why] : bad) {
    SCOPED_TRACE(value);
    const auto errs = load_proxy_err(std::string("brokerServiceURL=") + value + "\n");
    ASSERT_EQ(errs.size(), 1u);
    EXPECT_EQ(errs[0].key, "brokerServiceURL");
    EXPECT_THAT(errs[0].message, HasSubstr(why));
    EXPECT_THAT(errs[0].message, HasSubstr("proxy.conf:1"));
  }
  // An empty list leaves the proxy nothing to connect to.
  const auto errs = load_proxy_err("brokerServiceURL=\n");
  ASSERT_EQ(errs.size(), 1u);
  EXPECT_THAT(errs[0].message, HasSubstr("brokerServiceURL is empty"));
}

TEST(ConfigProxy, WillTakeoverInterval) {
  EXPECT_EQ(load_proxy_ok("").mqttProxyWillTakeoverIntervalSeconds, 5u);
  EXPECT_EQ(load_proxy_ok("mqttProxyWillTakeoverIntervalSeconds=1\n").mqttProxyWillTakeoverIntervalSeconds, 1u);
  // The proxy's keys, this one among them (a proxy-only key, so config_keys() of standalone does
  // not count it).
  EXPECT_EQ(config_keys(Mode::proxy).size(), 64u);
  for (const char* bad : {"0", "3601", "1.5", "x"}) {
    SCOPED_TRACE(bad);
    const auto errs = load_proxy_err(std::string("mqttProxyWillTakeoverIntervalSeconds=") + bad + "\n");
    ASSERT_EQ(errs.size(), 1u);
    EXPECT_EQ(errs[0].key, "mqttProxyWillTakeoverIntervalSeconds");
  }
}

TEST(ConfigProxy, SystemNamespace) {
  EXPECT_EQ(load_proxy_ok("mqttProxySystemNamespace=iot/mqtt-state\n").mqttProxySystemNamespace, "iot/mqtt-state");
  for (const char* bad : {"mop-system", "public/", "/x", "a/b/c", "a b/c"}) {
    SCOPED_TRACE(bad);
    const auto errs = load_proxy_err(std::string("mqttProxySystemNamespace=") + bad + "\n");
    ASSERT_EQ(errs.size(), 1u);
    EXPECT_EQ(errs[0].key, "mqttProxySystemNamespace");
  }
  // Not the namespace of the MQTT topics: wildcard subscriptions would see the state topics.
  const auto errs = load_proxy_err("defaultTenant=iot\nmqttProxySystemNamespace=iot/default\n");
  ASSERT_EQ(errs.size(), 1u);
  EXPECT_THAT(errs[0].message, HasSubstr("namespace of their own"));
}

TEST(ConfigProxy, ListenersAreValidated) {
  // Every scheme of standalone, with the same checks: a certificate for TLS, PSK identities.
  EXPECT_EQ(load_proxy_ok("mqttListeners=ws://127.0.0.1:0\n").proxy_listeners(),
            (std::vector<Listener>{{"ws", "127.0.0.1", 0}}));
  auto errs = load_proxy_err("mqttListeners=mqtt+ssl://127.0.0.1:0\n");
  ASSERT_EQ(errs.size(), 1u);
  EXPECT_EQ(errs[0].key, "mqttTlsCertificateFilePath");
  errs = load_proxy_err("mqttListeners=mqtt+ssl+psk://127.0.0.1:0\n");
  ASSERT_EQ(errs.size(), 1u);
  EXPECT_EQ(errs[0].key, "mqttTlsPskEnabled");
  load_proxy_ok("mqttListeners=ws+ssl://127.0.0.1:0\ntlsCertificateFilePath=/c.pem\ntlsKeyFilePath=/k.pem\n");
  // The Pulsar and web ports are standalone's: no clash with them in the proxy.
  load_proxy_ok("mqttListeners=mqtt://127.0.0.1:6650\n");
}

TEST(ConfigProxy, MoPPortKeysAddListenersWhenMqttListenersIsNotSet) {
  const Config c = load_proxy_ok(
      "mqttProxyPort=0\nmqttProxyTlsEnabled=true\nmqttProxyTlsPort=0\nmqttProxyTlsPskEnabled=true\n"
      "mqttProxyTlsPskPort=0\nmqttProxyWsPort=0\nmqttProxyWssPort=0\nmqttTlsCertificateFilePath=/c.pem\n"
      "mqttTlsKeyFilePath=/k.pem\nmqttTlsPskEnabled=true\nmqttTlsPskIdentity=a:b\n");
  EXPECT_EQ(c.proxy_listeners(), (std::vector<Listener>{{"mqtt", "0.0.0.0", 0},
                                                        {"mqtt+ssl", "0.0.0.0", 0},
                                                        {"mqtt+ssl+psk", "0.0.0.0", 0},
                                                        {"ws", "0.0.0.0", 0},
                                                        {"ws+ssl", "0.0.0.0", 0}}));
  EXPECT_EQ(load_proxy_ok("mqttProxyTlsEnabled=true\ntlsCertificateFilePath=/c.pem\ntlsKeyFilePath=/k.pem\n")
                .proxy_listeners(),
            (std::vector<Listener>{{"mqtt", "0.0.0.0", 5682}, {"mqtt+ssl", "0.0.0.0", 5683}}));
  // mqttListeners, when set, is the whole list.
  EXPECT_EQ(load_proxy_ok("mqttListeners=mqtt://127.0.0.1:0\nmqttProxyWsPort=0\n").proxy_listeners(),
            (std::vector<Listener>{{"mqtt", "127.0.0.1", 0}}));
  // A TLS port without a certificate is refused, naming the key to set.
  const auto errs = load_proxy_err("mqttProxyTlsEnabled=true\n");
  ASSERT_EQ(errs.size(), 1u);
  EXPECT_THAT(errs[0].message, HasSubstr("mqttTlsCertificateFilePath"));
}

TEST(ConfigProxy, MqttAuthenticationIsStandalones) {
  const Config c = load_proxy_ok("mqttAuthenticationEnabled=true\nmqttAuthenticationMethods=token,basic\n"
                                 "tokenSecretKey=data:;base64,c2VjcmV0\nbasicAuthConf=/etc/users\n");
  EXPECT_TRUE(c.mqttAuthenticationEnabled);
  EXPECT_EQ(c.mqttAuthenticationMethods, (std::vector<std::string>{"token", "basic"}));
  auto errs = load_proxy_err("mqttAuthenticationEnabled=true\n");
  ASSERT_EQ(errs.size(), 1u);
  EXPECT_EQ(errs[0].key, "mqttAuthenticationMethods");
  errs = load_proxy_err("mqttAuthenticationEnabled=true\nmqttAuthenticationMethods=token\n");
  ASSERT_EQ(errs.size(), 1u);
  EXPECT_EQ(errs[0].key, "tokenSecretKey");
  // Grants live in standalone's store: the proxy does not read the authorization keys.
  std::vector<std::string> warnings;
  load_proxy_ok("mqttAuthorizationEnabled=true\n", {}, &warnings);
  ASSERT_EQ(warnings.size(), 1u);
  EXPECT_THAT(warnings[0], HasSubstr("mqttAuthorizationEnabled is not used by mop proxy"));
}

TEST(ConfigProxy, BrokerClientTlsAndToken) {
  Config c = load_proxy_ok("brokerServiceURL=pulsar+ssl://p:6651\nbrokerClientTlsEnabled=true\n"
                           "tlsTrustCertsFilePath=/ca.pem\n");
  EXPECT_EQ(c.broker_client_trust_certs(), "/ca.pem");  // Pulsar's fallback
  c = load_proxy_ok("brokerServiceURL=pulsar+ssl://p\ntlsTrustCertsFilePath=/ca.pem\n"
                    "brokerClientTrustCertsFilePath=/cluster-ca.pem\n");
  EXPECT_EQ(c.broker_client_trust_certs(), "/cluster-ca.pem");
  auto errs = load_proxy_err("brokerClientTlsEnabled=true\n");  // with the default pulsar:// URL
  ASSERT_EQ(errs.size(), 1u);
  EXPECT_THAT(errs[0].message, HasSubstr("needs pulsar+ssl://"));
  load_proxy_ok("brokerClientAuthenticationPlugin=org.apache.pulsar.client.impl.auth.AuthenticationToken\n"
                "brokerClientAuthenticationParameters=token:abc.def.ghi\n");
  errs = load_proxy_err("brokerClientAuthenticationPlugin=org.apache.pulsar.client.impl.auth.AuthenticationSasl\n");
  ASSERT_EQ(errs.size(), 1u);
  EXPECT_THAT(errs[0].message, HasSubstr("not supported"));
  errs = load_proxy_err("brokerClientAuthenticationPlugin=org.apache.pulsar.client.impl.auth.AuthenticationToken\n");
  ASSERT_EQ(errs.size(), 1u);
  EXPECT_EQ(errs[0].key, "brokerClientAuthenticationParameters");
  // A bad value is named without repeating it: it may hold a token.
  errs = load_proxy_err("brokerClientAuthenticationPlugin=token\n"
                        "brokerClientAuthenticationParameters={\"tok\":\"secret-part\"}\n");
  ASSERT_EQ(errs.size(), 1u);
  EXPECT_THAT(errs[0].message, HasSubstr("has no \"token\""));
  EXPECT_THAT(errs[0].message, ::testing::Not(HasSubstr("secret-part")));
}

TEST(ConfigProxy, BrokerClientAuthenticationTls) {
  const std::string plugin = "brokerClientAuthenticationPlugin=org.apache.pulsar.client.impl.auth.AuthenticationTls\n";
  const std::string tls_url = "brokerServiceURL=pulsar+ssl://p:6651\n";
  Config c = load_proxy_ok(tls_url + plugin + "brokerClientAuthenticationParameters=tlsCertFile:/c.pem,tlsKeyFile:/k.pem\n");
  EXPECT_EQ(broker_client_auth_method(c.brokerClientAuthenticationPlugin), "tls");
  load_proxy_ok(tls_url + plugin +
                "brokerClientAuthenticationParameters={\"tlsCertFile\":\"/c.pem\",\"tlsKeyFile\":\"/k.pem\"}\n");
  auto errs = load_proxy_err(tls_url + plugin);  // no parameters
  ASSERT_EQ(errs.size(), 1u);
  EXPECT_EQ(errs[0].key, "brokerClientAuthenticationParameters");
  errs = load_proxy_err(tls_url + plugin + "brokerClientAuthenticationParameters=tlsCertFile:/c.pem\n");
  ASSERT_EQ(errs.size(), 1u);
  EXPECT_THAT(errs[0].message, HasSubstr("names no tlsKeyFile"));
  // A client certificate means TLS: a plain pulsar:// URL is refused, not used without it.
  errs = load_proxy_err(plugin + "brokerClientAuthenticationParameters=tlsCertFile:/c.pem,tlsKeyFile:/k.pem\n");
  ASSERT_EQ(errs.size(), 1u);
  EXPECT_THAT(errs[0].message, HasSubstr("needs pulsar+ssl://"));
  EXPECT_EQ(broker_client_auth_method("tls"), "tls");
  EXPECT_EQ(broker_client_auth_method(""), "");
  EXPECT_EQ(broker_client_auth_method("com.example.AuthenticationKerberos"), std::nullopt);
}

TEST(ConfigProxy, TlsAuthParametersAsPulsarReadsThem) {
  auto p = parse_tls_auth_parameters("tlsCertFile:/etc/mop/proxy.cert.pem,tlsKeyFile:/etc/mop/proxy.key-pk8.pem");
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(p->cert_file, "/etc/mop/proxy.cert.pem");
  EXPECT_EQ(p->key_file, "/etc/mop/proxy.key-pk8.pem");
  p = parse_tls_auth_parameters(R"({"tlsKeyFile":"/k.pem","tlsCertFile":"/c.pem"})");
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(p->cert_file, "/c.pem");
  EXPECT_EQ(p->key_file, "/k.pem");
  // Split at the first ':' only, as Pulsar does (a Windows path keeps its drive letter).
  p = parse_tls_auth_parameters("tlsCertFile:C:\\certs\\c.pem, tlsKeyFile:C:\\certs\\k.pem");
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(p->cert_file, "C:\\certs\\c.pem");
  EXPECT_FALSE(parse_tls_auth_parameters("").ok());
  EXPECT_FALSE(parse_tls_auth_parameters("tlsKeyFile:/k.pem").ok());
  EXPECT_FALSE(parse_tls_auth_parameters(R"({"tlsCertFile":1,"tlsKeyFile":"/k.pem"})").ok());
  EXPECT_FALSE(parse_tls_auth_parameters("{not json").ok());
}

TEST(ConfigProxy, TlsHostnameVerification) {
  EXPECT_TRUE(load_proxy_ok("").tlsHostnameVerificationEnabled);  // mop's default (Pulsar's is false)
  EXPECT_FALSE(load_proxy_ok("tlsHostnameVerificationEnabled=false\n").tlsHostnameVerificationEnabled);
}

TEST(ConfigProxy, TokenParametersAsPulsarReadsThem) {
  EXPECT_EQ(parse_token_parameters("token:a.b.c")->token, "a.b.c");
  EXPECT_EQ(parse_token_parameters("file:///run/secrets/token")->file, "/run/secrets/token");
  EXPECT_EQ(parse_token_parameters("file:/run/secrets/token")->file, "/run/secrets/token");
  EXPECT_EQ(parse_token_parameters(R"({"token":"x.y.z"})")->token, "x.y.z");
  EXPECT_EQ(parse_token_parameters("x.y.z")->token, "x.y.z");  // the text itself, as Pulsar's fallback
  EXPECT_FALSE(parse_token_parameters("token:").ok());
  EXPECT_FALSE(parse_token_parameters("file://relative/path").ok());
  EXPECT_FALSE(parse_token_parameters(R"({"token":1})").ok());
  EXPECT_FALSE(parse_token_parameters("{not json").ok());
}

TEST(ConfigShipped, ProxyConfLoadsWithoutWarningsAndDocumentsEveryKey) {
  const std::filesystem::path path = std::filesystem::path(MOP_SOURCE_DIR) / "conf/proxy.conf";
  std::vector<std::string> warnings;
  auto r = load_config(path.string(), {}, &warnings, Mode::proxy);
  ASSERT_TRUE(r.ok());
  for (const auto& w : warnings) ADD_FAILURE() << "warning: " << w;
  const auto& c = r.value();
  for (const auto& k : config_keys(Mode::proxy)) EXPECT_TRUE(c.sources.contains(k.name)) << k.name;
  // Every value is the default (mqttListeners is written empty: "use mqttProxyPort").
  Config defaults;
  defaults.mode = Mode::proxy;
  defaults.sources = c.sources;
  defaults.mqttListeners.clear();
  EXPECT_EQ(c.describe(), defaults.describe());
  EXPECT_EQ(c.proxy_listeners(), (std::vector<Listener>{{"mqtt", "0.0.0.0", 5682}}));
  std::istringstream text(read_file(path));
  std::vector<std::string> order;
  for (std::string line; std::getline(text, line);) {
    if (!line.empty() && line[0] != '#') order.push_back(line.substr(0, line.find('=')));
  }
  std::vector<std::string> expected;
  for (const auto& k : config_keys(Mode::proxy)) expected.push_back(k.name);
  EXPECT_EQ(order, expected);
  // describe() lists the proxy's keys only.
  EXPECT_THAT(c.describe(), HasSubstr("\nbrokerServiceURL="));
  EXPECT_THAT(c.describe(), ::testing::Not(HasSubstr("\ndataDir=")));
}

TEST(ConfigShipped, ReadmeCarriesTheGeneratedProxyKeyTable) {
  const auto readme = read_file(std::filesystem::path(MOP_SOURCE_DIR) / "app/README.md");
  EXPECT_THAT(readme, HasSubstr(config_keys_markdown(Mode::proxy)))
      << "app/README.md is out of date; paste config_keys_markdown(Mode::proxy):\n"
      << config_keys_markdown(Mode::proxy);
}

}  // namespace
}  // namespace mop::app
