# shellcheck shell=bash
# Day two on the running demo topology, sourced by `demo/multi-vpc.sh
# --day-two` once its ping matrix is all ok: every change is a file edit
# plus `vcpectl reload` or `vcpectl config apply`; no vcped restarts.
#
#   1. rotate vCPE 01's WireGuard key (new key file, both ends reload)
#   2. a bad change applied with commit-confirm and not confirmed: vcped
#      rolls it back by itself
#   3. a fourth VPC: its vCPE starts, the three others get a [[peer]] and a
#      [[bgp.neighbor]] each by reload; all pairs of VMs ping
#
# After each step no BGP session between the first three vCPEs has been
# reset: their established_transitions stay what they were.
#
# Uses the demo's functions and variables: say, at, ctl, add_vpc,
# start_vcped, wait_vcped, wait_bgp, ping_cell, ping_matrix, vms, vpcs,
# etc, vcped, vcpectl, work.

# Sum of established_transitions of the BGP neighbors of vCPEs "$@",
# except the neighbor 10.255.0.4 (VPC 04, added in step 3).
transitions() {
    local v
    for v in "$@"; do ctl "$v" --json bgp summary; done | awk '
        /"address":/ { addr = $2; gsub(/[",]/, "", addr) }
        /"established_transitions":/ { n = $2; gsub(/,/, "", n); if (addr != "10.255.0.4") s += n }
        END { print s + 0 }'
}

# Shows a command as typed, then runs it.
show() {
    if [[ $1 == ctl ]]; then
        printf '$ vcpectl %s    # on vCPE %s\n' "${*:3}" "${2#vpc}"
    else
        printf '$ %s\n' "$*"
    fi
    "$@"
}

# Waits (at most $2 s) until `ping_cell $1 $3` prints something starting
# with $4 ("ok" or "FAIL"); prints the last cell.
wait_cell() {
    local from=$1 secs=$2 dst=$3 want=$4 cell
    for _ in $(seq "$secs"); do
        cell=$(ping_cell "$from" "$dst")
        [[ $cell == "$want"* ]] && break
        sleep 1
    done
    echo "$from -> $dst: $cell"
    [[ $cell == "$want"* ]]
}

check_no_reset() {
    local now
    now=$(transitions vpc01 vpc02 vpc03)
    if [[ $now != "$flaps" ]]; then
        echo "a BGP session among the first three vCPEs was reset: established_transitions $flaps -> $now" >&2
        for v in vpc01 vpc02 vpc03; do ctl "$v" bgp summary >&2; done
        exit 1
    fi
    echo "no BGP session among the first three vCPEs was reset (established_transitions still $now in all)"
}

flaps=$(transitions vpc01 vpc02 vpc03)

# ── 1. key rotation ─────────────────────────────────────────────────────────
say "day two 1/3: rotate vCPE 01's WireGuard key by reload (vCPE 01, then the two other ends)"
old_pub=$("$vcpectl" key pubkey "$etc/keys/vpc01.key")
printf '$ vcpectl key generate %s\n' "$etc/keys/vpc01-2.key"
new_pub=$("$vcpectl" key generate "$etc/keys/vpc01-2.key")
echo "$new_pub"
sed -i 's|keys/vpc01\.key|keys/vpc01-2.key|' "$etc/vpc01.toml"
sed -i "s|$old_pub|$new_pub|" "$etc/vpc02.toml" "$etc/vpc03.toml"
echo "vpc01.toml: private_key_file = keys/vpc01-2.key; vpc02.toml, vpc03.toml: public_key = $new_pub"
for v in vpc01 vpc02 vpc03; do
    echo "-- $v"
    show ctl "$v" reload
done
for pair in "vm21 vm11" "vm31 vm12"; do
    read -r from to <<<"$pair"
    wait_cell "$from" 20 "$(addr4 "$to")" ok ||
        { echo "no traffic over the tunnels with the new key" >&2; ctl vpc01 tunnel list >&2; exit 1; }
done
show ctl vpc02 tunnel show vpc01
check_no_reset

# ── 2. commit-confirm, not confirmed ────────────────────────────────────────
say "day two 2/3: a bad change with commit-confirm (6 s), not confirmed: vcped rolls it back"
# The mistake: vCPE 02's import from vCPE 01 names 10.11/16 for 10.1/16.
cp "$etc/vpc02.toml" "$etc/vpc02-candidate.toml"
sed -i 's|"10\.1\.0\.0/16 le 24"|"10.11.0.0/16 le 24"|' "$etc/vpc02-candidate.toml"
show ctl vpc02 config apply "$etc/vpc02-candidate.toml" --confirm 0.1
wait_cell vm21 10 "$(addr4 vm11)" FAIL ||
    { echo "the bad import did not take effect" >&2; exit 1; }
echo "(no 'vcpectl config confirm': waiting for vcped to roll back)"
wait_cell vm21 30 "$(addr4 vm11)" ok ||
    { echo "vcped did not roll the unconfirmed change back" >&2; tail -n 20 "$work/vpc02.log" >&2; exit 1; }
show ctl vpc02 config history
check_no_reset

# ── 3. a fourth VPC ─────────────────────────────────────────────────────────
say "day two 3/3: a fourth VPC; the three running vCPEs get it by reload only"
add_vpc 4
printf '$ vcpectl key generate %s\n' "$etc/keys/vpc04.key"
pub4=$("$vcpectl" key generate "$etc/keys/vpc04.key")
echo "$pub4"
# Each vCPE's private key file, as its config names it now.
key_of() { sed -n 's/^private_key_file = "\([^"]*\)".*/\1/p' "$etc/$1.toml" | head -n 1; }
{
    cat <<EOF
# vCPE of VPC 04, added on day two (demo/day-two.sh).
[router]
id = "10.255.0.4"
asn = 65004

[[interface]]
name = "vcpe0"
addresses = ["10.255.0.4/24", "fd00:255::4/64"]
mtu = 1420

[[route]]
name = "vxnet-a"
prefix = "10.4.1.0/24"
interface = "vcpe0"
advertise = true

[[route]]
name = "vxnet-a-v6"
prefix = "fd00:4:1::/64"
interface = "vcpe0"
advertise = true

[bgp]
listen = "[::]:179"
EOF
    for n in 1 2 3; do
        cat <<EOF

[[bgp.neighbor]]
address = "10.255.0.$n"
remote_as = 6500$n
description = "vCPE of VPC 0$n"
peer = "vpc0$n"
hold_time = 90
import = ["10.$n.0.0/16 le 24", "fd00:$n::/32 le 64"]
export = ["10.4.0.0/16 le 24", "fd00:4::/32 le 64"]
max_prefixes = 1000

[[peer]]
name = "vpc0$n"
endpoint = "198.51.100.$n:51820"
bind = "0.0.0.0:51820"
encapsulation = "wireguard"
private_key_file = "keys/vpc04.key"
public_key = "$("$vcpectl" key pubkey "$etc/$(key_of "vpc0$n")")"
keepalive = 25
allowed_prefixes = ["10.255.0.$n/32", "fd00:255::$n/128", "10.$n.0.0/16", "fd00:$n::/32"]
EOF
    done
} >"$etc/vpc04.toml"
show "$vcped" check-config "$etc/vpc04.toml"
start_vcped vpc04
wait_vcped vpc04
vpcs+=(vpc04)
for n in 1 2 3; do
    cat >>"$etc/vpc0$n.toml" <<EOF

# Added on day two: VPC 04.
[[peer]]
name = "vpc04"
endpoint = "198.51.100.4:51820"
bind = "0.0.0.0:51820"
encapsulation = "wireguard"
private_key_file = "$(key_of "vpc0$n")"
public_key = "$pub4"
keepalive = 25
allowed_prefixes = ["10.255.0.4/32", "fd00:255::4/128", "10.4.0.0/16", "fd00:4::/32"]

[[bgp.neighbor]]
address = "10.255.0.4"
remote_as = 65004
description = "vCPE of VPC 04"
peer = "vpc04"
hold_time = 90
import = ["10.4.0.0/16 le 24", "fd00:4::/32 le 64"]
export = ["10.$n.0.0/16 le 24", "fd00:$n::/32 le 64"]
max_prefixes = 1000
EOF
done
show ctl vpc01 config diff
for v in vpc01 vpc02 vpc03; do
    echo "-- $v"
    show ctl "$v" reload
done
# Each now has 3 neighbors; prefixes accepted: 2 per remote vxnet.
declare -A expect4=([vpc01]=6 [vpc02]=8 [vpc03]=8 [vpc04]=8)
for v in "${vpcs[@]}"; do
    wait_bgp "$v" 3 "${expect4[$v]}"
done
echo "all 12 sessions Established"
show ctl vpc04 bgp summary
ping_matrix
check_no_reset
say "day two done: a key rotated, a bad change rolled back, a VPC added; no vcped restarted"
