"""Disk full, end to end: a real `mop standalone` whose dataDir is on a small tmpfs that fills up.

What is checked (issue 4), with python3-paho-mqtt as MQTT 5 clients:
  - publishing QoS 1 until the file system is full gets PUBACK 0x97 (quota exceeded) or another
    reason >= 0x80 for the message that did not fit: it is not acknowledged as stored;
  - the broker stays up: it still accepts connections, answers a ping, and serves QoS 0;
  - a topic first used while the disk is full works once space is back;
  - once space returns (a filler file is deleted), new QoS 1 publishes get PUBACK 0x00 and are
    delivered to a connected subscriber;
  - after a restart, a persistent subscriber gets every message acknowledged before and after the
    fault, in order, and none of the refused ones.

Needs root and a permitted `mount -t tmpfs`; otherwise the program prints why and exits 77, which
CTest reports as skipped (SKIP_RETURN_CODE). Run by hand:
    MOP_BIN=build/mop /usr/bin/python3 tests/integration/test_disk_full.py
"""

import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import unittest

import paho.mqtt.client as mqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

import harness

SKIP = 77  # CTest SKIP_RETURN_CODE
FS_MB = 24  # the tmpfs
FREE_MB = 6  # left free by the filler file before publishing
PAYLOAD = 64 * 1024
TOPIC = "diskfull/t"
LIVE = "non-persistent://public/default/diskfull-live"


def mount_tmpfs():
    """A fresh tmpfs of FS_MB MiB: (mount point, None), or (None, why not)."""
    if os.geteuid() != 0:
        return None, "not root (mounting a small tmpfs needs root)"
    if shutil.which("mount") is None:
        return None, "no mount command"
    point = tempfile.mkdtemp(prefix="mop-diskfull-")
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=%dm" % FS_MB, "tmpfs", point],
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    if r.returncode != 0:
        os.rmdir(point)
        return None, "mount -t tmpfs is not permitted here: %s" % r.stdout.decode(errors="replace").strip()
    return point, None


def unmount(point):
    subprocess.run(["umount", "-l", point], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        os.rmdir(point)
    except OSError:
        pass


def free_bytes(path):
    st = os.statvfs(path)
    return st.f_bavail * st.f_frsize


class V5Client:
    """paho MQTT 5 client with its loop in a thread. paho 1.6 parses the PUBACK's reason code but
    does not hand it to on_publish; `_handle_pubackcomp` is wrapped to keep it per packet id."""

    def __init__(self, port, client_id, clean_start=True, expiry=None):
        self.port = port
        self.c = mqtt.Client(client_id=client_id, protocol=mqtt.MQTTv5)
        self.c.max_inflight_messages_set(20)
        self.clean_start = clean_start
        self.expiry = expiry
        self.cond = threading.Condition()
        self.connack = None
        self.acks = {}  # mid -> PUBACK reason code
        self.subacks = {}
        self.messages = []
        self.c.on_connect = self._on_connect
        self.c.on_subscribe = self._on_subscribe
        self.c.on_message = self._on_message
        original = self.c._handle_pubackcomp

        def handle(cmd):
            packet = self.c._in_packet["packet"]
            if cmd == "PUBACK" and len(packet) >= 2:
                mid = int.from_bytes(packet[:2], "big")
                reason = packet[2] if len(packet) > 2 else 0
                with self.cond:
                    self.acks[mid] = reason
                    self.cond.notify_all()
            return original(cmd)

        self.c._handle_pubackcomp = handle

    def _on_connect(self, client, userdata, flags, rc, properties=None):
        with self.cond:
            self.connack = (rc.value if hasattr(rc, "value") else rc, flags.get("session present", 0))
            self.cond.notify_all()

    def _on_subscribe(self, client, userdata, mid, granted, properties=None):
        with self.cond:
            self.subacks[mid] = [g.value if hasattr(g, "value") else g for g in granted]
            self.cond.notify_all()

    def _on_message(self, client, userdata, m):
        with self.cond:
            self.messages.append(bytes(m.payload))
            self.cond.notify_all()

    def connect(self, timeout=5):
        props = None
        if self.expiry is not None:
            props = Properties(PacketTypes.CONNECT)
            props.SessionExpiryInterval = self.expiry
        self.c.connect("127.0.0.1", self.port, keepalive=30, clean_start=self.clean_start, properties=props)
        self.c.loop_start()
        with self.cond:
            assert self.cond.wait_for(lambda: self.connack is not None, timeout), "no CONNACK"
            return self.connack

    def subscribe(self, topic, qos=1, timeout=5):
        rc, mid = self.c.subscribe(topic, qos)
        assert rc == mqtt.MQTT_ERR_SUCCESS
        with self.cond:
            assert self.cond.wait_for(lambda: mid in self.subacks, timeout), "no SUBACK"
            return self.subacks[mid]

    def publish(self, topic, payload, qos=1, timeout=5):
        """QoS 1: the PUBACK reason code (None if none came within timeout)."""
        info = self.c.publish(topic, payload, qos)
        if qos == 0:
            return None
        with self.cond:
            self.cond.wait_for(lambda: info.mid in self.acks, timeout)
            return self.acks.pop(info.mid, None)

    def wait_messages(self, pred, timeout):
        with self.cond:
            return self.cond.wait_for(lambda: pred(self.messages), timeout)

    def close(self):
        try:
            self.c.disconnect()
        finally:
            self.c.loop_stop()


def payload(tag, seq):
    head = b"%s:%d:" % (tag, seq)
    return head + os.urandom(PAYLOAD - len(head))  # incompressible, as RocksDB compresses tables


def seqs(messages, tag):
    out = []
    for m in messages:
        parts = m.split(b":", 2)
        if len(parts) == 3 and parts[0] == tag:
            out.append(int(parts[1]))
    return out


class DiskFull(unittest.TestCase):
    mount_point = None

    def test_full_disk_refuses_then_recovers(self):
        point = self.mount_point
        data_dir = os.path.join(point, "data")
        filler = os.path.join(point, "filler")
        broker = harness.Broker(mop_args=lambda port, _dir: [
            "--mqttListeners=mqtt://127.0.0.1:%d" % port, "--dataDir=%s" % data_dir,
            "--logLevel=info", "--brokerServicePort=0"])
        clients = []
        try:
            broker.start()
            # A persistent subscriber, then away: what follows becomes its stored backlog.
            sub = V5Client(broker.port, "df-sub", clean_start=False, expiry=3600)
            self.assertEqual(sub.connect()[0], 0)
            self.assertEqual(sub.subscribe(TOPIC, 1), [1])
            sub.close()

            # Leave FREE_MB free, then publish until the store refuses.
            with open(filler, "wb") as f:
                left = free_bytes(point) - FREE_MB * 1024 * 1024
                chunk = b"\0" * (1 << 20)
                while left > 0:
                    f.write(chunk[:min(len(chunk), left)])
                    left -= len(chunk)
                f.flush()
                os.fsync(f.fileno())
            pub = V5Client(broker.port, "df-pub")
            clients.append(pub)
            self.assertEqual(pub.connect()[0], 0)
            # Until three publishes in a row are refused: space the store frees by itself (a
            # failed write's preallocated WAL tail, released when the store reopens) may let the
            # odd message in between; each one acknowledged counts as stored.
            acked, refused = [], []
            deadline = time.monotonic() + 8
            seq = 0
            streak = 0
            while time.monotonic() < deadline and streak < 3:
                reason = pub.publish(TOPIC, payload(b"before", seq))
                self.assertIsNotNone(reason, "message %d: no PUBACK at all (the broker must answer)" % seq)
                if reason == 0:
                    acked.append(seq)
                    streak = 0
                else:
                    self.assertIn(reason, (0x97, 0x80), "message %d: PUBACK reason 0x%02x" % (seq, reason))
                    refused.append((seq, reason))
                    streak += 1
                seq += 1
            self.assertEqual(streak, 3, "the %d MiB tmpfs never filled up: %d messages of %d KiB acknowledged, "
                             "refused: %r" % (FS_MB, len(acked), PAYLOAD // 1024, refused))
            print("\n%d messages acknowledged, refused (seq, reason): %r; %d KiB free"
                  % (len(acked), refused, free_bytes(point) // 1024), file=sys.stderr)
            self.assertTrue(acked, "nothing was acknowledged before the disk filled")
            self.assertTrue(pub.c.is_connected(), "the publisher was disconnected")

            # The broker is alive: a new client connects, subscribes and gets messages of a
            # non-persistent topic (a persistent topic's messages, QoS 0 too, are delivered only
            # once stored, as in Pulsar).
            self.assertTrue(broker.alive(), "mop exited on a full disk\n%s" % broker.log_text(tail=50))
            probe = V5Client(broker.port, "df-probe")
            clients.append(probe)
            self.assertEqual(probe.connect()[0], 0)
            self.assertEqual(probe.subscribe(LIVE, 1), [1])
            self.assertEqual(probe.publish(LIVE, b"ping", qos=1), 0)
            self.assertTrue(probe.wait_messages(lambda ms: b"ping" in ms, 5),
                            "a non-persistent topic's message was not delivered on a full disk")
            # A topic first used while the disk is full (its topic record is small: it may fit).
            self.assertIsNotNone(pub.publish("diskfull/new", payload(b"new", 0)), "no PUBACK on a new topic")

            # Space returns.
            os.unlink(filler)
            self.assertEqual(probe.subscribe(TOPIC, 1), [1])
            self.assertEqual(probe.subscribe("diskfull/new", 1), [1])
            after = []
            deadline = time.monotonic() + 5
            for i in range(5):
                reason = pub.publish(TOPIC, payload(b"after", i))
                self.assertEqual(reason, 0, "after space returned, message %d got PUBACK %r\n%s"
                                 % (i, reason, broker.log_text(tail=40)))
                after.append(i)
            self.assertEqual(pub.publish("diskfull/new", b"n1"), 0,
                             "the topic first used on the full disk still refuses\n%s" % broker.log_text(tail=40))
            self.assertTrue(probe.wait_messages(lambda ms: b"n1" in ms, 5), "the new topic's message not delivered")
            self.assertTrue(probe.wait_messages(lambda ms: seqs(ms, b"after") == after, 5),
                            "after recovery the live subscriber got %r" % seqs(probe.messages, b"after"))
            for c in clients:
                c.close()
            clients.clear()

            # Restart on the same dataDir: the persistent subscriber gets every acknowledged
            # message, in order, and none of the refused ones.
            broker.stop()
            broker.start()
            sub = V5Client(broker.port, "df-sub", clean_start=False, expiry=3600)
            clients.append(sub)
            rc, present = sub.connect()
            self.assertEqual((rc, present), (0, 1))
            want = len(acked) + len(after)
            ok = sub.wait_messages(lambda ms: len(ms) >= want, 10)
            got_before, got_after = seqs(sub.messages, b"before"), seqs(sub.messages, b"after")
            self.assertTrue(ok, "after the restart %d of %d messages arrived" % (len(sub.messages), want))
            self.assertEqual(got_before, acked, "messages acknowledged before the disk filled")
            self.assertEqual(got_after, after, "messages acknowledged after space returned")
            for s, _ in refused:
                self.assertNotIn(s, got_before, "refused message %d was delivered" % s)
            sub.close()
            clients.clear()
            broker.stop()
        except BaseException:
            sys.stderr.write("\n---- broker log ----\n%s\n---- end ----\n" % broker.log_text(tail=120))
            raise
        finally:
            for c in clients:
                try:
                    c.close()
                except Exception:
                    pass
            broker.cleanup()


def main():
    if not harness.is_mop():
        print("SKIP: the disk-full test runs mop only")
        return SKIP
    point, why = mount_tmpfs()
    if point is None:
        print("SKIP: %s" % why)
        return SKIP
    try:
        DiskFull.mount_point = point
        result = unittest.main(argv=[sys.argv[0], "-v"], exit=False).result
        return 0 if result.wasSuccessful() else 1
    finally:
        unmount(point)


if __name__ == "__main__":
    sys.exit(main())
