"""Thin synchronous wrappers around the real peers the tests use: python3-paho-mqtt 1.6 (1.x API)
and the mosquitto_sub / mosquitto_pub command-line tools."""

import queue
import shutil
import subprocess
import threading
import time

import paho.mqtt.client as mqtt

WAIT = 5.0  # default seconds to wait for something that should happen


class Msg:
    def __init__(self, topic, payload, qos, retain, dup=False, mid=None):
        self.topic, self.payload, self.qos, self.retain, self.dup, self.mid = (
            topic, payload, qos, retain, dup, mid)

    def __repr__(self):
        return "Msg(%r, %r, qos=%d, retain=%d)" % (self.topic, self.payload[:40], self.qos,
                                                   self.retain)


class PahoClient:
    """A paho client with its network loop in a thread; connect/subscribe/publish block until
    the broker acknowledges. Received messages land in self.messages (a queue of Msg)."""

    def __init__(self, port, client_id="", clean_session=True, protocol=mqtt.MQTTv311,
                 keepalive=30, will=None, host="127.0.0.1"):
        self.port = port
        self.host = host
        self.client_id = client_id
        self.keepalive = keepalive
        self.messages = queue.Queue()
        self.cond = threading.Condition()
        self.connack = None  # (rc, session_present)
        self.disconnected = threading.Event()
        self.disconnect_rc = None  # paho's rc of the last disconnect (0: asked for by this client)
        self.subacks = {}
        self.c = mqtt.Client(client_id=client_id, clean_session=clean_session, protocol=protocol)
        self.c.max_inflight_messages_set(100)
        self.c.max_queued_messages_set(0)
        if will is not None:
            topic, payload, qos, retain = will
            self.c.will_set(topic, payload, qos, retain)
        self.c.on_connect = self._on_connect
        self.c.on_message = self._on_message
        self.c.on_subscribe = self._on_subscribe
        self.c.on_disconnect = self._on_disconnect

    def _on_connect(self, client, userdata, flags, rc):
        with self.cond:
            self.connack = (rc, flags.get("session present", 0))
            self.cond.notify_all()

    def _on_disconnect(self, client, userdata, rc):
        self.disconnect_rc = rc
        self.disconnected.set()

    def _on_message(self, client, userdata, m):
        self.messages.put(Msg(m.topic, bytes(m.payload), m.qos, bool(m.retain), bool(m.dup),
                              m.mid))

    def _on_subscribe(self, client, userdata, mid, granted):
        with self.cond:
            self.subacks[mid] = list(granted)
            self.cond.notify_all()

    def connect(self, timeout=WAIT):
        """Connect and return (return code, session present)."""
        self.disconnected.clear()
        with self.cond:
            self.connack = None
        self.c.connect(self.host, self.port, keepalive=self.keepalive)
        self.c.loop_start()
        with self.cond:
            if not self.cond.wait_for(lambda: self.connack is not None, timeout):
                raise AssertionError("client %r: no CONNACK within %ss" % (self.client_id, timeout))
            return self.connack

    def subscribe(self, filters, timeout=WAIT):
        """filters: a topic or a list of (topic, qos). Returns the granted QoS list."""
        if isinstance(filters, str):
            filters = [(filters, 1)]
        rc, mid = self.c.subscribe(filters)
        assert rc == mqtt.MQTT_ERR_SUCCESS, rc
        with self.cond:
            if not self.cond.wait_for(lambda: mid in self.subacks, timeout):
                raise AssertionError("client %r: no SUBACK within %ss" % (self.client_id, timeout))
            return self.subacks[mid]

    def unsubscribe(self, topic, timeout=WAIT):
        done = threading.Event()
        self.c.on_unsubscribe = lambda *a: done.set()
        self.c.unsubscribe(topic)
        assert done.wait(timeout), "no UNSUBACK"

    def publish(self, topic, payload, qos=0, retain=False, wait=True, timeout=WAIT):
        info = self.c.publish(topic, payload, qos, retain)
        if wait and qos > 0:
            info.wait_for_publish(timeout)
            assert info.is_published(), "publish of %r at QoS %d not acknowledged" % (topic, qos)
        return info

    def disconnect(self):
        """A normal DISCONNECT."""
        self.c.disconnect()
        self.disconnected.wait(WAIT)
        self.c.loop_stop()

    def drop(self):
        """Close the socket without DISCONNECT (network loss as the broker sees it)."""
        self.c.loop_stop()
        sock = self.c.socket()
        if sock is not None:
            sock.close()

    def get(self, timeout=WAIT):
        try:
            return self.messages.get(timeout=timeout)
        except queue.Empty:
            raise AssertionError("client %r: no message within %ss" % (self.client_id, timeout))

    def collect(self, n, timeout=WAIT):
        """n messages, waiting at most timeout in total."""
        out = []
        deadline = time.monotonic() + timeout
        while len(out) < n:
            left = deadline - time.monotonic()
            try:
                out.append(self.messages.get(timeout=max(0.0, left)))
            except queue.Empty:
                raise AssertionError("client %r: got %d of %d messages in %ss: %r"
                                     % (self.client_id, len(out), n, timeout, out[-5:]))
        return out

    def drain(self, wait):
        """Everything that arrives within `wait` seconds."""
        out = []
        deadline = time.monotonic() + wait
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return out
            try:
                out.append(self.messages.get(timeout=left))
            except queue.Empty:
                return out


MOSQ_SUB = shutil.which("mosquitto_sub") or "/usr/bin/mosquitto_sub"
MOSQ_PUB = shutil.which("mosquitto_pub") or "/usr/bin/mosquitto_pub"


class MosqSub:
    """mosquitto_sub in the background with -d (debug lines tell us when SUBACK arrived and the
    flags of every PUBLISH) and `-F '%q %r %t %p'` or -v output."""

    def __init__(self, port, topics, qos=1, count=None, wait_secs=20, extra=(), verbose=True):
        # stdbuf: mosquitto_sub block-buffers stdout on a pipe; we need each line as it comes.
        self.cmd = ["stdbuf", "-oL", MOSQ_SUB, "-h", "127.0.0.1", "-p", str(port), "-q", str(qos), "-d",
                    "-W", str(wait_secs)]
        if isinstance(topics, str):
            topics = [topics]
        for t in topics:
            self.cmd += ["-t", t]
        if count is not None:
            self.cmd += ["-C", str(count)]
        self.cmd += ["-v"] if verbose else ["-F", "%q %r %t %p"]
        self.cmd += list(extra)
        self.lines = []
        self.cond = threading.Condition()
        self.proc = subprocess.Popen(self.cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL)
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self):
        for raw in self.proc.stdout:
            with self.cond:
                self.lines.append(raw.decode("utf-8", "replace").rstrip("\n"))
                self.cond.notify_all()
        with self.cond:
            self.cond.notify_all()

    def wait_line(self, pred, timeout=WAIT):
        with self.cond:
            ok = self.cond.wait_for(lambda: any(pred(l) for l in self.lines)
                                    or self.proc.poll() is not None and not self.reader.is_alive(),
                                    timeout)
            if not ok or not any(pred(l) for l in self.lines):
                raise AssertionError("mosquitto_sub: expected line not seen in %ss; output:\n%s"
                                     % (timeout, "\n".join(self.lines)))

    def wait_subscribed(self, timeout=WAIT):
        self.wait_line(lambda l: "received SUBACK" in l, timeout)
        return self

    def publish_lines(self):
        """Debug lines 'Client ... received PUBLISH (d0, q1, r0, m1, 'topic', ...)'."""
        with self.cond:
            return [l for l in self.lines if "received PUBLISH" in l]

    def output_lines(self):
        """Message lines (everything that is not a debug line)."""
        with self.cond:
            return [l for l in self.lines
                    if not l.startswith("Client ") and not l.startswith("Subscribed (mid")]

    def finish(self, timeout=WAIT):
        """Wait for exit (after -C count or -W); returns the exit code."""
        try:
            rc = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise AssertionError("mosquitto_sub did not exit within %ss; output:\n%s"
                                 % (timeout, "\n".join(self.lines)))
        self.reader.join(2)
        self.proc.stdout.close()
        return rc

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self.reader.join(2)
        if not self.proc.stdout.closed:
            self.proc.stdout.close()


def mosq_pub(port, topic, message, qos=0, retain=False, extra=(), timeout=10):
    cmd = [MOSQ_PUB, "-h", "127.0.0.1", "-p", str(port), "-t", topic, "-q", str(qos)]
    if message is None:
        cmd += ["-n"]
    else:
        cmd += ["-m", message]
    if retain:
        cmd += ["-r"]
    cmd += list(extra)
    r = subprocess.run(cmd, capture_output=True, timeout=timeout)
    if r.returncode != 0:
        raise AssertionError("mosquitto_pub %s failed (%d): %s %s"
                             % (" ".join(cmd), r.returncode, r.stdout, r.stderr))
    return r
