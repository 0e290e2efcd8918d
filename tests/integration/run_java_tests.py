"""Runs the official Java Pulsar client's and admin client's tests (pulsar-java/: Maven, JUnit 5,
pulsar-client and pulsar-client-admin 4.2.4) against mop standalone and Apache Pulsar standalone:
starts both servers as test_pulsar_official.py does (the same settings; PULSAR_URL and PULSAR_HTTP
reuse a running Apache Pulsar), runs `mvn test` with their service URLs (-Dmop.url, -Dpulsar.url)
and web service URLs (-Dmop.http, -Dpulsar.http) and this script's own arguments (e.g.
-Dtest=AdminApiTest), stops both, and exits with Maven's exit code.
Run with the venv python (.cache/venv/bin/python) and MOP_BIN set, as CTest does."""

import os
import subprocess
import sys

from test_pulsar_official import ApachePulsarServer, MopServer

HERE = os.path.dirname(os.path.abspath(__file__))


def main():
    servers = [MopServer(), ApachePulsarServer()]
    try:
        for s in servers:
            s.start()
        mop, apache = servers
        cmd = ["mvn", "-B", "--no-transfer-progress", "-Dstyle.color=never",
               "-f", os.path.join(HERE, "pulsar-java", "pom.xml"), "test",
               "-Dmop.url=" + mop.url, "-Dpulsar.url=" + apache.url,
               "-Dmop.http=http://127.0.0.1:%d" % mop.broker.web_port, "-Dpulsar.http=" + apache.http] + sys.argv[1:]
        print(" ".join(cmd), flush=True)
        rc = subprocess.call(cmd, timeout=900)
        if rc != 0:
            for s in servers:
                sys.stderr.write("\n---- %s log tail ----\n%s\n" % (s.name, s.log_tail()))
        return rc
    finally:
        for s in servers:
            s.stop()


if __name__ == "__main__":
    sys.exit(main())
