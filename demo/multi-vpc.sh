#!/usr/bin/env bash
# vcpe demo: the seed's many-to-many topology, three VPCs in network
# namespaces, one real vcped per VPC (examples/vpc0{1,2,3}.toml).
#
#   VPC 01: vm11 (10.1.1.10) ─eth1─┐                       ┌─ vCPE 02 ─eth1─ vm21 (10.2.1.10)
#           vm12 (10.1.2.10) ─eth2─┴─ vCPE 01 ── internet ─┤
#                                  198.51.100.1   bridge   └─ vCPE 03 ─eth1─ vm31 (10.3.1.10)
#
# Each vCPE namespace runs vcped, which owns the TUN vcpe0; the vCPE's kernel
# routes the other VPCs' prefixes into vcpe0, so vcped sees every cross-VPC
# packet. Everything lives in namespaces named vd<pid>-*, removed on exit.
#
# Usage: sudo ./demo/multi-vpc.sh [--keep]    (--keep: stay up until Ctrl-C)
set -euo pipefail
cd "$(dirname "$0")/.."

keep=false
[ "${1:-}" = "--keep" ] && keep=true
[ "$(id -u)" = 0 ] || { echo "run as root (network namespaces and TUN devices need it): sudo $0" >&2; exit 1; }
[ -c /dev/net/tun ] || { echo "/dev/net/tun is missing: modprobe tun" >&2; exit 1; }

P="vd$$"
work=$(mktemp -d /tmp/vcpe-demo.XXXXXX)
pids=()
cleanup() {
    set +e
    local ns nspids
    # The vcped processes (and anything else) inside our namespaces: the
    # background jobs' pids are subshells, so ask the namespaces.
    for ns in $(ip netns list | awk '{print $1}' | grep "^$P-"); do
        nspids=$(ip netns pids "$ns")
        [[ -n $nspids ]] && kill $nspids 2>/dev/null
    done
    for p in "${pids[@]}"; do wait "$p" 2>/dev/null; done
    for ns in $(ip netns list | awk '{print $1}' | grep "^$P-"); do
        nspids=$(ip netns pids "$ns")
        [[ -n $nspids ]] && kill -KILL $nspids 2>/dev/null
        ip netns del "$ns"
    done
    echo "== cleaned up (logs were in $work)"
}
trap cleanup EXIT
say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
at() { local ns=$1; shift; ip netns exec "$P-$ns" "$@"; }

say "building vcped and vcpectl (release)"
cargo build --release -q -p vcpe-daemon --bins
vcped=$PWD/target/release/vcped
vcpectl=$PWD/target/release/vcpectl
chmod 600 examples/keys/*

say "validating the three configs"
"$vcped" check-config examples/vpc01.toml examples/vpc02.toml examples/vpc03.toml

say "building the topology (namespaces $P-*)"
ip netns add "$P-inet"
at inet ip link set lo up
at inet ip link add inet0 type bridge
at inet ip link set inet0 up
# vpc: number and its vxnets (third octet of 10.N.K.0/24)
declare -A vxnets=([1]="1 2" [2]="1" [3]="1")
for n in 1 2 3; do
    v="vpc0$n"
    ip netns add "$P-$v"
    at "$v" ip link set lo up
    at "$v" sysctl -qw net.ipv4.ip_forward=1 net.ipv6.conf.all.forwarding=1
    ip link add wan0 netns "$P-$v" type veth peer name "w$n" netns "$P-inet"
    at inet ip link set "w$n" master inet0 up
    at "$v" ip addr add "198.51.100.$n/24" dev wan0
    at "$v" ip link set wan0 up
    for k in ${vxnets[$n]}; do
        vm="vm$n$k"
        ip netns add "$P-$vm"
        at "$vm" ip link set lo up
        ip link add "eth$k" netns "$P-$v" type veth peer name eth0 netns "$P-$vm"
        at "$v" ip addr add "10.$n.$k.1/24" dev "eth$k"
        at "$v" ip -6 addr add "fd00:$n:$k::1/64" dev "eth$k" nodad
        at "$v" ip link set "eth$k" up
        at "$vm" ip addr add "10.$n.$k.10/24" dev eth0
        at "$vm" ip -6 addr add "fd00:$n:$k::10/64" dev eth0 nodad
        at "$vm" ip link set eth0 up
        at "$vm" ip route add default via "10.$n.$k.1"
        at "$vm" ip -6 route add default via "fd00:$n:$k::1"
    done
done

say "starting one vcped per VPC"
for n in 1 2 3; do
    v="vpc0$n"
    ip netns exec "$P-$v" "$vcped" run --config "examples/$v.toml" --socket "$work/$v.sock" >"$work/$v.log" 2>&1 &
    pids+=($!)
done
for n in 1 2 3; do
    v="vpc0$n"
    for _ in $(seq 100); do
        "$vcpectl" --socket "$work/$v.sock" status >/dev/null 2>&1 && break
        sleep 0.1
    done
    if ! "$vcpectl" --socket "$work/$v.sock" status >/dev/null 2>&1; then
        echo "vcped of $v did not come up; its log:" >&2
        cat "$work/$v.log" >&2
        exit 1
    fi
    # Until kernel route sync lands, route the other VPCs into vcpe0 by hand.
    at "$v" ip route add 10.0.0.0/8 dev vcpe0
    at "$v" ip -6 route add fd00::/16 dev vcpe0
done
for v in vpc01 vpc02 vpc03; do
    echo "--- $v"
    "$vcpectl" --socket "$work/$v.sock" status
    "$vcpectl" --socket "$work/$v.sock" bgp summary
done

say "inside VPC 01: vm11 -> vm12 (two vxnets served by one vCPE)"
at vm11 ping -c 2 -i 0.2 -W 2 10.1.2.10
at vm11 ping -6 -c 2 -i 0.2 -W 2 fd00:1:2::10

say "waiting for the BGP sessions over the WireGuard tunnels"
for v in vpc01 vpc02 vpc03; do
    for _ in $(seq 150); do
        [[ $("$vcpectl" --socket "$work/$v.sock" --json bgp summary | grep -o '"Established"' | wc -l) -ge 2 ]] && break
        sleep 0.2
    done
done
for v in vpc01 vpc02 vpc03; do
    echo "--- $v"
    "$vcpectl" --socket "$work/$v.sock" bgp summary
done
sleep 1

say "across VPCs, many-to-many: every VM pings every other (v4 and v6)"
for from in vm11 vm12 vm21 vm31; do
    for to in 10.1.1.10 10.1.2.10 10.2.1.10 10.3.1.10; do
        at "$from" ping -c 1 -W 2 -q "$to" >/dev/null && r=ok || r=FAILED
        printf '  %-5s -> %-10s %s\n' "$from" "$to" "$r"
    done
done
at vm11 ping -6 -c 2 -i 0.2 -W 2 fd00:2:1::10
at vm31 ping -c 2 -i 0.2 -W 2 10.2.1.10

say "routes vcped of VPC 01 learned by BGP from the other vCPEs"
"$vcpectl" --socket "$work/vpc01.sock" show route

say "vcped counters of VPC 01"
"$vcpectl" --socket "$work/vpc01.sock" stats

if $keep; then
    say "up; try: ip netns exec $P-vm11 ping 10.2.1.10; $vcpectl --socket $work/vpc01.sock stats"
    echo "Ctrl-C to tear down"
    while sleep 3600; do :; done
fi
say "demo done"
