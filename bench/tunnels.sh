#!/usr/bin/env bash
# Tunnel benchmark: iperf3 between two hosts through two vCPEs that tunnel
# over a veth underlay; the tunnel is done four ways in the same run, on the
# same machine, so the ratios mean something.
#
#   host A --veth-- vCPE A ====== underlay veth ====== vCPE B --veth-- host B
#   10.1.0.10    10.1.0.1   100.64.0.1      100.64.0.2   10.2.0.1    10.2.0.10
#                    tunnel inner 10.255.0.1/24 <-> 10.255.0.2/24
#
#   vcped-wg   vcped on both vCPEs, encapsulation = "wireguard" (UDP 51820), mtu 1420
#   vcped-gre  vcped on both vCPEs, encapsulation = "gre" (IP protocol 47), mtu 1476
#   vcped-vxlan vcped on both vCPEs, encapsulation = "vxlan" (UDP 4789, VNI 42), mtu 1450
#   wg-go      Debian wireguard-go on both vCPEs (userspace WireGuard), mtu 1420:
#              the baseline for vcped-wg (target: vcped >= 5x)
#   vxlan      kernel VXLAN (UDP 4789), mtu 1450: the baseline (targets, issue
#              14: vcped-wg TCP >= 0.4x, vcped-vxlan >= 0.8x, vcped-gre TCP
#              >= 0.5x; vcped-wg UDP >= 2x wg-go); skipped if the kernel has
#              no vxlan
#
# In each vCPE the kernel forwards between the host-facing veth and the
# tunnel device (vcped's TUN vcpe0, wireguard-go's TUN, vx0); vcped has
# static routes only (the local host subnet out of vcpe0, the remote one
# into the peer), no BGP. Per variant and test: TCP 1 stream, TCP 4 streams
# (-P 4), UDP 64-byte datagrams (-b $UDP_RATE), each for DURATION seconds
# from host A to host B, after a `ping -c 3` that must pass and 40 pings at
# idle whose average RTT is reported. While iperf3
# runs, the CPU time of every thread of the tunnel daemons is sampled from
# /proc (vcped: vcpe-fwd-* workers, vcpe-tun-rx-* receive threads); the
# busiest threads are printed after each test, and `vcpectl stats` after
# each vcped variant.
#
# PEERS=K (K >= 2) runs the many-peers profile instead of the variants:
# K sender vCPEs, each with its own WireGuard tunnel to one receiver vCPE
# (one bind, 0.0.0.0:51820: one SO_REUSEPORT group of receive threads, one
# per receiver worker), all sending iperf3 at once to host B behind the
# receiver (a server port each): TCP 1 stream each, then UDP 64 B each.
# Prints the aggregate and each sender's share, and every vcped's busiest
# threads (the receiver's vcpe-tun-rx-* are its receive threads). The
# senders run vcped with one worker and the iperf3 client in their own
# namespace (source: their tunnel address 10.255.0.(10+i)).
#
#   sender i (i = 1..K) vcpe0 10.255.0.(10+i) ══ 100.64.i.2 ── wI 100.64.i.1 receiver B ── host B 10.2.0.10
#
# Compare builds with VCPE_BIN_DIR (e.g. one of main from before the
# receive threads were spread).
#
# Each variant gets four fresh network namespaces vbt<pid>-<v>{a,b,ha,hb};
# wireguard-go's control socket /var/run/wireguard/IF.sock is not per
# namespace, so its interfaces are named vbt<pid>{a,b}. Everything is
# removed on exit, also on failure or Ctrl-C; traffic never leaves those
# namespaces. Needs root, iproute2, iperf3, python3, wireguard-tools (wg)
# and wireguard-go (apt-get install -y wireguard-tools wireguard-go).
#
# Usage:  sudo bench/tunnels.sh
#         flock /tmp/vcpe-bench.lock bench/tunnels.sh   (on a shared machine)
# Environment:
#   DURATION=5          seconds per iperf3 run
#   VARIANTS="vcped-wg vcped-gre vcped-vxlan wg-go vxlan"   which variants, in this order
#   UDP_RATE=0          iperf3 -b for the UDP test (0 = as fast as possible)
#   WORKERS=0           vcped [forwarding] workers (0 = one per core)
#   MSS_CLAMP=1         vcped [forwarding] mss_clamp (the product default; 0
#                       leaves TCP to path MTU discovery)
#   NO_BUILD=1          skip `cargo build --release -p vcpe-daemon -p vcpectl`
#   CARGO_TARGET_DIR    where cargo builds and the binaries are taken from
#                       (default: ./target of the workspace)
#   KEEP_LOGS=1         keep the work directory (configs, logs, iperf3 JSON)
#   PEERS=1             K >= 2: the many-peers profile instead (see above)
#   VCPE_BIN_DIR        take vcped and vcpectl from here (no build)
# A variant that fails (no ping, iperf3 error) is reported as FAIL in the
# table, the others still run, and the script exits 1.
# Total run time with the defaults: about 1.5 minutes (plus the build).
set -euo pipefail

DURATION=${DURATION:-5}
VARIANTS=${VARIANTS:-vcped-wg vcped-gre vcped-vxlan wg-go vxlan}
UDP_RATE=${UDP_RATE:-0}
WORKERS=${WORKERS:-0}
MSS_CLAMP=${MSS_CLAMP:-1}
P="vbt$$-"
ROOT=$(cd "$(dirname "$0")/.." && pwd)
WORK=$(mktemp -d "/tmp/vbt$$.XXXXXX")
TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
[[ $TARGET_DIR == /* ]] || TARGET_DIR=$PWD/$TARGET_DIR
export CARGO_TARGET_DIR=$TARGET_DIR
BIN=${VCPE_BIN_DIR:-$TARGET_DIR/release}
VCPED=$BIN/vcped
VCPECTL=$BIN/vcpectl
PEERS=${PEERS:-1}
FAILED=0

# Addresses (the same in every variant).
UNDER_A=100.64.0.1 UNDER_B=100.64.0.2
INNER_A=10.255.0.1 INNER_B=10.255.0.2
NET_A=10.1.0.0/24 GW_A=10.1.0.1 HOST_A=10.1.0.10
NET_B=10.2.0.0/24 GW_B=10.2.0.1 HOST_B=10.2.0.10

die() { echo "tunnels.sh: $*" >&2; exit 1; }

our_namespaces() { ip netns list 2>/dev/null | awk -v p="$P" 'index($1, p) == 1 { print $1 }'; }

# teardown [TAG]: stop every process inside our namespaces (of variant TAG,
# or all of them) -- TERM, up to 2 s, then KILL -- and delete the namespaces.
teardown() {
    local want=${P}${1:-} ns pid nss=() pids=()
    for ns in $(our_namespaces); do
        [[ $ns == "$want"* ]] && nss+=("$ns")
    done
    (( ${#nss[@]} )) || return 0
    for ns in "${nss[@]}"; do
        for pid in $(ip netns pids "$ns" 2>/dev/null); do pids+=("$pid"); done
    done
    if (( ${#pids[@]} )); then
        kill -TERM "${pids[@]}" 2>/dev/null || true
        local alive
        for _ in $(seq 20); do
            alive=
            for pid in "${pids[@]}"; do kill -0 "$pid" 2>/dev/null && alive=1; done
            [[ -n $alive ]] || break
            sleep 0.1
        done
        kill -KILL "${pids[@]}" 2>/dev/null || true
    fi
    for ns in "${nss[@]}"; do ip netns del "$ns" 2>/dev/null || true; done
    return 0
}

# shellcheck disable=SC2317 # invoked by the EXIT trap
cleanup() {
    local rc=$?
    set +e
    teardown
    rm -f "/var/run/wireguard/vbt$$a.sock" "/var/run/wireguard/vbt$$b.sock"
    if [[ -n ${KEEP_LOGS:-} ]]; then
        echo "tunnels.sh: work directory kept: $WORK" >&2
    else
        rm -rf "$WORK"
    fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

[[ $EUID -eq 0 ]] || die "needs root (network namespaces): sudo $0"
for tool in ip iperf3 python3; do
    command -v "$tool" >/dev/null || die "$tool is missing (apt-get install -y iproute2 iperf3 python3)"
done
[[ $DURATION =~ ^[1-9][0-9]*$ ]] || die "DURATION must be a positive number of seconds"
case $MSS_CLAMP in 0) MSS_CLAMP=false ;; 1) MSS_CLAMP=true ;; *) die "MSS_CLAMP must be 0 or 1" ;; esac
for v in $VARIANTS; do
    case $v in
        vcped-wg | wg-go) command -v wg >/dev/null || die "wg is missing (apt-get install -y wireguard-tools)" ;;
    esac
    case $v in
        vcped-wg | vcped-gre | vcped-vxlan | vxlan) ;;
        wg-go) [[ -x /usr/bin/wireguard-go ]] || die "/usr/bin/wireguard-go is missing (apt-get install -y wireguard-go)" ;;
        *) die "VARIANTS: unknown variant $v (vcped-wg, vcped-gre, vcped-vxlan, wg-go, vxlan)" ;;
    esac
done

# Thread CPU sampler: `cpu snap OUT PID...` writes the utime+stime ticks of
# every thread of the PIDs; `cpu diff BEFORE AFTER LABEL...` prints the
# busiest threads per PID (label by position) as % of one core and writes
# AFTER.sum (label total%) for the table.
cat >"$WORK/cpu.py" <<'EOF'
import json, os, sys, time
def snap(out, pids):
    d = {"t": time.monotonic(), "pids": {}}
    for pid in pids:
        th = {}
        try:
            tids = os.listdir(f"/proc/{pid}/task")
        except OSError:
            tids = []
        for tid in tids:
            try:
                with open(f"/proc/{pid}/task/{tid}/stat") as f:
                    s = f.read()
            except OSError:
                continue
            comm = s[s.index("(") + 1 : s.rindex(")")]
            rest = s[s.rindex(")") + 2 :].split()
            th[tid] = [comm, int(rest[11]) + int(rest[12])]
        d["pids"][pid] = th
    json.dump(d, open(out, "w"))
def diff(before, after, labels):
    a, b = json.load(open(before)), json.load(open(after))
    hz = os.sysconf("SC_CLK_TCK")
    dt = b["t"] - a["t"]
    sums = []
    for i, pid in enumerate(b["pids"]):
        label = labels[i] if i < len(labels) else pid
        per = {}
        for tid, (comm, ticks) in b["pids"][pid].items():
            t0 = a["pids"].get(pid, {}).get(tid, [comm, 0])[1]
            per[comm] = per.get(comm, 0) + (ticks - t0) / hz / dt * 100
        total = sum(per.values())
        busy = sorted(((v, k) for k, v in per.items() if v >= 1), reverse=True)[:6]
        print(f"    cpu {label}: total {total:.0f}% | "
              + " ".join(f"{k} {v:.0f}%" for v, k in busy), file=sys.stderr)
        sums.append(f"{label} {total:.1f}")
    with open(after + ".sum", "w") as f:
        f.write("\n".join(sums) + "\n")
if sys.argv[1] == "snap":
    snap(sys.argv[2], sys.argv[3:])
else:
    diff(sys.argv[2], sys.argv[3], sys.argv[4:])
EOF

netns() { # netns NAME: create it with lo up and IPv6 off (nothing but our traffic)
    ip netns add "$1"
    ip -n "$1" link set lo up
    ip netns exec "$1" sh -c '
        echo 1 > /proc/sys/net/ipv6/conf/all/disable_ipv6
        echo 1 > /proc/sys/net/ipv6/conf/default/disable_ipv6'
}

# topology TAG: namespaces ${P}TAG{a,b,ha,hb}, the underlay veth wan0
# between the vCPEs and a veth lan0/eth0 from each vCPE to its host; the
# vCPEs forward (rp_filter off), the hosts route everything to their vCPE.
topology() {
    local t=$1 a=${P}$1a b=${P}$1b ha=${P}$1ha hb=${P}$1hb ns
    netns "$a"; netns "$b"; netns "$ha"; netns "$hb"
    ip link add "${P}${t}wa" netns "$a" type veth peer name "${P}${t}wb" netns "$b"
    ip link add "${P}${t}la" netns "$a" type veth peer name "${P}${t}ea" netns "$ha"
    ip link add "${P}${t}lb" netns "$b" type veth peer name "${P}${t}eb" netns "$hb"
    ip -n "$a" link set "${P}${t}wa" name wan0
    ip -n "$b" link set "${P}${t}wb" name wan0
    ip -n "$a" link set "${P}${t}la" name lan0
    ip -n "$b" link set "${P}${t}lb" name lan0
    ip -n "$ha" link set "${P}${t}ea" name eth0
    ip -n "$hb" link set "${P}${t}eb" name eth0
    for ns in "$a" "$b" "$ha" "$hb"; do
        # shellcheck disable=SC2016 # expanded by the inner shell
        ip netns exec "$ns" sh -c 'for d in /sys/class/net/*; do ip link set "${d##*/}" up; done'
    done
    for ns in "$a" "$b"; do
        # shellcheck disable=SC2016 # expanded by the inner shell
        ip netns exec "$ns" sh -c '
            echo 1 > /proc/sys/net/ipv4/ip_forward
            for c in all default lan0 wan0; do echo 0 > /proc/sys/net/ipv4/conf/$c/rp_filter; done'
    done
    ip -n "$a" addr add "$UNDER_A/24" dev wan0
    ip -n "$b" addr add "$UNDER_B/24" dev wan0
    ip -n "$a" addr add "$GW_A/24" dev lan0
    ip -n "$b" addr add "$GW_B/24" dev lan0
    ip -n "$ha" addr add "$HOST_A/24" dev eth0
    ip -n "$hb" addr add "$HOST_B/24" dev eth0
    ip -n "$ha" route add default via "$GW_A"
    ip -n "$hb" route add default via "$GW_B"
    ip netns exec "$a" ping -c1 -W2 "$UNDER_B" >/dev/null || die "$t: underlay: vCPE A cannot ping vCPE B"
}

# wg_keys DIR NAME: DIR/NAME.key (mode 0600) and DIR/NAME.pub
wg_keys() {
    (umask 077 && wg genkey >"$1/$2.key")
    wg pubkey <"$1/$2.key" >"$1/$2.pub"
}

# vcped_config TAG SIDE ENCAP: the config of vCPE SIDE (a or b)
vcped_config() {
    local t=$1 side=$2 encap=$3 n inner net rnet rinner rpeer other mtu
    if [[ $side == a ]]; then
        n=1 inner=$INNER_A net=$NET_A rnet=$NET_B rinner=$INNER_B rpeer=$UNDER_B other=b
    else
        n=2 inner=$INNER_B net=$NET_B rnet=$NET_A rinner=$INNER_A rpeer=$UNDER_A other=a
    fi
    case $encap in wireguard) mtu=1420 ;; vxlan) mtu=1450 ;; *) mtu=1476 ;; esac
    cat <<EOF
[router]
id = "$inner"
asn = 6500$n

[kernel]
route_sync = false

[forwarding]
workers = $WORKERS
mss_clamp = $MSS_CLAMP

[[interface]]
name = "vcpe0"
addresses = ["$inner/24"]
mtu = $mtu

[[route]]
name = "local-hosts"
prefix = "$net"
interface = "vcpe0"

[[route]]
name = "remote-hosts"
prefix = "$rnet"
peer = "other"

[[peer]]
name = "other"
encapsulation = "$encap"
allowed_prefixes = ["$rnet", "$rinner/32"]
EOF
    if [[ $encap == wireguard ]]; then
        cat <<EOF
endpoint = "$rpeer:51820"
bind = "0.0.0.0:51820"
private_key_file = "$WORK/$t$side.key"
public_key = "$(cat "$WORK/$t$other.pub")"
EOF
    elif [[ $encap == vxlan ]]; then
        cat <<EOF
endpoint = "$rpeer:4789"
vni = 42
EOF
    else
        cat <<EOF
endpoint = "$rpeer"
gre_key = 42
EOF
    fi
}

# start_vcped TAG SIDE: vcped in ${P}TAG$SIDE, up with vcpe0; the kernel
# routes the remote host subnet into vcpe0. Its pid goes to $WORK/TAG.pids.
start_vcped() {
    local t=$1 side=$2 ns=${P}$1$2 sock=$WORK/$1$2.sock pid rnet
    [[ $side == a ]] && rnet=$NET_B || rnet=$NET_A
    ip netns exec "$ns" "$VCPED" run --config "$WORK/$t$side.toml" --socket "$sock" >"$WORK/$t$side.log" 2>&1 &
    pid=$!
    echo "$pid" >>"$WORK/$t.pids"
    for _ in $(seq 100); do
        kill -0 "$pid" 2>/dev/null || { tail -n 20 "$WORK/$t$side.log" >&2; die "$t: vcped in $ns exited during start-up"; }
        if "$VCPECTL" --socket "$sock" status >/dev/null 2>&1 && ip -n "$ns" link show vcpe0 >/dev/null 2>&1; then
            ip -n "$ns" route add "$rnet" dev vcpe0
            return 0
        fi
        sleep 0.2
    done
    tail -n 20 "$WORK/$t$side.log" >&2
    die "$t: vcped in $ns did not come up with vcpe0 within 20 s"
}

setup_vcped() { # setup_vcped TAG ENCAP
    local t=$1 encap=$2 side
    [[ -x $VCPED && -x $VCPECTL ]] || die "$VCPED or $VCPECTL missing; build with: cargo build --release -p vcpe-daemon -p vcpectl"
    topology "$t"
    if [[ $encap == wireguard ]]; then
        wg_keys "$WORK" "${t}a"
        wg_keys "$WORK" "${t}b"
    fi
    for side in a b; do
        vcped_config "$t" "$side" "$encap" >"$WORK/$t$side.toml"
        "$VCPED" check-config "$WORK/$t$side.toml" >/dev/null || die "$t: vcped check-config $WORK/$t$side.toml failed"
    done
    for side in a b; do start_vcped "$t" "$side"; done
}

setup_wggo() { # setup_wggo TAG: wireguard-go on both vCPEs
    local t=$1 side ns ifn pid addr rnet rinner rpeer other
    topology "$t"
    wg_keys "$WORK" "${t}a"
    wg_keys "$WORK" "${t}b"
    for side in a b; do
        ns=${P}$t$side ifn=vbt$$$side
        if [[ $side == a ]]; then
            addr=$INNER_A rnet=$NET_B rinner=$INNER_B rpeer=$UNDER_B other=b
        else
            addr=$INNER_B rnet=$NET_A rinner=$INNER_A rpeer=$UNDER_A other=a
        fi
        ip netns exec "$ns" env WG_PROCESS_FOREGROUND=1 /usr/bin/wireguard-go "$ifn" >"$WORK/$t$side.log" 2>&1 &
        pid=$!
        echo "$pid" >>"$WORK/$t.pids"
        for _ in $(seq 50); do
            kill -0 "$pid" 2>/dev/null || { cat "$WORK/$t$side.log" >&2; die "$t: wireguard-go in $ns exited"; }
            [[ -S /var/run/wireguard/$ifn.sock ]] && ip -n "$ns" link show "$ifn" >/dev/null 2>&1 && break
            sleep 0.1
        done
        [[ -S /var/run/wireguard/$ifn.sock ]] || die "$t: wireguard-go in $ns did not create /var/run/wireguard/$ifn.sock"
        ip netns exec "$ns" wg set "$ifn" private-key "$WORK/$t$side.key" listen-port 51820 \
            peer "$(cat "$WORK/$t$other.pub")" endpoint "$rpeer:51820" allowed-ips "$rnet,$rinner/32"
        ip -n "$ns" addr add "$addr/24" dev "$ifn"
        ip -n "$ns" link set "$ifn" mtu 1420 up
        ip -n "$ns" route add "$rnet" dev "$ifn"
        ip netns exec "$ns" sh -c "echo 0 > /proc/sys/net/ipv4/conf/$ifn/rp_filter"
    done
}

setup_vxlan() { # setup_vxlan TAG: kernel VXLAN between the vCPEs
    local t=$1 side ns lip rip addr rnet rinner
    topology "$t"
    for side in a b; do
        ns=${P}$t$side
        if [[ $side == a ]]; then
            lip=$UNDER_A rip=$UNDER_B addr=$INNER_A rnet=$NET_B rinner=$INNER_B
        else
            lip=$UNDER_B rip=$UNDER_A addr=$INNER_B rnet=$NET_A rinner=$INNER_A
        fi
        ip -n "$ns" link add vx0 type vxlan id 42 local "$lip" remote "$rip" dstport 4789 dev wan0
        ip -n "$ns" addr add "$addr/24" dev vx0
        ip -n "$ns" link set vx0 mtu 1450 up
        ip -n "$ns" route add "$rnet" via "$rinner" dev vx0
        ip netns exec "$ns" sh -c 'echo 0 > /proc/sys/net/ipv4/conf/vx0/rp_filter'
    done
}

vxlan_available() { # can a namespace create a vxlan device? (loads the module if needed)
    local ns=${P}probe ok=0
    netns "$ns"
    ip -n "$ns" link add vxprobe type vxlan id 1 local 127.0.0.1 remote 127.0.0.2 dstport 4789 2>/dev/null && ok=1
    ip netns del "$ns"
    (( ok ))
}

# run_iperf TAG NAME ARGS...: one iperf3 run from host A to host B, JSON to
# $WORK/TAG-NAME.json, thread CPU of the tunnel daemons around it.
run_iperf() {
    local t=$1 name=$2 pids=() labels=()
    shift 2
    if [[ -s $WORK/$t.pids ]]; then
        mapfile -t pids <"$WORK/$t.pids"
        labels=("vCPE-A" "vCPE-B")
    fi
    echo "  iperf3 $*" >&2
    (( ${#pids[@]} )) && python3 "$WORK/cpu.py" snap "$WORK/$t-$name.cpu0" "${pids[@]}"
    # iperf3 3.12 exits 0 on errors with --json: look for "error" too.
    if ! ip netns exec "${P}${t}ha" iperf3 -c "$HOST_B" -t "$DURATION" --connect-timeout 5000 \
            --json "$@" >"$WORK/$t-$name.json" \
        || ! python3 -c 'import json,sys; e = json.load(open(sys.argv[1])).get("error")
if e: sys.exit("iperf3 error: " + e)' "$WORK/$t-$name.json"; then
        mv "$WORK/$t-$name.json" "$WORK/$t-$name.error"
        die "$t: iperf3 $* failed (output: $WORK/$t-$name.error)"
    fi
    if (( ${#pids[@]} )); then
        python3 "$WORK/cpu.py" snap "$WORK/$t-$name.cpu1" "${pids[@]}"
        python3 "$WORK/cpu.py" diff "$WORK/$t-$name.cpu0" "$WORK/$t-$name.cpu1" "${labels[@]}"
    fi
}

# measure TAG: ping, then the three iperf3 runs
measure() {
    local t=$1 hb=${P}$1hb
    if ! ip netns exec "${P}${t}ha" ping -c 3 -i 0.2 -W 2 "$HOST_B" >"$WORK/$t-ping.txt" 2>&1; then
        cat "$WORK/$t-ping.txt" >&2
        die "$t: host A ($HOST_A) cannot ping host B ($HOST_B) through the tunnel"
    fi
    # Idle latency: 40 pings 50 ms apart, before any load.
    ip netns exec "${P}${t}ha" ping -q -c 40 -i 0.05 -W 2 "$HOST_B" >"$WORK/$t-rtt.txt" 2>&1 || true
    ip netns exec "$hb" iperf3 -s -D -p 5201 --pidfile "$WORK/$t-iperf3.pid"
    local up=
    for _ in $(seq 50); do
        [[ -n $(ip netns exec "$hb" ss -Hltn sport = :5201) ]] && { up=1; break; }
        sleep 0.1
    done
    [[ -n $up ]] || die "$t: iperf3 server in $hb did not start"
    run_iperf "$t" tcp1
    run_iperf "$t" tcp4 -P 4
    run_iperf "$t" udp64 -u -l 64 -b "$UDP_RATE"
}

vcped_stats() { # vcped_stats TAG: the counters of both vcpeds after the runs
    local t=$1 side
    for side in a b; do
        echo "== $t: vcpectl stats, vCPE ${side^^}" >&2
        "$VCPECTL" --socket "$WORK/$t$side.sock" stats >&2 || true
        "$VCPECTL" --socket "$WORK/$t$side.sock" --json stats >"$WORK/$t$side-stats.json" 2>/dev/null || true
    done
}

# variant NAME: build, measure and tear down one variant; in a subshell so
# that a failure (die) ends this variant only.
variant() {
    local v=$1 t
    case $v in vcped-wg) t=w ;; vcped-gre) t=g ;; vcped-vxlan) t=v ;; wg-go) t=q ;; vxlan) t=x ;; esac
    echo "== $v" >&2
    case $v in
        vcped-wg) setup_vcped "$t" wireguard; measure "$t"; vcped_stats "$t" ;;
        vcped-gre) setup_vcped "$t" gre; measure "$t"; vcped_stats "$t" ;;
        vcped-vxlan) setup_vcped "$t" vxlan; measure "$t"; vcped_stats "$t" ;;
        wg-go) setup_wggo "$t"; measure "$t" ;;
        vxlan) setup_vxlan "$t"; measure "$t" ;;
    esac
}

[[ $PEERS =~ ^[1-9][0-9]*$ ]] && (( PEERS <= 64 )) || die "PEERS must be 1..64"

# The many-peers profile (PEERS=K): namespaces ${P}k{b,hb,1..K}.
peers_profile() {
    local k=$PEERS b=${P}kb hb=${P}khb i ns pids=() labels=()
    netns "$b"; netns "$hb"
    ip link add "${P}klb" netns "$b" type veth peer name "${P}keb" netns "$hb"
    ip -n "$b" link set "${P}klb" name lan0
    ip -n "$hb" link set "${P}keb" name eth0
    wg_keys "$WORK" kb
    for i in $(seq "$k"); do
        ns=${P}k$i
        netns "$ns"
        ip link add "${P}kw$i" netns "$b" type veth peer name "${P}ks$i" netns "$ns"
        ip -n "$b" link set "${P}kw$i" name "w$i"
        ip -n "$ns" link set "${P}ks$i" name wan0
        ip -n "$ns" link set wan0 up
        ip -n "$ns" addr add "100.64.$i.2/24" dev wan0
        ip -n "$b" link set "w$i" up
        ip -n "$b" addr add "100.64.$i.1/24" dev "w$i"
        wg_keys "$WORK" "k$i"
    done
    # shellcheck disable=SC2016 # expanded by the inner shell
    ip netns exec "$b" sh -c 'for d in /sys/class/net/*; do ip link set "${d##*/}" up; done
        echo 1 > /proc/sys/net/ipv4/ip_forward
        for c in /proc/sys/net/ipv4/conf/*/rp_filter; do echo 0 > "$c"; done'
    ip -n "$hb" link set eth0 up
    ip -n "$b" addr add "$GW_B/24" dev lan0
    ip -n "$hb" addr add "$HOST_B/24" dev eth0
    ip -n "$hb" route add default via "$GW_B"
    {
        printf '[router]\nid = "%s"\nasn = 65002\n\n[kernel]\nroute_sync = false\n\n' "$INNER_B"
        printf '[forwarding]\nworkers = %s\nmss_clamp = %s\n\n' "$WORKERS" "$MSS_CLAMP"
        printf '[[interface]]\nname = "vcpe0"\naddresses = ["%s/24"]\nmtu = 1420\n\n' "$INNER_B"
        printf '[[route]]\nname = "hosts"\nprefix = "%s"\ninterface = "vcpe0"\n\n' "$NET_B"
        for i in $(seq "$k"); do
            printf '[[route]]\nname = "s%d"\nprefix = "10.255.0.%d/32"\npeer = "s%d"\n\n' "$i" $((10 + i)) "$i"
            printf '[[peer]]\nname = "s%d"\nencapsulation = "wireguard"\nbind = "0.0.0.0:51820"\n' "$i"
            printf 'endpoint = "100.64.%d.2:51820"\nprivate_key_file = "%s"\npublic_key = "%s"\n' \
                "$i" "$WORK/kb.key" "$(cat "$WORK/k$i.pub")"
            printf 'allowed_prefixes = ["10.255.0.%d/32"]\nmtu = 1420\n\n' $((10 + i))
        done
    } >"$WORK/kb.toml"
    for i in $(seq "$k"); do
        {
            printf '[router]\nid = "10.255.0.%d"\nasn = %d\n\n[kernel]\nroute_sync = false\n\n' $((10 + i)) $((65010 + i))
            printf '[forwarding]\nworkers = 1\nmss_clamp = %s\n\n' "$MSS_CLAMP"
            printf '[[interface]]\nname = "vcpe0"\naddresses = ["10.255.0.%d/24"]\nmtu = 1420\n\n' $((10 + i))
            printf '[[route]]\nname = "b"\nprefix = "%s"\npeer = "b"\n\n' "$NET_B"
            printf '[[peer]]\nname = "b"\nencapsulation = "wireguard"\nbind = "0.0.0.0:51820"\n'
            printf 'endpoint = "100.64.%d.1:51820"\nprivate_key_file = "%s"\npublic_key = "%s"\n' \
                "$i" "$WORK/k$i.key" "$(cat "$WORK/kb.pub")"
            printf 'allowed_prefixes = ["%s", "%s/32"]\nmtu = 1420\n' "$NET_B" "$INNER_B"
        } >"$WORK/k$i.toml"
    done
    # The receiver's kernel reaches the senders by vcpe0's connected /24.
    start_peers_vcped kb "$b" ""
    for i in $(seq "$k"); do start_peers_vcped "k$i" "${P}k$i" "$NET_B"; done
    for i in $(seq "$k"); do
        ip netns exec "${P}k$i" ping -c 3 -i 0.2 -W 2 "$HOST_B" >"$WORK/k$i-ping.txt" 2>&1 \
            || { cat "$WORK/k$i-ping.txt" >&2; die "sender $i cannot ping host B through its tunnel"; }
        ip netns exec "$hb" iperf3 -s -D -p $((5200 + i)) --pidfile "$WORK/k$i-iperf3.pid"
    done
    sleep 0.5
    mapfile -t pids <"$WORK/k.pids"
    labels=(receiver)
    for i in $(seq "$k"); do labels+=("sender-$i"); done
    peers_run tcp1 "${pids[@]}" -- "${labels[@]}"
    peers_run udp64 "${pids[@]}" -- "${labels[@]}"
    echo "== receiver: vcpectl stats" >&2
    "$VCPECTL" --socket "$WORK/kb.sock" stats >&2 || true
}

# start_peers_vcped NAME NS ROUTE: vcped with $WORK/NAME.toml in NS, up with
# vcpe0; the kernel routes ROUTE (if any) into vcpe0. Its pid goes to
# $WORK/k.pids.
start_peers_vcped() {
    local name=$1 ns=$2 sock=$WORK/$1.sock pid
    "$VCPED" check-config "$WORK/$name.toml" >/dev/null || die "vcped check-config $WORK/$name.toml failed"
    ip netns exec "$ns" "$VCPED" run --config "$WORK/$name.toml" --socket "$sock" >"$WORK/$name.log" 2>&1 &
    pid=$!
    echo "$pid" >>"$WORK/k.pids"
    for _ in $(seq 100); do
        kill -0 "$pid" 2>/dev/null || { tail -n 20 "$WORK/$name.log" >&2; die "vcped in $ns exited during start-up"; }
        if "$VCPECTL" --socket "$sock" status >/dev/null 2>&1 && ip -n "$ns" link show vcpe0 >/dev/null 2>&1; then
            [[ -z $3 ]] || ip -n "$ns" route add "$3" dev vcpe0
            return 0
        fi
        sleep 0.2
    done
    die "vcped in $ns did not come up with vcpe0 within 20 s"
}

# peers_run TEST PID... -- LABEL...: every sender's iperf3 at once, the
# thread CPU of every vcped around it.
peers_run() {
    local test=$1 i pids=() labels=() args=() cpids=()
    shift
    while [[ $1 != -- ]]; do pids+=("$1"); shift; done
    shift
    labels=("$@")
    [[ $test == udp64 ]] && args=(-u -l 64 -b "$UDP_RATE")
    echo "  $PEERS x iperf3 ${args[*]}" >&2
    python3 "$WORK/cpu.py" snap "$WORK/k-$test.cpu0" "${pids[@]}"
    for i in $(seq "$PEERS"); do
        ip netns exec "${P}k$i" iperf3 -c "$HOST_B" -p $((5200 + i)) -t "$DURATION" \
            --connect-timeout 5000 --json "${args[@]}" >"$WORK/k-$test-$i.json" &
        cpids+=($!)
    done
    for i in "${!cpids[@]}"; do wait "${cpids[$i]}" || echo "  sender $((i + 1)): iperf3 failed" >&2; done
    python3 "$WORK/cpu.py" snap "$WORK/k-$test.cpu1" "${pids[@]}"
    python3 "$WORK/cpu.py" diff "$WORK/k-$test.cpu0" "$WORK/k-$test.cpu1" "${labels[@]}"
}

if (( PEERS > 1 )); then
    command -v wg >/dev/null || die "wg is missing (apt-get install -y wireguard-tools)"
    if [[ -z ${NO_BUILD:-} && -z ${VCPE_BIN_DIR:-} ]]; then
        echo "== cargo build --release -p vcpe-daemon -p vcpectl" >&2
        (cd "$ROOT" && cargo build --release -p vcpe-daemon -p vcpectl --quiet)
    fi
    [[ -x $VCPED && -x $VCPECTL ]] || die "$VCPED or $VCPECTL missing"
    echo "== $PEERS WireGuard peers into one vCPE ($VCPED)" >&2
    peers_profile
    python3 - "$WORK" "$PEERS" "$DURATION" "$UDP_RATE" <<'EOF'
import json, os, sys
work, k, duration, rate = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
print()
print(f"{k} WireGuard peers into one vCPE, iperf3 -t {duration} from each at once, "
      f"UDP -b {rate}, {os.cpu_count()} CPUs")
for test, label in (("tcp1", "TCP 1 stream each (Gbit/s)"), ("udp64", "UDP 64 B each (kpps recv)")):
    each = []
    for i in range(1, k + 1):
        try:
            r = json.load(open(os.path.join(work, f"k-{test}-{i}.json")))
            s = r["end"]["sum_received"]
            if test == "tcp1":
                each.append(s["bits_per_second"] / 1e9)
            else:
                each.append((s["packets"] - s["lost_packets"]) / s["seconds"] / 1e3)
        except (OSError, KeyError, TypeError, ValueError, ZeroDivisionError):
            each.append(None)
    got = [x for x in each if x is not None]
    total = (f"{sum(got):.2f}" if test == "tcp1" else f"{sum(got):.0f}") if got else "FAIL"
    fmt = "{:.2f}" if test == "tcp1" else "{:.0f}"
    print(f"{label:<30} aggregate {total:>8}   per sender: "
          + " ".join(fmt.format(x) if x is not None else "FAIL" for x in each))
    cpu = os.path.join(work, f"k-{test}.cpu1.sum")
    if os.path.exists(cpu):
        rows = dict(line.split() for line in open(cpu) if line.strip())
        print(f"{'':<30} CPU (% of one core): receiver vcped {float(rows.get('receiver', 0)):.0f}, "
              f"senders' vcpeds {sum(float(v) for n, v in rows.items() if n != 'receiver'):.0f}")
EOF
    exit 0
fi

START=$SECONDS
if [[ " $VARIANTS " == *" vcped-"* ]] && [[ -z ${NO_BUILD:-} && -z ${VCPE_BIN_DIR:-} ]]; then
    echo "== cargo build --release -p vcpe-daemon -p vcpectl" >&2
    (cd "$ROOT" && cargo build --release -p vcpe-daemon -p vcpectl --quiet)
fi
BUILT=$SECONDS
for v in $VARIANTS; do
    if [[ $v == vxlan ]] && ! vxlan_available; then
        echo "== vxlan: this kernel cannot create vxlan devices (no vxlan module?); skipping the row" >&2
        echo "kernel has no vxlan" >"$WORK/$v.skipped"
        continue
    fi
    set +e
    (set -e; variant "$v")
    rc=$?
    set -e
    if (( rc != 0 )); then
        echo "== $v FAILED (exit $rc); going on with the other variants" >&2
        echo "exit $rc" >"$WORK/$v.failed"
        FAILED=1
    fi
    case $v in vcped-wg) teardown w ;; vcped-gre) teardown g ;; vcped-vxlan) teardown v ;; wg-go) teardown q ;; vxlan) teardown x ;; esac
done

python3 - "$WORK" "$DURATION" "$UDP_RATE" "$VARIANTS" "$((BUILT - START))" "$((SECONDS - BUILT))" <<'EOF'
import json, os, sys

work, duration, rate, variants = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4].split()
build_s, run_s = sys.argv[5], sys.argv[6]
tags = {"vcped-wg": "w", "vcped-gre": "g", "vcped-vxlan": "v", "wg-go": "q", "vxlan": "x"}

def load(v, test):
    path = os.path.join(work, f"{tags[v]}-{test}.json")
    if not os.path.exists(path):
        return None
    with open(path) as f:
        return json.load(f)

def cpu(v, test):
    path = os.path.join(work, f"{tags[v]}-{test}.cpu1.sum")
    if not os.path.exists(path):
        return None
    with open(path) as f:
        return sum(float(line.split()[1]) for line in f if line.strip())

def tcp_gbps(r):
    return r["end"]["sum_received"]["bits_per_second"] / 1e9

def udp_kpps(r):
    # Receiver's view: "packets" is the highest sequence number seen, so the
    # datagrams that arrived are packets - lost_packets.
    s = r["end"]["sum_received"]
    return (s["packets"] - s["lost_packets"]) / s["seconds"] / 1e3

def udp_loss(r):
    return r["end"]["sum_received"]["lost_percent"]

def udp_sent_kpps(r):
    s = r["end"]["sum_sent"]
    return s["packets"] / s["seconds"] / 1e3

def rtt(v):
    path = os.path.join(work, f"{tags[v]}-rtt.txt")
    if not os.path.exists(path):
        return None
    for line in open(path):
        if line.startswith("rtt ") or line.startswith("round-trip"):
            return float(line.split("=")[1].split("/")[1])
    return None

metrics = [
    ("TCP 1 stream (Gbit/s)", "tcp1", tcp_gbps),
    ("TCP 4 streams (Gbit/s)", "tcp4", tcp_gbps),
    ("UDP 64 B sent (kpps)", "udp64", udp_sent_kpps),
    ("UDP 64 B received (kpps)", "udp64", udp_kpps),
    ("UDP 64 B loss (%)", "udp64", udp_loss),
]

def status(v):
    for s in ("failed", "skipped"):
        if os.path.exists(os.path.join(work, f"{v}.{s}")):
            return "FAIL" if s == "failed" else "skip"
    return "-"

def value(v, test, f):
    r = load(v, test)
    try:
        return f(r) if r else None
    except (KeyError, TypeError, ZeroDivisionError):
        return None

fmt = lambda x, v: f"{x:.2f}" if x is not None else status(v)
w = 13
print()
print(f"tunnel benchmark, iperf3 -t {duration}, UDP -b {rate}, {os.cpu_count()} CPUs; "
      f"build {build_s} s, run {run_s} s")
print(f"{'metric':<28}" + "".join(f"{v:>{w}}" for v in variants))
for label, test, f in metrics:
    print(f"{label:<28}" + "".join(f"{fmt(value(v, test, f), v):>{w}}" for v in variants))
row = [rtt(v) for v in variants]
print(f"{'ping RTT idle, avg (ms)':<28}" + "".join(
    f"{(f'{x:.3f}' if x is not None else '-'):>{w}}" for x in row))
for test, label in (("tcp1", "TCP 1"), ("tcp4", "TCP 4"), ("udp64", "UDP 64 B")):
    row = [cpu(v, test) for v in variants]
    if any(x is not None for x in row):
        print(f"{'daemon CPU, ' + label + ' (%)':<28}" + "".join(
            f"{(f'{x:.0f}' if x is not None else '-'):>{w}}" for x in row))

# CPU per Gbit/s: the daemon's CPU time (% of one core, all its threads)
# per Gbit/s it carried; lower is better; the kernel's is not measurable.
for test, label in (("tcp1", "TCP 1"), ("tcp4", "TCP 4")):
    row = []
    for v in variants:
        c, g = cpu(v, test), value(v, test, tcp_gbps)
        row.append(c / g if c is not None and g else None)
    if any(x is not None for x in row):
        print(f"{'daemon CPU/Gbit/s, ' + label:<28}" + "".join(
            f"{(f'{x:.1f}' if x is not None else '-'):>{w}}" for x in row))

print()
# Targets of issue 14 (and which rows each ratio applies to).
TCP, UDP = ("tcp1", "tcp4"), ("udp64",)
pairs = [
    ("vcped-wg", "vxlan", 0.4, TCP),
    ("vcped-wg", "wg-go", 2.0, UDP),
    ("vcped-vxlan", "vxlan", 0.8, TCP + UDP),
    ("vcped-gre", "vxlan", 0.5, TCP),
]
for num, den, target, tests in pairs:
    if num not in variants or den not in variants:
        continue
    print(f"ratio {num} / {den} (target >= {target}x):")
    for label, test, f in metrics:
        if "sent" in label or "loss" in label or test not in tests:
            continue
        a, b = value(num, test, f), value(den, test, f)
        if a is None or not b:
            print(f"  {label:<26}      -")
            continue
        r = a / b
        print(f"  {label:<26}{r:>7.2f}x  {'ok' if r >= target else 'below target'}")
EOF
exit "$FAILED"
