#!/usr/bin/env bash
# Fleet start-up: N vCPEs (default 16) as network namespaces on one
# underlay bridge, a full mesh of GRE tunnels (no keys to make: faster to
# set up than WireGuard, and the BGP side is the same; ENCAP=wireguard for
# WireGuard) with one eBGP session per tunnel, all vcped started at once.
# Prints:
#   sessions  time from the first start until every vCPE has all N-1
#             sessions Established
#   collide   time from the LAST start until then (the connection
#             collision figure: issue 16 wants <= 3 s; a pair that loses
#             both connections in RFC 4271 §6.8 resolution waits out the
#             connect retry, 5 s, and shows here)
#   routes    until every vCPE has accepted the N-1 other vxnets
#   pings     until a sample of PINGS vCPE pairs ping (v4, vxnet to vxnet,
#             through both vcpeds and the tunnel)
#   RSS and threads per vcped (min / mean / max), the WARN lines and the
#   lines naming a collision in all the logs, and the sessions that came
#   up more than once (reup).
#
#   vCPE i (namespace vfl<pid>-v<i>):
#     wan0   100.64.0.i/24 on the bridge br0 in vfl<pid>-sw
#     vcpe0  10.255.0.i/24 (TUN; BGP runs between these inner addresses)
#     lo     10.<i>.1.1 (stands for the vxnet 10.<i>.1.0/24, advertised by BGP)
#     router id 10.255.0.i, AS 65000+i; hold time 90 s, connect retry 5 s
#     GRE to every other vCPE j, key 1000*min(i,j)+max(i,j) (or WireGuard,
#     UDP 51820, a key per vCPE); the underlay neighbors are static
#
# Namespaces are named vfl<pid>-*; removed on exit, also on failure or
# Ctrl-C. Traffic never leaves them. Needs root, iproute2, iputils-ping.
#
# Usage:  sudo bench/fleet.sh
#         flock /tmp/vcpe-bench.lock bench/fleet.sh   (on a shared machine)
# Environment:
#   N=16            vCPEs (2..100); SIZES="16 32 64" runs several in turn
#   ENCAP=gre       gre or wireguard (keys made with `vcpectl key generate`,
#                   one UDP socket per vCPE). GRE stops converging between
#                   32 and 64 vCPEs here (every raw GRE socket, one per
#                   tunnel, sees every GRE packet of its namespace)
#   PINGS=32        sampled pairs (random, fixed seed)
#   HOLD=0          then watch HOLD more seconds that no session drops
#   TIMEOUT=120     seconds to wait for each phase before giving up
#   NO_BUILD=1      skip `cargo build --release -p vcpe-daemon -p vcpectl`
#   CARGO_TARGET_DIR  where the binaries are (default: ./target)
#   VCPE_BIN_DIR    take vcped and vcpectl from here instead (e.g. an older
#                   build, to compare)
#   KEEP_LOGS=1     keep the work directory (configs, logs)
set -euo pipefail

SIZES=${SIZES:-${N:-16}}
ENCAP=${ENCAP:-gre}
PINGS=${PINGS:-32}
HOLD=${HOLD:-0}
TIMEOUT=${TIMEOUT:-120}
P="vfl$$-"
ROOT=$(cd "$(dirname "$0")/.." && pwd)
TARGET=${CARGO_TARGET_DIR:-$ROOT/target}
BIN=${VCPE_BIN_DIR:-$TARGET/release}
VCPED=$BIN/vcped
VCPECTL=$BIN/vcpectl
WORK=$(mktemp -d "/tmp/vfl$$.XXXXXX")
NAMESPACES=()
PIDS=()

die() { echo "fleet.sh: $*" >&2; exit 1; }

stop_pid() { # stop_pid PID: TERM, up to 2 s, then KILL; reaps it
    local pid=$1
    kill -0 "$pid" 2>/dev/null || { wait "$pid" 2>/dev/null || true; return 0; }
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 20); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
}

teardown() { # stops every vcped, removes every namespace of this run
    local pid ns
    for pid in "${PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
    for pid in "${PIDS[@]}"; do stop_pid "$pid"; done
    for ns in "${NAMESPACES[@]}"; do
        for pid in $(ip netns pids "$ns" 2>/dev/null); do kill -KILL "$pid" 2>/dev/null; done
    done
    for ns in "${NAMESPACES[@]}"; do ip netns del "$ns" 2>/dev/null; done
    PIDS=()
    NAMESPACES=()
}

cleanup() {
    local rc=$?
    set +e
    teardown
    if [[ -n ${KEEP_LOGS:-} ]]; then
        echo "fleet.sh: logs kept in $WORK" >&2
    else
        rm -rf "$WORK"
    fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

[[ $EUID -eq 0 ]] || die "needs root (network namespaces): sudo $0"
[[ -c /dev/net/tun ]] || die "/dev/net/tun is missing (modprobe tun)"
command -v ip >/dev/null || die "ip is missing (apt-get install -y iproute2)"
command -v ping >/dev/null || die "ping is missing (apt-get install -y iputils-ping)"
for v in PINGS TIMEOUT; do
    [[ ${!v} =~ ^[1-9][0-9]*$ ]] || die "$v must be a positive number"
done
[[ $HOLD =~ ^[0-9]+$ ]] || die "HOLD must be a number of seconds"
[[ $ENCAP == gre || $ENCAP == wireguard ]] || die "ENCAP must be gre or wireguard"
for n in $SIZES; do
    [[ $n =~ ^[0-9]+$ ]] && ((n >= 2 && n <= 100)) || die "N/SIZES: 2..100 vCPEs each (got $n)"
done
if [[ -z ${NO_BUILD:-} && -z ${VCPE_BIN_DIR:-} ]]; then
    echo "== cargo build --release -p vcpe-daemon -p vcpectl" >&2
    (cd "$ROOT" && cargo build --release -p vcpe-daemon -p vcpectl --quiet)
fi
[[ -x $VCPED && -x $VCPECTL ]] || die "$VCPED missing; build with: cargo build --release -p vcpe-daemon -p vcpectl"

now_ms() { date +%s%3N; }
mac() { printf '02:00:00:00:%02x:%02x' $(($1 / 256)) $(($1 % 256)); }

vcped_config() { # vcped_config I N DIR
    local i=$1 n=$2 dir=$3 j
    cat <<EOF
[router]
id = "10.255.0.$i"
asn = $((65000 + i))

[kernel]
route_sync = false

[[interface]]
name = "vcpe0"
addresses = ["10.255.0.$i/24"]
mtu = 1400

[[route]]
name = "vxnet"
prefix = "10.$i.1.0/24"
interface = "vcpe0"
advertise = true

[bgp]
listen = "0.0.0.0:179"

EOF
    for j in $(seq "$n"); do
        ((j == i)) && continue
        cat <<EOF
[[bgp.neighbor]]
address = "10.255.0.$j"
remote_as = $((65000 + j))
peer = "v$j"
hold_time = 90

[[peer]]
name = "v$j"
allowed_prefixes = ["10.255.0.$j/32", "10.$j.1.0/24"]
mtu = 1300
EOF
        if [[ $ENCAP == gre ]]; then
            printf 'endpoint = "100.64.0.%d"\nencapsulation = "gre"\ngre_key = %d\n\n' \
                "$j" $((1000 * (i < j ? i : j) + (i < j ? j : i)))
        else
            printf 'endpoint = "100.64.0.%d:51820"\nbind = "0.0.0.0:51820"\nencapsulation = "wireguard"\n' "$j"
            printf 'private_key_file = "%s"\npublic_key = "%s"\n\n' "$dir/v$i.key" "$(cat "$dir/v$j.pub")"
        fi
    done
}

# all_done FILE: whether FILE lists every vCPE (one "i ms" line each).
count() { [[ -f $1 ]] && wc -l <"$1" || echo 0; }

# stats "v1 v2 ...": min / mean / max
stats() { tr ' ' '\n' <<<"$1" | awk 'NF { n++; s += $1; if (n == 1 || $1 < lo) lo = $1; if ($1 > hi) hi = $1 }
    END { printf "%d / %.0f / %d", lo, s / n, hi }'; }

run() { # run N
    local n=$1 i j dir=$WORK/n$1 ns
    mkdir -p "$dir"
    echo "== $n vCPEs: namespaces ${P}*, $ENCAP full mesh ($((n * (n - 1) / 2)) tunnels, $((n * (n - 1))) sessions)" >&2
    ns=${P}sw
    ip netns add "$ns"; NAMESPACES+=("$ns")
    ip -n "$ns" link add br0 type bridge
    ip -n "$ns" link set br0 up
    for i in $(seq "$n"); do
        ns=${P}v$i
        ip netns add "$ns"; NAMESPACES+=("$ns")
        ip -n "$ns" link set lo up
        ip link add "${P}w$i" netns "${P}sw" type veth peer name wan0 netns "$ns"
        ip -n "${P}sw" link set "${P}w$i" master br0 up
        ip -n "$ns" link set wan0 address "$(mac "$i")"
        ip -n "$ns" addr add "100.64.0.$i/24" dev wan0
        ip -n "$ns" link set wan0 up
        ip -n "$ns" addr add "10.$i.1.1/32" dev lo
        ip netns exec "$ns" sysctl -qw net.ipv4.ip_forward=1 net.ipv4.conf.all.rp_filter=0 net.ipv4.conf.default.rp_filter=0
    done
    # Static underlay neighbors: the kernel's ARP table is shared by all
    # namespaces (gc_thresh3 = 1024 entries by default), and 64 vCPEs
    # resolving 63 neighbors each overflow it; permanent entries do not
    # count.
    for i in $(seq "$n"); do
        for j in $(seq "$n"); do
            ((j == i)) || echo "neigh replace 100.64.0.$j lladdr $(mac "$j") nud permanent dev wan0"
        done | ip -n "${P}v$i" -batch -
    done
    if [[ $ENCAP == wireguard ]]; then
        for i in $(seq "$n"); do
            "$VCPECTL" key generate "$dir/v$i.key" >"$dir/v$i.pub"
        done
    fi
    for i in $(seq "$n"); do
        vcped_config "$i" "$n" "$dir" >"$dir/v$i.toml"
    done
    "$VCPED" check-config "$dir/v1.toml" >/dev/null || die "v1.toml does not validate"

    # All at once: every vcped is spawned before any is waited for.
    local t0 t_last
    t0=$(now_ms)
    for i in $(seq "$n"); do
        ip netns exec "${P}v$i" "$VCPED" run --config "$dir/v$i.toml" --socket "$dir/v$i.sock" \
            --state-dir "$dir/v$i.state" >"$dir/v$i.log" 2>&1 &
        PIDS+=($!)
    done
    t_last=$(now_ms)

    # Poll every vCPE until it has all sessions up and all routes.
    local sess=$dir/sessions routes=$dir/routes js est acc deadline=$((t0 + TIMEOUT * 1000))
    local -A up_at=() routes_at=() routed=()
    : >"$sess"; : >"$routes"
    while ((${#routes_at[@]} < n)); do
        if (($(now_ms) >= deadline)); then
            echo "fleet.sh: $n vCPEs: not converged in ${TIMEOUT}s (sessions up on ${#up_at[@]}, routes on ${#routes_at[@]}); v1:" >&2
            "$VCPECTL" --socket "$dir/v1.sock" bgp summary >&2 || true
            return 1
        fi
        for i in $(seq "$n"); do
            [[ -n ${routes_at[$i]:-} ]] && continue
            js=$("$VCPECTL" --socket "$dir/v$i.sock" --json bgp summary 2>/dev/null) || continue
            est=$(grep -o '"Established"' <<<"$js" | wc -l)
            if ((est == n - 1)) && [[ -z ${up_at[$i]:-} ]]; then
                up_at[$i]=$(now_ms)
                echo "$i ${up_at[$i]}" >>"$sess"
                # The kernel hands every other vxnet to vcped, whose FIB
                # (BGP) picks the tunnel.
                ip -n "${P}v$i" route replace 10.0.0.0/8 dev vcpe0 src "10.$i.1.1" 2>/dev/null || true
            fi
            acc=$(grep -oE '"accepted": *[0-9]+' <<<"$js" | awk -F: '{ s += $2 } END { print s + 0 }')
            if [[ -n ${up_at[$i]:-} ]] && ((acc >= n - 1)); then
                routes_at[$i]=$(now_ms)
            fi
        done
        sleep 0.05
    done
    local t_sess=0 t_routes=0 v
    for v in "${up_at[@]}"; do ((v > t_sess)) && t_sess=$v; done
    for v in "${routes_at[@]}"; do ((v > t_routes)) && t_routes=$v; done

    # Sampled pairs (fixed seed), pinged until each answers once.
    local pairs=() a b k
    RANDOM=42
    for k in $(seq "$PINGS"); do
        a=$((RANDOM % n + 1)); b=$((RANDOM % n + 1))
        ((a == b)) && b=$((a % n + 1))
        pairs+=("$a:$b")
    done
    local left=("${pairs[@]}") still failed=0
    while ((${#left[@]})); do
        if (($(now_ms) >= deadline)); then
            echo "fleet.sh: $n vCPEs: ${#left[@]} of $PINGS sampled pairs do not ping: ${left[*]}" >&2
            failed=1
            break
        fi
        still=()
        for k in "${left[@]}"; do
            a=${k%:*}; b=${k#*:}
            ip netns exec "${P}v$a" ping -c1 -W1 -q -I "10.$a.1.1" "10.$b.1.1" >/dev/null 2>&1 || still+=("$k")
        done
        left=("${still[@]}")
    done
    local t_ping
    t_ping=$(now_ms)

    local dropped=0
    if ((HOLD > 0)); then
        echo "== holding ${HOLD}s: every session must stay Established" >&2
        sleep "$HOLD"
        for i in $(seq "$n"); do
            est=$("$VCPECTL" --socket "$dir/v$i.sock" --json bgp summary 2>/dev/null | grep -o '"Established"' | wc -l || true)
            ((est == n - 1)) || dropped=$((dropped + n - 1 - est))
        done
    fi

    local rss="" thr="" pid
    for pid in "${PIDS[@]}"; do
        rss+="$(awk '/^VmRSS/ { print int($2 / 1024) }' "/proc/$pid/status" 2>/dev/null) "
        thr+="$(awk '/^Threads/ { print $2 }' "/proc/$pid/status" 2>/dev/null) "
    done
    local warns collisions retry
    warns=$(cat "$dir"/v*.log | grep -c ' WARN ' || true)
    collisions=$(cat "$dir"/v*.log | grep -ci 'collision' || true)
    # Sessions that came up more than once (a young session replaced by
    # the other connection of a collision counts here).
    retry=0
    for i in $(seq "$n"); do
        retry=$((retry + $("$VCPECTL" --socket "$dir/v$i.sock" --json bgp summary 2>/dev/null \
            | grep -oE '"established_transitions": *[0-9]+' | awk -F: '$2 > 1 { c++ } END { print c + 0 }')))
    done

    printf '%-4s %9s %9s %9s %9s %9s %15s %11s %6s %7s %6s\n' N spawn sessions collide routes pings "RSS MiB" threads WARN "6/7 log" reup
    printf '%-4s %8dms %8dms %8dms %8dms %8dms %15s %11s %6d %7d %6d\n' "$n" $((t_last - t0)) $((t_sess - t0)) \
        $((t_sess - t_last)) $((t_routes - t0)) $((t_ping - t0)) "$(stats "$rss")" "$(stats "$thr")" \
        "$warns" "$collisions" "$retry"
    ((HOLD == 0)) || echo "held ${HOLD}s: $dropped sessions dropped"
    ((failed == 0)) || echo "(pings: FAILED, see above)"
    echo "load: $(cut -d' ' -f1-3 /proc/loadavg) (1/5/15 min) on $(nproc) cores" >&2
    teardown
    ((failed == 0 && dropped == 0))
}

rc=0
for n in $SIZES; do
    run "$n" || rc=1
    teardown
done
exit $rc
