//! Real TUN devices, each test in a fresh network namespace of its own
//! thread (`unshare(CLONE_NEWNET)`): nothing touches the host's namespace,
//! and everything vanishes when the thread ends. Subprocesses (`ping`, `ip`)
//! spawned from that thread inherit its namespace.
//!
//! Skipped, with a message, when not root or without `/dev/net/tun`.

use std::io;
use std::net::{Ipv4Addr, Ipv6Addr, UdpSocket};
use std::os::fd::{AsFd, AsRawFd};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use vcpe_forwarding::tun::{
    GsoType, RECV_BUF_LEN, Tun, TunConfig, TunError, TunQueue, VnetHdr, gso, wait_readable,
};
use vcpe_forwarding::wire::{checksum, icmpv4, icmpv6, ipv4, ipv6, proto};

const TUN_V4: Ipv4Addr = Ipv4Addr::new(10, 9, 0, 1);
const PEER_V4: Ipv4Addr = Ipv4Addr::new(10, 9, 0, 2);
const TUN_V6: Ipv6Addr = Ipv6Addr::new(0xfd09, 0, 0, 0, 0, 0, 0, 1);
const PEER_V6: Ipv6Addr = Ipv6Addr::new(0xfd09, 0, 0, 0, 0, 0, 0, 2);

/// Why this machine cannot run the tests, if it cannot.
fn skip_reason() -> Option<&'static str> {
    // SAFETY: geteuid has no preconditions and cannot fail.
    if unsafe { libc::geteuid() } != 0 {
        return Some("not root (needs CAP_NET_ADMIN and unshare)");
    }
    if !std::path::Path::new("/dev/net/tun").exists() {
        return Some("/dev/net/tun missing (modprobe tun)");
    }
    None
}

/// Runs `f` in a new thread inside a new network namespace with `lo` up,
/// or prints why it is skipped. Panics in `f` fail the test.
fn in_netns(test: &str, f: impl FnOnce() + Send + 'static) {
    if let Some(why) = skip_reason() {
        eprintln!("skipping {test}: {why}");
        return;
    }
    let joined = std::thread::spawn(move || {
        // SAFETY: unshare only changes this thread's namespace membership;
        // no pointers are involved.
        let rc = unsafe { libc::unshare(libc::CLONE_NEWNET) };
        assert_eq!(
            rc,
            0,
            "unshare(CLONE_NEWNET): {}",
            io::Error::last_os_error()
        );
        ip(&["link", "set", "lo", "up"]);
        f();
    })
    .join();
    if let Err(panic) = joined {
        std::panic::resume_unwind(panic);
    }
}

/// `ip ARGS` in this thread's namespace; panics if it fails. (Links are
/// configured as an operator would: the daemon's own netlink code is
/// tested in vcpe-daemon.)
fn ip(args: &[&str]) {
    let st = Command::new("ip").args(args).status().expect("run ip");
    assert!(st.success(), "ip {args:?}: {st}");
}

/// Sets the TUN named `name` to `mtu`, adds `addrs` (IPv6 ones without
/// duplicate address detection, usable at once) and sets it up.
fn configure(name: &str, mtu: u16, addrs: &[&str]) {
    ip(&["link", "set", "dev", name, "mtu", &mtu.to_string()]);
    for a in addrs {
        if a.contains(':') {
            ip(&["-6", "addr", "add", a, "dev", name, "nodad"]);
        } else {
            ip(&["addr", "add", a, "dev", name]);
        }
    }
    ip(&["link", "set", "dev", name, "up"]);
}

/// A unique device name: `vt<pid><tag>`.
fn tun_name(tag: &str) -> String {
    format!("vt{}{tag}", std::process::id())
}

/// Creates a 2-queue TUN with offloads and configures 10.9.0.1/24 and fd09::1/64.
fn configured_tun(tag: &str) -> Tun {
    let tun = Tun::create(&TunConfig {
        name: tun_name(tag),
        queues: 2,
        offload: true,
    })
    .expect("create TUN");
    assert!(tun.offloads().csum && tun.offloads().tso4 && tun.offloads().tso6);
    configure(tun.name(), 1400, &["10.9.0.1/24", "fd09::1/64"]);
    tun
}

/// Reads packets from any queue until `want` accepts one (returning its
/// vnet header and IP packet), for at most 5 s.
fn read_until(queues: &[TunQueue], want: impl Fn(&VnetHdr, &[u8]) -> bool) -> (VnetHdr, Vec<u8>) {
    let deadline = Instant::now() + Duration::from_secs(5);
    let fds: Vec<_> = queues.iter().map(|q| q.as_fd()).collect();
    let mut buf = vec![0u8; RECV_BUF_LEN];
    loop {
        let left = deadline
            .checked_duration_since(Instant::now())
            .expect("timed out waiting for the packet");
        let ready = wait_readable(&fds, Some(left)).expect("poll");
        for i in ready.iter() {
            let n = match queues[i].recv(&mut buf) {
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
                Err(e) => panic!("recv: {e}"),
            };
            let hdr = VnetHdr::parse(&buf[..n]).expect("vnet header");
            let pkt = &buf[VnetHdr::LEN..n];
            if want(&hdr, pkt) {
                return (hdr, pkt.to_vec());
            }
        }
    }
}

/// Waits for `child` with a limit, killing it on timeout.
fn wait_ok(mut child: Child, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(status) = child.try_wait().expect("wait") {
            assert!(status.success(), "{what} failed: {status}");
            return;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("{what} did not finish");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn spawn(cmd: &str, args: &[&str]) -> Child {
    Command::new(cmd)
        .args(args)
        .stdout(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("spawn {cmd}: {e}"))
}

#[test]
fn ping_v4_through_tun() {
    in_netns("ping_v4_through_tun", || {
        let queues = configured_tun("a").into_queues();
        let ping = spawn("ping", &["-c1", "-W2", "10.9.0.2"]);
        let (hdr, mut pkt) = read_until(&queues, |_, p| {
            p.first().map(|b| b >> 4) == Some(4)
                && ipv4::Packet::new_checked(p)
                    .is_ok_and(|ip| ip.protocol() == proto::ICMP && ip.dst_addr() == PEER_V4)
        });
        assert_eq!(hdr.gso_type, GsoType::None);
        assert!(!hdr.needs_csum(), "ICMP is checksummed by the sender");
        let ip = ipv4::Packet::new_checked(&pkt[..]).expect("ipv4");
        assert_eq!(ip.src_addr(), TUN_V4);
        assert!(ip.verify_checksum());
        assert_eq!(usize::from(ip.total_len()), pkt.len());
        let hl = ip.header_len();
        let icmp = icmpv4::Packet::new_checked(&pkt[hl..]).expect("icmp");
        assert_eq!(icmp.msg_type(), icmpv4::msg::ECHO_REQUEST);
        assert!(icmp.verify_checksum());

        // Echo reply: swap addresses, type 0, fresh checksums.
        let mut ip = ipv4::Packet::new_checked(&mut pkt[..]).expect("ipv4");
        ip.set_src_addr(PEER_V4);
        ip.set_dst_addr(TUN_V4);
        ip.set_ttl(64);
        ip.fill_checksum();
        let mut icmp = icmpv4::Packet::new_checked(&mut pkt[hl..]).expect("icmp");
        icmp.set_msg_type(icmpv4::msg::ECHO_REPLY);
        icmp.fill_checksum();
        queues[1].send(None, &pkt).expect("send reply");
        wait_ok(ping, "ping 10.9.0.2");
    });
}

#[test]
fn ping_v6_through_tun() {
    in_netns("ping_v6_through_tun", || {
        let queues = configured_tun("b").into_queues();
        let ping = spawn("ping", &["-6", "-c1", "-W2", "fd09::2"]);
        // Skip router solicitations and MLD reports the kernel also sends.
        let (hdr, mut pkt) = read_until(&queues, |_, p| {
            ipv6::Packet::new_checked(p).is_ok_and(|ip| {
                ip.version() == 6
                    && ip.next_header() == proto::ICMPV6
                    && ip.dst_addr() == PEER_V6
                    && ip.payload().first() == Some(&icmpv6::msg::ECHO_REQUEST)
            })
        });
        assert_eq!(hdr.gso_type, GsoType::None);
        // Finish a partial checksum if the kernel left one (a no-op otherwise).
        gso::finish_checksum(&mut pkt, &hdr).expect("checksum in bounds");
        let ip = ipv6::Packet::new_checked(&pkt[..]).expect("ipv6");
        assert_eq!(ip.src_addr(), TUN_V6);
        assert_eq!(usize::from(ip.payload_len()) + 40, pkt.len());
        let icmp = icmpv6::Packet::new_checked(&pkt[40..]).expect("icmpv6");
        assert!(icmp.verify_checksum(TUN_V6, PEER_V6));

        let mut ip = ipv6::Packet::new_checked(&mut pkt[..]).expect("ipv6");
        ip.set_src_addr(PEER_V6);
        ip.set_dst_addr(TUN_V6);
        ip.set_hop_limit(64);
        let mut icmp = icmpv6::Packet::new_checked(&mut pkt[40..]).expect("icmpv6");
        icmp.set_msg_type(icmpv6::msg::ECHO_REPLY);
        icmp.fill_checksum(PEER_V6, TUN_V6);
        let zero = VnetHdr::default();
        queues[0].send(Some(&zero), &pkt).expect("send reply");
        wait_ok(ping, "ping -6 fd09::2");
    });
}

/// `UDP_SEGMENT` on a socket: the kernel then hands the TUN one USO
/// super-packet per send.
fn set_udp_segment(sock: &UdpSocket, size: u16) {
    let v = libc::c_int::from(size);
    // SAFETY: passes a pointer to a live c_int and its exact size.
    let rc = unsafe {
        libc::setsockopt(
            sock.as_raw_fd(),
            libc::SOL_UDP,
            libc::UDP_SEGMENT,
            (&v as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    assert_eq!(rc, 0, "UDP_SEGMENT: {}", io::Error::last_os_error());
}

#[test]
fn kernel_uso_super_packet_is_read_whole_and_splits() {
    in_netns("kernel_uso_super_packet_is_read_whole_and_splits", || {
        let tun = configured_tun("c");
        if !tun.offloads().uso4 {
            eprintln!("skipping: this kernel rejects TUN_F_USO4");
            return;
        }
        let queues = tun.into_queues();
        let sock = UdpSocket::bind((TUN_V4, 0)).expect("bind");
        set_udp_segment(&sock, 1000);
        let data: Vec<u8> = (0..2500u32).map(|i| (i % 251) as u8).collect();
        sock.send_to(&data, (PEER_V4, 9)).expect("send");

        let (hdr, pkt) = read_until(&queues, |_, p| {
            ipv4::Packet::new_checked(p).is_ok_and(|ip| ip.protocol() == proto::UDP)
        });
        assert_eq!(hdr.gso_type, GsoType::UdpL4);
        assert_eq!(hdr.gso_size, 1000);
        assert!(hdr.needs_csum());
        assert_eq!((hdr.csum_start, hdr.csum_offset), (20, 6));
        assert_eq!(pkt.len(), 20 + 8 + data.len(), "one super-packet");

        let mut joined = Vec::new();
        let mut scratch = Vec::new();
        let n = gso::split(&pkt, &hdr, &mut scratch, |seg| {
            let ip = ipv4::Packet::new_checked(seg).expect("segment");
            assert!(ip.verify_checksum());
            let l4 = ip.payload();
            let ph = checksum::pseudo_header_v4(TUN_V4, PEER_V4, proto::UDP, l4.len() as u16);
            assert_eq!(checksum::combine(ph, checksum::sum(l4)), 0xffff);
            joined.extend_from_slice(&l4[8..]);
        })
        .expect("split");
        assert_eq!(n, 3);
        assert_eq!(joined, data);
    });
}

#[test]
fn uso_super_packet_written_to_tun_reaches_a_socket() {
    in_netns("uso_super_packet_written_to_tun_reaches_a_socket", || {
        let queues = configured_tun("d").into_queues();
        let sock = UdpSocket::bind((TUN_V4, 0)).expect("bind");
        sock.set_read_timeout(Some(Duration::from_secs(5)))
            .expect("timeout");
        let port = sock.local_addr().expect("addr").port();

        // 3 datagrams of at most 700 bytes as one super-packet, partial checksum.
        let data: Vec<u8> = (0..1800u32).map(|i| (i % 253) as u8).collect();
        let l4_len = 8 + data.len();
        let mut pkt = vec![0u8; 20 + l4_len];
        let mut ip = ipv4::Packet::new_unchecked(&mut pkt[..]);
        ip.set_version_and_header_len(20);
        ip.set_total_len((20 + l4_len) as u16);
        ip.set_ttl(64);
        ip.set_protocol(proto::UDP);
        ip.set_src_addr(PEER_V4);
        ip.set_dst_addr(TUN_V4);
        ip.fill_checksum();
        pkt[20..22].copy_from_slice(&5000u16.to_be_bytes());
        pkt[22..24].copy_from_slice(&port.to_be_bytes());
        pkt[24..26].copy_from_slice(&(l4_len as u16).to_be_bytes());
        let ph = checksum::pseudo_header_v4(PEER_V4, TUN_V4, proto::UDP, l4_len as u16);
        pkt[26..28].copy_from_slice(&ph.to_be_bytes());
        pkt[28..].copy_from_slice(&data);
        let hdr = VnetHdr {
            flags: VnetHdr::NEEDS_CSUM,
            gso_type: GsoType::UdpL4,
            ecn: false,
            hdr_len: 28,
            gso_size: 700,
            csum_start: 20,
            csum_offset: 6,
        };
        queues[0].send(Some(&hdr), &pkt).expect("send super-packet");

        let mut got = Vec::new();
        let mut buf = [0u8; 2000];
        for _ in 0..3 {
            let (n, from) = sock.recv_from(&mut buf).expect("datagram");
            assert_eq!(from, (PEER_V4, 5000).into());
            assert!(n <= 700);
            got.extend_from_slice(&buf[..n]);
        }
        assert_eq!(got, data);
    });
}

#[test]
fn attach_to_existing_device_and_report_mismatch() {
    in_netns("attach_to_existing_device_and_report_mismatch", || {
        let first = configured_tun("e");
        let cfg = TunConfig {
            name: first.name().to_owned(),
            queues: 1,
            offload: true,
        };
        let second = Tun::create(&cfg).expect("attach another queue");
        assert_eq!(second.ifindex(), first.ifindex());
        assert_eq!(second.name(), first.name());

        let tap = tun_name("tap");
        let st = Command::new("ip")
            .args(["tuntap", "add", "dev", &tap, "mode", "tap"])
            .status()
            .expect("ip tuntap");
        assert!(st.success());
        let err = Tun::create(&TunConfig {
            name: tap,
            queues: 1,
            offload: false,
        })
        .expect_err("a TAP is not our TUN");
        assert!(matches!(err, TunError::FlagsMismatch { .. }), "{err}");
    });
}

#[test]
fn plain_tun_without_offload() {
    in_netns("plain_tun_without_offload", || {
        let tun = Tun::create(&TunConfig {
            name: tun_name("f"),
            queues: 1,
            offload: false,
        })
        .expect("create");
        assert_eq!(tun.offloads(), Default::default());
        let q = &tun.queues()[0];
        assert_eq!(q.vnet_hdr_len(), 0);
        // Still down: nothing can be queued, and the fd does not block.
        let mut buf = [0u8; 100];
        let e = q.recv(&mut buf).expect_err("nothing queued yet");
        assert_eq!(e.kind(), io::ErrorKind::WouldBlock);
        configure(tun.name(), 1500, &["10.9.0.1/24"]);
        let gso_hdr = VnetHdr {
            gso_type: GsoType::TcpV4,
            ..VnetHdr::default()
        };
        let e = q
            .send(Some(&gso_hdr), &[0x45; 20])
            .expect_err("needs vnet header");
        assert_eq!(e.kind(), io::ErrorKind::InvalidInput);
    });
}
