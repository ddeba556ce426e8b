#!/usr/bin/env bash
# Slow-peer benchmark (issue 19 item 4): vcped's memory while one eBGP
# neighbor flaps its table and another reads slowly, and after the slow
# one is dropped.
#
#   flapper (AS 65100) 10.79.1.1 -- veth -- 10.79.1.2 DUT (AS 65010)
#   slow    (AS 65200) 10.79.2.1 -- veth -- 10.79.2.2 DUT
#
# The flapper (`bgp_churn flap`, bgp/examples/bgp_churn.rs) announces
# ROUTES /24s, then FLAPS times withdraws and announces them all again,
# INTERVAL_MS apart, starting 5 s after the table (the slow peer comes in
# between). The slow peer (`bgp_churn slow`) reads READ_BYTES
# every EVERY_MS (the issue's 200 bytes every 10 s: TCP keeps crawling,
# so the send hold timer never fires; READ_BYTES=0 never reads). The
# script prints vcped's VmRSS before the slow peer comes, every
# SAMPLE flaps, at the end of the churn, and after the slow peer is
# killed and vcped has dropped its session (`vcpectl bgp disable`, as an
# operator would; its send hold timer would take 8 minutes), together
# with what `vcpectl bgp neighbor` says is queued towards it.
#
# Namespaces are named vsp<pid>-{dut,flap,slow}; everything is removed on
# exit. Needs root and iproute2.
#
# Usage:  sudo bench/slow_peer.sh
# Environment:
#   ROUTES=10000  FLAPS=100  INTERVAL_MS=200  SAMPLE=10
#   READ_BYTES=200  EVERY_MS=10000
#   NO_BUILD=1               skip the cargo build
#   CARGO_TARGET_DIR         where the binaries are (default: ./target)
#   VCPED, VCPECTL, CHURN    the binaries themselves (e.g. VCPED and VCPECTL
#                            of an older build, for a before/after; with
#                            NO_BUILD=1)
#   KEEP_LOGS=1              keep the work directory
set -euo pipefail

ROUTES=${ROUTES:-10000}
FLAPS=${FLAPS:-100}
INTERVAL_MS=${INTERVAL_MS:-200}
SAMPLE=${SAMPLE:-10}
READ_BYTES=${READ_BYTES:-200}
EVERY_MS=${EVERY_MS:-10000}
P="vsp$$-"
ROOT=$(cd "$(dirname "$0")/.." && pwd)
TARGET=${CARGO_TARGET_DIR:-$ROOT/target}
VCPED=${VCPED:-$TARGET/release/vcped}
VCPECTL=${VCPECTL:-$TARGET/release/vcpectl}
CHURN=${CHURN:-$TARGET/release/examples/bgp_churn}
WORK=$(mktemp -d "/tmp/vsp$$.XXXXXX")
NAMESPACES=()
PIDS=()
NS_DUT=${P}dut NS_FLAP=${P}flap NS_SLOW=${P}slow

die() { echo "slow_peer.sh: $*" >&2; exit 1; }

stop_pid() { # TERM, up to 2 s, then KILL; reaps it
    local pid=$1
    kill -0 "$pid" 2>/dev/null || { wait "$pid" 2>/dev/null || true; return 0; }
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 20); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
}

cleanup() {
    local rc=$?
    set +e
    local pid ns
    for pid in "${PIDS[@]}"; do stop_pid "$pid"; done
    for ns in "${NAMESPACES[@]}"; do
        for pid in $(ip netns pids "$ns" 2>/dev/null); do kill -KILL "$pid" 2>/dev/null; done
    done
    for ns in "${NAMESPACES[@]}"; do ip netns del "$ns" 2>/dev/null; done
    if [[ -n ${KEEP_LOGS:-} ]]; then echo "slow_peer.sh: logs kept in $WORK" >&2; else rm -rf "$WORK"; fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

[[ $EUID -eq 0 ]] || die "needs root (network namespaces): sudo $0"
command -v ip >/dev/null || die "ip is missing (apt-get install -y iproute2)"
if [[ -z ${NO_BUILD:-} ]]; then
    echo "== cargo build --release -p vcpe-daemon -p vcpectl; -p vcpe-bgp --example bgp_churn" >&2
    (cd "$ROOT" && cargo build --release -p vcpe-daemon -p vcpectl --quiet \
        && cargo build --release -p vcpe-bgp --example bgp_churn --quiet)
fi
for b in "$VCPED" "$VCPECTL" "$CHURN"; do [[ -x $b ]] || die "$b missing (build first, or unset NO_BUILD)"; done

netns() { ip netns add "$1"; NAMESPACES+=("$1"); ip -n "$1" link set lo up; }
netns "$NS_DUT"
link() { # link NS IFACE_AT_DUT SUBNET
    netns "$1"
    ip -n "$NS_DUT" link add "$2" type veth peer name eth0 netns "$1"
    ip -n "$NS_DUT" link set "$2" up
    ip -n "$1" link set eth0 up
    ip -n "$NS_DUT" addr add "$3.2/24" dev "$2"
    ip -n "$1" addr add "$3.1/24" dev eth0
}
link "$NS_FLAP" eth0 10.79.1
link "$NS_SLOW" eth1 10.79.2

SOCK=$WORK/vcped.sock
cat >"$WORK/vcped.toml" <<EOF
[router]
id = "10.79.1.2"
asn = 65010

[control]
socket = "$SOCK"

[kernel]
route_sync = false

[[interface]]
name = "vsptun0"
addresses = ["10.10.0.1/16"]

[[route]]
name = "flap-lan"
prefix = "10.79.1.0/24"
interface = "vsptun0"

[bgp]
listen = "0.0.0.0:179"

[[bgp.neighbor]]
address = "10.79.1.1"
remote_as = 65100
hold_time = 240
mode = "passive"

[[bgp.neighbor]]
address = "10.79.2.1"
remote_as = 65200
hold_time = 240
mode = "passive"
EOF
ip netns exec "$NS_DUT" "$VCPED" run --config "$WORK/vcped.toml" >"$WORK/dut.log" 2>&1 &
DUT=$!
PIDS+=("$DUT")
ctl() { "$VCPECTL" --socket "$SOCK" "$@"; }
for _ in $(seq 100); do ctl status >/dev/null 2>&1 && break; sleep 0.2; done
ctl status >/dev/null || die "vcped did not start: $(tail -n 20 "$WORK/dut.log")"

rss() { awk '$1 == "VmRSS:" { print $2 }' "/proc/$DUT/status"; }
# queued: bytes queued towards the slow peer, and whether it is behind
queued() {
    ctl bgp neighbor 10.79.2.1 --json \
        | grep -o '"\(out_queued_bytes\|out_behind\|pending_out\)": *[a-z0-9]*' | tr -d ' "' \
        | tr '\n' ' '
}
accepted() { ctl bgp neighbor 10.79.1.1 --json | grep -o '"accepted": *[0-9]*' | grep -o '[0-9]*$'; }

FLOG=$WORK/flap.out
# The flaps start DELAY_MS after the table: time for the slow peer to come.
ip netns exec "$NS_FLAP" "$CHURN" flap --connect 10.79.1.2 --local-as 65100 --peer-as 65010 \
    --router-id 10.79.1.1 --prefixes "$ROUTES" --flaps "$FLAPS" --interval-ms "$INTERVAL_MS" \
    --delay-ms 5000 >"$FLOG" 2>&1 &
PIDS+=($!)
for _ in $(seq 300); do [[ $(accepted) == "$ROUTES" ]] && break; sleep 0.1; done
[[ $(accepted) == "$ROUTES" ]] || die "the flapper's table did not arrive"
echo "routes=$ROUTES flaps=$FLAPS slow peer reads $READ_BYTES bytes every $EVERY_MS ms"
echo "rss_kb before slow peer: $(rss)"

ip netns exec "$NS_SLOW" "$CHURN" slow --connect 10.79.2.2 --local-as 65200 --peer-as 65010 \
    --router-id 10.79.2.1 --read-bytes "$READ_BYTES" --every-ms "$EVERY_MS" >"$WORK/slow.out" 2>&1 &
SLOW=$!
PIDS+=("$SLOW")
for _ in $(seq 100); do grep -q '"up"' "$WORK/slow.out" && break; sleep 0.1; done
grep -q '"up"' "$WORK/slow.out" || die "the slow peer did not come up: $(cat "$WORK/slow.out")"
echo "rss_kb with slow peer: $(rss)"
last=0
while ! grep -q '"flapped"' "$FLOG"; do
    kill -0 "${PIDS[1]}" 2>/dev/null || die "the flapper ended: $(tail -n 5 "$FLOG")"
    n=$(grep -o '"n":[0-9]*' "$FLOG" | tail -n1 | cut -d: -f2 || true)
    n=${n:-0}
    if ((n >= last + SAMPLE)); then
        echo "flap $n: rss_kb $(rss) $(queued)"
        last=$n
    fi
    sleep 0.2
done
sleep 2
echo "after $FLAPS flaps: rss_kb $(rss) $(queued)"

stop_pid "$SLOW"
ctl bgp disable 10.79.2.1 >/dev/null
sleep 3
echo "slow peer dropped: rss_kb $(rss) $(queued)"
