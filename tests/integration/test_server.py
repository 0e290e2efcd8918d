"""Process-level tests of `mop standalone` (mop only): listeners, the start-up line, configuration
files, logging and signals. The MQTT behaviour itself is in test_mqtt311.py."""

import json
import os
import signal
import socket
import struct
import subprocess
import tempfile
import time
import unittest

import harness

MOP = os.path.abspath(os.environ["MOP_BIN"]) if os.environ.get("MOP_BIN") else None


def ipv6_loopback_available():
    try:
        s = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
        s.bind(("::1", 0))
        s.close()
        return True
    except OSError:
        return False


# Just enough of the Pulsar binary protocol (protobuf by hand) to ask where a topic lives.
def _varint(n):
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        out.append(b | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _field(number, value):
    if isinstance(value, int):
        return _varint(number << 3) + _varint(value)
    data = value.encode() if isinstance(value, str) else value
    return _varint(number << 3 | 2) + _varint(len(data)) + data


def _fields(data):
    """{field number: [values]} of one protobuf message (varints as int, the rest as bytes)."""
    out, i = {}, 0
    def varint():
        nonlocal i
        n = shift = 0
        while True:
            b = data[i]
            i += 1
            n |= (b & 0x7F) << shift
            shift += 7
            if not b & 0x80:
                return n
    while i < len(data):
        key = varint()
        wire = key & 7
        if wire == 0:
            value = varint()
        elif wire == 2:
            n = varint()
            value, i = data[i:i + n], i + n
        elif wire == 1:
            value, i = data[i:i + 8], i + 8
        elif wire == 5:
            value, i = data[i:i + 4], i + 4
        else:
            raise ValueError("protobuf wire type %d" % wire)
        out.setdefault(key >> 3, []).append(value)
    return out


def _frame(command):
    return struct.pack(">II", len(command) + 4, len(command)) + command


def pulsar_lookup(port, topic, host="127.0.0.1"):
    """CONNECT then LOOKUP on a bare connection: the brokerServiceUrl mop answers for `topic`."""
    CONNECT, CONNECTED, LOOKUP, LOOKUP_RESPONSE = 2, 3, 23, 24
    with socket.create_connection((host, port), timeout=5) as s:
        s.sendall(_frame(_field(1, CONNECT) + _field(2, _field(1, "mop-test") + _field(4, 17))))
        s.sendall(_frame(_field(1, LOOKUP) + _field(23, _field(1, topic) + _field(2, 1))))
        buf = b""
        while True:
            while len(buf) < 4 or len(buf) < 4 + struct.unpack(">I", buf[:4])[0]:
                chunk = s.recv(65536)
                if not chunk:
                    raise AssertionError("connection closed before LOOKUP_RESPONSE")
                buf += chunk
            total, size = struct.unpack(">II", buf[:8])
            command = _fields(buf[8:8 + size])
            buf = buf[4 + total:]
            if command[1][0] == LOOKUP_RESPONSE:
                response = _fields(command[24][0])
                return response[1][0].decode()
            if command[1][0] != CONNECTED:
                raise AssertionError("unexpected Pulsar command %d" % command[1][0])


def mqtt_connack(host, port):
    """A clean MQTT 3.1.1 CONNECT: True when the CONNACK accepts it."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as s:
        s.settimeout(5)
        s.connect((host, port))
        s.sendall(bytes([0x10, 14, 0, 4]) + b"MQTT" + bytes([4, 2, 0, 30, 0, 2]) + b"rl")
        return s.recv(4) == bytes([0x20, 2, 0, 0])


@unittest.skipUnless(harness.is_mop() and MOP, "mop-only process tests (set MOP_BIN)")
class MopProcess(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory(prefix="mop-proc-")
        self.log_path = os.path.join(self.tmp.name, "mop.log")
        self.proc = None

    def tearDown(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self.tmp.cleanup()

    def start(self, *args):
        """mop with a free port for every listener (harness.MOP_PORT0_ARGS), then `args`."""
        self.log = open(self.log_path, "wb")
        self.proc = subprocess.Popen([MOP, "standalone"] + harness.MOP_PORT0_ARGS +
                                     ["--dataDir=%s" % self.tmp.name] + list(args),
                                     stdout=self.log, stderr=subprocess.STDOUT, cwd=self.tmp.name)
        return self.proc

    def ready(self):
        """The start-up line's JSON; fails the test when mop prints none."""
        ready = harness.wait_ready(self.log_path, self.proc)
        self.assertIsNotNone(ready, "no start-up line:\n" + self.log_text())
        return ready

    def log_text(self):
        with open(self.log_path, "rb") as f:
            return f.read().decode("utf-8", "replace")

    def stop(self, sig=signal.SIGTERM):
        self.proc.send_signal(sig)
        rc = self.proc.wait(10)
        self.log.close()
        return rc

    def pub(self, host, port, topic, msg, *extra):
        subprocess.run(["mosquitto_pub", "-h", host, "-p", str(port), "-t", topic, "-m", msg] + list(extra),
                       check=True, timeout=10)

    def test_start_up_line_reports_every_bound_port(self):
        """Port 0 everywhere: one `mop-ready {json}` line, printed once every listener listens,
        with the bound ports; LOOKUP answers with the bound Pulsar port, not 0."""
        listeners = ["mqtt://127.0.0.1:0", "mqtt://127.0.0.1:0"]
        if ipv6_loopback_available():
            listeners.append("mqtt://[::1]:0")
        self.start("--mqttListeners=" + ",".join(listeners))
        ready = self.ready()
        self.assertEqual(ready["pid"], self.proc.pid)
        self.assertEqual(len(ready["mqtt"]), len(listeners))
        ports = [l["port"] for l in ready["mqtt"]] + [ready["pulsar"]["port"]]
        self.assertNotIn(0, ports)
        self.assertEqual(len(set(ports)), len(ports), ready)
        for l in ready["mqtt"]:
            url = "mqtt://[%s]:%d" % (l["host"], l["port"]) if ":" in l["host"] else \
                  "mqtt://%s:%d" % (l["host"], l["port"])
            self.assertEqual(l["url"], url)
            # Already listening when the line is printed: no waiting for the port.
            self.assertTrue(mqtt_connack(l["host"], l["port"]), l)
        pulsar = ready["pulsar"]
        self.assertEqual(pulsar["host"], "127.0.0.1")
        self.assertEqual(pulsar["url"], "pulsar://127.0.0.1:%d" % pulsar["port"])
        self.assertEqual(pulsar_lookup(pulsar["port"], "persistent://public/default/ready-line"), pulsar["url"])
        self.assertEqual(self.stop(), 0)
        lines = [l for l in self.log_text().splitlines() if harness.READY_PREFIX.strip() in l]
        self.assertEqual(len(lines), 1, lines)
        self.assertTrue(lines[0].startswith(harness.READY_PREFIX), lines[0])
        self.assertEqual(json.loads(lines[0][len(harness.READY_PREFIX):]), ready)

    def test_start_up_line_and_lookup_use_the_advertised_address(self):
        self.start("--advertisedAddress=localhost", "--logLevel=error")
        pulsar = self.ready()["pulsar"]
        self.assertNotEqual(pulsar["port"], 0)
        self.assertEqual(pulsar["url"], "pulsar://localhost:%d" % pulsar["port"])
        self.assertEqual(pulsar_lookup(pulsar["port"], "lookup-advertised"), pulsar["url"])
        self.assertEqual(self.stop(), 0)

    def test_two_listeners_ipv4_and_ipv6(self):
        if not ipv6_loopback_available():
            self.skipTest("no IPv6 loopback on this machine")
        self.start("--mqttListeners=mqtt://127.0.0.1:0,mqtt://[::1]:0")
        p4, p6 = harness.ready_ports(self.ready())["mqtt"]
        sub = subprocess.Popen(["mosquitto_sub", "-h", "::1", "-p", str(p6), "-t", "cross/#", "-v",
                                "-C", "1", "-W", "10", "-q", "1"], stdout=subprocess.PIPE, text=True)
        time.sleep(0.5)
        self.pub("127.0.0.1", p4, "cross/v4", "over both listeners", "-q", "1")
        out, _ = sub.communicate(timeout=15)
        self.assertEqual(out.strip(), "cross/v4 over both listeners")
        self.assertEqual(self.stop(), 0)
        log = self.log_text()
        self.assertIn("MQTT listener ready on mqtt://127.0.0.1:%d" % p4, log)
        self.assertIn("MQTT listener ready on mqtt://[::1]:%d" % p6, log)

    def test_mop_style_config_file_starts_and_serves(self):
        conf = os.path.join(self.tmp.name, "standalone.conf")
        with open(conf, "w") as f:
            f.write("# lines a MoP user already has\n"
                    "messagingProtocols=mqtt\n"
                    "protocolHandlerDirectory=./protocols\n"
                    "mqttListeners=mqtt://127.0.0.1:0\n"
                    "brokerServicePort=0\n"
                    "advertisedAddress=127.0.0.1\n"
                    "someUnknownKey=1\n")
        # The file alone: no port flags.
        self.log = open(self.log_path, "wb")
        self.proc = subprocess.Popen([MOP, "standalone", "--dataDir=%s" % self.tmp.name, "-c", conf],
                                     stdout=self.log, stderr=subprocess.STDOUT, cwd=self.tmp.name)
        port = self.ready()["mqtt"][0]["port"]
        sub = subprocess.Popen(["mosquitto_sub", "-p", str(port), "-t", "persistent://public/default/my-topic",
                                "-q", "1", "-C", "1", "-W", "10"], stdout=subprocess.PIPE, text=True)
        time.sleep(0.5)
        self.pub("127.0.0.1", port, "persistent://public/default/my-topic", "Hello MOP!", "-q", "1")
        out, _ = sub.communicate(timeout=15)
        self.assertEqual(out.strip(), "Hello MOP!")
        self.assertEqual(self.stop(), 0)
        log = self.log_text()
        self.assertIn("someUnknownKey", log)           # unknown key: a warning, not an error
        self.assertIn("protocolHandlerDirectory", log)  # read for compatibility, said so

    def test_command_line_overrides_file(self):
        # The file's listener is on 127.0.0.2, the flag's on 127.0.0.1 (both loopback, port 0):
        # the start-up line says which one listens.
        conf = os.path.join(self.tmp.name, "c.conf")
        with open(conf, "w") as f:
            f.write("mqttListeners=mqtt://127.0.0.2:0\n")
        self.start("-c", conf, "--mqttListeners=mqtt://127.0.0.1:0")
        listeners = self.ready()["mqtt"]
        self.assertEqual([l["host"] for l in listeners], ["127.0.0.1"])
        self.assertTrue(mqtt_connack("127.0.0.1", listeners[0]["port"]))
        self.assertEqual(self.stop(), 0)

    def test_connect_and_disconnect_are_logged_with_client_id_and_reason(self):
        self.start("--logLevel=info")
        port = self.ready()["mqtt"][0]["port"]
        self.pub("127.0.0.1", port, "t", "x", "-i", "logged-client")
        deadline = time.monotonic() + 5
        while "client disconnected: id=logged-client" not in self.log_text() and time.monotonic() < deadline:
            time.sleep(0.05)
        log = self.log_text()
        self.assertRegex(log, r"client connected: id=logged-client peer=127\.0\.0\.1:\d+ protocol=3\.1\.1")
        self.assertRegex(log, r"client disconnected: id=logged-client .*reason=client disconnected")
        self.assertEqual(self.stop(), 0)

    def test_log_level_error_hides_connect_lines(self):
        self.start("--logLevel=error")
        port = self.ready()["mqtt"][0]["port"]
        self.pub("127.0.0.1", port, "t", "x", "-i", "quiet-client")
        self.assertEqual(self.stop(), 0)
        self.assertNotIn("quiet-client", self.log_text())

    def test_sigint_stops_with_exit_code_0(self):
        self.start()
        port = self.ready()["mqtt"][0]["port"]
        held = socket.create_connection(("127.0.0.1", port))
        try:
            self.assertEqual(self.stop(signal.SIGINT), 0)
        finally:
            held.close()

    def test_bad_listener_is_an_error_before_listening(self):
        self.start("--mqttListeners=mqtt://127.0.0.1:notaport")
        self.assertEqual(self.proc.wait(10), 2)
        self.log.close()
        self.assertIn("mqttListeners", self.log_text())
        self.assertNotIn(harness.READY_PREFIX, self.log_text())

    def test_port_in_use_is_a_clear_error(self):
        blocker = socket.socket()
        blocker.bind(("127.0.0.1", 0))
        blocker.listen()
        port = blocker.getsockname()[1]
        try:
            self.start("--mqttListeners=mqtt://127.0.0.1:%d" % port)
            self.assertNotEqual(self.proc.wait(10), 0)
            self.log.close()
            self.assertIn("cannot listen on mqtt://127.0.0.1:%d" % port, self.log_text())
            self.assertNotIn(harness.READY_PREFIX, self.log_text())
        finally:
            blocker.close()


if __name__ == "__main__":
    unittest.main()
