"""The web service over TLS (webServicePortTls) and Pulsar's TLS authentication provider
(AuthenticationProviderTls) on the Pulsar TLS port and on https (issue 16), with clients we did
not write: curl (--cacert, --cert/--key), `openssl s_client` and the official Pulsar Python client
(AuthenticationTLS). Certificates are made here with `openssl` (certs.py).

One broker with authentication and authorization on: providers Tls and Token, super user
`admin`, client certificates asked for (and verified) but not required. A second, short-lived one
requires them (tlsRequireTrustedClientCertOnConnect). Bad input: no certificate, a certificate
from another CA, plain HTTP on the https port, an https client that does not trust the server, a
`tls` CONNECT on the plain Pulsar port; each refused with a clear error and a log line while the
broker serves everyone else.

Run with the venv python (it has the official pulsar-client)."""

import json
import os
import shutil
import subprocess
import tempfile
import time
import unittest
import uuid

import harness
from certs import OPENSSL, make_ca, make_cert

WAIT = 10.0
CURL = shutil.which("curl") or "/usr/bin/curl"


class TlsAuthTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        if not harness.is_mop():
            raise unittest.SkipTest("mop's web service and Pulsar port")
        cls.dir = tempfile.mkdtemp(prefix="mop-tls-auth-")
        d = cls.dir
        cls.ca = make_ca(d, "good")
        cls.other_ca = make_ca(d, "other")
        cls.server = make_cert(d, "server", "mop-test-server", cls.ca, server=True)
        cls.admin = make_cert(d, "admin", "admin", cls.ca)
        cls.alice = make_cert(d, "alice", "alice", cls.ca)
        cls.bob = make_cert(d, "bob", "bob", cls.ca)
        cls.mallory = make_cert(d, "mallory", "admin", cls.other_ca)  # claims admin, wrong CA
        cls.secret = os.path.join(d, "secret.key")
        mop = os.path.abspath(os.environ["MOP_BIN"])
        subprocess.run([mop, "token", "create-secret-key", "--output", cls.secret], check=True, timeout=WAIT)
        cls.admin_token = subprocess.run([mop, "token", "create", "--secret-key", "file://" + cls.secret,
                                          "--subject", "admin"], check=True, capture_output=True,
                                         timeout=WAIT).stdout.decode().strip()

        def args(port, data_dir):
            return ["--mqttListeners=mqtt://127.0.0.1:0", "--dataDir=" + data_dir, "--logLevel=debug",
                    "--brokerServicePortTls=0", "--webServicePortTls=0",
                    "--tlsCertificateFilePath=" + cls.server[0], "--tlsKeyFilePath=" + cls.server[1],
                    "--tlsTrustCertsFilePath=" + cls.ca[1],
                    "--authenticationEnabled=true",
                    "--authenticationProviders=org.apache.pulsar.broker.authentication.AuthenticationProviderTls,"
                    "org.apache.pulsar.broker.authentication.AuthenticationProviderToken",
                    "--tokenSecretKey=file://" + cls.secret,
                    "--authorizationEnabled=true", "--superUserRoles=admin"]

        cls.broker = harness.Broker(mop_args=args).start()
        cls.https = cls.broker.ready["webTls"]["port"]
        cls.pulsar_tls_url = cls.broker.ready["pulsarTls"]["url"]
        cls.pulsar_url = cls.broker.ready["pulsar"]["url"]

    @classmethod
    def tearDownClass(cls):
        try:
            cls.broker.stop()
        finally:
            cls.broker.cleanup()
            shutil.rmtree(cls.dir, ignore_errors=True)

    def log_has(self, text, broker=None, timeout=WAIT):
        broker = broker or self.broker
        return harness.wait_until(lambda: text in broker.log_text(), timeout)

    def curl(self, path, cert=None, method="GET", body=None, cacert=True, scheme="https", port=None, headers=()):
        """(curl's exit code, HTTP status, body) of one request to the https port."""
        cmd = [CURL, "-sS", "--max-time", str(WAIT), "-o", "-", "-w", "\n%{http_code}", "-X", method]
        if cacert:
            cmd += ["--cacert", self.ca[1]]
        if cert is not None:
            cmd += ["--cert", cert[0], "--key", cert[1]]
        if body is not None:
            cmd += ["-H", "Content-Type: application/json", "--data", body]
        for h in headers:
            cmd += ["-H", h]
        cmd.append("%s://127.0.0.1:%d%s" % (scheme, port or self.https, path))
        r = subprocess.run(cmd, capture_output=True, timeout=WAIT + 5)
        out = r.stdout.decode("utf-8", "replace")
        text, _, status = out.rpartition("\n")
        return r.returncode, int(status or 0), text, r.stderr.decode("utf-8", "replace")

    def pulsar_client(self, url=None, cert=None, timeout=5):
        import pulsar
        kw = {"operation_timeout_seconds": timeout, "connection_timeout_ms": 5000}
        if (url or self.pulsar_tls_url).startswith("pulsar+ssl"):
            kw["tls_trust_certs_file_path"] = self.ca[1]
        if cert is not None:
            kw["authentication"] = pulsar.AuthenticationTLS(cert[0], cert[1])
        return pulsar.Client(url or self.pulsar_tls_url, **kw)

    def grant(self, topic, role, actions):
        local = topic.rsplit("/", 1)[1]
        code, status, text, err = self.curl("/admin/v2/persistent/public/default/%s/permissions/%s" % (local, role),
                                            cert=self.admin, method="POST", body=json.dumps(actions))
        self.assertEqual((code, status), (0, 204), (text, err))

    def assert_https_serves(self):
        code, status, text, err = self.curl("/admin/v2/brokers/ready", cert=self.admin)
        self.assertEqual((code, status, text), (0, 200, "ok"), err)

    # --- HTTPS ------------------------------------------------------------------------------------

    def test_https_serves_the_routes_to_a_certificate_or_a_token(self):
        self.assertTrue(self.broker.ready["webTls"]["url"].startswith("https://127.0.0.1:"))
        self.assert_https_serves()
        # No certificate: a token works, as on the plain port.
        code, status, text, err = self.curl("/metrics", headers=["Authorization: Bearer " + self.admin_token])
        self.assertEqual((code, status), (0, 200), err)
        self.assertIn("mop_connections", text)
        # Neither: 401 with Pulsar's reason shape.
        code, status, text, err = self.curl("/admin/v2/tenants")
        self.assertEqual((code, status), (0, 401), err)
        self.assertIn("Authentication required", json.loads(text)["reason"])
        # The plain port is still there and has the same guard.
        code, status, text, err = self.curl("/admin/v2/tenants", scheme="http", port=self.broker.web_port,
                                            cacert=False)
        self.assertEqual((code, status), (0, 401), err)

    def test_https_certificate_common_name_is_the_role(self):
        topic = "persistent://public/default/https-role-" + uuid.uuid4().hex
        local = topic.rsplit("/", 1)[1]
        path = "/admin/v2/persistent/public/default/%s/permissions/carol" % local
        # bob's certificate authenticates him, but bob is no super user.
        code, status, text, err = self.curl(path, cert=self.bob, method="POST", body='["consume"]')
        self.assertEqual((code, status), (0, 403), err)
        self.assertIn("Role bob is not a super user", json.loads(text)["reason"])
        code, status, text, err = self.curl(path, cert=self.admin, method="POST", body='["consume"]')
        self.assertEqual((code, status), (0, 204), (text, err))
        code, status, text, err = self.curl("/admin/v2/persistent/public/default/%s/permissions" % local,
                                            cert=self.admin)
        self.assertEqual((code, status), (0, 200), err)
        self.assertEqual(json.loads(text), {"carol": ["consume"]})

    def test_https_bad_handshakes_are_refused_and_others_served(self):
        # A client that does not trust mop's CA gives up itself (curl: 60, peer certificate).
        code, status, _, err = self.curl("/admin/v2/brokers/ready", cacert=False)
        self.assertEqual(code, 60, err)
        # A certificate from another CA (even one naming admin): the handshake fails.
        code, status, _, err = self.curl("/admin/v2/tenants", cert=self.mallory)
        self.assertNotEqual(code, 0)
        self.assertEqual(status, 0)
        self.assertTrue(self.log_has("certificate verify failed"), self.broker.log_text(tail=20))
        # Plain HTTP on the https port.
        code, status, _, err = self.curl("/admin/v2/tenants", scheme="http", cacert=False)
        self.assertNotEqual(status, 200)
        self.assertTrue(self.log_has("https handshake with 127.0.0.1:"), self.broker.log_text(tail=20))
        self.assertRegex(self.broker.log_text(), r"https handshake with 127\.0\.0\.1:\d+ refused: .*(http request|"
                                                 r"wrong version number)")
        self.assert_https_serves()

    def test_https_requires_a_trusted_certificate_when_asked_to(self):
        def args(port, data_dir):
            return ["--dataDir=" + data_dir, "--logLevel=debug", "--webServicePortTls=0",
                    "--tlsCertificateFilePath=" + self.server[0], "--tlsKeyFilePath=" + self.server[1],
                    "--tlsTrustCertsFilePath=" + self.ca[1], "--tlsRequireTrustedClientCertOnConnect=true"]

        broker = harness.Broker(mop_args=args).start()
        try:
            port = broker.ready["webTls"]["port"]
            code, status, text, err = self.curl("/admin/v2/brokers/ready", cert=self.alice, port=port)
            self.assertEqual((code, status, text), (0, 200, "ok"), err)
            code, status, _, err = self.curl("/admin/v2/brokers/ready", port=port)
            self.assertNotEqual(code, 0)
            self.assertEqual(status, 0)
            self.assertTrue(self.log_has("peer did not return a certificate", broker), broker.log_text(tail=20))
            # openssl s_client with another CA's certificate: refused by the server.
            r = subprocess.run([OPENSSL, "s_client", "-connect", "127.0.0.1:%d" % port, "-CAfile", self.ca[1],
                                "-cert", self.mallory[0], "-key", self.mallory[1]],
                               input=b"GET /status.html HTTP/1.0\r\n\r\n", capture_output=True, timeout=WAIT)
            self.assertNotIn(b"200 OK", r.stdout)
            self.assertTrue(self.log_has("certificate verify failed", broker), broker.log_text(tail=20))
        finally:
            broker.stop()
            broker.cleanup()

    # --- The Pulsar port ---------------------------------------------------------------------------

    def test_pulsar_tls_role_is_the_certificate_common_name_and_grants_apply(self):
        import pulsar
        topic = "persistent://public/default/tls-auth-" + uuid.uuid4().hex
        client = self.pulsar_client(cert=self.alice)
        try:
            # alice is authenticated by her certificate but has no grant yet.
            with self.assertRaises(pulsar.AuthorizationError):
                client.create_producer(topic)
            self.assertTrue(self.log_has("authenticated with tls as role alice"), self.broker.log_text(tail=20))
            self.assertTrue(self.log_has("role alice may not produce to " + topic))
            self.grant(topic, "alice", ["produce", "consume"])
            consumer = client.subscribe(topic, "s")
            producer = client.create_producer(topic)
            producer.send(b"from alice's certificate")
            msg = consumer.receive(timeout_millis=int(WAIT * 1000))
            self.assertEqual(msg.data(), b"from alice's certificate")
            consumer.acknowledge(msg)
        finally:
            client.close()
        # bob's certificate is bob: alice's grant is not his.
        client = self.pulsar_client(cert=self.bob)
        try:
            with self.assertRaises(pulsar.AuthorizationError):
                client.create_producer(topic)
            self.assertTrue(self.log_has("role bob may not produce to " + topic))
        finally:
            client.close()

    def assert_refused(self, client, topic):
        """The broker answers ERROR AuthenticationError and closes; the official (C++-based)
        client retries the connection until its operation timeout, so it reports either."""
        import pulsar
        try:
            with self.assertRaises(pulsar.PulsarException) as e:
                client.create_producer(topic)
            self.assertIn(type(e.exception).__name__, ("AuthenticationError", "Timeout"))
        finally:
            client.close()

    def test_pulsar_without_a_trusted_certificate_is_refused(self):
        topic = "persistent://public/default/tls-refused-" + uuid.uuid4().hex
        # TLS without a certificate: no credentials, no anonymousUserRole.
        self.assert_refused(self.pulsar_client(timeout=3), topic)
        self.assertTrue(self.log_has("authentication refused: method=none reason=no credentials given"),
                        self.broker.log_text(tail=20))
        # AuthenticationTLS on the plain port: the client says `tls` but no handshake verified it.
        self.assert_refused(self.pulsar_client(url=self.pulsar_url, cert=self.alice, timeout=3), topic)
        self.assertTrue(self.log_has("authentication refused: method=tls reason=tls: no verified client certificate"),
                        self.broker.log_text(tail=20))
        # Another CA's certificate naming admin: the TLS handshake fails, nothing is authenticated.
        import pulsar
        client = self.pulsar_client(cert=self.mallory, timeout=3)
        try:
            with self.assertRaises(pulsar.PulsarException):
                client.create_producer(topic)
        finally:
            client.close()
        self.assertTrue(self.log_has("pulsar+ssl handshake with 127.0.0.1:"), self.broker.log_text(tail=20))
        self.assertNotRegex(self.broker.log_text(), r"authenticated with tls as role admin")
        # Everyone else is still served.
        self.assert_https_serves()


if __name__ == "__main__":
    unittest.main()
