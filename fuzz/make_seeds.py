#!/usr/bin/env python3
"""Writes the fuzz targets' seed inputs into fuzz/seeds/TARGET/: a few valid
encodings of each format (checked in; re-run after a format change), plus
the golden BGP captures and the example configs. scripts/fuzz.sh copies
them into fuzz/corpus/TARGET/ before a run."""
import glob, os, shutil, struct, sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
SEEDS = os.path.join(HERE, "seeds")


def csum(b):
    if len(b) % 2:
        b += b"\0"
    s = sum(struct.unpack("!%dH" % (len(b) // 2), b))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return (~s) & 0xFFFF


def ipv4(proto, payload, src=b"\x0a\x00\x00\x01", dst=b"\x0a\x00\x00\x02"):
    h = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(payload), 1, 0x4000, 64, proto, 0, src, dst)
    return h[:10] + struct.pack("!H", csum(h)) + h[12:] + payload


def icmp4(t, code, rest, data):
    m = struct.pack("!BBHI", t, code, 0, rest) + data
    return m[:2] + struct.pack("!H", csum(m)) + m[4:]


SRC6 = bytes.fromhex("fd000000000000000000000000000001")
DST6 = bytes.fromhex("fd000000000000000000000000000002")


def ipv6(nh, payload, src=SRC6, dst=DST6):
    return struct.pack("!IHBB", 0x60000000, len(payload), nh, 64) + src + dst + payload


def icmp6(t, code, body, src=SRC6, dst=DST6):
    m = struct.pack("!BBH", t, code, 0) + body
    pseudo = src + dst + struct.pack("!I3xB", len(m), 58)
    return m[:2] + struct.pack("!H", csum(pseudo + m)) + m[4:]


def tcp_syn():
    opts = bytes([2, 4, 0x05, 0xB4, 1, 1, 4, 2])  # MSS 1460, NOP NOP, SACK-permitted
    return struct.pack("!HHIIBBHHH", 40000, 443, 1, 0, (5 + 2) << 4, 0x02, 65535, 0, 0) + opts


ECHO4 = ipv4(1, icmp4(8, 0, 0x12340001, b"ping" * 8))
TCP4 = ipv4(6, tcp_syn())
ECHO6 = ipv6(58, icmp6(128, 0, struct.pack("!HH", 0x1234, 1) + b"ping" * 8))
FRAG6 = ipv6(44, struct.pack("!BBHI", 58, 0, 1, 7) + icmp6(128, 0, b"\0" * 12))
TCP6 = ipv6(6, tcp_syn())
PTB4 = ipv4(1, icmp4(3, 4, 1400, ECHO4[:28]), src=b"\xc0\x00\x02\x01")

seeds = {
    "ip_views": {"echo4": ECHO4, "tcp4": TCP4, "echo6": ECHO6, "frag6": FRAG6,
                 "tcp6": TCP6, "ptb4": PTB4},
    "gre": {
        "plain4": b"\x00\x00\x08\x00" + ECHO4,
        "key_seq6": b"\x30\x00\x86\xdd" + struct.pack("!II", 42, 7) + ECHO6,
        "csum4": b"\x80\x00\x08\x00" + b"\x00\x00\x00\x00" + ECHO4,
        "empty": b"\x00\x00\x08\x00",
    },
}

VX = b"\x08\x00\x00\x00\x00\x00\x64\x00"  # VNI 100
PEER_MAC, OUR_MAC = b"\x02\x00\x00\x00\x00\x02", b"\x02\x00\x00\x00\x00\x01"
arp = struct.pack("!HHBBH", 1, 0x0800, 6, 4, 1) + PEER_MAC + b"\x0a\x00\x00\x02" + b"\0" * 6 + b"\x0a\x00\x00\x01"
ns_target = SRC6
sol_node = bytes.fromhex("ff0200000000000000000001ff000001")
ns = ipv6(58, icmp6(135, 0, b"\0" * 4 + ns_target + b"\x01\x01" + PEER_MAC, DST6, sol_node), DST6, sol_node)
seeds["vxlan"] = {
    "ip4": VX + OUR_MAC + PEER_MAC + b"\x08\x00" + ECHO4,
    "ip6": VX + OUR_MAC + PEER_MAC + b"\x86\xdd" + ECHO6,
    "arp": VX + b"\xff" * 6 + PEER_MAC + b"\x08\x06" + arp,
    "ns": VX + b"\x33\x33\xff\x00\x00\x01" + PEER_MAC + b"\x86\xdd" + ns,
}

# WireGuard: the four message types at their lengths (contents are not
# valid MACs; the fuzzer mutates from the framing).
seeds["wireguard"] = {
    "init": b"\x01\0\0\0" + struct.pack("<I", 1) + bytes(range(140)),
    "resp": b"\x02\0\0\0" + struct.pack("<II", 2, 1) + bytes(range(80)),
    "cookie": b"\x03\0\0\0" + struct.pack("<I", 1) + bytes(range(56)),
    "data": b"\x04\0\0\0" + struct.pack("<IQ", 1, 0) + bytes(range(16)) + bytes(32),
    "keepalive": b"\x04\0\0\0" + struct.pack("<IQ", 1, 5) + bytes(16),
}

# BFD Control (RFC 5880 §4.1): version 1, Up, detect mult 3.
def bfd(state, flags, auth=b""):
    length = 24 + len(auth)
    return struct.pack("!BBBBIIIII", 0x20, (state << 6) | flags, 3, length,
                       1, 2, 300000, 300000, 0) + auth

seeds["bfd_packet"] = {
    "down": bfd(1, 0),
    "up": bfd(3, 0),
    "poll": bfd(3, 0x20),
    "simple_auth": bfd(3, 0x04, bytes([1, 3 + 6, 1]) + b"secret"),
    "sha1_auth": bfd(3, 0x04, bytes([4, 28, 1, 0]) + struct.pack("!I", 9) + bytes(20)),
}

seeds["control_request"] = {
    "status": b'{"version":1,"command":"status"}',
    "stats": b'{"version":1,"command":"stats"}',
    "routes": b'{"version":1,"command":"bgp_routes","prefix":"10.0.0.0/8"}',
    "route_add": b'{"version":1,"command":"route_add","name":"r1","prefix":"10.9.0.0/16",'
                 b'"interface":null,"peer":"vpc02","next_hop":null,"advertise":true}',
    "neighbor": b'{"version":1,"command":"bgp_neighbor","address":"10.0.0.2",'
                b'"action":"disable","persist":true,"message":"maintenance"}',
    "route_del": b'{"version":1,"command":"route_del","name":"r1"}',
}

for target, files in seeds.items():
    d = os.path.join(SEEDS, target)
    os.makedirs(d, exist_ok=True)
    for name, data in files.items():
        with open(os.path.join(d, name), "wb") as f:
            f.write(data)

d = os.path.join(SEEDS, "config")
os.makedirs(d, exist_ok=True)
for p in glob.glob(os.path.join(ROOT, "examples", "*.toml")) + glob.glob(
        os.path.join(ROOT, "examples", "fleet", "*.toml")):
    shutil.copy(p, os.path.join(d, os.path.basename(p)))

golden = sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, "..", "shared", "testdata", "bgp", "msgs")
d = os.path.join(SEEDS, "bgp_message")
os.makedirs(d, exist_ok=True)
bins = sorted(glob.glob(os.path.join(golden, "*.bin")))
for p in bins:
    shutil.copy(p, d)
print("seeds written; %d golden BGP captures from %s" % (len(bins), golden))
