#!/usr/bin/env bash
# CI's check of the Debian package: builds it with cargo-deb from the dev
# binaries CI already has (a release build would cost CI ~10 minutes; real
# packages come from deploy/build-deb.sh, release profile), then checks that
# it holds what an operator installs: both binaries, the systemd unit, the
# sysctl drop-in, the config template as a conffile, the completions, the
# man pages (generated from clap, as deploy/build-deb.sh does), and a unit
# of Type=notify with a watchdog.
# Needs cargo-deb (CI installs a pinned version) and dpkg-deb.
set -euo pipefail
cd "$(dirname "$0")/.."
target=${CARGO_TARGET_DIR:-target}
bin=$target/debug
if [ ! -x "$bin/vcpectl" ] || [ ! -x "$bin/vcped" ]; then cargo build -q -p vcpe-daemon -p vcpectl --bins; fi
mkdir -p "$bin/completions"
for shell in bash zsh fish; do
    "$bin/vcpectl" completions "$shell" >"$bin/completions/vcpectl.$shell"
    [ -s "$bin/completions/vcpectl.$shell" ] || { echo "vcpectl completions $shell printed nothing" >&2; exit 1; }
done
mkdir -p "$bin/man"
"$bin/vcped" man | gzip -9n >"$bin/man/vcped.8.gz"
"$bin/vcpectl" man | gzip -9n >"$bin/man/vcpectl.1.gz"
for page in "$bin/man/vcped.8.gz" "$bin/man/vcpectl.1.gz"; do
    zcat "$page" | grep -q '^\.TH ' || { echo "$page is not a man page" >&2; exit 1; }
done
# --profile dev: cargo-deb warns that it is meant for release profiles.
deb=$(cargo deb -p vcpe-daemon --no-build --locked --profile dev --fast 2>/dev/null | tail -n 1)
[ -f "$deb" ] || { echo "cargo deb made no package (got: $deb)" >&2; exit 1; }
list=$(dpkg-deb -c "$deb")
missing=0
for f in ./usr/bin/vcped ./usr/bin/vcpectl ./etc/vcpe/vcped.toml \
    ./usr/lib/sysctl.d/60-vcpe.conf ./usr/share/bash-completion/completions/vcpectl \
    ./usr/share/zsh/vendor-completions/_vcpectl ./usr/share/doc/vcpe/DEPLOY.md \
    ./usr/share/man/man8/vcped.8.gz ./usr/share/man/man1/vcpectl.1.gz; do
    grep -q " $f\$" <<<"$list" || { echo "package lacks $f" >&2; missing=1; }
done
grep -q "vcped.service\$" <<<"$list" || { echo "package lacks the systemd unit" >&2; missing=1; }
dpkg-deb --ctrl-tarfile "$deb" | tar -xO ./conffiles | grep -qx /etc/vcpe/vcped.toml \
    || { echo "/etc/vcpe/vcped.toml is not a conffile" >&2; missing=1; }
unit=$(mktemp -d)
dpkg-deb -x "$deb" "$unit"
svc=$(find "$unit" -name vcped.service | head -n 1)
for line in Type=notify WatchdogSec= NotifyAccess=main; do
    grep -q "^$line" "$svc" || { echo "the packaged unit lacks $line" >&2; missing=1; }
done
zcat "$unit/usr/share/man/man8/vcped.8.gz" | grep -q '^\.TH vcped 8' \
    || { echo "vcped.8.gz is not vcped's man page" >&2; missing=1; }
rm -rf "$unit"
[ "$missing" = 0 ] || exit 1
echo "$deb: binaries, unit (Type=notify), sysctl drop-in, conffile, completions and man pages present"
