"""Crash tests: a real `mop standalone` on a temp dataDir is killed with SIGKILL and started again
on the same dataDir and port; real clients (python3-paho-mqtt 1.6) reconnect on their own.

CrashLoad: one publisher thread per QoS (1 and 2, persistent sessions) publishes numbered
messages while the broker is killed at random moments (seeded: MOP_CRASH_SEED, printed), for
MOP_CRASH_ROUNDS rounds (default 5). A persistent-session subscriber must end up with every
message whose PUBACK / PUBCOMP its publisher saw, in order per publisher (the first copy of each
message arrives in publish order); QoS 1 may repeat messages (MQTT allows redelivery), QoS 2 never.

The other tests: a retained message, a persistent session's subscription with its backlog, an
MQTT 5 session expiry and a will, each across a kill -9; a topic deletion through the admin API
killed mid-way (the whole topic or nothing of it, `mop store check` sound). mop only.
"""

import http.client
import json
import os
import queue
import random
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import unittest

import paho.mqtt.client as mqtt
from paho.mqtt.properties import Properties
from paho.mqtt.packettypes import PacketTypes

import harness
from clients import PahoClient

ROUNDS = int(os.environ.get("MOP_CRASH_ROUNDS", "5"))


def mop_args(port, data_dir):
    # info, not debug: the load would make the log large; a free Pulsar port, not 6650.
    return ["--mqttListeners=mqtt://127.0.0.1:%d" % port, "--dataDir=%s" % data_dir, "--logLevel=%s" % os.environ.get("MOP_CRASH_LOGLEVEL", "info"),
            "--brokerServicePort=0"]


def leave_offline_session(port, client_id, topic):
    """A persistent session (clean session 0) subscribed to `topic` at QoS 1, then disconnected:
    what it misses from now on is kept for it."""
    s = PahoClient(port, client_id, clean_session=False)
    s.connect()
    s.subscribe([(topic, 1)])
    s.disconnect()


def reconnecting(client):
    """A PahoClient whose network thread reconnects quickly after the broker comes back."""
    client.c.reconnect_delay_set(min_delay=0.1, max_delay=0.5)
    return client


def published(info):
    """Whether paho saw the PUBACK / PUBCOMP of this message. paho 1.6's is_published() raises
    for a message queued while disconnected (rc NO_CONN) even after paho sent it on reconnecting
    and got it acknowledged; the flag it sets on the acknowledgement is the answer."""
    with info._condition:
        return info._published


def keep_pubrel_across_reconnect_attempts(client):
    """Works around a paho 1.6.1 bug. reconnect() resets the in-flight state before it even
    opens the socket: a QoS 2 message waiting for PUBCOMP becomes "resend PUBREL". When that
    attempt fails (the broker is still down) the next one resets it again, and "resend PUBREL" is
    not a state the reset knows, so the message becomes a new PUBLISH with DUP 0, sent although
    its PUBREL was, which [MQTT-4.3.3-...] forbids ("MUST NOT re-send the PUBLISH once it has sent
    the corresponding PUBREL"): the broker, having released the packet id, rightly takes it for a
    new message. Here "resend PUBREL" survives every reset."""
    original = client._messages_reconnect_reset_out

    def reset_out():
        with client._out_message_mutex:
            for m in client._out_messages.values():
                if m.qos == 2 and m.state == mqtt.mqtt_ms_resend_pubrel:
                    m.state = mqtt.mqtt_ms_wait_for_pubcomp
        original()

    client._messages_reconnect_reset_out = reset_out


class Publisher(threading.Thread):
    """Publishes "<qos>:<seq>" on crash/q<qos> from a persistent session, at most `inflight`
    unacknowledged at a time, until stopped. paho keeps what is in flight across reconnects and
    resends it (DUP) on the restored session."""

    def __init__(self, port, qos, rate=150, inflight=10):
        super().__init__(daemon=True)
        self.qos = qos
        self.rate = rate
        self.inflight = inflight
        self.topic = "crash/q%d" % qos
        self.client = reconnecting(PahoClient(port, "crash-pub-q%d" % qos, clean_session=False))
        self.client.c.max_inflight_messages_set(inflight)
        keep_pubrel_across_reconnect_attempts(self.client.c)
        self.sent = []  # (seq, MessageInfo)
        self.stop = threading.Event()

    def run(self):
        seq = 0
        while not self.stop.is_set():
            # Keep a bounded queue: paho queues without limit while the broker is down.
            if (not self.client.c.is_connected()
                    or sum(1 for _, i in self.sent[-4 * self.inflight:] if not published(i)) >= 2 * self.inflight):
                time.sleep(0.01)
                continue
            info = self.client.c.publish(self.topic, b"%d:%d" % (self.qos, seq), self.qos)
            self.sent.append((seq, info))
            seq += 1
            time.sleep(1.0 / self.rate)

    def acked(self):
        return [seq for seq, info in self.sent if published(info)]

    def all_acked(self):
        return all(published(info) for _, info in self.sent)


@unittest.skipUnless(harness.is_mop(), "kill -9 of mop and restart on its dataDir")
class CrashLoad(unittest.TestCase):
    def test_acknowledged_messages_survive_kill9_in_order(self):
        seed = int(os.environ.get("MOP_CRASH_SEED") or random.SystemRandom().randrange(1 << 31))
        print("\nMOP_CRASH_SEED=%d MOP_CRASH_ROUNDS=%d" % (seed, ROUNDS), file=sys.stderr, flush=True)
        rnd = random.Random(seed)
        with harness.Broker(mop_args=mop_args) as broker:
            sub = reconnecting(PahoClient(broker.port, "crash-sub", clean_session=False))
            sub.connect()
            self.assertEqual(sub.subscribe([("crash/#", 2)]), [2])
            pubs = [Publisher(broker.port, 1), Publisher(broker.port, 2)]
            for p in pubs:
                p.client.connect()
                p.start()
            received = {1: [], 2: []}
            trace = []  # (qos, seq, packet id, dup) as received, and ("restart", round): for failures

            def drain():
                while True:
                    try:
                        m = sub.messages.get_nowait()
                    except queue.Empty:
                        return
                    qos, seq = (int(x) for x in m.payload.split(b":"))
                    self.assertEqual(m.topic, "crash/q%d" % qos)
                    received[qos].append(seq)
                    trace.append((qos, seq, m.mid, m.dup))

            for r in range(ROUNDS):
                time.sleep(rnd.uniform(0.3, 2.0))
                counts = [len(p.acked()) for p in pubs]
                broker.restart()
                print("round %d: killed with %s acknowledged (QoS 1, QoS 2), restarted" % (r + 1, counts),
                      file=sys.stderr, flush=True)
                trace.append(("restart", r + 1))
                drain()
            time.sleep(rnd.uniform(0.3, 1.0))
            for p in pubs:
                p.stop.set()
                p.join(5)
            for p in pubs:
                self.assertTrue(harness.wait_until(p.all_acked, 30),
                                "QoS %d: %d of %d messages never acknowledged after the last restart"
                                % (p.qos, sum(1 for _, i in p.sent if not published(i)), len(p.sent)))
            acked = {p.qos: p.acked() for p in pubs}

            def complete():
                drain()
                return all(set(acked[q]) <= set(received[q]) for q in (1, 2))

            harness.wait_until(complete, 30)
            drain()
            for p in pubs:
                p.client.disconnect()
            sub.disconnect()

        try:
            self.check(received, acked, seed)
        except AssertionError:
            repeated = {s for s in received[2] if received[2].count(s) > 1}
            print("QoS 2 repeats as received (qos, seq, packet id, dup), with the restarts: %s"
                  % [t for t in trace if t[0] == "restart" or (t[0] == 2 and t[1] in repeated)], file=sys.stderr)
            # The whole log across every restart (the harness prints only its tail).
            path = os.path.join(tempfile.gettempdir(), "mop-crash-%d.log" % seed)
            with open(path, "w") as f:
                f.write(broker.log_text())
            print("broker log of every round: %s" % path, file=sys.stderr, flush=True)
            raise

    def check(self, received, acked, seed):
        for q in (1, 2):
            got, want = received[q], acked[q]
            self.assertTrue(want, "QoS %d: nothing was acknowledged" % q)
            missing = sorted(set(want) - set(got))
            self.assertEqual(missing, [], "QoS %d: acknowledged messages lost (seed %d)" % (q, seed))
            first = []
            seen = set()
            for s in got:
                if s not in seen:
                    seen.add(s)
                    first.append(s)
            self.assertEqual(first, sorted(first), "QoS %d: out of order (seed %d)" % (q, seed))
            if q == 2:
                dups = sorted(s for s in seen if got.count(s) > 1)
                self.assertEqual(dups, [], "QoS 2 messages delivered twice (seed %d)" % seed)
            print("QoS %d: %d acknowledged, %d received (%d repeats)" % (q, len(want), len(got), len(got) - len(seen)),
                  file=sys.stderr, flush=True)


@unittest.skipUnless(harness.is_mop(), "kill -9 of mop and restart on its dataDir")
class Kill9(unittest.TestCase):
    def test_retained_message_survives(self):
        with harness.Broker(mop_args=mop_args) as broker:
            p = PahoClient(broker.port, "ret-pub")
            p.connect()
            p.publish("crash/retained", b"kept", qos=1, retain=True)
            p.drop()
            broker.restart()
            s = PahoClient(broker.port, "ret-sub")
            s.connect()
            s.subscribe([("crash/retained", 1)])
            m = s.get()  # raises when the retained message was lost
            self.assertEqual((m.payload, m.retain, m.qos), (b"kept", True, 1))
            s.disconnect()

    def test_large_acknowledged_messages_survive_kill9(self):
        """64 KiB QoS 1 messages into an offline persistent session's backlog, more than RocksDB's
        64 MiB memtable holds (so some are in blob files, the rest only in the write-ahead log),
        kill -9 while publishing: every PUBACKed message comes back byte for byte after the
        restart, and `mop store check` finds the store sound. The entry log (on by default) is
        off here, so the entries go through RocksDB."""
        self.large_messages_survive_kill9(
            ["--storeEntryLogMinSizeBytes=0"], lambda d: any(f.endswith(".blob") for f in os.listdir(d)),
            "no blob file: the test did not store large entries in blob files")

    def test_large_acknowledged_messages_survive_kill9_with_the_entry_log(self):
        """The same with the entry log (storeEntryLogMinSizeBytes, the default): the payloads are
        written with direct I/O before the RocksDB batch that refers to them, so a kill -9 between
        the two leaves only bytes nothing refers to, and every PUBACKed message comes back."""
        self.large_messages_survive_kill9(
            [],
            lambda d: any(f.endswith(".elog") for f in os.listdir(os.path.join(d, "entrylog"))),
            "no entry log file: the test did not store large entries in the entry log")

    def large_messages_survive_kill9(self, extra, stored_as_expected, why_not):
        size = 64 * 1024

        def payload(seq):
            return seq.to_bytes(8, "big") + random.Random(seq).randbytes(size - 8)

        with harness.Broker(mop_args=lambda port, data_dir: mop_args(port, data_dir) + extra) as broker:
            leave_offline_session(broker.port, "large-sub", "crash/large")
            p = PahoClient(broker.port, "large-pub")
            p.c.max_inflight_messages_set(20)
            p.connect()
            sent = []
            in_order = 0  # sent[:in_order] are acknowledged
            while True:
                while in_order < len(sent) and published(sent[in_order]):
                    in_order += 1
                if in_order >= 1300:  # 85 MB acknowledged
                    break
                if len(sent) - in_order >= 40:
                    time.sleep(0.005)
                    continue
                sent.append(p.c.publish("crash/large", payload(len(sent)), 1))
            broker.restart()  # kill -9 with up to 40 messages unacknowledged
            acked = [seq for seq, i in enumerate(sent) if published(i)]
            p.drop()
            self.assertTrue(stored_as_expected(broker.data_dir), why_not)
            s = PahoClient(broker.port, "large-sub", clean_session=False)
            self.assertEqual(s.connect(), (0, 1))
            got = {}
            while not set(acked) <= set(got):
                m = s.get(timeout=30)  # raises when an acknowledged message never comes
                seq = int.from_bytes(m.payload[:8], "big")
                got[seq] = m.payload
            for seq in acked:
                self.assertEqual(got[seq], payload(seq), "message %d came back damaged" % seq)
            s.disconnect()
            broker.stop()
            check = subprocess.run([os.environ["MOP_BIN"], "store", "check", "--data-dir", broker.data_dir],
                                   capture_output=True, text=True, timeout=120)
            self.assertEqual(check.returncode, 0, check.stdout + check.stderr)

    def test_damaged_or_missing_entry_log_loses_only_its_entries(self):
        """Storage damaged while mop was down, as a disk or an operator can: one byte of one
        stored 64 KiB message altered in the entry log, then the whole entry log deleted. mop
        starts each time and stays up; the damaged message is the only one an offline persistent
        session misses (a read-ahead holding it used to lose every sound message before it), each
        loss is logged naming the file, a missing file is said once at open, and new messages are
        stored and delivered."""
        size = 64 * 1024

        def payload(seq):
            return seq.to_bytes(8, "big") + random.Random(seq).randbytes(size - 8)

        with harness.Broker(mop_args=mop_args) as broker:
            leave_offline_session(broker.port, "elog-sub", "crash/elog")
            p = PahoClient(broker.port, "elog-pub")
            p.connect()
            for seq in range(20):
                p.publish("crash/elog", payload(seq), 1)
            p.disconnect()
            broker.stop()
            elog_dir = os.path.join(broker.data_dir, "entrylog")
            files = sorted(os.listdir(elog_dir))
            self.assertTrue(files, "the messages did not go to the entry log")
            # Entry 5's bytes: found by its payload, a byte flipped in the middle of it.
            damaged = False
            for name in files:
                path = os.path.join(elog_dir, name)
                with open(path, "r+b") as f:
                    data = f.read()
                    at = data.find(payload(5)[:64])
                    if at >= 0:
                        f.seek(at + size // 2)
                        f.write(bytes([data[at + size // 2] ^ 0x01]))
                        damaged = True
            self.assertTrue(damaged, "message 5 not found in the entry log")

            broker.restart()
            s = PahoClient(broker.port, "elog-sub", clean_session=False)
            self.assertEqual(s.connect(), (0, 1))
            got = {}
            while len(got) < 19:
                m = s.get(timeout=30)  # raises when a sound message never comes
                seq = int.from_bytes(m.payload[:8], "big")
                self.assertEqual(m.payload, payload(seq), "message %d came back damaged" % seq)
                got[seq] = True
            self.assertEqual(sorted(got), [q for q in range(20) if q != 5])
            s.disconnect()
            self.assertIn("checksum mismatch in entry log file", broker.log_text())

            # Everything in the entry log gone: said at open, mop serves new messages.
            p = PahoClient(broker.port, "elog-pub")
            p.connect()
            p.publish("crash/elog", payload(20), 1)
            p.disconnect()
            broker.stop()
            shutil.rmtree(elog_dir)
            broker.restart()
            self.assertIn("is missing: entries of 1 topic(s) stored in it cannot be read", broker.log_text())
            s = PahoClient(broker.port, "elog-sub", clean_session=False)
            self.assertEqual(s.connect(), (0, 1))
            p = PahoClient(broker.port, "elog-pub")
            p.connect()
            p.publish("crash/elog", payload(21), 1)
            p.disconnect()
            m = s.get(timeout=30)
            self.assertEqual(m.payload, payload(21))
            s.disconnect()
            self.assertTrue(broker.alive())

    def test_persistent_subscription_collects_across_restarts(self):
        with harness.Broker(mop_args=mop_args) as broker:
            leave_offline_session(broker.port, "offline-sub", "crash/offline")
            p = PahoClient(broker.port, "offline-pub")
            p.connect()
            p.publish("crash/offline", b"before", qos=1)
            p.drop()
            broker.restart()
            p = PahoClient(broker.port, "offline-pub")
            p.connect()
            p.publish("crash/offline", b"after", qos=1)
            p.drop()
            broker.restart()
            s = PahoClient(broker.port, "offline-sub", clean_session=False)
            self.assertEqual(s.connect(), (0, 1))  # session present
            got = [s.get(), s.get()]
            self.assertEqual([m.payload for m in got], [b"before", b"after"])
            s.disconnect()

    def test_a_session_acknowledged_by_connack_survives_kill9_at_once(self):
        # The CONNACK of a session that outlives its connection waits for the session's record,
        # so a kill -9 right after it cannot lose the session; a SUBACK waits likewise.
        with harness.Broker(mop_args=mop_args) as broker:
            for attempt in range(3):
                client_id = "fresh-%d" % attempt
                s = PahoClient(broker.port, client_id, clean_session=False)
                self.assertEqual(s.connect(), (0, 0))
                broker.restart()
                s.drop()
                s = PahoClient(broker.port, client_id, clean_session=False)
                self.assertEqual(s.connect(), (0, 1), "session lost by a kill -9 right after its CONNACK")
                s.disconnect()
            # The same for a SUBACK: the filter it granted is in the record before it is sent.
            s = PahoClient(broker.port, "fresh-0", clean_session=False)
            s.connect()
            s.subscribe([("crash/fresh", 1)])
            broker.restart()
            s.drop()
            p = PahoClient(broker.port, "fresh-pub")
            p.connect()
            p.publish("crash/fresh", b"kept", qos=1)
            p.disconnect()
            s = PahoClient(broker.port, "fresh-0", clean_session=False)
            self.assertEqual(s.connect(), (0, 1))
            self.assertEqual(s.get().payload, b"kept", "subscription lost by a kill -9 right after its SUBACK")
            s.disconnect()

    def test_session_expiry_counts_across_a_restart(self):
        def connect5(port, client_id, expiry):
            c = mqtt.Client(client_id=client_id, protocol=mqtt.MQTTv5)
            props = Properties(PacketTypes.CONNECT)
            props.SessionExpiryInterval = expiry
            result = {}
            done = threading.Event()

            def on_connect(client, userdata, flags, rc, properties=None):
                result["present"] = flags.get("session present", 0)
                done.set()

            c.on_connect = on_connect
            c.connect("127.0.0.1", port, clean_start=False, properties=props)
            c.loop_start()
            self.assertTrue(done.wait(5), "no CONNACK")
            return c, result["present"]

        with harness.Broker(mop_args=mop_args) as broker:
            # 30 s first: the session must outlive the restart however long a loaded machine takes
            # to start mop again (with 4 s, a slow restart expired it: a test of the machine).
            c, present = connect5(broker.port, "exp", 30)
            self.assertEqual(present, 0)
            c.disconnect()
            c.loop_stop()
            # DISCONNECT has no answer: the record with the disconnect time is written once mop
            # has handled it, so the kill comes after that (the expiry counts from it).
            disconnects = lambda: broker.log_text().count("client disconnected: id=exp ")
            self.assertTrue(harness.wait_until(lambda: disconnects() >= 1, 5))
            time.sleep(0.3)
            broker.restart()
            time.sleep(1.0)
            c, present = connect5(broker.port, "exp", 4)  # well within its 30 s: still there
            self.assertEqual(present, 1)
            c.disconnect()
            c.loop_stop()
            self.assertTrue(harness.wait_until(lambda: disconnects() >= 2, 5))
            time.sleep(0.3)  # the record with its disconnect time is synced before the kill
            broker.restart()
            time.sleep(4.5)  # the session's 4 s run out while the broker runs again
            c, present = connect5(broker.port, "exp", 4)
            self.assertEqual(present, 0, "session outlived its expiry interval across a restart")
            c.disconnect()
            c.loop_stop()

    def test_will_of_a_client_connected_at_the_crash_is_published(self):
        with harness.Broker(mop_args=mop_args) as broker:
            leave_offline_session(broker.port, "will-sub", "crash/will")
            w = PahoClient(broker.port, "will-client", will=("crash/will", b"broker died", 1, False))
            w.connect()
            broker.restart()  # at once: the will was durable before the CONNACK
            w.drop()
            s = PahoClient(broker.port, "will-sub", clean_session=False)
            self.assertEqual(s.connect(), (0, 1))
            m = s.get()  # raises when the will was not published after the restart
            self.assertEqual(m.payload, b"broker died")
            s.disconnect()


if __name__ == "__main__":
    unittest.main()


@unittest.skipUnless(harness.is_mop(), "kill -9 of mop during a topic deletion")
class TopicDeletionCrash(unittest.TestCase):
    """The admin API's topic deletion is one atomic store write: mop killed with SIGKILL while a
    DELETE is on its way or being written comes back with the whole topic (every message still
    in the subscription's backlog) or with nothing of it, and `mop store check` finds the store
    sound either way."""

    MESSAGES = 200

    def test_kill9_during_a_topic_deletion_keeps_all_or_nothing(self):
        seed = int(os.environ.get("MOP_CRASH_SEED", str(random.randrange(1 << 30))))
        print("MOP_CRASH_SEED=%d" % seed, file=sys.stderr)
        rng = random.Random(seed)
        broker = harness.Broker(mop_args=mop_args).start()
        self.addCleanup(broker.cleanup)
        self.addCleanup(broker.kill9)

        def request(method, path, body=None):
            conn = http.client.HTTPConnection("127.0.0.1", broker.web_port, timeout=10)
            try:
                conn.request(method, path, body=body, headers={"Content-Type": "application/json"})
                res = conn.getresponse()
                return res.status, res.read().decode()
            finally:
                conn.close()

        outcomes = []
        for r in range(3):
            local = "crash-del-%d" % r
            path = "/admin/v2/persistent/public/default/" + local
            self.assertEqual(request("PUT", path + "/subscription/audit", '{"ledgerId": -1, "entryId": -1}')[0],
                             204)
            pub = PahoClient(broker.port, "crash-del-pub-%d" % r)
            pub.connect()
            for i in range(self.MESSAGES):
                pub.publish(local, b"m%d" % i, qos=1)
            pub.disconnect()
            # The DELETE goes out on a socket of its own; the kill follows within a few ms, before,
            # during or after its write.
            sock = http.client.HTTPConnection("127.0.0.1", broker.web_port, timeout=10)
            sock.request("DELETE", path + "?force=true")
            time.sleep(rng.uniform(0, 0.01))
            broker.restart()
            sock.close()
            check = subprocess.run([os.environ["MOP_BIN"], "store", "check", "--data-dir", broker.data_dir],
                                   capture_output=True, timeout=60)
            self.assertEqual(check.returncode, 0, (check.stdout + check.stderr).decode())
            status, body = request("GET", path + "/stats")
            if status == 404:
                outcomes.append("deleted")
            else:
                self.assertEqual(status, 200, body)
                backlog = json.loads(body)["subscriptions"]["audit"]["msgBacklog"]
                self.assertEqual(backlog, self.MESSAGES, "a topic half deleted: %s" % body)
                outcomes.append("kept")
                self.assertEqual(request("DELETE", path)[0], 204)  # nobody is connected now
            self.assertEqual(request("GET", path + "/stats")[0], 404)
        print("topic deletion under kill -9: %s" % ", ".join(outcomes), file=sys.stderr)
