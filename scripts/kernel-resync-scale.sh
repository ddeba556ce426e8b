#!/bin/bash
# Kernel route sync at scale (issue 19 item 1): vcped installs N routes
# (static /28s into a GRE peer) into vcpe0 in a fresh network namespace,
# then the TUN's link is bounced three times (`ip link set vcpe0 down; up`)
# and the time until all N routes proto 201 are back is printed, with the
# stats line and how many resyncs it took (one per bounce: debounced).
# A measurement, not a test; no reference side. Needs root.
#   sudo N=100000 VCPE_BIN_DIR=target/release scripts/kernel-resync-scale.sh
set -u
N=${N:-20000}
BIN=${VCPE_BIN_DIR:-target/debug}
NS=ksscale-$$
D=$(mktemp -d)
PID=
trap '[ -n "$PID" ] && kill $PID 2>/dev/null; wait 2>/dev/null; ip netns del $NS 2>/dev/null; rm -rf $D' EXIT
ip netns add $NS
ip -n $NS link set lo up
{
printf '[router]\nid = "10.255.0.1"\nasn = 65001\n[kernel]\ninterface = "vcpe0"\n[[interface]]\nname = "vcpe0"\naddresses = ["10.255.0.1/24"]\n[[peer]]\nname = "b"\nendpoint = "100.64.0.2"\nencapsulation = "gre"\nallowed_prefixes = ["10.0.0.0/8"]\n'
for ((i=0;i<N;i++)); do printf '[[route]]\nname = "r%d"\nprefix = "10.%d.%d.%d/28"\npeer = "b"\n' $i $((i/4096)) $((i/16%256)) $(((i%16)*16)); done
} > $D/c.toml
ip netns exec $NS "$BIN/vcped" run --config $D/c.toml --socket $D/s.sock > $D/log 2>&1 &
PID=$!
count() { ip netns exec $NS ip route show proto 201 | wc -l; }
t0=$(date +%s.%N)
until [ "$(count)" = "$N" ]; do sleep 0.2; kill -0 $PID || { cat $D/log; exit 1; }; done
echo "start: $N routes in $(awk "BEGIN { print $(date +%s.%N) - $t0 }") s"
for run in 1 2 3; do
  ip -n $NS link set vcpe0 down; ip -n $NS link set vcpe0 up
  t0=$(date +%s.%N); echo "  after bounce: $(count) left"
  deadline=$((SECONDS + 120))
  until [ "$(count)" = "$N" ]; do
    sleep 0.1
    [ $SECONDS -lt $deadline ] || { echo "not all back in 120 s: $(count) of $N"; exit 1; }
  done
  echo "bounce $run: all $N back in $(awk "BEGIN { print $(date +%s.%N) - $t0 }") s"
  sleep 1
done
"$BIN/vcpectl" --socket $D/s.sock stats | grep "kernel routes"
echo "resync warnings: $(grep -c "went missing" $D/log), failed adds logged: $(grep -c "cannot add" $D/log)"
