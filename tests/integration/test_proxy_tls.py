"""mop proxy's own listeners and its secure link to the cluster (issues 16 and 14), with real
peers we did not write: mosquitto_pub/mosquitto_sub (--cafile, --psk, -u/-P), python3-paho-mqtt
over TLS, WebSocket and WebSocket over TLS, and `openssl s_client`; tokens and keys made with
`mop token`.

The cluster is `mop standalone` serving the Pulsar protocol: one plain backend under the listener
cases, one with the Pulsar protocol over TLS (brokerServicePortTls) and token authentication
(authenticationEnabled) under the cluster-link cases, one with TLS client certificates and
authorization, one whose certificate names another host, one under two `$share` members. The last
class starts one real Apache Pulsar with a TLS port (scripts/pulsar-standalone) for the proxy and
the official Python client over pulsar+ssl://. Each backend also serves plain MQTT without authentication, so a client connected to the
backend directly sees what went through a proxy (and the other way round). Certificates are made
here with `openssl`, tokens and keys with `mop token`. Run with the venv python that scripts/setup
makes (.cache/venv/bin/python) and MOP_BIN set.
"""

import os
import shutil
import socket
import subprocess
import tempfile
import unittest
import uuid

import paho.mqtt.client as mqtt

import harness
from clients import MOSQ_PUB, MosqSub, PahoClient
from test_tls import OPENSSL, make_ca, make_cert, mqtt_connect_packet, closed_by_peer, tls_client_context

MOP_BIN = os.environ.get("MOP_BIN", "")
WAIT = 10.0
START_TIMEOUT = 40.0
PSK_IDENTITY, PSK_SECRET = "gateway", "proxy-psk-secret"
PASSWORD = "alice-Proxy-1"


def uid():
    return uuid.uuid4().hex[:10]


def mop_token(*args):
    r = subprocess.run([os.path.abspath(MOP_BIN), "token"] + list(args), capture_output=True, timeout=30)
    assert r.returncode == 0, r.stderr
    return r.stdout.decode().strip()


class Proxy:
    """One `mop proxy` process; `ports` maps each scheme of its start-up line to its port."""

    def __init__(self, args):
        self.args = list(args)
        self.log = tempfile.NamedTemporaryFile(prefix="mop-proxy-tls-", suffix=".log", delete=False)
        self.proc = None
        self.ready = None
        self.ports = {}

    def start(self):
        self.proc = subprocess.Popen([os.path.abspath(MOP_BIN), "proxy"] + self.args, stdout=self.log,
                                     stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        self.ready = harness.wait_ready(self.log.name, self.proc, timeout=START_TIMEOUT)
        if self.ready is None:
            text = self.log_text()
            self.stop()
            raise AssertionError("mop proxy did not start:\n" + text)
        self.ports = {l["scheme"]: l["port"] for l in self.ready["mqtt"]}
        return self

    def log_text(self):
        with open(self.log.name, errors="replace") as f:
            return f.read()

    def log_has(self, text, timeout=WAIT):
        return harness.wait_until(lambda: text in self.log_text(), timeout)

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        try:
            os.unlink(self.log.name)
        except OSError:
            pass


def run_proxy_expecting_failure(args, timeout=START_TIMEOUT):
    """Runs `mop proxy` that must not start; returns (exit code, output)."""
    r = subprocess.run([os.path.abspath(MOP_BIN), "proxy"] + list(args), capture_output=True, timeout=timeout,
                       stdin=subprocess.DEVNULL)
    return r.returncode, (r.stdout + r.stderr).decode("utf-8", "replace")


class Keys:
    """Certificates, the token secret, a basic users file: made once for the module."""

    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="mop-proxy-tls-")
        d = self.dir
        self.ca = make_ca(d, "good")
        self.other_ca = make_ca(d, "other")
        self.server = make_cert(d, "server", "mop-proxy-test", self.ca, server=True)
        self.secret = os.path.join(d, "secret.key")
        mop_token("create-secret-key", "--output", self.secret)
        self.other_secret = os.path.join(d, "other-secret.key")
        mop_token("create-secret-key", "--output", self.other_secret)
        digest = subprocess.run(["openssl", "passwd", "-apr1", PASSWORD], capture_output=True, text=True,
                                check=True).stdout.strip()
        self.users = os.path.join(d, "users.conf")
        with open(self.users, "w") as f:
            f.write("alice:%s\n" % digest)

    def token(self, subject, secret=None):
        return mop_token("create", "--secret-key", "file://" + (secret or self.secret), "--subject", subject)


K = None


def setUpModule():
    global K
    if not MOP_BIN:
        raise unittest.SkipTest("MOP_BIN is not set")
    K = Keys()


def tearDownModule():
    if K is not None:
        shutil.rmtree(K.dir, ignore_errors=True)


def backend(extra=()):
    """mop standalone as the cluster, with retention as a Pulsar cluster has in effect (see
    test_proxy.MopBackend)."""

    def args(port, data_dir):
        return ["--mqttListeners=mqtt://127.0.0.1:%d" % port, "--dataDir=" + data_dir, "--logLevel=debug",
                "--defaultRetentionTimeInMinutes=60", "--defaultRetentionSizeInMB=100"] + list(extra)

    return harness.Broker(mop_args=args).start()


def paho(port, transport="tcp", tls=None, user=None, password=None):
    c = PahoClient(port)
    c.c = mqtt.Client(client_id="p-" + uid(), clean_session=True, protocol=mqtt.MQTTv311, transport=transport)
    c.c.on_connect, c.c.on_message = c._on_connect, c._on_message
    c.c.on_subscribe, c.c.on_disconnect = c._on_subscribe, c._on_disconnect
    if transport == "websockets":
        c.c.ws_set_options(path="/mqtt")
    if tls is not None:
        c.c.tls_set_context(tls)
    if user is not None or password is not None:
        c.c.username_pw_set(user or "", password)
    return c


def close(c):
    try:
        c.c.disconnect()
        c.c.loop_stop()
    except Exception:
        pass


class ProxyListenersTest(unittest.TestCase):
    """One proxy with every MQTT scheme and MQTT authentication (basic, token) over a plain cluster."""

    @classmethod
    def setUpClass(cls):
        cls.cluster = backend()
        try:
            cls.proxy = Proxy([
                "--brokerServiceURL=pulsar://127.0.0.1:%d" % cls.cluster.pulsar_port,
                "--mqttListeners=mqtt+ssl://127.0.0.1:0,mqtt+ssl+psk://127.0.0.1:0,ws://127.0.0.1:0,ws+ssl://127.0.0.1:0",
                # MoP's keys for the certificate; the CA falls back to Pulsar's key.
                "--mqttTlsCertificateFilePath=" + K.server[0], "--mqttTlsKeyFilePath=" + K.server[1],
                "--tlsTrustCertsFilePath=" + K.ca[1],
                "--mqttTlsPskEnabled=true", "--mqttTlsPskIdentity=%s:%s" % (PSK_IDENTITY, PSK_SECRET),
                "--mqttAuthenticationEnabled=true", "--mqttAuthenticationMethods=basic,token",
                "--basicAuthConf=" + K.users, "--tokenSecretKey=file://" + K.secret, "--logLevel=debug"]).start()
        except BaseException:
            cls.cluster.cleanup()
            raise
        cls.tls, cls.psk, cls.ws, cls.wss = (cls.proxy.ports[s] for s in ("mqtt+ssl", "mqtt+ssl+psk", "ws", "ws+ssl"))

    @classmethod
    def tearDownClass(cls):
        cls.proxy.stop()
        cls.cluster.stop()
        cls.cluster.cleanup()

    def direct(self, topic=None):
        """A plain client of the cluster itself (mop standalone's MQTT), subscribed to `topic`."""
        c = PahoClient(self.cluster.port, client_id="d-" + uid())
        self.assertEqual(c.connect()[0], 0)
        self.addCleanup(close, c)
        if topic is not None:
            self.assertEqual(c.subscribe([(topic, 1)]), [1])
        return c

    def connected(self, c):
        self.addCleanup(close, c)
        rc, _ = c.connect()
        self.assertEqual(rc, 0)
        return c

    def test_mosquitto_over_tls_with_a_token_reaches_the_cluster(self):
        topic = "ptls/mosq/" + uid()
        sub = self.direct(topic)
        r = subprocess.run([MOSQ_PUB, "-h", "127.0.0.1", "-p", str(self.tls), "--cafile", K.ca[1], "-u", "ignored",
                            "-P", K.token("sensor-1"), "-t", topic, "-q", "1", "-m", "via proxy tls"],
                           capture_output=True, timeout=WAIT)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(sub.get(WAIT).payload, b"via proxy tls")

    def test_mosquitto_sub_over_tls_with_basic_gets_what_the_cluster_publishes(self):
        topic = "ptls/mosqsub/" + uid()
        sub = MosqSub(self.tls, topic, qos=1, count=1,
                      extra=["--cafile", K.ca[1], "-u", "alice", "-P", PASSWORD]).wait_subscribed()
        try:
            self.direct().publish(topic, "from the cluster", qos=1)
            self.assertEqual(sub.finish(), 0)
            self.assertIn(topic + " from the cluster", sub.output_lines())
        finally:
            sub.kill()

    def test_paho_over_websocket_and_websocket_tls(self):
        topic = "ptls/ws/" + uid()
        ws = self.connected(paho(self.ws, transport="websockets", user="alice", password=PASSWORD))
        self.assertEqual(ws.subscribe([(topic, 1)]), [1])
        wss = self.connected(paho(self.wss, transport="websockets", tls=tls_client_context(K.ca[1]),
                                  password=K.token("browser")))
        wss.publish(topic, b"over wss", qos=1)
        self.assertEqual(ws.get(WAIT).payload, b"over wss")
        self.direct().publish(topic, b"from the cluster", qos=1)
        self.assertEqual(ws.get(WAIT).payload, b"from the cluster")

    def test_psk_with_basic_credentials(self):
        topic = "ptls/psk/" + uid()
        sub = self.direct(topic)
        r = subprocess.run([MOSQ_PUB, "-h", "127.0.0.1", "-p", str(self.psk), "--psk", PSK_SECRET.encode().hex(),
                            "--psk-identity", PSK_IDENTITY, "-u", "alice", "-P", PASSWORD, "-t", topic, "-q", "1",
                            "-m", "over psk"], capture_output=True, timeout=WAIT)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(sub.get(WAIT).payload, b"over psk")

    def test_bad_credentials_are_refused_as_by_standalone(self):
        ctx = tls_client_context(K.ca[1])
        foreign = K.token("robot", secret=K.other_secret)
        cases = [("alice", "wrong", 4), (None, None, 5), ("x", foreign, 4)]
        for user, password, expected in cases:
            with self.subTest(user=user):
                c = paho(self.tls, tls=ctx, user=user, password=password)
                self.addCleanup(close, c)
                self.assertEqual(c.connect()[0], expected)
        self.assertTrue(self.proxy.log_has("authentication refused"), self.proxy.log_text()[-3000:])
        self.assertNotIn(foreign, self.proxy.log_text())
        self.assertNotIn("wrong", self.proxy.log_text().replace("wrong version", ""))
        # Everyone else is still served.
        self.connected(paho(self.tls, tls=ctx, user="alice", password=PASSWORD))

    def test_openssl_s_client_verifies_the_proxy_certificate_and_plain_text_is_refused(self):
        r = subprocess.run([OPENSSL, "s_client", "-connect", "127.0.0.1:%d" % self.tls, "-CAfile", K.ca[1],
                            "-verify_return_error", "-verify_ip", "127.0.0.1"],
                           input=mqtt_connect_packet("s-client-" + uid()), capture_output=True, timeout=WAIT)
        out = r.stdout.decode("utf-8", "replace")
        self.assertIn("Verify return code: 0 (ok)", out)
        self.assertIn("CN = mop-proxy-test", out)
        with socket.create_connection(("127.0.0.1", self.tls)) as s:
            s.sendall(mqtt_connect_packet("plain-on-tls"))
            self.assertTrue(closed_by_peer(s))
        self.assertTrue(self.proxy.log_has("wrong version number"), self.proxy.log_text()[-3000:])

    def test_mop_port_keys_without_mqtt_listeners(self):
        """MoP's mqttProxyPort / mqttProxyTlsEnabled+mqttProxyTlsPort and mop's mqttProxyWsPort /
        mqttProxyWssPort, each on every interface (port 0: a free one)."""
        p = Proxy(["--brokerServiceURL=pulsar://127.0.0.1:%d" % self.cluster.pulsar_port, "--mqttProxyPort=0",
                   "--mqttProxyTlsEnabled=true", "--mqttProxyTlsPort=0", "--mqttProxyWsPort=0",
                   "--mqttProxyWssPort=0", "--tlsCertificateFilePath=" + K.server[0],
                   "--tlsKeyFilePath=" + K.server[1]]).start()
        self.addCleanup(p.stop)
        self.assertEqual([(l["scheme"], l["host"]) for l in p.ready["mqtt"]],
                         [("mqtt", "0.0.0.0"), ("mqtt+ssl", "0.0.0.0"), ("ws", "0.0.0.0"), ("ws+ssl", "0.0.0.0")])
        topic = "ptls/ports/" + uid()
        sub = self.connected(paho(p.ports["ws+ssl"], transport="websockets", tls=tls_client_context(K.ca[1])))
        self.assertEqual(sub.subscribe([(topic, 0)]), [0])
        r = subprocess.run([MOSQ_PUB, "-h", "127.0.0.1", "-p", str(p.ports["mqtt+ssl"]), "--cafile", K.ca[1],
                            "-t", topic, "-m", "mop ports"], capture_output=True, timeout=WAIT)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(sub.get(WAIT).payload, b"mop ports")

    def test_a_bad_certificate_file_stops_the_start(self):
        code, out = run_proxy_expecting_failure([
            "--brokerServiceURL=pulsar://127.0.0.1:%d" % self.cluster.pulsar_port,
            "--mqttListeners=mqtt+ssl://127.0.0.1:0", "--mqttTlsCertificateFilePath=" + K.dir + "/missing.pem",
            "--mqttTlsKeyFilePath=" + K.server[1]])
        self.assertEqual(code, 1, out)
        self.assertIn("cannot use certificate file", out)
        self.assertNotIn("mop-ready", out)



class ProxyToSecureClusterTest(unittest.TestCase):
    """The cluster serves the Pulsar protocol over TLS and wants a token on every connection
    (authenticationEnabled, AuthenticationProviderToken): the proxy connects with pulsar+ssl://,
    brokerClientTrustCertsFilePath and AuthenticationToken, as Pulsar's own proxy and brokers do."""

    @classmethod
    def setUpClass(cls):
        cls.cluster = backend([
            "--brokerServicePortTls=0", "--tlsCertificateFilePath=" + K.server[0],
            "--tlsKeyFilePath=" + K.server[1], "--authenticationEnabled=true",
            "--authenticationProviders=org.apache.pulsar.broker.authentication.AuthenticationProviderToken",
            "--tokenSecretKey=file://" + K.secret])
        cls.tls_url = cls.cluster.ready["pulsarTls"]["url"]
        cls.proxy_token = K.token("mop-proxy")

    @classmethod
    def tearDownClass(cls):
        cls.cluster.stop()
        cls.cluster.cleanup()

    def args(self, *extra):
        return ["--brokerServiceURL=" + self.tls_url, "--mqttListeners=mqtt://127.0.0.1:0",
                "--brokerClientTlsEnabled=true"] + list(extra)

    def token_plugin(self, parameters):
        return ["--brokerClientAuthenticationPlugin=org.apache.pulsar.client.impl.auth.AuthenticationToken",
                "--brokerClientAuthenticationParameters=" + parameters]

    def round_trip(self, proxy):
        """QoS 1 through the proxy reaches a client of the cluster, and back."""
        topic = "ptls/cluster/" + uid()
        direct = PahoClient(self.cluster.port, client_id="d-" + uid())
        self.assertEqual(direct.connect()[0], 0)
        self.addCleanup(close, direct)
        self.assertEqual(direct.subscribe([(topic, 1)]), [1])
        via = PahoClient(proxy.ports["mqtt"], client_id="v-" + uid())
        self.assertEqual(via.connect()[0], 0)
        self.addCleanup(close, via)
        self.assertEqual(via.subscribe([(topic, 1)]), [1])
        via.publish(topic, b"through pulsar+ssl", qos=1)  # PUBACK after the cluster's receipt
        self.assertEqual(direct.get(WAIT).payload, b"through pulsar+ssl")
        self.assertEqual(via.get(WAIT).payload, b"through pulsar+ssl")
        direct.publish(topic, b"from the cluster", qos=1)
        self.assertEqual(via.get(WAIT).payload, b"from the cluster")

    def test_token_parameter_and_trust_file(self):
        proxy = Proxy(self.args("--brokerClientTrustCertsFilePath=" + K.ca[1],
                                *self.token_plugin("token:" + self.proxy_token))).start()
        self.addCleanup(proxy.stop)
        self.round_trip(proxy)
        self.assertNotIn(self.proxy_token, proxy.log_text())
        # The cluster saw the proxy's role on its TLS port.
        self.assertTrue(harness.wait_until(lambda: "mop-proxy" in self.cluster.log_text(), WAIT))

    def test_token_file_and_pulsars_trust_fallback(self):
        """file:///path as Pulsar reads it, and tlsTrustCertsFilePath when
        brokerClientTrustCertsFilePath is empty (Pulsar's broker client does the same)."""
        token_file = os.path.join(K.dir, "proxy.token")
        with open(token_file, "w") as f:
            f.write(self.proxy_token + "\n")
        proxy = Proxy(self.args("--tlsTrustCertsFilePath=" + K.ca[1],
                                *self.token_plugin("file://" + token_file))).start()
        self.addCleanup(proxy.stop)
        self.round_trip(proxy)

    def test_a_wrong_or_missing_token_is_a_clear_start_error(self):
        foreign = K.token("mop-proxy", secret=K.other_secret)
        for extra, hint in ((self.token_plugin("token:" + foreign), "check brokerClientAuthenticationParameters"),
                            ([], "set brokerClientAuthenticationPlugin")):
            with self.subTest(hint=hint):
                code, out = run_proxy_expecting_failure(self.args("--brokerClientTrustCertsFilePath=" + K.ca[1],
                                                                  *extra))
                self.assertEqual(code, 1, out)
                self.assertIn("refused the proxy's credentials", out)
                self.assertIn(hint, out)
                self.assertNotIn("mop-ready", out)
                self.assertNotIn(foreign, out)

    def test_a_certificate_from_another_ca_is_a_clear_start_error(self):
        code, out = run_proxy_expecting_failure(self.args("--brokerClientTrustCertsFilePath=" + K.other_ca[1],
                                                          *self.token_plugin("token:" + self.proxy_token)))
        self.assertEqual(code, 1, out)
        self.assertIn("cannot reach the Apache Pulsar cluster", out)
        self.assertIn("certificate verify failed", out)
        self.assertNotIn("mop-ready", out)

    def test_tls_asked_for_with_a_plain_url_is_refused(self):
        code, out = run_proxy_expecting_failure(["--brokerServiceURL=pulsar://127.0.0.1:%d" % self.cluster.pulsar_port,
                                                 "--brokerClientTlsEnabled=true"])
        self.assertEqual(code, 2, out)
        self.assertIn("brokerClientTlsEnabled=true needs pulsar+ssl://", out)



def admin_request(broker, method, path, token, body=None):
    """One admin API v2 call to mop standalone's web service as `token`'s role; returns the status."""
    import urllib.error
    import urllib.request
    req = urllib.request.Request("http://127.0.0.1:%d%s" % (broker.web_port, path), method=method,
                                 data=None if body is None else body.encode(),
                                 headers={"Authorization": "Bearer " + token, "Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=WAIT) as r:
            return r.status
    except urllib.error.HTTPError as e:
        return e.code


class ProxyWithClientCertificateTest(unittest.TestCase):
    """mTLS towards the cluster: the proxy presents a client certificate with Pulsar's
    AuthenticationTls (brokerClientAuthenticationParameters in both of Pulsar's forms); the cluster
    (mop standalone with AuthenticationProviderTls and authorization) takes its common name as the
    role and applies that role's grants."""

    @classmethod
    def setUpClass(cls):
        cls.proxy_cert = make_cert(K.dir, "proxy-client", "mop-proxy-mtls", K.ca)
        cls.stranger_cert = make_cert(K.dir, "stranger-client", "stranger", K.ca)  # trusted CA, no grants
        cls.foreign_cert = make_cert(K.dir, "foreign-client", "mop-proxy-mtls", K.other_ca)  # same CN, other CA
        cls.cluster = backend([
            "--brokerServicePortTls=0", "--tlsCertificateFilePath=" + K.server[0],
            "--tlsKeyFilePath=" + K.server[1], "--tlsTrustCertsFilePath=" + K.ca[1],
            "--authenticationEnabled=true",
            "--authenticationProviders=org.apache.pulsar.broker.authentication.AuthenticationProviderTls,"
            "org.apache.pulsar.broker.authentication.AuthenticationProviderToken",
            "--tokenSecretKey=file://" + K.secret, "--authorizationEnabled=true", "--superUserRoles=admin"])
        cls.tls_url = cls.cluster.ready["pulsarTls"]["url"]
        admin = K.token("admin")
        # The proxy's role may use its state namespace and the MQTT topics' namespace, nothing else.
        for ns in ("public/mop-system", "public/default"):
            status = admin_request(cls.cluster, "POST", "/admin/v2/namespaces/%s/permissions/mop-proxy-mtls" % ns,
                                   admin, '["produce","consume"]')
            assert status == 204, status

    @classmethod
    def tearDownClass(cls):
        cls.cluster.stop()
        cls.cluster.cleanup()

    def args(self, cert, form="pairs"):
        parameters = ("tlsCertFile:%s,tlsKeyFile:%s" % cert if form == "pairs"
                      else '{"tlsCertFile":"%s","tlsKeyFile":"%s"}' % cert)
        return ["--brokerServiceURL=" + self.tls_url, "--mqttListeners=mqtt://127.0.0.1:0",
                "--brokerClientTrustCertsFilePath=" + K.ca[1],
                "--brokerClientAuthenticationPlugin=org.apache.pulsar.client.impl.auth.AuthenticationTls",
                "--brokerClientAuthenticationParameters=" + parameters]

    def test_the_certificates_common_name_is_the_proxys_role_in_both_parameter_forms(self):
        for form in ("pairs", "json"):
            with self.subTest(form=form):
                proxy = Proxy(self.args(self.proxy_cert, form)).start()
                try:
                    ProxyToSecureClusterTest.round_trip(self, proxy)
                finally:
                    proxy.stop()
        # The cluster admitted the proxy's connections by certificate, under its common name.
        self.assertTrue(harness.wait_until(lambda: "mop-proxy-mtls" in self.cluster.log_text(), WAIT),
                        self.cluster.log_text()[-3000:])

    def test_authorization_applies_to_the_certificates_role(self):
        """A certificate of the trusted CA whose role has no grants: authenticated, then refused on
        the state topics, and the start says so."""
        code, out = run_proxy_expecting_failure(self.args(self.stranger_cert))
        self.assertEqual(code, 1, out)
        self.assertIn("mqttProxySystemNamespace", out)
        self.assertIn("AuthorizationError", out)
        self.assertNotIn("mop-ready", out)

    def test_a_certificate_of_another_ca_is_refused(self):
        code, out = run_proxy_expecting_failure(self.args(self.foreign_cert))
        self.assertEqual(code, 1, out)
        self.assertNotIn("mop-ready", out)
        self.assertTrue("refused the proxy's credentials" in out or "cannot reach the Apache Pulsar cluster" in out,
                        out)
        self.assertIn("brokerClientAuthenticationParameters", out)

    def test_a_missing_key_file_is_a_clear_start_error(self):
        code, out = run_proxy_expecting_failure(self.args((self.proxy_cert[0], K.dir + "/missing.key")))
        self.assertEqual(code, 2, out)
        self.assertIn("cannot read the client key", out)
        self.assertNotIn("mop-ready", out)


class ProxyTlsHostnameVerificationTest(unittest.TestCase):
    """tlsHostnameVerificationEnabled: the cluster's certificate (of a trusted CA) names
    pulsar.mop.test, not the address the proxy connects to. mop's default (true) refuses it with
    a clear start error; false (Pulsar's default) checks only the chain and connects."""

    @classmethod
    def setUpClass(cls):
        cls.misnamed = make_cert(K.dir, "misnamed", "pulsar.mop.test", K.ca,
                                 ext="subjectAltName=DNS:pulsar.mop.test")
        cls.cluster = backend(["--brokerServicePortTls=0", "--tlsCertificateFilePath=" + cls.misnamed[0],
                               "--tlsKeyFilePath=" + cls.misnamed[1]])
        cls.tls_url = cls.cluster.ready["pulsarTls"]["url"]

    @classmethod
    def tearDownClass(cls):
        cls.cluster.stop()
        cls.cluster.cleanup()

    def args(self, *extra):
        return ["--brokerServiceURL=" + self.tls_url, "--mqttListeners=mqtt://127.0.0.1:0",
                "--brokerClientTrustCertsFilePath=" + K.ca[1]] + list(extra)

    def test_by_default_a_certificate_naming_another_host_stops_the_start(self):
        code, out = run_proxy_expecting_failure(self.args())
        self.assertEqual(code, 1, out)
        self.assertIn("IP address mismatch", out)
        self.assertIn("tlsHostnameVerificationEnabled=false", out)
        self.assertNotIn("mop-ready", out)

    def test_verification_off_checks_the_chain_only(self):
        proxy = Proxy(self.args("--tlsHostnameVerificationEnabled=false")).start()
        self.addCleanup(proxy.stop)
        ProxyToSecureClusterTest.round_trip(self, proxy)
        # The chain is still checked: another CA's trust file fails even without the name check.
        code, out = run_proxy_expecting_failure(["--brokerServiceURL=" + self.tls_url,
                                                 "--mqttListeners=mqtt://127.0.0.1:0",
                                                 "--brokerClientTrustCertsFilePath=" + K.other_ca[1],
                                                 "--tlsHostnameVerificationEnabled=false"])
        self.assertEqual(code, 1, out)
        self.assertIn("certificate verify failed", out)



class ProxySharedSubscriptionPrefetchTest(unittest.TestCase):
    """Two members of one `$share` group through the proxy; one stops reading (its paho loop
    stopped: no more reads, no PUBACKs). It keeps what is in flight to it (receiveMaximum) and at
    most twice mqttSharedSubscriptionReceiverQueueSize more, so the other member gets the rest
    while the stalled one stays connected; when its connection ends, Pulsar redelivers what its
    consumer held and the other member gets every message."""

    WINDOW = 5   # receiveMaximum: QoS 1 messages in flight to one client
    QUEUE = 4    # mqttSharedSubscriptionReceiverQueueSize
    N = 200

    @classmethod
    def setUpClass(cls):
        cls.cluster = backend()
        try:
            cls.proxy = Proxy(["--brokerServiceURL=pulsar://127.0.0.1:%d" % cls.cluster.pulsar_port,
                               "--mqttListeners=mqtt://127.0.0.1:0", "--receiveMaximum=%d" % cls.WINDOW,
                               "--mqttSharedSubscriptionReceiverQueueSize=%d" % cls.QUEUE]).start()
        except BaseException:
            cls.cluster.cleanup()
            raise

    @classmethod
    def tearDownClass(cls):
        cls.proxy.stop()
        cls.cluster.stop()
        cls.cluster.cleanup()

    def test_a_member_that_stops_reading_holds_little_and_gives_it_back_when_gone(self):
        topic = "ptls/share/" + uid()
        group = "$share/workers-%s/%s" % (uid(), topic)
        port = self.proxy.ports["mqtt"]
        keen = PahoClient(port, client_id="keen-" + uid())
        self.assertEqual(keen.connect()[0], 0)
        self.addCleanup(close, keen)
        self.assertEqual(keen.subscribe([(group, 1)]), [1])
        stalled = PahoClient(port, client_id="stalled-" + uid())
        self.assertEqual(stalled.connect()[0], 0)
        self.addCleanup(close, stalled)
        self.assertEqual(stalled.subscribe([(group, 1)]), [1])
        stalled.c.loop_stop()  # reads nothing more, acknowledges nothing more
        publisher = PahoClient(self.cluster.port, client_id="pub-" + uid())
        self.assertEqual(publisher.connect()[0], 0)
        self.addCleanup(close, publisher)
        for i in range(self.N):
            publisher.publish(topic, b"m%03d" % i, qos=1)
        got = set()

        def take():
            while True:
                try:
                    got.add(keen.messages.get_nowait().payload)
                except Exception:
                    return len(got)

        # While the stalled member is connected, all but what it may hold reach the keen one.
        bound = self.WINDOW + 2 * self.QUEUE
        self.assertTrue(harness.wait_until(lambda: take() >= self.N - bound, 30),
                        "the keen member got %d of %d; the stalled one may hold %d" % (len(got), self.N, bound))
        # The stalled member's connection ends: what its consumer held goes to the keen member.
        stalled.c.socket().close()
        self.assertTrue(harness.wait_until(lambda: take() == self.N, 30),
                        "after the stalled member left: %d of %d" % (len(got), self.N))
        self.assertEqual(got, {b"m%03d" % i for i in range(self.N)})


class ProxyToApachePulsarOverTlsTest(unittest.TestCase):
    """A real Apache Pulsar standalone serving the Pulsar protocol over TLS (brokerServicePortTls
    with tlsCertificateFilePath / tlsKeyFilePath / tlsTrustCertsFilePath, given to
    scripts/pulsar-standalone): the proxy connects with pulsar+ssl:// (lookups answered with
    Pulsar's brokerServiceUrlTls), and the official Python client reads and writes the same topic
    over TLS. One Pulsar start for the class (CTest RESOURCE_LOCK apache_pulsar)."""

    @classmethod
    def setUpClass(cls):
        cls.pulsar = harness.ApachePulsar(
            prefix="mop-proxy-tls-pulsar-", own=True,
            settings=harness.PULSAR_RETENTION + ["tlsCertificateFilePath=" + K.server[0],
                                                 "tlsKeyFilePath=" + K.server[1],
                                                 "tlsTrustCertsFilePath=" + K.ca[1]])
        cls.pulsar.start()
        try:
            assert cls.pulsar.tls_url, "scripts/pulsar-standalone printed no PULSAR_TLS_URL"
            # The proxies' namespace, as a user creates it.
            harness.create_pulsar_namespace(cls.pulsar.http, "public/mop-system")
            cls.proxy = Proxy(["--brokerServiceURL=" + cls.pulsar.tls_url, "--brokerClientTlsEnabled=true",
                               "--brokerClientTrustCertsFilePath=" + K.ca[1],
                               "--mqttListeners=mqtt://127.0.0.1:0"]).start()
        except BaseException:
            cls.pulsar.stop()
            raise

    @classmethod
    def tearDownClass(cls):
        try:
            cls.proxy.stop()
        finally:
            cls.pulsar.stop()

    def test_qos1_through_the_proxy_and_the_official_client_over_tls(self):
        import pulsar
        local = "ptls-apache-" + uid()
        client = pulsar.Client(self.pulsar.tls_url, tls_trust_certs_file_path=K.ca[1],
                               tls_validate_hostname=True, operation_timeout_seconds=int(WAIT))
        self.addCleanup(client.close)
        consumer = client.subscribe("persistent://public/default/" + local, "pulsar-reader",
                                    initial_position=pulsar.InitialPosition.Earliest)
        port = self.proxy.ports["mqtt"]
        sub = PahoClient(port, client_id="s-" + uid())
        self.assertEqual(sub.connect()[0], 0)
        self.addCleanup(close, sub)
        self.assertEqual(sub.subscribe([(local, 1)]), [1])
        pub = PahoClient(port, client_id="p-" + uid())
        self.assertEqual(pub.connect()[0], 0)
        self.addCleanup(close, pub)
        sent = [b"tls-%02d" % i for i in range(20)]
        for payload in sent:
            pub.publish(local, payload, qos=1)  # PUBACK after Apache Pulsar's receipt
        self.assertEqual([sub.get(WAIT).payload for _ in sent], sent)
        read = []
        for _ in sent:
            msg = consumer.receive(timeout_millis=int(WAIT * 1000))
            read.append(msg.data())
            consumer.acknowledge(msg)
        self.assertEqual(read, sent)
        # And the other way: a Pulsar producer over TLS reaches the MQTT subscriber.
        producer = client.create_producer("persistent://public/default/" + local)
        producer.send(b"from the official client")
        m = sub.get(WAIT)
        self.assertEqual((m.topic, m.payload, m.qos), (local, b"from the official client", 1))


if __name__ == "__main__":
    unittest.main()
