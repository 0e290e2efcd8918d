#!/usr/bin/env bash
# with_apache_pulsar.sh [KEY=VALUE ...] -- CMD [ARG...]: starts one Apache Pulsar standalone
# (scripts/pulsar-standalone, with the broker.conf settings KEY=VALUE) in a temporary directory,
# runs CMD with PULSAR_URL and PULSAR_HTTP set to it, and stops and removes that Pulsar when CMD
# exits, whatever its outcome (a crash or a sanitizer report included). CMD's exit code is the
# script's. For test programs that are not Python (the Python suites start Pulsar themselves).
set -uo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
conf=()
while [ $# -gt 0 ] && [ "$1" != "--" ]; do conf+=("$1"); shift; done
[ $# -gt 1 ] || { echo "usage: $0 [KEY=VALUE ...] -- CMD [ARG...]" >&2; exit 2; }
shift
dir="$(mktemp -d /tmp/mop-with-pulsar-XXXXXX)"
cleanup() {
  "$root/scripts/pulsar-standalone" stop "$dir" >/dev/null 2>&1 || true
  rm -rf "$dir"
}
trap cleanup EXIT
trap 'exit 143' TERM INT
out="$("$root/scripts/pulsar-standalone" start "$dir" "${conf[@]}")" || {
  echo "scripts/pulsar-standalone start failed" >&2
  exit 1
}
PULSAR_URL="$(sed -n 's/^PULSAR_URL=//p' <<<"$out")"
PULSAR_HTTP="$(sed -n 's/^PULSAR_HTTP=//p' <<<"$out")"
export PULSAR_URL PULSAR_HTTP
"$@"
