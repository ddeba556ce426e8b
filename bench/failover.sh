#!/usr/bin/env bash
# Failover benchmark: how long traffic stops when one of two vCPEs that
# serve the same VPC fails, with the BGP hold timer alone and with BFD.
#
#   vm-a ── vCPE A ══ VXLAN ══ vCPE B1 ──┐
#     10.1.1.10     ╲                     ├── bridge ── vm-b 10.2.1.10
#                    ══ VXLAN ══ vCPE B2 ─┘
#
# B1 and B2 both advertise 10.2.1.0/24 to A over BGP (sessions through the
# tunnels). A prefers B1 (lower router id). A probe in vm-a sends UDP
# datagrams to vm-b every millisecond; the outage is the longest gap between
# two datagrams arriving at vm-b around the fault. Faults on B1:
#   kill     SIGKILL vcped
#   link     B1's underlay link down in the internet namespace
#   stop     SIGSTOP vcped (frozen, sockets open; SIGCONT afterwards)
# each with MODE=hold (BGP hold time 9 s, keepalive 3 s) and MODE=bfd (BFD
# 300 ms x 3 on each neighbor).
#
# Usage: sudo bench/failover.sh
#   MODES="hold bfd"        which failure detection to measure
#   FAULTS="kill link stop" which faults
#   NO_BUILD=1              use the release binaries as they are
# Needs root, iproute2, python3. Namespaces are vf<pid>-*, removed on exit.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
MODES=${MODES:-hold bfd}
FAULTS=${FAULTS:-kill link stop}
TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
die() { echo "failover.sh: $*" >&2; exit 1; }
[ "$(id -u)" = 0 ] || die "run as root: sudo $0"
for t in ip python3; do command -v $t >/dev/null || die "$t is missing: apt-get install -y iproute2 python3"; done

if [[ -z ${NO_BUILD:-} ]]; then
    cargo build --release -q -p vcpe-daemon -p vcpectl
fi
vcped=$TARGET_DIR/release/vcped
vcpectl=$TARGET_DIR/release/vcpectl
[[ -x $vcped && -x $vcpectl ]] || die "$vcped is missing: cargo build --release -p vcpe-daemon -p vcpectl"

P="vf$$"
at() { local ns=$1; shift; ip netns exec "$P-$ns" "$@"; }
WORK=$(mktemp -d /tmp/vcpe-failover.XXXXXX)
cleanup() {
    set +e
    for ns in $(ip netns list | awk '{print $1}' | grep "^$P-"); do
        pids=$(ip netns pids "$ns")
        # shellcheck disable=SC2086 # one pid per word
        [[ -n $pids ]] && kill -CONT $pids 2>/dev/null && kill -KILL $pids 2>/dev/null
        ip netns del "$ns"
    done
    rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

ctl() { "$vcpectl" --socket "$WORK/$1.sock" "${@:2}"; }

# config NAME ID PEERS... : write $WORK/NAME-MODE.toml
write_config() {
    local mode=$1 name=$2 n=$3 hold bfd
    if [[ $mode == bfd ]]; then hold=9 bfd=$'bfd = true\nbfd_interval_ms = 300\nbfd_multiplier = 3'
    else hold=9 bfd=""; fi
    {
        printf '[router]\nid = "10.255.0.%s"\nasn = %s\n\n' "$n" "$((65000 + n))"
        printf '[[interface]]\nname = "vcpe0"\naddresses = ["10.255.0.%s/24"]\nmtu = 1450\n\n' "$n"
        if [[ $name == a ]]; then
            printf '[[route]]\nname = "vpc-a"\nprefix = "10.1.1.0/24"\ninterface = "vcpe0"\nadvertise = true\n\n'
        else
            printf '[[route]]\nname = "vpc-b"\nprefix = "10.2.1.0/24"\ninterface = "vcpe0"\nadvertise = true\n\n'
        fi
        printf '[bgp]\nlisten = "0.0.0.0:179"\n\n'
        local peers
        if [[ $name == a ]]; then peers="2 3"; else peers=1; fi
        for p in $peers; do
            printf '[[bgp.neighbor]]\naddress = "10.255.0.%s"\nremote_as = %s\npeer = "t%s"\nhold_time = %s\n%s\n\n' \
                "$p" "$((65000 + p))" "$p" "$hold" "$bfd"
            # VNI: 10 * lower + higher id, the same on both ends of a pair.
            local lo=$((n < p ? n : p)) hi=$((n < p ? p : n))
            printf '[[peer]]\nname = "t%s"\nendpoint = "198.51.100.%s:4789"\nencapsulation = "vxlan"\nvni = %s\n' "$p" "$p" "$((10 * lo + hi))"
            printf 'allowed_prefixes = ["10.255.0.%s/32", "10.0.0.0/8"]\n\n' "$p"
        done
    } >"$WORK/$name-$mode.toml"
}

topology() {
    for ns in inet a b1 b2 vma vmb vpcb; do
        ip netns add "$P-$ns"
        at $ns ip link set lo up
    done
    at inet ip link add br0 type bridge
    at inet ip link set br0 up
    local n=1
    for v in a b1 b2; do
        ip link add wan0 netns "$P-$v" type veth peer name "w-$v" netns "$P-inet"
        at inet ip link set "w-$v" master br0 up
        at $v ip addr add "198.51.100.$n/24" dev wan0
        at $v ip link set wan0 up
        at $v sysctl -qw net.ipv4.ip_forward=1
        n=$((n + 1))
    done
    ip link add eth1 netns "$P-a" type veth peer name eth0 netns "$P-vma"
    at a ip addr add 10.1.1.1/24 dev eth1
    at a ip link set eth1 up
    at vma ip addr add 10.1.1.10/24 dev eth0
    at vma ip link set eth0 up
    at vma ip route add default via 10.1.1.1
    at vpcb ip link add br0 type bridge
    at vpcb ip link set br0 up
    n=1
    for v in b1 b2; do
        ip link add eth1 netns "$P-$v" type veth peer name "p-$v" netns "$P-vpcb"
        at vpcb ip link set "p-$v" master br0 up
        at $v ip addr add "10.2.1.$n/24" dev eth1
        at $v ip link set eth1 up
        n=$((n + 1))
    done
    ip link add eth0 netns "$P-vmb" type veth peer name p-vm netns "$P-vpcb"
    at vpcb ip link set p-vm master br0 up
    at vmb ip addr add 10.2.1.10/24 dev eth0
    at vmb ip link set eth0 up
    at vmb ip route add default via 10.2.1.1
}

start() { # NAME MODE
    at "$1" "$vcped" run --config "$WORK/$1-$2.toml" --socket "$WORK/$1.sock" >>"$WORK/$1.log" 2>&1 &
    for _ in $(seq 100); do ctl "$1" status >/dev/null 2>&1 && break; sleep 0.1; done
    at "$1" ip route replace 10.0.0.0/8 dev vcpe0
}

# wait until A has NEIGHBORS sessions Established and the route via B1 in its FIB
wait_ready() {
    for _ in $(seq 300); do
        est=$(ctl a --json bgp summary 2>/dev/null | grep -o '"Established"' | wc -l)
        if [[ $est -ge 2 ]] && ctl a explain 10.2.1.10 2>/dev/null | grep -q 't2'; then return 0; fi
        sleep 0.1
    done
    ctl a bgp summary >&2; ctl a explain 10.2.1.10 >&2
    die "A's sessions to B1 and B2 did not come up in 30 s (logs: $WORK)"
}

PROBE=$(cat <<'EOF'
import socket, sys, time
role = sys.argv[1]
if role == "recv":
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("0.0.0.0", 9000))
    s.settimeout(0.2)
    deadline = time.monotonic() + float(sys.argv[2])
    with open(sys.argv[3], "w") as out:
        while time.monotonic() < deadline:
            try:
                data, _ = s.recvfrom(64)
            except socket.timeout:
                continue
            out.write("%s %.6f\n" % (data.decode(), time.monotonic()))
else:
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    seconds = float(sys.argv[2])
    start = time.monotonic()
    seq = 0
    while True:
        now = time.monotonic()
        if now - start > seconds:
            break
        s.sendto(str(seq).encode(), ("10.2.1.10", 9000))
        seq += 1
        nxt = start + seq * 0.001
        delay = nxt - time.monotonic()
        if delay > 0:
            time.sleep(delay)
    print(seq)
EOF
)

# measure MODE FAULT: prints the outage in ms
measure() {
    local mode=$1 fault=$2 secs
    if [[ $mode == hold ]]; then secs=16; else secs=6; fi
    at vmb python3 -c "$PROBE" recv "$((secs + 1))" "$WORK/rx.txt" &
    local rx=$!
    sleep 0.3
    at vma python3 -c "$PROBE" send "$secs" >"$WORK/tx.txt" &
    local tx=$!
    sleep 2
    local b1pid
    b1pid=$(ip netns pids "$P-b1" | head -1)
    case $fault in
        kill) kill -KILL "$b1pid" ;;
        link) at inet ip link set w-b1 down ;;
        stop) kill -STOP "$b1pid" ;;
    esac
    wait $tx
    wait $rx || true
    case $fault in
        kill) ;;
        link) at inet ip link set w-b1 up ;;
        stop) kill -CONT "$b1pid" ;;
    esac
    python3 - "$WORK/rx.txt" "$(cat "$WORK/tx.txt")" <<'EOF'
import sys
rows = [l.split() for l in open(sys.argv[1])]
seq = [int(r[0]) for r in rows]
t = [float(r[1]) for r in rows]
sent = int(sys.argv[2])
gap = max((b - a for a, b in zip(t, t[1:])), default=float("nan"))
# Traffic that never came back: the outage lasts at least until the end.
if not seq or seq[-1] < sent - 50:
    print("never %d %d" % (len(t), sent))
else:
    print("%.0f %d %d" % (gap * 1000, len(t), sent))
EOF
}

topology
declare -A result
for mode in $MODES; do
    for fault in $FAULTS; do
        for v in a b1 b2; do
            case $v in a) n=1 ;; b1) n=2 ;; b2) n=3 ;; esac
            write_config "$mode" "$v" "$n"
        done
        for v in a b1 b2; do start "$v" "$mode"; done
        wait_ready
        read -r gap got sent < <(measure "$mode" "$fault")
        result[$mode-$fault]=$gap
        echo "== $mode / $fault: longest gap ${gap} ms ($got of $sent datagrams arrived)"
        for v in a b1 b2; do
            for p in $(ip netns pids "$P-$v"); do kill -CONT "$p" 2>/dev/null; kill -KILL "$p" 2>/dev/null; done
        done
        sleep 0.5
    done
done

echo
printf '%-28s' "outage (ms), 1000 pps probe"
for fault in $FAULTS; do printf '%10s' "$fault"; done
echo
for mode in $MODES; do
    case $mode in hold) label="BGP hold timer (9 s)" ;; bfd) label="BFD 300 ms x 3" ;; *) label=$mode ;; esac
    printf '%-28s' "$label"
    for fault in $FAULTS; do printf '%10s' "${result[$mode-$fault]}"; done
    echo
done
