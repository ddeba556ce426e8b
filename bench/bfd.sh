#!/usr/bin/env bash
# BFD cost: the CPU a BFD speaker spends on N sessions at a fast rate
# (default 100 sessions at 100 ms x 3, the issue's target: under 2% of one
# core for vcped), with vcped and BIRD 2 in the same run on the same
# machine. Each DUT talks to a twin of itself (vcped <-> vcped, BIRD <->
# BIRD), so both ends of every session run the implementation measured.
#
#   side a (DUT)  veth 10.96.0.1/24 -- veth 10.96.0.2/24  side b (twin)
#   10.96.1.1..N/32 (TUN or lo)         10.96.2.1..N/32
#   session i: 10.96.1.i <-> 10.96.2.i, RFC 5883 multihop (UDP 4784)
#
# vcped: one [[bgp.neighbor]] per session, passive on both sides (no BGP
# session ever opens: only BFD runs), bfd_multihop, local_address on its
# TUN. BIRD: `protocol bfd` with one `neighbor ... local ... multihop yes`
# per session, nothing else. CPU: utime + stime of side a's process from
# /proc over DURATION seconds once every session is Up, as % of one core.
#
# Namespaces are named vbf<pid>-{a,b}; removed on exit, also on failure or
# Ctrl-C. Traffic never leaves them. Needs root, iproute2, bird2 for the
# baseline.
#
# Usage:  sudo bench/bfd.sh
# Environment:
#   SESSIONS=100   sessions per DUT
#   INTERVAL=100   ms
#   MULT=3
#   DURATION=20    seconds measured
#   ONLY=vcped|bird  one DUT only (default: both)
#   NO_BUILD=1     skip the cargo build (release)
#   CARGO_TARGET_DIR  where the binaries are (default: ./target)
#   KEEP_LOGS=1    keep the work directory
#   PERF=1         record vcped (side a) with `perf record -g` for DURATION
#                  before the measurement (implies KEEP_LOGS=1)
set -euo pipefail

SESSIONS=${SESSIONS:-100}
INTERVAL=${INTERVAL:-100}
MULT=${MULT:-3}
DURATION=${DURATION:-20}
ONLY=${ONLY:-both}
P="vbf$$-"
ROOT=$(cd "$(dirname "$0")/.." && pwd)
TARGET=${CARGO_TARGET_DIR:-$ROOT/target}
VCPED=$TARGET/release/vcped
VCPECTL=$TARGET/release/vcpectl
WORK=$(mktemp -d "/tmp/vbf$$.XXXXXX")
[[ -z ${PERF:-} ]] || KEEP_LOGS=1
NAMESPACES=()
PIDS=()

die() { echo "bfd.sh: $*" >&2; exit 1; }

stop_pid() { # stop_pid PID: TERM, up to 2 s, then KILL; reaps it
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
    if [[ -n ${KEEP_LOGS:-} ]]; then
        echo "bfd.sh: logs kept in $WORK" >&2
    else
        rm -rf "$WORK"
    fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

[[ $EUID -eq 0 ]] || die "needs root (network namespaces): sudo $0"
command -v ip >/dev/null || die "ip is missing (apt-get install -y iproute2)"
for v in SESSIONS INTERVAL MULT DURATION; do
    [[ ${!v} =~ ^[1-9][0-9]*$ ]] || die "$v must be a positive number"
done
((SESSIONS <= 250)) || die "SESSIONS: at most 250 (one /24 of addresses per side)"
case $ONLY in
    both) DUTS="vcped bird" ;;
    vcped | bird) DUTS=$ONLY ;;
    *) die "ONLY must be both, vcped or bird" ;;
esac
if [[ $DUTS == *bird* ]]; then
    command -v bird >/dev/null && command -v birdc >/dev/null \
        || die "bird/birdc missing (apt-get install -y bird2), or run with ONLY=vcped"
fi
if [[ -z ${NO_BUILD:-} && $DUTS == *vcped* ]]; then
    echo "== cargo build --release -p vcpe-daemon -p vcpectl" >&2
    (cd "$ROOT" && cargo build --release -p vcpe-daemon -p vcpectl --quiet)
fi
if [[ $DUTS == *vcped* ]]; then
    [[ -x $VCPED && -x $VCPECTL ]] || die "$VCPED missing; build with: cargo build --release -p vcpe-daemon -p vcpectl"
fi

TICKS=$(getconf CLK_TCK)

cpu_ticks() { # cpu_ticks PID: utime + stime of the whole process
    awk '{ print $14 + $15 }' "/proc/$1/stat"
}

# Two namespaces joined by a veth, each with the other's /24 routed to it.
topology() { # topology RUN
    local a=${P}$1-a b=${P}$1-b
    ip netns add "$a"; NAMESPACES+=("$a")
    ip netns add "$b"; NAMESPACES+=("$b")
    ip -n "$a" link set lo up
    ip -n "$b" link set lo up
    ip link add "${P}va" netns "$a" type veth peer name "${P}vb" netns "$b"
    ip -n "$a" link set "${P}va" name eth0
    ip -n "$b" link set "${P}vb" name eth0
    ip -n "$a" addr add 10.96.0.1/24 dev eth0
    ip -n "$b" addr add 10.96.0.2/24 dev eth0
    ip -n "$a" link set eth0 up
    ip -n "$b" link set eth0 up
    ip -n "$a" route add 10.96.2.0/24 via 10.96.0.2
    ip -n "$b" route add 10.96.1.0/24 via 10.96.0.1
}

# vcped config of side `me` (1 or 2), sessions to side `other`.
vcped_config() { # vcped_config ME OTHER DIR
    local me=$1 other=$2 dir=$3 i addrs=""
    for i in $(seq "$SESSIONS"); do addrs+="\"10.96.$me.$i/32\", "; done
    cat <<EOF
[router]
id = "10.96.$me.1"
asn = 6500$me

[control]
socket = "$dir/vcped-$me.sock"

[kernel]
route_sync = false

[[interface]]
name = "vbft$me"
addresses = [${addrs%, }]

[bgp]
listen = "0.0.0.0:179"

EOF
    for i in $(seq "$SESSIONS"); do
        cat <<EOF
[[bgp.neighbor]]
address = "10.96.$other.$i"
local_address = "10.96.$me.$i"
remote_as = 6500$other
mode = "passive"
bfd = true
bfd_multihop = true
bfd_interval_ms = $INTERVAL
bfd_multiplier = $MULT

EOF
    done
}

bird_config() { # bird_config ME OTHER
    local me=$1 other=$2 i
    echo "router id 10.96.$me.1;"
    echo "protocol device { }"
    echo "protocol bfd {"
    echo "  multihop { interval $INTERVAL ms; multiplier $MULT; };"
    for i in $(seq "$SESSIONS"); do
        echo "  neighbor 10.96.$other.$i local 10.96.$me.$i multihop yes;"
    done
    echo "}"
}

wait_up() { # wait_up COMMAND...: until it prints SESSIONS, at most 60 s
    local n=0
    for _ in $(seq 600); do
        n=$("$@" 2>/dev/null) || true
        n=${n:-0}
        [[ $n -ge $SESSIONS ]] && return 0
        sleep 0.1
    done
    echo "bfd.sh: only $n of $SESSIONS sessions Up after 60 s" >&2
    return 1
}

measure() { # measure PID: % of one core over DURATION
    local t0 t1
    t0=$(cpu_ticks "$1")
    sleep "$DURATION"
    t1=$(cpu_ticks "$1")
    awk -v d=$((t1 - t0)) -v hz="$TICKS" -v s="$DURATION" 'BEGIN { printf "%.2f", 100 * d / hz / s }'
}

run_vcped() {
    topology vcped
    local side pid_a=""
    for side in 1 2; do
        local ns=${P}vcped-a other=2
        [[ $side == 2 ]] && ns=${P}vcped-b other=1
        vcped_config "$side" "$other" "$WORK" > "$WORK/vcped-$side.toml"
        ip netns exec "$ns" "$VCPED" run --config "$WORK/vcped-$side.toml" \
            > "$WORK/vcped-$side.log" 2>&1 &
        PIDS+=($!)
        [[ $side == 1 ]] && pid_a=$!
    done
    up_vcped() {
        "$VCPECTL" --socket "$WORK/vcped-1.sock" --json bfd \
            | grep -c '"state": "Up"'
    }
    wait_up up_vcped || { tail -5 "$WORK/vcped-1.log" >&2; return 1; }
    # The process of side a: `ip netns exec` execs vcped in place.
    if [[ -n ${PERF:-} ]]; then
        perf record -g -o "$WORK/perf.data" -p "$pid_a" -- sleep "$DURATION" >/dev/null 2>&1
        echo "bfd.sh: perf.data in $WORK" >&2
    fi
    RESULT="vcped $(up_vcped) $(measure "$pid_a")"
}

run_bird() {
    topology bird
    local side pid_a=""
    for side in 1 2; do
        local ns=${P}bird-a other=2
        [[ $side == 2 ]] && ns=${P}bird-b other=1
        for i in $(seq "$SESSIONS"); do
            ip -n "$ns" addr add "10.96.$side.$i/32" dev lo
        done
        bird_config "$side" "$other" > "$WORK/bird-$side.conf"
        ip netns exec "$ns" bird -f -c "$WORK/bird-$side.conf" -s "$WORK/bird-$side.ctl" \
            > "$WORK/bird-$side.log" 2>&1 &
        PIDS+=($!)
        [[ $side == 1 ]] && pid_a=$!
    done
    up_bird() {
        birdc -s "$WORK/bird-1.ctl" show bfd sessions | grep -c ' Up '
    }
    wait_up up_bird || { tail -5 "$WORK/bird-1.log" >&2; return 1; }
    RESULT="bird $(up_bird) $(measure "$pid_a")"
}

echo "== $SESSIONS BFD sessions at $INTERVAL ms x $MULT (multihop), CPU of one end over $DURATION s" >&2
# Not in a $(...) subshell: the namespaces and pids must reach the
# cleanup trap of this shell.
RESULTS=()
RESULT=""
for dut in $DUTS; do
    run_"$dut"
    RESULTS+=("$RESULT")
done
printf '%-8s %8s %14s\n' DUT "UP" "CPU % of core"
for r in "${RESULTS[@]}"; do
    read -r dut up cpu <<<"$r"
    printf '%-8s %8s %14s\n' "$dut" "$up/$SESSIONS" "$cpu"
done
