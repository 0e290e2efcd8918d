"""The official Pulsar Python client (PyPI `pulsar-client`, built on the official C++ client) against
mop standalone and against a real Apache Pulsar standalone, with the same test cases.

Run with the venv python that scripts/setup makes (.cache/venv/bin/python, which also sees the
Debian python3-paho-mqtt) and MOP_BIN set. Apache Pulsar is started once per run with
scripts/pulsar-standalone in a temp dir (15-40 s) and stopped at the end; with PULSAR_URL and
PULSAR_HTTP set, that broker is used instead (quicker runs by hand). mop is started with
harness.py. Each test uses topics of its own.

`OnMop` and `OnApachePulsar` run every case of `Cases`; cases where mop behaves differently are
listed in pulsar/server/README.md ("Differences from Apache Pulsar") and marked there as expected
failures for mop, naming the reason.
"""

import functools
import os
import subprocess
import sys
import time
import unittest
import uuid

import pulsar
from pulsar.schema import Integer, JsonSchema, Record, String

import harness

RECEIVE_MS = 10000  # how long a message that must come may take
NOTHING_MS = 700    # how long we wait to see that nothing more comes
PARTITIONS = 3
# Both servers keep acknowledged messages (and those no subscription holds) for a while, so that a
# seek back or a late reader finds them on both. Without retention mop deletes them at once and
# Apache Pulsar when it trims a ledger, some minutes later (pulsar/server/README.md).
RETENTION_FLAGS = ["--" + kv for kv in harness.PULSAR_RETENTION]

SUBSCRIPTION_TYPES = [pulsar.ConsumerType.Exclusive, pulsar.ConsumerType.Shared,
                      pulsar.ConsumerType.Failover, pulsar.ConsumerType.KeyShared]
COMPRESSIONS = [pulsar.CompressionType.LZ4, pulsar.CompressionType.ZLib,
                pulsar.CompressionType.ZSTD, pulsar.CompressionType.SNAPPY]


class MopServer:
    """mop standalone: MQTT and the Pulsar protocol on free ports, deduplication and retention on
    (as for Apache Pulsar). A second mop
    with `allowAutoTopicCreationType=partitioned` serves the partitioned-topic case, since mop has no
    admin API to create one (the official client asks PARTITIONED_METADATA for every topic, so the
    first mop must create plain topics)."""

    name = "mop"

    def __init__(self):
        self.brokers = []

    def _start(self, extra):
        def args(port, data_dir):
            return ["--mqttListeners=mqtt://127.0.0.1:%d" % port, "--dataDir=%s" % data_dir,
                    "--advertisedAddress=127.0.0.1", "--brokerDeduplicationEnabled=true",
                    "--logLevel=info"] + RETENTION_FLAGS + extra

        broker = harness.Broker(mop_args=args).start()  # every port 0, read from the start-up line
        self.brokers.append(broker)
        return broker, "pulsar://127.0.0.1:%d" % broker.pulsar_port

    def start(self):
        self.broker, self.url = self._start([])
        self.mqtt_port = self.broker.port
        self.partitioned_url = None
        return self

    def partitioned_topic(self, name):
        """(service URL, topic) of a new topic with PARTITIONS partitions."""
        if self.partitioned_url is None:
            _, self.partitioned_url = self._start(["--allowAutoTopicCreationType=partitioned",
                                                   "--defaultNumPartitions=%d" % PARTITIONS])
        return self.partitioned_url, name

    def admin(self, method, path, body=None):
        """mop's admin API (http/), as harness.ApachePulsar.admin is Pulsar's."""
        return harness.admin_request("http://127.0.0.1:%d" % self.broker.web_port, method, path, body)

    def stop(self):
        for b in self.brokers:
            try:
                b.stop()
            finally:
                b.cleanup()
        self.brokers = []

    def log_tail(self):
        return "\n".join(b.log_text(tail=60) for b in self.brokers)


class ApachePulsarServer(harness.ApachePulsar):
    """harness.ApachePulsar (deduplication and retention on, as for mop, and batch-index
    acknowledgements on: mop has them always), with the partitioned topic the cases need."""

    def partitioned_topic(self, name):
        self.admin("PUT", "persistent/%s/partitions" % name.replace("persistent://", ""), PARTITIONS)
        return self.url, name


SERVERS = {"mop": MopServer(), "pulsar": ApachePulsarServer()}


def setUpModule():
    started = []
    try:
        for s in SERVERS.values():
            s.start()
            started.append(s)
    except BaseException:
        for s in started:
            s.stop()
        raise


def tearDownModule():
    errors = []
    for s in SERVERS.values():
        try:
            s.stop()
        except Exception as e:  # stop both, then report
            errors.append(e)
    if errors:
        raise errors[0]


def new_topic(prefix):
    return "persistent://public/default/%s-%s" % (prefix, uuid.uuid4().hex[:12])


def only_on_mop(reason):
    """Marks a case mop is known to fail (see pulsar/server/README.md): an expected failure on mop,
    an ordinary test on Apache Pulsar."""
    def wrap(fn):
        fn.mop_expected_failure = reason
        return fn
    return wrap


class Cases:
    """Test cases run against `self.server` (set by the subclasses)."""

    server = None

    def setUp(self):
        self.clients = []
        self.client = self.new_client(self.server.url)

    def tearDown(self):
        for c in self.clients:
            try:
                c.close()
            except Exception:
                pass
        if any(err for _, err in getattr(self._outcome, "errors", []) if err):
            sys.stderr.write("\n---- %s log tail ----\n%s\n" % (self.server.name, self.server.log_tail()))

    def new_client(self, url):
        c = pulsar.Client(url, operation_timeout_seconds=20,
                          logger=pulsar.ConsoleLogger(pulsar.LoggerLevel.Warn))
        self.clients.append(c)
        return c

    def subscribe(self, topic, sub, kind=pulsar.ConsumerType.Exclusive, client=None, **kw):
        kw.setdefault("initial_position", pulsar.InitialPosition.Earliest)
        return (client or self.client).subscribe(topic, sub, consumer_type=kind, **kw)

    def receive_n(self, consumer, n, ack=True):
        got = []
        for _ in range(n):
            m = consumer.receive(RECEIVE_MS)
            got.append(m)
            if ack:
                consumer.acknowledge(m)
        return got

    def assert_nothing_more(self, consumer):
        try:
            m = consumer.receive(NOTHING_MS)
        except pulsar.Timeout:
            return
        self.fail("unexpected message %r (id %s)" % (m.data(), m.message_id()))

    def payloads(self, msgs):
        return [m.data().decode() for m in msgs]

    # ---- produce / consume, subscription types -----------------------------------------------

    def test_produce_consume_keeps_payload_properties_keys(self):
        topic = new_topic("basic")
        c = self.subscribe(topic, "s")
        p = self.client.create_producer(topic, producer_name="basic-producer")
        for i in range(10):
            p.send(("m%d" % i).encode(), properties={"i": str(i), "k": "v"}, partition_key="key%d" % (i % 3))
        got = self.receive_n(c, 10)
        self.assertEqual(self.payloads(got), ["m%d" % i for i in range(10)])
        for i, m in enumerate(got):
            self.assertEqual(m.properties(), {"i": str(i), "k": "v"})
            self.assertEqual(m.partition_key(), "key%d" % (i % 3))
            self.assertEqual(m.producer_name(), "basic-producer")
            self.assertEqual(m.redelivery_count(), 0)
            self.assertGreater(m.publish_timestamp(), 0)
        self.assert_nothing_more(c)

    @only_on_mop("mop does not store a message's event time: consumers get 0")
    def test_event_timestamp_round_trips(self):
        topic = new_topic("eventtime")
        c = self.subscribe(topic, "s")
        p = self.client.create_producer(topic)
        p.send(b"x", event_timestamp=1234567)
        self.assertEqual(c.receive(RECEIVE_MS).event_timestamp(), 1234567)

    def test_each_subscription_type_single_consumer_gets_all_in_order(self):
        for kind in SUBSCRIPTION_TYPES:
            with self.subTest(kind=kind):
                topic = new_topic("subtype")
                c = self.subscribe(topic, "s", kind)
                p = self.client.create_producer(topic)
                for i in range(20):
                    p.send(("m%d" % i).encode(), partition_key="k%d" % (i % 4))
                self.assertEqual(self.payloads(self.receive_n(c, 20)), ["m%d" % i for i in range(20)])
                self.assert_nothing_more(c)
                c.close()
                # everything acknowledged: a consumer of the same subscription gets nothing
                c2 = self.subscribe(topic, "s", kind)
                self.assert_nothing_more(c2)

    def test_exclusive_refuses_second_consumer(self):
        topic = new_topic("excl")
        self.subscribe(topic, "s", pulsar.ConsumerType.Exclusive)
        with self.assertRaises(pulsar.ConsumerBusy):
            self.subscribe(topic, "s", pulsar.ConsumerType.Exclusive, client=self.new_client(self.server.url))

    def test_shared_spreads_each_message_to_one_consumer(self):
        topic = new_topic("shared")
        c1 = self.subscribe(topic, "s", pulsar.ConsumerType.Shared, receiver_queue_size=5)
        c2 = self.subscribe(topic, "s", pulsar.ConsumerType.Shared, receiver_queue_size=5,
                            client=self.new_client(self.server.url))
        p = self.client.create_producer(topic)
        n = 40
        for i in range(n):
            p.send(("m%d" % i).encode())
        got = {1: [], 2: []}
        deadline = time.monotonic() + 20
        while len(got[1]) + len(got[2]) < n and time.monotonic() < deadline:
            for idx, c in ((1, c1), (2, c2)):
                try:
                    m = c.receive(100)
                except pulsar.Timeout:
                    continue
                got[idx].append(m.data().decode())
                c.acknowledge(m)
        self.assertEqual(sorted(got[1] + got[2]), sorted("m%d" % i for i in range(n)))
        self.assertTrue(got[1] and got[2], "both Shared consumers get messages: %r" % got)

    def test_failover_sends_everything_to_one_active_consumer(self):
        topic = new_topic("failover")
        c1 = self.subscribe(topic, "s", pulsar.ConsumerType.Failover, consumer_name="a")
        c2 = self.subscribe(topic, "s", pulsar.ConsumerType.Failover, consumer_name="b",
                            client=self.new_client(self.server.url))
        p = self.client.create_producer(topic)
        for i in range(10):
            p.send(("m%d" % i).encode())
        got = {}
        for name, c in (("a", c1), ("b", c2)):
            msgs = []
            while True:
                try:
                    m = c.receive(1500)
                except pulsar.Timeout:
                    break
                msgs.append(m.data().decode())
                c.acknowledge(m)
            got[name] = msgs
        full = [v for v in got.values() if v]
        self.assertEqual(len(full), 1, "one active consumer: %r" % got)
        self.assertEqual(full[0], ["m%d" % i for i in range(10)])

    def test_key_shared_keeps_each_key_on_one_consumer(self):
        topic = new_topic("keyshared")
        c1 = self.subscribe(topic, "s", pulsar.ConsumerType.KeyShared)
        c2 = self.subscribe(topic, "s", pulsar.ConsumerType.KeyShared, client=self.new_client(self.server.url))
        p = self.client.create_producer(topic)
        n = 72  # 24 keys: the chance that one consumer's hash range holds them all is 2^-23
        for i in range(n):
            p.send(("%d" % i).encode(), partition_key="key%d" % (i % 24))
        owner, per_key, total = {}, {}, 0
        deadline = time.monotonic() + 20
        while total < n and time.monotonic() < deadline:
            for idx, c in ((1, c1), (2, c2)):
                try:
                    m = c.receive(100)
                except pulsar.Timeout:
                    continue
                c.acknowledge(m)
                total += 1
                key = m.partition_key()
                self.assertEqual(owner.setdefault(key, idx), idx, "key %s went to both consumers" % key)
                per_key.setdefault(key, []).append(int(m.data()))
        self.assertEqual(total, n)
        for key, values in per_key.items():
            self.assertEqual(values, sorted(values), "order of key %s" % key)
        self.assertEqual(set(owner.values()), {1, 2}, "both Key_Shared consumers own keys: %r" % owner)

    # ---- batching and compression -------------------------------------------------------------

    def _round_trip(self, topic, batching, compression=pulsar.CompressionType.NONE, n=50):
        c = self.subscribe(topic, "s")
        p = self.client.create_producer(topic, batching_enabled=batching, batching_max_messages=10,
                                        batching_max_publish_delay_ms=50, compression_type=compression)
        payloads = [("payload %d " % i).encode() * (1 + i % 40) for i in range(n)]
        done = []
        for i, data in enumerate(payloads):
            p.send_async(data, lambda res, mid: done.append(res), properties={"i": str(i)},
                         partition_key="k%d" % (i % 5))
        p.flush()
        deadline = time.monotonic() + RECEIVE_MS / 1000
        while len(done) < n and time.monotonic() < deadline:
            time.sleep(0.01)
        self.assertEqual(done, [pulsar.Result.Ok] * n)
        got = self.receive_n(c, n)
        self.assertEqual([m.data() for m in got], payloads)
        self.assertEqual([m.properties()["i"] for m in got], [str(i) for i in range(n)])
        self.assertEqual([m.partition_key() for m in got], ["k%d" % (i % 5) for i in range(n)])
        self.assert_nothing_more(c)
        c.close()
        # every message was acknowledged one by one (batch-index acks on a batching broker)
        self.assert_nothing_more(self.subscribe(topic, "s"))

    def test_batching_off(self):
        self._round_trip(new_topic("nobatch"), batching=False)

    def test_batching_on(self):
        self._round_trip(new_topic("batch"), batching=True)

    def test_batched_message_ids_match_between_producer_and_consumer(self):
        topic = new_topic("batchids")
        c = self.subscribe(topic, "s")
        p = self.client.create_producer(topic, batching_enabled=True, batching_max_messages=5,
                                        batching_max_publish_delay_ms=100)
        sent = {}
        for i in range(5):
            p.send_async(("m%d" % i).encode(), lambda res, mid, i=i: sent.__setitem__(i, mid))
        p.flush()
        got = self.receive_n(c, 5)
        key = lambda mid: (mid.ledger_id(), mid.entry_id(), mid.batch_index())
        self.assertEqual([key(m.message_id()) for m in got], [key(sent[i]) for i in range(5)])

    def test_compressions_with_and_without_batching(self):
        for compression in COMPRESSIONS:
            for batching in (False, True):
                with self.subTest(compression=compression, batching=batching):
                    self._round_trip(new_topic("compress"), batching, compression, n=20)

    # ---- partitioned topics -------------------------------------------------------------------

    def test_partitioned_topic_spreads_keys_and_keeps_order_per_key(self):
        url, topic = self.server.partitioned_topic(new_topic("parts"))
        client = self.new_client(url)
        p = client.create_producer(topic)  # routes by key hash
        c = self.subscribe(topic, "s", client=client)
        self.assertEqual(client.get_topic_partitions(topic),
                         ["%s-partition-%d" % (topic, i) for i in range(PARTITIONS)])
        n = 60
        for i in range(n):
            p.send(("%d" % i).encode(), partition_key="key%d" % (i % 10))
        per_key, partitions = {}, set()
        for m in self.receive_n(c, n):
            per_key.setdefault(m.partition_key(), []).append(int(m.data()))
            partitions.add(m.topic_name())
        self.assertEqual(sum(len(v) for v in per_key.values()), n)
        for key, values in per_key.items():
            self.assertEqual(values, sorted(values), "order of key %s" % key)
        self.assertGreater(len(partitions), 1, "keys spread over partitions: %r" % partitions)
        self.assertTrue(partitions <= {"%s-partition-%d" % (topic, i) for i in range(PARTITIONS)}, partitions)
        self.assert_nothing_more(c)

    # ---- acknowledgements and redelivery ------------------------------------------------------

    def test_negative_ack_redelivers_with_count(self):
        topic = new_topic("nack")
        c = self.subscribe(topic, "s", pulsar.ConsumerType.Shared, negative_ack_redelivery_delay_ms=200)
        p = self.client.create_producer(topic)
        for i in range(3):
            p.send(("m%d" % i).encode())
        first = self.receive_n(c, 3, ack=False)
        c.acknowledge(first[0])
        c.acknowledge(first[2])
        c.negative_acknowledge(first[1])
        again = c.receive(RECEIVE_MS)
        self.assertEqual(again.data(), b"m1")
        self.assertEqual(again.redelivery_count(), 1)
        self.assertEqual(again.message_id().ledger_id(), first[1].message_id().ledger_id())
        self.assertEqual(again.message_id().entry_id(), first[1].message_id().entry_id())
        c.acknowledge(again)
        self.assert_nothing_more(c)

    def test_redeliver_unacknowledged(self):
        topic = new_topic("redeliver")
        c = self.subscribe(topic, "s", pulsar.ConsumerType.Exclusive)
        p = self.client.create_producer(topic)
        for i in range(5):
            p.send(("m%d" % i).encode())
        self.assertEqual(self.payloads(self.receive_n(c, 5, ack=False)), ["m%d" % i for i in range(5)])
        c.redeliver_unacknowledged_messages()
        again = self.receive_n(c, 5)
        self.assertEqual(self.payloads(again), ["m%d" % i for i in range(5)])
        self.assert_nothing_more(c)

    def test_ack_cumulative(self):
        topic = new_topic("cumulative")
        c = self.subscribe(topic, "s")
        p = self.client.create_producer(topic)
        for i in range(10):
            p.send(("m%d" % i).encode())
        got = self.receive_n(c, 10, ack=False)
        c.acknowledge_cumulative(got[5])
        c.close()
        c = self.subscribe(topic, "s")
        self.assertEqual(self.payloads(self.receive_n(c, 4)), ["m%d" % i for i in range(6, 10)])
        self.assert_nothing_more(c)

    def test_ack_cumulative_in_batches(self):
        # batch-index acks on (client and Apache Pulsar's acknowledgmentAtBatchIndexLevelEnabled):
        # a cumulative ack in the middle of a batch keeps the rest of that batch, nothing before
        topic = new_topic("cumulative-batch")
        c = self.subscribe(topic, "s", batch_index_ack_enabled=True)
        p = self.client.create_producer(topic, batching_enabled=True, batching_max_messages=4,
                                        batching_max_publish_delay_ms=100)
        for i in range(12):
            p.send_async(("m%d" % i).encode(), None)
        p.flush()
        got = self.receive_n(c, 12, ack=False)
        c.acknowledge_cumulative(got[5])
        c.close()
        c = self.subscribe(topic, "s", batch_index_ack_enabled=True)
        self.assertEqual(self.payloads(self.receive_n(c, 6)), ["m%d" % i for i in range(6, 12)])
        self.assert_nothing_more(c)

    # ---- seek, last message id, readers -------------------------------------------------------

    def test_seek_to_message_id_and_earliest(self):
        topic = new_topic("seek")
        c = self.subscribe(topic, "s")
        p = self.client.create_producer(topic)
        ids = [p.send(("m%d" % i).encode()) for i in range(10)]
        self.receive_n(c, 10)
        # the subscription restarts at ids[4]; the client drops that message itself (its start is
        # exclusive unless start_message_id_inclusive), on both brokers
        c.seek(ids[4])
        self.assertEqual(self.payloads(self.receive_n(c, 5)), ["m%d" % i for i in range(5, 10)])
        self.assert_nothing_more(c)
        c.seek(pulsar.MessageId.earliest)
        self.assertEqual(self.payloads(self.receive_n(c, 10)), ["m%d" % i for i in range(10)])
        self.assert_nothing_more(c)

    def test_seek_to_publish_time(self):
        topic = new_topic("seektime")
        c = self.subscribe(topic, "s")
        p = self.client.create_producer(topic)
        for i in range(3):
            p.send(("old%d" % i).encode())
        time.sleep(0.05)
        cut = int(time.time() * 1000)
        time.sleep(0.05)
        for i in range(3):
            p.send(("new%d" % i).encode())
        self.receive_n(c, 6)
        c.seek(cut)
        self.assertEqual(self.payloads(self.receive_n(c, 3)), ["new0", "new1", "new2"])
        self.assert_nothing_more(c)

    def test_get_last_message_id_and_reader(self):
        topic = new_topic("reader")
        c = self.subscribe(topic, "s")
        p = self.client.create_producer(topic)
        ids = [p.send(("m%d" % i).encode()) for i in range(5)]
        last = c.get_last_message_id()
        self.assertEqual((last.ledger_id(), last.entry_id()), (ids[-1].ledger_id(), ids[-1].entry_id()))

        r = self.client.create_reader(topic, pulsar.MessageId.earliest)
        read = []
        while r.has_message_available():
            read.append(r.read_next(RECEIVE_MS).data().decode())
        self.assertEqual(read, ["m%d" % i for i in range(5)])
        self.assertFalse(r.has_message_available())
        p.send(b"m5")
        self.assertTrue(r.has_message_available())
        self.assertEqual(r.read_next(RECEIVE_MS).data(), b"m5")

        # from a message id: exclusive by default, inclusive when asked
        r2 = self.client.create_reader(topic, ids[2])
        self.assertEqual(r2.read_next(RECEIVE_MS).data(), b"m3")
        r3 = self.client.create_reader(topic, ids[2], start_message_id_inclusive=True)
        self.assertEqual(r3.read_next(RECEIVE_MS).data(), b"m2")
        # from latest: only what comes after
        r4 = self.client.create_reader(topic, pulsar.MessageId.latest)
        self.assertFalse(r4.has_message_available())
        p.send(b"m6")
        self.assertEqual(r4.read_next(RECEIVE_MS).data(), b"m6")

    def test_reader_gets_messages_published_before_any_subscription(self):
        topic = new_topic("early")
        p = self.client.create_producer(topic)
        for i in range(3):
            p.send(("m%d" % i).encode())
        r = self.client.create_reader(topic, pulsar.MessageId.earliest)
        self.assertEqual([r.read_next(RECEIVE_MS).data() for _ in range(3)], [b"m0", b"m1", b"m2"])

    def test_empty_topic_has_nothing_available(self):
        topic = new_topic("empty")
        self.client.create_producer(topic)
        r = self.client.create_reader(topic, pulsar.MessageId.earliest)
        self.assertFalse(r.has_message_available())

    # ---- schemas ------------------------------------------------------------------------------

    def test_a_deleted_topic_takes_its_schema_with_it(self):
        """Deleted through the admin API and made again by a producer with another schema, a
        topic has that producer's schema: the deleted topic's went with it (Apache Pulsar deletes
        a topic's schema with the topic). The schema is read back with GET_SCHEMA (the C++
        client's getSchemaInfo, which the Python wrapper does not expose)."""
        class Before(Record):
            before = String()

        class After(Record):
            after = Integer()

        topic = new_topic("schema")
        p = self.client.create_producer(topic, schema=JsonSchema(Before))
        p.send(Before(before="x"))
        p.close()
        self.assertIn('"before"', self.client._client.get_schema_info(topic, -1).schema())
        self.server.admin("DELETE", "persistent/%s?force=true" % topic[len("persistent://"):])
        p = self.client.create_producer(topic, schema=JsonSchema(After))
        p.send(After(after=1))
        p.close()
        schema = self.client._client.get_schema_info(topic, -1).schema()
        self.assertIn('"after"', schema)
        self.assertNotIn('"before"', schema)

    # ---- deduplication ------------------------------------------------------------------------

    def test_deduplication_by_sequence_id(self):
        topic = new_topic("dedup")
        c = self.subscribe(topic, "s")
        p = self.client.create_producer(topic, producer_name="dedup-producer")
        self.assertEqual(p.last_sequence_id(), -1)
        for seq in range(5):
            p.send(("m%d" % seq).encode(), sequence_id=seq)
        p.close()
        # the same producer again (after a "crash"): the broker tells where it stopped, and
        # resends of what it already has are not stored twice
        p = self.client.create_producer(topic, producer_name="dedup-producer")
        self.assertEqual(p.last_sequence_id(), 4)
        for seq in range(3, 8):
            p.send(("m%d" % seq).encode(), sequence_id=seq)
        self.assertEqual(p.last_sequence_id(), 7)
        self.assertEqual(self.payloads(self.receive_n(c, 8)), ["m%d" % i for i in range(8)])
        self.assert_nothing_more(c)


class OnMop(Cases, unittest.TestCase):
    server = SERVERS["mop"]

    def test_mqtt_publish_reaches_official_consumer(self):
        name = "official/%s" % uuid.uuid4().hex[:8]
        topic = "persistent://public/default/" + name.replace("/", "%2F")
        c = self.subscribe(topic, "s")
        subprocess.run(["mosquitto_pub", "-h", "127.0.0.1", "-p", str(self.server.mqtt_port), "-q", "1",
                        "-t", name, "-m", "from mqtt"], check=True, timeout=15)
        m = c.receive(RECEIVE_MS)
        self.assertEqual(m.data(), b"from mqtt")
        c.acknowledge(m)

    def test_official_producer_reaches_mqtt_subscriber(self):
        name = "official/%s" % uuid.uuid4().hex[:8]
        topic = "persistent://public/default/" + name.replace("/", "%2F")
        sub = subprocess.Popen(["mosquitto_sub", "-h", "127.0.0.1", "-p", str(self.server.mqtt_port),
                                "-q", "1", "-t", name, "-C", "2", "-W", "15"],
                               stdout=subprocess.PIPE, text=True)
        try:
            time.sleep(0.5)  # the subscription is made before the publishes
            p = self.client.create_producer(topic, batching_enabled=True)
            p.send_async(b"one", None)
            p.send_async(b"two", None)
            p.flush()
            out, _ = sub.communicate(timeout=20)
        finally:
            if sub.poll() is None:
                sub.kill()
        self.assertEqual(out.splitlines(), ["one", "two"])


class OnApachePulsar(Cases, unittest.TestCase):
    server = SERVERS["pulsar"]


# mop's known differences: expected failures on mop only (see only_on_mop).
def _expected_failure_on_mop(fn):
    @functools.wraps(fn)
    def on_mop(self):
        return fn(self)
    return unittest.expectedFailure(on_mop)  # marks the wrapper, not the shared case


for _name in dir(Cases):
    _fn = getattr(Cases, _name)
    if _name.startswith("test_") and hasattr(_fn, "mop_expected_failure"):
        setattr(OnMop, _name, _expected_failure_on_mop(_fn))


if __name__ == "__main__":
    unittest.main()
