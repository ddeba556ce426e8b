//! `GreSocket` and the GRE codec against real Linux, in two network
//! namespaces `vgre<pid><tag>-a` / `-b` joined by a veth pair
//! (10.77.1.1/24 and fd77:1::1/64 in a, .2 and ::2 in b):
//!
//! - `kernel_gre_tunnel_echo`: in b a kernel GRE tunnel (key 42,
//!   192.168.77.2/24) answers our hand-built encapsulated echo request, and
//!   its `ping` of 192.168.77.1 reaches our socket and is answered by us.
//!   Skipped, with a message, when the kernel has no GRE tunnels (`ip_gre`).
//! - `sockets_exchange_v4_v6`: our sockets talk to each other, IPv4 and
//!   IPv6, single and batched (raw sockets need no GRE module).
//!
//! Skipped unless root. Sockets are opened by threads that `setns` into a
//! namespace (the test process itself stays put); namespaces are removed
//! by a drop guard, also on panic. Traffic stays inside the namespaces.

use std::fs::File;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::os::fd::AsRawFd;
use std::process::Command;
use std::time::{Duration, Instant};

use vcpe_forwarding::tunnel::gre::{self, ETHERTYPE_IPV4, ETHERTYPE_IPV6, GreHeader};
use vcpe_forwarding::tunnel::gre_socket::{GreSocket, GreSocketOptions, RecvMeta, RecvStatus};
use vcpe_forwarding::wire::checksum;

const UNDER_A: Ipv4Addr = Ipv4Addr::new(10, 77, 1, 1);
const UNDER_B: Ipv4Addr = Ipv4Addr::new(10, 77, 1, 2);
const UNDER6_A: Ipv6Addr = Ipv6Addr::new(0xfd77, 1, 0, 0, 0, 0, 0, 1);
const UNDER6_B: Ipv6Addr = Ipv6Addr::new(0xfd77, 1, 0, 0, 0, 0, 0, 2);
const INNER_A: Ipv4Addr = Ipv4Addr::new(192, 168, 77, 1);
const INNER_B: Ipv4Addr = Ipv4Addr::new(192, 168, 77, 2);
const KEY: u32 = 42;
const TIMEOUT: Duration = Duration::from_secs(3);

fn not_root() -> bool {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() != 0 }
}

/// Runs `ip args...`; the error is its stderr.
fn ip(args: &[&str]) -> Result<(), String> {
    let out = Command::new("ip")
        .args(args)
        .output()
        .map_err(|e| format!("ip {}: {e}", args.join(" ")))?;
    if out.status.success() {
        return Ok(());
    }
    let stderr = String::from_utf8_lossy(&out.stderr);
    Err(format!("ip {}: {}", args.join(" "), stderr.trim()))
}

/// Two namespaces and a veth pair; deleted on drop.
struct Netns {
    a: String,
    b: String,
}

impl Netns {
    fn new(tag: &str) -> Netns {
        let base = format!("vgre{}{tag}", std::process::id());
        let ns = Netns {
            a: format!("{base}-a"),
            b: format!("{base}-b"),
        };
        let (va, vb) = (format!("vg{tag}a"), format!("vg{tag}b"));
        let (a, b) = (ns.a.as_str(), ns.b.as_str());
        let steps: [&[&str]; 12] = [
            &["netns", "add", a],
            &["netns", "add", b],
            &[
                "-n", a, "link", "add", &va, "type", "veth", "peer", "name", &vb, "netns", b,
            ],
            &["-n", a, "addr", "add", "10.77.1.1/24", "dev", &va],
            &["-n", b, "addr", "add", "10.77.1.2/24", "dev", &vb],
            &["-n", a, "addr", "add", "fd77:1::1/64", "dev", &va, "nodad"],
            &["-n", b, "addr", "add", "fd77:1::2/64", "dev", &vb, "nodad"],
            &["-n", a, "link", "set", &va, "up"],
            &["-n", b, "link", "set", &vb, "up"],
            &["-n", a, "link", "set", "lo", "up"],
            &["-n", b, "link", "set", "lo", "up"],
            &["-n", a, "route", "show"],
        ];
        for step in steps {
            if let Err(e) = ip(step) {
                panic!("namespace set-up: {e}");
            }
        }
        ns
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        for ns in [&self.a, &self.b] {
            if let Err(e) = ip(&["netns", "del", ns]) {
                eprintln!("cleanup: {e}");
            }
        }
    }
}

/// Runs `f` on a thread that has joined namespace `ns`. File descriptors it
/// opens (sockets) stay in `ns` wherever they are used afterwards.
fn in_netns<T: Send + 'static>(ns: &str, f: impl FnOnce() -> T + Send + 'static) -> T {
    let path = format!("/var/run/netns/{ns}");
    let joined = std::thread::spawn(move || {
        let file = File::open(&path).unwrap_or_else(|e| panic!("open {path}: {e}"));
        // SAFETY: setns on a valid descriptor only changes this thread.
        let rc = unsafe { libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) };
        assert_eq!(rc, 0, "setns {path}: {}", std::io::Error::last_os_error());
        f()
    })
    .join();
    joined.unwrap_or_else(|panic| std::panic::resume_unwind(panic))
}

fn open(ns: &str, local: IpAddr) -> GreSocket {
    let opts = GreSocketOptions {
        nonblocking: true,
        ..GreSocketOptions::default()
    };
    in_netns(ns, move || GreSocket::bind_with(local, opts)).expect("bind GRE socket")
}

/// Waits until `sock` is readable or `deadline` passes.
fn wait_readable(sock: &GreSocket, deadline: Instant) -> bool {
    let left = deadline.saturating_duration_since(Instant::now());
    let mut pfd = libc::pollfd {
        fd: sock.as_raw_fd(),
        events: libc::POLLIN,
        revents: 0,
    };
    let ms = libc::c_int::try_from(left.as_millis()).unwrap_or(libc::c_int::MAX);
    // SAFETY: one valid pollfd.
    unsafe { libc::poll(&mut pfd, 1, ms) > 0 }
}

/// Receives until `accept(gre_packet, src)` returns `Some`, for [`TIMEOUT`].
fn recv_until<T>(
    sock: &GreSocket,
    mut accept: impl FnMut(&[u8], IpAddr) -> Option<T>,
) -> Option<T> {
    let deadline = Instant::now() + TIMEOUT;
    let mut buf = vec![0u8; 65536];
    while wait_readable(sock, deadline) {
        match sock.recv_from(&mut buf) {
            Ok((start, end, src)) => {
                if let Some(t) = accept(&buf[start..end], src) {
                    return Some(t);
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
            Err(e) => panic!("recv_from: {e}"),
        }
    }
    None
}

/// An IPv4 packet carrying an ICMP echo message, checksums filled in.
fn icmp_echo(
    src: Ipv4Addr,
    dst: Ipv4Addr,
    msg_type: u8,
    ident: u16,
    seq: u16,
    data: &[u8],
) -> Vec<u8> {
    let total = 20 + 8 + data.len();
    let mut p = vec![0u8; total];
    p[0] = 0x45;
    p[2..4].copy_from_slice(&u16::try_from(total).expect("small").to_be_bytes());
    p[6] = 0x40; // DF
    p[8] = 64;
    p[9] = 1; // ICMP
    p[12..16].copy_from_slice(&src.octets());
    p[16..20].copy_from_slice(&dst.octets());
    let c = checksum::checksum(&p[..20]);
    p[10..12].copy_from_slice(&c.to_be_bytes());
    p[20] = msg_type;
    p[24..26].copy_from_slice(&ident.to_be_bytes());
    p[26..28].copy_from_slice(&seq.to_be_bytes());
    p[28..].copy_from_slice(data);
    let c = checksum::checksum(&p[20..]);
    p[22..24].copy_from_slice(&c.to_be_bytes());
    p
}

/// An inner ICMPv4 echo: (src, dst, type, ident, seq, data).
type Echo = (Ipv4Addr, Ipv4Addr, u8, u16, u16, Vec<u8>);

/// Parses an inner IPv4 ICMP echo, checking both checksums.
fn parse_echo(p: &[u8]) -> Option<Echo> {
    let ihl = usize::from(*p.first()? & 0x0f) * 4;
    if p[0] >> 4 != 4 || ihl < 20 || p.len() < ihl + 8 || p[9] != 1 {
        return None;
    }
    if checksum::sum(&p[..ihl]) != 0xffff || checksum::sum(&p[ihl..]) != 0xffff {
        return None;
    }
    let addr = |at: usize| Ipv4Addr::new(p[at], p[at + 1], p[at + 2], p[at + 3]);
    let word = |at: usize| u16::from_be_bytes([p[at], p[at + 1]]);
    let icmp = &p[ihl..];
    Some((
        addr(12),
        addr(16),
        icmp[0],
        word(ihl + 4),
        word(ihl + 6),
        icmp[8..].to_vec(),
    ))
}

fn encap(key: Option<u32>, inner: &[u8]) -> Vec<u8> {
    let h = GreHeader {
        key,
        seq: None,
        checksum: false,
        protocol: ETHERTYPE_IPV4,
    };
    let mut out = Vec::new();
    gre::encode(&h, inner, &mut out);
    out
}

#[test]
fn kernel_gre_tunnel_echo() {
    if not_root() {
        eprintln!("skipping kernel_gre_tunnel_echo: not root (needs CAP_NET_ADMIN, CAP_NET_RAW)");
        return;
    }
    let ns = Netns::new("k");
    // Fails harmlessly where GRE is built in or modules are unavailable.
    let _ = Command::new("modprobe").arg("ip_gre").output();
    let b = ns.b.as_str();
    let tunnel = ["-n", b, "tunnel", "add", "gre1", "mode", "gre"];
    let tunnel = [
        &tunnel[..],
        &["local", "10.77.1.2", "remote", "10.77.1.1", "key", "42"],
    ]
    .concat();
    if let Err(e) = ip(&tunnel) {
        eprintln!("skipping kernel_gre_tunnel_echo: kernel GRE tunnels unavailable ({e})");
        return;
    }
    ip(&["-n", b, "addr", "add", "192.168.77.2/24", "dev", "gre1"]).expect("gre1 address");
    ip(&["-n", b, "link", "set", "gre1", "up"]).expect("gre1 up");
    let sock = open(&ns.a, IpAddr::V4(UNDER_A));

    // 1. Our echo request through the kernel's tunnel, its reply back to us.
    let ident = 0x4700 | (std::process::id() as u16 & 0xff);
    let request = icmp_echo(INNER_A, INNER_B, 8, ident, 1, b"vcpe gre kernel test");
    sock.send_to(&encap(Some(KEY), &request), IpAddr::V4(UNDER_B))
        .expect("send echo request");
    let reply = recv_until(&sock, |pkt, src| {
        let (h, inner) = gre::decode(pkt).ok()?;
        let echo = parse_echo(inner)?;
        (echo.2 == 0 && echo.3 == ident).then(|| (pkt.to_vec(), h, src, echo))
    });
    let (raw, h, src, echo) = reply.expect("kernel answered the encapsulated echo request");
    assert_eq!(src, IpAddr::V4(UNDER_B));
    assert_eq!(
        (h.key, h.protocol, h.seq, h.checksum),
        (Some(KEY), ETHERTYPE_IPV4, None, false)
    );
    // Linux's header as captured: K bit, version 0, IPv4, key 42.
    assert_eq!(raw[..8], [0x20, 0x00, 0x08, 0x00, 0, 0, 0, 42]);
    assert_eq!((echo.0, echo.1, echo.4), (INNER_B, INNER_A, 1));
    assert_eq!(echo.5, b"vcpe gre kernel test");

    // 2. The kernel's ping through the tunnel reaches us; we answer it.
    let answered = std::thread::scope(|s| {
        let ping = s.spawn(|| {
            Command::new("ip")
                .args([
                    "netns",
                    "exec",
                    b,
                    "ping",
                    "-c",
                    "1",
                    "-W",
                    "2",
                    "192.168.77.1",
                ])
                .output()
        });
        let got = recv_until(&sock, |pkt, _| {
            let (h, inner) = gre::decode(pkt).ok()?;
            let (src, dst, ty, id, seq, data) = parse_echo(inner)?;
            (h.key == Some(KEY) && ty == 8 && src == INNER_B && dst == INNER_A)
                .then(|| icmp_echo(dst, src, 0, id, seq, &data))
        });
        if let Some(answer) = &got {
            sock.send_to(&encap(Some(KEY), answer), IpAddr::V4(UNDER_B))
                .expect("send echo reply");
        }
        (got.is_some(), ping.join())
    });
    assert!(answered.0, "the kernel's ping reached our GRE socket");
    let out = answered.1.expect("ping thread").expect("run ping");
    assert!(out.status.success(), "ping got our reply: {out:?}");
}

#[test]
fn sockets_exchange_v4_v6() {
    if not_root() {
        eprintln!("skipping sockets_exchange_v4_v6: not root (needs CAP_NET_ADMIN, CAP_NET_RAW)");
        return;
    }
    let ns = Netns::new("s");
    for (a, b, protocol) in [
        (IpAddr::V4(UNDER_A), IpAddr::V4(UNDER_B), ETHERTYPE_IPV4),
        (IpAddr::V6(UNDER6_A), IpAddr::V6(UNDER6_B), ETHERTYPE_IPV6),
    ] {
        let sa = open(&ns.a, a);
        let sb = open(&ns.b, b);
        let (rcv, snd) = sa.buffer_sizes().expect("buffer sizes");
        assert!(rcv >= 4 << 20 && snd >= 4 << 20, "buffers {rcv}/{snd}");
        let other_family = match a {
            IpAddr::V4(_) => IpAddr::V6(UNDER6_B),
            IpAddr::V6(_) => IpAddr::V4(UNDER_B),
        };
        let err = sa
            .send_to(b"\0\0\x08\0", other_family)
            .expect_err("family mismatch");
        assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput, "{err}");

        // One packet each way, every header variant, checksums verified.
        let h = GreHeader {
            key: Some(7),
            seq: Some(1),
            checksum: true,
            protocol,
        };
        let mut pkt = Vec::new();
        gre::encode(&h, b"inner packet a->b", &mut pkt);
        assert_eq!(sa.send_to(&pkt, b).expect("send a->b"), pkt.len());
        let got = recv_until(&sb, |p, src| {
            Some((gre::decode(p).ok()?.0, p.to_vec(), src))
        });
        assert_eq!(got, Some((h, pkt.clone(), a)), "b received a's packet");

        // A batch of 8 from b to a, received with recvmmsg.
        let pkts: Vec<Vec<u8>> = (0..8u32)
            .map(|i| {
                let h = GreHeader {
                    key: None,
                    seq: Some(i),
                    checksum: i % 2 == 0,
                    protocol,
                };
                let mut out = Vec::new();
                gre::encode(&h, &i.to_be_bytes(), &mut out);
                out
            })
            .collect();
        let batch: Vec<(&[u8], IpAddr)> = pkts.iter().map(|p| (&p[..], a)).collect();
        assert_eq!(sb.send_batch(&batch).expect("send_batch"), 8);
        let mut store = vec![[0u8; 2048]; 16];
        let mut seen = Vec::new();
        let deadline = Instant::now() + TIMEOUT;
        while seen.len() < 8 && wait_readable(&sa, deadline) {
            let mut bufs: Vec<&mut [u8]> = store.iter_mut().map(|b| &mut b[..]).collect();
            let mut meta = [RecvMeta::default(); 16];
            let n = match sa.recv_batch(&mut bufs, &mut meta) {
                Ok(n) => n,
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => continue,
                Err(e) => panic!("recv_batch: {e}"),
            };
            for (m, buf) in meta.iter().zip(&bufs).take(n) {
                assert_eq!((m.status, m.src), (RecvStatus::Ok, b));
                let (h, payload) = gre::decode(&buf[m.offset..m.end]).expect("decode batch packet");
                assert_eq!(h.seq.map(u32::to_be_bytes), payload.try_into().ok());
                seen.extend(h.seq);
            }
        }
        seen.sort_unstable();
        assert_eq!(seen, (0..8).collect::<Vec<u32>>(), "a received b's batch");

        // A datagram longer than the buffer is reported, not misparsed.
        sb.send_to(&pkt, a).expect("send b->a");
        assert!(wait_readable(&sa, Instant::now() + TIMEOUT));
        let mut small = [0u8; 30];
        let err = sa.recv_from(&mut small).expect_err("truncated");
        assert_eq!(err.kind(), std::io::ErrorKind::InvalidData, "{err}");
    }
}

#[test]
fn echo_helpers_agree() {
    let p = icmp_echo(INNER_A, INNER_B, 8, 0x1234, 9, b"abc");
    let want = (INNER_A, INNER_B, 8, 0x1234, 9, b"abc".to_vec());
    assert_eq!(parse_echo(&p), Some(want));
    let mut bad = p.clone();
    bad[30] ^= 1;
    assert_eq!(parse_echo(&bad), None, "ICMP checksum checked");
    assert_eq!(parse_echo(&p[..27]), None);
}
