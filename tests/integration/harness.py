"""Start and stop the broker under test for the integration tests.

BROKER=mop (default): runs $MOP_BIN standalone on a free port with a temp data dir.
BROKER=mosquitto:     runs the Debian mosquitto on a free port (cross-check of the tests).

The broker's stdout+stderr go to a log file; `Broker.log_text()` returns it so a failing test can
print it. `stop()` sends SIGTERM and (for mop) asserts exit code 0.
"""

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

PYTHON = "/usr/bin/python3"
BROKER_KIND = os.environ.get("BROKER", "mop").strip().lower()
START_TIMEOUT = 10.0


def is_mop():
    return BROKER_KIND == "mop"


def is_mosquitto():
    return BROKER_KIND == "mosquitto"


def free_port():
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def free_port6():
    """A free TCP port on ::1, or None when the host has no IPv6 loopback."""
    try:
        s = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
        s.bind(("::1", 0))
    except OSError:
        return None
    port = s.getsockname()[1]
    s.close()
    return port


def wait_port(port, timeout=START_TIMEOUT, proc=None, host="127.0.0.1"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            return False
        try:
            with socket.create_connection((host, port), timeout=0.5):
                return True
        except OSError:
            time.sleep(0.02)
    return False


class BrokerError(Exception):
    pass


class Broker:
    """One broker process. `max_message_length` maps to mop's --mqttMessageMaxLength and to
    mosquitto's max_packet_size."""

    def __init__(self, max_message_length=None, extra_args=(), mop_args=None):
        """mop_args: optional callable (port, data_dir) -> the arguments after
        `mop standalone`, replacing the default listener/dataDir/logLevel flags (mop only)."""
        self.kind = BROKER_KIND
        self.max_message_length = max_message_length
        self.extra_args = list(extra_args)
        self.mop_args = mop_args
        self.port = None
        self.proc = None
        self.tmpdir = tempfile.mkdtemp(prefix="mop-it-")
        self.data_dir = os.path.join(self.tmpdir, "data")
        os.makedirs(self.data_dir)
        self.log_path = os.path.join(self.tmpdir, "broker.log")
        self._log = None
        self._final_log = None  # kept in memory when the temp dir is removed

    def command(self):
        if self.kind == "mop":
            mop = os.environ.get("MOP_BIN")
            if not mop:
                raise BrokerError("MOP_BIN is not set (set it to the mop binary, or BROKER=mosquitto)")
            if not os.access(mop, os.X_OK):
                raise BrokerError("MOP_BIN=%s is not an executable file" % mop)
            if self.mop_args is not None:
                return [mop, "standalone"] + list(self.mop_args(self.port, self.data_dir))
            cmd = [mop, "standalone", "--mqttListeners=mqtt://127.0.0.1:%d" % self.port,
                   "--dataDir=%s" % self.data_dir, "--logLevel=debug"]
            if self.max_message_length is not None:
                cmd.append("--mqttMessageMaxLength=%d" % self.max_message_length)
            return cmd + self.extra_args
        if self.kind == "mosquitto":
            conf = os.path.join(self.tmpdir, "mosquitto.conf")
            with open(conf, "w") as f:
                f.write("listener %d 127.0.0.1\n" % self.port)
                f.write("allow_anonymous true\n")
                f.write("persistence false\n")
                f.write("log_dest stderr\n")
                f.write("log_type all\n")
                # mosquitto's default queue limits would drop messages in the load tests.
                f.write("max_queued_messages 0\n")
                # mosquitto 2.0.11's default (false) sends ONE copy to a client with overlapping
                # subscriptions, at the QoS of the first subscription it finds, which breaks
                # [MQTT-3.3.5-1]; with true it sends one copy per subscription (allowed by 3.3.5).
                f.write("allow_duplicate_messages true\n")
                if self.max_message_length is not None:
                    f.write("max_packet_size %d\n" % self.max_message_length)
            exe = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
            return [exe, "-c", conf] + self.extra_args
        raise BrokerError("unknown BROKER=%r (use mop or mosquitto)" % self.kind)

    def start(self):
        """Start and wait for the port; on failure the temp dir is removed and BrokerError (with
        the broker's log) is raised."""
        try:
            return self._start()
        except BaseException:
            self.cleanup()
            raise

    def _start(self):
        last = None
        for _attempt in range(3):  # a free port can be taken by someone else in between
            self.port = free_port()
            self._log = open(self.log_path, "ab")
            self.proc = subprocess.Popen(self.command(), stdout=self._log, stderr=subprocess.STDOUT,
                                         stdin=subprocess.DEVNULL, cwd=self.tmpdir)
            if wait_port(self.port, START_TIMEOUT, self.proc):
                return self
            last = "exit code %s" % self.proc.poll()
            self.kill9()
        raise BrokerError("broker did not listen on 127.0.0.1:%s within %.0fs (%s)\n%s"
                          % (self.port, START_TIMEOUT, last, self.log_text()))

    def restart(self, timeout=START_TIMEOUT):
        """kill -9 (when running) and start again on the same port and data dir: what a crash
        and a supervisor's restart look like to the clients, which reconnect to the same address."""
        self.kill9()
        deadline = time.monotonic() + timeout
        while True:
            self._log = open(self.log_path, "ab")
            self._log.write(b"\n---- restart ----\n")
            self._log.flush()
            self.proc = subprocess.Popen(self.command(), stdout=self._log, stderr=subprocess.STDOUT,
                                         stdin=subprocess.DEVNULL, cwd=self.tmpdir)
            if wait_port(self.port, max(0.5, deadline - time.monotonic()), self.proc):
                return self
            self.kill9()
            if time.monotonic() >= deadline:
                raise BrokerError("broker did not listen again on 127.0.0.1:%s within %.0fs\n%s"
                                  % (self.port, timeout, self.log_text(tail=100)))
            time.sleep(0.1)

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def log_text(self, tail=None):
        try:
            with open(self.log_path, "rb") as f:
                text = f.read().decode("utf-8", "replace")
        except OSError:
            text = self._final_log if self._final_log is not None else "(no broker log)"
        if tail is not None:
            lines = text.splitlines()
            text = "\n".join(lines[-tail:])
        return text

    def stop(self, timeout=10.0):
        """SIGTERM; returns the exit code. For mop, raises if it is not 0."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.kill9()
                raise BrokerError("broker did not exit within %.0fs of SIGTERM\n%s"
                                  % (timeout, self.log_text(tail=200)))
        rc = self.proc.returncode
        self._close_log()
        if self.kind == "mop" and rc != 0:
            raise BrokerError("mop exited with code %s after SIGTERM (expected 0)\n%s"
                              % (rc, self.log_text(tail=200)))
        return rc

    def kill9(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self._close_log()

    def _close_log(self):
        if self._log is not None:
            self._log.close()
            self._log = None

    def cleanup(self):
        self.kill9()
        if self._final_log is None:
            self._final_log = self.log_text()
        shutil.rmtree(self.tmpdir, ignore_errors=True)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        try:
            if exc[0] is None:
                self.stop()
            else:
                sys.stderr.write("\n---- broker log (%s) ----\n%s\n---- end ----\n"
                                 % (self.kind, self.log_text(tail=300)))
        finally:
            self.cleanup()
        return False


class ModuleBroker:
    """One broker shared by every test of a module:
    `_shared = harness.ModuleBroker(); setUpModule = _shared.start; tearDownModule = _shared.stop`,
    then `_shared.broker` in the tests."""

    def __init__(self):
        self.broker = None

    def start(self):
        self.broker = Broker().start()

    def stop(self):
        if self.broker is None:
            return
        try:
            self.broker.stop()  # for mop: asserts exit code 0 after SIGTERM
        finally:
            self.broker.cleanup()
            self.broker = None


def kill9(proc):
    """kill -9 a helper subprocess (a client holding a will) and reap it."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGKILL)
    proc.wait(5)
    for f in (proc.stdout, proc.stderr):
        if f is not None and not f.closed:
            f.close()
