#!/usr/bin/env bash
# Builds the Debian package of vcpe (vcped, vcpectl, systemd unit, sysctl
# drop-in, config template, shell completions, man pages) with cargo-deb:
#   1. cargo build --release (vcped, vcpectl)
#   2. shell completions from the built vcpectl (`vcpectl completions SHELL`)
#      into <target>/release/completions/, where the package metadata in
#      vcpe-daemon/Cargo.toml expects them
#   3. cargo deb --no-build --dbgsym: stripped binaries in vcpe_*.deb, their
#      debug symbols in vcpe-dbgsym_*.ddeb (install it for symbolized
#      backtraces and gdb)
# Prints the path of the .deb (under <target>/debian/). Extra arguments go to
# cargo deb (e.g. --deb-revision 2). Needs: cargo install cargo-deb --locked,
# objcopy (binutils).
#
# Usage: deploy/build-deb.sh [CARGO-DEB-ARGS...]
set -euo pipefail
cd "$(dirname "$0")/.."

command -v cargo-deb >/dev/null || { echo "cargo-deb is missing: cargo install cargo-deb --locked" >&2; exit 1; }
target=${CARGO_TARGET_DIR:-target}
[[ $target = /* ]] || target=$PWD/$target

# The package version comes from Cargo.toml; deploy/debian/changelog must
# have an entry for it (lintian, and `apt changelog` on the VM, read it).
version=$(sed -n 's/^version = "\(.*\)"$/\1/p' Cargo.toml | head -n 1)
if ! head -n 1 deploy/debian/changelog | grep -q "^vcpe ($version-"; then
    echo "deploy/debian/changelog has no entry for version $version on top: add one (dch -v $version-1, or by hand)" >&2
    exit 1
fi

echo "== cargo build --release (vcped, vcpectl)"
cargo build --release --locked -p vcpe-daemon -p vcpectl --bins

echo "== shell completions"
out=$target/release/completions
mkdir -p "$out"
for shell in bash zsh fish; do
    if ! "$target/release/vcpectl" completions "$shell" >"$out/vcpectl.$shell"; then
        echo "\`vcpectl completions $shell\` failed: this vcpectl cannot generate completions" >&2
        exit 1
    fi
    [[ -s $out/vcpectl.$shell ]] || { echo "\`vcpectl completions $shell\` printed nothing" >&2; exit 1; }
done

echo "== man pages (vcped(8), vcpectl(1), from the clap definitions)"
man=$target/release/man
mkdir -p "$man"
"$target/release/vcped" man | gzip -9n >"$man/vcped.8.gz"
"$target/release/vcpectl" man | gzip -9n >"$man/vcpectl.1.gz"
for page in "$man/vcped.8.gz" "$man/vcpectl.1.gz"; do
    zcat "$page" | grep -q '^\.TH ' || { echo "$page is not a man page" >&2; exit 1; }
done

echo "== cargo deb"
cargo deb -p vcpe-daemon --no-build --locked --dbgsym "$@"
