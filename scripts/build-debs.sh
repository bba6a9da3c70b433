#!/usr/bin/env bash
# Builds the Debian package of every daemon that has one ([package.metadata.deb]
# in its Cargo.toml) into target/debian/, and prints the paths of the .deb files
# (and of their -dbgsym .ddeb debug-symbol packages), one per line.
#   scripts/build-debs.sh            all daemons
#   scripts/build-debs.sh turnd      only these
# Installs cargo-deb (from crates.io) if it is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

DAEMONS=(turnd sipd xmppd)
if [ "$#" -gt 0 ]; then
    DAEMONS=("$@")
fi

if ! cargo deb --version >/dev/null 2>&1; then
    echo "build-debs: installing cargo-deb" >&2
    cargo install cargo-deb --locked
fi

target_dir="${CARGO_TARGET_DIR:-$PWD/target}"
out_dir="$target_dir/debian"
mkdir -p "$out_dir"

built=()
for daemon in "${DAEMONS[@]}"; do
    manifest="$daemon/Cargo.toml"
    if [ ! -f "$manifest" ] || ! grep -q '^\[package\.metadata\.deb\]' "$manifest"; then
        echo "build-debs: $daemon has no Debian packaging yet, skipped" >&2
        continue
    fi
    echo "build-debs: building $daemon" >&2
    # cargo-deb prints the paths of the packages it wrote: the .deb and, with
    # `dbgsym = true`, the -dbgsym .ddeb holding the debug symbols.
    mapfile -t paths < <(cargo deb -p "$daemon" --output "$out_dir/" | grep -E '\.d?deb$')
    found=0
    for p in "${paths[@]}"; do
        [ -f "$p" ] || continue
        built+=("$p")
        case "$p" in *.deb) found=1 ;; esac
    done
    if [ "$found" != 1 ]; then
        echo "build-debs: cargo deb -p $daemon did not produce a package" >&2
        exit 1
    fi
done

if [ "${#built[@]}" -eq 0 ]; then
    echo "build-debs: nothing was built" >&2
    exit 1
fi
printf '%s\n' "${built[@]}"
