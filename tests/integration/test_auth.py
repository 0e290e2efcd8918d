"""Authentication (issue 16) of the real `mop` with real clients: mosquitto_pub -u/-P, paho (3.1.1
and MQTT 5, enhanced authentication with method `token`), raw MQTT 5 bytes for the AUTH
re-authentication paho 1.6 cannot send, the official Pulsar Python client with
AuthenticationToken and AuthenticationBasic (and a token that expires and is refreshed), and
Apache Pulsar's own `pulsar tokens` tool (TokensCliUtils from the jars in .cache/pulsar) checking
tokens `mop token` made and the other way round.

Keys are made with `mop token`, passwords hashed with `openssl passwd` (apr1 and SHA-512 crypt).
One mop serves the module; the tests use topics of their own. Run with the venv python
(.cache/venv/bin/python, which also sees the Debian paho) and MOP_BIN set.
"""

import base64
import json
import os
import shutil
import socket
import struct
import subprocess
import tempfile
import threading
import time
import unittest
import uuid

import paho.mqtt.client as mqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
import pulsar

import harness
import rawmqtt

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PULSAR_LIB = os.path.join(ROOT, ".cache", "pulsar", "lib")
WAIT = 10


def uid(prefix):
    return "%s-%s" % (prefix, uuid.uuid4().hex[:8])


def mop_token(*args, stdin=None):
    r = subprocess.run([os.path.abspath(os.environ["MOP_BIN"]), "token"] + list(args), input=stdin,
                       capture_output=True, timeout=30)
    return r


def b64url(obj):
    return base64.urlsafe_b64encode(json.dumps(obj).encode()).rstrip(b"=").decode()


class Setup:
    """Keys, users and one mop with MQTT (basic, token) and Pulsar (token, basic) authentication."""

    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="mop-auth-")
        self.secret = os.path.join(self.dir, "secret.key")
        r = mop_token("create-secret-key", "--output", self.secret)
        assert r.returncode == 0, r.stderr
        self.passwords = {"alice": "alice-Secret-1", "bob": "bob:with:colons"}
        lines = []
        for user, flag in (("alice", "-apr1"), ("bob", "-6")):
            h = subprocess.run(["openssl", "passwd", flag, self.passwords[user]], capture_output=True,
                               text=True, check=True).stdout.strip()
            lines.append("%s:%s" % (user, h))
        self.users = os.path.join(self.dir, "users.conf")
        with open(self.users, "w") as f:
            f.write("\n".join(lines) + "\n")
        self.broker = harness.Broker(extra_args=[
            "--mqttAuthenticationEnabled=true", "--mqttAuthenticationMethods=basic,token",
            "--authenticationEnabled=true",
            "--authenticationProviders=org.apache.pulsar.broker.authentication.AuthenticationProviderToken,"
            "org.apache.pulsar.broker.authentication.AuthenticationProviderBasic",
            "--basicAuthConf=" + self.users, "--tokenSecretKey=file://" + self.secret,
            "--authenticationRefreshCheckSeconds=1"])
        self.broker.start()

    def token(self, subject, expiry=None):
        args = ["create", "--secret-key", "file://" + self.secret, "--subject", subject]
        if expiry:
            args += ["--expiry-time", expiry]
        r = mop_token(*args)
        assert r.returncode == 0, r.stderr
        return r.stdout.decode().strip()

    def stop(self):
        try:
            self.broker.stop()
        finally:
            self.broker.cleanup()
            shutil.rmtree(self.dir, ignore_errors=True)


S = None


def setUpModule():
    global S
    S = Setup()


def tearDownModule():
    if S is not None:
        S.stop()


def connack_311(username=None, password=None):
    """paho 3.1.1: the CONNACK return code."""
    got = []
    done = threading.Event()
    c = mqtt.Client(client_id=uid("c311"), protocol=mqtt.MQTTv311)
    if username is not None or password is not None:
        c.username_pw_set(username, password)
    c.on_connect = lambda cl, u, f, rc: (got.append(rc), done.set())
    c.on_disconnect = lambda cl, u, rc: done.set()
    c.connect("127.0.0.1", S.broker.port)
    c.loop_start()
    done.wait(WAIT)
    c.disconnect()
    c.loop_stop()
    return got[0] if got else None


def connack_5(username=None, password=None, props=None):
    """paho MQTT 5: (reason code value, CONNACK properties, the client if connected)."""
    got = []
    done = threading.Event()
    c = mqtt.Client(client_id=uid("c5"), protocol=mqtt.MQTTv5)
    if username is not None or password is not None:
        c.username_pw_set(username, password)
    c.on_connect = lambda cl, u, f, rc, p: (got.append((rc.value, p)), done.set())
    c.connect("127.0.0.1", S.broker.port, properties=props)
    c.loop_start()
    done.wait(WAIT)
    if not got or got[0][0] != 0:
        c.loop_stop()
        return (got[0] if got else (None, None)) + (None,)
    return got[0] + (c,)


def raw5_connect(client_id, method=None, data=None, username=None, password=None):
    """An MQTT 5 CONNECT (bytes; properties: authentication method and data)."""
    props = b""
    if method is not None:
        props += b"\x15" + rawmqtt.encode_str(method)
    if data is not None:
        d = data.encode()
        props += b"\x16" + struct.pack("!H", len(d)) + d
    flags = 0x02 | (0x80 if username is not None else 0) | (0x40 if password is not None else 0)
    body = rawmqtt.encode_str("MQTT") + bytes([5, flags]) + struct.pack("!H", 30)
    body += rawmqtt.encode_varint(len(props)) + props + rawmqtt.encode_str(client_id)
    if username is not None:
        body += rawmqtt.encode_str(username)
    if password is not None:
        pw = password.encode()
        body += struct.pack("!H", len(pw)) + pw
    return rawmqtt.packet(rawmqtt.CONNECT, 0, body)


def raw5_auth(reason, method, data):
    d = data.encode()
    props = b"\x15" + rawmqtt.encode_str(method) + b"\x16" + struct.pack("!H", len(d)) + d
    return rawmqtt.packet(15, 0, bytes([reason]) + rawmqtt.encode_varint(len(props)) + props)


class Mqtt(unittest.TestCase):
    def test_mosquitto_pub_with_user_and_password(self):
        topic = uid("auth/mosq")
        ok = subprocess.run(["mosquitto_pub", "-p", str(S.broker.port), "-t", topic, "-m", "x", "-q", "1",
                             "-u", "alice", "-P", S.passwords["alice"]], capture_output=True, text=True, timeout=WAIT)
        self.assertEqual(ok.returncode, 0, ok.stderr)
        bad = subprocess.run(["mosquitto_pub", "-p", str(S.broker.port), "-t", topic, "-m", "x",
                              "-u", "alice", "-P", "not-her-password"], capture_output=True, text=True, timeout=WAIT)
        self.assertNotEqual(bad.returncode, 0)
        self.assertIn("bad user name or password", bad.stderr.lower())
        anon = subprocess.run(["mosquitto_pub", "-p", str(S.broker.port), "-t", topic, "-m", "x"],
                              capture_output=True, text=True, timeout=WAIT)
        self.assertNotEqual(anon.returncode, 0)
        self.assertIn("not authori", anon.stderr.lower())
        # A SHA-512 crypt user whose password holds ':' (split at the first one only).
        ok = subprocess.run(["mosquitto_pub", "-p", str(S.broker.port), "-t", topic, "-m", "x",
                             "-u", "bob", "-P", S.passwords["bob"]], capture_output=True, text=True, timeout=WAIT)
        self.assertEqual(ok.returncode, 0, ok.stderr)

    def test_311_return_codes(self):
        self.assertEqual(connack_311("alice", S.passwords["alice"]), 0)
        self.assertEqual(connack_311("alice", "wrong"), 4)
        self.assertEqual(connack_311("nobody", "wrong"), 4)
        self.assertEqual(connack_311(None, None), 5)
        # token: the password is the JWT, the user name is not looked at.
        self.assertEqual(connack_311("anything", S.token("robot")), 0)
        # Every refusal says in the log what went on the wire and why.
        self.assertRegex(S.broker.log_text(), r"reason=connect rejected: CONNACK return code 5 "
                                              r"\(Not authorized\): no credentials given")

    def test_bad_tokens_are_refused(self):
        good = S.token("robot")
        header, claims, sig = good.split(".")
        unsigned = b64url({"alg": "none"}) + "." + b64url({"sub": "admin"}) + "."
        tampered = header + "." + b64url({"sub": "admin"}) + "." + sig
        other_key = os.path.join(S.dir, "other.key")
        self.assertEqual(mop_token("create-secret-key", "-o", other_key).returncode, 0)
        foreign = mop_token("create", "-sk", "file://" + other_key, "-s", "robot").stdout.decode().strip()
        expired = S.token("robot", "1s")
        time.sleep(2.1)
        for name, tok in (("alg none", unsigned), ("tampered", tampered), ("other key", foreign),
                          ("expired", expired), ("garbage", "a.b.c")):
            self.assertEqual(connack_311("u", tok), 4, name)
        log = S.broker.log_text()
        for tok in (unsigned, tampered, foreign, expired):
            self.assertFalse(tok in log, "a token reached the log")
        for reason in ("alg none", "token signature does not verify", "token expired"):
            self.assertTrue(reason in log, reason)

    def test_mqtt5_reason_codes_and_strings(self):
        rc, props, _ = connack_5("alice", "wrong")
        self.assertEqual(rc, 0x86)
        self.assertIn("bad user name or password", props.ReasonString)
        rc, props, _ = connack_5()
        self.assertEqual(rc, 0x87)
        self.assertIn("anonymousUserRole", props.ReasonString)
        rc, _, c = connack_5("alice", S.passwords["alice"])
        self.assertEqual(rc, 0)
        c.disconnect()
        c.loop_stop()

    def test_mqtt5_enhanced_authentication_with_token(self):
        p = Properties(PacketTypes.CONNECT)
        p.AuthenticationMethod = "token"
        p.AuthenticationData = S.token("device-7").encode()
        rc, props, c = connack_5(props=p)
        self.assertEqual(rc, 0)
        self.assertEqual(props.AuthenticationMethod, "token")
        info = c.publish(uid("auth/enh"), b"x", qos=1)
        info.wait_for_publish(WAIT)
        self.assertTrue(info.is_published())
        c.disconnect()
        c.loop_stop()
        p.AuthenticationData = b"not.a.token"
        rc, props, _ = connack_5(props=p)
        self.assertEqual(rc, 0x87)
        self.assertIn("token", props.ReasonString)

    def test_mqtt5_reauthentication(self):
        raw = rawmqtt.RawClient(S.broker.port)
        try:
            raw.send(raw5_connect(uid("reauth"), "token", S.token("device-8")))
            ack = raw.expect(rawmqtt.CONNACK)
            self.assertEqual(ack.body[1], 0)
            raw.send(raw5_auth(0x19, "token", S.token("device-8", "1h")))  # AUTH re-authenticate
            auth = raw.expect(15)
            self.assertEqual(auth.body[0], 0x00)  # success
            raw.send(raw5_auth(0x19, "token", "x.y.z"))
            disc = raw.expect(rawmqtt.DISCONNECT)
            self.assertEqual(disc.body[0], 0x87)
            self.assertTrue(raw.wait_closed())
        finally:
            raw.close()
        # The failed re-authentication left the broker as it was: the next client gets in (its
        # close was once counted past the end of a table, and later CONNECTs got code 3).
        self.assertEqual(connack_311("alice", S.passwords["alice"]), 0)

    def test_failed_login_storm_beside_a_publisher(self):
        """A thousand wrong passwords, as fast as four threads can send them (bounded by count and
        time), while a QoS 1 pair keeps going: every login is refused with code 4, the pair loses
        nothing, and the broker stays up."""
        topic = uid("auth/storm")
        sub = mqtt.Client(client_id=uid("sub"), protocol=mqtt.MQTTv311, clean_session=True)
        sub.username_pw_set("alice", S.passwords["alice"])
        got = []
        subscribed = threading.Event()
        sub.on_message = lambda c, u, m: got.append(int(m.payload))
        sub.on_subscribe = lambda *a: subscribed.set()
        sub.on_connect = lambda c, u, f, rc: c.subscribe(topic, 1)
        sub.connect("127.0.0.1", S.broker.port)
        sub.loop_start()
        self.assertTrue(subscribed.wait(WAIT))
        pub = mqtt.Client(client_id=uid("pub"), protocol=mqtt.MQTTv311)
        pub.username_pw_set("anything", S.token("publisher"))
        pub.connect("127.0.0.1", S.broker.port)
        pub.loop_start()
        codes = []
        lock = threading.Lock()
        deadline = time.monotonic() + 30

        def storm(n):
            for i in range(n):
                if time.monotonic() > deadline:
                    return
                c = rawmqtt.RawClient(S.broker.port)
                try:
                    ack = c.connect(uid("bad"), username="alice", password="wrong-%d" % i)
                    with lock:
                        codes.append(ack.return_code)
                finally:
                    c.close()

        threads = [threading.Thread(target=storm, args=(250,)) for _ in range(4)]
        started = time.monotonic()
        for t in threads:
            t.start()
        sent = 0
        while any(t.is_alive() for t in threads):
            pub.publish(topic, str(sent), qos=1).wait_for_publish(WAIT)
            sent += 1
        for t in threads:
            t.join()
        elapsed = time.monotonic() - started
        pub.publish(topic, str(sent), qos=1).wait_for_publish(WAIT)
        sent += 1
        end = time.monotonic() + WAIT
        while len(got) < sent and time.monotonic() < end:
            time.sleep(0.05)
        for c in (pub, sub):
            c.disconnect()
            c.loop_stop()
        print("failed logins: %d in %.2f s; %d QoS 1 messages meanwhile" % (len(codes), elapsed, sent))
        self.assertEqual(len(codes), 1000)
        self.assertEqual(set(codes), {4})
        self.assertEqual(sorted(got), list(range(sent)))
        log = S.broker.log_text()
        self.assertFalse("wrong-17" in log, "a password reached the log")
        self.assertIsNone(S.broker.proc.poll())


class PulsarPort(unittest.TestCase):
    def client(self, auth):
        return pulsar.Client("pulsar://127.0.0.1:%d" % S.broker.pulsar_port, authentication=auth,
                             operation_timeout_seconds=5, connection_timeout_ms=5000)

    def round_trip(self, client):
        topic = "persistent://public/default/" + uid("auth-pulsar")
        consumer = client.subscribe(topic, "s")
        producer = client.create_producer(topic)
        producer.send(b"hello")
        self.assertEqual(consumer.receive(WAIT * 1000).data(), b"hello")

    def test_token_and_basic(self):
        for auth in (pulsar.AuthenticationToken(S.token("pulsar-app")),
                     pulsar.AuthenticationBasic("alice", S.passwords["alice"])):
            c = self.client(auth)
            try:
                self.round_trip(c)
            finally:
                c.close()
        self.assertTrue("as role pulsar-app" in S.broker.log_text())

    def test_refused(self):
        """The broker answers ERROR AuthenticationError and closes; the official (C++-based)
        client retries the connection until its operation timeout, so it reports either."""
        for auth in (pulsar.AuthenticationToken("not-a-token"), pulsar.AuthenticationBasic("alice", "wrong"), None):
            c = self.client(auth) if auth is not None else pulsar.Client(
                "pulsar://127.0.0.1:%d" % S.broker.pulsar_port, operation_timeout_seconds=5)
            try:
                with self.assertRaises(pulsar.PulsarException) as e:
                    c.create_producer("persistent://public/default/" + uid("refused"))
                self.assertIn(type(e.exception).__name__, ("AuthenticationError", "Timeout"))
            finally:
                c.close()
        log = S.broker.log_text()
        for reason in ("method=token reason=token: token is not three", "method=basic reason=basic: bad user name",
                       "reason=no credentials given"):
            self.assertTrue(reason in log, reason)

    def test_expired_token_is_challenged_and_refreshed(self):
        """A token valid for 2 s, then a fresh one: with authenticationRefreshCheckSeconds=1 the
        broker sends AUTH_CHALLENGE once it expired, the client's supplier gives the new token, and
        the connection keeps working."""
        tokens = [S.token("refresher", "2s")]
        calls = []

        def supplier():
            calls.append(time.monotonic())
            return tokens[-1]

        c = self.client(pulsar.AuthenticationToken(supplier))
        try:
            topic = "persistent://public/default/" + uid("refresh")
            consumer = c.subscribe(topic, "s")
            producer = c.create_producer(topic)
            producer.send(b"before")
            tokens.append(S.token("refresher", "1h"))
            time.sleep(4.5)
            producer.send(b"after")
            self.assertEqual(consumer.receive(WAIT * 1000).data(), b"before")
            self.assertEqual(consumer.receive(WAIT * 1000).data(), b"after")
        finally:
            c.close()
        log = S.broker.log_text()
        self.assertTrue("credentials of role refresher expired: AUTH_CHALLENGE" in log)
        self.assertFalse("credentials of role refresher expired and were not refreshed" in log)


def raw5_publish(topic, payload, pid):
    body = rawmqtt.encode_str(topic) + struct.pack("!H", pid) + b"\x00" + payload
    return rawmqtt.packet(rawmqtt.PUBLISH, 0x02, body)


def raw5_subscribe(pid, topic_filter):
    body = struct.pack("!H", pid) + b"\x00" + rawmqtt.encode_str(topic_filter) + b"\x01"
    return rawmqtt.packet(rawmqtt.SUBSCRIBE, 0x02, body)


class Authorization(unittest.TestCase):
    """A second mop with authorizationEnabled and mqttAuthorizationEnabled: grants made over
    Pulsar's REST paths by a super user, kept across a restart."""

    @classmethod
    def setUpClass(cls):
        cls.broker = harness.Broker(extra_args=[
            "--mqttAuthenticationEnabled=true", "--mqttAuthenticationMethods=basic,token",
            "--authenticationEnabled=true", "--authenticationProviders=token,basic",
            "--basicAuthConf=" + S.users, "--tokenSecretKey=file://" + S.secret,
            "--authorizationEnabled=true", "--mqttAuthorizationEnabled=true", "--superUserRoles=admin"])
        cls.broker.start()

    @classmethod
    def tearDownClass(cls):
        try:
            cls.broker.stop()
        finally:
            cls.broker.cleanup()

    def http(self, method, path, body=None, auth=None):
        import http.client
        conn = http.client.HTTPConnection("127.0.0.1", self.broker.web_port, timeout=WAIT)
        headers = {"Authorization": auth} if auth else {}
        if body is not None:
            headers["Content-Type"] = "application/json"
        conn.request(method, path, body=json.dumps(body) if body is not None else None, headers=headers)
        r = conn.getresponse()
        out = (r.status, r.read().decode())
        conn.close()
        return out

    def admin(self):
        return "Bearer " + S.token("admin")

    def bob_basic(self):
        return "Basic " + base64.b64encode(("bob:" + S.passwords["bob"]).encode()).decode()

    def test_dashboard_is_behind_the_guard_and_asks_a_browser_for_basic(self):
        import http.client
        conn = http.client.HTTPConnection("127.0.0.1", self.broker.web_port, timeout=WAIT)
        conn.request("GET", "/")
        r = conn.getresponse()
        r.read()
        conn.close()
        self.assertEqual(r.status, 401)
        # Both schemes are offered; the Basic one is what makes a browser ask for a password.
        challenges = r.headers.get_all("WWW-Authenticate")
        self.assertIn("Bearer", challenges)
        self.assertIn('Basic realm="mop", charset="UTF-8"', challenges)
        status, body = self.http("GET", "/", auth=self.bob_basic())
        self.assertEqual(status, 200)
        self.assertIn("<canvas", body)
        self.assertEqual(self.http("GET", "/dashboard/dashboard.js")[0], 401)
        self.assertEqual(self.http("GET", "/dashboard/dashboard.js", auth=self.bob_basic())[0], 200)
        self.assertEqual(self.http("GET", "/mop/clients", auth=self.admin())[0], 200)

    def test_rest_grants_and_mqtt_pulsar_enforcement(self):
        ns = "/admin/v2/namespaces/public/default/permissions"
        own = uid("granted")
        topic_path = "/admin/v2/persistent/public/default/%s/permissions" % own
        # HTTP: credentials required, super user for grants.
        self.assertEqual(self.http("GET", ns)[0], 401)
        self.assertEqual(self.http("GET", "/admin/v2/tenants")[0], 401)
        self.assertEqual(self.http("GET", "/admin/v2/tenants", auth=self.bob_basic())[0], 200)
        self.assertEqual(self.http("POST", ns + "/bob", ["produce"], auth=self.bob_basic())[0], 403)
        self.assertEqual(self.http("POST", ns + "/bob", ["fly"], auth=self.admin())[0], 400)
        self.assertEqual(self.http("POST", topic_path + "/bob", ["produce", "consume"], auth=self.admin())[0], 204)
        status, body = self.http("GET", topic_path, auth=self.admin())
        self.assertEqual((status, json.loads(body)), (200, {"bob": ["produce", "consume"]}))

        # MQTT 5 (raw bytes): the granted topic works, another one gets 0x87.
        raw = rawmqtt.RawClient(self.broker.port)
        try:
            raw.send(raw5_connect(uid("bob5"), username="bob", password=S.passwords["bob"]))
            self.assertEqual(raw.expect(rawmqtt.CONNACK).body[1], 0)
            raw.send(raw5_publish(own, b"ok", 1))
            ack = raw.expect(rawmqtt.PUBACK)
            self.assertIn(ack.body[2] if len(ack.body) > 2 else 0, (0x00, 0x10))
            raw.send(raw5_publish(uid("forbidden"), b"no", 2))
            ack = raw.expect(rawmqtt.PUBACK)
            self.assertEqual(ack.body[2], 0x87)
            self.assertIn(b"may not produce", ack.body)
            raw.send(raw5_subscribe(3, own))
            self.assertEqual(raw.expect(rawmqtt.SUBACK).body[-1], 1)
            raw.send(raw5_subscribe(4, "anything/#"))  # a wildcard needs the namespace grant
            self.assertEqual(raw.expect(rawmqtt.SUBACK).body[-1], 0x87)
        finally:
            raw.close()
        # MQTT 3.1.1: SUBACK 0x80, and an unauthorized publish closes the connection.
        raw = rawmqtt.RawClient(self.broker.port)
        try:
            self.assertEqual(raw.connect(uid("bob3"), username="bob", password=S.passwords["bob"]).return_code, 0)
            self.assertEqual(raw.subscribe(1, [(uid("forbidden"), 1)]), [0x80])
            raw.send(rawmqtt.publish(uid("forbidden"), b"x", qos=1, packet_id=2))
            self.assertTrue(raw.wait_closed())
        finally:
            raw.close()
        # Pulsar: AuthorizationError outside the grant, success inside it.
        c = pulsar.Client("pulsar://127.0.0.1:%d" % self.broker.pulsar_port,
                          authentication=pulsar.AuthenticationBasic("bob", S.passwords["bob"]),
                          operation_timeout_seconds=5)
        try:
            with self.assertRaises(pulsar.PulsarException) as e:
                c.create_producer("persistent://public/default/" + uid("forbidden"))
            self.assertEqual(type(e.exception).__name__, "AuthorizationError")
            with self.assertRaises(pulsar.PulsarException):
                c.subscribe("persistent://public/default/" + uid("forbidden"), "s")
            c.create_producer("persistent://public/default/" + own).send(b"fine")
        finally:
            c.close()

        # A namespace grant covers wildcards; grants survive a restart; a revoke takes effect.
        self.assertEqual(self.http("POST", ns + "/carol", ["consume"], auth=self.admin())[0], 204)
        self.broker.restart()
        status, body = self.http("GET", topic_path, auth=self.admin())
        self.assertEqual(json.loads(body), {"bob": ["produce", "consume"]})
        self.assertEqual(json.loads(self.http("GET", ns, auth=self.admin())[1]), {"carol": ["consume"]})
        raw = rawmqtt.RawClient(self.broker.port)
        try:
            raw.send(raw5_connect(uid("carol"), username="c", password=S.token("carol")))
            self.assertEqual(raw.expect(rawmqtt.CONNACK).body[1], 0)
            raw.send(raw5_subscribe(1, "anything/#"))
            self.assertEqual(raw.expect(rawmqtt.SUBACK).body[-1], 1)
        finally:
            raw.close()
        self.assertEqual(self.http("DELETE", topic_path + "/bob", auth=self.admin())[0], 204)
        self.assertEqual(json.loads(self.http("GET", topic_path, auth=self.admin())[1]), {})


class WildcardsMatching(unittest.TestCase):
    """authorizationAllowWildcardsMatching: a wildcard filter is accepted without a namespace
    grant, and delivers only from the topics the role may consume (as the Authorization class
    shows, without the setting the same SUBSCRIBE gets 0x87)."""

    @classmethod
    def setUpClass(cls):
        cls.broker = harness.Broker(extra_args=[
            "--mqttAuthenticationEnabled=true", "--mqttAuthenticationMethods=basic,token",
            "--authenticationEnabled=true", "--authenticationProviders=token,basic",
            "--basicAuthConf=" + S.users, "--tokenSecretKey=file://" + S.secret,
            "--authorizationEnabled=true", "--mqttAuthorizationEnabled=true", "--superUserRoles=admin",
            "--authorizationAllowWildcardsMatching=true"])
        cls.broker.start()

    @classmethod
    def tearDownClass(cls):
        try:
            cls.broker.stop()
        finally:
            cls.broker.cleanup()

    def test_wildcard_filter_delivers_only_granted_topics(self):
        import http.client
        granted, other = uid("wild-granted"), uid("wild-other")
        conn = http.client.HTTPConnection("127.0.0.1", self.broker.web_port, timeout=WAIT)
        conn.request("POST", "/admin/v2/persistent/public/default/%s/permissions/bob" % granted,
                     body=json.dumps(["consume"]),
                     headers={"Authorization": "Bearer " + S.token("admin"), "Content-Type": "application/json"})
        self.assertEqual(conn.getresponse().status, 204)
        conn.close()
        bob, admin = rawmqtt.RawClient(self.broker.port), rawmqtt.RawClient(self.broker.port)
        try:
            bob.send(raw5_connect(uid("bob"), username="bob", password=S.passwords["bob"]))
            self.assertEqual(bob.expect(rawmqtt.CONNACK).body[1], 0)
            bob.send(raw5_subscribe(1, "#"))
            self.assertEqual(bob.expect(rawmqtt.SUBACK).body[-1], 1)
            admin.send(raw5_connect(uid("admin"), username="admin", password=S.token("admin")))
            self.assertEqual(admin.expect(rawmqtt.CONNACK).body[1], 0)
            admin.send(raw5_publish(other, b"not for bob", 1))
            admin.expect(rawmqtt.PUBACK)
            admin.send(raw5_publish(granted, b"for bob", 2))
            admin.expect(rawmqtt.PUBACK)
            p = bob.expect(rawmqtt.PUBLISH, timeout=WAIT)
            n = struct.unpack("!H", p.body[:2])[0]
            self.assertEqual(p.body[2:2 + n].decode(), granted)
            self.assertTrue(p.body.endswith(b"for bob"))
            # Nothing from the other topic, published first (a PUBACK from bob's side is not
            # owed: the grant-less topic is never bound).
            with self.assertRaises(socket.timeout):
                bob.read_packet(timeout=1.0)
        finally:
            bob.close()
            admin.close()


@unittest.skipUnless(os.path.isdir(PULSAR_LIB) and shutil.which("java"),
                     "Apache Pulsar's jars (.cache/pulsar, scripts/setup) and java are needed")
class PulsarTokensCompatibility(unittest.TestCase):
    """Apache Pulsar's own `pulsar tokens` (org.apache.pulsar.utils.auth.tokens.TokensCliUtils)."""

    def pulsar_tokens(self, *args):
        r = subprocess.run(["java", "-cp", os.path.join(PULSAR_LIB, "*"),
                            "org.apache.pulsar.utils.auth.tokens.TokensCliUtils"] + list(args),
                           capture_output=True, text=True, timeout=120)
        return r

    def test_both_ways(self):
        d = S.dir
        # mop's secret key and token, validated by Pulsar; Pulsar's token accepted by mop's broker.
        mine = S.token("from-mop", "1h")
        r = self.pulsar_tokens("validate", "-sk", "file://" + S.secret, mine)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIn("sub=from-mop", r.stdout)
        r = self.pulsar_tokens("create", "-sk", "file://" + S.secret, "-s", "from-pulsar", "-e", "1h")
        self.assertEqual(r.returncode, 0, r.stderr)
        theirs = r.stdout.strip().splitlines()[-1]
        self.assertEqual(connack_311("u", theirs), 0)
        v = mop_token("validate", "-sk", "file://" + S.secret, theirs)
        self.assertEqual(v.returncode, 0, v.stderr)
        self.assertIn(b"sub=from-pulsar", v.stdout)
        show = mop_token("show", theirs).stdout.decode()
        self.assertIn('"sub":"from-pulsar"', show)
        # Key pairs: RS256 made by Pulsar used by mop, ES256 made by mop used by Pulsar.
        priv, pub = os.path.join(d, "p.priv"), os.path.join(d, "p.pub")
        r = self.pulsar_tokens("create-key-pair", "--output-private-key", priv, "--output-public-key", pub)
        self.assertEqual(r.returncode, 0, r.stderr)
        minted = mop_token("create", "-pk", "file://" + priv, "-s", "rsa-role").stdout.decode().strip()
        r = self.pulsar_tokens("validate", "-pk", "file://" + pub, minted)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        epriv, epub = os.path.join(d, "e.priv"), os.path.join(d, "e.pub")
        self.assertEqual(mop_token("create-key-pair", "-a", "ES256", "--output-private-key", epriv,
                                   "--output-public-key", epub).returncode, 0)
        r = self.pulsar_tokens("create", "-pk", "file://" + epriv, "-a", "ES256", "-s", "ec-role")
        self.assertEqual(r.returncode, 0, r.stderr)
        ec = r.stdout.strip().splitlines()[-1]
        v = mop_token("validate", "-pk", "file://" + epub, "-a", "ES256", ec)
        self.assertEqual(v.returncode, 0, v.stderr)
        # Pulsar refuses what does not verify, and so does mop.
        r = self.pulsar_tokens("validate", "-pk", "file://" + pub, ec)
        self.assertNotEqual(r.returncode, 0)
        self.assertNotEqual(mop_token("validate", "-pk", "file://" + pub, ec).returncode, 0)


if __name__ == "__main__":
    unittest.main()
