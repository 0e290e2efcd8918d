"""Start and stop the broker under test for the integration tests.

BROKER=mop (default): runs $MOP_BIN standalone with port 0 for every listener (MQTT, Pulsar,
                      web) and a temp data dir, and reads the bound ports from mop's start-up
                      line (`mop-ready {json}`, app/README.md), never from log text.
BROKER=mosquitto:     runs the Debian mosquitto on a free port (cross-check of the tests).

The broker's stdout+stderr go to a log file; `Broker.log_text()` returns it so a failing test can
print it. `stop()` sends SIGTERM and (for mop) asserts exit code 0. The JS suites
(`mop_launch.js`) and the C++ one (`mop_launch.hpp`) start mop with the same arguments and parse
the same line.
"""

import json
import os
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time
import unittest

PYTHON = "/usr/bin/python3"
BROKER_KIND = os.environ.get("BROKER", "mop").strip().lower()
START_TIMEOUT = 10.0
# The start-up line mop prints once every listener listens (app/ready_line.hpp).
READY_PREFIX = "mop-ready "
# What every launcher passes before the suite's own arguments: a free port for every listener.
MOP_PORT0_ARGS = ["--mqttListeners=mqtt://127.0.0.1:0", "--brokerServicePort=0", "--webServicePort=0"]


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


def wait_until(pred, timeout, step=0.05):
    """Polls pred() every `step` seconds until it is true or `timeout` seconds have passed;
    returns its last value."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return True
        time.sleep(step)
    return pred()


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


def parse_ready(text):
    """The start-up line's JSON (a dict) from mop's output `text`, or None when it has none yet.
    Only a whole line (ending in a newline) that starts with READY_PREFIX counts."""
    for line in text.splitlines(keepends=True):
        if line.startswith(READY_PREFIX) and line.endswith("\n"):
            return json.loads(line[len(READY_PREFIX):])
    return None


def wait_ready(log_path, proc, timeout=START_TIMEOUT, offset=0):
    """Waits for mop's start-up line in the file `log_path` (mop's stdout), looking from byte
    `offset` on; returns its JSON (a dict), or None when `proc` exits or `timeout` passes first."""
    deadline = time.monotonic() + timeout
    while True:
        exited = proc.poll() is not None
        try:
            with open(log_path, "rb") as f:
                f.seek(offset)
                ready = parse_ready(f.read().decode("utf-8", "replace"))
        except OSError:
            ready = None
        if ready is not None:
            return ready
        if exited or time.monotonic() >= deadline:
            return None
        time.sleep(0.02)


def ready_ports(ready):
    """{"mqtt": [port, ...], "pulsar": port or None, "web": port or None} from a start-up line's
    JSON (`web` is the HTTP service on webServicePort)."""
    web = ready.get("web")
    return {"mqtt": [l["port"] for l in ready["mqtt"]],
            "pulsar": ready["pulsar"]["port"] if ready["pulsar"] is not None else None,
            "web": web["port"] if web is not None else None}


class Broker:
    """One broker process. `max_message_length` maps to mop's --mqttMessageMaxLength and to
    mosquitto's max_packet_size.

    After start(): `port` is the (first) MQTT port, `pulsar_port` mop's Pulsar port and
    `web_port` its HTTP port (both None for mosquitto), `ports` the full set
    {"mqtt": [port, ...], "pulsar": port or None, "web": port or None}, `ready` mop's whole
    start-up line (a dict; None for mosquitto). restart() comes back on the same ports."""

    def __init__(self, max_message_length=None, extra_args=(), mop_args=None):
        """mop_args: optional callable (port, data_dir) -> the arguments after
        `mop standalone --mqttListeners=mqtt://127.0.0.1:0 --brokerServicePort=0
        --webServicePort=0`, replacing the default listener/dataDir/logLevel flags (mop only).
        `port` is 0 on the first start and the bound MQTT port on a restart; on a restart the
        harness also appends every bound listener and the Pulsar port, which win."""
        self.kind = BROKER_KIND
        self.max_message_length = max_message_length
        self.extra_args = list(extra_args)
        self.mop_args = mop_args
        self.port = None
        self.pulsar_port = None
        self.web_port = None
        self.ports = None
        self.ready = None
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
            mop = os.path.abspath(mop)  # mop runs in the temp dir
            # First start: port 0 everywhere. Restart: the ports bound before, appended last so
            # that they win over what the suite's arguments say (clients reconnect to them).
            port = self.port if self.ready is not None else 0
            cmd = [mop, "standalone"] + MOP_PORT0_ARGS
            if self.mop_args is not None:
                cmd += list(self.mop_args(port, self.data_dir))
            else:
                cmd += ["--mqttListeners=mqtt://127.0.0.1:%d" % port, "--dataDir=%s" % self.data_dir,
                        "--logLevel=debug"]
                if self.max_message_length is not None:
                    cmd.append("--mqttMessageMaxLength=%d" % self.max_message_length)
                cmd += self.extra_args
            if self.ready is not None:
                cmd += self.bound_args()
            return cmd
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

    def bound_args(self):
        """The flags that put mop's listeners back on the ports bound at the first start."""
        args = []
        if self.ready["mqtt"]:
            args.append("--mqttListeners=" + ",".join(l["url"] for l in self.ready["mqtt"]))
        if self.ready["pulsar"] is not None:
            args.append("--brokerServicePort=%d" % self.ready["pulsar"]["port"])
        if self.ready.get("web") is not None:
            args.append("--webServicePort=%d" % self.ready["web"]["port"])
        if self.ready.get("pulsarTls") is not None:
            args.append("--brokerServicePortTls=%d" % self.ready["pulsarTls"]["port"])
        if self.ready.get("webTls") is not None:
            args.append("--webServicePortTls=%d" % self.ready["webTls"]["port"])
        return args

    def _set_ready(self, ready):
        self.ready = ready
        self.ports = ready_ports(ready)
        self.port = self.ports["mqtt"][0] if self.ports["mqtt"] else None
        self.pulsar_port = self.ports["pulsar"]
        self.web_port = self.ports["web"]

    def _spawn(self):
        """Starts the process with its output appended to the log; returns the log's size before."""
        self._log = open(self.log_path, "ab")
        offset = self._log.tell()
        self.proc = subprocess.Popen(self.command(), stdout=self._log, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL, cwd=self.tmpdir)
        return offset

    def _wait_started(self, offset, timeout):
        """mop: waits for its start-up line (and takes the ports from it); mosquitto: for the port."""
        if self.kind == "mop":
            ready = wait_ready(self.log_path, self.proc, timeout, offset)
            if ready is None:
                return False
            if self.ready is None:
                self._set_ready(ready)
            elif ready_ports(ready) != self.ports:
                raise BrokerError("mop came back on %s, not on %s\n%s"
                                  % (ready_ports(ready), self.ports, self.log_text(tail=100)))
            return True
        return wait_port(self.port, timeout, self.proc)

    def start(self):
        """Start and wait for the port; on failure the temp dir is removed and BrokerError (with
        the broker's log) is raised."""
        try:
            return self._start()
        except BaseException:
            self.cleanup()
            raise

    def _start(self):
        if self.kind == "mop":  # port 0: the system picks, nothing to retry
            offset = self._spawn()
            if self._wait_started(offset, START_TIMEOUT):
                return self
            last = "exit code %s" % self.proc.poll()
            self.kill9()
            raise BrokerError("mop printed no start-up line (%r...) within %.0fs (%s)\n%s"
                              % (READY_PREFIX, START_TIMEOUT, last, self.log_text()))
        last = None
        for _attempt in range(3):  # mosquitto: a free port can be taken by someone else in between
            self.port = free_port()
            self.ports = {"mqtt": [self.port], "pulsar": None, "web": None}
            offset = self._spawn()
            if self._wait_started(offset, START_TIMEOUT):
                return self
            last = "exit code %s" % self.proc.poll()
            self.kill9()
        raise BrokerError("broker did not listen on 127.0.0.1:%s within %.0fs (%s)\n%s"
                          % (self.port, START_TIMEOUT, last, self.log_text()))

    def restart(self, timeout=START_TIMEOUT):
        """kill -9 (when running) and start again on the same ports and data dir: what a crash
        and a supervisor's restart look like to the clients, which reconnect to the same address.
        mop is given the ports it had bound explicitly, and started again while they are not free
        yet (until `timeout`)."""
        self.kill9()
        with open(self.log_path, "ab") as log:
            log.write(b"\n---- restart ----\n")
        deadline = time.monotonic() + timeout
        while True:
            offset = self._spawn()
            if self._wait_started(offset, max(0.5, deadline - time.monotonic())):
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

    # The one way a test holds a broker: `with harness.Broker(...) as broker:` in a test, or
    # `self.broker = self.enterContext(harness.Broker(...))` in setUp (unittest stops it after
    # tearDown and the cleanups registered after it, such as a client's close), or
    # `cls.enterClassContext(...)` in setUpClass. It starts the broker; at the end it stops it
    # (SIGTERM; for mop, BrokerError with the log's tail unless it exits 0) when the block ended
    # normally, or writes the log's tail to stderr when it raised (not for a skipped test); the
    # temp dir is removed either way.
    def __enter__(self):
        return self.start()

    def __exit__(self, exc_type, exc, tb):
        try:
            if exc_type is None:
                self.stop()
            elif not issubclass(exc_type, unittest.SkipTest):
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


# ---------------------------------------------------------------------------------------------
# A real Apache Pulsar for the suites that compare mop with it.

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PULSAR_SCRIPT = os.path.join(ROOT, "scripts", "pulsar-standalone")
# Retention as the suites give mop (--defaultRetention...): what is acknowledged stays readable.
PULSAR_RETENTION = ["defaultRetentionTimeInMinutes=60", "defaultRetentionSizeInMB=100"]
# Deduplication and retention on (as for mop), batch-index acknowledgements on (mop has them always).
PULSAR_SETTINGS = ["brokerDeduplicationEnabled=true", "acknowledgmentAtBatchIndexLevelEnabled=true"] + PULSAR_RETENTION
# Token authentication on, with clients that bring no credentials let in as role `anonymous` and
# authorization off: the suites without credentials are served as before, while
# test_pulsar_client.py's OnSecuredApachePulsar checks tokens and the AUTH_CHALLENGE refresh of
# expired ones (checked every second) on the same broker. The HS256 secret key is the file
# PULSAR_TOKEN_KEY in the Pulsar's directory.
PULSAR_TOKEN_KEY = "token-secret.key"


def pulsar_settings(where):
    """PULSAR_SETTINGS plus token authentication, its secret key made in `where` if it is not
    there yet (32 random bytes, what `mop token create-secret-key` and Pulsar's
    `tokens create-secret-key` write for HS256)."""
    key = os.path.join(os.path.abspath(where), PULSAR_TOKEN_KEY)
    if not os.path.exists(key):
        with open(key, "wb") as f:
            f.write(os.urandom(32))
    return PULSAR_SETTINGS + [
        "authenticationEnabled=true",
        "authenticationProviders=org.apache.pulsar.broker.authentication.AuthenticationProviderToken",
        "tokenSecretKey=file://" + key, "anonymousUserRole=anonymous", "authorizationEnabled=false",
        "authenticationRefreshCheckSeconds=1"]


class ApachePulsar:
    """Apache Pulsar standalone (scripts/pulsar-standalone), started once for a suite with
    `settings` (pulsar_settings() unless given) in a temp dir, and stopped and removed by stop().
    Or one started by hand: PULSAR_URL and PULSAR_HTTP (both set) name a running one, PULSAR_DIR
    the directory of one (which restart() can stop and start again); stop() leaves those
    running. A suite that restarts Pulsar passes restartable=True and so takes PULSAR_DIR only.
    own=True always starts one of its own (for settings one started by hand may lack: TLS, whose
    URL is then `tls_url`)."""

    name = "Apache Pulsar"

    def __init__(self, restartable=False, prefix="mop-apache-pulsar-", settings=None, own=False):
        self.restartable = restartable
        self.settings = None if settings is None else list(settings)
        self.prefix = prefix
        self.own = own
        self.dir = None
        self.owned = False
        self.url = self.http = self.tls_url = None

    def _run_start(self, settings=None):
        settings = self.settings if settings is None else settings
        if settings is None:
            settings = pulsar_settings(self.dir)
        try:
            out = subprocess.run([PULSAR_SCRIPT, "start", self.dir] + settings,
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=420)
        except subprocess.TimeoutExpired as e:
            raise RuntimeError("scripts/pulsar-standalone start did not return within %ds; Pulsar's log:\n%s"
                               % (e.timeout, self.log_tail())) from None
        if out.returncode != 0:
            raise RuntimeError("scripts/pulsar-standalone start failed (%d):\n%s" % (out.returncode, out.stderr))
        lines = dict(line.split("=", 1) for line in out.stdout.splitlines() if "=" in line)
        self.tls_url = lines.get("PULSAR_TLS_URL")
        return lines["PULSAR_URL"], lines["PULSAR_HTTP"]

    def start(self):
        if not self.own and not self.restartable and os.environ.get("PULSAR_URL") and os.environ.get("PULSAR_HTTP"):
            self.url, self.http = os.environ["PULSAR_URL"], os.environ["PULSAR_HTTP"]
            return self
        if os.environ.get("PULSAR_DIR") and not self.own:
            self.dir = os.environ["PULSAR_DIR"]
        else:
            self.dir = tempfile.mkdtemp(prefix=self.prefix)
            self.owned = True
        t0 = time.monotonic()
        self.url, self.http = self._run_start()
        sys.stderr.write("Apache Pulsar standalone ready in %.1f s at %s\n" % (time.monotonic() - t0, self.url))
        return self

    def restart(self):
        """Stops Pulsar and starts it again on the same directory, ports and settings (those it
        was started with, which for a PULSAR_DIR need not be this suite's)."""
        subprocess.run([PULSAR_SCRIPT, "stop", self.dir], timeout=120, check=True)
        url, _ = self._run_start(settings=[])
        assert url == self.url, "Apache Pulsar came back on %s, not %s" % (url, self.url)

    def stop(self):
        if self.owned and self.dir:
            subprocess.run([PULSAR_SCRIPT, "stop", self.dir], timeout=120, check=True)
            shutil.rmtree(self.dir, ignore_errors=True)
        self.dir = None
        self.owned = False

    def token_key(self):
        """The secret key of this Pulsar's token authentication (pulsar_settings()), or None
        when it was started without it (the settings its directory records of its last start:
        a PULSAR_DIR started by hand need not have it) or outside the test (PULSAR_URL)."""
        if self.dir is None:
            return None
        key = os.path.join(os.path.abspath(self.dir), PULSAR_TOKEN_KEY)
        try:
            with open(os.path.join(self.dir, "settings")) as f:
                settings = f.read().splitlines()
        except OSError:
            return None
        uses_it = "authenticationEnabled=true" in settings and "tokenSecretKey=file://" + key in settings
        return key if uses_it and os.path.exists(key) else None

    def admin(self, method, path, body=None):
        """A request to Pulsar's admin REST API: admin_request at this Pulsar."""
        return admin_request(self.http, method, path, body)

    def log_tail(self, lines=60):
        if self.dir is None:
            return "(broker started outside the test)"
        try:
            with open(os.path.join(self.dir, "logs", "pulsar.log"), errors="replace") as f:
                return "\n".join(f.read().splitlines()[-lines:])
        except OSError as e:
            return str(e)


def admin_request(http, method, path, body=None):
    """A request to the admin REST API v2 at `http` (Apache Pulsar's, or mop's web service), path
    after /admin/v2/, `body` sent as JSON; its parsed JSON answer, or None when it has no body. An
    HTTP error status raises urllib.error.HTTPError."""
    import urllib.request
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request("%s/admin/v2/%s" % (http, path), data=data, method=method,
                                 headers={"Content-Type": "application/json"} if data is not None else {})
    with urllib.request.urlopen(req, timeout=30) as r:
        assert r.status in (200, 204), r.status
        text = r.read()
    return json.loads(text) if text else None


def create_pulsar_namespace(http, ns, timeout=60):
    """Creates namespace `ns` ("tenant/name") through the admin REST API at `http` of an Apache
    Pulsar, as `pulsar-admin namespaces create` does; one that exists already (409) is fine. A
    fresh standalone answers its health check before it has made the `public` tenant and 404
    until then, so a 404 is retried for up to `timeout` seconds."""
    import urllib.error
    import urllib.request
    deadline = time.monotonic() + timeout
    while True:
        req = urllib.request.Request("%s/admin/v2/namespaces/%s" % (http, ns), method="PUT")
        try:
            urllib.request.urlopen(req, timeout=30).read()
            return
        except urllib.error.HTTPError as e:
            if e.code == 409:
                return
            if e.code != 404 or time.monotonic() > deadline:
                raise
            time.sleep(0.5)


def ws_frame(payload, opcode=0x2, fin=True, declared=None):
    """One masked client WebSocket frame (RFC 6455 5.2), for the byte-level cases a WebSocket
    library will not make; `declared` lies about the payload length."""
    mask = os.urandom(4)
    n = len(payload) if declared is None else declared
    head = bytes([(0x80 if fin else 0) | opcode])
    if n < 126:
        head += bytes([0x80 | n])
    elif n < 65536:
        head += bytes([0x80 | 126]) + struct.pack("!H", n)
    else:
        head += bytes([0x80 | 127]) + struct.pack("!Q", n)
    return head + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload))


def kill9(proc):
    """kill -9 a helper subprocess (a client holding a will) and reap it."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGKILL)
    proc.wait(5)
    for f in (proc.stdout, proc.stderr):
        if f is not None and not f.closed:
            f.close()
