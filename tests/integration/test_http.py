"""The web service on webServicePort (mop only): the start-up line's `web` port, /metrics
checked against what paho really published and consumed (and, with Debian's promtool, against
Prometheus' own checker), the health check's publish-and-consume, the read-only admin API's
Pulsar JSON shapes, 404/405 bodies, keep-alive."""

import http.client
import json
import os
import re
import shutil
import subprocess
import time
import unittest
import uuid

import harness
from clients import MosqSub, PahoClient

WAIT = 10.0

# One sample line of the text format: name, optional {labels}, value (no timestamps from mop).
SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? (\S+)$')
LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"(,|$)')


def parse_metrics(text):
    """Strictly parses Prometheus' text format as mop writes it: returns ({family: type},
    {(name, frozenset(labels)): value}); raises AssertionError on a malformed line, a sample
    before its family's TYPE, or a family written twice. A histogram's samples are
    `<family>_bucket{le}` (cumulative: never decreasing, ending with le="+Inf" equal to
    `_count`), `<family>_sum`, `<family>_count`."""
    types, samples, current = {}, {}, None
    buckets, prev_line = [], ""
    for line in text.splitlines():
        if line.startswith("# HELP "):
            continue
        if line.startswith("# TYPE "):
            _, _, name, kind = line.split(" ")
            assert name not in types, "family %s written twice" % name
            assert kind in ("counter", "gauge", "histogram"), line
            types[name] = kind
            current = name
            buckets = []
            continue
        m = SAMPLE.match(line)
        assert m, "not a sample line: %r" % line
        name, labels_text, value = m.group(1), m.group(3) or "", m.group(4)
        if types.get(current) == "histogram":
            assert name in (current + "_bucket", current + "_sum", current + "_count"), \
                "sample %r outside its histogram %r" % (line, current)
            if name.endswith("_bucket"):
                assert not buckets or float(value) >= buckets[-1], "buckets of %s decrease: %r" % (current, line)
                buckets.append(float(value))
            if name == current + "_count":
                assert buckets and buckets[-1] == float(value) and 'le="+Inf"' in prev_line, \
                    "%s_count %s is not its +Inf bucket" % (current, value)
        else:
            assert name == current, "sample %r outside its family %r" % (line, current)
        labels = {}
        pos = 0
        while pos < len(labels_text):
            lm = LABEL.match(labels_text, pos)
            assert lm, "bad labels in %r" % line
            labels[lm.group(1)] = lm.group(2)
            pos = lm.end()
        samples[(name, frozenset(labels.items()))] = float(value)
        if name.endswith("_bucket"):
            prev_line = line
    return types, samples


def topic_labels(topic, **extra):
    labels = {"cluster": "standalone", "namespace": "public/default", "topic": topic}
    labels.update(extra)
    return frozenset(labels.items())


@unittest.skipUnless(harness.is_mop(), "the web service is mop's")
class WebService(unittest.TestCase):
    def setUp(self):
        self.broker = harness.Broker().start()
        self.addCleanup(self.broker.cleanup)

    def tearDown(self):
        self.broker.stop()

    def request(self, method, path, conn=None):
        own = conn is None
        if own:
            conn = http.client.HTTPConnection("127.0.0.1", self.broker.web_port, timeout=WAIT)
        try:
            conn.request(method, path)
            res = conn.getresponse()
            return res.status, res.getheader("Content-Type"), res.read().decode(), res
        finally:
            if own:
                conn.close()

    def get_json(self, path):
        status, ctype, body, _ = self.request("GET", path)
        self.assertEqual(status, 200, body)
        self.assertEqual(ctype, "application/json")
        return json.loads(body)

    def metrics(self):
        status, ctype, body, _ = self.request("GET", "/metrics")
        self.assertEqual(status, 200)
        self.assertTrue(ctype.startswith("text/plain; version=0.0.4"), ctype)
        return body

    def wait_metric(self, key, want):
        """Polls /metrics until `key` has `want` (acknowledgements reach the cursor shortly after
        the PUBACK); returns the last parse."""
        deadline = time.monotonic() + WAIT
        while True:
            types, samples = parse_metrics(self.metrics())
            if samples.get(key) == want or time.monotonic() > deadline:
                return types, samples
            time.sleep(0.05)

    def test_start_up_line_names_the_web_port(self):
        web = self.broker.ready["web"]
        self.assertEqual(web["host"], "127.0.0.1")
        self.assertNotEqual(web["port"], 0)
        self.assertEqual(web["url"], "http://127.0.0.1:%d" % web["port"])
        self.assertEqual(self.broker.web_port, web["port"])

    def test_status_ready_and_health(self):
        self.assertEqual(self.request("GET", "/status.html")[:3:2], (200, "OK"))
        self.assertEqual(self.request("GET", "/admin/v2/brokers/ready")[:3:2], (200, "ok"))
        status, _, body, _ = self.request("GET", "/admin/v2/brokers/health")
        self.assertEqual((status, body), (200, "ok"))
        # The check really published and consumed on its topic, and left no subscription.
        topic = "persistent://pulsar/127.0.0.1:%d/healthcheck" % self.broker.web_port
        _, samples = parse_metrics(self.metrics())
        labels = frozenset({"cluster": "standalone", "namespace": "pulsar/127.0.0.1:%d" % self.broker.web_port,
                            "topic": topic}.items())
        self.assertEqual(samples[("pulsar_in_messages_total", labels)], 1)
        self.assertEqual(samples[("pulsar_out_messages_total", labels)], 1)
        self.assertEqual(samples[("pulsar_subscriptions_count", labels)], 0)

    def test_metrics_agree_with_what_paho_published_and_consumed(self):
        name = "it/metrics/" + uuid.uuid4().hex[:8]
        topic = "persistent://public/default/" + name.replace("/", "%2F")
        sub = PahoClient(self.broker.port, client_id="metrics-sub", clean_session=False)
        sub.connect()
        sub.subscribe([(name, 1)])
        pub = PahoClient(self.broker.port, client_id="metrics-pub")
        pub.connect()
        payloads = [("m%d-" % i).encode() * (i + 1) for i in range(20)]
        for p in payloads:
            pub.publish(name, p, qos=1)
        got = sub.collect(len(payloads), WAIT)
        self.assertEqual([m.payload for m in got], payloads)
        total = sum(len(p) for p in payloads)
        types, s = self.wait_metric(("pulsar_subscription_back_log", topic_labels(topic, subscription="metrics-sub")), 0)

        self.assertEqual(types["pulsar_in_messages_total"], "counter")
        self.assertEqual(types["pulsar_msg_backlog"], "gauge")
        self.assertEqual(types["mop_active_client_count"], "gauge")
        self.assertEqual(types["mop_received_count"], "counter")
        self.assertEqual(s[("pulsar_in_messages_total", topic_labels(topic))], len(payloads))
        self.assertEqual(s[("pulsar_in_bytes_total", topic_labels(topic))], total)
        self.assertEqual(s[("pulsar_out_messages_total", topic_labels(topic))], len(payloads))
        self.assertEqual(s[("pulsar_out_bytes_total", topic_labels(topic))], total)
        self.assertEqual(s[("pulsar_msg_backlog", topic_labels(topic))], 0)
        self.assertEqual(s[("pulsar_storage_size", topic_labels(topic))], 0)  # acknowledged: trimmed
        self.assertEqual(s[("pulsar_subscription_unacked_messages", topic_labels(topic, subscription="metrics-sub"))], 0)
        one = frozenset()
        self.assertEqual(s[("mop_received_count", one)], len(payloads))
        self.assertEqual(s[("mop_received_bytes", one)], total)
        self.assertEqual(s[("mop_send_count", one)], len(payloads))
        self.assertEqual(s[("mop_send_bytes", one)], total)
        self.assertEqual(s[("mop_active_client_count", one)], 2)
        self.assertEqual(s[("mop_total_client_count", one)], 2)
        self.assertEqual(s[("mop_maximum_client_count", one)], 2)
        self.assertEqual(s[("mop_sub_count", one)], 1)
        self.assertEqual(s[("mop_connections", frozenset({"protocol": "mqtt"}.items()))], 2)
        self.assertGreater(s[("process_resident_memory_bytes", one)], 0)
        self.assertGreater(s[("process_open_fds", one)], 0)
        self.assertGreater(s[("process_start_time_seconds", one)], 1.6e9)
        # The store's files: what a walk of dataDir finds (polled: a write may land in between).
        deadline = time.monotonic() + WAIT
        while True:
            on_disk = sum(os.path.getsize(os.path.join(d, f)) for d, _, files in os.walk(self.broker.data_dir)
                          for f in files if os.path.isfile(os.path.join(d, f)))
            _, s = parse_metrics(self.metrics())
            if s[("mop_storage_disk_bytes", one)] == on_disk or time.monotonic() > deadline:
                break
            time.sleep(0.1)
        self.assertGreater(on_disk, 0)
        self.assertEqual(s[("mop_storage_disk_bytes", one)], on_disk)

        # The subscriber goes away (its session stays): what is published now is its backlog.
        sub.disconnect()
        for i in range(5):
            pub.publish(name, b"later-%d" % i, qos=1)
        _, s = self.wait_metric(("mop_active_client_count", one), 1)
        self.assertEqual(s[("mop_active_client_count", one)], 1)
        self.assertEqual(s[("mop_total_client_count", one)], 2)
        self.assertEqual(s[("mop_maximum_client_count", one)], 2)
        self.assertEqual(s[("pulsar_in_messages_total", topic_labels(topic))], 25)
        self.assertEqual(s[("pulsar_msg_backlog", topic_labels(topic))], 5)
        self.assertEqual(s[("pulsar_subscription_back_log", topic_labels(topic, subscription="metrics-sub"))], 5)
        self.assertEqual(s[("pulsar_storage_size", topic_labels(topic))], 5 * len(b"later-0"))
        self.assertEqual(s[("mop_received_count", one)], 25)

        stats = self.get_json("/admin/v2/persistent/public/default/%s/stats" % topic.split("/")[-1].replace("%", "%25"))
        self.assertEqual(stats["msgInCounter"], 25)
        self.assertEqual(stats["bytesInCounter"], total + 5 * len(b"later-0"))
        self.assertEqual(stats["storageSize"], 5 * len(b"later-0"))
        self.assertEqual(stats["subscriptions"]["metrics-sub"]["msgBacklog"], 5)
        self.assertEqual(stats["subscriptions"]["metrics-sub"]["unackedMessages"], 0)
        self.assertEqual(stats["subscriptions"]["metrics-sub"]["type"], "Shared")
        # An offline MQTT session stays attached to its subscriptions, paused: one consumer, no permits.
        self.assertEqual([c["availablePermits"] for c in stats["subscriptions"]["metrics-sub"]["consumers"]], [0])
        pub.disconnect()

    @unittest.skipUnless(shutil.which("promtool"), "promtool (Debian package prometheus) is not installed")
    def test_group_commit_histograms_count_the_stored_messages(self):
        """mop_storage_group_commit_entries: its sum grows by exactly the messages paho stored
        (QoS 1 on a persistent topic), its count by the group commits: at least one, at most two
        per message (nobody subscribes, so each append is followed by a trim, a group commit
        without entries) plus a few."""
        def commits():
            types, samples = parse_metrics(self.metrics())
            self.assertEqual(types["mop_storage_group_commit_entries"], "histogram")
            self.assertEqual(types["mop_storage_group_commit_sync_seconds"], "histogram")
            get = lambda name: samples[(name, frozenset())]
            return (get("mop_storage_group_commit_entries_sum"), get("mop_storage_group_commit_entries_count"),
                    get("mop_storage_group_commit_sync_seconds_count"))
        pub = PahoClient(self.broker.port, client_id="commit-pub")
        pub.connect()
        self.addCleanup(pub.disconnect)
        pub.publish("it/commits", b"first", qos=1)
        entries0, groups0, syncs0 = commits()
        self.assertEqual(groups0, syncs0)
        for i in range(40):
            pub.publish("it/commits", b"m%d" % i, qos=1)
        entries1, groups1, syncs1 = commits()
        self.assertEqual(entries1 - entries0, 40)
        self.assertEqual(groups1, syncs1)
        self.assertGreaterEqual(groups1 - groups0, 1)
        self.assertLessEqual(groups1 - groups0, 2 * 40 + 5)

    def test_promtool_accepts_the_exposition(self):
        pub = PahoClient(self.broker.port, client_id="promtool-pub")
        pub.connect()
        pub.publish("it/promtool", b"x", qos=1)
        self.request("GET", "/admin/v2/brokers/health")
        text = self.metrics()
        pub.disconnect()
        out = subprocess.run(["promtool", "check", "metrics"], input=text.encode(), capture_output=True, timeout=30)
        problems = (out.stdout + out.stderr).decode().strip().splitlines()
        # promtool's only complaints may be its naming conventions (counters end in `_total`,
        # nothing but histograms and summaries in `_count`), which the names kept for
        # compatibility with MoP and Pulsar do not follow; a format error or anything else fails.
        fixed_names = ("mop_active_client_count|mop_total_client_count|mop_maximum_client_count|mop_sub_count|"
                       "mop_send_count|mop_send_bytes|mop_received_count|mop_received_bytes|"
                       "pulsar_subscriptions_count|pulsar_subscription_consumers_count")
        allowed = re.compile(r'^(%s) (counter metrics should have "_total" suffix|'
                             r'non-histogram and non-summary metrics should not have "_count" suffix)$' % fixed_names)
        others = [p for p in problems if not allowed.match(p)]
        self.assertEqual(others, [], "promtool check metrics:\n" + "\n".join(problems))

    def test_admin_lists_and_errors(self):
        pub = PahoClient(self.broker.port, client_id="admin-pub")
        pub.connect()
        pub.publish("it/admin/a", b"1", qos=1)
        pub.publish("non-persistent://acme/iot/x", b"2", qos=1)
        pub.disconnect()
        self.assertIn("public", self.get_json("/admin/v2/tenants"))
        self.assertIn("acme", self.get_json("/admin/v2/tenants"))
        self.assertEqual(self.get_json("/admin/v2/namespaces/public"), ["public/default"])
        self.assertEqual(self.get_json("/admin/v2/namespaces/acme"), ["acme/iot"])
        self.assertIn("persistent://public/default/it%2Fadmin%2Fa", self.get_json("/admin/v2/persistent/public/default"))
        self.assertEqual(self.get_json("/admin/v2/non-persistent/acme/iot"), ["non-persistent://acme/iot/x"])
        self.assertEqual(self.get_json("/admin/v2/persistent/acme/iot"), [])
        for path, status, reason in [
                ("/admin/v2/namespaces/nobody", 404, "Tenant does not exist"),
                ("/admin/v2/persistent/public/nothing", 404, "Namespace does not exist"),
                ("/admin/v2/persistent/public/default/none/stats", 404,
                 "Topic persistent://public/default/none not found"),
                ("/no/such/path", 404, "Not Found")]:
            got_status, ctype, body, _ = self.request("GET", path)
            self.assertEqual((got_status, ctype, json.loads(body)), (status, "application/json", {"reason": reason}))
        status, _, body, res = self.request("DELETE", "/admin/v2/tenants")
        self.assertEqual((status, json.loads(body)), (405, {"reason": "Method Not Allowed"}))
        self.assertEqual(res.getheader("Allow"), "GET")

    def send(self, method, path, body=None):
        """(status, parsed JSON body or None) of a write."""
        return self.send_raw(method, path, None if body is None else json.dumps(body))

    def send_raw(self, method, path, body):
        """send() with the body as given, as `curl -X METHOD -H 'Content-Type: application/json'
        -d BODY` sends it."""
        conn = http.client.HTTPConnection("127.0.0.1", self.broker.web_port, timeout=WAIT)
        try:
            conn.request(method, path, body=body, headers={"Content-Type": "application/json"})
            res = conn.getresponse()
            text = res.read().decode()
            return res.status, (json.loads(text) if text else None)
        finally:
            conn.close()

    def test_admin_writes_and_their_errors(self):
        """The write routes' status codes and error bodies (the Java admin client in
        pulsar-java/AdminApiTest.java checks the shapes against Apache Pulsar's)."""
        # A 204 carries neither body nor Content-Length (RFC 9110 8.6): Pulsar's Java admin client
        # waits for a body that never comes when it sees "Content-Length: 0" on a 204.
        conn = http.client.HTTPConnection("127.0.0.1", self.broker.web_port, timeout=WAIT)
        conn.request("PUT", "/admin/v2/tenants/acme", body=json.dumps({"allowedClusters": ["standalone"]}),
                     headers={"Content-Type": "application/json"})
        res = conn.getresponse()
        self.assertEqual((res.status, res.getheader("Content-Length"), res.getheader("Content-Type"), res.read()),
                         (204, None, None, b""))
        conn.close()
        self.assertEqual(self.send("PUT", "/admin/v2/tenants/acme", {}), (409, {"reason": "Tenant already exists"}))
        self.assertEqual(self.send("PUT", "/admin/v2/namespaces/nobody/ns"), (404, {"reason": "Tenant does not exist"}))
        self.assertEqual(self.send("PUT", "/admin/v2/namespaces/acme/iot"), (204, None))
        self.assertEqual(self.get_json("/admin/v2/namespaces/acme"), ["acme/iot"])
        self.assertEqual(self.send("DELETE", "/admin/v2/tenants/acme"),
                         (409, {"reason": "The tenant still has active namespaces"}))
        status, body = self.send("POST", "/admin/v2/namespaces/acme/iot/messageTTL", -5)
        self.assertEqual((status, body), (412, {"reason": "Invalid value for message TTL"}))
        conn = http.client.HTTPConnection("127.0.0.1", self.broker.web_port, timeout=WAIT)
        conn.request("POST", "/admin/v2/namespaces/acme/iot/retention", body="{not json")
        res = conn.getresponse()
        self.assertEqual((res.status, json.loads(res.read())), (400, {"reason": "Request body is not valid JSON"}))
        conn.close()
        self.assertEqual(self.send("PUT", "/admin/v2/persistent/acme/iot/t/partitions", 0)[0], 412)
        self.assertEqual(self.send("PUT", "/admin/v2/persistent/acme/iot/t/partitions", 2), (204, None))
        self.assertEqual(self.get_json("/admin/v2/persistent/acme/iot"),
                         ["persistent://acme/iot/t-partition-0", "persistent://acme/iot/t-partition-1"])
        self.assertEqual(self.send("POST", "/admin/v2/persistent/acme/iot/t/partitions", 1)[0], 422)
        self.assertEqual(self.send("DELETE", "/admin/v2/namespaces/acme/iot"),
                         (409, {"reason": "Cannot delete non empty namespace"}))
        self.assertEqual(self.send("POST", "/admin/v2/persistent/acme/iot/t-partition-0/subscription/none/skip_all"),
                         (404, {"reason": "Subscription not found"}))

    def test_json_bodies_of_the_wrong_shape_get_a_400_naming_what_was_expected(self):
        """Every write that reads fields from a JSON object answers 400 with a reason when the body
        is valid JSON of another shape (an array, a number, a string, null), or when a field has
        the wrong type, instead of its accessor throwing (the fuzz finding
        regression_handler_throws_on_array_body); the server stays up and serves the next one."""
        topic_path = "/admin/v2/persistent/public/default/it-shape"
        self.assertEqual(self.send("PUT", topic_path), (204, None))
        self.assertEqual(self.send("PUT", topic_path + "/subscription/s", {"ledgerId": -1, "entryId": -1}), (204, None))
        routes = [("PUT", "/admin/v2/tenants/shape", "TenantInfo"),
                  ("POST", "/admin/v2/namespaces/public/default/retention", "RetentionPolicies"),
                  ("POST", "/admin/v2/namespaces/public/default/backlogQuota", "BacklogQuota"),
                  ("PUT", topic_path + "/subscription/new", "A message id"),
                  ("POST", topic_path + "/subscription/s/resetcursor", "A message id")]
        for method, path, what in routes:
            for body in ('[]', '[{"ledgerId": 1, "entryId": 1}]', '42', '"text"', 'null'):
                self.assertEqual(self.send_raw(method, path, body),
                                 (400, {"reason": what + " must be a JSON object"}), (method, path, body))
        self.assertEqual(self.send_raw("POST", "/admin/v2/namespaces/public/default/backlogQuota",
                                       '{"limitSize": 1024, "policy": 7}'),
                         (400, {"reason": "policy must be a string"}))
        self.assertEqual(self.send_raw("POST", topic_path + "/subscription/s/resetcursor",
                                       '{"ledgerId": 1, "entryId": 1, "isExcluded": []}'),
                         (400, {"reason": "isExcluded must be true or false"}))
        # Nothing was changed by the refused writes, and the well-formed ones still work.
        self.assertEqual(self.request("GET", "/admin/v2/tenants/shape")[0], 404)
        self.assertEqual(self.get_json(topic_path + "/subscriptions"), ["s"])
        self.assertEqual(self.send("POST", "/admin/v2/namespaces/public/default/backlogQuota",
                                   {"limitSize": 1024, "policy": "producer_exception"}), (204, None))
        self.assertEqual(self.send("POST", topic_path + "/subscription/s/resetcursor",
                                   {"ledgerId": -1, "entryId": -1, "isExcluded": False}), (204, None))
        self.assertEqual(self.send("PUT", "/admin/v2/tenants/shape", {"allowedClusters": ["standalone"]}), (204, None))
        self.assertTrue(self.broker.alive())

    def test_namespace_retention_and_subscription_writes_reach_the_broker(self):
        """A retention set on public/default keeps what an MQTT client publishes with nobody
        subscribed; a subscription created at the earliest position then has it as backlog, and
        skip, reset and delete act on the MQTT session's topic as on any."""
        topic_path = "/admin/v2/persistent/public/default/it%252Fret%252Fa"
        pub = PahoClient(self.broker.port, client_id="ret-pub")
        pub.connect()
        pub.publish("it/ret/a", b"before", qos=1)
        self.assertEqual(self.get_json(topic_path + "/stats")["storageSize"], 0)  # nothing kept
        self.assertEqual(self.send("POST", "/admin/v2/namespaces/public/default/retention",
                                   {"retentionTimeInMinutes": 60, "retentionSizeInMB": 10}), (204, None))
        self.assertEqual(self.get_json("/admin/v2/namespaces/public/default/retention"),
                         {"retentionTimeInMinutes": 60, "retentionSizeInMB": 10})
        for i in range(4):
            pub.publish("it/ret/a", b"kept-%d" % i, qos=1)
        pub.disconnect()
        self.assertEqual(self.get_json(topic_path + "/stats")["storageSize"], 4 * len(b"kept-0"))
        self.assertEqual(self.send("PUT", topic_path + "/subscription/audit", {"ledgerId": -1, "entryId": -1}),
                         (204, None))
        self.assertEqual(self.get_json(topic_path + "/subscriptions"), ["audit"])
        backlog = lambda: self.get_json(topic_path + "/stats")["subscriptions"]["audit"]["msgBacklog"]
        self.assertEqual(backlog(), 4)
        self.assertEqual(self.send("POST", topic_path + "/subscription/audit/skip/1"), (204, None))
        self.assertEqual(backlog(), 3)
        internal = self.get_json(topic_path + "/internalStats")
        self.assertEqual(internal["numberOfEntries"], 4)
        ledger, last = internal["lastConfirmedEntry"].split(":")
        self.assertEqual(internal["cursors"]["audit"]["markDeletePosition"], "%s:%d" % (ledger, int(last) - 3))
        self.assertEqual(self.send("POST", topic_path + "/subscription/audit/skip_all"), (204, None))
        self.assertEqual(backlog(), 0)
        self.assertEqual(self.send("POST", topic_path + "/subscription/audit/resetcursor/0"), (204, None))
        self.assertEqual(backlog(), 4)
        self.assertEqual(self.send("DELETE", topic_path + "/subscription/audit"), (204, None))
        self.assertEqual(self.get_json(topic_path + "/subscriptions"), [])
        # Removing the policy trims what nobody needs any more.
        self.assertEqual(self.send("DELETE", "/admin/v2/namespaces/public/default/retention"), (204, None))
        self.assertEqual(self.get_json(topic_path + "/stats")["storageSize"], 0)

    def test_tenants_namespaces_and_policies_survive_a_restart(self):
        """Tenants, namespaces and their policies set over REST are stored: after a kill -9 and a
        restart they read back the same, a deleted tenant stays deleted, and a namespace's
        retention still acts (what is published with nobody subscribed is kept)."""
        info = {"adminRoles": ["ops"], "allowedClusters": ["standalone"]}
        self.assertEqual(self.send("PUT", "/admin/v2/tenants/durable", info), (204, None))
        self.assertEqual(self.send("PUT", "/admin/v2/tenants/gone", {}), (204, None))
        self.assertEqual(self.send("DELETE", "/admin/v2/tenants/gone"), (204, None))
        for ns in ("kept", "plain", "dropped"):
            self.assertEqual(self.send("PUT", "/admin/v2/namespaces/durable/" + ns), (204, None))
        self.assertEqual(self.send("DELETE", "/admin/v2/namespaces/durable/dropped"), (204, None))
        base = "/admin/v2/namespaces/durable/kept/"
        quota = {"limitSize": 1048576, "limitTime": -1, "policy": "consumer_backlog_eviction"}
        writes = [("retention", {"retentionTimeInMinutes": -1, "retentionSizeInMB": 10}), ("messageTTL", 3600),
                  ("backlogQuota", quota), ("deduplication", True)]
        for path, body in writes:
            self.assertEqual(self.send("POST", base + path, body), (204, None), path)
        # A policy set then removed is stored removed.
        self.assertEqual(self.send("POST", "/admin/v2/namespaces/durable/plain/messageTTL", 60), (204, None))
        self.assertEqual(self.send("DELETE", "/admin/v2/namespaces/durable/plain/messageTTL"), (204, None))

        self.broker.restart()

        self.assertIn("durable", self.get_json("/admin/v2/tenants"))
        self.assertNotIn("gone", self.get_json("/admin/v2/tenants"))
        self.assertEqual(self.get_json("/admin/v2/tenants/durable"), info)
        self.assertEqual(self.get_json("/admin/v2/namespaces/durable"), ["durable/kept", "durable/plain"])
        self.assertEqual(self.get_json(base + "retention"), {"retentionTimeInMinutes": -1, "retentionSizeInMB": 10})
        self.assertEqual(self.get_json(base + "messageTTL"), 3600)
        self.assertEqual(self.get_json(base + "backlogQuotaMap"), {"destination_storage": quota})
        self.assertEqual(self.get_json(base + "deduplication"), True)
        self.assertEqual(self.send("GET", "/admin/v2/namespaces/durable/plain/messageTTL"), (204, None))
        # The retention acts on a topic made after the restart: its message is kept with nobody
        # subscribed (the broker's default keeps nothing: see the plain namespace's topic).
        pub = PahoClient(self.broker.port, client_id="durable-pub")
        pub.connect()
        self.addCleanup(pub.disconnect)
        pub.publish("persistent://durable/kept/r", b"kept", qos=1)
        pub.publish("persistent://durable/plain/r", b"gone", qos=1)
        self.assertEqual(self.get_json("/admin/v2/persistent/durable/kept/r/stats")["storageSize"], 4)
        self.assertEqual(self.get_json("/admin/v2/persistent/durable/plain/r/stats")["storageSize"], 0)

    def test_publishes_in_flight_on_a_deleted_topic_are_all_answered(self):
        """A topic deleted again and again while an MQTT 5 client's QoS 1 publishes to it are
        being stored: every PUBLISH still gets its PUBACK (success, or 0x80 for one whose topic
        went while it was being stored) and the client stays connected. Before, those caught in
        the store when their topic went were never answered (this failed in some of the runs
        of a build without the fix: whether a publish meets a delete is up to timing)."""
        import threading
        import paho.mqtt.client as mqtt
        topic = "persistent://public/default/it-del-inflight"
        path = "/admin/v2/persistent/public/default/it-del-inflight"
        lock = threading.Lock()
        acked = set()

        def on_publish(client, userdata, mid):
            with lock:
                acked.add(mid)

        def count():
            with lock:
                return len(acked)

        c = mqtt.Client(client_id="del-inflight", protocol=mqtt.MQTTv5)
        c.max_inflight_messages_set(0)  # no limit: hundreds in flight at once
        c.on_publish = on_publish
        c.connect("127.0.0.1", self.broker.port)
        c.loop_start()
        self.addCleanup(c.loop_stop)
        self.addCleanup(c.disconnect)
        stop = threading.Event()
        statuses = []

        def delete_until_stopped():
            conn = http.client.HTTPConnection("127.0.0.1", self.broker.web_port, timeout=WAIT)
            try:
                # Back to back (a pause between deletes let every publish slip between them),
                # bounded; stopped once every publish is answered.
                for _ in range(30000):
                    if stop.is_set():
                        break
                    conn.request("DELETE", path)
                    res = conn.getresponse()
                    res.read()
                    statuses.append(res.status)
            finally:
                conn.close()

        n = 0
        for round_ in range(4):  # how many publishes meet a delete varies: several rounds
            stop.clear()
            deleter = threading.Thread(target=delete_until_stopped)
            deleter.start()
            try:
                for _ in range(1000):
                    c.publish(topic, b"x" * 100, qos=1)
                n += 1000
                answered = harness.wait_until(lambda: count() == n, 20.0)
            finally:
                stop.set()
                deleter.join()
            self.assertTrue(answered, "round %d: %d of %d publishes answered" % (round_, count(), n))
        self.assertEqual(set(statuses) - {204, 404}, set())  # 404: between a delete and the next publish
        self.assertIn(204, statuses)
        self.assertTrue(c.is_connected())

    def test_topic_deletion_keeps_mqtt_subscriptions_and_frees_the_namespace(self):
        """DELETE of a topic: refused (412) while a client is connected to it, forced it goes
        with its messages, subscriptions and retained message; the MQTT subscriber keeps its
        filter, so a new publish recreates the topic and reaches it; once its topics are deleted
        the namespace can be deleted."""
        self.assertEqual(self.send("PUT", "/admin/v2/tenants/deltest", {"allowedClusters": ["standalone"]}),
                         (204, None))
        self.assertEqual(self.send("PUT", "/admin/v2/namespaces/deltest/ns"), (204, None))
        mqtt_topic = "persistent://deltest/ns/sensor"
        path = "/admin/v2/persistent/deltest/ns/sensor"
        sub = PahoClient(self.broker.port, client_id="del-sub")
        sub.connect()
        self.addCleanup(sub.disconnect)
        sub.subscribe([(mqtt_topic, 1)])
        pub = PahoClient(self.broker.port, client_id="del-pub")
        pub.connect()
        self.addCleanup(pub.disconnect)
        pub.publish(mqtt_topic, b"before", qos=1, retain=True)
        self.assertEqual(sub.get().payload, b"before")
        self.assertEqual(self.get_json(path + "/stats")["msgInCounter"], 1)

        self.assertEqual(self.send("DELETE", path),
                         (412, {"reason": "Topic has active producers/subscriptions"}))
        self.assertEqual(self.send("DELETE", "/admin/v2/namespaces/deltest/ns"),
                         (409, {"reason": "Cannot delete non empty namespace"}))
        self.assertEqual(self.send("DELETE", path + "?force=true"), (204, None))
        self.assertEqual(self.send("DELETE", path + "?force=true"),
                         (404, {"reason": "Topic %s not found" % mqtt_topic}))
        self.assertEqual(self.request("GET", path + "/stats")[0], 404)
        self.assertEqual(self.get_json("/admin/v2/persistent/deltest/ns"), [])

        # The subscriber was not told anything and still gets what is published now.
        pub.publish(mqtt_topic, b"after", qos=1)
        got = sub.get()
        self.assertEqual((got.topic, got.payload), (mqtt_topic, b"after"))
        stats = self.get_json(path + "/stats")
        self.assertEqual((stats["msgInCounter"], list(stats["subscriptions"])), (1, ["del-sub"]))
        # The retained message went with the topic: a new subscriber's first message is the
        # marker published after both its SUBACKs.
        late = PahoClient(self.broker.port, client_id="del-late")
        late.connect()
        self.addCleanup(late.disconnect)
        late.subscribe([(mqtt_topic, 1)])
        late.subscribe([("it/del/marker", 1)])
        pub.publish("it/del/marker", b"marker", qos=1)
        self.assertEqual(late.get().payload, b"marker")
        late.unsubscribe(mqtt_topic)

        sub.unsubscribe(mqtt_topic)
        self.assertEqual(self.send("DELETE", path), (204, None))  # nobody on it now
        self.assertEqual(self.send("DELETE", "/admin/v2/namespaces/deltest/ns"), (204, None))
        self.assertEqual(self.get_json("/admin/v2/namespaces/deltest"), [])

    def test_mqtt_clients_listed_and_kicked(self):
        """/mop/clients shows paho's session as it connected; the kick closes its connection and,
        as for any server-side close, publishes its will; /mop/stats counts what it did."""
        watcher = PahoClient(self.broker.port, client_id="kick-watcher")
        watcher.connect()
        self.addCleanup(watcher.disconnect)
        watcher.subscribe([("it/kick/will", 1)])
        victim = PahoClient(self.broker.port, client_id="kick-me", clean_session=False, keepalive=45,
                            will=("it/kick/will", b"gone", 1, False))
        victim.connect()
        victim.subscribe([("it/kick/a/#", 1), ("it/kick/b", 0)])
        victim.publish("it/kick/a/1", b"x", qos=1)
        clients = {c["clientId"]: c for c in self.get_json("/mop/clients")}
        me = clients["kick-me"]
        self.assertEqual((me["connected"], me["protocol"], me["keepAlive"], me["cleanStart"]),
                         (True, "MQTT 3.1.1", 45, False))
        self.assertEqual(sorted(me["subscriptions"]), ["it/kick/a/#", "it/kick/b"])
        self.assertTrue(me["address"].startswith("127.0.0.1:"), me["address"])
        self.assertLessEqual(abs(me["connectedSince"] / 1000 - time.time()), 60)
        stats = self.get_json("/mop/stats")
        self.assertEqual((stats["activeClientCount"], stats["subCount"], stats["receivedCount"]), (2, 3, 1))
        self.assertEqual(self.send("DELETE", "/mop/clients/kick-me"), (204, None))
        self.assertTrue(victim.disconnected.wait(WAIT))
        victim.c.loop_stop()
        self.assertEqual(watcher.get().payload, b"gone")
        gone = {c["clientId"]: c for c in self.get_json("/mop/clients")}["kick-me"]
        self.assertFalse(gone["connected"])  # the session outlives its connection, as asked
        self.assertEqual(sorted(gone["subscriptions"]), ["it/kick/a/#", "it/kick/b"])
        self.assertEqual(self.send("DELETE", "/mop/clients/kick-me"),
                         (404, {"reason": "Client kick-me is not connected"}))
        # The packets and the disconnect, by type and reason, in /metrics.
        _, samples = parse_metrics(self.metrics())
        got = lambda name, **labels: samples.get((name, frozenset(labels.items())))
        self.assertEqual(got("mop_disconnects_total", reason="administrative_action"), 1)
        self.assertEqual(got("mop_packets_received_total", type="CONNECT"), 2)
        self.assertEqual(got("mop_packets_received_total", type="SUBSCRIBE"), 2)
        self.assertEqual(got("mop_packets_sent_total", type="CONNACK"), 2)
        self.assertEqual(got("mop_packets_sent_total", type="SUBACK"), 2)
        self.assertEqual(got("mop_packets_sent_total", type="DISCONNECT"), 0)  # MQTT 3.1.1 has none to send
        self.assertGreaterEqual(got("mop_packets_sent_total", type="PUBLISH"), 2)  # its own message, the will

    def test_kick_tells_an_mqtt5_client_why(self):
        """mosquitto_sub over MQTT 5 reads the kick's DISCONNECT with reason 0x98 (152),
        Administrative action."""
        sub = MosqSub(self.broker.port, "it/kick5", qos=0, wait_secs=20, extra=["-V", "mqttv5", "-i", "kick5"])
        self.addCleanup(sub.kill)
        sub.wait_subscribed()
        self.assertEqual(self.send("DELETE", "/mop/clients/kick5"), (204, None))
        sub.wait_line(lambda l: l == "Received DISCONNECT (152)")

    def test_keep_alive(self):
        conn = http.client.HTTPConnection("127.0.0.1", self.broker.web_port, timeout=WAIT)
        try:
            for _ in range(3):
                status, _, body, _ = self.request("GET", "/status.html", conn)
                self.assertEqual((status, body), (200, "OK"))
            sock = conn.sock
            status, _, _, _ = self.request("GET", "/admin/v2/tenants", conn)
            self.assertEqual(status, 200)
            self.assertIs(conn.sock, sock)  # the same connection served every request
        finally:
            conn.close()


@unittest.skipUnless(harness.is_mop(), "the web service is mop's")
class Rates(unittest.TestCase):
    """pulsar_rate_in / msgRateIn: computed every statsUpdateFrequencyInSecs (1 s here) from the
    counters, so a burst of publishes shows as a positive rate for one interval, then 0 again."""

    def test_rate_in_follows_the_publishes(self):
        broker = harness.Broker(extra_args=["--statsUpdateFrequencyInSecs=1"]).start()
        self.addCleanup(broker.cleanup)
        name = "it/rates"
        topic = "persistent://public/default/it%2Frates"

        def rate():
            conn = http.client.HTTPConnection("127.0.0.1", broker.web_port, timeout=WAIT)
            try:
                conn.request("GET", "/metrics")
                types, samples = parse_metrics(conn.getresponse().read().decode())
            finally:
                conn.close()
            self.assertEqual(types["pulsar_rate_in"], "gauge")
            return samples.get(("pulsar_rate_in", topic_labels(topic)))

        def wait_for(pred):
            deadline = time.monotonic() + WAIT
            while time.monotonic() < deadline:
                value = rate()
                if value is not None and pred(value):
                    return value
                time.sleep(0.1)
            self.fail("pulsar_rate_in never satisfied the condition (last %r)" % rate())

        pub = PahoClient(broker.port, client_id="rates-pub")
        pub.connect()
        for i in range(50):
            pub.publish(name, b"x" * 10, qos=1)
        self.assertGreater(wait_for(lambda v: v > 0), 0)
        wait_for(lambda v: v == 0)  # an interval without publishes
        pub.disconnect()
        broker.stop()


@unittest.skipUnless(harness.is_mop(), "mop's $SYS topics (mosquitto's are tested by its own suite)")
class SysTopics(unittest.TestCase):
    """Mosquitto's $SYS/broker/... topics with --sysInterval=1, read by mosquitto_sub."""

    def setUp(self):
        self.broker = harness.Broker(extra_args=["--sysInterval=1"]).start()
        self.addCleanup(self.broker.cleanup)
        self.addCleanup(self.broker.stop)

    def test_sys_topics_count_what_clients_did_and_hide_from_wildcards(self):
        version = subprocess.run([os.environ["MOP_BIN"], "--version"], stdout=subprocess.PIPE, text=True,
                                 check=True).stdout.strip()  # "mop 0.1.0"
        pub = PahoClient(self.broker.port, client_id="sys-pub")
        pub.connect()
        self.addCleanup(pub.disconnect)
        for i in range(3):
            pub.publish("it/sys/x", b"m%d" % i, qos=1)
        everything = MosqSub(self.broker.port, "#", qos=0, wait_secs=30)
        self.addCleanup(everything.kill)
        everything.wait_subscribed()
        sys = MosqSub(self.broker.port, "$SYS/#", qos=0, wait_secs=30)
        self.addCleanup(sys.kill)
        sys.wait_subscribed()
        # Three clients connected: paho and both mosquitto_sub.
        sys.wait_line(lambda l: l == "$SYS/broker/clients/connected 3", timeout=WAIT)
        # Two distinct uptimes: an update published after both subscribed.
        sys.wait_line(lambda l: len({x for x in sys.output_lines() if x.startswith("$SYS/broker/uptime ")}) >= 2,
                      timeout=WAIT)
        sys.wait_line(lambda l: l == "$SYS/broker/publish/messages/received 3", timeout=WAIT)
        # Every packet: at least paho's CONNECT and 3 PUBLISHes and both mosquitto_subs' CONNECT
        # and SUBSCRIBE.
        sys.wait_line(lambda l: re.fullmatch(r"\$SYS/broker/messages/received (\d+)", l) is not None
                      and int(l.split()[-1]) >= 8, timeout=WAIT)
        sys.wait_line(lambda l: l == "$SYS/broker/version " + version, timeout=WAIT)
        sys.wait_line(lambda l: re.fullmatch(r"\$SYS/broker/uptime \d+ seconds", l) is not None, timeout=WAIT)
        sys.wait_line(lambda l: re.fullmatch(r"\$SYS/broker/load/publish/received/1min \d+\.\d\d", l) is not None,
                      timeout=WAIT)
        sys.wait_line(lambda l: l == "$SYS/broker/subscriptions/count 2", timeout=WAIT)
        # A marker published after several $SYS updates reached `#`: none of them did.
        pub.publish("it/sys/marker", b"end", qos=1)
        everything.wait_line(lambda l: l == "it/sys/marker end")
        self.assertEqual([l for l in everything.output_lines() if l.startswith("$")], [])
        # The values are retained: a late subscriber has them at once.
        late = MosqSub(self.broker.port, "$SYS/broker/version", qos=0, count=1, wait_secs=10)
        self.addCleanup(late.kill)
        self.assertEqual(late.finish(), 0)
        self.assertIn("$SYS/broker/version " + version, late.output_lines())


if __name__ == "__main__":
    unittest.main()
