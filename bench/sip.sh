#!/usr/bin/env bash
# sipd vs kamailio: the same sipp scenarios against each server, one after the
# other, on loopback UDP. Prints a Markdown report (also written to
# target/bench/sip.md) for docs/benchmarks.md. Not a test.
#
#   bench/sip.sh                          # both servers, default ladders
#   SERVERS=kamailio bench/sip.sh         # one server only
#   REG_RATES="2000 5000" CALL_RATES="500 1000" STEP_SECS=5 bench/sip.sh
#
# Scenarios (bench/sip/*.xml):
#   register  REGISTER -> 401 -> REGISTER with digest -> 200, USERS CSV users
#   call      INVITE -> 407 -> ACK -> INVITE with digest -> 180/200 -> ACK,
#             hold HOLD_MS, BYE -> 200, through the record-routing proxy to a
#             registered sipp UAS
# Each rate of a ladder runs STEP_SECS seconds; a ladder stops after the first
# rate with failed calls. Server CPU is utime+stime from /proc/PID/stat (all
# threads of sipd; kamailio's main process and all its children).
#
# Environment: USERS (1000), STEP_SECS (10), HOLD_MS (1000),
# REG_RATES ("250 500 1000 2000 4000 6000 8000 9000 10000 12000 15000"),
# CALL_RATES ("500 1000 1500 2000 2500 3000"; an empty list skips a ladder),
# SERVERS ("sipd kamailio"),
# SIPD_BIN (target/release/sipd), SKIP_BUILD=1 (use the existing binary),
# DB_DIR (where both servers' SQLite files go; default: the work directory
# under /tmp, on disk; DB_DIR=/dev/shm shows what fsync costs),
# KAMAILIO_SHM_MB (256), KAMAILIO_PKG_MB (16).
#
# Installs kamailio, kamailio-sqlite-modules, sip-tester and sqlite3 with
# apt-get when they are missing (as root). Everything shares the same cores:
# run it on an otherwise idle machine, and read the load average it reports.
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
here="$root/bench/sip"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$root/target}"
sipd_bin="${SIPD_BIN:-$CARGO_TARGET_DIR/release/sipd}"
sipctl_bin="$(dirname "$sipd_bin")/sipctl"

users="${USERS:-1000}"
step_secs="${STEP_SECS:-10}"
hold_ms="${HOLD_MS:-1000}"
reg_rates="${REG_RATES-250 500 1000 2000 4000 6000 8000 9000 10000 12000 15000}"
call_rates="${CALL_RATES-500 1000 1500 2000 2500 3000}"
servers="${SERVERS:-sipd kamailio}"
domain="sip.test"
# Below Linux's ephemeral range, so that no client socket holds them.
base_port="${BASE_PORT:-31060}"
sipd_port=$base_port
kam_port=$((base_port + 10))
reg_port=$((base_port + 40))
uac_port=$((base_port + 50))
uas_port=$((base_port + 60))

log() { echo "bench/sip.sh: $*" >&2; }

# --- tools ------------------------------------------------------------------
need_pkgs=()
command -v kamailio >/dev/null || need_pkgs+=(kamailio)
[ -e /usr/lib/x86_64-linux-gnu/kamailio/modules/db_sqlite.so ] || need_pkgs+=(kamailio-sqlite-modules)
command -v sipp >/dev/null || need_pkgs+=(sip-tester)
command -v sqlite3 >/dev/null || need_pkgs+=(sqlite3)
if [ ${#need_pkgs[@]} -gt 0 ]; then
    log "installing ${need_pkgs[*]}"
    DEBIAN_FRONTEND=noninteractive apt-get install -y "${need_pkgs[@]}" >&2
fi
# Debian's package may have started its own kamailio: it would compete for CPU.
if pgrep -x kamailio >/dev/null; then
    log "warning: a kamailio is already running (pid $(pgrep -x kamailio | tr '\n' ' '))"
fi
if [ "${SKIP_BUILD:-0}" != 1 ] && [ -z "${SIPD_BIN:-}" ]; then
    log "building sipd (release)"
    (cd "$root" && cargo build --release -p sipd --bins >&2)
fi
[ -x "$sipd_bin" ] && [ -x "$sipctl_bin" ] || { log "missing $sipd_bin or $sipctl_bin"; exit 1; }

ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
work="$(mktemp -d /tmp/bench-sip.XXXXXX)"
db_dir="${DB_DIR:-$work}"
if [ -n "${DB_DIR:-}" ]; then db_dir="$(mktemp -d "$DB_DIR/bench-sip-db.XXXXXX")"; fi
server_pid=""
uas_pid=""
cleanup() {
    [ -n "$uas_pid" ] && kill "$uas_pid" 2>/dev/null || true
    [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null || true
    wait 2>/dev/null || true
    if [ -n "${DB_DIR:-}" ]; then rm -rf "$db_dir"; fi
}
trap cleanup EXIT
log "work directory $work"

# --- users ------------------------------------------------------------------
# u0001..uNNNN with password pwNNNN, plus the callee. The CSV's third field
# is sipp's [authentication] keyword (REFERENCE: -inf users.csv).
{
    echo SEQUENTIAL
    for i in $(seq 1 "$users"); do
        u=$(printf 'u%04d' "$i"); p=$(printf 'pw%04d' "$i")
        echo "$u;$domain;[authentication username=$u password=$p]"
    done
} >"$work/users.csv"
printf 'SEQUENTIAL\ncallee;%s;[authentication username=callee password=calleepw]\n' "$domain" >"$work/callee.csv"

# --- measurement helpers -------------------------------------------------------
clk_tck=$(getconf CLK_TCK)
# CPU ticks (utime+stime) of a process and all its descendants.
cpu_ticks() {
    local pid=$1 total=0 t kids k
    t=$(sed 's/.*) //' "/proc/$pid/stat" 2>/dev/null | awk '{print $12 + $13}') || t=0
    total=$((total + ${t:-0}))
    kids=$(pgrep -P "$pid" || true)
    for k in $kids; do total=$((total + $(cpu_ticks "$k"))); done
    echo "$total"
}
loadavg() { cut -d' ' -f1-3 /proc/loadavg; }
now() { date +%s.%N; }

port_free() {
    local p
    for p in "$@"; do
        if ss -Hlun "sport = :$p" | grep -q .; then
            log "udp port $p is in use (set BASE_PORT)"; exit 1
        fi
    done
}
# Waits until process $1 listens on udp port $2.
wait_udp() {
    local pid=$1 port=$2 i
    for i in $(seq 1 100); do
        kill -0 "$pid" 2>/dev/null || { log "server pid $pid exited"; return 1; }
        ss -Hlunp "sport = :$port" | grep -q "pid=$pid," && return 0
        sleep 0.1
    done
    log "pid $pid does not listen on udp port $port"; return 1
}

# sipp puts "sip:" + -auth_uri (default: the server's address) in the digest
# uri; sipd checks that it names the Request-URI (kamailio does not), so each
# scenario passes its Request-URI.
# Runs one sipp client step. Prints: ok failed retrans wall sipp_cpu_s
run_sipp() {
    local name=$1 port=$2; shift 2
    local stf="$work/$name.stat.csv" t0 t1 rc=0
    rm -f "$stf"
    t0=$(now)
    sipp 127.0.0.1:"$port" -i 127.0.0.1 -nostdin -trace_stat -stf "$stf" -fd 1 \
        -trace_err -error_file "$work/$name.err" -recv_timeout 8000 "$@" \
        >"$work/$name.out" 2>&1 || rc=$?
    t1=$(now)
    # Last line of the statistics file, columns picked by their header name.
    awk -F';' -v wall="$(echo "$t1 - $t0" | bc)" '
        NR == 1 { for (i = 1; i <= NF; i++) col[$i] = i; next }
        { last = $0 }
        END {
            n = split(last, f, ";")
            printf "%d %d %d %.2f\n", f[col["SuccessfulCall(C)"]], f[col["FailedCall(C)"]],
                f[col["Retransmissions(C)"]], wall
        }' "$stf"
    return 0
}

results="$work/results.tsv"
: >"$results"
# One ladder: scenario server port rates...
ladder() {
    local scen=$1 server=$2 port=$3; shift 3
    local rate total c0 c1 ok failed retrans wall cpu eff
    for rate in "$@"; do
        total=$((rate * step_secs))
        c0=$(cpu_ticks "$server_pid")
        if [ "$scen" = register ]; then
            read -r ok failed retrans wall < <(run_sipp "$server-$scen-$rate" "$port" \
                -sf "$here/register.xml" -inf "$work/users.csv" -auth_uri "$domain" -p "$reg_port" \
                -r "$rate" -rp 1000 -m "$total" -l $((rate * 4)))
            eff=$(echo "scale=0; $ok / $wall" | bc)
        else
            read -r ok failed retrans wall < <(run_sipp "$server-$scen-$rate" "$port" \
                -sf "$here/uac.xml" -inf "$work/users.csv" -s callee -auth_uri "callee@$domain" \
                -p "$uac_port" \
                -d "$hold_ms" -r "$rate" -rp 1000 -m "$total" -l $((rate * 6)))
            # The last calls are held HOLD_MS after they were set up.
            eff=$(echo "scale=0; $ok / ($wall - $hold_ms / 1000)" | bc)
        fi
        c1=$(cpu_ticks "$server_pid")
        cpu=$(echo "scale=3; ($c1 - $c0) / $clk_tck" | bc)
        printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$scen" "$server" "$rate" "$total" \
            "$ok" "$failed" "$retrans" "$wall" "$eff" "$cpu" >>"$results"
        log "$server $scen offered ${rate}/s: ok=$ok failed=$failed retrans=$retrans wall=${wall}s effective=${eff}/s server_cpu=${cpu}s load=$(loadavg)"
        [ "$failed" -eq 0 ] && [ "$ok" -eq "$total" ] || break
        sleep 2
    done
}

# Registers the callee from the UAS port, then starts the UAS.
start_uas() {
    local port=$1 try ok=0 rest
    for try in 1 2 3; do
        read -r ok rest < <(run_sipp "$2-callee-reg-$try" "$port" -sf "$here/register.xml" \
            -inf "$work/callee.csv" -auth_uri "$domain" -p "$uas_port" -m 1)
        [ "$ok" = 1 ] && break
        sleep 2
    done
    [ "$ok" = 1 ] || { log "$2: the callee could not register"; exit 1; }
    sipp 127.0.0.1:"$port" -i 127.0.0.1 -nostdin -sf "$here/uas.xml" -p "$uas_port" \
        >"$work/$2-uas.out" 2>&1 &
    uas_pid=$!
    sleep 1
}
stop_pid() {
    local pid=$1
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
}

# --- sipd ---------------------------------------------------------------------
start_sipd() {
    local d="$work/sipd"
    mkdir -p "$d"
    # The sample configuration's defaults, except: loopback only, a temporary
    # database, MD5 challenges only (sipp 3.6 has no SHA-256 digest; kamailio
    # offers MD5 only) and no flood ban (kamailio's default script has pike
    # off unless WITH_ANTIFLOOD).
    cat >"$d/sipd.yaml" <<EOF
domains: [$domain]
listeners:
  - { proto: udp, addr: "127.0.0.1:$sipd_port" }
database:
  sqlite:
    path: $db_dir/sipd.sqlite
secret_file: $d/secret
auth: { algorithms: [MD5] }
flood: { enabled: false }
EOF
    log "sipd: adding $users users with sipctl"
    "$sipctl_bin" -c "$d/sipd.yaml" add callee calleepw >/dev/null
    for i in $(seq 1 "$users"); do
        printf 'u%04d pw%04d\n' "$i" "$i"
    done | xargs -n 2 "$sipctl_bin" -c "$d/sipd.yaml" add >/dev/null
    "$sipd_bin" -c "$d/sipd.yaml" >"$d/sipd.log" 2>&1 &
    server_pid=$!
    wait_udp "$server_pid" "$sipd_port"
    sleep 1
}

# --- kamailio -----------------------------------------------------------------
start_kamailio() {
    local d="$work/kamailio" i
    mkdir -p "$d"
    # Tables: version, subscriber, location, from the schema Debian ships.
    cat /usr/share/kamailio/db_sqlite/standard-create.sql \
        /usr/share/kamailio/db_sqlite/auth_db-create.sql \
        /usr/share/kamailio/db_sqlite/usrloc-create.sql | sqlite3 "$db_dir/kamailio.sqlite"
    # Subscribers with ha1/ha1b only, no plaintext password (as sipd).
    python3 - "$users" "$domain" <<'EOF' | sqlite3 "$db_dir/kamailio.sqlite"
import hashlib, sys
n, dom = int(sys.argv[1]), sys.argv[2]
md5 = lambda s: hashlib.md5(s.encode()).hexdigest()
print("BEGIN;")
users = [("u%04d" % i, "pw%04d" % i) for i in range(1, n + 1)] + [("callee", "calleepw")]
for u, p in users:
    print("INSERT INTO subscriber (username, domain, password, ha1, ha1b) VALUES "
          "('%s', '%s', '', '%s', '%s');" % (u, dom, md5(f"{u}:{dom}:{p}"), md5(f"{u}@{dom}:{dom}:{p}")))
print("COMMIT;")
EOF
    # WAL, as sipd's database: in the default rollback-journal mode, usrloc's
    # write-back every 60 s locks the file and auth_db's reads fail
    # ("get_ha1(): failed to query database", then 401 to a correct answer).
    sqlite3 "$db_dir/kamailio.sqlite" 'PRAGMA journal_mode=WAL;' >/dev/null
    # Debian's kamailio.cfg with WITH_AUTH and WITH_USRLOCDB on SQLite; the
    # only other changes are the socket, the domain alias, the runtime
    # directory and reading ha1 instead of computing it from a password.
    {
        echo '#!KAMAILIO'
        echo '#!define WITH_AUTH'
        echo '#!define WITH_USRLOCDB'
        echo "#!define DBURL \"sqlite://$db_dir/kamailio.sqlite\""
        echo "listen=udp:127.0.0.1:$kam_port"
        echo "alias=\"$domain\""
        sed -e '1{/^#!KAMAILIO/d}' \
            -e 's|^loadmodule "jsonrpcs.so"|loadmodule "db_sqlite.so"\n&|' \
            -e 's|modparam("auth_db", "calculate_ha1", yes)|modparam("auth_db", "calculate_ha1", no)|' \
            -e 's|modparam("auth_db", "password_column", "password")|modparam("auth_db", "password_column", "ha1")|' \
            /etc/kamailio/kamailio.cfg
    } >"$d/kamailio.cfg"
    kamailio -c -f "$d/kamailio.cfg" >"$d/check.log" 2>&1 || { cat "$d/check.log" >&2; exit 1; }
    kamailio -f "$d/kamailio.cfg" -Y "$d" -DD -E -m "${KAMAILIO_SHM_MB:-256}" -M "${KAMAILIO_PKG_MB:-16}" \
        >"$d/kamailio.log" 2>&1 &
    server_pid=$!
    wait_udp "$server_pid" "$kam_port"
    sleep 2
}

# --- runs -----------------------------------------------------------------------
port_free "$sipd_port" "$kam_port" "$reg_port" "$uac_port" "$uas_port"
load_before=$(loadavg)
started=$(date -u '+%Y-%m-%d %H:%M UTC')
declare -A load_at
for server in $servers; do
    case $server in
        sipd) start_sipd; port=$sipd_port ;;
        kamailio) start_kamailio; port=$kam_port ;;
        *) log "unknown server $server"; exit 2 ;;
    esac
    load_at[$server]=$(loadavg)
    log "$server running (pid $server_pid), load $(loadavg)"
    # shellcheck disable=SC2086
    # Calls first: a REGISTER ladder ends by overloading the server, and the
    # backlog would spill into the next ladder.
    start_uas "$port" "$server"
    # shellcheck disable=SC2086
    ladder call "$server" "$port" $call_rates
    stop_pid "$uas_pid"; uas_pid=""
    sleep 2
    # shellcheck disable=SC2086
    ladder register "$server" "$port" $reg_rates
    stop_pid "$server_pid"; server_pid=""
    sleep 2
done
load_after=$(loadavg)

# --- report ---------------------------------------------------------------------
# Best step of a ladder: the highest offered rate with every call completed.
best() { # scen server -> "rate eff cpu_ms_per_txn"
    awk -F'\t' -v s="$1" -v srv="$2" '
        $1 == s && $2 == srv && $6 == 0 && $5 == $4 && $3 > r {
            r = $3; e = $9; c = ($5 > 0) ? 1000 * $10 / $5 : 0
        }
        END { if (r) printf "%d %d %.4f\n", r, e, c; else print "0 0 0" }' "$results"
}
mkdir -p "$root/target/bench"
report="$root/target/bench/sip.md"
{
    echo "Run: \`bench/sip.sh\`, $started; USERS=$users, STEP_SECS=$step_secs, HOLD_MS=$hold_ms, databases in $(df --output=fstype "$db_dir" | tail -1) ($db_dir)."
    echo
    echo "- sipd: $("$sipd_bin" --version)"
    echo "- kamailio: $(kamailio -v | head -1 | sed 's/^version: //')"
    echo "- sipp: $(sipp -v 2>&1 | grep -o 'SIPp v[^ ]*' | head -1)"
    echo "- kernel: $(uname -sr), $(nproc) cores ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'))"
    echo "- load average (1/5/15 min): before $load_before; $(for s in $servers; do printf '%s start %s; ' "$s" "${load_at[$s]}"; done)after $load_after"
    echo
    echo "| scenario | server | offered /s | attempts | completed | failed | retrans | effective /s | server CPU s | CPU ms per txn |"
    echo "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
    awk -F'\t' '{ printf "| %s | %s | %s | %s | %s | %s | %s | %s | %s | %.4f |\n",
        $1, $2, $3, $4, $5, $6, $7, $9, $10, ($5 > 0) ? 1000 * $10 / $5 : 0 }' "$results"
    echo
    case " $servers " in *" sipd "*) case " $servers " in *" kamailio "*)
        echo "| scenario | sipd best (eff.) /s | kamailio best (eff.) /s | rate ratio | CPU/txn sipd ms | CPU/txn kamailio ms | CPU ratio |"
        echo "| --- | ---: | ---: | ---: | ---: | ---: | ---: |"
        for scen in register call; do
            read -r sr se sc < <(best "$scen" sipd)
            read -r kr ke kc < <(best "$scen" kamailio)
            awk -v s="$scen" -v sr="$sr" -v se="$se" -v sc="$sc" -v kr="$kr" -v ke="$ke" -v kc="$kc" 'BEGIN {
                printf "| %s | %d (%d) | %d (%d) | %s | %.4f | %.4f | %s |\n", s, sr, se, kr, ke,
                    (kr > 0) ? sprintf("%.2f", sr / kr) : "n/a", sc, kc,
                    (kc > 0) ? sprintf("%.2f", sc / kc) : "n/a" }'
        done ;;
    esac ;; esac
} | tee "$report"
log "report written to $report; logs and sipp statistics in $work"
