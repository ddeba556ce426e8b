//! `WgPeer` against the real `wireguard-go` (Debian's /usr/bin/wireguard-go)
//! in two network namespaces `vwg<pid>-a` / `-b` joined by a veth pair
//! (10.78.1.1/24 in a, 10.78.1.2/24 in b).
//!
//! In b, wireguard-go runs interface `vwg<pid>` (192.168.78.2/24) with us as
//! its peer (allowed IPs 192.168.78.1/32, endpoint 10.78.1.1:51820). In a, a
//! thread that `setns`-ed into the namespace binds 10.78.1.1:51820 and drives
//! a `WgPeer`: a hand-built ICMP echo request 192.168.78.1 -> .2 triggers the
//! handshake, is flushed after it, and b's kernel answers through
//! wireguard-go with an echo reply that we decrypt. `wg show latest-handshakes`
//! must then show a handshake.
//!
//! Skipped unless root. wireguard-go, the key file and both namespaces are
//! removed by a drop guard, also on panic. Traffic stays inside the
//! namespaces. The interface name is per process because wireguard-go's
//! control socket (/var/run/wireguard/<name>.sock) is not per namespace.

use std::fs::File;
use std::net::{Ipv4Addr, SocketAddr, UdpSocket};
use std::os::fd::AsRawFd;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use vcpe_forwarding::tunnel::wireguard::{WgConfig, WgPeer, WgRecv, WgSend, WgTick, public_key};

const OUR_PRIVATE: [u8; 32] = [0x5a; 32];
const THEIR_PRIVATE: [u8; 32] = [0xa5; 32];
const UNDER_A: SocketAddr =
    SocketAddr::new(std::net::IpAddr::V4(Ipv4Addr::new(10, 78, 1, 1)), 51820);
const UNDER_B: SocketAddr =
    SocketAddr::new(std::net::IpAddr::V4(Ipv4Addr::new(10, 78, 1, 2)), 51820);
const INNER_A: Ipv4Addr = Ipv4Addr::new(192, 168, 78, 1);
const INNER_B: Ipv4Addr = Ipv4Addr::new(192, 168, 78, 2);
const ECHO_ID: u16 = 0x7777;
const DEADLINE: Duration = Duration::from_secs(15);

fn not_root() -> bool {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() != 0 }
}

/// Runs a command; the error is its stderr. Returns stdout.
fn run(program: &str, args: &[&str]) -> Result<String, String> {
    let out = Command::new(program)
        .args(args)
        .output()
        .map_err(|e| format!("{program} {}: {e}", args.join(" ")))?;
    if out.status.success() {
        return Ok(String::from_utf8_lossy(&out.stdout).into_owned());
    }
    let stderr = String::from_utf8_lossy(&out.stderr);
    Err(format!("{program} {}: {}", args.join(" "), stderr.trim()))
}

/// Standard base64 with padding, for `wg` (keys only: 32 bytes).
fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut s = String::new();
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = u32::from(b[0]) << 16 | u32::from(b[1]) << 8 | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                s.push(char::from(ALPHABET[(n >> (18 - 6 * i) & 63) as usize]));
            } else {
                s.push('=');
            }
        }
    }
    s
}

/// Namespaces, wireguard-go and its key file; all removed on drop.
struct Setup {
    a: String,
    b: String,
    ifname: String,
    key_file: String,
    wireguard_go: Option<Child>,
}

impl Setup {
    fn new() -> Setup {
        let pid = std::process::id();
        let mut setup = Setup {
            a: format!("vwg{pid}-a"),
            b: format!("vwg{pid}-b"),
            ifname: format!("vwg{pid}"),
            key_file: format!("/tmp/vwg{pid}.key"),
            wireguard_go: None,
        };
        let (a, b, wg) = (setup.a.clone(), setup.b.clone(), setup.ifname.clone());
        let steps: [&[&str]; 8] = [
            &["netns", "add", &a],
            &["netns", "add", &b],
            &[
                "-n", &a, "link", "add", "vwga", "type", "veth", "peer", "name", "vwgb", "netns",
                &b,
            ],
            &["-n", &a, "addr", "add", "10.78.1.1/24", "dev", "vwga"],
            &["-n", &b, "addr", "add", "10.78.1.2/24", "dev", "vwgb"],
            &["-n", &a, "link", "set", "vwga", "up"],
            &["-n", &b, "link", "set", "vwgb", "up"],
            &["-n", &b, "link", "set", "lo", "up"],
        ];
        for step in steps {
            run("ip", step).unwrap();
        }

        std::fs::write(&setup.key_file, base64(&THEIR_PRIVATE)).unwrap();
        let child = Command::new("ip")
            .args(["netns", "exec", &b, "wireguard-go", "-f", &wg])
            .env("WG_PROCESS_FOREGROUND", "1")
            .env("WG_I_PREFER_BUGGY_USERSPACE_TO_POLISHED_KMOD", "1")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn wireguard-go");
        setup.wireguard_go = Some(child);

        let sock = format!("/var/run/wireguard/{wg}.sock");
        let start = Instant::now();
        while !std::path::Path::new(&sock).exists() {
            assert!(start.elapsed() < Duration::from_secs(5), "no {sock}");
            std::thread::sleep(Duration::from_millis(20));
        }
        let our_public = base64(&public_key(&OUR_PRIVATE));
        let endpoint = UNDER_A.to_string();
        #[rustfmt::skip]
        let wg_set = [
            "netns", "exec", &b, "wg", "set", &wg,
            "private-key", &setup.key_file, "listen-port", "51820",
            "peer", &our_public, "allowed-ips", "192.168.78.1/32", "endpoint", &endpoint,
        ];
        run("ip", &wg_set).unwrap();
        run(
            "ip",
            &["-n", &b, "addr", "add", "192.168.78.2/24", "dev", &wg],
        )
        .unwrap();
        run("ip", &["-n", &b, "link", "set", &wg, "up"]).unwrap();
        setup
    }

    /// `wg show <if> latest-handshakes` in b: the peer's Unix time.
    fn latest_handshake(&self) -> u64 {
        let out = run(
            "ip",
            &[
                "netns",
                "exec",
                &self.b,
                "wg",
                "show",
                &self.ifname,
                "latest-handshakes",
            ],
        )
        .unwrap();
        let our_public = base64(&public_key(&OUR_PRIVATE));
        out.lines()
            .filter_map(|line| line.split_once('\t'))
            .find(|(key, _)| *key == our_public)
            .and_then(|(_, time)| time.trim().parse().ok())
            .unwrap_or(0)
    }
}

impl Drop for Setup {
    fn drop(&mut self) {
        if let Some(mut child) = self.wireguard_go.take() {
            // SIGTERM first so wireguard-go removes its control socket.
            if let Ok(pid) = libc::pid_t::try_from(child.id()) {
                // SAFETY: kill has no memory preconditions; the pid is our
                // child, not yet reaped.
                unsafe { libc::kill(pid, libc::SIGTERM) };
            }
            let start = Instant::now();
            while matches!(child.try_wait(), Ok(None)) && start.elapsed() < Duration::from_secs(2) {
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
        let _ = std::fs::remove_file(format!("/var/run/wireguard/{}.sock", self.ifname));
        let _ = std::fs::remove_file(&self.key_file);
        let _ = run("ip", &["netns", "del", &self.a]);
        let _ = run("ip", &["netns", "del", &self.b]);
    }
}

/// Moves the calling thread into network namespace `name`.
fn enter_netns(name: &str) {
    let file = File::open(format!("/var/run/netns/{name}")).unwrap();
    // SAFETY: the fd is valid for the call; setns only changes this thread.
    let rc = unsafe { libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) };
    assert_eq!(rc, 0, "setns {name}: {}", std::io::Error::last_os_error());
}

fn checksum(bytes: &[u8]) -> u16 {
    let mut sum: u32 = bytes
        .chunks(2)
        .map(|c| u32::from(u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)])))
        .sum();
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// IPv4 + ICMP echo request INNER_A -> INNER_B with correct checksums.
fn echo_request(seq: u16) -> Vec<u8> {
    let payload = b"vcpe wireguard interop test data";
    let total = 20 + 8 + payload.len();
    let mut p = vec![0x45, 0, 0, 0, 0x12, 0x34, 0x40, 0, 64, 1, 0, 0];
    p[2..4].copy_from_slice(&(total as u16).to_be_bytes());
    p.extend_from_slice(&INNER_A.octets());
    p.extend_from_slice(&INNER_B.octets());
    let ip_sum = checksum(&p);
    p[10..12].copy_from_slice(&ip_sum.to_be_bytes());
    let mut icmp = vec![8, 0, 0, 0];
    icmp.extend_from_slice(&ECHO_ID.to_be_bytes());
    icmp.extend_from_slice(&seq.to_be_bytes());
    icmp.extend_from_slice(payload);
    let icmp_sum = checksum(&icmp);
    icmp[2..4].copy_from_slice(&icmp_sum.to_be_bytes());
    p.extend_from_slice(&icmp);
    p
}

/// In namespace a: sends the echo request through a `WgPeer` and returns
/// the first decrypted echo reply (ICMP type 0) from INNER_B.
fn drive_peer(netns: &str) -> Vec<u8> {
    enter_netns(netns);
    let socket = UdpSocket::bind(UNDER_A).unwrap();
    socket
        .set_read_timeout(Some(Duration::from_millis(250)))
        .unwrap();
    let mut peer = WgPeer::new(WgConfig {
        private_key: OUR_PRIVATE,
        peer_public_key: public_key(&THEIR_PRIVATE),
        preshared_key: None,
        persistent_keepalive: None,
    });
    let mut out = Vec::new();
    let send = |out: &[u8]| {
        if !out.is_empty() {
            socket.send_to(out, UNDER_B).unwrap();
        }
    };
    let first = peer.encapsulate(&echo_request(1), &mut out);
    assert_eq!(first, WgSend::Queued, "no session yet");
    send(&out);

    let start = Instant::now();
    let mut buf = vec![0u8; 2048];
    let mut seq = 1;
    while start.elapsed() < DEADLINE {
        let (n, src) = match socket.recv_from(&mut buf) {
            Ok(r) => r,
            Err(_) => {
                // Nothing for 250 ms: timers, and ping again once established.
                if peer.tick(&mut out) == WgTick::Datagram {
                    send(&out);
                }
                if peer.status().established {
                    seq += 1;
                    peer.encapsulate(&echo_request(seq), &mut out);
                    send(&out);
                }
                continue;
            }
        };
        let result = peer.decapsulate(src, &buf[..n], &mut out);
        match result {
            WgRecv::Packet { source } if source == INNER_B && out.get(20) == Some(&0) => {
                return out;
            }
            WgRecv::Reply => send(&out),
            WgRecv::Error(e) => panic!("wireguard-go sent something we refuse: {e:?}"),
            WgRecv::Packet { .. } | WgRecv::Done => {}
        }
        while peer.flush_queued(&mut out) {
            send(&out);
        }
    }
    panic!("no echo reply within {DEADLINE:?}: {:?}", peer.status());
}

#[test]
fn echo_through_wireguard_go() {
    if not_root() {
        println!("skipped: wireguard_go interop needs root (network namespaces)");
        return;
    }
    let setup = Setup::new();
    let ns = setup.a.clone();
    let reply = std::thread::spawn(move || drive_peer(&ns))
        .join()
        .expect("peer thread panicked");

    assert_eq!(reply[9], 1, "ICMP");
    assert_eq!(&reply[12..16], &INNER_B.octets());
    assert_eq!(&reply[16..20], &INNER_A.octets());
    assert_eq!(
        usize::from(u16::from_be_bytes([reply[2], reply[3]])),
        reply.len()
    );
    assert_eq!(checksum(&reply[..20]), 0, "IPv4 header checksum");
    let icmp = &reply[20..];
    assert_eq!((icmp[0], icmp[1]), (0, 0), "echo reply");
    assert_eq!(u16::from_be_bytes([icmp[4], icmp[5]]), ECHO_ID);
    assert_eq!(checksum(icmp), 0, "ICMP checksum");
    assert!(icmp.ends_with(b"vcpe wireguard interop test data"));

    assert!(setup.latest_handshake() > 0, "wg show: no handshake");
}
