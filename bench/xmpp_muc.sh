#!/usr/bin/env bash
# MUC fan-out, Prosody vs xmppd: the same bench/xmpp/mucload.py load (one
# room, 500 occupants over STARTTLS + SCRAM-SHA-1, 5 senders) against each
# server, one after the other, on loopback: deliveries/s and server CPU per
# delivery. Prints a Markdown report (also written to target/bench/xmpp_muc.md)
# for docs/benchmarks.md. Not a test.
#
#   bench/xmpp_muc.sh                       # 500 occupants, both servers
#   bench/xmpp_muc.sh --occupants 100       # smaller
#   bench/xmpp_muc.sh --servers xmppd       # one server alone
#   bench/xmpp_muc.sh --help                # every option
#
# Needs root (Prosody runs as its own user), Debian's prosody, openssl and
# python3-uvloop (installed here if missing), and target/release/{xmppd,xmppctl}
# (cargo build --release -p xmppd, or XMPPD_BIN and XMPPCTL_BIN).
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
[ "$(id -u)" -eq 0 ] || { echo "bench/xmpp_muc.sh: run as root" >&2; exit 1; }

missing=()
command -v prosody >/dev/null || missing+=(prosody)
command -v openssl >/dev/null || missing+=(openssl)
/usr/bin/python3 -c 'import uvloop' 2>/dev/null || missing+=(python3-uvloop)
if [ "${#missing[@]}" -gt 0 ]; then
    echo "bench/xmpp_muc.sh: installing ${missing[*]}" >&2
    DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300 install -y --no-install-recommends "${missing[@]}" >&2
fi
for bin in "${XMPPD_BIN:-$root/target/release/xmppd}" "${XMPPCTL_BIN:-$root/target/release/xmppctl}"; do
    [ -x "$bin" ] || { echo "bench/xmpp_muc.sh: $bin missing: cargo build --release -p xmppd" >&2; exit 1; }
done
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

exec /usr/bin/python3 "$root/bench/xmpp/muc_run.py" "$@"
