"""Test certificates made with Debian's `openssl` for the TLS suites (test_tls.py,
test_tls_auth.py, test_pulsar_client.py, test_hostile.py): a CA, certificates it signs, and a
self-signed server certificate. RSA 2048, valid for two days, unencrypted PEM keys."""

import os
import shutil
import subprocess

OPENSSL = shutil.which("openssl") or "/usr/bin/openssl"
# What a server certificate names unless told otherwise: the address the suites connect to.
SERVER_NAMES = "subjectAltName=IP:127.0.0.1,DNS:localhost"
CLIENT_USE = "extendedKeyUsage=clientAuth"


def openssl(*args):
    return subprocess.run([OPENSSL] + list(args), capture_output=True, timeout=60, check=True)


def make_ca(d, name):
    """A CA in directory d (common name "<name> test CA"); returns (key, certificate) paths."""
    key, crt = os.path.join(d, name + "-ca.key"), os.path.join(d, name + "-ca.pem")
    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=" + name + " test CA",
            "-keyout", key, "-out", crt)
    return key, crt


def make_cert(d, name, cn, ca, server=False, ext=None):
    """A certificate for common name `cn` signed by `ca` (make_ca's pair), its files named after
    `name`; a server certificate names SERVER_NAMES, a client one is for client authentication,
    unless `ext` (one extension line) says otherwise. Returns (certificate, key) paths."""
    key, csr, crt, extfile = (os.path.join(d, name + x) for x in (".key", ".csr", ".pem", ".ext"))
    openssl("req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=" + cn, "-keyout", key, "-out", csr)
    with open(extfile, "w") as f:
        f.write((ext or (SERVER_NAMES if server else CLIENT_USE)) + "\n")
    openssl("x509", "-req", "-in", csr, "-CA", ca[1], "-CAkey", ca[0], "-CAcreateserial", "-days", "2",
            "-extfile", extfile, "-out", crt)
    return crt, key


def self_signed(d, name, cn):
    """A self-signed server certificate naming 127.0.0.1 (for peers that do not check it);
    returns (certificate, key) paths."""
    crt, key = os.path.join(d, name + ".pem"), os.path.join(d, name + ".key")
    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=" + cn,
            "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", key, "-out", crt)
    return crt, key
