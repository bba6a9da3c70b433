#!/usr/bin/env bash
# Installs every peer and tool the test suite needs, if missing. Idempotent.
# Called by `make test`; safe to run by hand as root on Debian 12.
set -euo pipefail
cd "$(dirname "$0")/.."

need_apt=()
want() { dpkg -s "$1" >/dev/null 2>&1 || need_apt+=("$1"); }

# TURN peers: turnutils_uclient, turnutils_peer, turnutils_stunclient (coturn), aioice.
want coturn
want python3-aioice
# SIP peers: sipp, baresip, and a WebSocket client (python3-websockets; JsSIP from npm below).
want sip-tester
want baresip
want python3-websockets
command -v node >/dev/null 2>&1 || { want nodejs; want npm; }
# XMPP peers: slixmpp (with python3-cryptography for test certificates) and go-sendxmpp.
want python3-slixmpp
# slixmpp's XEP-0363 (HTTP upload) plugin imports aiohttp.
want python3-aiohttp
# Headless browser for the XMPP-over-WebSocket test (driven through chromedriver).
want chromium
want chromium-driver
want python3-cryptography
want go-sendxmpp
# XMPP federation peer: Prosody, run unprivileged by the tests with its own config.
want prosody
# Test runner for the interop suites.
want python3-pytest
# Tools used by the tests and the benchmark scripts.
want procps
want iproute2

mysql_up() {
    # A MariaDB/MySQL answering on 127.0.0.1:3306 (or $USERDB_TEST_MYSQL_URL's host).
    (exec 3<>/dev/tcp/127.0.0.1/3306) 2>/dev/null
}
if [ -z "${USERDB_TEST_MYSQL_URL:-}" ] && ! mysql_up; then
    want mariadb-server
fi

if [ "${#need_apt[@]}" -gt 0 ]; then
    if [ "$(id -u)" -ne 0 ]; then
        echo "install-test-deps: missing Debian packages: ${need_apt[*]}" >&2
        echo "install-test-deps: run 'sudo $0' or install them yourself." >&2
        exit 1
    fi
    echo "install-test-deps: installing ${need_apt[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${need_apt[@]}" >/dev/null
fi

# The prosody package starts a system instance; the s2s tests run their own.
if command -v systemctl >/dev/null 2>&1 && [ -d /run/systemd/system ]; then
    systemctl disable --now prosody >/dev/null 2>&1 || true
fi
if pgrep -x prosody >/dev/null 2>&1 && [ -f /run/prosody/prosody.pid ]; then
    kill "$(cat /run/prosody/prosody.pid)" 2>/dev/null || true
fi

# The coturn package must not run its own turnserver on our ports.
if pgrep -x turnserver >/dev/null 2>&1; then
    echo "install-test-deps: stopping a running turnserver (it holds port 3478)"
    pkill -x turnserver || true
fi

if [ -z "${USERDB_TEST_MYSQL_URL:-}" ] && ! mysql_up; then
    echo "install-test-deps: starting MariaDB"
    mkdir -p /run/mysqld && chown mysql:mysql /run/mysqld 2>/dev/null || true
    if [ ! -d /var/lib/mysql/mysql ]; then
        mariadb-install-db --user=mysql --datadir=/var/lib/mysql >/dev/null
    fi
    start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd -- --user=mysql --bind-address=127.0.0.1 --port=3306
    for _ in $(seq 1 60); do mysql_up && break; sleep 0.5; done
    mysql_up || { echo "install-test-deps: MariaDB did not start on 127.0.0.1:3306" >&2; exit 1; }
    # Root over TCP with an empty password, and the `test` database, as the suite expects.
    mariadb -uroot -e "CREATE DATABASE IF NOT EXISTS test; ALTER USER 'root'@'localhost' IDENTIFIED VIA mysql_native_password USING PASSWORD(''); FLUSH PRIVILEGES;" 2>/dev/null || true
fi

# JsSIP, ws and @xmpp/client for the WebSocket tests, pinned by tests/interop/node/package-lock.json.
if [ ! -d tests/interop/node/node_modules/jssip ] || [ ! -d tests/interop/node/node_modules/@xmpp/client ]; then
    echo "install-test-deps: installing JsSIP and @xmpp/client from npm"
    (cd tests/interop/node && npm ci --no-audit --no-fund --silent)
fi

# cargo-fuzz, for the fuzz smoke run (stable toolchain, see Makefile).
if ! command -v cargo-fuzz >/dev/null 2>&1; then
    echo "install-test-deps: installing cargo-fuzz"
    cargo install cargo-fuzz --locked --quiet
fi
echo "install-test-deps: all test peers present"
