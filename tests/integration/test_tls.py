"""The transports (issue 16): MQTT over TLS, TLS-PSK, WebSocket and WebSocket over TLS, and the
Pulsar protocol over TLS, each with a real client we did not write: mosquitto_pub/mosquitto_sub
(--cafile, --cert/--key, --psk), python3-paho-mqtt (TLS, websockets), `openssl s_client` and the
official Pulsar Python client (pulsar+ssl://). Certificates are made here with `openssl` in a temp
dir. Bad input: plain MQTT on a TLS port, a handshake that stops half way, a client certificate
from another CA, an unknown PSK identity, a wrong WebSocket path or subprotocol, an oversized
WebSocket message; each is refused with a log line while the broker serves everyone else.

Two brokers: `open` (TLS without required client certificates, PSK, ws, ws+ssl, pulsar+ssl) and
`mtls` (client certificates required, certificate files checked at every new connection).
Run with the venv python (it has the official pulsar-client and sees the Debian paho)."""

import base64
import json
import os
import shutil
import socket
import ssl
import struct
import subprocess
import tempfile
import time
import unittest
import uuid

import paho.mqtt.client as mqtt

import harness
from certs import OPENSSL, make_ca, make_cert
from clients import MOSQ_PUB, MosqSub, PahoClient

WAIT = 10.0
PSK_IDENTITY = "sensor"
PSK_SECRET = "s3cret-psk"  # MoP reads the secret as text; mosquitto wants its bytes in hex
MAX_WS_MESSAGE = 4096
# What mop allows a TLS handshake / WebSocket upgrade (net::SecureListener).
HANDSHAKE_TIMEOUT = 10.0


def tls_client_context(cafile, cert=None):
    ctx = ssl.create_default_context(cafile=cafile)
    if cert is not None:
        ctx.load_cert_chain(*cert)
    return ctx


def ws_upgrade_request(path, protocol="mqtt", key=None):
    if key is None:
        key = base64.b64encode(os.urandom(16)).decode()
    lines = ["GET %s HTTP/1.1" % path, "Host: 127.0.0.1", "Upgrade: websocket", "Connection: Upgrade",
             "Sec-WebSocket-Key: " + key, "Sec-WebSocket-Version: 13"]
    if protocol:
        lines.append("Sec-WebSocket-Protocol: " + protocol)
    return ("\r\n".join(lines) + "\r\n\r\n").encode()



def read_http_head(sock):
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(4096)
        if not chunk:
            break
        data += chunk
    return data


def mqtt_connect_packet(client_id):
    cid = client_id.encode()
    var = b"\x00\x04MQTT\x04\x02\x00\x1e"
    body = var + struct.pack("!H", len(cid)) + cid
    return bytes([0x10, len(body)]) + body


def closed_by_peer(sock, timeout=WAIT):
    """True once the peer closed the connection (EOF or reset) within `timeout`."""
    sock.settimeout(timeout)
    try:
        while True:
            if not sock.recv(4096):
                return True
    except (ConnectionResetError, BrokenPipeError):
        return True
    except socket.timeout:
        return False


class TransportsTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        if not harness.is_mop():
            raise unittest.SkipTest("mop's transports")
        cls.dir = tempfile.mkdtemp(prefix="mop-tls-")
        cls.addClassCleanup(shutil.rmtree, cls.dir, ignore_errors=True)  # after the brokers stop
        d = cls.dir
        cls.ca = make_ca(d, "good")
        cls.other_ca = make_ca(d, "other")
        cls.server = make_cert(d, "server", "mop-test-server", cls.ca, server=True)
        cls.alice = make_cert(d, "alice", "alice", cls.ca)
        cls.mallory = make_cert(d, "mallory", "mallory", cls.other_ca)
        psk_file = os.path.join(d, "psk.txt")
        with open(psk_file, "w") as f:
            f.write("# identity:secret\nfilesensor:from-the-file\n")
        # The mtls broker reads its own copies, which the reload case replaces.
        cls.mtls_cert = os.path.join(d, "mtls-server.pem")
        cls.mtls_key = os.path.join(d, "mtls-server.key")
        shutil.copy(cls.server[0], cls.mtls_cert)
        shutil.copy(cls.server[1], cls.mtls_key)

        def open_args(port, data_dir):
            return ["--mqttListeners=mqtt://127.0.0.1:0,mqtt+ssl://127.0.0.1:0,mqtt+ssl+psk://127.0.0.1:0,"
                    "ws://127.0.0.1:0,ws+ssl://127.0.0.1:0",
                    "--dataDir=" + data_dir, "--logLevel=debug",
                    # Pulsar's keys serve the MQTT listeners too (MoP's fallback)...
                    "--tlsCertificateFilePath=" + cls.server[0], "--tlsKeyFilePath=" + cls.server[1],
                    # ...but the MoP key wins where it is set.
                    "--mqttTlsTrustCertsFilePath=" + cls.ca[1],
                    "--brokerServicePortTls=0",
                    "--mqttTlsPskEnabled=true", "--mqttTlsPskIdentity=%s:%s;other:x" % (PSK_IDENTITY, PSK_SECRET),
                    "--mqttTlsPskIdentityFile=" + psk_file,
                    "--webSocketMaxFrameSize=%d" % MAX_WS_MESSAGE]

        def mtls_args(port, data_dir):
            return ["--mqttListeners=mqtt+ssl://127.0.0.1:0,ws+ssl://127.0.0.1:0",
                    "--dataDir=" + data_dir, "--logLevel=debug",
                    "--mqttTlsCertificateFilePath=" + cls.mtls_cert, "--mqttTlsKeyFilePath=" + cls.mtls_key,
                    "--mqttTlsTrustCertsFilePath=" + cls.ca[1],
                    "--mqttTlsRequireTrustedClientCertOnConnect=true",
                    "--mqttTlsProtocols=TLSv1.2,TLSv1.3",
                    "--mqttTlsCertRefreshCheckDurationSec=0"]

        cls.open = cls.enterClassContext(harness.Broker(mop_args=open_args))
        cls.mtls = cls.enterClassContext(harness.Broker(mop_args=mtls_args))
        urls = {l["scheme"]: l["port"] for l in cls.open.ready["mqtt"]}
        cls.tcp, cls.tls, cls.psk, cls.ws, cls.wss = (urls[s] for s in ("mqtt", "mqtt+ssl", "mqtt+ssl+psk", "ws",
                                                                          "ws+ssl"))
        cls.mtls_tls, cls.mtls_wss = (l["port"] for l in cls.mtls.ready["mqtt"])
        # A client that connects and then says nothing: the handshake timeout must close it.
        # Opened now so that the wait overlaps the other cases (test_z_* runs last).
        cls.silent = socket.create_connection(("127.0.0.1", cls.tls))
        cls.silent_opened = time.monotonic()

    @classmethod
    def tearDownClass(cls):
        cls.silent.close()  # then the class cleanups stop the brokers and remove the certificates

    def setUp(self):
        self.clients = []

    def tearDown(self):
        for c in self.clients:
            try:
                c.disconnect()
            except Exception:
                pass

    def paho(self, port, transport="tcp", tls=None, path="/mqtt"):
        c = PahoClient(port)
        c.c = mqtt.Client(client_id="", clean_session=True, protocol=mqtt.MQTTv311, transport=transport)
        c.c.on_connect, c.c.on_message = c._on_connect, c._on_message
        c.c.on_subscribe, c.c.on_disconnect = c._on_subscribe, c._on_disconnect
        if transport == "websockets":
            c.c.ws_set_options(path=path)
        if tls is not None:
            c.c.tls_set_context(tls)
        self.clients.append(c)
        return c

    def subscriber(self, topic):
        sub = self.paho(self.tcp)
        self.assertEqual(sub.connect()[0], 0)
        sub.subscribe(topic)
        return sub

    def log_has(self, broker, text, timeout=WAIT):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if text in broker.log_text():
                return True
            time.sleep(0.05)
        return False

    def assert_serves(self):
        """The open broker still serves TLS clients."""
        topic = "tls/alive/" + uuid.uuid4().hex
        sub = self.subscriber(topic)
        c = self.paho(self.tls, tls=tls_client_context(self.ca[1]))
        self.assertEqual(c.connect()[0], 0)
        c.publish(topic, b"alive", qos=1)
        self.assertEqual(sub.get().payload, b"alive")

    def test_bad_certificate_files_stop_the_start(self):
        other_key = self.mallory[1]
        cases = [
            (["--mqttTlsCertificateFilePath=" + self.server[0], "--mqttTlsKeyFilePath=" + other_key],
             "key values mismatch"),
            (["--mqttTlsCertificateFilePath=" + os.path.join(self.dir, "missing.pem"),
              "--mqttTlsKeyFilePath=" + self.server[1]], "cannot use certificate file"),
            (["--mqttTlsCertificateFilePath=" + self.server[0], "--mqttTlsKeyFilePath=" + self.server[1],
              "--mqttTlsCiphers=NO_SUCH_CIPHER"], "none of the ciphers"),
        ]
        for args, message in cases:
            data = tempfile.mkdtemp(dir=self.dir)
            r = subprocess.run([os.environ["MOP_BIN"], "standalone", "--mqttListeners=mqtt+ssl://127.0.0.1:0",
                                "--brokerServicePort=0", "--webServicePort=0", "--dataDir=" + data] + args,
                               capture_output=True, timeout=WAIT)
            out = (r.stdout + r.stderr).decode("utf-8", "replace")
            self.assertEqual(r.returncode, 1, out)
            self.assertIn(message, out)
            self.assertNotIn("mop-ready", out)

    # --- MQTT over TLS -------------------------------------------------------------------------

    def test_mosquitto_over_tls_reaches_plain_and_tls_subscribers(self):
        topic = "tls/mosq/" + uuid.uuid4().hex
        plain = self.subscriber(topic)
        sub = MosqSub(self.tls, topic, qos=1, count=1, extra=["--cafile", self.ca[1]]).wait_subscribed()
        try:
            r = subprocess.run([MOSQ_PUB, "-h", "127.0.0.1", "-p", str(self.tls), "--cafile", self.ca[1],
                                "-t", topic, "-q", "1", "-m", "over tls"], capture_output=True, timeout=WAIT)
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertEqual(sub.finish(), 0)
            self.assertIn(topic + " over tls", sub.output_lines())
        finally:
            sub.kill()
        self.assertEqual(plain.get().payload, b"over tls")

    def test_bursts_larger_than_a_read_cross_tls_intact_and_in_order(self):
        """A TLS publisher's burst well over one 64 KiB read and one 16 KiB record (200 x 8 KiB
        at QoS 0 written back to back, then 900 KiB at QoS 1) reaches a TLS subscriber whole and
        in order: reads that stop at a full buffer go on without waiting for the socket, and
        large and gathered writes leave as complete records."""
        topic = "tls/burst/" + uuid.uuid4().hex
        sub = self.paho(self.tls, tls=tls_client_context(self.ca[1]))
        self.assertEqual(sub.connect()[0], 0)
        self.assertEqual(sub.subscribe(topic), [1])
        pub = self.paho(self.tls, tls=tls_client_context(self.ca[1]))
        self.assertEqual(pub.connect()[0], 0)
        payloads = [bytes([i % 251]) * 8192 + struct.pack("!I", i) for i in range(200)]
        for p in payloads:
            pub.publish(topic, p, qos=0, wait=False)
        big = os.urandom(900 * 1024)
        pub.publish(topic, big, qos=1)
        got = [m.payload for m in sub.collect(201, timeout=30)]
        self.assertEqual(got[-1], big)
        self.assertEqual(got[:-1], payloads)

    def test_client_certificate_from_the_trusted_ca_is_accepted_when_not_required(self):
        c = self.paho(self.tls, tls=tls_client_context(self.ca[1], self.alice))
        self.assertEqual(c.connect()[0], 0)
        c = self.paho(self.tls, tls=tls_client_context(self.ca[1]))
        self.assertEqual(c.connect()[0], 0)

    def test_certificate_from_another_ca_is_refused_even_when_not_required(self):
        r = subprocess.run([OPENSSL, "s_client", "-connect", "127.0.0.1:%d" % self.tls, "-CAfile", self.ca[1],
                            "-cert", self.mallory[0], "-key", self.mallory[1]],
                           input=mqtt_connect_packet("mallory"), capture_output=True, timeout=WAIT)
        self.assertNotIn(b"\x20\x02\x00\x00", r.stdout)  # no CONNACK
        self.assertTrue(self.log_has(self.open, "refused: certificate verify failed"), self.open.log_text(tail=30))
        self.assert_serves()

    def test_plain_mqtt_on_the_tls_port_is_refused(self):
        with socket.create_connection(("127.0.0.1", self.tls)) as s:
            s.sendall(mqtt_connect_packet("plain-on-tls"))
            self.assertTrue(closed_by_peer(s))
        self.assertTrue(self.log_has(self.open, "refused: wrong version number"), self.open.log_text(tail=30))
        self.assert_serves()

    # --- TLS-PSK -------------------------------------------------------------------------------

    def test_psk_identities_from_the_key_and_the_file(self):
        topic = "tls/psk/" + uuid.uuid4().hex
        sub = self.subscriber(topic)
        for identity, secret in ((PSK_IDENTITY, PSK_SECRET), ("filesensor", "from-the-file")):
            r = subprocess.run([MOSQ_PUB, "-h", "127.0.0.1", "-p", str(self.psk), "--psk", secret.encode().hex(),
                                "--psk-identity", identity, "-t", topic, "-q", "1", "-m", identity],
                               capture_output=True, timeout=WAIT)
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertEqual(sub.get().payload, identity.encode())

    def test_psk_with_a_wrong_key_or_identity_is_refused(self):
        for identity, secret in ((PSK_IDENTITY, "wrong"), ("nobody", PSK_SECRET)):
            r = subprocess.run([MOSQ_PUB, "-h", "127.0.0.1", "-p", str(self.psk), "--psk", secret.encode().hex(),
                                "--psk-identity", identity, "-t", "tls/psk/x", "-m", "no"],
                               capture_output=True, timeout=WAIT)
            self.assertNotEqual(r.returncode, 0)
        self.assertTrue(self.log_has(self.open, 'unknown identity "nobody"'), self.open.log_text(tail=30))
        self.assertTrue(self.log_has(self.open, "mqtt+ssl+psk handshake with 127.0.0.1"))
        self.assert_serves()

    # --- WebSocket -----------------------------------------------------------------------------

    def test_paho_over_ws_and_wss(self):
        topic = "tls/ws/" + uuid.uuid4().hex
        plain = self.subscriber(topic)
        ws_sub = self.paho(self.ws, transport="websockets")
        self.assertEqual(ws_sub.connect()[0], 0)
        ws_sub.subscribe(topic)
        wss = self.paho(self.wss, transport="websockets", tls=tls_client_context(self.ca[1]))
        self.assertEqual(wss.connect()[0], 0)
        payload = os.urandom(3000)  # several TLS records, one WebSocket message
        wss.publish(topic, payload, qos=1)
        self.assertEqual(plain.get().payload, payload)
        self.assertEqual(ws_sub.get().payload, payload)

    def test_ws_upgrade_to_another_path_or_subprotocol_is_refused(self):
        for path, proto, status in (("/other", "mqtt", b"404"), ("/mqtt", "chat,superchat", b"400"), (None, None, b"426")):
            with socket.create_connection(("127.0.0.1", self.ws)) as s:
                s.sendall(ws_upgrade_request(path, proto) if path else b"GET /mqtt HTTP/1.1\r\nHost: x\r\n\r\n")
                head = read_http_head(s)
                self.assertTrue(head.startswith(b"HTTP/1.1 " + status), head)
                self.assertTrue(closed_by_peer(s))
        self.assertTrue(self.log_has(self.open, 'path "/other" is not the WebSocket path "/mqtt"'))
        self.assertTrue(self.log_has(self.open, 'none of the subprotocols "chat,superchat"'))
        self.assertTrue(self.log_has(self.open, "refused: not a WebSocket upgrade request"))

    def test_ws_key_that_is_not_16_bytes_in_base64_is_refused(self):
        # RFC 6455 4.2.1: Sec-WebSocket-Key decodes to 16 bytes; anything else is a 400.
        bad_keys = (base64.b64encode(b"x" * 15).decode(),   # 15 bytes (20 characters)
                    base64.b64encode(b"x" * 17).decode(),   # 17 bytes (24 characters, one "=")
                    "!!!!!!!!!!!!!!!!!!!!!!==",             # 24 characters, not base64
                    "")                                      # none at all
        for port, tls in ((self.ws, None), (self.wss, tls_client_context(self.ca[1]))):
            for key in bad_keys:
                with socket.create_connection(("127.0.0.1", port)) as raw:
                    s = tls.wrap_socket(raw, server_hostname="127.0.0.1") if tls else raw
                    request = ws_upgrade_request("/mqtt", "mqtt", key)
                    if not key:
                        request = request.replace(b"Sec-WebSocket-Key: \r\n", b"")
                    s.sendall(request)
                    head = read_http_head(s)
                    self.assertTrue(head.startswith(b"HTTP/1.1 400"), (key, head))
                    self.assertTrue(closed_by_peer(s))
                    s.close()
        self.assertTrue(self.log_has(self.open, 'Sec-WebSocket-Key "%s" is not 16 bytes in base64' % bad_keys[1]))
        self.assertTrue(self.log_has(self.open, "ws+ssl handshake with 127.0.0.1"))
        self.assertTrue(self.log_has(self.open, "refused: no Sec-WebSocket-Key"))
        # A good key (the RFC's own example) is still accepted, on both listeners.
        for port, tls in ((self.ws, None), (self.wss, tls_client_context(self.ca[1]))):
            with socket.create_connection(("127.0.0.1", port)) as raw:
                s = tls.wrap_socket(raw, server_hostname="127.0.0.1") if tls else raw
                s.sendall(ws_upgrade_request("/mqtt", "mqtt", "dGhlIHNhbXBsZSBub25jZQ=="))
                head = read_http_head(s)
                self.assertTrue(head.startswith(b"HTTP/1.1 101"), head)
                self.assertIn(b"sec-websocket-accept: s3pplmbitxaq9kygzzhzrbk+xoo=", head.lower())
                s.close()
        self.assert_serves()

    def test_clients_that_leave_at_once_do_not_end_the_broker(self):
        # A client that sends DISCONNECT and resets its socket at once: mop's answer (the WebSocket
        # close frame, a TLS record) meets a closed socket, and OpenSSL's write(2) then raises
        # SIGPIPE, which must cost that connection only (it ended the process before mop ignored it).
        for port, ws in ((self.wss, True), (self.tls, False)) * 10:
            raw = socket.create_connection(("127.0.0.1", port))
            raw.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))  # close = RST
            s = tls_client_context(self.ca[1]).wrap_socket(raw, server_hostname="127.0.0.1")
            s.settimeout(WAIT)
            wrap = harness.ws_frame if ws else (lambda b: b)
            if ws:
                s.sendall(ws_upgrade_request("/mqtt"))
                self.assertTrue(read_http_head(s).startswith(b"HTTP/1.1 101"))
            s.sendall(wrap(mqtt_connect_packet("leaver-" + uuid.uuid4().hex[:8])))
            reply = b""
            while len(reply) < (6 if ws else 4):
                chunk = s.recv(64)
                self.assertTrue(chunk, "closed before CONNACK")
                reply += chunk
            s.sendall(wrap(b"\xe0\x00"))  # DISCONNECT
            s.close()  # no close_notify; the descriptor (raw's, taken over by s) resets
        time.sleep(0.5)
        self.assertIsNone(self.open.proc.poll(), self.open.log_text(tail=30))
        self.assert_serves()

    def test_ws_subprotocols_are_negotiated(self):
        # Each of MoP's subprotocols is answered with itself; a list gets its first served entry;
        # a request without one is accepted and answered without one.
        cases = (("mqtt", b"mqtt"), ("mqttv3.1", b"mqttv3.1"), ("mqttv3.1.1", b"mqttv3.1.1"),
                 ("mqttv5.0", b"mqttv5.0"), ("chat, mqttv5.0 ,mqtt", b"mqttv5.0"), (None, None))
        for asked, chosen in cases:
            with socket.create_connection(("127.0.0.1", self.ws)) as s:
                s.settimeout(WAIT)
                s.sendall(ws_upgrade_request("/mqtt", asked))
                head = read_http_head(s)
                self.assertTrue(head.startswith(b"HTTP/1.1 101"), (asked, head))
                protocols = [l.split(b":", 1)[1].strip() for l in head.lower().split(b"\r\n")
                             if l.startswith(b"sec-websocket-protocol:")]
                self.assertEqual(protocols, [chosen] if chosen else [], (asked, head))
                # The connection then carries MQTT.
                s.sendall(harness.ws_frame(mqtt_connect_packet("proto-" + uuid.uuid4().hex[:8])))
                reply = b""
                while len(reply) < 6:
                    chunk = s.recv(64)
                    self.assertTrue(chunk, "closed before CONNACK")
                    reply += chunk
                self.assertEqual(reply[2:6], b"\x20\x02\x00\x00", asked)

    def test_ws_subprotocol_is_chosen_and_fragmented_frames_are_joined(self):
        with socket.create_connection(("127.0.0.1", self.ws)) as s:
            s.settimeout(WAIT)
            s.sendall(ws_upgrade_request("/mqtt?x=1", "mqttv3.1.1, mqtt"))
            head = read_http_head(s)
            self.assertTrue(head.startswith(b"HTTP/1.1 101"), head)
            self.assertIn(b"sec-websocket-protocol: mqttv3.1.1", head.lower())
            packet = mqtt_connect_packet("fragmented")
            # One MQTT CONNECT in three frames: binary (FIN=0), continuation, continuation (FIN=1).
            s.sendall(harness.ws_frame(packet[:3], 0x2, False) + harness.ws_frame(packet[3:9], 0x0, False) +
                      harness.ws_frame(packet[9:], 0x0, True))
            reply = b""
            while len(reply) < 6:
                chunk = s.recv(64)
                self.assertTrue(chunk, "closed before CONNACK")
                reply += chunk
            self.assertEqual(reply[0], 0x82)  # FIN + binary frame from the server
            self.assertEqual(reply[2:6], b"\x20\x02\x00\x00")  # CONNACK accepted

    def test_oversized_ws_message_closes_only_that_connection(self):
        topic = "tls/wsbig/" + uuid.uuid4().hex
        sub = self.subscriber(topic)
        big = self.paho(self.ws, transport="websockets")
        self.assertEqual(big.connect()[0], 0)
        big.publish(topic, b"x" * (MAX_WS_MESSAGE * 2), qos=0)
        self.assertTrue(big.disconnected.wait(WAIT), "the oversized message did not close the connection")
        self.assertTrue(self.log_has(self.open, "exceeded the locally configured limit"), self.open.log_text(tail=30))
        small = self.paho(self.ws, transport="websockets")
        self.assertEqual(small.connect()[0], 0)
        small.publish(topic, b"small", qos=1)
        self.assertEqual(sub.get().payload, b"small")

    # --- mTLS ----------------------------------------------------------------------------------

    def test_mtls_accepts_the_trusted_client_certificate(self):
        topic = "tls/mtls/" + uuid.uuid4().hex
        sub = MosqSub(self.mtls_tls, topic, qos=1, count=1,
                      extra=["--cafile", self.ca[1], "--cert", self.alice[0], "--key", self.alice[1]])
        try:
            sub.wait_subscribed()
            wss = self.paho(self.mtls_wss, transport="websockets", tls=tls_client_context(self.ca[1], self.alice))
            self.assertEqual(wss.connect()[0], 0)
            wss.publish(topic, b"mutual", qos=1)
            self.assertEqual(sub.finish(), 0)
            self.assertIn(topic + " mutual", sub.output_lines())
        finally:
            sub.kill()

    def test_mtls_refuses_no_certificate_and_another_cas_certificate(self):
        for extra in ([], ["--cert", self.mallory[0], "--key", self.mallory[1]]):
            r = subprocess.run([MOSQ_PUB, "-h", "127.0.0.1", "-p", str(self.mtls_tls), "--cafile", self.ca[1],
                                "-t", "tls/mtls/no", "-m", "no"] + extra, capture_output=True, timeout=WAIT)
            self.assertNotEqual(r.returncode, 0, r.stdout)
        self.assertTrue(self.log_has(self.mtls, "refused: peer did not return a certificate"),
                        self.mtls.log_text(tail=30))
        self.assertTrue(self.log_has(self.mtls, "refused: certificate verify failed"))
        c = self.paho(self.mtls_tls, tls=tls_client_context(self.ca[1], self.alice))
        self.assertEqual(c.connect()[0], 0)

    def test_mtls_certificate_common_name_is_the_role_with_authentication_on(self):
        """mqttAuthenticationMethods=tls: a verified client certificate without a password
        authenticates as its common name; no certificate is no credentials (return code 5 /
        0x87). Authorization shows the role is the CN: alice (a super user) may subscribe,
        bob (a certificate from the same CA, no grants) may not."""
        bob = make_cert(self.dir, "bob", "bob", self.ca)

        def auth_args(port, data_dir):
            return ["--mqttListeners=mqtt+ssl://127.0.0.1:0",
                    "--dataDir=" + data_dir, "--logLevel=debug",
                    "--mqttTlsCertificateFilePath=" + self.server[0], "--mqttTlsKeyFilePath=" + self.server[1],
                    "--mqttTlsTrustCertsFilePath=" + self.ca[1],
                    "--mqttAuthenticationEnabled=true", "--mqttAuthenticationMethods=tls",
                    "--mqttAuthorizationEnabled=true", "--superUserRoles=alice"]

        with harness.Broker(mop_args=auth_args) as broker:
            try:
                port = broker.ready["mqtt"][0]["port"]
                topic = "tls/role/" + uuid.uuid4().hex
                base = [MOSQ_PUB, "-h", "127.0.0.1", "-p", str(port), "--cafile", self.ca[1], "-t", topic, "-m", "x"]
                r = subprocess.run(base + ["-i", "alice-pub", "--cert", self.alice[0], "--key", self.alice[1]],
                                   capture_output=True, timeout=WAIT)
                self.assertEqual(r.returncode, 0, r.stderr)
                self.assertTrue(self.log_has(broker, "id=alice-pub peer="), broker.log_text(tail=30))
                self.assertRegex(broker.log_text(), r"client connected: id=alice-pub .* role=alice\b")
                # No certificate, no password: MQTT 3.1.1 return code 5, MQTT 5 reason code 0x87.
                for version, message in (("mqttv311", "not authorised"), ("mqttv5", "Not authorized")):
                    r = subprocess.run(base + ["-i", "nocert-" + version, "-V", version], capture_output=True,
                                       timeout=WAIT)
                    self.assertNotEqual(r.returncode, 0)
                    self.assertIn(message, (r.stdout + r.stderr).decode(), r)
                self.assertTrue(self.log_has(broker, "client nocert-mqttv311: authentication refused"),
                                broker.log_text(tail=30))
                # The role is the certificate's CN: the super user alice may subscribe, bob may not.
                alice = self.paho(port, tls=tls_client_context(self.ca[1], self.alice))
                self.assertEqual(alice.connect()[0], 0)
                self.assertEqual(alice.subscribe(topic), [1])
                bob_client = self.paho(port, tls=tls_client_context(self.ca[1], bob))
                self.assertEqual(bob_client.connect()[0], 0)
                self.assertEqual(bob_client.subscribe(topic), [0x80])
                self.assertRegex(broker.log_text(), r"role=bob\b")
            finally:
                for c in self.clients:
                    try:
                        c.disconnect()
                    except Exception:
                        pass
                self.clients = []

    def test_mtls_certificate_files_are_reloaded_when_they_change(self):
        def served_subject():
            r = subprocess.run([OPENSSL, "s_client", "-connect", "127.0.0.1:%d" % self.mtls_tls, "-CAfile",
                                self.ca[1], "-cert", self.alice[0], "-key", self.alice[1]],
                               input=b"", capture_output=True, timeout=WAIT)
            return r.stdout.decode("utf-8", "replace")
        self.assertIn("CN = mop-test-server", served_subject())
        crt, key = make_cert(self.dir, "renewed", "mop-renewed-server", self.ca, server=True)
        time.sleep(0.05)  # a later modification time than the first files'
        shutil.copy(key, self.mtls_key)
        shutil.copy(crt, self.mtls_cert)
        self.assertIn("CN = mop-renewed-server", served_subject())
        self.assertTrue(self.log_has(self.mtls, "certificate files changed, reloaded"))

    def test_mop_bench_over_tls_loses_nothing(self):
        # `mop bench`'s TLS transport (loadgen) against the TLS port: QoS 1, every message checked.
        r = subprocess.run([os.environ["MOP_BIN"], "bench", "pubsub", "-P", "2", "-S", "2", "-T", "2", "--qos", "1",
                            "--count", "2000", "--port", str(self.tls), "--cafile", self.ca[1], "--json"],
                           capture_output=True, timeout=60)
        self.assertEqual(r.returncode, 0, r.stderr[-2000:])
        summary = json.loads(r.stdout)
        # Two topics, one publisher and one subscriber on each; the bench's own check (exit 0) is
        # that every acknowledged message arrived, once, in order.
        self.assertEqual(summary["sent"], 4000)
        self.assertGreater(summary["received"], 0)
        self.assertFalse(summary["guarantees_broken"])
        self.assertEqual(summary["lost"], 0)
        self.assertEqual(summary["errors"], 0)

    def test_mop_bench_over_ws_and_wss_loses_nothing(self):
        # `mop bench --ws` (Beast's WebSocket client) against the ws and ws+ssl listeners: QoS 1,
        # every message checked; 3000-byte messages in WebSocket messages of at most this broker's
        # webSocketMaxFrameSize, so MQTT packets span WebSocket messages.
        for port, tls in ((self.ws, []), (self.wss, ["--cafile", self.ca[1]])):
            r = subprocess.run([os.environ["MOP_BIN"], "bench", "pubsub", "-P", "2", "-S", "2", "-T", "2", "--qos",
                                "1", "--size", "3000", "--count", "500", "--port", str(port), "--ws",
                                "--ws-max-message", str(MAX_WS_MESSAGE), "--json"] + tls,
                               capture_output=True, timeout=60)
            self.assertEqual(r.returncode, 0, r.stderr[-2000:])
            summary = json.loads(r.stdout)
            self.assertEqual(summary["sent"], 1000)
            self.assertGreater(summary["received"], 0)
            self.assertFalse(summary["guarantees_broken"])
            self.assertEqual(summary["lost"], 0)
            self.assertEqual(summary["errors"], 0)
            self.assertEqual(summary["connections"]["ready"], 4)

    def test_allow_insecure_connection_lets_the_handshake_go_on_without_a_role(self):
        """mqttTlsAllowInsecureConnection: a certificate from another CA no longer fails the TLS
        handshake, but it is not verified, so its common name is no role: with authentication by
        certificate, mallory gets a CONNACK refusing her (not a TLS error); alice's verified one
        still authenticates."""
        def insecure_args(port, data_dir):
            return ["--mqttListeners=mqtt+ssl://127.0.0.1:0",
                    "--dataDir=" + data_dir, "--logLevel=debug",
                    "--mqttTlsCertificateFilePath=" + self.server[0], "--mqttTlsKeyFilePath=" + self.server[1],
                    "--mqttTlsTrustCertsFilePath=" + self.ca[1], "--mqttTlsAllowInsecureConnection=true",
                    "--mqttAuthenticationEnabled=true", "--mqttAuthenticationMethods=tls"]

        with harness.Broker(mop_args=insecure_args) as broker:
            port = broker.ready["mqtt"][0]["port"]
            base = [MOSQ_PUB, "-h", "127.0.0.1", "-p", str(port), "--cafile", self.ca[1], "-t", "tls/insecure",
                    "-m", "x"]
            r = subprocess.run(base + ["-i", "mallory-pub", "--cert", self.mallory[0], "--key", self.mallory[1]],
                               capture_output=True, timeout=WAIT)
            self.assertNotEqual(r.returncode, 0)
            self.assertIn("not authorised", (r.stdout + r.stderr).decode(), r)
            self.assertTrue(self.log_has(broker, "client mallory-pub: authentication refused"),
                            broker.log_text(tail=30))
            self.assertNotIn("certificate verify failed", broker.log_text())
            r = subprocess.run(base + ["-i", "alice-pub", "--cert", self.alice[0], "--key", self.alice[1]],
                               capture_output=True, timeout=WAIT)
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertRegex(broker.log_text(), r"client connected: id=alice-pub .* role=alice\b")

    # --- Pulsar over TLS -----------------------------------------------------------------------

    def test_official_pulsar_client_over_pulsar_ssl(self):
        try:
            import pulsar
        except ImportError:
            self.skipTest("the official pulsar-client is in .cache/venv (run this suite with its python)")
        url = self.open.ready["pulsarTls"]["url"]
        self.assertTrue(url.startswith("pulsar+ssl://127.0.0.1:"), url)
        client = pulsar.Client(url, tls_trust_certs_file_path=self.ca[1], tls_validate_hostname=True,
                               operation_timeout_seconds=10)
        try:
            topic = "persistent://public/default/tls-" + uuid.uuid4().hex
            consumer = client.subscribe(topic, "s")
            producer = client.create_producer(topic)
            producer.send(b"pulsar over tls")
            msg = consumer.receive(timeout_millis=int(WAIT * 1000))
            self.assertEqual(msg.data(), b"pulsar over tls")
            consumer.acknowledge(msg)
        finally:
            client.close()

    # --- runs last: the silent connection opened in setUpClass -----------------------------------

    def test_z_handshake_that_never_comes_is_closed(self):
        left = HANDSHAKE_TIMEOUT + 5 - (time.monotonic() - self.silent_opened)
        self.assertTrue(closed_by_peer(self.silent, max(left, 1.0)), "the silent connection is still open")
        self.assertIn("not done after 10000 ms", self.open.log_text())
        self.assert_serves()


if __name__ == "__main__":
    unittest.main()
