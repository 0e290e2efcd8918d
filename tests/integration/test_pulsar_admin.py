"""What the admin API (http/) changes for official Pulsar clients, seen with the official Python
client (PyPI `pulsar-client`, the C++ client inside) against one mop standalone: a topic's
`stats` and `partitioned-stats` list its connected Pulsar producers (`publishers`), not MQTT
publishers, and no longer once closed; a namespace's deduplication policy switches producer
deduplication for that namespace's topics, falling back to brokerDeduplicationEnabled when it is
removed.

mop only (the same calls against Apache Pulsar are AdminApiTest.java's); run with the venv python
that scripts/setup makes (.cache/venv/bin/python). Without the client the suite exits 77
(skipped), saying so.
"""

import http.client
import json
import subprocess
import sys
import time
import unittest
import uuid

try:
    import pulsar
except ImportError:  # pragma: no cover - the environment, not the broker
    print("pulsar-client is not installed for %s: skipped (see the module docstring)" % sys.executable)
    sys.exit(77)

import harness

RECEIVE_MS = 10000  # how long a message that must come may take
NOTHING_MS = 700    # how long we wait to see that nothing more comes


def admin_request(port, method, path, body=None):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        headers = {"Content-Type": "application/json"} if body is not None else {}
        conn.request(method, path, body=None if body is None else json.dumps(body), headers=headers)
        res = conn.getresponse()
        return res.status, res.read().decode()
    finally:
        conn.close()


class TopicPublishers(unittest.TestCase):
    """GET .../{topic}/stats and .../partitioned-stats: `publishers`, as Pulsar lists them."""

    def setUp(self):
        # Rates every second, so that a producer's msgRateIn is seen moving within a bounded wait.
        self.broker = self.enterContext(harness.Broker(extra_args=["--statsUpdateFrequencyInSecs=1"]))
        self.client = pulsar.Client("pulsar://127.0.0.1:%d" % self.broker.pulsar_port, operation_timeout_seconds=10)
        self.addCleanup(lambda: self.client.close())  # the current client, before the broker stops

    def stats(self, path):
        status, body = admin_request(self.broker.web_port, "GET", path)
        self.assertEqual(status, 200, body)
        return json.loads(body)

    def test_stats_list_a_connected_producer_and_not_an_mqtt_publisher(self):
        local = "stats-%s" % uuid.uuid4().hex[:8]
        topic = "persistent://public/default/" + local
        path = "/admin/v2/persistent/public/default/%s/stats" % local
        producer = self.client.create_producer(topic, producer_name="stats-producer", batching_enabled=False)
        # An MQTT publisher on the same topic is no Pulsar producer: not listed.
        subprocess.run(["mosquitto_pub", "-h", "127.0.0.1", "-p", str(self.broker.port), "-q", "1",
                        "-t", local, "-m", "from mqtt"], check=True, timeout=15)
        # Sends go on while we wait for the producer's rate: every statistics interval has some.
        deadline = time.monotonic() + 15
        while True:
            producer.send(b"x" * 10)
            publishers = self.stats(path)["publishers"]
            self.assertEqual(len(publishers), 1, publishers)
            p = publishers[0]
            if p["msgRateIn"] > 0 or time.monotonic() > deadline:
                break
            time.sleep(0.1)
        self.assertEqual(p["producerName"], "stats-producer")
        self.assertIsInstance(p["producerId"], int)
        self.assertEqual(p["accessMode"], "Shared")
        self.assertRegex(p["address"], r"^/127\.0\.0\.1:\d+$")
        self.assertRegex(p["connectedSince"], r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
        self.assertTrue(p["clientVersion"], p)  # the client's own, from its CONNECT
        self.assertGreater(p["msgRateIn"], 0)
        self.assertGreater(p["msgThroughputIn"], 0)
        producer.close()
        self.assertEqual(self.stats(path)["publishers"], [])

    def test_partitioned_stats_list_a_producer_once_by_name(self):
        local = "pstats-%s" % uuid.uuid4().hex[:8]
        base = "/admin/v2/persistent/public/default/" + local
        status, body = admin_request(self.broker.web_port, "PUT", base + "/partitions", 2)
        self.assertEqual(status, 204, body)
        producer = self.client.create_producer("persistent://public/default/" + local,
                                               producer_name="partitioned-producer", batching_enabled=False)
        producer.send(b"one")
        stats = self.stats(base + "/partitioned-stats")
        self.assertEqual([p["producerName"] for p in stats["publishers"]], ["partitioned-producer"])
        for name, one in stats["partitions"].items():
            self.assertEqual([p["producerName"] for p in one["publishers"]], ["partitioned-producer"], name)
        producer.close()
        self.assertEqual(self.stats(base + "/partitioned-stats")["publishers"], [])


class NamespaceDeduplication(unittest.TestCase):
    """POST /admin/v2/namespaces/{t}/{ns}/deduplication, over a broker started with
    brokerDeduplicationEnabled=false (the default) or true."""

    broker_dedup = "false"

    def setUp(self):
        self.broker = self.enterContext(harness.Broker(extra_args=["--brokerDeduplicationEnabled=" + self.broker_dedup]))
        self.client = pulsar.Client("pulsar://127.0.0.1:%d" % self.broker.pulsar_port, operation_timeout_seconds=10)
        self.addCleanup(lambda: self.client.close())  # the current client, before the broker stops
        self.ns = "public/dedup-%s" % uuid.uuid4().hex[:8]
        status, body = self.admin("PUT", "/admin/v2/namespaces/" + self.ns)
        self.assertEqual(status, 204, body)

    def admin(self, method, path, body=None):
        return admin_request(self.broker.web_port, method, path, body)

    def set_policy(self, value):
        path = "/admin/v2/namespaces/%s/deduplication" % self.ns
        if value is None:
            status, body = self.admin("DELETE", path)
        else:
            status, body = self.admin("POST", path, value)
        self.assertEqual(status, 204, body)
        status, body = self.admin("GET", path)  # read back: the value, or nothing once removed
        if value is None:
            self.assertEqual((status, body), (204, ""))
        else:
            self.assertEqual((status, json.loads(body)), (200, value))

    def copies_of_a_resend(self, name):
        """Sends sequence ids 0, 1, 1 (a resend), 2 from one named producer on a new topic of
        the namespace; returns the payloads a reader from the earliest message sees."""
        topic = "persistent://%s/%s-%s" % (self.ns, name, uuid.uuid4().hex[:6])
        consumer = self.client.subscribe(topic, "s", initial_position=pulsar.InitialPosition.Earliest)
        producer = self.client.create_producer(topic, producer_name="resender", batching_enabled=False)
        producer.send(b"m0", sequence_id=0)
        producer.send(b"m1", sequence_id=1)
        producer.send(b"m1", sequence_id=1)  # the resend: answered either way
        producer.send(b"m2", sequence_id=2)
        producer.close()
        got = []
        while True:
            try:
                m = consumer.receive(RECEIVE_MS if len(got) < 3 else NOTHING_MS)
            except pulsar.Timeout:
                break
            got.append(m.data().decode())
            consumer.acknowledge(m)
        consumer.close()
        return got

    def test_policy_on_deduplicates_off_does_not(self):
        self.set_policy(True)
        self.assertEqual(self.copies_of_a_resend("on"), ["m0", "m1", "m2"])
        self.set_policy(False)
        self.assertEqual(self.copies_of_a_resend("off"), ["m0", "m1", "m1", "m2"])

    def test_unset_policy_falls_back_to_the_broker_setting(self):
        self.set_policy(not (self.broker_dedup == "true"))
        self.set_policy(None)
        expected = ["m0", "m1", "m2"] if self.broker_dedup == "true" else ["m0", "m1", "m1", "m2"]
        self.assertEqual(self.copies_of_a_resend("unset"), expected)


class NamespaceDeduplicationOverBrokerOn(NamespaceDeduplication):
    """The same with brokerDeduplicationEnabled=true: the policy turns it off for its namespace."""

    broker_dedup = "true"


if __name__ == "__main__":
    unittest.main(verbosity=2)
