#!/usr/bin/env bash
# WireGuard handshake flood benchmark (issue 19 item 5): loss of real
# traffic through a vcped WireGuard tunnel, without and with a flood of
# handshake initiations (valid mac1, no cookie) spoofed from the peer's own
# address and port, i.e. on the same receive thread as the peer's data.
#
#   host A --veth-- vCPE A ====== underlay veth ====== vCPE B --veth-- host B
#   10.1.0.10    10.1.0.1   100.64.0.1      100.64.0.2   10.2.0.1    10.2.0.10
#                 (flooded)                 + wg_flood --from 100.64.0.2:51820
#
# Per run: iperf3 UDP from host B to host A at a fixed rate well below the
# tunnel's capacity (UDP_RATE, UDP_LEN bytes) for DURATION seconds, once
# idle and once while tests/src/bin/wg_flood sends FLOOD_PPS initiations a
# second from vCPE B's namespace; reports the receiver's loss %, and vCPE
# A's handshake counters (`vcpectl stats --json`: cookie replies, dropped
# as queue full, rate limited, under load) and the CPU time of its threads
# during the flood. Target: loss < 1 % under the flood.
#
# Usage:  sudo bench/wg_flood.sh
#         flock /tmp/vcpe-bench.lock bench/wg_flood.sh   (on a shared machine)
# Environment:
#   DURATION=10       seconds per iperf3 run
#   UDP_RATE=200M     iperf3 -b
#   UDP_LEN=1200      iperf3 -l (datagram payload bytes)
#   FLOOD_PPS=92000   flood rate
#   RUNS=3            idle+flood pairs
#   NO_BUILD=1        skip `cargo build --release`
#   VCPE_BIN_DIR      take vcped and vcpectl from here (compare a build of
#                     main: the flooder always comes from this tree)
#   CARGO_TARGET_DIR  where cargo builds (default: ./target)
# Namespaces vwf<pid>-{a,b,ha,hb}; removed on exit. Needs root, iproute2,
# iperf3, python3, wireguard-tools (wg).
set -euo pipefail

DURATION=${DURATION:-10}
UDP_RATE=${UDP_RATE:-200M}
UDP_LEN=${UDP_LEN:-1200}
FLOOD_PPS=${FLOOD_PPS:-92000}
RUNS=${RUNS:-3}
P="vwf$$-"
ROOT=$(cd "$(dirname "$0")/.." && pwd)
TARGET=${CARGO_TARGET_DIR:-$ROOT/target}
WORK=$(mktemp -d /tmp/vcpe-wgflood.XXXXXX)

if [ "$(id -u)" != 0 ]; then echo "run as root (network namespaces)" >&2; exit 1; fi
for t in ip iperf3 python3 wg; do
    command -v $t >/dev/null || { echo "missing $t (apt-get install iproute2 iperf3 python3 wireguard-tools)" >&2; exit 1; }
done
if [ -z "${NO_BUILD:-}" ]; then
    (cd "$ROOT" && cargo build -q --release -p vcpe-daemon -p vcpectl -p vcpe-tests --bin vcped --bin vcpectl --bin wg_flood)
fi
BIN=${VCPE_BIN_DIR:-$TARGET/release}
FLOOD=$TARGET/release/wg_flood
for b in "$BIN/vcped" "$BIN/vcpectl" "$FLOOD"; do
    [ -x "$b" ] || { echo "missing $b (build it, or unset NO_BUILD)" >&2; exit 1; }
done

PIDS=()
cleanup() {
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
    sleep 0.5
    for n in a b ha hb; do ip netns del "$P$n" 2>/dev/null || true; done
    rm -rf "$WORK"
}
trap cleanup EXIT INT TERM

ns() { ip netns exec "$P$1" "${@:2}"; }
for n in a b ha hb; do ip netns add "$P$n"; ns $n ip link set lo up; done
ip link add wan0 netns "${P}a" type veth peer name wan0 netns "${P}b"
ns a ip addr add 100.64.0.1/24 dev wan0; ns a ip link set wan0 up
ns b ip addr add 100.64.0.2/24 dev wan0; ns b ip link set wan0 up
for i in 1 2; do
    v=$([ $i = 1 ] && echo a || echo b); h=h$v
    ip link add eth1 netns "$P$v" type veth peer name eth0 netns "$P$h"
    ns $v ip addr add 10.$i.0.1/24 dev eth1; ns $v ip link set eth1 up
    ns $h ip addr add 10.$i.0.10/24 dev eth0; ns $h ip link set eth0 up
    ns $h ip route add default via 10.$i.0.1
    ns $v sysctl -qw net.ipv4.ip_forward=1
done
(umask 077; wg genkey > "$WORK/a.key"; wg genkey > "$WORK/b.key")
PUB_A=$(wg pubkey < "$WORK/a.key"); PUB_B=$(wg pubkey < "$WORK/b.key")
conf() { # n m peer_public
    cat <<EOF
[router]
id = "10.255.0.$1"
asn = 6500$1
[kernel]
route_sync = false
[[interface]]
name = "vcpe0"
addresses = ["10.255.0.$1/24"]
mtu = 1420
[[route]]
name = "local"
prefix = "10.$1.0.0/24"
interface = "vcpe0"
[[route]]
name = "remote"
prefix = "10.$2.0.0/24"
peer = "other"
[[peer]]
name = "other"
encapsulation = "wireguard"
bind = "0.0.0.0:51820"
endpoint = "100.64.0.$2:51820"
keepalive = 5
private_key_file = "$WORK/$([ $1 = 1 ] && echo a || echo b).key"
public_key = "$3"
allowed_prefixes = ["10.$2.0.0/24", "10.255.0.$2/32"]
mtu = 1420
EOF
}
conf 1 2 "$PUB_B" > "$WORK/a.toml"; conf 2 1 "$PUB_A" > "$WORK/b.toml"
for v in a b; do
    # Not through ns(): $! is then vcped's own pid (ip execs it).
    ip netns exec "$P$v" "$BIN/vcped" run --config "$WORK/$v.toml" --socket "$WORK/$v.sock" > "$WORK/$v.log" 2>&1 &
    PIDS+=($!)
done
for v in a b; do
    for _ in $(seq 50); do "$BIN/vcpectl" --socket "$WORK/$v.sock" status >/dev/null 2>&1 && break; sleep 0.2; done
done
ns a ip route add 10.2.0.0/24 dev vcpe0; ns b ip route add 10.1.0.0/24 dev vcpe0
for _ in $(seq 20); do ns hb ping -c1 -W1 10.1.0.10 >/dev/null 2>&1 && break; sleep 0.5; done
ns hb ping -c3 -W1 -q 10.1.0.10 >/dev/null || { echo "tunnel not up; logs in $WORK" >&2; cat "$WORK"/a.log >&2; exit 1; }
ns ha iperf3 -s -D -B 10.1.0.10 --pidfile "$WORK/iperf3.pid"
sleep 0.5
PIDS+=("$(cat "$WORK/iperf3.pid")")

VCPED_A=${PIDS[0]}
cpu() { # thread-name ticks of vcped A: "name ticks" lines
    for t in /proc/$VCPED_A/task/*; do
        echo "$(cat "$t/comm") $(awk '{print $14+$15}' "$t/stat")"
    done
}
hs() { "$BIN/vcpectl" --socket "$WORK/a.sock" --json stats | python3 -c '
import json,sys
h=json.load(sys.stdin).get("handshakes")
print("-" if h is None else "cookies=%d queue_full=%d rate_limited=%d accepted=%d refused=%d under_load_events=%d" % (h["cookie_replies_sent"],h["dropped_queue_full"],h["rate_limited"],h["accepted"],h["refused"],h["under_load_events"]))' 2>/dev/null || echo "-"; }

rcvbuf() { # ns: UDP datagrams dropped for a full socket buffer (RcvbufErrors)
    ns $1 awk '/^Udp:/ { if (!h) { for (i = 1; i <= NF; i++) if ($i == "RcvbufErrors") c = i; h = 1 } else print $c }' /proc/net/snmp
}

run() { # mode
    local flood_pid=""
    if [ "$1" = flood ]; then
        ns b "$FLOOD" --to 100.64.0.1:51820 --from 100.64.0.2:51820 --key "$PUB_A" \
            --pps "$FLOOD_PPS" --seconds $((DURATION + 3)) > "$WORK/flood.out" 2>&1 &
        flood_pid=$!
        sleep 2
    fi
    cpu > "$WORK/cpu0"
    local ra rb rh
    ra=$(rcvbuf a); rb=$(rcvbuf b); rh=$(rcvbuf ha)
    ns hb iperf3 -c 10.1.0.10 -u -b "$UDP_RATE" -l "$UDP_LEN" -t "$DURATION" -J > "$WORK/iperf.json" || true
    cpu > "$WORK/cpu1"
    ra=$(( $(rcvbuf a) - ra )); rb=$(( $(rcvbuf b) - rb )); rh=$(( $(rcvbuf ha) - rh ))
    [ -n "$flood_pid" ] && wait "$flood_pid" || true
    local loss
    loss=$(python3 -c 'import json,sys; e=json.load(open(sys.argv[1]))["end"]["sum"]; print("%.2f%% (%d/%d)" % (e["lost_percent"], e["lost_packets"], e["packets"]))' "$WORK/iperf.json" 2>/dev/null || echo FAIL)
    local threads
    threads=$(join <(sort "$WORK/cpu0") <(sort "$WORK/cpu1") 2>/dev/null | awk '{d=$3-$2; if (d>0) printf "%s=%.2fs ", $1, d/100}')
    printf "%-6s loss %-22s %s\n" "$1" "$loss" "$([ "$1" = flood ] && cat "$WORK/flood.out" | tr -d '\n')"
    printf "       vcped A threads (cpu during iperf3): %s\n" "$threads"
    printf "       vcped A handshakes (cumulative): %s\n" "$(hs)"
    printf "       UDP socket buffer drops during iperf3: vCPE A %s, vCPE B %s, host A (iperf3 server) %s\n" "$ra" "$rb" "$rh"
}

echo "vcped from $BIN; iperf3 UDP ${UDP_RATE}bit/s of ${UDP_LEN} B, ${DURATION} s, host B -> host A; flood ${FLOOD_PPS} pps"
for i in $(seq "$RUNS"); do
    echo "run $i"
    run idle
    run flood
done
