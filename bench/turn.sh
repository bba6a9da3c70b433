#!/usr/bin/env bash
# coturn vs turnd: the same turnutils_uclient load against each server, one
# after the other, on loopback. Prints a Markdown report (also written to
# target/bench/turn.md) for docs/benchmarks.md. Not a test.
#
#   make bench-turn                        # builds release binaries first
#   bench/turn.sh --servers coturn         # coturn alone
#   bench/turn.sh --help                   # every option (levels, modes, counts)
#
# Needs: Debian's coturn (turnserver, turnutils_uclient, turnutils_peer),
# /usr/bin/python3, and target/release/{turnd,turnadmin} (or TURND_BIN and
# TURNADMIN_BIN). Run it on an otherwise idle machine: every process shares
# the same cores.
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
turnd="${TURND_BIN:-$root/target/release/turnd}"
turnadmin="${TURNADMIN_BIN:-$root/target/release/turnadmin}"

for tool in turnserver turnutils_uclient turnutils_peer; do
    command -v "$tool" >/dev/null || { echo "bench/turn.sh: $tool missing: apt-get install coturn" >&2; exit 1; }
done

# 10,000 allocations need 10,000+ sockets in this script and in each server.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

# Debian's coturn package may run its own turnserver; it would compete for CPU.
if pgrep -x turnserver >/dev/null; then
    echo "bench/turn.sh: warning: a turnserver is already running (pid $(pgrep -x turnserver | tr '\n' ' '))" >&2
fi

exec /usr/bin/python3 "$root/bench/turn_bench.py" --turnd "$turnd" --turnadmin "$turnadmin" "$@"
