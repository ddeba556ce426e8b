#!/usr/bin/env bash
# vcpe demo: the seed's many-to-many topology, three VPCs in network
# namespaces, one real vcped per VPC (examples/vpc0{1,2,3}.toml).
#
#   VPC 01: vm11 (10.1.1.10) ─eth1─┐                       ┌─ vCPE 02 ─eth1─ vm21 (10.2.1.10)
#           vm12 (10.1.2.10) ─eth2─┴─ vCPE 01 ── internet ─┤
#                                  198.51.100.1   bridge   └─ vCPE 03 ─eth1─ vm31 (10.3.1.10)
#
# Each vCPE namespace runs vcped, which owns the TUN vcpe0 and a full mesh of
# WireGuard tunnels to the other vCPEs, with BGP over the tunnels. The vCPE's
# kernel routes the other VPCs' prefixes into vcpe0, so vcped sees every
# cross-VPC packet. The demo prints each vCPE's BGP sessions and routes, then
# an all-pairs ping matrix (v4 and v6), and exits 1 if any pair fails.
#
# Everything lives in namespaces named vd<pid>-*, removed on exit, Ctrl-C or
# failure. Needs root; the packages it needs (iproute2, iputils-ping) are
# installed with apt-get when missing, as .ci/run does, so it runs first on
# a bare Debian machine. Nothing outside its namespaces is changed.
#
# Usage: sudo ./demo/multi-vpc.sh [--day-two] [--keep]
#   --day-two      then operate it live, by reload only (demo/day-two.sh):
#                  rotate a WireGuard key, add a fourth VPC, and a
#                  commit-confirm that is not confirmed and rolls back
#   --keep         stay up after the matrix until Ctrl-C, for poking around
#   VCPE_BIN_DIR   directory holding vcped and vcpectl to use as they are;
#                  unset: build them with cargo (dev profile, as .ci/run does)
set -euo pipefail
cd "$(dirname "$0")/.."

usage() { sed -n '/^# Usage:/,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; }
keep=false
day_two=false
for arg in "$@"; do
    case $arg in
        --keep) keep=true ;;
        --day-two) day_two=true ;;
        -h | --help) usage; exit 0 ;;
        *) echo "unknown argument: $arg" >&2; usage >&2; exit 2 ;;
    esac
done
[ "$(id -u)" = 0 ] || { echo "run as root (network namespaces and TUN devices need it): sudo $0" >&2; exit 1; }
[ -c /dev/net/tun ] || { echo "/dev/net/tun is missing: modprobe tun (in a container: --device /dev/net/tun)" >&2; exit 1; }
# The packages the demo needs, by the command it runs: installed only
# when missing (we are root already; see .ci/run for the test suite's).
declare -A package=([ip]=iproute2 [ping]=iputils-ping)
missing=()
for tool in "${!package[@]}"; do
    command -v "$tool" >/dev/null || missing+=("${package[$tool]}")
done
if ((${#missing[@]})); then
    command -v apt-get >/dev/null || { echo "missing: ${missing[*]}; install them with your package manager" >&2; exit 1; }
    echo "installing what the demo needs: ${missing[*]} (apt-get)"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
    for tool in "${!package[@]}"; do
        command -v "$tool" >/dev/null || { echo "$tool is still missing after installing ${package[$tool]}" >&2; exit 1; }
    done
fi

if [ -t 1 ]; then bold=$'\033[1m' plain=$'\033[0m'; else bold="" plain=""; fi
say() { printf '\n%s== %s%s\n' "$bold" "$*" "$plain"; }
P="vd$$"
at() { local ns=$1; shift; ip netns exec "$P-$ns" "$@"; }
demo_netns() { ip netns list | awk '{print $1}' | grep "^$1-" || true; }

# Namespaces of an earlier run that was killed too hard to clean up (its
# pid is gone): remove them, with anything still running inside.
sweep_ns() {
    local ns nspids
    for ns in $(demo_netns "$1"); do
        nspids=$(ip netns pids "$ns" 2>/dev/null || true)
        # shellcheck disable=SC2086 # one pid per word
        [[ -n $nspids ]] && kill -KILL $nspids 2>/dev/null
        ip netns del "$ns" 2>/dev/null || true
    done
    return 0
}
for old in $(ip netns list | awk '{print $1}' | sed -n 's/^vd\([0-9][0-9]*\)-inet$/\1/p'); do
    if ! kill -0 "$old" 2>/dev/null; then
        echo "removing namespaces vd$old-* left by an earlier demo run that was killed"
        sweep_ns "vd$old"
    fi
done

work=$(mktemp -d /tmp/vcpe-demo.XXXXXX)
pids=()
ok=false
cleanup() {
    local rc=$? ns nspids p
    trap '' INT TERM HUP # a second Ctrl-C must not leave namespaces behind
    set +e
    # vcped (and anything else) inside our namespaces: SIGTERM, then SIGKILL.
    for ns in $(demo_netns "$P"); do
        nspids=$(ip netns pids "$ns")
        # shellcheck disable=SC2086 # one pid per word
        [[ -n $nspids ]] && kill $nspids 2>/dev/null
    done
    # At most 10 s for a clean stop (vcped ends its BGP sessions first),
    # then SIGKILL: a clean-up must never hang.
    for _ in $(seq 100); do
        alive=false
        for p in "${pids[@]}"; do kill -0 "$p" 2>/dev/null && alive=true; done
        $alive || break
        sleep 0.1
    done
    for p in "${pids[@]}"; do
        if kill -0 "$p" 2>/dev/null; then
            echo "demo: vcped (pid $p) did not stop within 10 s of SIGTERM; killing it (log: $work)" >&2
            kill -KILL "$p" 2>/dev/null
        fi
        wait "$p" 2>/dev/null
    done
    sweep_ns "$P"
    if $ok || ! compgen -G "$work/*.log" >/dev/null; then
        rm -rf "$work"
        echo "== cleaned up: namespaces $P-* removed"
    else
        echo "== cleaned up: namespaces $P-* removed; vcped logs kept in $work" >&2
    fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
trap 'exit 129' HUP
trap 'echo "demo: line $LINENO failed: $BASH_COMMAND" >&2' ERR

# ── binaries ────────────────────────────────────────────────────────────────
if [[ -n ${VCPE_BIN_DIR:-} ]]; then
    bin=$VCPE_BIN_DIR
    say "using vcped and vcpectl from $bin (VCPE_BIN_DIR: not building)"
else
    target=${CARGO_TARGET_DIR:-target}
    [[ $target = /* ]] || target=$PWD/$target
    bin=$target/debug
    build=(build -p vcpe-daemon -p vcpectl --bins)
    user_cargo=""
    if [[ -n ${SUDO_USER:-} && $SUDO_USER != root ]]; then
        user_cargo=$(getent passwd "$SUDO_USER" | cut -d: -f6)/.cargo/bin/cargo
    fi
    if command -v cargo >/dev/null; then
        say "building vcped and vcpectl: cargo ${build[*]} (dev profile; the first build takes a few minutes)"
        cargo "${build[@]}"
    elif [[ -n $user_cargo && -x $user_cargo ]]; then
        # sudo resets PATH; build as the user who owns the checkout instead.
        say "building vcped and vcpectl as $SUDO_USER: cargo ${build[*]} (dev profile; the first build takes a few minutes)"
        sudo -u "$SUDO_USER" -H env CARGO_TARGET_DIR="$target" "$user_cargo" "${build[@]}"
    elif [[ -x $bin/vcped && -x $bin/vcpectl ]]; then
        say "cargo not found in root's PATH: using the binaries already in $bin (rebuild them if the source changed)"
    else
        echo "cargo not found in root's PATH and no binaries in $bin." >&2
        echo "Build as your user first: cargo build -p vcpe-daemon -p vcpectl --bins; then: sudo $0 (or set VCPE_BIN_DIR)" >&2
        exit 1
    fi
fi
vcped=$bin/vcped
vcpectl=$bin/vcpectl
for b in "$vcped" "$vcpectl"; do
    [[ -x $b ]] || { echo "$b is missing: build it with cargo build -p vcpe-daemon -p vcpectl --bins" >&2; exit 1; }
done
ctl() { local v=$1; shift; "$vcpectl" --socket "$work/$v.sock" "$@"; }
chmod 600 examples/keys/*

say "validating the three configs"
"$vcped" check-config examples/vpc01.toml examples/vpc02.toml examples/vpc03.toml
# vcped runs on copies: reloads and `config apply` write the running file,
# and examples/ stays as it is.
etc=$work/etc
mkdir -p "$etc/keys"
cp examples/vpc0[123].toml "$etc/"
cp -p examples/keys/vpc0[123].key "$etc/keys/"

# ── topology ────────────────────────────────────────────────────────────────
say "building the topology (namespaces $P-*)"
# No IPv6 duplicate address detection in the namespaces: a link-local address
# still in DAD delays neighbor discovery, and so the first v6 echo, by seconds.
netns_add() { ip netns add "$P-$1"; at "$1" sysctl -qw net.ipv6.conf.default.accept_dad=0 net.ipv6.conf.all.accept_dad=0; at "$1" ip link set lo up; }
netns_add inet
at inet ip link add inet0 type bridge
at inet ip link set inet0 up
# vpc: number and its vxnets (third octet of 10.N.K.0/24)
declare -A vxnets=([1]="1 2" [2]="1" [3]="1" [4]="1")
vms=()
# add_vpc N: the vCPE namespace vpc0N on the internet bridge (198.51.100.N)
# and one VM namespace per vxnet of VPC N.
add_vpc() {
    local n=$1 v="vpc0$1" k vm
    netns_add "$v"
    at "$v" sysctl -qw net.ipv4.ip_forward=1 net.ipv6.conf.all.forwarding=1
    ip link add wan0 netns "$P-$v" type veth peer name "w$n" netns "$P-inet"
    at inet ip link set "w$n" master inet0 up
    at "$v" ip addr add "198.51.100.$n/24" dev wan0
    at "$v" ip link set wan0 up
    for k in ${vxnets[$n]}; do
        vm="vm$n$k"
        vms+=("$vm")
        netns_add "$vm"
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
}
for n in 1 2 3; do add_vpc "$n"; done
addr4() { echo "10.${1:2:1}.${1:3:1}.10"; }     # vm12 -> 10.1.2.10
addr6() { echo "fd00:${1:2:1}:${1:3:1}::10"; }  # vm12 -> fd00:1:2::10

# ── vcped ───────────────────────────────────────────────────────────────────
start_vcped() {
    local v=$1
    ip netns exec "$P-$v" "$vcped" run --config "$etc/$v.toml" --socket "$work/$v.sock" --state-dir "$work/$v.history" >"$work/$v.log" 2>&1 &
    pids+=($!)
}
wait_vcped() {
    local v=$1
    for _ in $(seq 100); do
        ctl "$v" status >/dev/null 2>&1 && break
        sleep 0.1
    done
    if ! ctl "$v" status >/dev/null 2>&1; then
        echo "vcped of $v did not come up; its log:" >&2
        cat "$work/$v.log" >&2
        exit 1
    fi
    # Route the other VPCs into vcpe0. vcped's kernel route sync installs the
    # learned prefixes itself; these covering routes stay harmless beside them.
    at "$v" ip route replace 10.0.0.0/8 dev vcpe0
    at "$v" ip -6 route replace fd00::/16 dev vcpe0
}
# wait_bgp VPC SESSIONS PREFIXES: until VPC's vcped has that many sessions
# Established and prefixes accepted (30 s at most).
wait_bgp() {
    local v=$1 want_est=$2 want_acc=$3 js est acc
    for _ in $(seq 300); do
        js=$(ctl "$v" --json bgp summary 2>/dev/null || true)
        # No match is an answer (0), not an error: grep exits 1 then, which
        # pipefail would turn into the end of the script.
        est=$({ grep -o '"Established"' <<<"$js" || true; } | wc -l)
        acc=$({ grep -oE '"accepted": *[0-9]+' <<<"$js" || true; } | awk -F: '{ s += $2 } END { print s + 0 }')
        if [[ $est -ge $want_est && $acc -ge $want_acc ]]; then return 0; fi
        sleep 0.1
    done
    echo "$v: BGP not up after 30 s (want $want_est sessions Established and $want_acc prefixes accepted):" >&2
    ctl "$v" bgp summary >&2 || true
    tail -n 20 "$work/$v.log" >&2
    exit 1
}
say "starting one vcped per VPC (logs in $work)"
for n in 1 2 3; do
    v="vpc0$n"
    start_vcped "$v"
done
for v in vpc01 vpc02 vpc03; do
    wait_vcped "$v"
done

# Each vCPE has 2 neighbors, and learns 2 prefixes (v4 + v6) per remote vxnet.
declare -A expect=([vpc01]=4 [vpc02]=6 [vpc03]=6)
say "waiting for the BGP sessions over the WireGuard tunnels and their routes"
started=$SECONDS
for v in vpc01 vpc02 vpc03; do
    wait_bgp "$v" 2 "${expect[$v]}"
done
echo "all 6 sessions Established, routes exchanged in $((SECONDS - started)) s"

# ── what each vCPE knows ───────────────────────────────────────────────────
for v in vpc01 vpc02 vpc03; do
    say "vCPE of ${v^^}: BGP sessions, RIB, kernel routes into vcpe0"
    ctl "$v" bgp summary
    echo
    ctl "$v" show route
    echo
    echo "kernel:"
    { at "$v" ip -4 route show dev vcpe0; at "$v" ip -6 route show dev vcpe0; } | sed 's/^/  /'
done

# ── all-pairs ping matrix ──────────────────────────────────────────────────
# One echo per pair and family; a cell is "ok <RTT>" or "FAIL".
ping_cell() {
    local from=$1 to=$2 out
    if out=$(at "$from" ping -n -c 1 -W 3 "$to" 2>&1); then
        printf 'ok %sms' "$(sed -n 's/.*time=\([0-9.]*\) ms.*/\1/p' <<<"$out" | head -n 1)"
    else
        printf 'FAIL'
    fi
}
# ping_matrix: every VM pings every other, v4 and v6; exits 1 on a failure.
ping_matrix() {
    local from to fam dst cell
    say "all-pairs ping matrix: row = source VM, column = destination VM (1 echo, RTT)"
    printf '%-9s' "from\\to"
    for to in "${vms[@]}"; do printf '%-12s' "$to"; done
    echo
    pairs=0
    failed=()
    for from in "${vms[@]}"; do
        for fam in v4 v6; do
            printf '%-9s' "$from $fam"
            for to in "${vms[@]}"; do
                if [[ $from == "$to" ]]; then
                    cell="-"
                else
                    if [[ $fam == v4 ]]; then dst=$(addr4 "$to"); else dst=$(addr6 "$to"); fi
                    cell=$(ping_cell "$from" "$dst")
                    pairs=$((pairs + 1))
                    [[ $cell == FAIL ]] && failed+=("$from->$to $fam ($dst)")
                fi
                printf '%-12s' "$cell"
            done
            echo
        done
    done
    if ((${#failed[@]})); then
        say "${#failed[@]} of $pairs pairs FAILED: ${failed[*]}"
        echo "look at: vcpectl stats (drops by reason), vcpectl show route, the vcped logs in $work" >&2
        for v in "${vpcs[@]}"; do
            echo "--- $v stats" >&2
            ctl "$v" stats >&2 || true
        done
        exit 1
    fi
    say "all $pairs pairs ok"
}
vpcs=(vpc01 vpc02 vpc03)
ping_matrix
ok=true

if $day_two; then
    # shellcheck source=demo/day-two.sh
    source demo/day-two.sh
    ok=true
fi

if $keep; then
    say "up until Ctrl-C; try:"
    echo "  ip netns exec $P-vm11 ping 10.2.1.10"
    echo "  $vcpectl --socket $work/vpc01.sock stats"
    echo "  $vcpectl --socket $work/vpc02.sock show route"
    echo "  ip netns exec $P-vpc01 ip route"
    # A shell started with SIGINT ignored (a background job of a script,
    # some CI runners) passes that on, and bash cannot trap it then.
    ignored=$(awk '/^SigIgn:/ {print $2}' "/proc/$$/status")
    if (( (16#${ignored:-0} & 2) != 0 )); then
        echo "Ctrl-C to tear down does not work here: this shell was started with SIGINT ignored; run: kill $$"
    else
        echo "Ctrl-C to tear down (or: kill $$)"
    fi
    # The way out of --keep, not a failure.
    trap 'kill "$sleeper" 2>/dev/null; exit 0' INT TERM
    # In the background, so that a signal runs the trap at once instead of
    # after the sleep (a background job ignores SIGINT: the trap kills it).
    while true; do
        sleep 3600 &
        sleeper=$!
        wait "$sleeper" || true
    done
fi
