#!/usr/bin/env python3
"""shared_pulsar.py start|stop DIR: the one Apache Pulsar standalone that CTest's suites share
(fixture `apache_pulsar`, tests/integration/CMakeLists.txt).

Each suite used to start a Pulsar of its own: a JVM that needs most of a core for 30-40 s to
start, five times per `ctest` run, one after the other. `start` starts one in DIR with the
settings they need (harness.pulsar_settings: PULSAR_SETTINGS and token authentication
that lets clients without credentials in), and the suites take it through
PULSAR_DIR (harness.ApachePulsar, test_proxy.py): `scripts/pulsar-standalone
start` on a running DIR only prints its URLs again, and a suite that restarts Pulsar
(test_pulsar_client.py, test_proxy_faults.py) restarts this one on the same directory and ports.
`stop` stops it and removes DIR."""

import os
import shutil
import subprocess
import sys

import harness


def main(argv):
    if len(argv) != 3 or argv[1] not in ("start", "stop"):
        sys.stderr.write("usage: shared_pulsar.py start|stop DIR\n")
        return 2
    command, where = argv[1], argv[2]
    if command == "start":
        # A DIR left by an interrupted run: its broker stopped and its data gone, so every run
        # starts from an empty Pulsar.
        subprocess.run([harness.PULSAR_SCRIPT, "stop", where], timeout=150, stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL)
        shutil.rmtree(where, ignore_errors=True)
        os.makedirs(where)
        return subprocess.run([harness.PULSAR_SCRIPT, "start", where] + harness.pulsar_settings(where), timeout=400).returncode
    rc = subprocess.run([harness.PULSAR_SCRIPT, "stop", where], timeout=150).returncode
    shutil.rmtree(where, ignore_errors=True)
    return rc


if __name__ == "__main__":
    sys.exit(main(sys.argv))
