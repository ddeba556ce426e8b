#!/usr/bin/env bash
# BGP benchmark: how fast a BGP speaker takes a table from one eBGP peer and
# re-advertises it to another, and how much memory it needs per route;
# vcped and BIRD 2 in the same run, on the same machine, so the ratio means
# something.
#
#   feeder (AS 65100) --\                       /-- sink (AS 65200)
#    10.77.0.1           br0 --- DUT (AS 65010) --   10.77.0.3
#                              10.77.0.2
#
# The feeder (`bgp_feed feed`, bgp/examples/bgp_feed.rs) pre-encodes N IPv4
# /24 UPDATEs, notes the wall clock of its first UPDATE write and sends them
# as fast as TCP takes them; the sink (`bgp_feed sink`) notes the wall clock
# when the N-th distinct prefix arrives from the DUT. Both run in their own
# namespace on the same host, so the clocks are the same. Profiles:
#   packed   ~1000 prefixes per UPDATE, one shared attribute set
#   spread   4 prefixes per UPDATE, each UPDATE with its own AS path
# The DUT is started fresh for every (profile, N); all sessions are up
# before the feed starts. With PEERS=K the feeder is K eBGP peers
# (10.77.0.10 up, AS 65100 up), each announcing its own N/K of the N /24s,
# all K released at the same instant (the issue's "100 peers x 1,000
# routes": PEERS=100 SIZES=100000; "10 peers x 100k": PEERS=10
# SIZES=1000000); the profile column then reads e.g. packed-100p. Memory: VmHWM of the DUT after the run, and
# bytes/route = (VmHWM after - VmRSS just before the feed) / N.
#
# BIRD runs with `protocol device` and two `protocol bgp` (import all,
# export all) and no `protocol kernel`, so it does no FIB sync; vcped runs
# with `[kernel] route_sync = false` (it still installs best routes into
# its own userspace FIB, which BIRD has no equivalent of).
#
# Namespaces are named vbb<pid>-{sw,feed,dut,sink}; everything is removed
# on exit, also on failure or Ctrl-C. Traffic never leaves them.
# Needs root, iproute2, bird2 (apt-get install -y bird2) for the baseline.
#
# Usage:  sudo bench/bgp.sh
# Environment:
#   SIZES="100000 1000000"   prefix counts
#   PROFILES="packed spread"
#   PEERS=1                  feeding peers (1-240; must divide every size)
#   ONLY=vcped|bird          run one DUT only (default: both)
#   REPEAT=1                 runs per (DUT, profile, N); the table shows the
#                            fastest (the machine is shared and noisy)
#   TIMEOUT=120              seconds to wait for the sink per run
#   NO_BUILD=1               skip the two cargo builds
#   CARGO_TARGET_DIR         where the binaries are (default: ./target)
#   KEEP_LOGS=1              keep the work directory (logs, configs)
#   FLAP=SECONDS             after each run, stop the feeder (its session
#                            goes, the DUT withdraws the table), wait this
#                            long, and print how much the DUT's peak memory
#                            grew over the load's and its RSS
#   PERF=1                   record the DUT with `perf record --call-graph
#                            dwarf` from the feed to the last prefix; the
#                            perf.data files are kept (implies KEEP_LOGS=1)
#   HEAPTRACK=1              attach `heaptrack -p` to the DUT before the feed
#                            (allocations from then on; needs gdb); the
#                            heaptrack.*.zst files are kept (implies
#                            KEEP_LOGS=1); memory figures include heaptrack.
#                            HEAPTRACK=load: the DUT is killed (SIGKILL)
#                            right after the measurement, so the profile's
#                            peak is the load's, not the withdrawal's or
#                            the shutdown's
# Run time: a few seconds per run plus start-up (BIRD is slow to accept the
# first connection), about a minute with the defaults plus the builds.
set -euo pipefail

SIZES=${SIZES:-100000 1000000}
PROFILES=${PROFILES:-packed spread}
PEERS=${PEERS:-1}
ONLY=${ONLY:-both}
TIMEOUT=${TIMEOUT:-120}
REPEAT=${REPEAT:-1}
P="vbb$$-"
ROOT=$(cd "$(dirname "$0")/.." && pwd)
TARGET=${CARGO_TARGET_DIR:-$ROOT/target}
VCPED=$TARGET/release/vcped
VCPECTL=$TARGET/release/vcpectl
FEED=$TARGET/release/examples/bgp_feed
WORK=$(mktemp -d "/tmp/vbb$$.XXXXXX")
NAMESPACES=()
PIDS=()
FAILED=0
[[ -z ${PERF:-} ]] || KEEP_LOGS=1
[[ -z ${HEAPTRACK:-} ]] || KEEP_LOGS=1

NS_SW=${P}sw NS_FEED=${P}feed NS_DUT=${P}dut NS_SINK=${P}sink
FEED_IP=10.77.0.1 DUT_IP=10.77.0.2 SINK_IP=10.77.0.3 LAN_PREFIX=10.77.0.0/24
FEED_AS=65100 DUT_AS=65010 SINK_AS=65200

die() { echo "bgp.sh: $*" >&2; exit 1; }

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
    # Anything still inside our namespaces was started by this script.
    for ns in "${NAMESPACES[@]}"; do
        for pid in $(ip netns pids "$ns" 2>/dev/null); do kill -KILL "$pid" 2>/dev/null; done
    done
    for ns in "${NAMESPACES[@]}"; do ip netns del "$ns" 2>/dev/null; done
    if [[ -n ${KEEP_LOGS:-} ]]; then
        echo "bgp.sh: logs kept in $WORK" >&2
    else
        rm -rf "$WORK"
    fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

[[ $EUID -eq 0 ]] || die "needs root (network namespaces): sudo $0"
command -v ip >/dev/null || die "ip is missing (apt-get install -y iproute2)"
case $ONLY in
    both) DUTS="vcped bird" ;;
    vcped | bird) DUTS=$ONLY ;;
    *) die "ONLY must be both, vcped or bird" ;;
esac
for p in $PROFILES; do
    case $p in packed | spread) ;; *) die "PROFILES: unknown profile $p (packed, spread)" ;; esac
done
[[ $REPEAT =~ ^[1-9][0-9]*$ ]] || die "REPEAT must be a positive number"
[[ $PEERS =~ ^[1-9][0-9]*$ ]] && ((PEERS <= 240)) || die "PEERS must be 1 to 240"
for n in $SIZES; do
    [[ $n =~ ^[1-9][0-9]*$ ]] || die "SIZES: $n is not a positive number"
    ((n % PEERS == 0)) || die "SIZES: $n is not a multiple of PEERS=$PEERS"
done
# label PROFILE: the profile as the table shows it (with the peer count)
label() { if ((PEERS == 1)); then echo "$1"; else echo "$1-${PEERS}p"; fi; }
# feeder_ip I: the address of feeding peer I (0-based)
feeder_ip() { if ((PEERS == 1)); then echo $FEED_IP; else echo "10.77.0.$((10 + $1))"; fi; }
if [[ $DUTS == *bird* ]]; then
    command -v bird >/dev/null && command -v birdc >/dev/null \
        || die "bird/birdc missing (apt-get install -y bird2), or run with ONLY=vcped"
fi

if [[ -z ${NO_BUILD:-} ]]; then
    echo "== cargo build --release -p vcpe-daemon -p vcpectl; -p vcpe-bgp --example bgp_feed" >&2
    (cd "$ROOT" && cargo build --release -p vcpe-daemon -p vcpectl --quiet \
        && cargo build --release -p vcpe-bgp --example bgp_feed --quiet)
fi
[[ -x $FEED ]] || die "$FEED missing; build with: cargo build --release -p vcpe-bgp --example bgp_feed"
if [[ $DUTS == *vcped* ]]; then
    [[ -x $VCPED && -x $VCPECTL ]] || die "$VCPED missing; build with: cargo build --release -p vcpe-daemon -p vcpectl"
fi

netns() { # netns NAME: create it with lo up
    ip netns add "$1"
    NAMESPACES+=("$1")
    ip -n "$1" link set lo up
}

# The LAN: a bridge in its own namespace, one veth to each of the others.
netns "$NS_SW"
ip -n "$NS_SW" link add br0 type bridge
ip -n "$NS_SW" link set br0 up
plug() { # plug NS ADDR
    netns "$1"
    ip -n "$NS_SW" link add "p$3" type veth peer name eth0 netns "$1"
    ip -n "$NS_SW" link set "p$3" master br0 up
    ip -n "$1" link set eth0 up
    ip -n "$1" addr add "$2/24" dev eth0
}
plug "$NS_FEED" $FEED_IP feed
if ((PEERS > 1)); then
    for i in $(seq 0 $((PEERS - 1))); do ip -n "$NS_FEED" addr add "$(feeder_ip "$i")/24" dev eth0; done
fi
plug "$NS_DUT" $DUT_IP dut
plug "$NS_SINK" $SINK_IP sink
ip netns exec "$NS_FEED" ping -c1 -W2 $DUT_IP >/dev/null || die "feeder cannot ping the DUT"
ip netns exec "$NS_SINK" ping -c1 -W2 $DUT_IP >/dev/null || die "sink cannot ping the DUT"

# status_kb PID FIELD: a /proc/PID/status field in kB
status_kb() { awk -v f="$2:" '$1 == f { print $2 }' "/proc/$1/status"; }
# cpu_ticks PID: utime + stime of the process (all threads), in clock ticks
cpu_ticks() { awk '{ sub(/^.*\) /, ""); print $12 + $13 }' "/proc/$1/stat"; }
# json_field FILE EVENT KEY: a number from the JSON line with "event":"EVENT"
json_field() { grep "\"event\":\"$2\"" "$1" | grep -o "\"$3\":[0-9.]*" | head -n1 | cut -d: -f2; }

DUT_PID=
start_vcped() { # start_vcped DIR
    local dir=$1
    cat >"$dir/vcped.toml" <<EOF
[router]
id = "$DUT_IP"
asn = $DUT_AS

[control]
socket = "$dir/vcped.sock"

[kernel]
route_sync = false

[[interface]]
name = "vbbtun0"
addresses = ["10.10.0.1/16"]

# The feeder's next hop (10.77.0.1) must resolve, as in production: then
# every learned route is installed in vcped's FIB, not parked as unresolved.
[[route]]
name = "bench-lan"
prefix = "$LAN_PREFIX"
interface = "vbbtun0"

[bgp]
listen = "0.0.0.0:179"

$(for i in $(seq 0 $((PEERS - 1))); do printf '[[bgp.neighbor]]\naddress = "%s"\nremote_as = %d\nhold_time = 240\nmode = "passive"\n\n' "$(feeder_ip "$i")" $((FEED_AS + i)); done)
[[bgp.neighbor]]
address = "$SINK_IP"
remote_as = $SINK_AS
hold_time = 240
mode = "passive"
EOF
    "$VCPED" check-config "$dir/vcped.toml" >/dev/null
    ip netns exec "$NS_DUT" "$VCPED" run --config "$dir/vcped.toml" >"$dir/dut.log" 2>&1 &
    DUT_PID=$!
    PIDS+=("$DUT_PID")
    for _ in $(seq 100); do
        kill -0 "$DUT_PID" 2>/dev/null || die "vcped exited during start-up: $(tail -n 20 "$dir/dut.log")"
        "$VCPECTL" --socket "$dir/vcped.sock" status >/dev/null 2>&1 && return 0
        sleep 0.2
    done
    die "vcped did not answer on its control socket within 20 s"
}

start_bird() { # start_bird DIR
    local dir=$1
    cat >"$dir/bird.conf" <<EOF
log stderr all;
router id $DUT_IP;
# No protocol kernel: no FIB sync, only the BGP work is measured.
protocol device { }
$(for i in $(seq 0 $((PEERS - 1))); do printf 'protocol bgp feed%d {\n  local %s as %d;\n  neighbor %s as %d;\n  hold time 240;\n  passive on;\n  ipv4 { import all; export all; };\n}\n' "$i" $DUT_IP $DUT_AS "$(feeder_ip "$i")" $((FEED_AS + i)); done)
protocol bgp sink {
  local $DUT_IP as $DUT_AS;
  neighbor $SINK_IP as $SINK_AS;
  hold time 240;
  passive on;
  ipv4 { import all; export all; };
}
EOF
    ip netns exec "$NS_DUT" bird -f -c "$dir/bird.conf" -s "$dir/bird.ctl" >"$dir/dut.log" 2>&1 &
    DUT_PID=$!
    PIDS+=("$DUT_PID")
    for _ in $(seq 100); do
        kill -0 "$DUT_PID" 2>/dev/null || die "bird exited during start-up: $(tail -n 20 "$dir/dut.log")"
        birdc -s "$dir/bird.ctl" show status 2>/dev/null | grep -q "Daemon is up" && return 0
        sleep 0.2
    done
    die "bird did not come up within 20 s"
}

# run_one DUT PROFILE N: one measurement; appends a line to $WORK/results
run_one() {
    local dut=$1 profile=$2 n=$3 rep=$4
    local dir=$WORK/$dut-$profile-$n-$rep
    mkdir -p "$dir"
    local load
    load=$(cut -d' ' -f1 /proc/loadavg)
    echo "== $dut, $profile, $n prefixes, run $rep (load average $load)" >&2
    "start_$dut" "$dir"
    ip netns exec "$NS_SINK" "$FEED" sink --connect $DUT_IP --local-as $SINK_AS \
        --peer-as $DUT_AS --router-id $SINK_IP --expect "$n" \
        >"$dir/sink.out" 2>"$dir/sink.err" &
    local sink=$!
    PIDS+=("$sink")
    local up=
    for _ in $(seq 600); do
        grep -q '"event":"established"' "$dir/sink.out" 2>/dev/null && { up=1; break; }
        kill -0 "$sink" 2>/dev/null || break
        sleep 0.1
    done
    [[ -n $up ]] || die "$dut: the sink's session did not come up: $(cat "$dir/sink.err")"
    sleep 1 # let the DUT settle (End-of-RIB, first keepalives)
    local rss0 cpu0
    rss0=$(status_kb "$DUT_PID" VmRSS)
    cpu0=$(cpu_ticks "$DUT_PID")
    local perf=
    if [[ -n ${PERF:-} ]]; then
        perf record -q -F 499 --call-graph dwarf,32768 -p "$DUT_PID" -o "$dir/perf.data" \
            2>"$dir/perf.err" &
        perf=$!
        PIDS+=("$perf")
        sleep 0.5
    fi
    local heap=
    if [[ -n ${HEAPTRACK:-} ]]; then
        heaptrack -o "$dir/heaptrack" -p "$DUT_PID" >"$dir/heaptrack.log" 2>&1 &
        heap=$!
        PIDS+=("$heap")
        for _ in $(seq 100); do
            grep -q 'heaptrack output will be written' "$dir/heaptrack.log" && break
            sleep 0.1
        done
        sleep 1
    fi
    local many=()
    ((PEERS == 1)) || many=(--sessions "$PEERS" --bind "$(feeder_ip 0)")
    ip netns exec "$NS_FEED" "$FEED" feed --connect $DUT_IP --local-as $FEED_AS \
        --peer-as $DUT_AS --router-id $FEED_IP --prefixes "$n" --profile "$profile" \
        "${many[@]}" >"$dir/feed.out" 2>"$dir/feed.err" &
    local feed=$!
    PIDS+=("$feed")
    local deadline=$((SECONDS + TIMEOUT)) status=ok
    while kill -0 "$sink" 2>/dev/null; do
        if ((SECONDS >= deadline)); then status=timeout; break; fi
        kill -0 "$DUT_PID" 2>/dev/null || { status="$dut-died"; break; }
        kill -0 "$feed" 2>/dev/null || { status=feeder-died; break; }
        sleep 0.05
    done
    if [[ $status == ok ]] && ! wait "$sink"; then status=sink-failed; fi
    if [[ -n $perf ]]; then
        kill -INT "$perf" 2>/dev/null || true
        wait "$perf" 2>/dev/null || true
        echo "  perf report -i $dir/perf.data --no-children" >&2
    fi
    sleep 1 # anything the DUT still does after the last prefix counts for memory
    local hwm=0 rss1=0 cpu1=$cpu0
    if kill -0 "$DUT_PID" 2>/dev/null; then
        hwm=$(status_kb "$DUT_PID" VmHWM)
        rss1=$(status_kb "$DUT_PID" VmRSS)
        cpu1=$(cpu_ticks "$DUT_PID")
    fi
    [[ ${HEAPTRACK:-} != load ]] || kill -KILL "$DUT_PID" 2>/dev/null || true
    stop_pid "$feed"
    if [[ -n ${FLAP:-} && $status == ok ]] && kill -0 "$DUT_PID" 2>/dev/null; then
        # The feeder's session is gone: the DUT withdraws its whole table.
        sleep "$FLAP"
        local hwm2 rss2
        hwm2=$(status_kb "$DUT_PID" VmHWM)
        rss2=$(status_kb "$DUT_PID" VmRSS)
        echo "  feeder gone, after ${FLAP}s: peak +$(((hwm2 - hwm) / 1024)) MiB over the load's; RSS $((rss2 / 1024)) MiB (was $((rss1 / 1024)))" >&2
    fi
    stop_pid "$sink"
    stop_pid "$DUT_PID"
    if [[ -n $heap ]]; then
        wait "$heap" 2>/dev/null || true
        echo "  heaptrack --analyze $(ls "$dir"/heaptrack*.zst 2>/dev/null | head -n 1)" >&2
    fi
    if [[ $status != ok ]]; then
        FAILED=1
        echo "  FAILED: $status (logs in $dir)" >&2
        tail -n 5 "$dir/sink.err" "$dir/feed.err" "$dir/dut.log" >&2 || true
        echo "$dut $(label "$profile") $n $status" >>"$WORK/results"
        return 0
    fi
    local t0 t1 trx twr
    t0=$(json_field "$dir/feed.out" feeding t_first_update_ns)
    twr=$(json_field "$dir/feed.out" written t_written_ns)
    t1=$(json_field "$dir/sink.out" done t_last_prefix_ns)
    trx=$(json_field "$dir/sink.out" done t_first_rx_ns)
    echo "$dut $(label "$profile") $n ok $t0 $t1 $trx ${twr:-0} $rss0 $hwm $rss1 $cpu0 $cpu1 $load" >>"$WORK/results"
    awk -v t0="$t0" -v t1="$t1" -v n="$n" -v r0="$rss0" -v h="$hwm" \
        'BEGIN { printf "  %.3f s, %.0f bytes/route\n", (t1 - t0) / 1e9, (h - r0) * 1024 / n }' >&2
}

for n in $SIZES; do
    for profile in $PROFILES; do
        for rep in $(seq "$REPEAT"); do
            for dut in $DUTS; do
                run_one "$dut" "$profile" "$n" "$rep"
            done
        done
    done
done

echo
echo "BGP benchmark: N IPv4 /24s from AS $FEED_AS ($PEERS peer(s)) through the DUT to AS $SINK_AS; $(nproc) CPUs"
echo "seconds: first UPDATE written by the feeder -> last prefix received by the sink"
echo "first out: first UPDATE written -> first fed prefix at the sink; fed: -> feed fully written"
echo "cpu: DUT CPU seconds (user+sys, all threads) during the run; load: 1-min load average before it"
echo "best of REPEAT=$REPEAT run(s) per row; peak MiB, bytes/rt: median of the runs;"
echo "bytes/rt = (VmHWM after - VmRSS before the feed) / N"
awk -v hz="$(getconf CLK_TCK)" '
# One row per (DUT, profile, N): the fastest of its runs, with its CPU
# and load; worst is the slowest run; memory is the median of the runs
# (how full the queues get varies from run to run).
function median(list,    v, n, i, j, t) {
    n = split(list, v, " ")
    for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (v[j] + 0 < v[i] + 0) { t = v[i]; v[i] = v[j]; v[j] = t }
    return n % 2 ? v[(n + 1) / 2] : (v[n / 2] + v[n / 2 + 1]) / 2
}
{
    key = $2 " " $3; id = $1 " " key
    if (!(key in seen)) { seen[key] = 1; keys[++nk] = key }
    if (!(id in runs)) { ids[++ni] = id; runs[id] = 0; fails[id] = "" }
    runs[id]++
    if ($4 != "ok") { fails[id] = fails[id] " " $4; next }
    s = ($6 - $5) / 1e9
    mem[id] = mem[id] " " ($10 - $9) * 1024 / $3
    peak[id] = peak[id] " " $10 / 1024
    if (id in worst && worst[id] > s) s2 = worst[id]; else s2 = s
    worst[id] = s2
    if ((id in best) && best[id] <= s) next
    best[id] = s
    first = ($7 - $5) / 1e9
    fed = $8 > 0 ? sprintf("%.3f", ($8 - $5) / 1e9) : "-"
    row[id] = sprintf("%9.3f %7s %6.2f %5.2f", first, fed, ($13 - $12) / hz, $14)
    rate[id] = $3 / s
}
END {
    printf "%-6s %-7s %8s %4s %8s %8s %10s %9s %9s %9s %7s %6s %5s\n", "DUT", "profile", "N",
        "runs", "seconds", "worst", "routes/s", "peak MiB", "bytes/rt", "first out", "fed", "cpu", "load"
    for (i = 1; i <= ni; i++) {
        id = ids[i]; split(id, f, " ")
        if (id in best) {
            bytes[id] = median(mem[id])
            printf "%-6s %-7s %8d %4d %8.3f %8.3f %10.0f %9.1f %9.0f %s\n", f[1], f[2], f[3], runs[id],
                best[id], worst[id], rate[id], median(peak[id]), bytes[id], row[id]
        }
        else
            printf "%-6s %-7s %8d %4d  FAILED:%s\n", f[1], f[2], f[3], runs[id], fails[id]
        if (id in best && fails[id] != "") printf "       (also failed:%s)\n", fails[id]
    }
    print ""
    printf "%-7s %8s %16s %17s\n", "profile", "N", "time vcped/bird", "bytes vcped/bird"
    for (i = 1; i <= nk; i++) {
        k = keys[i]; split(k, kk, " "); v = "vcped " k; b = "bird " k
        t = (v in best && b in best && best[b] > 0) ? sprintf("%.2f", best[v] / best[b]) : "-"
        m = (v in bytes && b in bytes && bytes[b] > 0) ? sprintf("%.2f", bytes[v] / bytes[b]) : "-"
        printf "%-7s %8d %16s %17s\n", kk[1], kk[2], t, m
    }
}' "$WORK/results"
exit "$FAILED"
