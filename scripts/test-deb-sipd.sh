#!/usr/bin/env bash
# End-to-end check of the sipd Debian package on this machine:
# build -> dpkg -i -> check-config (as root and as the sipd user) -> sipctl
# (handbook commands) -> dpkg -r -> dpkg -P. Exits non-zero on the first
# failure. Needs root. Refuses to touch a sipd package that was installed
# before it ran, unless TEST_DEB_REPLACE=1. Run by scripts/test-deb.sh.
set -euo pipefail
cd "$(dirname "$0")/.."

say() { echo "test-deb-sipd: $*"; }
fail() { echo "test-deb-sipd: FAIL: $*" >&2; exit 1; }

[ "$(id -u)" -eq 0 ] || fail "run as root (it installs and removes the package)"
status="$(dpkg-query -W -f='${db:Status-Status}' sipd 2>/dev/null || true)"
if [ -n "$status" ] && [ "$status" != not-installed ] && [ "${TEST_DEB_REPLACE:-0}" != 1 ]; then
    fail "sipd is already installed here ($status); set TEST_DEB_REPLACE=1 to replace and purge it"
fi

deb="$(scripts/build-debs.sh sipd | grep -E '/sipd_[^/]*[.]deb$' | tail -n 1)" || fail "building the package failed"
[ -f "$deb" ] || fail "no package built"
say "package: $deb"

installed=0
cleanup() {
    if [ "$installed" = 1 ]; then
        dpkg -P sipd >/dev/null 2>&1 || true
    fi
}
trap cleanup EXIT

say "dpkg -i"
dpkg -i "$deb"
installed=1

[ -x /usr/bin/sipd ] || fail "/usr/bin/sipd missing"
[ -x /usr/bin/sipctl ] || fail "/usr/bin/sipctl missing"
[ -f /usr/lib/systemd/system/sipd.service ] || fail "systemd unit missing"
[ -f /usr/share/doc/sipd/sipd.md ] || fail "admin guide missing"
getent passwd sipd >/dev/null || fail "system user sipd not created"
[ "$(stat -c '%U:%G %a' /var/lib/sipd)" = "sipd:sipd 750" ] || fail "/var/lib/sipd: $(stat -c '%U:%G %a' /var/lib/sipd)"
[ "$(stat -c '%U:%G %a' /etc/sipd/sipd.yaml)" = "root:sipd 640" ] || fail "/etc/sipd/sipd.yaml: $(stat -c '%U:%G %a' /etc/sipd/sipd.yaml)"
dpkg-query -W -f='${Conffiles}\n' sipd | grep '^ /etc/sipd/sipd.yaml ' >/dev/null || fail "/etc/sipd/sipd.yaml is not a conffile"

say "sipd --check-config"
out="$(sipd --check-config --config /etc/sipd/sipd.yaml)" || fail "check-config failed: $out"
echo "$out"
case "$out" in *"configuration OK"*) ;; *) fail "unexpected check-config output: $out" ;; esac
# systemd runs ExecStartPre as User=sipd: the file must be readable by it.
runuser -u sipd -- sipd --check-config --config /etc/sipd/sipd.yaml >/dev/null \
    || fail "check-config as the sipd user failed"

say "sipctl (handbook commands)"
out="$(sipctl add roland secret_password)" || fail "sipctl add failed"
[ "$out" = "added subscriber roland@sip.falcot.com" ] || fail "sipctl add said: $out"
sipctl domain add falcot.com >/dev/null || fail "sipctl domain add failed"
sipctl domain list | grep -x falcot.com >/dev/null || fail "sipctl domain list does not list falcot.com"
sipctl route add --prefix 0 --strip 1 --add +33 sip:trunk.example.net >/dev/null || fail "sipctl route add failed"
sipctl stats | grep -x 'subscribers: 1' >/dev/null || fail "sipctl stats does not count roland"
# The database root just created must belong to the daemon's user.
[ "$(stat -c %U /var/lib/sipd/sipd.sqlite)" = sipd ] || fail "sipd.sqlite is owned by $(stat -c %U /var/lib/sipd/sipd.sqlite)"
runuser -u sipd -- sipctl stats >/dev/null || fail "the sipd user cannot read the database"
if sipctl rm nobody 2>/dev/null; then fail "deleting an unknown user succeeded"; fi

say "dpkg -r"
dpkg -r sipd
[ ! -e /usr/bin/sipd ] && [ ! -e /usr/bin/sipctl ] || fail "binaries left after dpkg -r"
[ -f /etc/sipd/sipd.yaml ] || fail "dpkg -r removed the configuration (only purge may)"
[ -f /var/lib/sipd/sipd.sqlite ] || fail "dpkg -r removed the database (only purge may)"

say "dpkg -P"
dpkg -P sipd
installed=0
[ ! -e /etc/sipd ] || fail "/etc/sipd left after purge"
[ ! -e /var/lib/sipd ] || fail "/var/lib/sipd left after purge"

say "OK"
