"""`mop bench pulsar-*` against a real `mop standalone` (ctest integration_pulsar_bench).

The load generator's own checks (every sequence number, no duplicates) are asserted on its --json
summary; and so that our Pulsar client is not the only judge, pulsar-flex (a client we did not
write; pulsar_flex_peer.js) consumes what `mop bench pulsar-produce` sent and produces what
`mop bench pulsar-consume` must receive. Run: MOP_BIN=build/mop /usr/bin/python3 -m unittest -v
test_pulsar_bench (from loadgen/tests).
"""

import json
import os
import subprocess
import sys
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "tests", "integration"))
import harness  # noqa: E402

PEER = os.path.join(HERE, "pulsar_flex_peer.js")
# The official Python client (scripts/setup's venv), for what pulsar-flex cannot read.
VENV_PYTHON = os.path.join(os.path.dirname(os.path.dirname(HERE)), ".cache", "venv", "bin", "python")
OFFICIAL_CONSUMER = """
import json, sys, pulsar
port, topic, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
client = pulsar.Client("pulsar://127.0.0.1:%s" % port, operation_timeout_seconds=30)
consumer = client.subscribe(topic, "official-sub")
print("ready", flush=True)
payloads = []
for _ in range(n):
    m = consumer.receive(timeout_millis=30000)
    payloads.append(m.data())
    consumer.acknowledge(m)
client.close()
print(json.dumps({"count": len(payloads), "sizes": sorted({len(p) for p in payloads}),
                  "distinct": len(set(payloads))}), flush=True)
"""
TIMEOUT = 60


class PulsarBenchTest(unittest.TestCase):
    broker = None
    pulsar_port = None

    @classmethod
    def setUpClass(cls):
        # Port 0 for MQTT and Pulsar; the bound ports come from mop's start-up line.
        cls.broker = harness.Broker(mop_args=lambda port, data: [
            "--mqttListeners=mqtt://127.0.0.1:%d" % port, "--dataDir=%s" % data])
        cls.broker.start()
        cls.pulsar_port = cls.broker.pulsar_port

    @classmethod
    def tearDownClass(cls):
        try:
            cls.broker.stop()  # exit code 0 after SIGTERM, with our clients gone
        finally:
            cls.broker.cleanup()

    def bench(self, *args):
        return [os.environ["MOP_BIN"], "bench"] + list(args) + ["--port", str(self.pulsar_port), "--json"]

    def run_bench(self, *args):
        p = subprocess.run(self.bench(*args), capture_output=True, text=True, timeout=TIMEOUT)
        self.assertTrue(p.stdout.strip(), "no summary; stderr:\n" + p.stderr + self.broker.log_text(tail=30))
        return p.returncode, json.loads(p.stdout), p.stderr

    def start_bench(self, *args):
        """Starts a mop bench and returns once its producers/consumers are ready."""
        p = subprocess.Popen(self.bench(*args), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        seen = []
        for line in p.stderr:
            seen.append(line)
            if "ready in" in line:
                return p
        p.wait(5)
        self.fail("mop bench did not get ready:\n" + "".join(seen) + (p.stdout.read() if p.stdout else ""))

    def finish_bench(self, p):
        out, err = p.communicate(timeout=TIMEOUT)
        return p.returncode, json.loads(out), err

    def assert_clean(self, rc, s, err):
        self.assertEqual(rc, 0, err)
        self.assertEqual(s["failure"], "", err)
        self.assertEqual(s["errors"], 0, err)
        self.assertEqual(s["lost"], 0)
        self.assertEqual(s["duplicates"], 0)
        self.assertEqual(s["misrouted"], 0)
        self.assertEqual(s["foreign"], 0)
        self.assertFalse(s["guarantees_broken"])

    def test_pubsub_exclusive_batched_compressed(self):
        # Two producers on two topics, each topic read by its own Exclusive consumer; batches of
        # 20, LZ4: every message must arrive once, with its latency measured.
        rc, s, err = self.run_bench("pulsar-pubsub", "-P", "2", "-C", "2", "-T", "2", "--count", "3000",
                                    "--batch", "20", "--compression", "lz4",
                                    "--topic", "persistent://public/default/pb-excl")
        self.assert_clean(rc, s, err)
        self.assertEqual(s["lookup_redirects"], 0)  # mop answers with the URL we came to
        self.assertEqual(s["sent"], 6000)
        self.assertEqual(s["acked"], 6000)
        self.assertEqual(s["received"], 6000)
        self.assertEqual(s["latency_us"]["count"], 6000)

    def test_pubsub_shared_subscription_splits_but_loses_nothing(self):
        # Three consumers share one subscription: together they get each message once.
        rc, s, err = self.run_bench("pulsar-pubsub", "-P", "1", "-C", "3", "--sub-type", "shared",
                                    "--count", "2000", "--window", "100",
                                    "--topic", "persistent://public/default/pb-shared")
        self.assert_clean(rc, s, err)
        self.assertEqual(s["received"], 2000)

    def test_separate_produce_and_consume_processes(self):
        topic = "persistent://public/default/pb-split"
        consumer = self.start_bench("pulsar-consume", "--topic", topic, "--count", "2500",
                                    "--sub-type", "failover", "--ack", "cumulative")
        rc, s, err = self.run_bench("pulsar-produce", "--topic", topic, "--count", "2500",
                                    "--batch", "10", "--compression", "zstd", "--lookup=false")
        self.assert_clean(rc, s, err)
        self.assertEqual(s["acked"], 2500)
        rc, c, err = self.finish_bench(consumer)
        self.assert_clean(rc, c, err)
        self.assertEqual(c["received"], 2500)

    def test_pulsar_flex_consumes_what_bench_produced(self):
        # Batched, uncompressed: pulsar-flex cannot decompress (it has no codecs), and mop, as
        # Apache Pulsar, hands a batch to consumers as the producer compressed it. Compressed
        # batches are read by the official client in the next test.
        topic = "persistent://public/default/pb-to-flex"
        n = 400
        flex = subprocess.Popen(["/usr/bin/env", "node", PEER, "consume", str(self.pulsar_port), topic, "flex-sub",
                                 str(n)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            self.assertEqual(flex.stdout.readline().strip(), "ready", flex.stderr.read() if flex.poll() is not None else "")
            rc, s, err = self.run_bench("pulsar-produce", "--topic", topic, "--count", str(n), "--size", "100",
                                        "--batch", "8", "--compression", "none")
            self.assert_clean(rc, s, err)
            self.assertEqual(s["acked"], n)
            out, ferr = flex.communicate(timeout=TIMEOUT)
            self.assertEqual(flex.returncode, 0, ferr)
        finally:
            if flex.poll() is None:
                flex.kill()
                flex.wait()
        got = json.loads(out)
        self.assertEqual(got["count"], n)
        self.assertEqual(sorted(got["seqs"]), list(range(n)))  # each sequence once
        self.assertEqual(got["seqs"], list(range(n)))           # and in order (one producer, Exclusive)
        self.assertEqual(got["publishers"], [0])
        self.assertEqual(got["sizes"], [100])
        self.assertEqual(got["latencyOk"], n)                  # send times on the same monotonic clock

    @unittest.skipUnless(os.path.exists(VENV_PYTHON), "no .cache/venv with pulsar-client (scripts/setup)")
    def test_official_client_consumes_compressed_batches_bench_produced(self):
        # zlib batches as bench sends them, decompressed and split by the official client (C++),
        # every message once and in order.
        topic = "persistent://public/default/pb-to-official"
        n = 400
        reader = subprocess.Popen([VENV_PYTHON, "-c", OFFICIAL_CONSUMER, str(self.pulsar_port), topic, str(n)],
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            # The client logs to stdout too: wait for our line.
            line = ""
            while line != "ready" and reader.poll() is None:
                line = reader.stdout.readline().strip()
            self.assertEqual(line, "ready", reader.stderr.read() if reader.poll() is not None else "")
            rc, s, err = self.run_bench("pulsar-produce", "--topic", topic, "--count", str(n), "--size", "100",
                                        "--batch", "8", "--compression", "zlib")
            self.assert_clean(rc, s, err)
            self.assertEqual(s["acked"], n)
            out, rerr = reader.communicate(timeout=TIMEOUT)
            self.assertEqual(reader.returncode, 0, rerr[-2000:])
        finally:
            if reader.poll() is None:
                reader.kill()
                reader.wait()
        got = json.loads([l for l in out.splitlines() if l.startswith("{")][-1])
        self.assertEqual(got["count"], n)
        self.assertEqual(got["sizes"], [100])
        self.assertEqual(got["distinct"], n)  # every payload once

    def test_bench_consumes_what_pulsar_flex_produced(self):
        topic = "persistent://public/default/flex-to-pb"
        n = 300
        consumer = self.start_bench("pulsar-consume", "--topic", topic, "--count", str(n))
        flex = subprocess.run(["/usr/bin/env", "node", PEER, "produce", str(self.pulsar_port), topic, str(n), "64"],
                              capture_output=True, text=True, timeout=TIMEOUT)
        self.assertEqual(flex.returncode, 0, flex.stderr)
        rc, c, err = self.finish_bench(consumer)
        self.assert_clean(rc, c, err)
        self.assertEqual(c["received"], n)
        self.assertEqual(c["latency_us"]["count"], n)

    def test_bench_consumes_what_mosquitto_pub_published(self):
        # MQTT in, Pulsar out: mosquitto_pub publishes payloads carrying the bench header (send
        # time on CLOCK_MONOTONIC, which is mop bench's steady clock) to an MQTT topic; mop bench
        # pulsar-consume reads its Pulsar topic (the MQTT name URL-encoded) and checks them.
        n = 25
        consumer = self.start_bench("pulsar-consume", "--topic", "persistent://public/default/mq%2Fto-pb",
                                    "--count", str(n))
        for i in range(n):
            path = os.path.join(self.broker.tmpdir, "payload")
            with open(path, "wb") as f:
                f.write(time.monotonic_ns().to_bytes(8, "little") + i.to_bytes(4, "little") +
                        (0).to_bytes(4, "little") + b"z" * 48)
            subprocess.run(["mosquitto_pub", "-p", str(self.broker.port), "-q", "1", "-t", "mq/to-pb", "-f", path],
                           check=True, timeout=10)
        rc, c, err = self.finish_bench(consumer)
        self.assert_clean(rc, c, err)
        self.assertEqual(c["received"], n)
        self.assertEqual(c["reordered"], 0)

    def test_lookup_naming_another_url_is_followed(self):
        # A broker advertising `localhost` answers LOOKUP with pulsar://localhost:port while we
        # came to 127.0.0.1: as the official clients do, each producer and consumer opens a
        # connection to the URL it was given and is created there.
        b = harness.Broker(mop_args=lambda mqtt, data: [
            "--mqttListeners=mqtt://127.0.0.1:%d" % mqtt, "--advertisedAddress=localhost", "--dataDir=%s" % data])
        with b:
            port = b.pulsar_port
            self.assertEqual(b.ready["pulsar"]["url"], "pulsar://localhost:%d" % port)
            p = subprocess.run([os.environ["MOP_BIN"], "bench", "pulsar-pubsub", "--port", str(port), "-P", "2",
                                "-C", "2", "--count", "500", "--json"], capture_output=True, text=True, timeout=TIMEOUT)
            s = json.loads(p.stdout)
            self.assert_clean(p.returncode, s, p.stderr)
            self.assertEqual(s["lookup_redirects"], 4)
            self.assertEqual(s["received"], 2 * 2 * 500)

    def test_consume_count_not_reached_is_a_failure(self):
        rc, s, err = self.run_bench("pulsar-consume", "--topic", "persistent://public/default/pb-empty",
                                    "--count", "10", "--duration", "1")
        self.assertEqual(rc, 1)
        self.assertIn("not reached", s["failure"])


if __name__ == "__main__":
    unittest.main()
