#!/usr/bin/env bash
# End-to-end check of the xmppd Debian package on this machine:
# build -> dpkg -i -> the admin guide's steps (certificate, check-config as
# root and as the xmppd user, drop-in host, xmppctl adduser/passwd/register/
# deluser/check/status, the daemon serving from the packaged config) ->
# dpkg -r -> dpkg -P. Exits non-zero on the first failure. Needs root.
# Refuses to touch an xmppd package that was installed before it ran, unless
# TEST_DEB_REPLACE=1. Needs ports 5222 and 5223 free for a few seconds.
# Run by scripts/test-deb.sh.
set -euo pipefail
cd "$(dirname "$0")/.."

say() { echo "test-deb-xmppd: $*"; }
fail() { echo "test-deb-xmppd: FAIL: $*" >&2; exit 1; }

[ "$(id -u)" -eq 0 ] || fail "run as root (it installs and removes the package)"
status="$(dpkg-query -W -f='${db:Status-Status}' xmppd 2>/dev/null || true)"
if [ -n "$status" ] && [ "$status" != not-installed ] && [ "${TEST_DEB_REPLACE:-0}" != 1 ]; then
    fail "xmppd is already installed here ($status); set TEST_DEB_REPLACE=1 to replace and purge it"
fi
command -v openssl >/dev/null || fail "openssl is needed to make the test certificates"

deb="$(scripts/build-debs.sh xmppd | grep -E '/xmppd_[^/]*[.]deb$' | tail -n 1)" || fail "building the package failed"
[ -f "$deb" ] || fail "no package built"
say "package: $deb"

installed=0
daemon=""
made=()   # certificate files this script created, removed at exit
cleanup() {
    if [ -n "$daemon" ]; then
        kill "$daemon" 2>/dev/null || true
        wait "$daemon" 2>/dev/null || true
    fi
    if [ "$installed" = 1 ]; then
        rm -f /etc/xmppd/conf.d/example.org.yaml
        dpkg -P xmppd >/dev/null 2>&1 || true
    fi
    if [ "${#made[@]}" -gt 0 ]; then
        rm -f "${made[@]}"
    fi
}
trap cleanup EXIT

# The guide's certificate step for DOMAIN: self-signed here, key readable by
# the xmppd group. Refuses to overwrite a real certificate.
make_cert() {
    local domain="$1" cert="/etc/ssl/certs/$1.pem" key="/etc/ssl/private/$1.key"
    [ ! -e "$cert" ] && [ ! -e "$key" ] || fail "$cert or $key already exists; not overwriting it"
    made+=("$cert" "$key")
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 30 \
        -subj "/CN=$domain" -addext "subjectAltName=DNS:$domain" \
        -keyout "$key" -out "$cert" 2>/dev/null || fail "openssl could not make a certificate for $domain"
    chgrp xmppd "$key"
    chmod 640 "$key"
}

say "dpkg -i"
dpkg -i "$deb"
installed=1

[ -x /usr/bin/xmppd ] || fail "/usr/bin/xmppd missing"
[ -x /usr/bin/xmppctl ] || fail "/usr/bin/xmppctl missing"
[ -f /usr/lib/systemd/system/xmppd.service ] || fail "systemd unit missing"
[ -f /usr/share/doc/xmppd/xmppd.md ] || fail "admin guide missing"
getent passwd xmppd >/dev/null || fail "system user xmppd not created"
if getent group ssl-cert >/dev/null; then
    id -nG xmppd | grep -qw ssl-cert || fail "xmppd is not in the ssl-cert group"
fi
! dpkg-divert --list | grep -w xmppd >/dev/null || fail "the package left a diversion: $(dpkg-divert --list | grep -w xmppd)"
[ "$(stat -c '%U:%G %a' /var/lib/xmppd)" = "xmppd:xmppd 750" ] || fail "/var/lib/xmppd: $(stat -c '%U:%G %a' /var/lib/xmppd)"
[ "$(stat -c '%U:%G %a' /etc/xmppd/xmppd.yaml)" = "root:xmppd 640" ] || fail "/etc/xmppd/xmppd.yaml: $(stat -c '%U:%G %a' /etc/xmppd/xmppd.yaml)"
[ -d /etc/xmppd/conf.d ] && [ -d /etc/xmppd/conf.avail ] || fail "drop-in directories missing"
dpkg-query -W -f='${Conffiles}\n' xmppd | grep '^ /etc/xmppd/xmppd.yaml ' >/dev/null || fail "/etc/xmppd/xmppd.yaml is not a conffile"

say "xmppd --check-config before the certificate exists"
if out="$(xmppd --check-config 2>&1)"; then fail "check-config passed without a certificate: $out"; fi
case "$out" in *falcot.com*) ;; *) fail "check-config does not name the missing certificate: $out" ;; esac

say "xmppd --check-config (the guide's falcot.com host)"
make_cert falcot.com
out="$(xmppd --check-config --config /etc/xmppd/xmppd.yaml)" || fail "check-config failed: $out"
echo "$out"
case "$out" in *"configuration OK"*) ;; *) fail "unexpected check-config output: $out" ;; esac
xmppd --check-config >/dev/null || fail "check-config without --config (as the guide writes it) failed"
# systemd runs ExecStartPre as User=xmppd: the file and the key must be readable by it.
runuser -u xmppd -- xmppd --check-config --config /etc/xmppd/xmppd.yaml >/dev/null \
    || fail "check-config as the xmppd user failed"

say "drop-in host (the guide's example.org steps)"
make_cert example.org
cat > /etc/xmppd/conf.avail/example.org.yaml <<'END'
domain: example.org
tls: { cert: /etc/ssl/certs/example.org.pem, key: /etc/ssl/private/example.org.key }
END
ln -s ../conf.avail/example.org.yaml /etc/xmppd/conf.d/
xmppd --check-config >/dev/null || fail "check-config with the example.org drop-in failed"
runuser -u xmppd -- xmppd --check-config >/dev/null || fail "check-config with the drop-in as the xmppd user failed"

say "xmppctl (guide commands)"
out="$(echo 'joes password' | xmppctl adduser joe@falcot.com)" || fail "xmppctl adduser failed"
[ "$out" = "created joe@falcot.com" ] || fail "xmppctl adduser said: $out"
if echo x | xmppctl adduser joe@falcot.com 2>/dev/null; then fail "adding joe twice succeeded"; fi
out="$(echo 'new password' | xmppctl passwd joe@falcot.com)" || fail "xmppctl passwd failed"
[ "$out" = "password of joe@falcot.com changed" ] || fail "xmppctl passwd said: $out"
out="$(xmppctl register roland falcot.com secret_password)" || fail "xmppctl register failed"
[ "$out" = "created roland@falcot.com" ] || fail "xmppctl register said: $out"
xmppctl register joe example.org pw >/dev/null || fail "xmppctl register on the drop-in host failed"
set +e
xmppctl register raphael falcot.org pw >/dev/null 2>&1; rc=$?
set -e
[ "$rc" = 2 ] || fail "register on an unknown host: exit $rc, expected 2"
out="$(xmppctl deluser roland@falcot.com)" || fail "xmppctl deluser failed"
[ "$out" = "deleted roland@falcot.com" ] || fail "xmppctl deluser said: $out"
set +e
xmppctl deluser nobody@falcot.com >/dev/null 2>&1; rc=$?
set -e
[ "$rc" = 1 ] || fail "deleting an unknown account: exit $rc, expected 1"
# The database root just created must belong to the daemon's user.
[ "$(stat -c %U /var/lib/xmppd/xmppd.sqlite)" = xmppd ] || fail "xmppd.sqlite is owned by $(stat -c %U /var/lib/xmppd/xmppd.sqlite)"
for f in /var/lib/xmppd/xmppd.sqlite-wal /var/lib/xmppd/xmppd.sqlite-shm; do
    [ ! -e "$f" ] || [ "$(stat -c %U "$f")" = xmppd ] || fail "$f is owned by $(stat -c %U "$f")"
done

out="$(xmppctl check --no-dns)" || fail "xmppctl check --no-dns found problems: $out"
echo "$out"
echo "$out" | grep -x '  certificate: covers falcot.com' >/dev/null || fail "check does not report falcot.com's certificate"
echo "$out" | grep -x '  certificate: covers example.org' >/dev/null || fail "check does not report example.org's certificate"
echo "$out" | grep -x 'all checks passed' >/dev/null || fail "check did not pass"

set +e
out="$(xmppctl status)"; rc=$?
set -e
[ "$rc" = 3 ] || fail "xmppctl status with xmppd stopped: exit $rc, expected 3 ($out)"
echo "$out" | grep -x 'falcot.com: 1 account(s)' >/dev/null || fail "xmppctl status does not count joe: $out"

say "xmppd serving from the packaged configuration (as the xmppd user)"
for port in 5222 5223; do
    if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then fail "port $port is already in use here"; fi
done
# setpriv execs (runuser would stay the parent and turn SIGTERM into its own exit).
setpriv --reuid=xmppd --regid=xmppd --init-groups -- xmppd --config /etc/xmppd/xmppd.yaml >/tmp/test-deb-xmppd.log 2>&1 &
daemon=$!
for _ in $(seq 50); do
    if xmppctl status >/dev/null 2>&1; then break; fi
    kill -0 "$daemon" 2>/dev/null || fail "xmppd exited: $(cat /tmp/test-deb-xmppd.log)"
    sleep 0.2
done
out="$(runuser -u xmppd -- xmppctl status)" || fail "xmppctl status with xmppd running: $out"
echo "$out"
echo "$out" | grep '^xmppd is running' >/dev/null || fail "xmppctl status: $out"
kill -TERM "$daemon"
wait "$daemon" || fail "xmppd did not stop cleanly on SIGTERM: $(cat /tmp/test-deb-xmppd.log)"
daemon=""
rm -f /tmp/test-deb-xmppd.log

say "dpkg -r"
rm /etc/xmppd/conf.d/example.org.yaml
dpkg -r xmppd
[ ! -e /usr/bin/xmppd ] && [ ! -e /usr/bin/xmppctl ] || fail "binaries left after dpkg -r"
[ -f /etc/xmppd/xmppd.yaml ] || fail "dpkg -r removed the configuration (only purge may)"
[ -f /var/lib/xmppd/xmppd.sqlite ] || fail "dpkg -r removed the database (only purge may)"

say "dpkg -P"
dpkg -P xmppd
installed=0
[ ! -e /etc/xmppd ] || fail "/etc/xmppd left after purge: $(find /etc/xmppd)"
[ ! -e /var/lib/xmppd ] || fail "/var/lib/xmppd left after purge"

say "OK"
