#!/usr/bin/env bash
# End-to-end check of the turnd Debian package on this machine:
# build -> dpkg -i -> check-config (as root and as the turnd user) -> turnadmin
# -> dpkg -r -> dpkg -P. Exits non-zero on the first failure. Needs root.
# Refuses to touch a turnd package that was installed before it ran, unless
# TEST_DEB_REPLACE=1.
set -euo pipefail
cd "$(dirname "$0")/.."

say() { echo "test-deb: $*"; }
fail() { echo "test-deb: FAIL: $*" >&2; exit 1; }

[ "$(id -u)" -eq 0 ] || fail "run as root (it installs and removes the package)"
status="$(dpkg-query -W -f='${db:Status-Status}' turnd 2>/dev/null || true)"
if [ -n "$status" ] && [ "$status" != not-installed ] && [ "${TEST_DEB_REPLACE:-0}" != 1 ]; then
    fail "turnd is already installed here ($status); set TEST_DEB_REPLACE=1 to replace and purge it"
fi
# coturn ships its own /usr/bin/turnadmin, which the package diverts.
coturn=0
if [ "$(dpkg-query -W -f='${db:Status-Status}' coturn 2>/dev/null || true)" = installed ]; then
    coturn=1
fi

deb="$(scripts/build-debs.sh turnd | grep -E '/turnd_[^/]*[.]deb$' | tail -n 1)" || fail "building the package failed"
[ -f "$deb" ] || fail "no package built"
say "package: $deb"

installed=0
cleanup() {
    if [ "$installed" = 1 ]; then
        dpkg -P turnd >/dev/null 2>&1 || true
    fi
}
trap cleanup EXIT

say "dpkg -i"
dpkg -i "$deb"
installed=1

[ -x /usr/bin/turnd ] || fail "/usr/bin/turnd missing"
[ -x /usr/bin/turnadmin ] || fail "/usr/bin/turnadmin missing"
[ -f /usr/lib/systemd/system/turnd.service ] || fail "systemd unit missing"
[ -f /usr/share/doc/turnd/turnd.md ] || fail "admin guide missing"
getent passwd turnd >/dev/null || fail "system user turnd not created"
turnadmin --help | grep 'turnadmin -a -u roland' >/dev/null || fail "/usr/bin/turnadmin is not turnd's"
if [ "$coturn" = 1 ]; then
    [ -e /usr/bin/turnadmin.coturn ] || fail "coturn's turnadmin was not diverted to turnadmin.coturn"
fi
[ "$(stat -c '%U:%G %a' /var/lib/turnd)" = "turnd:turnd 750" ] || fail "/var/lib/turnd: $(stat -c '%U:%G %a' /var/lib/turnd)"
[ "$(stat -c '%U:%G %a' /etc/turnd/turnd.yaml)" = "root:turnd 640" ] || fail "/etc/turnd/turnd.yaml: $(stat -c '%U:%G %a' /etc/turnd/turnd.yaml)"
dpkg-query -W -f='${Conffiles}\n' turnd | grep '^ /etc/turnd/turnd.yaml ' >/dev/null || fail "/etc/turnd/turnd.yaml is not a conffile"

say "turnd --check-config"
out="$(turnd --check-config --config /etc/turnd/turnd.yaml)" || fail "check-config failed: $out"
echo "$out"
case "$out" in *"configuration OK"*) ;; *) fail "unexpected check-config output: $out" ;; esac
# systemd runs ExecStartPre as User=turnd: the file must be readable by it.
runuser -u turnd -- turnd --check-config --config /etc/turnd/turnd.yaml >/dev/null \
    || fail "check-config as the turnd user failed"

say "turnadmin (handbook commands)"
out="$(turnadmin -a -u roland -p secret_password -r falcot.com)" || fail "turnadmin -a failed"
[ "$out" = "added user roland in realm falcot.com" ] || fail "turnadmin -a said: $out"
out="$(turnadmin -A -u admin -p secret_password)" || fail "turnadmin -A failed"
[ "$out" = "added administrator admin (all realms)" ] || fail "turnadmin -A said: $out"
turnadmin -l | grep -x "$(printf 'falcot.com\troland')" >/dev/null || fail "turnadmin -l does not list roland"
[ "$(turnadmin -k -u roland -p secret_password -r falcot.com)" = "0x3ac669c26660af60c9cb71dedf72d807" ] \
    || fail "turnadmin -k printed a wrong key"
# The database root just created must belong to the daemon's user.
[ "$(stat -c %U /var/lib/turnd/turnd.sqlite)" = turnd ] || fail "turnd.sqlite is owned by $(stat -c %U /var/lib/turnd/turnd.sqlite)"
runuser -u turnd -- turnadmin -l | grep roland >/dev/null || fail "the turnd user cannot read the database"
if turnadmin -d -u nobody -r falcot.com 2>/dev/null; then fail "deleting an unknown user succeeded"; fi

say "dpkg -r"
dpkg -r turnd
[ ! -e /usr/bin/turnd ] || fail "/usr/bin/turnd left after dpkg -r"
if [ "$coturn" = 1 ]; then
    [ "$(dpkg-query -S /usr/bin/turnadmin 2>/dev/null)" = "coturn: /usr/bin/turnadmin" ] \
        && [ -e /usr/bin/turnadmin ] && [ ! -e /usr/bin/turnadmin.coturn ] \
        || fail "coturn's turnadmin was not restored after dpkg -r"
else
    [ ! -e /usr/bin/turnadmin ] || fail "/usr/bin/turnadmin left after dpkg -r"
fi
! dpkg-divert --list /usr/bin/turnadmin | grep turnd >/dev/null || fail "diversion left after dpkg -r"
[ -f /etc/turnd/turnd.yaml ] || fail "dpkg -r removed the configuration (only purge may)"
[ -f /var/lib/turnd/turnd.sqlite ] || fail "dpkg -r removed the database (only purge may)"

say "dpkg -P"
dpkg -P turnd
installed=0
[ ! -e /etc/turnd ] || fail "/etc/turnd left after purge"
[ ! -e /var/lib/turnd ] || fail "/var/lib/turnd left after purge"

say "OK"

# The sipd package (same steps with sipctl): its own script.
scripts/test-deb-sipd.sh

# The xmppd package (guide steps, xmppctl, the daemon serving): its own script.
scripts/test-deb-xmppd.sh
