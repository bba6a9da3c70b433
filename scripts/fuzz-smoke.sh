#!/usr/bin/env bash
# Build every codec's fuzz target with cargo-fuzz on the stable toolchain and run
# each briefly. A crash fails the run (libFuzzer exits non-zero).
#   usage: scripts/fuzz-smoke.sh [SECONDS_PER_TARGET]
set -euo pipefail
cd "$(dirname "$0")/../fuzz"
secs=${1:-20}
export CARGO_TARGET_DIR=${FUZZ_TARGET_DIR:-$PWD/../target/fuzz}
# cargo-fuzz passes nightly-only flags; RUSTC_BOOTSTRAP lets stable rustc accept them.
# -s none: no sanitizer runtime (ASan needs nightly); coverage guidance still works.
export RUSTC_BOOTSTRAP=1
command -v cargo-fuzz >/dev/null || { echo "fuzz-smoke: cargo-fuzz missing (run scripts/install-test-deps.sh)" >&2; exit 1; }
declare -A seeds=(
    [stun_message]=../crates/stun/tests/data
    [sip_message]=../crates/sip/tests/data/rfc4475
    [xml_stream]=../crates/xmlstream/tests/data
)
for t in stun_message sip_message xml_stream; do
    mkdir -p "corpus/$t"
    echo "fuzz-smoke: $t for ${secs}s"
    log="corpus/$t.log"
    if ! cargo fuzz run "$t" -s none "corpus/$t" "${seeds[$t]}" -- \
            -max_total_time="$secs" -print_final_stats=1 >"$log" 2>&1; then
        tail -n 40 "$log" >&2
        echo "fuzz-smoke: $t FAILED (log: fuzz/$log)" >&2
        exit 1
    fi
    grep -E 'stat::number_of_executed_units' "$log" | sed "s/^/fuzz-smoke: $t: /" || true
done
echo "fuzz-smoke: all targets ran clean"
