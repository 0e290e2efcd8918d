"""mop proxy (issue 14) in front of a Pulsar cluster, with real peers: python3-paho-mqtt,
mosquitto_sub and the official Pulsar Python client (PyPI `pulsar-client`).

Two backends, the same cases: a real Apache Pulsar standalone (scripts/pulsar-standalone, started
once for the suite; PULSAR_URL and PULSAR_HTTP set use that broker instead) and `mop standalone`
serving the Pulsar protocol. Three proxies run over each backend. Run with the venv python that
scripts/setup makes (.cache/venv/bin/python) and MOP_BIN set. Each case uses topics and client
ids of its own.
"""

import json
import os
import queue
import re
import select
import signal
import socket
import subprocess
import sys
import tempfile
import time
import unittest
import urllib.request
import uuid

import paho.mqtt.client as mqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
import pulsar

import harness
import rawmqtt
from clients import PahoClient, MOSQ_SUB

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
MOP_BIN = os.environ.get("MOP_BIN", os.path.join(ROOT, "build", "mop"))
SYSTEM_NS = "public/mop-system"
START_TIMEOUT = 40.0  # a proxy reads its state topics before it listens
WAIT = 10.0           # how long something that must happen may take
# Every proxy of the suite looks for wills of dead proxies every second (default 5 s).
TAKEOVER = ["--mqttProxyWillTakeoverIntervalSeconds=1"]


def uid():
    return uuid.uuid4().hex[:10]


class Proxy:
    """One `mop proxy` process on a free port over `url`."""

    def __init__(self, url, extra=()):
        self.url = url
        self.extra = list(extra)
        self.log = tempfile.NamedTemporaryFile(prefix="mop-proxy-", suffix=".log", delete=False)
        self.proc = None
        self.port = None

    def start(self):
        self.proc = subprocess.Popen(
            [MOP_BIN, "proxy", "--brokerServiceURL=" + self.url, "--mqttListeners=mqtt://127.0.0.1:0"] + self.extra,
            stdout=self.log, stderr=subprocess.STDOUT)
        ready = harness.wait_ready(self.log.name, self.proc, timeout=START_TIMEOUT)
        if ready is None:
            raise AssertionError("mop proxy did not start:\n" + self.log_text())
        self.port = ready["mqtt"][0]["port"]
        return self

    def log_text(self):
        with open(self.log.name, errors="replace") as f:
            return f.read()

    def kill9(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.kill9()
        try:
            os.unlink(self.log.name)
        except OSError:
            pass


class ApachePulsarBackend:
    name = "Apache Pulsar"

    def __init__(self):
        self.pulsar = None

    def start(self):
        # harness.ApachePulsar: one started for the suite with Pulsar's defaults, or the one CTest
        # shares between the suites (PULSAR_DIR), or one started by hand (PULSAR_URL, PULSAR_HTTP).
        self.pulsar = harness.ApachePulsar(prefix="mop-proxy-pulsar-", settings=[]).start()
        self.url, self.http = self.pulsar.url, self.pulsar.http
        # The proxies' namespace, created as a user would (pulsar-admin namespaces create). A
        # failure stops the Pulsar this started.
        try:
            harness.create_pulsar_namespace(self.http, SYSTEM_NS)
            # Producer deduplication, which QoS 2 exactly once across a proxy crash needs (the
            # proxies probe it at start), on the MQTT topics' namespace and the proxies' own.
            for ns in ("public/default", SYSTEM_NS):
                req = urllib.request.Request("%s/admin/v2/namespaces/%s/deduplication" % (self.http, ns), data=b"true",
                                             headers={"Content-Type": "application/json"}, method="POST")
                urllib.request.urlopen(req, timeout=30).read()
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self):
        if self.pulsar is not None:
            self.pulsar.stop()
            self.pulsar = None


class MopBackend:
    """mop standalone serving the Pulsar protocol (namespaces need no creation there), with
    retention as a Pulsar cluster has in effect: without it mop deletes a message that no
    subscription holds at once, so the first message of a topic would be gone before a proxy's
    wildcard subscription finds the topic (Apache Pulsar keeps it until its ledger is trimmed)."""

    name = "mop standalone"

    def __init__(self, deduplication=True):
        self.deduplication = deduplication  # brokerDeduplicationEnabled, for QoS 2 exactly once

    def start(self):
        self.broker = harness.Broker(extra_args=["--defaultRetentionTimeInMinutes=60",
                                                 "--defaultRetentionSizeInMB=100",
                                                 "--brokerDeduplicationEnabled=%s" % str(self.deduplication).lower()])
        self.broker.kind = "mop"
        self.broker.start()
        self.url = "pulsar://127.0.0.1:%d" % self.broker.pulsar_port
        self.http = "http://127.0.0.1:%d" % self.broker.web_port
        return self

    def stop(self):
        self.broker.cleanup()


class ProxyCases:
    """The cases; a subclass names the backend (class attribute `backend`)."""

    backend = None

    @classmethod
    def setUpClass(cls):
        cls.be = cls.backend().start()
        cls.proxies = []
        try:
            for _ in range(3):
                cls.proxies.append(Proxy(cls.be.url, TAKEOVER).start())
        except BaseException:
            cls.tearDownClass()
            raise
        cls.a, cls.b, cls.c = cls.proxies

    @classmethod
    def tearDownClass(cls):
        for p in getattr(cls, "proxies", []):
            p.stop()
        cls.be.stop()

    def client(self, proxy, client_id=None, clean=True, will=None):
        c = PahoClient(proxy.port, client_id=client_id or "c-" + uid(), clean_session=clean, will=will)
        rc, _ = c.connect()
        self.assertEqual(rc, 0)
        self.addCleanup(self._close, c)
        return c

    @staticmethod
    def _close(c):
        try:
            c.c.disconnect()
            c.c.loop_stop()
        except Exception:
            pass

    def test_persistent_session_subscribed_on_a_published_on_b_back_on_c(self):
        topic = "alerts/" + uid()
        dev = "dev-" + uid()
        sub = self.client(self.a, dev, clean=False)
        sub.subscribe([(topic, 1)])
        sub.disconnect()
        pub = self.client(self.b)
        sent = ["m%02d" % i for i in range(20)]
        for m in sent:
            pub.publish(topic, m, qos=1)  # blocks until PUBACK, which follows Pulsar's receipt
        back = PahoClient(self.c.port, client_id=dev, clean_session=False)
        rc, present = back.connect()
        self.addCleanup(self._close, back)
        # The session resumes from the record proxy A stored: present, subscribed, no SUBSCRIBE.
        self.assertEqual((rc, present), (0, 1))
        got = [m.payload.decode() for m in back.collect(len(sent), timeout=WAIT)]
        self.assertEqual(got, sent)
        self.assertEqual(back.drain(1.0), [])

    def test_a_publish_right_after_suback_reaches_the_new_subscriber(self):
        # SUBACK goes out once the Pulsar subscription exists: a message published right after it,
        # through another proxy, is the subscription's. Fresh topics, so each SUBSCRIBE creates its
        # Pulsar subscription (and topic) anew, which is where SUBACK used to run ahead.
        sub = self.client(self.b)
        pub = self.client(self.a)
        for i in range(5):
            topic = "suback/%s/%d" % (uid(), i)
            sub.subscribe([(topic, 1)])  # returns on SUBACK
            pub.publish(topic, "right after %d" % i, qos=1)
            self.assertEqual(sub.get(WAIT).payload, ("right after %d" % i).encode())
        self.assertEqual(sub.drain(0.5), [])

    def test_a_connection_on_b_closes_the_older_one_on_a(self):
        cid = "twin-" + uid()
        first = self.client(self.a, cid)
        # paho's loop reconnects after a second; a client that comes back takes the id over again
        # (correctly), so the taken-over one waits longer than this test.
        first.c.reconnect_delay_set(min_delay=60, max_delay=120)
        second = self.client(self.b, cid)
        logs = lambda: "\n--- proxy A:\n%s\n--- proxy B:\n%s" % (self.a.log_text()[-3000:], self.b.log_text()[-3000:])
        self.assertTrue(first.disconnected.wait(WAIT), "the older connection on proxy A stayed open" + logs())
        # never the other way round: the newer one stays
        self.assertFalse(second.disconnected.wait(1.5), "the newer connection on proxy B was closed" + logs())
        topic = "twin/" + uid()
        second.subscribe([(topic, 1)])
        self.client(self.c).publish(topic, "still here", qos=1)
        self.assertEqual(second.get(WAIT).payload, b"still here")

    def test_a_connection_made_right_after_another_ones_connack_stays(self):
        # 40 pairs of connections of one client id on proxies A and B (real paho clients, one
        # thread driving both through paho's external loop): the second CONNECT goes out the
        # moment the first CONNACK is read, on the other proxy. The second connection is the
        # later one whichever way it is seen, so it must stay and the first must be closed. A
        # proxy sends the CONNACK once the connection's announcement on mqtt-connections is
        # stored, so the first announcement is stored before the second CONNECT exists. With the
        # announcement sent after the CONNACK, it could still be on its way when the second one
        # was stored, and then closed the second connection (5 or 6 pairs of 40 on a fresh Apache
        # Pulsar).
        logs = lambda: "\n--- proxy A:\n%s\n--- proxy B:\n%s" % (self.a.log_text()[-3000:], self.b.log_text()[-3000:])
        state = {}  # paho client -> {"connack": return code or None, "closed": bool}

        def on_connect(client, userdata, flags, rc):
            state[client]["connack"] = rc

        def on_disconnect(client, userdata, rc):
            state[client]["closed"] = True

        def run(clients, until, seconds=WAIT):
            deadline = time.monotonic() + seconds
            while time.monotonic() < deadline and not until():
                socks = {c.socket(): c for c in clients if not state[c]["closed"] and c.socket() is not None}
                if not socks:
                    return
                writing = [sk for sk, c in socks.items() if c.want_write()]
                readable, writable, _ = select.select(list(socks), writing, [], 0.02)
                for sk in readable:
                    socks[sk].loop_read()
                for sk in writable:
                    if not state[socks[sk]]["closed"]:
                        socks[sk].loop_write()

        wrong = []
        for i in range(40):
            cid = "pair-%d-%s" % (i, uid())
            first, second = (mqtt.Client(client_id=cid, clean_session=True, protocol=mqtt.MQTTv311) for _ in range(2))
            for c in (first, second):
                c.on_connect, c.on_disconnect = on_connect, on_disconnect
                state[c] = {"connack": None, "closed": False}
            ports = [self.a.port, self.b.port] if i % 2 else [self.b.port, self.a.port]
            first.connect("127.0.0.1", ports[0], keepalive=30)  # sends the CONNECT at once
            run([first], lambda: state[first]["connack"] is not None or state[first]["closed"])
            self.assertEqual(state[first]["connack"], 0, "%s: the first connection was not accepted%s" % (cid, logs()))
            second.connect("127.0.0.1", ports[1], keepalive=30)
            run([first, second], lambda: state[first]["closed"] or state[second]["closed"])
            run([first, second], lambda: False, 0.05)  # a release that comes late shows now
            if state[second]["connack"] != 0 or state[second]["closed"] or not state[first]["closed"]:
                wrong.append("%s: second %s, first %s" % (
                    cid, "closed" if state[second]["closed"] else "open (CONNACK %r)" % state[second]["connack"],
                    "closed" if state[first]["closed"] else "open"))
            for c in (first, second):
                if not state[c]["closed"]:
                    c.disconnect()
                    c.loop_write()
        self.assertEqual(wrong, [], "pairs where the later connection did not stay" + logs())

    def test_retained_message_set_on_a_is_delivered_on_b_and_cleared_on_c(self):
        topic = "status/" + uid()
        self.client(self.a).publish(topic, "open", qos=1, retain=True)
        on_b = self.client(self.b)
        on_b.subscribe([(topic, 1)])
        m = on_b.get(WAIT)
        self.assertEqual((m.payload, m.retain), (b"open", True))
        self.client(self.c).publish(topic, "", qos=1, retain=True)
        later = self.client(self.b)
        later.subscribe([(topic, 1)])
        self.assertEqual(later.drain(1.5), [])

    def test_will_of_a_client_killed_on_a_reaches_a_subscriber_on_c(self):
        topic = "wills/" + uid()
        watcher = self.client(self.c)
        watcher.subscribe([(topic, 1)])
        dying = subprocess.Popen([MOSQ_SUB, "-h", "127.0.0.1", "-p", str(self.a.port), "-i", "dying-" + uid(),
                                  "-t", "nothing/" + uid(), "--will-topic", topic, "--will-payload", "gone",
                                  "--will-qos", "1"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            time.sleep(1.0)  # connected (mosquitto_sub has no ready signal)
            dying.send_signal(signal.SIGKILL)
            dying.wait(5)
        finally:
            if dying.poll() is None:
                dying.kill()
        self.assertEqual(watcher.get(WAIT).payload, b"gone")

    def test_wildcard_subscription_on_b_picks_up_a_topic_created_on_a(self):
        base = "wc-" + uid()
        sub = self.client(self.b)
        sub.subscribe([(base + "/#", 1)])
        pub = self.client(self.a)
        pub.publish(base + "/new/topic", "first", qos=1)
        m = sub.get(WAIT)
        self.assertEqual((m.topic, m.payload), (base + "/new/topic", b"first"))

    def test_pulsar_consumer_reads_what_mqtt_clients_published_through_proxies(self):
        local = "to-pulsar-" + uid()
        client = pulsar.Client(self.be.url)
        try:
            consumer = client.subscribe("persistent://public/default/" + local, "reader",
                                        initial_position=pulsar.InitialPosition.Earliest)
            self.client(self.a).publish(local, "from a", qos=1)
            self.client(self.b).publish(local, "from b", qos=0)
            got = []
            for _ in range(2):
                msg = consumer.receive(timeout_millis=int(WAIT * 1000))
                got.append((msg.data(), msg.properties().get("__mqtt_qos")))
                consumer.acknowledge(msg)
            self.assertEqual(got, [(b"from a", "1"), (b"from b", "0")])
        finally:
            client.close()

    def test_an_unpaced_qos0_burst_arrives_whole(self):
        # 30,000 QoS 0 publishes in one write, three times a Pulsar producer's queue of pending
        # sends: the proxy stops reading the publisher while its sends wait for receipts instead
        # of dropping what the producer's queue cannot take (it dropped all but about 1,000 of a
        # million in bench/compare's unpaced QoS 0 row). The topic is persistent: nothing is lost.
        topic = "burst/" + uid()
        n = 30000
        sub = rawmqtt.RawClient(self.b.port, timeout=WAIT)
        self.addCleanup(sub.close)
        self.assertEqual(sub.connect("burst-sub-" + uid()).body[1], 0)
        sub.subscribe(1, [(topic, 0)])
        pub = rawmqtt.RawClient(self.a.port, timeout=WAIT)
        self.addCleanup(pub.close)
        self.assertEqual(pub.connect("burst-pub-" + uid()).body[1], 0)
        pub.send(b"".join(rawmqtt.publish(topic, b"%d" % i) for i in range(n)) + rawmqtt.pingreq())
        pub.expect(rawmqtt.PINGRESP, timeout=60)  # after every PUBLISH before it was taken
        got = []
        while len(got) < n:
            try:
                p = sub.read_packet(timeout=30)
            except socket.timeout:
                self.fail("%d of %d QoS 0 messages arrived" % (len(got), n))
            if p.type != rawmqtt.PUBLISH:
                continue
            length = (p.body[0] << 8) | p.body[1]
            got.append(int(p.body[2 + length:]))
        self.assertEqual(got, list(range(n)))

    def test_kill9_of_a_proxy_under_qos1_load_loses_nothing_acknowledged(self):
        # A persistent subscriber on C; a publisher on a fourth proxy that is killed halfway and
        # reconnects to B. Every message the publisher got a PUBACK for arrives.
        topic = "load/" + uid()
        victim = Proxy(self.be.url).start()
        self.addCleanup(victim.stop)
        sub = self.client(self.c, "sink-" + uid(), clean=False)
        sub.subscribe([(topic, 1)])
        acked = []
        pub = PahoClient(victim.port, client_id="src-" + uid())
        pub.connect()
        for i in range(200):
            if i == 100:
                victim.kill9()
            try:
                info = pub.c.publish(topic, "n%03d" % i, 1)
                info.wait_for_publish(2.0)
                if info.is_published():
                    acked.append("n%03d" % i)
                    continue
            except (RuntimeError, ValueError):
                pass
            break
        pub.c.loop_stop()
        self.assertEqual(len(acked), 100, "the publisher was acknowledged %d messages before the kill" % len(acked))
        pub = self.client(self.b)
        for i in range(len(acked), 200):
            pub.publish(topic, "n%03d" % i, qos=1)
            acked.append("n%03d" % i)
        got = set()
        deadline = time.monotonic() + 20
        while not set(acked) <= got and time.monotonic() < deadline:
            try:
                got.add(sub.get(1.0).payload.decode())
            except AssertionError:
                pass
        self.assertEqual(sorted(set(acked) - got), [])

    def test_kill9_of_a_proxy_under_qos2_load_delivers_each_message_once(self):
        # A paho publisher with a persistent session sends QoS 2 messages through a fourth proxy,
        # killed once 60 have completed while up to 20 are in flight (some without PUBREC, some
        # without PUBCOMP); the same paho client then connects to B, and paho resends what was
        # unfinished (PUBLISH with DUP, PUBREL). A persistent QoS 2 subscriber on C gets every
        # message exactly once: B hands a resent PUBLISH over under the sequence id the session
        # record gave it on the dead proxy, and the broker's deduplication drops it if stored.
        topic = "once/" + uid()
        victim = Proxy(self.be.url).start()
        self.addCleanup(victim.stop)
        self.assertIn("QoS 2 is exactly once across a proxy crash", victim.log_text())
        sub = self.client(self.c, "once-sink-" + uid(), clean=False)
        sub.subscribe([(topic, 2)])
        completed = set()
        connected = queue.Queue()
        pub = mqtt.Client(client_id="once-src-" + uid(), clean_session=False)
        pub.max_inflight_messages_set(20)
        pub.max_queued_messages_set(0)
        pub.on_publish = lambda client, userdata, mid: completed.add(mid)  # QoS 2: on PUBCOMP
        pub.on_connect = lambda client, userdata, flags, rc: connected.put(rc)
        pub.connect("127.0.0.1", victim.port)
        pub.loop_start()
        self.addCleanup(pub.loop_stop)
        self.assertEqual(connected.get(timeout=WAIT), 0)
        sent = ["q%03d" % i for i in range(200)]
        infos = [pub.publish(topic, m, 2) for m in sent]
        deadline = time.monotonic() + 30
        while len(completed) < 60:
            self.assertLess(time.monotonic(), deadline, "only %d QoS 2 publishes completed" % len(completed))
            time.sleep(0.01)
        victim.kill9()
        pub.loop_stop()  # its loop would reconnect to the dead proxy's port
        pub.connect("127.0.0.1", self.b.port)
        pub.loop_start()
        self.assertEqual(connected.get(timeout=WAIT), 0)
        for m, info in zip(sent, infos):
            info.wait_for_publish(30.0)
            self.assertTrue(info.is_published(), "%s never completed after the publisher moved to proxy B" % m)
        got = {}
        deadline = time.monotonic() + 30
        while len(got) < len(sent) and time.monotonic() < deadline:
            try:
                m = sub.get(1.0).payload.decode()
            except AssertionError:
                continue
            got[m] = got.get(m, 0) + 1
        for m in sub.drain(1.5):
            got[m.payload.decode()] = got.get(m.payload.decode(), 0) + 1
        self.assertEqual(sorted(set(sent) - set(got)), [], "messages lost")
        self.assertEqual({m: n for m, n in got.items() if n != 1}, {}, "messages delivered more than once")
        pub.disconnect()

    def test_a_client_mixing_qos2_with_qos0_and_qos1_on_a_topic_keeps_its_order(self):
        # A persistent session's QoS 2 messages go through a producer named after the client (and
        # after a session record write), its QoS 0/1 messages through the topic's shared one. The
        # proxy holds a message that switches from one to the other until the ones before it are
        # stored, so a subscriber gets them in the order the client sent them, though MQTT only
        # asks for that per QoS [MQTT-4.6.0-6]. Sent without waiting for acknowledgements (paho
        # keeps up to 100 in flight), in runs of each QoS. The subscriber takes them at QoS 1:
        # paho hands a QoS 2 message to the application at PUBREL, after later QoS 0 ones.
        topic = "mixed/" + uid()
        sub = self.client(self.b)
        sub.subscribe([(topic, 1)])
        pub = self.client(self.a, "mixed-" + uid(), clean=False)
        pattern = (2, 0, 2, 2, 1, 0, 0, 2, 1, 1)
        sent, infos = [], []
        for i in range(90):
            qos = pattern[i % len(pattern)]
            sent.append(b"m%02d-q%d" % (i, qos))
            infos.append(pub.c.publish(topic, sent[-1], qos))
        for m, info in zip(sent, infos):
            info.wait_for_publish(WAIT)
            self.assertTrue(info.is_published(), "%r not acknowledged" % m)
        got = [m.payload for m in sub.collect(len(sent), timeout=WAIT)]
        self.assertEqual(got, sent)
        self.assertEqual(sub.drain(1.0), [])


    def v5_client(self, proxy, client_id, will=None, will_delay=0, expiry=60):
        """A connected MQTT 5 paho client (clean start off, session expiry `expiry` s), with the
        will (topic, payload) after `will_delay` s if given. The caller stops its loop."""
        got = queue.Queue()
        c = mqtt.Client(client_id=client_id, protocol=mqtt.MQTTv5)
        c.on_connect = lambda client, userdata, flags, rc, props: got.put(rc.value)
        if will is not None:
            wp = Properties(PacketTypes.WILLMESSAGE)
            wp.WillDelayInterval = will_delay
            c.will_set(will[0], will[1], qos=1, properties=wp)
        cp = Properties(PacketTypes.CONNECT)
        cp.SessionExpiryInterval = expiry
        c.connect("127.0.0.1", proxy.port, clean_start=False, properties=cp)
        c.loop_start()
        self.assertEqual(got.get(timeout=WAIT), 0)
        return c

    def subscriptions(self, local):
        """The names of the Pulsar subscriptions of persistent://public/default/{local}, from the
        backend's admin API (Apache Pulsar's, or mop standalone's)."""
        url = "%s/admin/v2/persistent/public/default/%s/stats" % (self.be.http, local)
        with urllib.request.urlopen(url, timeout=30) as r:
            return set(json.load(r).get("subscriptions", {}))

    def test_wills_and_sessions_of_a_killed_proxy_are_taken_over_by_another_proxy(self):
        # A fourth proxy holds three clients with wills: mosquitto_sub (MQTT 3.1.1, no delay),
        # paho MQTT 5 with a will delay of 4 s, and paho MQTT 5 with a will delay of 6 s that
        # connects again through B right after the kill. The victim is killed with SIGKILL; one
        # of A, B, C takes its liveness lease within a takeover interval (1 s here) and publishes
        # the first two wills, the delayed one not before its delay, each once; the third never
        # goes out. While the victim lives (two takeover intervals) nothing is published.
        # A fourth client there, MQTT 5 with a session expiry of 2 s, subscribed (a durable Pulsar
        # subscription): the heir counts it as disconnected at the takeover, so after 2 s the
        # session expires as any does (the Pulsar subscription unsubscribed, the record deleted)
        # and its client, coming back, gets session present 0.
        topic = "heir/" + uid()
        watcher = self.client(self.c, "heir-watch-" + uid())
        watcher.subscribe([(topic + "/#", 1)])
        victim = Proxy(self.be.url, TAKEOVER).start()
        self.addCleanup(victim.stop)
        now_id = "heir-now-" + uid()
        mosq = subprocess.Popen([MOSQ_SUB, "-h", "127.0.0.1", "-p", str(victim.port), "-i", now_id,
                                 "-t", "nothing/" + uid(), "--will-topic", topic + "/now", "--will-payload", "now",
                                 "--will-qos", "1"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.addCleanup(lambda: mosq.poll() is None and mosq.kill())
        back_id = "heir-back-" + uid()
        paho = [self.v5_client(victim, "heir-late-" + uid(), (topic + "/late", "late"), 4),
                self.v5_client(victim, back_id, (topic + "/back", "back"), 6)]
        sess_id = "heir-sess-" + uid()
        sess_topic = "heir-sess-" + uid()  # no '/': the admin path names it as it is
        sess = self.v5_client(victim, sess_id, expiry=2)
        subacked = queue.Queue()
        sess.on_subscribe = lambda *a: subacked.put(True)
        sess.subscribe(sess_topic, qos=1)
        self.assertTrue(subacked.get(timeout=WAIT))
        self.assertIn(sess_id, self.subscriptions(sess_topic))
        paho.append(sess)
        for c in paho:
            self.addCleanup(c.loop_stop)
        logs = lambda: "".join("\n--- proxy %s:\n%s" % (n, p.log_text()[-2500:])
                               for n, p in (("victim", victim), ("A", self.a), ("B", self.b), ("C", self.c)))
        # mosquitto_sub has no ready signal: its will is stored once the victim admitted it.
        deadline = time.monotonic() + WAIT
        while "client connected: id=" + now_id not in victim.log_text():
            self.assertLess(time.monotonic(), deadline, "mosquitto_sub did not connect" + logs())
            time.sleep(0.1)
        self.assertEqual(watcher.drain(2.5), [], "a will went out while its proxy was alive" + logs())

        killed_at = time.monotonic()
        victim.kill9()
        for c in paho:
            c.loop_stop()  # their connections are gone with the victim; no reconnection
        back = self.v5_client(self.b, back_id)  # no will this time, session resumed
        self.addCleanup(lambda: (back.disconnect(), back.loop_stop()))

        arrived = {}
        deadline = killed_at + 6 + 3  # the reconnected client's delay, and then some
        while time.monotonic() < deadline or len(arrived) < 2:
            self.assertLess(time.monotonic() - killed_at, 4 + WAIT,
                            "wills that arrived %.1f s after the kill: %r" % (4 + WAIT, sorted(arrived)) + logs())
            try:
                m = watcher.get(0.2)
            except AssertionError:
                continue
            arrived.setdefault(m.payload.decode(), []).append(time.monotonic() - killed_at)
        for m in watcher.drain(1.0):  # anything more is a duplicate
            arrived.setdefault(m.payload.decode(), []).append(None)
        self.assertEqual(sorted(arrived), ["late", "now"], "%r%s" % (arrived, logs()))
        self.assertEqual(len(arrived["now"]), 1, "the will without delay came %r" % arrived["now"])
        self.assertEqual(len(arrived["late"]), 1, "the delayed will came %r" % arrived["late"])
        # The bound (cluster/README.md): the takeover interval (1 s) plus one lease creation plus
        # the delay, plus a tick of the heir's will timer; WAIT is generous.
        self.assertLess(arrived["now"][0], WAIT)
        self.assertGreaterEqual(arrived["late"][0], 4.0, "the delayed will went out before its delay")
        self.assertLess(arrived["late"][0], 4 + WAIT)
        started = re.search(r"mop proxy started: .*\(instance ([^)\s]+)\)", victim.log_text())
        self.assertIsNotNone(started, "the victim's start line names no instance" + logs())
        instance = started.group(1)
        heirs = [n for n, p in (("A", self.a), ("B", self.b), ("C", self.c))
                 if "proxy %s is gone" % instance in p.log_text()]
        self.assertEqual(len(heirs), 1, "proxies that took the victim's wills over: %r%s" % (heirs, logs()))
        # The session: its expiry (2 s) counted from the takeover (within WAIT of the kill).
        self.assertTrue(harness.wait_until(lambda: sess_id not in self.subscriptions(sess_topic), WAIT),
                        "the expired session's Pulsar subscription is still there" + logs())
        present = queue.Queue()
        again = mqtt.Client(client_id=sess_id, protocol=mqtt.MQTTv5)
        again.on_connect = lambda client, userdata, flags, rc, props: present.put((rc.value, flags["session present"]))
        cp = Properties(PacketTypes.CONNECT)
        cp.SessionExpiryInterval = 2
        again.connect("127.0.0.1", self.a.port, clean_start=False, properties=cp)
        again.loop_start()
        self.addCleanup(lambda: (again.disconnect(), again.loop_stop()))
        self.assertEqual(present.get(timeout=WAIT), (0, 0), "the expired session was resumed" + logs())


class OverApachePulsar(ProxyCases, unittest.TestCase):
    backend = ApachePulsarBackend

    def test_unreachable_cluster_and_missing_namespace_stop_the_start(self):
        closed = harness.free_port()
        p = subprocess.run([MOP_BIN, "proxy", "--brokerServiceURL=pulsar://127.0.0.1:%d" % closed,
                            "--mqttListeners=mqtt://127.0.0.1:0"], stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, text=True, timeout=60)
        self.assertEqual(p.returncode, 1, p.stdout)
        self.assertIn("cannot reach the Apache Pulsar cluster at pulsar://127.0.0.1:%d" % closed, p.stdout)
        self.assertNotIn("mop-ready", p.stdout)
        ns = "public/missing-" + uid()
        p = subprocess.run([MOP_BIN, "proxy", "--brokerServiceURL=" + self.be.url, "--mqttProxySystemNamespace=" + ns,
                            "--mqttListeners=mqtt://127.0.0.1:0"], stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, text=True, timeout=60)
        self.assertEqual(p.returncode, 1, p.stdout)
        self.assertIn("pulsar-admin namespaces create " + ns, p.stdout)
        self.assertNotIn("mop-ready", p.stdout)

    def test_topic_unload_under_qos1_load_loses_nothing_acknowledged(self):
        # Apache Pulsar's admin unloads the topic twice while a paho publisher on A sends QoS 1
        # messages one after the other and a persistent subscriber on C receives them: the
        # broker closes the proxies' producer and consumer (CLOSE_PRODUCER / CLOSE_CONSUMER),
        # which reconnect. The clients see latency only: every publish is acknowledged, nobody
        # is disconnected, and every message arrives (QoS 1: a redelivery may repeat one).
        local = "unload-" + uid()  # no '/': the Pulsar name is the admin path's as it is
        sub = self.client(self.c, "unload-sink-" + uid(), clean=False)
        sub.subscribe([(local, 1)])
        pub = self.client(self.a, "unload-src-" + uid())
        unload = urllib.request.Request("%s/admin/v2/persistent/public/default/%s/unload" % (self.be.http, local),
                                        method="PUT")
        sent = ["u%03d" % i for i in range(150)]
        for i, m in enumerate(sent):
            if i in (50, 100):
                urllib.request.urlopen(unload, timeout=30).read()
            info = pub.c.publish(local, m, 1)
            info.wait_for_publish(30.0)
            self.assertTrue(info.is_published(), "no PUBACK for %s after the unload\n%s" % (m, self.a.log_text()[-3000:]))
        got = set()
        deadline = time.monotonic() + 30
        while not set(sent) <= got and time.monotonic() < deadline:
            try:
                got.add(sub.get(1.0).payload.decode())
            except AssertionError:
                pass
        self.assertEqual(sorted(set(sent) - got), [], self.c.log_text()[-3000:])
        self.assertFalse(sub.disconnected.is_set() or pub.disconnected.is_set(), "a client was disconnected")


class OverMopStandalone(ProxyCases, unittest.TestCase):
    backend = MopBackend

    def connack_v5(self, proxy):
        """The CONNACK reason code (an int) a new MQTT 5 paho client gets from `proxy`."""
        got = queue.Queue()
        c = mqtt.Client(client_id="v5-" + uid(), protocol=mqtt.MQTTv5)
        c.on_connect = lambda client, userdata, flags, rc, props: got.put(rc.value)
        c.connect("127.0.0.1", proxy.port)
        c.loop_start()
        try:
            return got.get(timeout=WAIT)
        finally:
            c.disconnect()
            c.loop_stop()

    @staticmethod
    def collect_until(client, payload, timeout):
        """Waits for `payload` at `client`; returns what came before it other than redeliveries
        of b"before" (an AssertionError if it does not come within `timeout`)."""
        others = []
        deadline = time.monotonic() + timeout
        while True:
            m = client.get(max(0.1, deadline - time.monotonic()))
            if m.payload == payload:
                return others
            if m.payload != b"before":
                others.append(m.payload)

    def connack_311(self, proxy):
        """The CONNACK return code a new MQTT 3.1.1 paho client gets from `proxy`."""
        c = PahoClient(proxy.port, client_id="new-" + uid())
        try:
            return c.connect()[0]
        finally:
            self._close(c)

    def test_cluster_lost_after_start_refuses_new_clients_keeps_connected_ones(self):
        # A backend and a proxy of this case's own (killing the suite's backend would stall the
        # other cases' proxies while they reconnect). The backend is killed with SIGKILL and
        # started again on the same ports and data dir, as a supervisor would.
        be = MopBackend(deduplication=False).start()
        self.addCleanup(be.stop)
        proxy = Proxy(be.url).start()
        self.addCleanup(proxy.stop)
        # Without deduplication the start says what QoS 2 gives and how to turn it on.
        self.assertIn("QoS 2 is at least once across a proxy crash", proxy.log_text())
        self.assertIn("pulsar-admin namespaces set-deduplication %s --enable" % SYSTEM_NS, proxy.log_text())
        topic = "lost/" + uid()
        sub = self.client(proxy, "keep-sub-" + uid(), clean=False)
        sub.subscribe([(topic, 1)])
        pub = self.client(proxy, "keep-pub-" + uid())
        pub.publish(topic, "before", qos=1)
        self.assertEqual(sub.get(WAIT).payload, b"before")

        be.broker.kill9()
        # New clients are refused once the proxy has seen its connections to the cluster close
        # (at once on a local kill; the loop only bounds that).
        deadline = time.monotonic() + WAIT
        while self.connack_311(proxy) != 3:
            self.assertLess(time.monotonic(), deadline, "a new 3.1.1 client was still accepted\n" + proxy.log_text()[-3000:])
            time.sleep(0.2)
        self.assertEqual(self.connack_v5(proxy), 0x88)
        self.assertIn("refused, server unavailable: the Pulsar cluster at %s cannot be reached" % be.url, proxy.log_text())
        # Connected clients stay; a QoS 1 publish meanwhile is not acknowledged, since nothing
        # can store it, and is not lost either: the proxy's producer holds it.
        during = pub.c.publish(topic, "during", 1)
        during.wait_for_publish(1.0)
        self.assertFalse(during.is_published(), "PUBACK without a cluster to store the message")
        self.assertFalse(sub.disconnected.is_set() or pub.disconnected.is_set(), "a connected client was closed")

        be.broker.restart()
        # The proxy's producers and consumers reconnect with backoff (doubling from 100 ms): the
        # message waiting in the producer is stored and acknowledged, the subscriber gets it.
        during.wait_for_publish(30.0)
        self.assertTrue(during.is_published(), "the publish made while the cluster was lost was never acknowledged")
        # (QoS 1 is at least once: "before" may come again if its ack had not reached the killed
        # backend's disk.)
        self.assertEqual(self.collect_until(sub, b"during", 30.0), [])
        deadline = time.monotonic() + 30
        while self.connack_311(proxy) != 0:
            self.assertLess(time.monotonic(), deadline, "new clients still refused\n" + proxy.log_text()[-3000:])
            time.sleep(0.2)
        self.assertEqual(self.connack_v5(proxy), 0)
        self.client(proxy).publish(topic, "after", qos=1)
        self.assertEqual(self.collect_until(sub, b"after", WAIT), [])
        self.assertEqual([m for m in sub.drain(0.5) if m.payload != b"before"], [])
        self.assertFalse(sub.disconnected.is_set() or pub.disconnected.is_set(), "a connected client was closed")
        log = proxy.log_text()
        self.assertIn("new MQTT clients get CONNACK server unavailable until it is back", log)
        self.assertIn("is reachable again: new MQTT clients are accepted", log)

    def test_qos2_publisher_taken_over_from_a_live_proxy_goes_on_without_an_error(self):
        # The proxy a QoS 2 publisher left holds a producer named after the client on the topic
        # until it reads the takeover (then it closes it), and the broker admits one producer per
        # name: the new proxy's first QoS 2 publish waits for the name (ProducerBusy, tried again
        # every 500 ms) instead of failing, which would close a 3.1.1 connection. Over mop
        # standalone only: the broker rule is the same on Pulsar.
        topic = "takeover2/" + uid()
        cid = "q2-" + uid()
        sub = self.client(self.c)
        sub.subscribe([(topic, 2)])
        first = self.client(self.a, cid, clean=False)
        first.c.reconnect_delay_set(min_delay=60, max_delay=120)  # as in the takeover case above
        first.publish(topic, "via a", qos=2)
        time.sleep(0.5)  # the first connection announced (see the takeover case)
        second = self.client(self.b, cid, clean=False)
        self.assertTrue(first.disconnected.wait(WAIT), "the older connection on proxy A stayed open")
        second.publish(topic, "via b", qos=2, timeout=30)
        self.assertFalse(second.disconnected.is_set(), "the publisher's new connection was closed")
        self.assertEqual([sub.get(WAIT).payload, sub.get(WAIT).payload], [b"via a", b"via b"])
        self.assertEqual(sub.drain(1.0), [])

    def test_a_new_session_publishes_qos2_above_the_ids_an_earlier_session_left(self):
        # A new session's QoS 2 sequence ids start at its proxy's wall clock (microseconds); an
        # earlier session of the client id, on a proxy whose clock ran ahead, may have left the
        # broker holding higher ids for the producer `mqtt-qos2-{client id}` on the topic. The
        # broker would drop the new messages as duplicates while the proxy sends PUBREC. Here
        # the official Pulsar client stands in for that proxy: one message through the same
        # producer name with an id an hour ahead of this machine's clock.
        topic = "ahead-" + uid()
        cid = "ahead-" + uid()
        client = pulsar.Client(self.be.url)
        try:
            producer = client.create_producer("persistent://public/default/" + topic, producer_name="mqtt-qos2-" + cid)
            producer.send(b"earlier session", sequence_id=int(time.time() * 1e6) + 3600 * 10**6)
            producer.close()
        finally:
            client.close()
        sub = self.client(self.c)
        sub.subscribe([(topic, 2)])
        # A new session (none was ever stored for this id) that outlives its connection: its
        # QoS 2 messages go through the producer named after it, with sequence ids.
        pub = self.client(self.b, cid, clean=False)
        sent = [("new %d" % i).encode() for i in range(5)]
        for payload in sent:
            pub.publish(topic, payload, qos=2)
        self.assertEqual([sub.get(WAIT).payload for _ in sent], sent)
        self.assertEqual(sub.drain(1.0), [])


if __name__ == "__main__":
    unittest.main()
