#!/usr/bin/env bash
# Validates the shipped example configs with the real `vcped check-config`:
# every good example must pass, examples/bad.toml must be rejected.
set -euo pipefail
cd "$(dirname "$0")/.."
vcped=${VCPED:-target/debug/vcped}
[ -x "$vcped" ] || cargo build -q -p vcpe-daemon --bin vcped
# Git does not keep file modes beyond the executable bit; vcped refuses key
# files readable by others, as it should, so tighten them first.
chmod 600 examples/keys/*
good=()
for f in examples/*.toml; do
    [ "$f" = examples/bad.toml ] || good+=("$f")
done
# The examples are for the machines they describe (single-vpc.toml names
# the group the Debian package creates), not for the CI host.
"$vcped" check-config --elsewhere "${good[@]}"
if "$vcped" check-config --elsewhere examples/bad.toml 2>/tmp/vcpe-bad-example.txt; then
    echo "examples/bad.toml was accepted but must be rejected" >&2
    exit 1
fi
echo "examples/bad.toml rejected with $(grep -c ': error: ' /tmp/vcpe-bad-example.txt) errors, as expected"
