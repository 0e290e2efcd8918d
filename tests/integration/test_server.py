"""Process-level tests of `mop standalone` (mop only): listeners, configuration files, logging and
signals. The MQTT behaviour itself is in test_mqtt311.py."""

import os
import signal
import socket
import subprocess
import tempfile
import time
import unittest

import harness

MOP = os.environ.get("MOP_BIN")


def ipv6_loopback_available():
    try:
        s = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
        s.bind(("::1", 0))
        s.close()
        return True
    except OSError:
        return False


def free_port6():
    s = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
    s.bind(("::1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def wait_port(host, port, proc, timeout=10.0):
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return False
        try:
            with socket.socket(family, socket.SOCK_STREAM) as s:
                s.settimeout(0.5)
                s.connect((host, port))
                return True
        except OSError:
            time.sleep(0.02)
    return False


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
        self.log = open(self.log_path, "wb")
        self.proc = subprocess.Popen([MOP, "standalone", "--dataDir=%s" % self.tmp.name] + list(args),
                                     stdout=self.log, stderr=subprocess.STDOUT, cwd=self.tmp.name)
        return self.proc

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

    def test_two_listeners_ipv4_and_ipv6(self):
        if not ipv6_loopback_available():
            self.skipTest("no IPv6 loopback on this machine")
        p4, p6 = harness.free_port(), free_port6()
        self.start("--mqttListeners=mqtt://127.0.0.1:%d,mqtt://[::1]:%d" % (p4, p6))
        self.assertTrue(wait_port("127.0.0.1", p4, self.proc), self.log_text())
        self.assertTrue(wait_port("::1", p6, self.proc), self.log_text())
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
        port = harness.free_port()
        conf = os.path.join(self.tmp.name, "standalone.conf")
        with open(conf, "w") as f:
            f.write("# lines a MoP user already has\n"
                    "messagingProtocols=mqtt\n"
                    "protocolHandlerDirectory=./protocols\n"
                    "mqttListeners=mqtt://127.0.0.1:%d\n"
                    "advertisedAddress=127.0.0.1\n"
                    "someUnknownKey=1\n" % port)
        self.start("-c", conf)
        self.assertTrue(wait_port("127.0.0.1", port, self.proc), self.log_text())
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
        file_port, flag_port = harness.free_port(), harness.free_port()
        conf = os.path.join(self.tmp.name, "c.conf")
        with open(conf, "w") as f:
            f.write("mqttListeners=mqtt://127.0.0.1:%d\n" % file_port)
        self.start("-c", conf, "--mqttListeners=mqtt://127.0.0.1:%d" % flag_port)
        self.assertTrue(wait_port("127.0.0.1", flag_port, self.proc), self.log_text())
        with self.assertRaises(OSError):
            socket.create_connection(("127.0.0.1", file_port), timeout=0.5).close()
        self.assertEqual(self.stop(), 0)

    def test_connect_and_disconnect_are_logged_with_client_id_and_reason(self):
        port = harness.free_port()
        self.start("--mqttListeners=mqtt://127.0.0.1:%d" % port, "--logLevel=info")
        self.assertTrue(wait_port("127.0.0.1", port, self.proc), self.log_text())
        self.pub("127.0.0.1", port, "t", "x", "-i", "logged-client")
        deadline = time.monotonic() + 5
        while "client disconnected: id=logged-client" not in self.log_text() and time.monotonic() < deadline:
            time.sleep(0.05)
        log = self.log_text()
        self.assertRegex(log, r"client connected: id=logged-client peer=127\.0\.0\.1:\d+ protocol=3\.1\.1")
        self.assertRegex(log, r"client disconnected: id=logged-client .*reason=client disconnected")
        self.assertEqual(self.stop(), 0)

    def test_log_level_error_hides_connect_lines(self):
        port = harness.free_port()
        self.start("--mqttListeners=mqtt://127.0.0.1:%d" % port, "--logLevel=error")
        self.assertTrue(wait_port("127.0.0.1", port, self.proc), self.log_text())
        self.pub("127.0.0.1", port, "t", "x", "-i", "quiet-client")
        self.assertEqual(self.stop(), 0)
        self.assertNotIn("quiet-client", self.log_text())

    def test_sigint_stops_with_exit_code_0(self):
        port = harness.free_port()
        self.start("--mqttListeners=mqtt://127.0.0.1:%d" % port)
        self.assertTrue(wait_port("127.0.0.1", port, self.proc), self.log_text())
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
        finally:
            blocker.close()


if __name__ == "__main__":
    unittest.main()
