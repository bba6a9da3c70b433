#!/usr/bin/env bash
# Prosody vs xmppd: the same bench/xmpp/xmppload.py load (STARTTLS,
# SCRAM-SHA-1, bind, presence) against each server, one after the other, on
# loopback: RSS per idle connection, messages/s with server CPU per message,
# SCRAM logins/s. Prints a Markdown report (also written to
# target/bench/xmpp.md) for docs/benchmarks.md. Not a test.
#
#   bench/xmpp.sh                          # 10,000 idle connections, both servers
#   bench/xmpp.sh --connections 2000       # smaller
#   bench/xmpp.sh --servers xmppd          # one server alone
#   bench/xmpp.sh --phases idle            # memory only (no message or login phase)
#   bench/xmpp.sh --help                   # every option
#
# Needs root (Prosody runs as its own user), Debian's prosody, openssl and
# python3-uvloop (installed here if missing), and target/release/{xmppd,xmppctl}
# (cargo build --release -p xmppd, or XMPPD_BIN and XMPPCTL_BIN). Run it on
# an otherwise idle machine: client and server share the same cores.
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
[ "$(id -u)" -eq 0 ] || { echo "bench/xmpp.sh: run as root" >&2; exit 1; }

missing=()
command -v prosody >/dev/null || missing+=(prosody)
command -v openssl >/dev/null || missing+=(openssl)
/usr/bin/python3 -c 'import uvloop' 2>/dev/null || missing+=(python3-uvloop)
if [ "${#missing[@]}" -gt 0 ]; then
    echo "bench/xmpp.sh: installing ${missing[*]}" >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${missing[@]}" >&2
fi
# The package starts its own Prosody where systemd runs; it would compete for CPU.
if pgrep -x -u prosody lua5.4 >/dev/null; then
    echo "bench/xmpp.sh: warning: a Prosody is already running (pid $(pgrep -x -u prosody lua5.4 | tr '\n' ' '))" >&2
fi
for bin in "${XMPPD_BIN:-$root/target/release/xmppd}" "${XMPPCTL_BIN:-$root/target/release/xmppctl}"; do
    [ -x "$bin" ] || { echo "bench/xmpp.sh: $bin missing: cargo build --release -p xmppd" >&2; exit 1; }
done

# 10,000 connections need 10,000+ descriptors in the client and in each server.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

exec /usr/bin/python3 "$root/bench/xmpp/run.py" "$@"
