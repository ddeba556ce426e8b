#!/usr/bin/env bash
# Runs every cargo-fuzz target in fuzz/ for SECONDS each (default 15; CI
# runs them short, `scripts/fuzz.sh 600` is the long run), then prints the
# executions and findings of each. Exits non-zero if any target found a
# crash; the inputs are in fuzz/artifacts/TARGET/.
#
# Needs cargo-fuzz (`cargo install cargo-fuzz`) and a nightly toolchain;
# without one, the stable toolchain is used with RUSTC_BOOTSTRAP=1 (the
# -Z flags cargo-fuzz passes), as on a machine where only stable exists.
# FUZZ_TARGETS="gre vxlan" limits the run to those targets;
# FUZZ_TOOLCHAIN=stable takes the stable fallback even where nightly exists.
set -euo pipefail
cd "$(dirname "$0")/../fuzz"
seconds=${1:-15}

if [ "${FUZZ_TOOLCHAIN:-}" != stable ] && rustup toolchain list 2>/dev/null | grep '^nightly' >/dev/null; then
    toolchain=(+nightly)
else
    toolchain=()
    export RUSTC_BOOTSTRAP=1
    echo "fuzz: no nightly toolchain; using $(rustc --version) with RUSTC_BOOTSTRAP=1"
fi

targets=${FUZZ_TARGETS:-$(cargo "${toolchain[@]}" fuzz list)}
cargo "${toolchain[@]}" fuzz build

summary=()
failed=0
for t in $targets; do
    mkdir -p "corpus/$t" "artifacts/$t"
    before=$(find "artifacts/$t" -type f | wc -l)
    log=$(mktemp)
    stamp=$(mktemp)
    # corpus/TARGET is written to; seeds/TARGET (checked in) is read only.
    status=0
    cargo "${toolchain[@]}" fuzz run "$t" "corpus/$t" "seeds/$t" -- \
        -max_total_time="$seconds" -rss_limit_mb=2048 -timeout=10 -print_final_stats=1 \
        >"$log" 2>&1 || status=$?
    runs=$(grep -o '^stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' || true)
    cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1 | grep -o '[0-9]*' || true)
    after=$(find "artifacts/$t" -type f | wc -l)
    found=$((after - before))
    if [ "$status" -ne 0 ] || [ "$found" -ne 0 ]; then
        failed=1
        echo "---- $t: exit $status, last lines of its log:"
        tail -40 "$log"
        find "artifacts/$t" -type f -newer "$stamp" -printf "   input: fuzz/artifacts/$t/%P\n"
    fi
    rm -f "$log" "$stamp"
    summary+=("$(printf '%-16s %10s executions in %ss, coverage %6s, findings %s' \
        "$t" "${runs:-?}" "$seconds" "${cov:-?}" "$found")")
done

echo "== fuzz summary"
printf '%s\n' "${summary[@]}"
exit "$failed"
