#!/usr/bin/env bash
# Fleet start-up: N vCPEs (default 16) as network namespaces on one
# underlay bridge, a full mesh of GRE tunnels (no keys to make: faster to
# set up than WireGuard, and the BGP side is the same; ENCAP=wireguard for
# WireGuard) with one eBGP session per tunnel, all vcped started at once.
# With RR=bird|frr|vcped the BGP side is two route reflectors on the
# underlay instead (the tunnels stay a full mesh for the data): every vCPE
# is an iBGP client of both (AS 65000, two sessions each, over the
# underlay), and announces its underlay address as next hop, which the
# others map to their tunnel to it by endpoint.
# Prints:
#   started   time from the first start until the last vcped's BGP
#             speaker started (its start-up: config, FIB, TUN, tunnels)
#   sessions  time from the first start until every vCPE has all its
#             sessions Established (N-1 in the mesh, 2 with reflectors)
#   collide   time from the LAST start until then (the connection
#             collision figure: issue 16 wants <= 3 s; a pair that loses
#             both connections in RFC 4271 §6.8 resolution waits out the
#             connect retry, 5 s, and shows here)
#   routes    until every vCPE has the N-1 other vxnets in its FIB (the
#             poller also waits until each has accepted them all: with
#             reflectors from both, 2 x (N-1))
#   pings     until a sample of PINGS vCPE pairs ping (v4, vxnet to vxnet,
#             through both vcpeds and the tunnel)
#   started, sessions and routes are the vcpeds' own times (the last
#   "BGP speaker started", "BGP session established" and the FIB feed's
#   line that completed the FIB, in each log); the poller that waits for them takes a process per
#   vCPE and round, which at 64 vCPEs is seconds a round. pings is the
#   poller's time (an upper bound).
#   RSS and threads per vcped (min / mean / max), the WARN lines and the
#   lines naming a collision in all the logs, and the sessions that came
#   up more than once (reup), connections dropped by a full accept queue
#   (ldrops, the kernel's ListenDrops in the vCPEs' namespaces). With
#   reflectors also their RSS and threads (BIRD: bird; FRR: bgpd; vcped).
#
#   vCPE i (namespace vfl<pid>-v<i>):
#     wan0   100.64.0.i/24 on the bridge br0 in vfl<pid>-sw
#     vcpe0  10.255.0.i/24 (TUN; the mesh's BGP runs between these inner
#            addresses)
#     lo     10.<i>.1.1 (stands for the vxnet 10.<i>.1.0/24, advertised by BGP)
#     router id 10.255.0.i, AS 65000+i (65000 with reflectors); hold time
#     90 s, connect retry 5 s
#     GRE to every other vCPE j, key 1000*min(i,j)+max(i,j) (or WireGuard,
#     UDP 51820, a key per vCPE); the underlay neighbors are static
#   reflector k = 1, 2 (namespace vfl<pid>-r<k>, with RR=...):
#     eth0   100.64.0.25<k>/24 on br0; router id the same; AS 65000; its
#            own cluster id (the router id; no session between the two);
#            started and listening before the vCPEs (the time counts from
#            the vCPEs' start)
#
# Namespaces are named vfl<pid>-*; removed on exit, also on failure or
# Ctrl-C. Traffic never leaves them. Needs root, iproute2, iputils-ping.
#
# Usage:  sudo bench/fleet.sh
#         flock /tmp/vcpe-bench.lock bench/fleet.sh   (on a shared machine)
# Environment:
#   N=16            vCPEs (2..100); SIZES="16 32 64" runs several in turn
#   ENCAP=gre       gre or wireguard (keys made with `vcpectl key generate`,
#                   one UDP socket per vCPE; GRE: one raw socket per vCPE)
#   RR=             (none: eBGP full mesh) bird, frr or vcped: two route
#                   reflectors (BIRD `rr client`, FRR
#                   `route-reflector-client`, vcped
#                   `route_reflector_client = true`); needs bird2 or frr
#   PINGS=32        sampled pairs (random, fixed seed)
#   HOLD=0          then watch HOLD more seconds that no session drops
#   TIMEOUT=120     seconds to wait for each phase before giving up
#   NO_BUILD=1      skip `cargo build --release -p vcpe-daemon -p vcpectl`
#   CARGO_TARGET_DIR  where the binaries are (default: ./target)
#   VCPE_BIN_DIR    take vcped and vcpectl from here instead (e.g. an older
#                   build, to compare)
#   KEEP_LOGS=1     keep the work directory (configs, logs)
#   VCPED_LOG       RUST_LOG for the vcpeds (default: info, and the FIB
#                   feed's debug line, which times the routes phase)
set -euo pipefail

SIZES=${SIZES:-${N:-16}}
ENCAP=${ENCAP:-gre}
RR=${RR:-}
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
RR_PIDS=()

die() { echo "fleet.sh: $*" >&2; exit 1; }

stop_pid() { # stop_pid PID: TERM, up to 2 s, then KILL; reaps it
    local pid=$1
    kill -0 "$pid" 2>/dev/null || { wait "$pid" 2>/dev/null || true; return 0; }
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 20); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
}

teardown() { # stops every vcped and reflector, removes every namespace of this run
    local pid ns
    for pid in "${PIDS[@]}" "${RR_PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
    for pid in "${PIDS[@]}" "${RR_PIDS[@]}"; do stop_pid "$pid"; done
    for ns in "${NAMESPACES[@]}"; do
        for pid in $(ip netns pids "$ns" 2>/dev/null); do kill -KILL "$pid" 2>/dev/null; done
    done
    for ns in "${NAMESPACES[@]}"; do ip netns del "$ns" 2>/dev/null; done
    PIDS=()
    RR_PIDS=()
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
case $RR in
    "" | vcped) ;;
    bird) command -v bird >/dev/null && command -v birdc >/dev/null || die "RR=bird needs bird2 (apt-get install -y bird2)" ;;
    frr) [[ -x /usr/lib/frr/bgpd ]] && command -v vtysh >/dev/null || die "RR=frr needs FRR (apt-get install -y frr)" ;;
    *) die "RR must be bird, frr or vcped (or empty: full mesh)" ;;
esac
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

# The reflectors' underlay addresses (RR=...): 100.64.0.251 and .252.
RR_ADDRS=(100.64.0.251 100.64.0.252)
# vcped's log level: the FIB feed's debug line times the routes phase.
VCPED_LOG=${VCPED_LOG:-info,vcpe_daemon::routing::bgp_feed=debug}

vcped_config() { # vcped_config I N DIR
    local i=$1 n=$2 dir=$3 j a asn=$((65000 + i))
    [[ -z $RR ]] || asn=65000
    cat <<EOF
[router]
id = "10.255.0.$i"
asn = $asn

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
    # With reflectors: two iBGP sessions over the underlay; the next hop
    # announced is our underlay address (the source towards them).
    [[ -z $RR ]] || for a in "${RR_ADDRS[@]}"; do
        printf '[[bgp.neighbor]]\naddress = "%s"\nremote_as = 65000\nhold_time = 90\n\n' "$a"
    done
    for j in $(seq "$n"); do
        ((j == i)) && continue
        [[ -n $RR ]] || cat <<EOF
[[bgp.neighbor]]
address = "10.255.0.$j"
remote_as = $((65000 + j))
peer = "v$j"
hold_time = 90

EOF
        cat <<EOF
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

# log_ms PATTERN LOG: the time (ms since the epoch) of the last line of
# LOG with PATTERN, from vcped's own timestamp (RFC 3339, UTC); fails if
# there is none.
log_ms() {
    local line
    line=$(grep -h "$1" "$2" | tail -n1)
    [[ -n $line ]] && date -d "${line%% *}" +%s%3N
}

# fib_full_ms LOG WANT LIMIT_MS: the time (ms since the epoch) the FIB of
# the vcped of LOG last became complete (WANT BGP routes in it, from the
# FIB feed's debug lines) before LIMIT_MS; fails if it never did. Later
# best-path changes that keep every route (a second reflector's path)
# do not count. RFC 3339 UTC times compare as strings.
fib_full_ms() {
    local lim ts
    lim=$(date -u -d "@$(($3 / 1000)).$(printf %03d $(($3 % 1000)))" +%Y-%m-%dT%H:%M:%S.%6NZ)
    ts=$(awk -v want="$2" -v lim="$lim" '$1 <= lim && /BGP routes applied to the FIB/ {
            n = $0; sub(/.*installed: /, "", n); n += 0
            if (n < want) t = ""; else if (t == "") t = $1 }
        END { print t }' "$1")
    [[ -n $ts ]] && date -d "$ts" +%s%3N
}

# Reflector configs: rr_config K N prints reflector K's config for RR.
rr_config() {
    local k=$1 n=$2 me=${RR_ADDRS[$(($1 - 1))]} i
    case $RR in
        bird)
            # iBGP next hops resolve recursively in BIRD: the connected
            # underlay (protocol direct) resolves the clients' addresses.
            printf 'router id %s;\nlog stderr all;\nprotocol device {}\nprotocol direct { ipv4; }\n' "$me"
            printf 'template bgp rrc {\n  local %s as 65000;\n  rr client;\n  hold time 90;\n' "$me"
            printf '  connect retry time 5;\n  error wait time 1, 5;\n'
            printf '  ipv4 { import all; export where source = RTS_BGP; };\n}\n'
            for i in $(seq "$n"); do
                printf 'protocol bgp vcpe%d from rrc { neighbor 100.64.0.%d as 65000; }\n' "$i" "$i"
            done
            ;;
        frr)
            printf 'frr defaults traditional\nhostname rr%d\nlog stdout informational\n' "$k"
            printf 'router bgp 65000\n bgp router-id %s\n no bgp default ipv4-unicast\n' "$me"
            printf ' neighbor rrc peer-group\n neighbor rrc remote-as 65000\n'
            printf ' neighbor rrc timers 30 90\n neighbor rrc timers connect 5\n'
            for i in $(seq "$n"); do printf ' neighbor 100.64.0.%d peer-group rrc\n' "$i"; done
            printf ' address-family ipv4 unicast\n  neighbor rrc activate\n'
            printf '  neighbor rrc route-reflector-client\n exit-address-family\n!\nline vty\n!\n'
            ;;
        vcped)
            # A reflector needs no tunnel; its TUN carries nothing.
            printf '[router]\nid = "%s"\nasn = 65000\n\n[kernel]\nroute_sync = false\n\n' "$me"
            printf '[[interface]]\nname = "vcpe0"\naddresses = ["10.254.0.%d/32"]\n\n' "$k"
            printf '[bgp]\nlisten = "0.0.0.0:179"\n\n'
            for i in $(seq "$n"); do
                printf '[[bgp.neighbor]]\naddress = "100.64.0.%d"\nremote_as = 65000\n' "$i"
                printf 'hold_time = 90\nroute_reflector_client = true\n\n'
            done
            ;;
    esac
}

# rr_start K N DIR: starts reflector K in its namespace, waits until it
# answers on its control socket.
rr_start() {
    local k=$1 n=$2 dir=$3 ns=${P}r$1 conf pid up=0
    case $RR in
        bird)
            conf=$dir/rr$k.conf
            rr_config "$k" "$n" >"$conf"
            ip netns exec "$ns" bird -f -c "$conf" -s "$dir/rr$k.ctl" >"$dir/rr$k.log" 2>&1 &
            pid=$!
            ;;
        frr)
            mkdir -p "$dir/rr$k.frr"
            conf=$dir/rr$k.frr/bgpd.conf
            rr_config "$k" "$n" >"$conf"
            ip netns exec "$ns" /usr/lib/frr/bgpd -S -Z -f "$conf" -i "$dir/rr$k.frr/bgpd.pid" \
                --vty_socket "$dir/rr$k.frr" -P 0 >"$dir/rr$k.log" 2>&1 &
            pid=$!
            ;;
        vcped)
            conf=$dir/rr$k.toml
            rr_config "$k" "$n" >"$conf"
            "$VCPED" check-config "$conf" >/dev/null || die "$conf does not validate"
            ip netns exec "$ns" "$VCPED" run --config "$conf" --socket "$dir/rr$k.sock" \
                --state-dir "$dir/rr$k.state" >"$dir/rr$k.log" 2>&1 &
            pid=$!
            ;;
    esac
    RR_PIDS+=("$pid")
    for _ in $(seq 100); do
        case $RR in
            bird) birdc -s "$dir/rr$k.ctl" show status 2>/dev/null | grep -q 'Daemon is up' && up=1 ;;
            frr) vtysh --vty_socket "$dir/rr$k.frr" -c 'show bgp summary' >/dev/null 2>&1 && up=1 ;;
            vcped) "$VCPECTL" --socket "$dir/rr$k.sock" bgp summary >/dev/null 2>&1 && up=1 ;;
        esac
        ((up)) && return 0
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    cat "$dir/rr$k.log" >&2
    die "reflector $k ($RR) did not come up"
}

# rr_established K DIR: how many sessions reflector K has Established.
rr_established() {
    local k=$1 dir=$2
    case $RR in
        bird) birdc -s "$dir/rr$k.ctl" show protocols 2>/dev/null | grep -c 'Established' || true ;;
        frr) vtysh --vty_socket "$dir/rr$k.frr" -c 'show bgp summary json' 2>/dev/null \
            | grep -o '"state":"Established"' | wc -l ;;
        vcped) "$VCPECTL" --socket "$dir/rr$k.sock" --json bgp summary 2>/dev/null \
            | grep -o '"Established"' | wc -l ;;
    esac
}

# all_done FILE: whether FILE lists every vCPE (one "i ms" line each).
count() { [[ -f $1 ]] && wc -l <"$1" || echo 0; }

# stats "v1 v2 ...": min / mean / max
stats() { tr ' ' '\n' <<<"$1" | awk 'NF { n++; s += $1; if (n == 1 || $1 < lo) lo = $1; if ($1 > hi) hi = $1 }
    END { printf "%d / %.0f / %d", lo, s / n, hi }'; }

run() { # run N
    local n=$1 i j dir=$WORK/n$1 ns
    mkdir -p "$dir"
    # Sessions per vCPE, and routes each one accepts when converged.
    local want_sess=$((n - 1)) want_routes=$((n - 1)) k
    if [[ -n $RR ]]; then
        want_sess=${#RR_ADDRS[@]}
        want_routes=$((${#RR_ADDRS[@]} * (n - 1)))
        echo "== $n vCPEs: namespaces ${P}*, $ENCAP full mesh ($((n * (n - 1) / 2)) tunnels), iBGP to two $RR reflectors ($((2 * n)) sessions)" >&2
    else
        echo "== $n vCPEs: namespaces ${P}*, $ENCAP full mesh ($((n * (n - 1) / 2)) tunnels, $((n * (n - 1))) sessions)" >&2
    fi
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
    [[ -z $RR ]] || for k in $(seq "${#RR_ADDRS[@]}"); do
        ns=${P}r$k
        ip netns add "$ns"; NAMESPACES+=("$ns")
        ip -n "$ns" link set lo up
        ip link add "${P}r$k" netns "${P}sw" type veth peer name eth0 netns "$ns"
        ip -n "${P}sw" link set "${P}r$k" master br0 up
        ip -n "$ns" link set eth0 address "$(mac $((250 + k)))"
        ip -n "$ns" addr add "${RR_ADDRS[$((k - 1))]}/24" dev eth0
        ip -n "$ns" link set eth0 up
        for i in $(seq "$n"); do
            echo "neigh replace 100.64.0.$i lladdr $(mac "$i") nud permanent dev eth0"
        done | ip -n "$ns" -batch -
    done
    # Static underlay neighbors: the kernel's ARP table is shared by all
    # namespaces (gc_thresh3 = 1024 entries by default), and 64 vCPEs
    # resolving 63 neighbors each overflow it; permanent entries do not
    # count.
    for i in $(seq "$n"); do
        {
            for j in $(seq "$n"); do
                ((j == i)) || echo "neigh replace 100.64.0.$j lladdr $(mac "$j") nud permanent dev wan0"
            done
            [[ -z $RR ]] || for k in $(seq "${#RR_ADDRS[@]}"); do
                echo "neigh replace ${RR_ADDRS[$((k - 1))]} lladdr $(mac $((250 + k))) nud permanent dev wan0"
            done
        } | ip -n "${P}v$i" -batch -
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
    # The reflectors run before the fleet starts (as they would).
    [[ -z $RR ]] || for k in $(seq "${#RR_ADDRS[@]}"); do rr_start "$k" "$n" "$dir"; done

    # All at once: every vcped is spawned before any is waited for.
    local t0 t_last
    t0=$(now_ms)
    for i in $(seq "$n"); do
        RUST_LOG=$VCPED_LOG ip netns exec "${P}v$i" "$VCPED" run --config "$dir/v$i.toml" \
            --socket "$dir/v$i.sock" --state-dir "$dir/v$i.state" >"$dir/v$i.log" 2>&1 &
        PIDS+=($!)
    done
    t_last=$(now_ms)

    # Poll every vCPE until it has all sessions up and all routes. The
    # poller only decides when a vCPE is done: one round takes a process
    # per vCPE (0.5-4 s at 64 under load), so the phase times are the
    # vcpeds' own, from their logs, below. Parsing is bash's own: a
    # grep or awk per vCPE and round would slow the rounds down further.
    local sess=$dir/sessions routes=$dir/routes js est acc rest deadline=$((t0 + TIMEOUT * 1000))
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
            rest=${js//\"Established\"/}
            est=$(((${#js} - ${#rest}) / 13))
            if ((est == want_sess)) && [[ -z ${up_at[$i]:-} ]]; then
                up_at[$i]=$(now_ms)
                echo "$i ${up_at[$i]}" >>"$sess"
                # The kernel hands every other vxnet to vcped, whose FIB
                # (BGP) picks the tunnel.
                ip -n "${P}v$i" route replace 10.0.0.0/8 dev vcpe0 src "10.$i.1.1" 2>/dev/null || true
            fi
            [[ -n ${up_at[$i]:-} ]] || continue
            acc=0 rest=$js
            while [[ $rest =~ \"accepted\":\ *([0-9]+) ]]; do
                acc=$((acc + BASH_REMATCH[1]))
                rest=${rest#*"${BASH_REMATCH[0]}"}
            done
            ((acc >= want_routes)) && routes_at[$i]=$(now_ms)
        done
        sleep 0.05
    done
    # Each vCPE's own time: its last "BGP session established", the
    # moment its FIB last became complete (N-1 vxnets from BGP, up to 2 s
    # after the poller saw all routes accepted); the poller's time where
    # a log has no such line.
    local t_sess=0 t_routes=0 t_bgp=0 v
    for i in $(seq "$n"); do
        v=$(log_ms 'BGP speaker started' "$dir/v$i.log") || v=0
        ((v > t_bgp)) && t_bgp=$v
        v=$(log_ms 'BGP session established' "$dir/v$i.log") || v=${up_at[$i]}
        ((v > t_sess)) && t_sess=$v
        v=$(fib_full_ms "$dir/v$i.log" $((n - 1)) $((routes_at[$i] + 2000))) || v=${routes_at[$i]}
        ((v > t_routes)) && t_routes=$v
    done

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
            ((est == want_sess)) || dropped=$((dropped + want_sess - est))
        done
    fi

    local rss="" thr="" pid
    for pid in "${PIDS[@]}"; do
        rss+="$(awk '/^VmRSS/ { print int($2 / 1024) }' "/proc/$pid/status" 2>/dev/null) "
        thr+="$(awk '/^Threads/ { print $2 }' "/proc/$pid/status" 2>/dev/null) "
    done
    # Connections the kernel dropped because a listener's accept queue
    # was full (they look like a bare close to the connecting side).
    local ldrops=0
    for i in $(seq "$n"); do
        ldrops=$((ldrops + $(ip netns exec "${P}v$i" cat /proc/net/netstat | awk '
            $1 == "TcpExt:" && !h { for (f = 2; f <= NF; f++) name[f] = $f; h = 1; next }
            $1 == "TcpExt:" { for (f = 2; f <= NF; f++) if (name[f] == "ListenDrops") print $f }')))
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

    printf '%-4s %9s %9s %9s %9s %9s %9s %15s %11s %6s %7s %6s %6s\n' N spawn started sessions collide routes pings \
        "RSS MiB" threads WARN "6/7 log" reup ldrops
    printf '%-4s %8dms %8dms %8dms %8dms %8dms %8dms %15s %11s %6d %7d %6d %6d\n' "$n" $((t_last - t0)) $((t_bgp - t0)) \
        $((t_sess - t0)) $((t_sess - t_last)) $((t_routes - t0)) $((t_ping - t0)) "$(stats "$rss")" "$(stats "$thr")" \
        "$warns" "$collisions" "$retry" "$ldrops"
    if [[ -n $RR ]]; then
        local line="reflectors ($RR):"
        for k in $(seq "${#RR_PIDS[@]}"); do
            pid=${RR_PIDS[$((k - 1))]}
            line+=" rr$k RSS $(awk '/^VmRSS/ { print int($2 / 1024) }' "/proc/$pid/status" 2>/dev/null) MiB"
            line+=" threads $(awk '/^Threads/ { print $2 }' "/proc/$pid/status" 2>/dev/null)"
            line+=" sessions $(rr_established "$k" "$dir")/$n;"
        done
        echo "$line"
    fi
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
