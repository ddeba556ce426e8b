#!/usr/bin/env bash
# Forwarding benchmark: iperf3 through a kernel router and through vcped, in
# the same run, on the same machine, so the ratio means something.
#
#   (a) kernel:  client --veth-- router (ip_forward=1) --veth-- server
#   (b) vcped:   client --TUN-- router (vcped, userspace) --TUN-- server
#
# Each topology is three network namespaces named vbf<pid>-{k,v}{c,r,s};
# everything is removed on exit, also on failure or Ctrl-C. Traffic never
# leaves those namespaces. Needs root, iproute2, iperf3 and python3.
#
# Usage:  sudo bench/forwarding.sh
# Environment:
#   DURATION=5        seconds per iperf3 run
#   ONLY=kernel|vcped run one half only (default: both)
#   WORKERS=0         vcped [forwarding] workers (0 = one per core)
#   NO_BUILD=1        skip `cargo build --release -p vcpe-daemon -p vcpectl`
#   CARGO_TARGET_DIR  where cargo builds and the binaries are taken from
#                     (default: ./target of the workspace)
# Total run time with the defaults: about a minute (plus the build).
set -euo pipefail

DURATION=${DURATION:-5}
ONLY=${ONLY:-both}
WORKERS=${WORKERS:-0}
P="vbf$$-"
ROOT=$(cd "$(dirname "$0")/.." && pwd)
WORK=$(mktemp -d "/tmp/vbf$$.XXXXXX")
TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
[[ $TARGET_DIR == /* ]] || TARGET_DIR=$PWD/$TARGET_DIR
export CARGO_TARGET_DIR=$TARGET_DIR
NAMESPACES=()
DAEMON_PID=

die() { echo "forwarding.sh: $*" >&2; exit 1; }

cleanup() {
    local rc=$?
    set +e
    if [[ -n $DAEMON_PID ]]; then
        kill -TERM "$DAEMON_PID" 2>/dev/null
        for _ in $(seq 20); do kill -0 "$DAEMON_PID" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$DAEMON_PID" 2>/dev/null
        wait "$DAEMON_PID" 2>/dev/null
    fi
    # Whatever still runs inside our namespaces (iperf3 servers) was started
    # by this script: end those processes by pid, then remove the namespaces.
    local ns pid
    for ns in "${NAMESPACES[@]}"; do
        for pid in $(ip netns pids "$ns" 2>/dev/null); do kill -KILL "$pid" 2>/dev/null; done
    done
    for ns in "${NAMESPACES[@]}"; do ip netns del "$ns" 2>/dev/null; done
    if (( rc != 0 )) && [[ -s $WORK/vcped.log ]]; then
        echo "---- vcped log ($WORK/vcped.log) ----" >&2
        tail -n 50 "$WORK/vcped.log" >&2
    fi
    rm -rf "$WORK"
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

[[ $EUID -eq 0 ]] || die "needs root (network namespaces): sudo $0"
for tool in ip iperf3 python3; do
    command -v "$tool" >/dev/null || die "$tool is missing (apt-get install -y iproute2 iperf3 python3)"
done
case $ONLY in both|kernel|vcped) ;; *) die "ONLY must be both, kernel or vcped" ;; esac

netns() { # netns NAME: create it with lo up and quiet IPv6 (no DAD, no RS)
    ip netns add "$1"
    NAMESPACES+=("$1")
    ip -n "$1" link set lo up
    ip netns exec "$1" sh -c '
        for c in all default; do
            echo 0 > /proc/sys/net/ipv6/conf/$c/accept_dad
            echo 0 > /proc/sys/net/ipv6/conf/$c/router_solicitations
        done'
}

host_side() { # host_side NS DEV V4/LEN V6/LEN: configure a client or server end
    ip -n "$1" link set "$2" up
    ip -n "$1" addr add "$3" dev "$2"
    ip -n "$1" -6 addr add "$4" dev "$2" nodad
}

start_iperf_server() { # start_iperf_server NS
    ip netns exec "$1" iperf3 -s -D -p 5201 --pidfile "$WORK/iperf3-$1.pid"
    for _ in $(seq 50); do
        [[ -n $(ip netns exec "$1" ss -Hltn sport = :5201) ]] && return 0
        sleep 0.1
    done
    die "iperf3 server in $1 did not start"
}

# run_iperf CLIENT_NS LABEL ARGS...: one iperf3 run; JSON to $WORK/LABEL.json
run_iperf() {
    local ns=$1 label=$2
    shift 2
    echo "  iperf3 $*" >&2
    if ! ip netns exec "$ns" iperf3 -c 10.0.2.2 -t "$DURATION" --json "$@" >"$WORK/$label.json"; then
        python3 -c 'import json,sys; print("iperf3 error:", json.load(open(sys.argv[1])).get("error"))' \
            "$WORK/$label.json" >&2 || cat "$WORK/$label.json" >&2
        die "iperf3 $* failed in $ns"
    fi
}

measure() { # measure CLIENT_NS NAME: the three runs; results in $WORK/NAME-*.json
    run_iperf "$1" "$2-tcp1"
    run_iperf "$1" "$2-tcp4" -P 4
    run_iperf "$1" "$2-udp64" -u -l 64 -b 0
}

bench_kernel() {
    echo "== kernel router (veth, ip_forward=1)" >&2
    local c=${P}kc r=${P}kr s=${P}ks
    netns "$c"; netns "$r"; netns "$s"
    ip link add "${P}kc0" netns "$c" type veth peer name "${P}kr0" netns "$r"
    ip link add "${P}kr1" netns "$r" type veth peer name "${P}ks0" netns "$s"
    ip -n "$c" link set "${P}kc0" name eth0
    ip -n "$r" link set "${P}kr0" name left
    ip -n "$r" link set "${P}kr1" name right
    ip -n "$s" link set "${P}ks0" name eth0
    host_side "$c" eth0 10.0.1.2/24 fd00:1::2/64
    host_side "$r" left 10.0.1.1/24 fd00:1::1/64
    host_side "$r" right 10.0.2.1/24 fd00:2::1/64
    host_side "$s" eth0 10.0.2.2/24 fd00:2::2/64
    ip netns exec "$r" sh -c 'echo 1 > /proc/sys/net/ipv4/ip_forward; echo 1 > /proc/sys/net/ipv6/conf/all/forwarding'
    ip -n "$c" route add default via 10.0.1.1
    ip -n "$s" route add default via 10.0.2.1
    ip netns exec "$c" ping -c1 -W2 10.0.2.2 >/dev/null || die "kernel topology: client cannot ping server"
    start_iperf_server "$s"
    measure "$c" kernel
}

bench_vcped() {
    echo "== vcped (userspace, TUN)" >&2
    local c=${P}vc r=${P}vr s=${P}vs
    local vcped=$TARGET_DIR/release/vcped vcpectl=$TARGET_DIR/release/vcpectl
    local sock=$WORK/vcped.sock tun_c=${P}tc tun_s=${P}ts
    [[ -x $vcped && -x $vcpectl ]] || die "$vcped or $vcpectl missing; build with: cargo build --release -p vcpe-daemon -p vcpectl"
    netns "$c"; netns "$r"; netns "$s"
    cat >"$WORK/vcped.toml" <<EOF
[router]
id = "10.0.1.1"
asn = 65001

[control]
socket = "$sock"

[kernel]
route_sync = false

[forwarding]
icmp_rate_limit = 10000
workers = $WORKERS

[[interface]]
name = "$tun_c"
addresses = ["10.0.1.1/24", "fd00:1::1/64"]
mtu = 1500

[[interface]]
name = "$tun_s"
addresses = ["10.0.2.1/24", "fd00:2::1/64"]
mtu = 1500
EOF
    "$vcped" check-config "$WORK/vcped.toml" >/dev/null
    ip netns exec "$r" "$vcped" run --config "$WORK/vcped.toml" >"$WORK/vcped.log" 2>&1 &
    DAEMON_PID=$!
    local up=
    for _ in $(seq 100); do
        kill -0 "$DAEMON_PID" 2>/dev/null || die "vcped exited during start-up"
        if "$vcpectl" --socket "$sock" status >/dev/null 2>&1 \
            && ip -n "$r" link show "$tun_c" >/dev/null 2>&1 \
            && ip -n "$r" link show "$tun_s" >/dev/null 2>&1; then
            up=1
            break
        fi
        sleep 0.2
    done
    [[ -n $up ]] || die "vcped did not come up with TUNs $tun_c and $tun_s in $r within 20s; ip -n $r link: $(ip -n "$r" -br link)"
    ip -n "$r" link set "$tun_c" netns "$c"
    ip -n "$r" link set "$tun_s" netns "$s"
    host_side "$c" "$tun_c" 10.0.1.2/24 fd00:1::2/64
    host_side "$s" "$tun_s" 10.0.2.2/24 fd00:2::2/64
    ip -n "$c" route add default dev "$tun_c"
    ip -n "$s" route add default dev "$tun_s"
    ip -n "$c" -6 route add default dev "$tun_c"
    ip -n "$s" -6 route add default dev "$tun_s"
    ip netns exec "$c" ping -c1 -W2 10.0.2.2 >/dev/null || die "vcped topology: client cannot ping server"
    start_iperf_server "$s"
    measure "$c" vcped
    echo "== vcped stats after the run" >&2
    "$vcpectl" --socket "$sock" stats || true
    "$vcpectl" --socket "$sock" --json stats >"$WORK/vcped-stats.json" || true
}

if [[ $ONLY != kernel ]] && [[ -z ${NO_BUILD:-} ]]; then
    echo "== cargo build --release -p vcpe-daemon -p vcpectl" >&2
    (cd "$ROOT" && cargo build --release -p vcpe-daemon -p vcpectl --quiet)
fi
[[ $ONLY == vcped ]] || bench_kernel
[[ $ONLY == kernel ]] || bench_vcped

python3 - "$WORK" "$DURATION" <<'EOF'
import json, os, sys

work, duration = sys.argv[1], sys.argv[2]

def load(name):
    path = os.path.join(work, name + ".json")
    if not os.path.exists(path):
        return None
    with open(path) as f:
        return json.load(f)

def tcp_gbps(r):
    return r["end"]["sum_received"]["bits_per_second"] / 1e9

def udp_kpps(r):
    # Receiver's view: "packets" is the highest sequence number seen, so the
    # datagrams that arrived are packets - lost_packets.
    s = r["end"]["sum_received"]
    return (s["packets"] - s["lost_packets"]) / s["seconds"] / 1e3

metrics = [
    ("TCP 1 stream (Gbit/s)", "tcp1", tcp_gbps),
    ("TCP 4 streams (Gbit/s)", "tcp4", tcp_gbps),
    ("UDP 64 B received (kpps)", "udp64", udp_kpps),
]
print()
print(f"forwarding benchmark, iperf3 -t {duration}, {os.cpu_count()} CPUs")
print(f"{'metric':<28}{'kernel':>10}{'vcped':>10}{'ratio':>8}")
for label, key, f in metrics:
    k, v = load("kernel-" + key), load("vcped-" + key)
    kv = f(k) if k else None
    vv = f(v) if v else None
    ratio = f"{vv / kv:.2f}" if kv and vv is not None else "-"
    fmt = lambda x: f"{x:.2f}" if x is not None else "-"
    print(f"{label:<28}{fmt(kv):>10}{fmt(vv):>10}{ratio:>8}")
for name in ("kernel", "vcped"):
    r = load(name + "-udp64")
    if r:
        sent, got = r["end"]["sum_sent"], r["end"]["sum_received"]
        print(f"UDP 64 B {name}: {sent['packets']} sent, {got['lost_percent']:.1f}% lost")
EOF
