"""mop's own Pulsar client library (pulsar/client/) against mop standalone AND a real Apache Pulsar
standalone, driven through its test CLI (mop_pulsar_client_cli, see pulsar/client/tests/
client_cli.cpp), with the official Python client (PyPI `pulsar-client`) as the judge where it helps.

Run with the venv python of scripts/setup (.cache/venv/bin/python), MOP_BIN and MOP_CLIENT_CLI set.
Apache Pulsar is started once per run with scripts/pulsar-standalone (PULSAR_URL/PULSAR_HTTP/
PULSAR_DIR reuse one started by hand); mop with harness.py. Every case runs on both servers, with
topics of its own. The fault cases restart the broker under load (mop: kill -9 and start again on
the same ports and data; Apache Pulsar: stop and start on the same directory) and unload a topic
(Apache Pulsar's admin API), then check that nothing acknowledged was lost, that each producer's
order held, and that duplicates are only what at-least-once allows.
"""

import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
import unittest
import uuid

import pulsar

import harness
from certs import make_ca, make_cert

PARTITIONS = 3
QUIET = pulsar.ConsoleLogger(pulsar.LoggerLevel.Warn)
RETENTION = harness.PULSAR_RETENTION


def cli():
    path = os.environ.get("MOP_CLIENT_CLI")
    if not path or not os.access(path, os.X_OK):
        raise RuntimeError("MOP_CLIENT_CLI is not set to the mop_pulsar_client_cli binary")
    return path


class Run:
    """One CLI run in the background; its JSON lines are collected as they come."""

    def __init__(self, *args):
        self.args = [cli()] + [str(a) for a in args]
        self.proc = subprocess.Popen(self.args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.lines = []
        self.cond = threading.Condition()
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self):
        for line in self.proc.stdout:
            with self.cond:
                self.lines.append(json.loads(line))
                self.cond.notify_all()
        with self.cond:
            self.cond.notify_all()

    def wait_for(self, pred, timeout=60):
        deadline = time.monotonic() + timeout
        with self.cond:
            while True:
                for l in self.lines:
                    if pred(l):
                        return l
                left = deadline - time.monotonic()
                if left <= 0 or (self.proc.poll() is not None and not self.reader.is_alive()):
                    raise AssertionError("no matching line from %s; got %s; stderr: %s"
                                         % (self.args[1:], self.lines[-5:], self.stderr()))
                self.cond.wait(min(left, 0.2))

    def finish(self, timeout=120):
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.reader.join(5)
        self._err = self.proc.stderr.read()
        self.proc.stderr.close()
        self.proc.stdout.close()
        return self.proc.returncode

    def stderr(self):
        if self.proc.poll() is None:
            return "(running)"
        if not hasattr(self, "_err"):
            self._err = self.proc.stderr.read()
        return self._err

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


def produce(url, topic, count, *opts):
    r = Run("produce", url, topic, count, *opts)
    rc = r.finish()
    assert rc == 0, "produce exited %s: %s %s" % (rc, r.lines[-3:], r.stderr())
    return {l["ack"]: l["id"] for l in r.lines if "ack" in l}


def start_consumer(url, sub, count, *opts):
    r = Run("consume", url, sub, count, *opts)
    r.wait_for(lambda l: "ready" in l or "fatal" in l)
    assert not any("fatal" in l for l in r.lines), r.lines
    return r


def received(run):
    return [l for l in run.lines if "payload" in l]


class MopServer:
    name = "mop"
    topic_watchers = False  # no WATCH_TOPIC_LIST: pattern consumers poll

    def __init__(self):
        self.brokers = []

    def _start(self, extra):
        def args(port, data_dir):
            return ["--mqttListeners=mqtt://127.0.0.1:%d" % port, "--dataDir=%s" % data_dir,
                    "--advertisedAddress=127.0.0.1", "--brokerDeduplicationEnabled=true",
                    "--logLevel=info"] + ["--" + kv for kv in RETENTION] + extra

        broker = harness.Broker(mop_args=args).start()
        self.brokers.append(broker)
        return broker, "pulsar://127.0.0.1:%d" % broker.pulsar_port

    def start(self):
        self.broker, self.url = self._start([])
        self.partitioned_url = None
        return self

    def partitioned_topic(self, name):
        if self.partitioned_url is None:
            _, self.partitioned_url = self._start(["--allowAutoTopicCreationType=partitioned",
                                                   "--defaultNumPartitions=%d" % PARTITIONS])
        return self.partitioned_url, name

    def restart(self):
        self.broker.restart()

    def unload(self, topic):
        return False  # mop has no unload

    def add_partitions(self, name, count):
        return False  # mop has no admin API to change a partition count

    def compact(self, topic):
        return False  # mop has no topic compaction

    def stop(self):
        for b in self.brokers:
            try:
                b.stop()
            finally:
                b.cleanup()
        self.brokers = []


class ApachePulsarServer(harness.ApachePulsar):
    """harness.ApachePulsar (restarted on the same directory by the fault cases: PULSAR_DIR reuses
    one started by hand), with the admin requests the cases need."""

    topic_watchers = True

    def __init__(self):
        super().__init__(restartable=True, prefix="mop-client-pulsar-")

    def partitioned_topic(self, name):
        self.admin("PUT", "persistent/%s/partitions" % name.replace("persistent://", ""), PARTITIONS)
        return self.url, name

    def add_partitions(self, name, count):
        self.admin("POST", "persistent/%s/partitions" % name.replace("persistent://", ""), count)
        return True

    def compact(self, topic):
        """Runs Apache Pulsar's compaction of `topic` and waits until it succeeded."""
        path = "persistent/%s/compaction" % topic.replace("persistent://", "")
        self.admin("PUT", path)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            status = self.admin("GET", path)
            if status.get("status") == "SUCCESS":
                return True
            assert status.get("status") != "ERROR", status
            time.sleep(0.3)
        raise AssertionError("compaction of %s did not finish: %s" % (topic, status))

    def unload(self, topic):
        self.admin("PUT", "persistent/%s/unload" % topic.replace("persistent://", ""))
        return True


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
    for s in SERVERS.values():
        s.stop()


def new_topic(prefix):
    return "persistent://public/default/%s-%s" % (prefix, uuid.uuid4().hex[:10])


class Cases:
    server = None

    def setUp(self):
        self.runs = []

    def tearDown(self):
        for r in self.runs:
            r.kill()

    def consumer(self, url, sub, count, *opts):
        r = start_consumer(url, sub, count, *opts)
        self.runs.append(r)
        return r

    def test_service_url_with_a_dead_host_first(self):
        """A service URL whose first host refuses connections: the client goes on to the next."""
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            dead = s.getsockname()[1]  # closed again: nothing listens there
        url = "pulsar://127.0.0.1:%d,%s" % (dead, self.server.url[len("pulsar://"):])
        topic = new_topic("hosts")
        c = self.consumer(url, "s", 5, "--topic", topic)
        self.assertEqual(sorted(produce(url, topic, 5)), list(range(5)))
        self.assertEqual(c.finish(60), 0, c.lines[-3:])
        self.assertEqual([m["payload"] for m in received(c)], ["m-%d" % i for i in range(5)])

    def test_each_subscription_type_gets_everything(self):
        for kind in ["exclusive", "shared", "failover", "key_shared"]:
            with self.subTest(kind=kind):
                topic = new_topic("sub-" + kind)
                c = self.consumer(self.server.url, "s", 20, "--topic", topic, "--type", kind, "--timeout-s", 60)
                acks = produce(self.server.url, topic, 20, "--keys", 3)
                self.assertEqual(len(acks), 20)
                self.assertEqual(c.finish(), 0)
                got = [m["payload"] for m in received(c)]
                # One consumer: every type delivers everything, in order.
                self.assertEqual(got, ["m-%d" % i for i in range(20)])

    def test_batches_with_each_compression_read_by_the_official_client(self):
        official = pulsar.Client(self.server.url, operation_timeout_seconds=20, logger=QUIET)
        try:
            for comp in ["none", "lz4", "zlib", "zstd", "snappy"]:
                with self.subTest(compression=comp):
                    topic = new_topic("batch-" + comp)
                    sub = official.subscribe(topic, "official", initial_position=pulsar.InitialPosition.Earliest)
                    acks = produce(self.server.url, topic, 25, "--batch", 10, "--compression", comp)
                    # Batch members share their entry and count up their index.
                    self.assertEqual(acks[0][:2], acks[9][:2])
                    self.assertEqual([acks[i][2] for i in range(10)], list(range(10)))
                    got = []
                    for _ in range(25):
                        m = sub.receive(10000)
                        got.append(m.data().decode())
                        sub.acknowledge(m)
                    self.assertEqual(got, ["m-%d" % i for i in range(25)])
                    sub.close()
        finally:
            official.close()

    def test_consumer_reads_batches_of_the_official_producer(self):
        topic = new_topic("official-batch")
        c = self.consumer(self.server.url, "s", 30, "--topic", topic, "--initial", "earliest")
        official = pulsar.Client(self.server.url, operation_timeout_seconds=20, logger=QUIET)
        try:
            p = official.create_producer(topic, batching_enabled=True, batching_max_messages=10,
                                         batching_max_publish_delay_ms=50,
                                         compression_type=pulsar.CompressionType.LZ4)
            for i in range(30):
                p.send_async(("o-%d" % i).encode(), None, partition_key="k%d" % (i % 2))
            p.flush()
        finally:
            official.close()
        self.assertEqual(c.finish(), 0)
        msgs = received(c)
        self.assertEqual([m["payload"] for m in msgs], ["o-%d" % i for i in range(30)])
        self.assertEqual(msgs[3]["key"], "k1")

    def test_partitioned_topic(self):
        url, topic = self.server.partitioned_topic(new_topic("parts"))
        c = self.consumer(url, "s", 30, "--topic", topic, "--type", "shared")
        self.assertEqual(len(c.lines[0]["topics"]), PARTITIONS)
        acks = produce(url, topic, 30, "--keys", 5)
        self.assertEqual(sorted({a[3] for a in acks.values()}), list(range(PARTITIONS)))
        self.assertEqual(c.finish(), 0)
        msgs = received(c)
        self.assertEqual(sorted(m["payload"] for m in msgs), sorted("m-%d" % i for i in range(30)))
        # One key, one partition, in order.
        by_key = {}
        for m in msgs:
            by_key.setdefault(m["key"], []).append(int(m["payload"].split("-")[1]))
        for key, seq in by_key.items():
            self.assertEqual(seq, sorted(seq), key)
            self.assertEqual(len({m["id"][3] for m in msgs if m["key"] == key}), 1)

    def test_partitions_added_later_are_used(self):
        url, topic = self.server.partitioned_topic(new_topic("grow"))
        # About 6 s of sending, so that the new partitions' producers are ready well before the end.
        count = 300
        c = self.consumer(url, "s", count, "--topic", topic, "--initial", "earliest",
                          "--partitions-update-ms", 500, "--timeout-s", 90)
        p = Run("produce", url, topic, count, "--interval-ms", 20, "--partitions-update-ms", 500,
                "--timeout-s", 90)
        self.runs.append(p)
        p.wait_for(lambda l: l.get("ack") == 10)
        if not self.server.add_partitions(topic, PARTITIONS + 2):
            p.kill()
            self.skipTest("%s cannot add partitions to a topic" % self.server.name)
        self.assertEqual(p.finish(90), 0, p.lines[-3:])
        partitions = {l["id"][3] for l in p.lines if "ack" in l}
        self.assertTrue({PARTITIONS, PARTITIONS + 1} <= partitions, "new partitions not used: %s" % partitions)
        self.assertEqual(c.finish(90), 0, c.lines[-3:])
        got = received(c)
        self.assertEqual(sorted(l["payload"] for l in got), sorted("m-%d" % i for i in range(count)))
        self.assertTrue(any(l["topic"].endswith("-partition-%d" % PARTITIONS) for l in got))

    def test_pattern_picks_up_a_new_topic(self):
        stem = "pat-%s" % uuid.uuid4().hex[:8]
        first = "persistent://public/default/%s-a" % stem
        produce(self.server.url, first, 1, "--prefix", "a")
        # Where the broker has topic-list watchers the poll is too slow to matter: the new topic
        # can only come through the watcher (WATCH_TOPIC_UPDATE, or the listing the client makes
        # once the watcher is up, for a topic created while it was being set up). Elsewhere the
        # pattern polls.
        poll_ms = 600000 if self.server.topic_watchers else 300
        c = self.consumer(self.server.url, "s", 2, "--pattern", "persistent://public/default/%s-.*" % stem,
                          "--initial", "earliest", "--poll-ms", poll_ms, "--timeout-s", 60)
        self.assertEqual(c.lines[0]["topics"], [first])
        produce(self.server.url, "persistent://public/default/%s-b" % stem, 1, "--prefix", "b")
        self.assertEqual(c.finish(), 0)
        self.assertEqual(sorted(m["payload"] for m in received(c)), ["a-0", "b-0"])

    def test_readers_and_last_message_id(self):
        topic = new_topic("reader")
        acks = produce(self.server.url, topic, 10)
        whole = self.consumer(self.server.url, "r1", 10, "--topic", topic, "--reader", "earliest", "--ack", "none")
        self.assertEqual(whole.finish(), 0)
        self.assertEqual([m["payload"] for m in received(whole)], ["m-%d" % i for i in range(10)])
        start = acks[4]
        after = self.consumer(self.server.url, "r2", 5, "--topic", topic, "--reader", "%d:%d" % (start[0], start[1]),
                              "--ack", "none")
        self.assertEqual(after.finish(), 0)
        self.assertEqual([m["payload"] for m in received(after)], ["m-%d" % i for i in range(5, 10)])
        last = Run("last-id", self.server.url, topic)
        self.assertEqual(last.finish(), 0)
        self.assertEqual(last.lines[-1]["id"][:2], acks[9][:2])

    def test_read_compacted_after_a_compaction(self):
        """Apache Pulsar: after its compaction, a read_compacted reader from the start gets the
        last message of each key only. mop has no compaction: the same reader reads the whole
        topic (pulsar/server/README.md, "Differences")."""
        topic = new_topic("compact")
        produce(self.server.url, topic, 30, "--keys", 3)
        compacted = self.server.compact(topic)
        r = self.consumer(self.server.url, "reader", 30, "--topic", topic, "--reader", "earliest", "--compacted",
                          "--idle-ms", 3000, "--timeout-s", 60)
        r.finish(90)
        got = [m["payload"] for m in received(r)]
        # Key k(i % 3): the last ones are m-27 (k0), m-28 (k1), m-29 (k2).
        self.assertEqual(got, ["m-27", "m-28", "m-29"] if compacted else ["m-%d" % i for i in range(30)])
        # A plain reader still reads everything.
        plain = self.consumer(self.server.url, "plain", 30, "--topic", topic, "--reader", "earliest",
                              "--timeout-s", 60)
        self.assertEqual(plain.finish(90), 0, plain.lines[-3:])

    def test_cumulative_ack_is_kept(self):
        """A consumer acknowledges cumulatively and leaves: the next one on the subscription gets
        nothing again (without the acks it would get all ten)."""
        topic = new_topic("cumulative")
        produce(self.server.url, topic, 10)
        first = self.consumer(self.server.url, "cum", 10, "--topic", topic, "--initial", "earliest",
                              "--ack", "cumulative")
        self.assertEqual(first.finish(60), 0, first.lines[-3:])
        self.assertEqual([m["payload"] for m in received(first)], ["m-%d" % i for i in range(10)])
        again = self.consumer(self.server.url, "cum", 0, "--topic", topic, "--initial", "earliest",
                              "--idle-ms", 3000, "--timeout-s", 30)
        again.finish(60)
        self.assertEqual(received(again), [])

    def test_negative_ack_redelivers(self):
        topic = new_topic("nack")
        c = self.consumer(self.server.url, "s", 5, "--topic", topic, "--type", "shared", "--nack-first")
        produce(self.server.url, topic, 5)
        self.assertEqual(c.finish(), 0)
        msgs = received(c)
        self.assertEqual(sorted(m["payload"] for m in msgs), ["m-%d" % i for i in range(5)])
        self.assertTrue(all(m["redelivery"] >= 1 for m in msgs), msgs)

    def test_exclusive_with_fencing_takes_the_topic(self):
        topic = new_topic("fence")
        first = Run("produce", self.server.url, topic, 300, "--access", "fencing", "--interval-ms", 20,
                    "--timeout-s", 60)
        self.runs.append(first)
        first.wait_for(lambda l: l.get("ack") == 5)
        second = produce(self.server.url, topic, 3, "--access", "fencing", "--prefix", "second")
        self.assertEqual(len(second), 3)
        closed = first.wait_for(lambda l: "closed" in l)
        self.assertIn("ProducerFenced", closed["closed"])
        first.finish(60)
        errors = [l for l in first.lines if "error" in l]
        self.assertTrue(errors)
        # What was acknowledged before the fence stays, in order.
        acked = [l["ack"] for l in first.lines if "ack" in l]
        self.assertEqual(acked, list(range(len(acked))))

    def test_exclusive_and_wait_for_exclusive(self):
        """An Exclusive producer holds the topic: a second Exclusive one is refused (ProducerFenced,
        "Topic has an existing exclusive producer", on both), a WaitForExclusive one waits and takes over once the first is gone (its
        messages all follow the first's on the topic)."""
        topic = new_topic("excl")
        first = Run("produce", self.server.url, topic, 3000, "--access", "exclusive", "--interval-ms", 20,
                    "--timeout-s", 90)
        self.runs.append(first)
        first.wait_for(lambda l: l.get("ack") == 3)
        busy = Run("produce", self.server.url, topic, 1, "--access", "exclusive", "--prefix", "busy",
                   "--timeout-s", 30)
        self.runs.append(busy)
        busy.finish(60)
        self.assertIn("existing exclusive producer", busy.wait_for(lambda l: "fatal" in l)["fatal"])
        waiter = Run("produce", self.server.url, topic, 3, "--access", "wait", "--prefix", "waiter",
                     "--timeout-s", 90)
        self.runs.append(waiter)
        first.wait_for(lambda l: l.get("ack") == 10)  # the first goes on producing meanwhile
        first.kill()
        self.assertEqual(waiter.finish(120), 0, waiter.lines[-3:])
        self.assertEqual(sorted(l["ack"] for l in waiter.lines if "ack" in l), [0, 1, 2])
        reader = self.consumer(self.server.url, "check", 0, "--topic", topic, "--reader", "earliest",
                               "--ack", "none", "--idle-ms", 3000, "--timeout-s", 60)
        reader.finish()
        order = [m["payload"].split("-")[0] for m in received(reader)]
        self.assertNotIn("busy", order)
        self.assertEqual(order[order.index("waiter"):], ["waiter"] * 3, "the waiter produced beside the first")

    def check_no_loss(self, topic, acked, count):
        """Reads the topic from the start: every acknowledged message is there, each producer's
        order holds (first occurrences in order), duplicates are only of messages the producer sent
        again (counted, reported)."""
        reader = self.consumer(self.server.url, "check", 0, "--topic", topic, "--reader", "earliest",
                               "--ack", "none", "--idle-ms", 3000, "--timeout-s", 60)
        reader.finish()
        self.check_copies(received(reader), acked, count, "stored")

    def live_consumer(self, topic):
        """A consumer of `topic` (a subscription of its own, each message acknowledged) that runs
        through the fault: it has to subscribe again after the broker's restart or the unload."""
        return self.consumer(self.server.url, "live", 10 ** 6, "--topic", topic, "--initial", "earliest",
                             "--timeout-s", 400)

    def check_live_consumer(self, c, acked, count):
        """Waits (at most 120 s) until the live consumer has received every acknowledged message,
        then checks the copies as check_no_loss does."""
        want = {"m-%d" % i for i in acked}
        deadline = time.monotonic() + 120
        with c.cond:
            while not want <= {l["payload"] for l in c.lines if "payload" in l}:
                if time.monotonic() > deadline or c.proc.poll() is not None:
                    break
                c.cond.wait(0.2)
        c.kill()
        self.check_copies(received(c), acked, count, "received by a live consumer")

    def check_copies(self, msgs, acked, count, what):
        seen = [int(m["payload"].split("-")[1]) for m in msgs]
        firsts = []
        dup = 0
        have = set()
        for i in seen:
            if i in have:
                dup += 1
            else:
                have.add(i)
                firsts.append(i)
        missing = sorted(set(acked) - have)
        self.assertEqual(missing, [], "acknowledged messages lost (%s)" % what)
        self.assertEqual(firsts, sorted(firsts), "order per producer broken (%s)" % what)
        sys.stderr.write("%s: %d acknowledged of %d, %d %s, %d duplicates\n"
                         % (self.server.name, len(acked), count, len(have), what, dup))

    def test_batch_index_acks_redeliver_only_the_unacknowledged(self):
        """A consumer acknowledges the even messages of a batch and leaves; the next one on the
        subscription gets only the odd ones with batch-index acks (mop always keeps them, Apache
        Pulsar here with acknowledgmentAtBatchIndexLevelEnabled=true), and all ten without."""
        topic = new_topic("batch-ack")
        acks = produce(self.server.url, topic, 10, "--batch", 10)
        self.assertEqual(len({tuple(i[:2]) for i in acks.values()}), 1, "not one batch: %s" % acks)
        odd = ["m-%d" % i for i in range(1, 10, 2)]
        for sub, flag, expected in (("indexed", ["--batch-index-ack"], odd),
                                    ("entry", [], ["m-%d" % i for i in range(10)])):
            with self.subTest(sub=sub):
                first = self.consumer(self.server.url, sub, 10, "--topic", topic, "--initial", "earliest",
                                      "--ack", "even", *flag)
                self.assertEqual(first.finish(60), 0, first.lines[-3:])
                again = self.consumer(self.server.url, sub, 10, "--topic", topic, "--initial", "earliest",
                                      "--idle-ms", 3000, "--timeout-s", 30, *flag)
                again.finish(60)
                self.assertEqual([l["payload"] for l in received(again)], expected)

    def test_broker_restart_under_load(self):
        topic = new_topic("restart")
        count = 400
        live = self.live_consumer(topic)
        p = Run("produce", self.server.url, topic, count, "--interval-ms", 10, "--name", "restarter",
                "--timeout-s", 240)
        self.runs.append(p)
        p.wait_for(lambda l: l.get("ack") == 50)
        self.server.restart()
        self.assertEqual(p.finish(240), 0, p.lines[-3:])
        acked = [l["ack"] for l in p.lines if "ack" in l]
        self.assertEqual(sorted(acked), list(range(count)))
        self.assertEqual(acked, sorted(acked), "receipts out of order")
        self.check_no_loss(topic, acked, count)
        self.check_live_consumer(live, acked, count)

    def test_topic_unload_under_load(self):
        topic = new_topic("unload")
        count = 300
        live = self.live_consumer(topic)
        p = Run("produce", self.server.url, topic, count, "--interval-ms", 10, "--timeout-s", 120)
        self.runs.append(p)
        p.wait_for(lambda l: l.get("ack") == 50)
        if not self.server.unload(topic):
            p.kill()
            self.skipTest("%s has no topic unload" % self.server.name)
        self.assertEqual(p.finish(120), 0, p.lines[-3:])
        acked = [l["ack"] for l in p.lines if "ack" in l]
        self.assertEqual(acked, list(range(count)))
        self.check_no_loss(topic, acked, count)
        self.check_live_consumer(live, acked, count)


class OnMop(Cases, unittest.TestCase):
    server = SERVERS["mop"]
    # pulsar/server/README.md, "Differences from Apache Pulsar": mop does not check the
    # topic_epoch of a fenced producer's reconnect, so the fenced producer gets the topic back.
    @unittest.expectedFailure
    def test_exclusive_with_fencing_takes_the_topic(self):
        Cases.test_exclusive_with_fencing_takes_the_topic(self)


class OnApachePulsar(Cases, unittest.TestCase):
    server = SERVERS["pulsar"]

    def test_listens_only_on_ports_it_keeps_out_of_the_ephemeral_range(self):
        """test_broker_restart_under_load starts Pulsar again on the ports of its directory. A
        port Pulsar listens on without keeping it (its bookie took any free port once), or one in
        the kernel's ephemeral range, can be taken while it is down by any outgoing connection or
        any test asking for a free port: the restart then fails, and every suite after it with
        it (CI, 7 Dec 2026). scripts/pulsar-standalone picks them below that range."""
        with open(os.path.join(self.server.dir, "ports")) as f:
            kept = dict(line.strip().split("=", 1) for line in f if "=" in line)
        with open(os.path.join(self.server.dir, "pulsar.pid")) as f:
            pid = f.read().strip()
        out = subprocess.run(["ss", "-Htlnp"], capture_output=True, text=True, timeout=30, check=True).stdout
        listening = {int(line.split()[3].rsplit(":", 1)[1]) for line in out.splitlines() if "pid=%s," % pid in line}
        want = {int(kept[k]) for k in ("broker_port", "web_port", "bookie_port")}
        self.assertTrue(want <= listening, (want, listening))
        self.assertEqual(listening - {int(v) for v in kept.values()}, set(), "ports the directory does not keep")
        with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
            low = int(f.read().split()[0])
        if low - 10000 >= 1000:
            self.assertEqual({p for p in listening if p >= low}, set(), "ports in the ephemeral range from %d" % low)


def mop_token(*args):
    r = subprocess.run([os.path.abspath(os.environ["MOP_BIN"]), "token"] + list(args), capture_output=True,
                       text=True, timeout=30)
    assert r.returncode == 0, r.stderr
    return r.stdout.strip()


class TokenCases:
    """Token authentication, the same cases against a secured mop and a secured Apache Pulsar: a
    good token carries batches, a bad one (garbage, or signed with another key) is refused with
    AuthenticationError without a retry storm, and an expiring one is answered through
    AUTH_CHALLENGE with the fresh token its file holds by then. A subclass sets `url`, `dir`
    (where tokens are written), `secret` (the broker's HS256 key file) and `opts()` (the other
    connection options: TLS on mop), and checks what only its server shows."""

    url = dir = secret = None

    def opts(self):
        return []

    def setUp(self):
        self.runs = []

    def tearDown(self):
        for r in self.runs:
            r.kill()

    def token_file(self, subject, expiry=None, secret=None):
        args = ["create", "--secret-key", "file://" + (secret or self.secret), "--subject", subject]
        if expiry:
            args += ["--expiry-time", expiry]
        path = os.path.join(self.dir, "token-" + uuid.uuid4().hex[:8])
        with open(path, "w") as f:
            f.write(mop_token(*args))
        return path

    def open_producer(self, url, *opts):
        """A producer that only connects (COUNT 0): its first line, ready or fatal."""
        r = Run("produce", url, new_topic("sec"), 0, "--op-timeout-ms", 5000, "--timeout-s", 30, *opts)
        self.runs.append(r)
        r.finish(60)
        first = [l for l in r.lines if "ready" in l or "fatal" in l]
        self.assertTrue(first, "no ready/fatal line: %s %s" % (r.lines, r.stderr()))
        return first[0], r

    def refusing_urls(self):
        """(url, options) pairs on which a bad token must be refused."""
        return [(self.url, self.opts())]

    def test_token_carries_batches(self):
        token = self.token_file("app")
        topic = new_topic("token")
        c = start_consumer(self.url, "s", 30, "--topic", topic, "--timeout-s", 60, "--token-file", token, *self.opts())
        self.runs.append(c)
        self.check_role(topic, "s", "app")
        acks = produce(self.url, topic, 30, "--batch", 10, "--compression", "zstd", "--token-file", token, *self.opts())
        self.assertEqual(sorted(acks), list(range(30)))
        self.assertEqual(c.finish(60), 0, c.lines[-3:])
        self.assertEqual([l["payload"] for l in received(c)], ["m-%d" % i for i in range(30)])

    def test_bad_token_is_refused_without_a_retry_storm(self):
        garbage = os.path.join(self.dir, "bad-token")
        with open(garbage, "w") as f:
            f.write("not.a.token")
        other_key = os.path.join(self.dir, "other.key")
        if not os.path.exists(other_key):
            mop_token("create-secret-key", "--output", other_key)
        for bad in (garbage, self.token_file("app", secret=other_key)):
            for url, extra in self.refusing_urls():
                with self.subTest(url=url, token=os.path.basename(bad)):
                    line, r = self.open_producer(url, "--token-file", bad, *extra)
                    self.assertIn("AuthenticationError", line.get("fatal", ""), line)
                    asked = [l for l in r.lines if "auth_data_asked" in l]
                    self.assertLessEqual(len(asked), 2, "CONNECT sent %d times" % len(asked))
        self.check_without_token()

    def test_expired_token_is_refreshed_through_auth_challenge(self):
        role = "refresher-" + uuid.uuid4().hex[:6]  # its own role, for the log's lines
        token = self.token_file(role, "3s")
        topic = new_topic("refresh")
        c = start_consumer(self.url, "s", 2, "--topic", topic, "--timeout-s", 60, "--token-file", token, *self.opts())
        self.runs.append(c)
        before = self.check_role(topic, "s", role)
        with open(self.token_file(role, "1h")) as f:
            fresh = f.read()
        with open(token, "w") as f:  # the consumer's file now holds a fresh token
            f.write(fresh)
        time.sleep(5)  # the first token expired and the broker's 1 s check saw it
        # Still the same connection: the broker took the fresh token instead of closing it.
        self.assertEqual(self.check_role(topic, "s", role), before)
        produce(self.url, topic, 2, "--token-file", token, *self.opts())
        self.assertEqual(c.finish(60), 0, c.lines[-3:])
        self.assertEqual(len(received(c)), 2)
        self.assertGreaterEqual(len([l for l in c.lines if "auth_data_asked" in l]), 2)
        self.check_refresh_logged(role)


class OnSecuredMop(TokenCases, unittest.TestCase):
    """One more mop (cheap to start) serving pulsar+ssl:// with a CA made here, client certificates
    required (mTLS), and token authentication with authenticationRefreshCheckSeconds=1. Its server
    certificate names only DNS:localhost and the broker advertises `localhost`, so connecting to
    127.0.0.1 checks the host-name verification."""

    @classmethod
    def setUpClass(cls):
        d = cls.dir = tempfile.mkdtemp(prefix="mop-client-secured-")
        cls.ca = make_ca(d, "good")
        cls.other_ca = make_ca(d, "other")
        server = make_cert(d, "server", "server", cls.ca, ext="subjectAltName=DNS:localhost")
        cls.client_cert = make_cert(d, "client", "client", cls.ca)
        cls.secret = os.path.join(d, "secret.key")
        mop_token("create-secret-key", "--output", cls.secret)

        def args(port, data_dir):
            return ["--mqttListeners=mqtt://127.0.0.1:%d" % port, "--dataDir=" + data_dir,
                    "--advertisedAddress=localhost", "--logLevel=info", "--brokerServicePortTls=0",
                    "--tlsCertificateFilePath=" + server[0], "--tlsKeyFilePath=" + server[1],
                    "--tlsTrustCertsFilePath=" + cls.ca[1], "--tlsRequireTrustedClientCertOnConnect=true",
                    "--authenticationEnabled=true", "--authenticationProviders=token",
                    "--tokenSecretKey=file://" + cls.secret, "--authenticationRefreshCheckSeconds=1"]

        cls.broker = harness.Broker(mop_args=args).start()
        port = cls.broker.ready["pulsarTls"]["port"]
        cls.url = "pulsar+ssl://localhost:%d" % port
        cls.ip_url = "pulsar+ssl://127.0.0.1:%d" % port
        cls.plain_url = "pulsar://127.0.0.1:%d" % cls.broker.pulsar_port

    @classmethod
    def tearDownClass(cls):
        try:
            cls.broker.stop()
        finally:
            cls.broker.cleanup()
            subprocess.run(["rm", "-rf", cls.dir], check=False)

    def tls(self, ca=None, cert=True):
        out = ["--tls-ca", ca or self.ca[1]]
        if cert:
            out += ["--tls-cert", self.client_cert[0], "--tls-key", self.client_cert[1]]
        return out

    def opts(self):
        return self.tls()

    def refusing_urls(self):
        return [(self.url, self.tls()), (self.plain_url, [])]

    def check_role(self, topic, sub, role):
        """mop's admin stats name no role; the log checks (check_refresh_logged) stand for it."""
        return None

    def check_without_token(self):
        line, _ = self.open_producer(self.plain_url)  # no token at all: refused
        self.assertIn("fatal", line)

    def check_refresh_logged(self, role):
        log = self.broker.log_text()
        self.assertIn("credentials of role %s expired: AUTH_CHALLENGE" % role, log)
        self.assertNotIn("credentials of role %s expired and were not refreshed" % role, log)

    def test_certificate_checks(self):
        token = ["--token-file", self.token_file("app")]
        # The right CA, but the certificate does not name 127.0.0.1.
        line, _ = self.open_producer(self.ip_url, *token, *self.tls())
        self.assertIn("IP address mismatch", line.get("fatal", ""), line)
        # ...accepted without the host-name check (the lookup then sends it on to localhost).
        line, _ = self.open_producer(self.ip_url, "--no-hostname-verify", *token, *self.tls())
        self.assertIn("ready", line)
        # Another CA: refused, and accepted only when told to allow anything.
        line, _ = self.open_producer(self.url, *token, *self.tls(ca=self.other_ca[1]))
        self.assertIn("certificate", line.get("fatal", ""), line)
        line, _ = self.open_producer(self.url, "--tls-insecure", *token, *self.tls(ca=self.other_ca[1]))
        self.assertIn("ready", line)
        # No client certificate: the broker refuses the handshake.
        line, _ = self.open_producer(self.url, *token, *self.tls(cert=False))
        self.assertIn("fatal", line)
        # A CA file that does not exist: refused before any connection.
        line, _ = self.open_producer(self.url, *token, "--tls-ca", os.path.join(self.dir, "missing.pem"))
        self.assertIn("trusted CA file", line.get("fatal", ""), line)


class OnSecuredApachePulsar(TokenCases, unittest.TestCase):
    """The token cases against the suite's Apache Pulsar, which harness.pulsar_settings starts
    with AuthenticationProviderToken (its key in the Pulsar's directory), anonymousUserRole (so
    the other cases and suites, without credentials, are served as before) and
    authenticationRefreshCheckSeconds=1. The role a connection got is read from the topic's
    stats (a consumer's `appId`), and the refresh from the broker's log."""

    pulsar = SERVERS["pulsar"]

    @classmethod
    def setUpClass(cls):
        cls.secret = cls.pulsar.token_key()
        if cls.secret is None:
            raise unittest.SkipTest("this Apache Pulsar was not started with harness.pulsar_settings "
                                    "(token authentication)")
        cls.url = cls.pulsar.url
        cls.dir = tempfile.mkdtemp(prefix="mop-client-pulsar-tokens-")

    @classmethod
    def tearDownClass(cls):
        subprocess.run(["rm", "-rf", cls.dir], check=False)

    def check_role(self, topic, sub, role):
        """The one consumer of `sub`: its role as the broker authenticated it, and the address of
        its connection (which a close for expired credentials would change)."""
        stats = self.pulsar.admin("GET", "persistent/%s/stats" % topic.replace("persistent://", ""))
        consumers = stats["subscriptions"][sub]["consumers"]
        self.assertEqual([c["appId"] for c in consumers], [role], consumers)
        return consumers[0]["address"]

    def check_without_token(self):
        # anonymousUserRole: a client without credentials is let in as `anonymous`.
        topic = new_topic("anonymous")
        c = start_consumer(self.url, "s", 1, "--topic", topic, "--timeout-s", 30)
        self.runs.append(c)
        self.check_role(topic, "s", "anonymous")

    def check_refresh_logged(self, role):
        log = self.pulsar.log_tail(10 ** 6)
        self.assertIn("Refreshing authentication credentials for originalPrincipal null and authRole %s" % role, log)
        self.assertIn("Refreshed authentication credentials for role %s" % role, log)


if __name__ == "__main__":
    unittest.main()
